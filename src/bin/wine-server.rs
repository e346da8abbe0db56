//! `wine-server`: one of the lab's two model servers (`--api no-batch|with-batch`).
//!
//! Loads the model file once, then serves it until SIGTERM or SIGINT, letting
//! in-flight requests finish. Settings come from flags or `WINE_*` variables;
//! the defaults are the container's (port 80, model at /app/wine.model).
//!
//! `wine-server healthcheck` is the images' HEALTHCHECK: it asks the server on
//! this machine (same `WINE_PORT`/`WINE_HOST`) for `GET /` and exits 0 on a 200,
//! 1 otherwise. The images are FROM scratch, so there is no curl to do it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::builder::RangedU64ValueParser;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing::info;
use wine_lab::api::{Api, DEFAULT_MAX_BODY_BYTES};
use wine_lab::duration::Positive;
use wine_lab::http_client;
use wine_lab::metrics::CpuScope;
use wine_lab::model_file;
use wine_lab::server::{self, ClientLimits, ServerOptions};

/// Serve the wine classifier over HTTP with one of the lab's two APIs.
///
/// Without a subcommand it serves (as it always has); the flags below are
/// the server's.
#[derive(Parser, Debug)]
#[command(
    name = "wine-server",
    version,
    subcommand_negates_reqs = true,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: Args,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Exit 0 if the server on this machine answers `GET /` with 200 within
    /// the timeout, 1 otherwise (the container images' HEALTHCHECK).
    Healthcheck(HealthcheckArgs),
}

/// Where the server to check listens: the same variables the server reads, so
/// inside its container the check needs no flags.
#[derive(clap::Args, Debug)]
struct HealthcheckArgs {
    /// Port the server listens on.
    #[arg(long, env = "WINE_PORT", default_value_t = 80)]
    port: u16,
    /// Address the server listens on; an unspecified one (0.0.0.0, ::) is
    /// reached through loopback.
    #[arg(long, env = "WINE_HOST", default_value = "0.0.0.0")]
    host: IpAddr,
    /// Time the whole check may take (connect, request, answer); kept below
    /// the image's HEALTHCHECK --timeout so a hung server is reported by us.
    #[arg(long, default_value_t = Positive(Duration::from_secs(1)))]
    timeout: Positive,
}

/// The server's settings.
#[derive(clap::Args, Debug)]
struct Args {
    /// Which API: no-batch (one named wine per request) or with-batch (rows of 13 numbers).
    // Required to serve; an Option only so that `wine-server healthcheck`, which
    // negates the requirement, parses without it.
    #[arg(long, env = "WINE_API", required = true)]
    api: Option<Api>,
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
    /// Worker threads; 1 runs everything on one thread. More pay off only with
    /// cores to spare beside the load generator and the other servers.
    #[arg(long, env = "WINE_THREADS", default_value_t = server::DEFAULT_THREADS)]
    threads: NonZeroUsize,
    /// Log every request (off by default: it costs time under load).
    #[arg(long, env = "WINE_LOG_REQUESTS")]
    log_requests: bool,
    /// Serve no `GET /metrics` and time no request (metrics are on by
    /// default; bench/run uses this to measure what they cost).
    #[arg(long, env = "WINE_NO_METRICS")]
    no_metrics: bool,
}

fn main() {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Some(Command::Healthcheck(check)) => healthcheck(&check),
        None => {
            wine_lab::logging::init();
            run(cli.serve)
        }
    };
    if let Err(error) = outcome {
        eprintln!("wine-server: {error:#}");
        std::process::exit(1);
    }
}

/// The address a client on this machine uses to reach a server bound to `host`.
fn local_address(host: IpAddr, port: u16) -> SocketAddr {
    let host = match host {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    SocketAddr::new(host, port)
}

/// `GET /` on the local server, with the crate's HTTP client; Ok only for a
/// 200 within the timeout.
fn healthcheck(check: &HealthcheckArgs) -> Result<()> {
    let address = local_address(check.host, check.port);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let host = address.ip().to_string();
    let got = runtime.block_on(http_client::get_text(
        &host,
        address.port(),
        "/",
        check.timeout.0,
    ));
    match got {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::TimedOut => bail!(
            "healthcheck: http://{address}/ did not answer within {}",
            check.timeout
        ),
        Err(error) => bail!("healthcheck: {error}"),
    }
}

fn run(args: Args) -> Result<()> {
    let Some(api) = args.api else {
        bail!("--api (or WINE_API) is required to serve");
    };
    let loaded = model_file::load(&args.model)?;
    let runtime =
        server::runtime(Some(args.threads.get())).context("cannot start the async runtime")?;

    runtime.block_on(async {
        // Handlers first: a signal that arrives once "serving" is logged must be caught.
        let mut signals =
            server::StopSignals::install().context("cannot install signal handlers")?;
        let address = SocketAddr::new(args.host, args.port);
        let listener = server::bind(address).await?;
        info!(
            api = %api,
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
            api,
            max_body_bytes: args.max_body_bytes,
            log_requests: args.log_requests,
            metrics: (!args.no_metrics).then_some(CpuScope::Process),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::thread::JoinHandle;

    /// A one-connection HTTP stand-in on loopback: answers `reply` (or nothing,
    /// holding the connection for `hold`) and returns the request line it got.
    fn stand_in(reply: Option<&'static str>, hold: Duration) -> (u16, JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                line.clear();
            }
            match reply {
                Some(reply) => (&stream).write_all(reply.as_bytes()).unwrap(),
                None => std::thread::sleep(hold),
            }
            request_line
        });
        (port, handle)
    }

    fn check(port: u16, timeout: Duration) -> Result<()> {
        healthcheck(&HealthcheckArgs {
            port,
            host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            timeout: Positive(timeout),
        })
    }

    #[test]
    fn a_200_to_get_root_is_healthy() {
        let (port, server) = stand_in(
            Some("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"),
            Duration::ZERO,
        );
        check(port, Duration::from_secs(5)).unwrap();
        assert_eq!(server.join().unwrap(), "GET / HTTP/1.1\r\n");
    }

    #[test]
    fn any_other_status_is_unhealthy() {
        for reply in [
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n",
        ] {
            let (port, server) = stand_in(Some(reply), Duration::ZERO);
            let error = check(port, Duration::from_secs(5)).unwrap_err();
            assert!(error.to_string().contains("answered"), "{error:#}");
            server.join().unwrap();
        }
    }

    #[test]
    fn a_closed_port_is_unhealthy() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let error = check(port, Duration::from_secs(5)).unwrap_err();
        assert!(
            format!("{error:#}").contains("GET http://127.0.0.1:"),
            "{error:#}"
        );
    }

    #[test]
    fn a_server_that_never_answers_is_unhealthy_after_the_timeout() {
        let (port, server) = stand_in(None, Duration::from_secs(2));
        let started = std::time::Instant::now();
        let error = check(port, Duration::from_millis(200)).unwrap_err();
        assert!(
            error.to_string().contains("did not answer within 200ms"),
            "{error:#}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        server.join().unwrap();
    }

    #[test]
    fn an_unspecified_host_is_reached_through_loopback() {
        for (host, expected) in [
            ("0.0.0.0", "127.0.0.1:80"),
            ("::", "[::1]:80"),
            ("10.1.2.3", "10.1.2.3:80"),
        ] {
            let address = local_address(host.parse().unwrap(), 80);
            assert_eq!(address.to_string(), expected);
        }
    }

    #[test]
    fn the_command_line_still_serves_without_a_subcommand() {
        let cli =
            Cli::try_parse_from(["wine-server", "--api", "no-batch", "--port", "8000"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.port, 8000);
        let cli = Cli::try_parse_from(["wine-server", "healthcheck", "--port", "8000"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Healthcheck(ref c)) if c.port == 8000));
        // A server flag before the subcommand would be silently ignored: refused.
        assert!(Cli::try_parse_from(["wine-server", "--port", "8000", "healthcheck"]).is_err());
    }
}
