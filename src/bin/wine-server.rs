//! `wine-server`: one of the lab's two model servers (`--api no-batch|with-batch`).
//!
//! Loads the model file once, then serves it until SIGTERM or SIGINT, letting
//! in-flight requests finish. Settings come from flags or `WINE_*` variables;
//! the defaults are the container's (port 80, model at /app/wine.model).

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use clap::builder::RangedU64ValueParser;
use tokio_util::sync::CancellationToken;
use tracing::info;
use wine_lab::api::{Api, DEFAULT_MAX_BODY_BYTES};
use wine_lab::duration::Positive;
use wine_lab::model_file;
use wine_lab::server::{self, ClientLimits, ServerOptions};

/// Serve the wine classifier over HTTP with one of the lab's two APIs.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Which API: no-batch (one named wine per request) or with-batch (rows of 13 numbers).
    #[arg(long, env = "WINE_API")]
    api: Api,
    /// Address to listen on.
    #[arg(long, env = "WINE_HOST", default_value = "0.0.0.0")]
    host: IpAddr,
    /// Port to listen on.
    #[arg(long, env = "WINE_PORT", default_value_t = 80)]
    port: u16,
    /// Model file written by wine-train.
    #[arg(long, env = "WINE_MODEL", default_value = "/app/wine.model")]
    model: PathBuf,
    /// Largest request body in bytes; larger ones are answered 413 (from the
    /// declared length, before reading them).
    #[arg(long, env = "WINE_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=u64::from(u32::MAX)))]
    max_body_bytes: usize,
    /// Bytes all request bodies in flight may hold together; further bodies
    /// wait for room [default: 16 times --max-body-bytes].
    #[arg(long, env = "WINE_MAX_BODY_MEMORY",
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    max_body_memory: Option<usize>,
    /// Time a client has to send a request's headers, and how long a
    /// connection may stay idle (e.g. 30s, 500ms).
    #[arg(long, env = "WINE_HEADER_READ_TIMEOUT", default_value_t = Positive(server::DEFAULT_HEADER_READ_TIMEOUT))]
    header_read_timeout: Positive,
    /// Time a request body may keep the server waiting, in total.
    #[arg(long, env = "WINE_BODY_READ_TIMEOUT", default_value_t = Positive(server::DEFAULT_BODY_READ_TIMEOUT))]
    body_read_timeout: Positive,
    /// Worker threads (default: one per CPU it may use; 1 runs everything on one thread).
    #[arg(long, env = "WINE_THREADS")]
    threads: Option<NonZeroUsize>,
    /// Log every request (off by default: it costs time under load).
    #[arg(long, env = "WINE_LOG_REQUESTS")]
    log_requests: bool,
}

fn main() {
    let args = Args::parse();
    wine_lab::logging::init();
    if let Err(error) = run(args) {
        eprintln!("wine-server: {error:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    let loaded = model_file::load(&args.model)?;
    let runtime = server::runtime(args.threads.map(NonZeroUsize::get))
        .context("cannot start the async runtime")?;

    runtime.block_on(async {
        // Handlers first: a signal that arrives once "serving" is logged must be caught.
        let mut signals =
            server::StopSignals::install().context("cannot install signal handlers")?;
        let address = SocketAddr::new(args.host, args.port);
        let listener = server::bind(address).await?;
        info!(
            api = %args.api,
            address = %listener.local_addr()?,
            model = %args.model.display(),
            sha256 = %loaded.sha256,
            seed = loaded.provenance.seed,
            held_out = %loaded.provenance.held_out_accuracy,
            "serving"
        );
        let stop = CancellationToken::new();
        let signal = tokio::spawn({
            let stop = stop.clone();
            async move {
                // Cancels on drop, so the server stops even if this task fails.
                let _stop_on_exit = stop.drop_guard();
                signals.next().await;
            }
        });
        let options = ServerOptions {
            api: args.api,
            max_body_bytes: args.max_body_bytes,
            log_requests: args.log_requests,
        };
        let limits = ClientLimits {
            header_read_timeout: args.header_read_timeout.0,
            body_read_timeout: args.body_read_timeout.0,
            max_body_memory: args.max_body_memory,
        };
        server::serve_with_limits(listener, Arc::new(loaded.model), options, &limits, stop).await?;
        signal.abort();
        info!("stopped");
        Ok(())
    })
}
