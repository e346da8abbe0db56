//! Running one API on a socket until asked to stop, then draining in-flight
//! requests: what `wine-server` does as a container's PID 1 under `docker stop`,
//! and what the lab runner does four times on loopback.

use std::future::IntoFuture;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::{Level, info, warn};

use crate::api::{self, Api};
use crate::model::WineModel;

/// How long in-flight requests may take to finish after a stop signal before
/// the server exits anyway (well under Docker's 10 s kill timeout).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How one server behaves.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Which API to serve.
    pub api: Api,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// Log every request (off by default: it costs time under load).
    pub log_requests: bool,
}

/// The async runtime a server runs on: `threads` workers (default: one per CPU
/// this process may use, which respects `taskset`); a single thread runs
/// everything on the current thread, with no cross-thread hand-offs.
pub fn runtime(threads: Option<usize>) -> io::Result<tokio::runtime::Runtime> {
    let threads = threads
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1)
        .max(1);
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder.enable_all().build()
}

/// Binds `addr`, saying which address failed and why.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// Serves `model` on `listener` until `stop` is cancelled, then lets open
/// requests finish (for at most [`DRAIN_TIMEOUT`]).
pub async fn serve(
    listener: TcpListener,
    model: Arc<WineModel>,
    options: ServerOptions,
    stop: CancellationToken,
) -> io::Result<()> {
    let mut router = api::router(options.api, model, options.max_body_bytes);
    if options.log_requests {
        router = router.layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        );
    }
    let graceful = axum::serve(listener, router)
        .with_graceful_shutdown(stop.clone().cancelled_owned())
        .into_future();
    tokio::select! {
        result = graceful => result,
        () = async {
            stop.cancelled().await;
            tokio::time::sleep(DRAIN_TIMEOUT).await;
        } => {
            warn!(api = %options.api, "requests still open {DRAIN_TIMEOUT:?} after the stop signal; closing them");
            Ok(())
        }
    }
}

/// SIGTERM (`docker stop`) and SIGINT (Ctrl-C), caught from the moment this
/// is installed.
pub struct StopSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Installs the handlers now, so a signal that arrives before anyone
    /// waits is not lost (and does not kill the process).
    pub fn install() -> io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves on the next SIGTERM or SIGINT.
    pub async fn next(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => info!("SIGTERM received: finishing open requests"),
            _ = self.interrupt.recv() => info!("SIGINT received: finishing open requests"),
        }
    }
}
