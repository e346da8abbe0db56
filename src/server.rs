//! Running one API on a socket until asked to stop, then draining in-flight
//! requests: what `wine-server` does as a container's PID 1 under `docker stop`,
//! and what the lab runner does four times on loopback.

mod accept;
mod body_guard;
mod memory;
mod stopping;
mod timing;

use std::io;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::{Level, debug, info, warn};

use crate::api::{self, Api};
use crate::metrics::{CpuScope, ServerMetrics};
use crate::model::WineModel;
use accept::{AcceptErrors, Next};
use body_guard::BodyGuard;
use stopping::{Announce, Stopping};
pub use stopping::{LINGER_LIMIT, QUIET, STOPPING_HEADER};
use timing::Timed;

/// How long in-flight requests may take to finish after a stop signal before
/// the server exits anyway (well under Docker's 10 s kill timeout).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Default time a client has to send a request's headers, counted from when
/// the server starts waiting for them (on a new connection or after the
/// previous response): hyper's own default, the upper bound issue 12 set.
/// Before, 3,000 connections sending a header byte every 5 s were never
/// closed. It also closes idle keep-alive connections.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Default time a request body may keep the server waiting, in total.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// By default, the bodies in flight together may hold this many times the
/// largest body: 16 MiB with the default 1 MiB limit. (1,000 stalled
/// 1 MiB bodies held 1.07 GB before this budget.)
pub const DEFAULT_BODIES_IN_MEMORY: usize = 16;

/// Default worker threads: one. The lab runs four servers and its load
/// generator on one machine, and one thread serves far more than Locust sends
/// (about 100k requests/s here). Measured on 2 cores with wrk on the same
/// cores, unpinned, no-batch at 10 connections: one thread per CPU gave
/// 73.8k requests/s with p99 2.84 ms, one thread 96.5k with p99 0.175 ms —
/// worker threads and the load generator preempt each other mid-request.
/// `bench/run` tracks both (`ours-colocated`, `ours-colocated-per-cpu`).
pub const DEFAULT_THREADS: NonZeroUsize = NonZeroUsize::MIN;

/// Stack size of each worker thread: tokio's default, named so that the
/// start-up check reserves the same.
const WORKER_STACK_BYTES: usize = 2 * 1024 * 1024;

/// How one server behaves.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Which API to serve.
    pub api: Api,
    /// Largest request body accepted; larger ones get 413.
    pub max_body_bytes: usize,
    /// Log every request (off by default: it costs time under load).
    pub log_requests: bool,
    /// Time requests and serve them at `GET /metrics`, counting the CPU time
    /// of this scope (on by default, [`CpuScope::Process`]; `None` removes
    /// the route and the per-request clock, which `bench/run` uses to
    /// measure what metrics cost).
    pub metrics: Option<CpuScope>,
}

/// How long clients may take and how much memory their bodies may hold:
/// what bounds a server under slow or hostile clients.
#[derive(Debug, Clone)]
pub struct ClientLimits {
    /// Time to send a request's headers; also how long a connection may idle.
    pub header_read_timeout: Duration,
    /// Time a request body may keep the server waiting, in total.
    pub body_read_timeout: Duration,
    /// Bytes that all request bodies being read or answered may hold
    /// together; `None` is [`DEFAULT_BODIES_IN_MEMORY`] times the body limit.
    pub max_body_memory: Option<usize>,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            max_body_memory: None,
        }
    }
}

/// The async runtime a server runs on: `threads` workers (default:
/// [`DEFAULT_THREADS`]); a single thread runs everything on the current
/// thread, with no cross-thread hand-offs.
///
/// Zero threads, or more than the OS lets this process start, is an error
/// (tokio itself would panic on the latter and then hang in its shutdown).
pub fn runtime(threads: Option<usize>) -> io::Result<tokio::runtime::Runtime> {
    let threads = match threads {
        Some(0) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the number of worker threads must be at least 1",
            ));
        }
        Some(threads) => threads,
        None => DEFAULT_THREADS.get(),
    };
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        check_threads_can_start(threads)?;
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder
            .worker_threads(threads)
            .thread_stack_size(WORKER_STACK_BYTES);
        builder
    };
    builder.enable_all().build()
}

/// Starts `count` threads like the runtime's workers, all alive at once, and
/// ends them: an error here is what tokio would panic on (tokio 1.54,
/// src/runtime/blocking/pool.rs, "OS can't spawn worker thread").
fn check_threads_can_start(count: usize) -> io::Result<()> {
    let gate = RwLock::new(());
    let closed = gate
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    std::thread::scope(|scope| {
        let mut started = 0;
        let mut failure = None;
        while started < count {
            let spawned = std::thread::Builder::new()
                .stack_size(WORKER_STACK_BYTES)
                .spawn_scoped(scope, || drop(gate.read()));
            match spawned {
                Ok(_) => started += 1,
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        drop(closed);
        match failure {
            None => Ok(()),
            Some(error) => Err(io::Error::new(
                error.kind(),
                format!(
                    "cannot start {count} worker threads, only {started}: {error}; lower --threads or raise the limits on processes (`ulimit -u`) or memory"
                ),
            )),
        }
    })
}

/// Binds `addr`, saying which address failed and why.
pub async fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))
}

/// Serves `model` on `listener` with the default [`ClientLimits`] until
/// `stop` is cancelled, then lets open requests finish (for at most
/// [`DRAIN_TIMEOUT`]).
pub async fn serve(
    listener: TcpListener,
    model: Arc<WineModel>,
    options: ServerOptions,
    stop: CancellationToken,
) -> io::Result<()> {
    serve_with_limits(listener, model, options, &ClientLimits::default(), stop).await
}

/// [`serve`] with the given limits on clients.
///
/// The connection loop is hyper's HTTP/1 server rather than `axum::serve`,
/// which sets no timer and so cannot time out a request's headers
/// (axum 0.8.9, src/serve/mod.rs; hyper 1.12, `http1::Builder::header_read_timeout`
/// "requires a Timer").
pub async fn serve_with_limits(
    listener: TcpListener,
    model: Arc<WineModel>,
    options: ServerOptions,
    limits: &ClientLimits,
    stop: CancellationToken,
) -> io::Result<()> {
    let max_body_memory = limits.max_body_memory.unwrap_or(
        options
            .max_body_bytes
            .saturating_mul(DEFAULT_BODIES_IN_MEMORY),
    );
    if max_body_memory < options.max_body_bytes {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the memory for request bodies ({max_body_memory} bytes) must hold at least one body of the largest size ({} bytes)",
                options.max_body_bytes
            ),
        ));
    }
    // Made on the thread that serves: a thread's CPU clock is that thread's.
    let metrics = options.metrics.map(ServerMetrics::new);
    let mut router =
        api::router_with_metrics(options.api, model, options.max_body_bytes, metrics.clone());
    if options.log_requests {
        router = router.layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        );
    }
    let stopping = Stopping::default();
    let service = Timed::new(
        Announce::new(
            BodyGuard::new(
                router,
                options.max_body_bytes,
                max_body_memory,
                limits.body_read_timeout,
            ),
            stopping.clone(),
        ),
        metrics,
    );
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);

    let connections = GracefulShutdown::new();
    let trimmer = tokio::spawn(memory::return_freed_memory(stop.clone()));
    let mut accept_errors = AcceptErrors::default();
    let mut accept = async |until: &mut (dyn Future<Output = ()> + Unpin)| loop {
        let accepted = tokio::select! {
            () = &mut *until => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _peer)) => {
                let connection = http.serve_connection(TokioIo::new(stream), service.clone());
                let connection = connections.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        debug!("connection ended with an error: {error}");
                    }
                });
            }
            Err(error) => {
                if accept_errors.record(&error) == Next::Pause {
                    tokio::select! {
                        () = &mut *until => break,
                        () = tokio::time::sleep(accept::RETRY_AFTER) => {}
                    }
                }
            }
        }
    };
    accept(&mut std::pin::pin!(stop.cancelled())).await;
    stopping.begin();
    accept(&mut std::pin::pin!(stopping.until_quiet())).await;
    drop(listener);
    trimmer.abort();
    tokio::select! {
        () = connections.shutdown() => Ok(()),
        () = tokio::time::sleep(DRAIN_TIMEOUT) => {
            warn!(api = %options.api, "requests still open {DRAIN_TIMEOUT:?} after the stop signal; closing them");
            Ok(())
        }
    }
}

/// What a server does once told to stop, as its log says it.
fn stopping_plan() -> String {
    format!(
        "serving on, each answer saying it is stopping, until no request came for {QUIET:?} ({LINGER_LIMIT:?} at most), then finishing open requests"
    )
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
            _ = self.terminate.recv() => info!("SIGTERM received: {}", stopping_plan()),
            _ = self.interrupt.recv() => info!("SIGINT received: {}", stopping_plan()),
        }
    }
}
