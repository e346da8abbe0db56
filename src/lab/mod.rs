//! The lab's main job without Docker: the four servers on loopback and real
//! Locust pointed at them, either with Locust's web UI (the lab's way) or as a
//! headless sweep of user counts that ends in a latency report.
//!
//! - [`run`] (here): the entry point; [`options`] says what to run, [`LabError`] why it stopped.
//! - [`web`]: the web UI mode. [`sweep`]: the headless sweep, one [`step`] per
//!   user count, with a [`progress`] line.
//! - [`targets`]: the four servers and the Locust tasks that load them;
//!   [`stack`] runs the servers in this process, serving the [`served_model`].
//! - [`locust`]: Locust as a child process (one, or a master and its
//!   workers), running the [`locustfile`]; [`locust_venv`]: Locust installed
//!   by wine-lab when there is none; [`cpu`]: how much CPU each side used.
//! - [`stats`]: reading Locust's numbers (final and on time thanks to the
//!   [`step_hook`]), and the servers' own `/metrics` ([`server_metrics`]); [`report`]: the report's data and its renderings (text,
//!   CSV, HTML, chart).

pub mod cpu;
mod error;
pub mod locust;
pub mod locust_venv;
pub mod locustfile;
pub mod options;
pub mod progress;
pub mod report;
pub mod served_model;
pub mod server_metrics;
pub mod stack;
pub mod stats;
pub mod step;
pub mod step_hook;
pub mod sweep;
pub mod targets;
pub mod web;

pub use error::LabError;
pub use options::{Client, LabOptions, Mode, SweepOptions, WebOptions};

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
        Mode::Sweep(sweep) => sweep::run(&locust, options, sweep, stop).await.map(drop),
    }
}

/// The Locust given with `--locust`; else `locust` on PATH (the Nix wrapper
/// puts one there); else wine-lab's own venv, installed on first use.
async fn find_locust(options: &LabOptions, stop: &CancellationToken) -> Result<Locust, LabError> {
    if let Some(program) = &options.locust {
        return Locust::find(program.clone()).await;
    }
    match Locust::find("locust".into()).await {
        Err(LabError::LocustMissing { .. }) => locust_venv::locust(stop).await,
        found => found,
    }
}
