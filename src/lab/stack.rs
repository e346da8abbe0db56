//! The four servers of the lab, in this process, on loopback: what Docker
//! Compose runs as four containers, without Docker.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::LabError;
use super::targets::{TARGETS, Target};
use crate::api::DEFAULT_MAX_BODY_BYTES;
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
    stop: CancellationToken,
    tasks: JoinSet<io::Result<()>>,
}

impl LocalStack {
    /// Starts the four servers on 127.0.0.1, on `base_port`..`base_port + 3`, or
    /// on free ports when `base_port` is `None`.
    pub async fn start(model: Arc<WineModel>, base_port: Option<u16>) -> io::Result<Self> {
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
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
                    while tasks.join_next().await.is_some() {}
                    return Err(error);
                }
            };
            let addr = listener.local_addr()?;
            let options = ServerOptions {
                api: target.api,
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
                log_requests: false,
            };
            tasks.spawn(server::serve(
                listener,
                Arc::clone(&model),
                options,
                stop.clone(),
            ));
            servers.push(LocalServer { target, addr });
        }
        Ok(LocalStack {
            servers,
            stop,
            tasks,
        })
    }

    /// Starts the four servers for a lab run and says on stderr where each listens.
    pub async fn start_announced(
        model: WineModel,
        base_port: Option<u16>,
    ) -> Result<Self, LabError> {
        let stack = LocalStack::start(Arc::new(model), base_port)
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
        Ok(stack)
    }

    /// The `<SERVICE>_URL` variables that point locustfile.py at these servers.
    pub fn locust_env(&self) -> Vec<(String, String)> {
        self.servers
            .iter()
            .map(|server| (server.target.url_variable(), server.url()))
            .collect()
    }

    /// Stops the servers (in-flight requests finish) and waits for them.
    pub async fn stop(mut self) -> io::Result<()> {
        self.stop.cancel();
        let mut result = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(error)) => result = Err(error),
                Err(join_error) => result = Err(io::Error::other(join_error)),
            }
        }
        result
    }
}
