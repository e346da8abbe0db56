//! The lab's main job without Docker: the four servers on loopback and real
//! Locust pointed at them, either with Locust's web UI (the lab's way) or as a
//! headless sweep of user counts that ends in a latency report.
//!
//! The folders, one job each:
//!
//! - [`run`] (here): the entry point; [`options`] says what to run, [`error`] why it stopped.
//! - [`web`]: the web UI mode. [`sweep`]: the headless sweep, one step per
//!   user count, with a progress line.
//! - [`servers`]: the four targets and the servers that serve them, in this
//!   process, with the model they serve.
//! - [`locust`]: Locust as a child process, the Python files it loads (the
//!   locustfile and wine-lab's hook), and the pinned Locust wine-lab installs
//!   when there is none.
//! - [`measure`]: what a step measured: both sides' CPU use, Locust's CSV,
//!   and the servers' own `/metrics`.
//! - [`report`]: the report's data and its renderings (text, CSV, HTML, chart).
//! - [`http`]: the one HTTP client, for the servers' `/metrics` and Locust's web UI.
//!
//! Only the names below leave the lab: what the `wine-lab` binary runs it
//! with, and what the tests check it against.

mod error;
mod http;
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
/// reader of a server's `/metrics`, the CPU level that marks a step as limited
/// by Locust, and where wine-lab installs its own Locust.
pub use locust::{LOCUSTFILE, venv as locust_venv};
pub use measure::{Exposition, MEASURED_ROUTE};
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
