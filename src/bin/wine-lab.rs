//! `wine-lab`: the lab's main job without Docker. Starts the four servers
//! (no-batch, batch-1, batch-32, batch-64) on loopback and real Locust against
//! them: with its web UI, as in the lab, or `--headless` for a sweep of user
//! counts that ends in a latency report with a chart.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use tokio_util::sync::CancellationToken;
use wine_lab::lab::{
    self, Client, DEFAULT_WORKERS, LabOptions, MAX_WORKERS, Mode, SweepOptions, WebOptions,
    parse_spawn_rate, parse_step_duration,
};
use wine_lab::server;

/// Load-test the wine lab's four servers with Locust, without Docker.
///
/// By default: starts the servers and Locust's web UI (http://localhost:8089); swarm
/// from the browser, Ctrl-C stops everything. With --headless: runs a sweep of
/// user counts and writes a report folder (tables, CSV, JSON, chart, index.html).
///
/// Exit codes: 0 done, 1 error, 2 bad arguments, 3 Locust missing,
/// 4 requests failed, 130 interrupted (finished steps are kept).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Run the latency sweep and write a report instead of opening the web UI.
    #[arg(long)]
    headless: bool,
    /// User counts of the sweep, one step each.
    #[arg(long, value_delimiter = ',', default_value = "10,50,100,500", value_parser = clap::value_parser!(u32).range(1..))]
    users: Vec<u32>,
    /// Users started per second (default: each step's user count, so all start in a second).
    #[arg(long, value_parser = parse_spawn_rate)]
    spawn_rate: Option<f64>,
    /// How long each step runs, in whole seconds ("30s", "2m", "1m30s", "90").
    #[arg(long, default_value = "30s", value_parser = parse_step_duration)]
    duration: Duration,
    /// Report folder (default: lab-reports/<UTC date and time>); must be new or empty.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Serve this model file (default: train the images' model, seed 42, in a few ms).
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Use this locustfile (default: the repository's locustfile.py, built in).
    #[arg(long, value_name = "FILE", conflicts_with = "client")]
    locustfile: Option<PathBuf>,
    /// Locust's HTTP client: http runs the lab's locustfile.py (HttpUser), fast the
    /// same tasks on FastHttpUser (locustfile_fast.py), which needs less CPU per request.
    #[arg(long, value_enum, default_value_t = Client::Http)]
    client: Client,
    /// Locust worker processes under one master (Locust's --processes); 0 runs Locust
    /// as a single process.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_WORKERS,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_WORKERS)))]
    workers: u32,
    /// The Locust program (default: `locust` on PATH, else the pinned Locust that
    /// wine-lab installs once into a venv in ~/.cache/wine-lab).
    #[arg(long, env = "WINE_LAB_LOCUST", value_name = "PROGRAM")]
    locust: Option<OsString>,
    /// Put the servers on this port and the next three (default: free ports).
    #[arg(long, value_name = "PORT")]
    base_port: Option<u16>,
    /// Address of Locust's web UI.
    #[arg(long, default_value = "127.0.0.1")]
    web_host: String,
    /// Port of Locust's web UI.
    #[arg(long, default_value_t = 8089)]
    web_port: u16,
}

fn main() {
    let args = Args::parse();
    // Each step writes to users-<count>/: a count given twice would overwrite it.
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = args.users.iter().find(|users| !seen.insert(**users)) {
        Args::command()
            .error(
                clap::error::ErrorKind::ValueValidation,
                format!("--users lists {twice} twice; give each user count once"),
            )
            .exit();
    }
    wine_lab::logging::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("wine-lab: cannot start the async runtime: {error}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(run(args));
    std::process::exit(code);
}

async fn run(args: Args) -> i32 {
    let stop = CancellationToken::new();
    match server::StopSignals::install() {
        Ok(mut signals) => {
            let stop = stop.clone();
            tokio::spawn(async move {
                // The first Ctrl-C stops everything in order; a second one
                // does not wait (Locust then gets SIGTERM from the kernel).
                signals.next().await;
                stop.cancel();
                signals.next().await;
                eprintln!("wine-lab: second signal: exiting now");
                std::process::exit(130);
            });
        }
        Err(error) => {
            eprintln!("wine-lab: cannot install signal handlers: {error}");
            return 1;
        }
    }
    let options = LabOptions {
        model: args.model,
        locustfile: args.locustfile,
        locust: args.locust,
        base_port: args.base_port,
        workers: args.workers,
        client: args.client,
    };
    let mode = if args.headless {
        let out = args.out.unwrap_or_else(|| {
            let now = jiff::Timestamp::now();
            PathBuf::from("lab-reports").join(now.strftime("%Y-%m-%dT%H%M%SZ").to_string())
        });
        Mode::Sweep(SweepOptions {
            users: args.users,
            spawn_rate: args.spawn_rate,
            duration: args.duration,
            out,
        })
    } else {
        Mode::Web(WebOptions {
            host: args.web_host,
            port: args.web_port,
        })
    };
    match lab::run(&options, &mode, stop).await {
        Ok(()) => 0,
        Err(error) => {
            // One line that says what failed and what to do (LabError's messages
            // carry their cause), and the exit code of its kind.
            eprintln!("wine-lab: {error}");
            error.exit_code()
        }
    }
}
