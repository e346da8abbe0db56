//! The lab's main job without Docker: the four servers on loopback and real
//! Locust pointed at them, either with Locust's web UI (the lab's way) or as a
//! headless sweep of user counts that ends in a latency report.
//!
//! The map, one job a file or folder:
//!
//! - here, [`run`]: the entry point, which finds Locust and runs the mode;
//!   `options.rs` says what to run, `error.rs` every way a run can stop.
//! - `web.rs`: the web UI mode. `sweep/`: the headless sweep, one step per
//!   user count (`step.rs`), with a progress line (`progress.rs`).
//! - `servers/`: the four targets (`targets.rs`: a server and the Locust task
//!   that loads it), the servers that serve them in this process
//!   (`stack.rs`, with `LabServers`, how both modes start and stop them),
//!   and the model they serve (`served_model.rs`).
//! - `locust/`: Locust as a child process (`process.rs`), the Python files it
//!   loads (`files.rs`: the locustfile, wine-lab's `hook.py` and the Servers
//!   tab, `locust_servers.py`), and the
//!   pinned Locust (`requirements.txt`) that wine-lab installs in a venv of
//!   its own when there is none (`venv.rs`).
//! - `measure/`: what a step measured: Locust's CPU (`cpu.rs`), Locust's CSV
//!   (`locust_stats.rs`), and each server's own figures (`server_side.rs`),
//!   which `locust_servers.py`, Locust's Servers tab, read from its
//!   `/metrics` and wrote beside Locust's CSV.
//! - `report/`: the report's data and its renderings (text, CSV, HTML, chart).
//!
//! A run flows down that list: [`run`] finds Locust, the mode starts the
//! servers, writes the files Locust loads and runs Locust (once in the web
//! mode, once a step in the sweep), and the sweep turns each step's measures
//! into the report. Imports run down that list too: the modes use the
//! folders below them, `report/` uses `measure/`, which uses `servers/`, and
//! all may use `options.rs` and `error.rs`, which use nothing of
//! the lab.
//!
//! Only the names below leave the lab: what the `wine-lab` binary runs it
//! with, and what the tests check it against.

mod error;
mod locust;
mod measure;
mod options;
mod report;
mod servers;
mod sweep;
mod web;

pub use error::LabError;
pub use options::{
    Client, DEFAULT_WORKERS, LabOptions, MAX_WORKERS, Mode, SweepOptions, WebOptions,
    parse_spawn_rate, parse_step_duration,
};

/// For the tests: the lab's compiled-in locustfile and its four targets, the
/// CPU level that marks a step as limited by Locust, and where wine-lab
/// installs its own Locust.
pub use locust::{LOCUSTFILE, venv as locust_venv};
pub use report::LOAD_GENERATOR_LIMIT_PERCENT;
pub use servers::{TARGETS, Target};

use tokio_util::sync::CancellationToken;

use locust::Locust;

/// Runs the lab in `mode` until it is done, fails, or `stop` is cancelled
/// (Ctrl-C). Locust is looked for first: without it nothing else is worth starting.
pub async fn run(
    options: &LabOptions,
    mode: &Mode,
    stop: CancellationToken,
) -> Result<(), LabError> {
    let locust = find_locust(options, &stop).await?;
    match mode {
        Mode::Web(web) => web::run(&locust, options, web, stop).await,
        Mode::Sweep(sweep) => sweep::run(&locust, options, sweep, stop).await,
    }
}

/// The Locust given with `--locust`; else `locust` on PATH (the Nix wrapper
/// puts one there); else wine-lab's own venv, installed on first use.
async fn find_locust(options: &LabOptions, stop: &CancellationToken) -> Result<Locust, LabError> {
    if let Some(program) = &options.locust {
        return Locust::find(program.clone()).await;
    }
    match Locust::find("locust".into()).await {
        Err(LabError::LocustMissing { .. }) => locust::venv::locust(stop).await,
        found => found,
    }
}
