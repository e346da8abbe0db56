//! The four servers of the lab, in this process, on loopback: what Docker
//! Compose runs as four containers, without Docker.
//!
//! Each server runs on a thread of its own with a one-thread runtime, as
//! `wine-server --threads 1` does: its CPU use is that thread's CPU clock,
//! which its `/metrics` reports and the report and Locust's Servers tab show
//! per server (the four share one process, so the process's figures cannot
//! tell them apart), and no server's requests wait behind another's on a
//! shared runtime.
//!
//! [`LabServers`] is how both modes start them, on the model the run asked
//! for, and stop them.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio_util::sync::CancellationToken;

use super::served_model::load_or_train;
use super::targets::{TARGETS, Target};
use crate::api::DEFAULT_MAX_BODY_BYTES;
use crate::lab::error::LabError;
use crate::lab::options::LabOptions;
use crate::metrics::CpuScope;
use crate::model::WineModel;
use crate::server::{self, ServerOptions};

/// One running server.
#[derive(Debug, Clone)]
pub struct LocalServer {
    /// The target it serves.
    pub target: Target,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl LocalServer {
    /// Its base URL, as locustfile.py expects it.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// The four servers, stopped together.
pub struct LocalStack {
    /// The servers, in [`TARGETS`] order.
    pub servers: Vec<LocalServer>,
    /// Cancelled to stop them all.
    stop: CancellationToken,
    /// Their threads, each returning how its server ended.
    threads: Vec<JoinHandle<io::Result<()>>>,
}

impl LocalStack {
    /// Starts the four servers on 127.0.0.1, on `base_port`..`base_port + 3`, or
    /// on free ports when `base_port` is `None`.
    pub async fn start(model: Arc<WineModel>, base_port: Option<u16>) -> io::Result<Self> {
        let stop = CancellationToken::new();
        let mut threads = Vec::new();
        let mut servers = Vec::new();
        for (offset, target) in (0u16..).zip(TARGETS) {
            let port = match base_port {
                Some(base) => base.checked_add(offset).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("--base-port {base} leaves no room for 4 ports"),
                    )
                })?,
                None => 0,
            };
            let listener = match server::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await {
                Ok(listener) => listener,
                Err(error) => {
                    stop.cancel();
                    join_all(threads).await?;
                    return Err(error);
                }
            };
            let addr = listener.local_addr()?;
            // The listener moves to the server's own runtime.
            let listener = listener.into_std()?;
            let options = ServerOptions {
                api: target.api,
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                log_requests: false,
                // Locust's Servers tab and the report read each server's
                // side from /metrics; the four share this process, so each
                // counts the CPU time of its own thread, this one.
                metrics: Some(CpuScope::Thread),
            };
            let model = Arc::clone(&model);
            let server_stop = stop.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("server {}", target.service))
                .spawn(move || {
                    let runtime = server::runtime(Some(1))?;
                    runtime.block_on(async move {
                        let listener = tokio::net::TcpListener::from_std(listener)?;
                        server::serve(listener, model, options, server_stop).await
                    })
                });
            let thread = match spawned {
                Ok(thread) => thread,
                Err(error) => {
                    stop.cancel();
                    join_all(threads).await?;
                    return Err(error);
                }
            };
            threads.push(thread);
            servers.push(LocalServer { target, addr });
        }
        Ok(LocalStack {
            servers,
            stop,
            threads,
        })
    }

    /// The `<SERVICE>_URL` variables that point locustfile.py at these servers.
    pub fn locust_env(&self) -> Vec<(String, String)> {
        self.servers
            .iter()
            .map(|server| (server.target.url_variable(), server.url()))
            .collect()
    }

    /// Stops the servers (in-flight requests finish) and waits for them.
    pub async fn stop(self) -> io::Result<()> {
        self.stop.cancel();
        join_all(self.threads).await
    }
}

/// The four servers of a lab run and the model they serve: both modes start
/// them, and stop them, through this.
pub struct LabServers {
    /// The servers.
    pub stack: LocalStack,
    /// SHA-256 of the model file they serve (see [`super::served_model::ServedModel`]).
    pub model_sha256: String,
}

impl LabServers {
    /// Loads the `--model` file, or trains the images' model, says which
    /// (beside `locust_version`, what loads them), and starts the four
    /// servers on it, saying on stderr where each listens.
    pub async fn start(options: &LabOptions, locust_version: &str) -> Result<Self, LabError> {
        let served = load_or_train(options.model.as_deref())?;
        eprintln!("model sha256 {}; {locust_version}", served.sha256);
        let base_port = options.base_port;
        let stack = LocalStack::start(Arc::new(served.model), base_port)
            .await
            .map_err(|source| LabError::ServersStart { base_port, source })?;
        for server in &stack.servers {
            eprintln!(
                "{:<10} {}  ({})",
                server.target.service,
                server.url(),
                server.target.api
            );
        }
        Ok(LabServers {
            stack,
            model_sha256: served.sha256,
        })
    }

    /// Stops the servers once the run ended with `outcome`, and returns it:
    /// the run's own error comes first, and a server that failed is the
    /// error only when the run itself succeeded.
    pub async fn stop_after<T>(self, outcome: Result<T, LabError>) -> Result<T, LabError> {
        let stopped = self.stack.stop().await;
        let value = outcome?;
        stopped.map_err(|source| LabError::ServerFailed { source })?;
        Ok(value)
    }
}

/// Waits for the servers' threads to end (off the async runtime: a server
/// may take up to its drain timeout); the last error is returned.
async fn join_all(threads: Vec<JoinHandle<io::Result<()>>>) -> io::Result<()> {
    let joined = tokio::task::spawn_blocking(move || {
        let mut result = Ok(());
        for thread in threads {
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => result = Err(error),
                Err(_) => result = Err(io::Error::other("a server thread panicked")),
            }
        }
        result
    });
    joined
        .await
        .unwrap_or_else(|error| Err(io::Error::other(error)))
}
