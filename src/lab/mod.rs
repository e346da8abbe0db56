//! The lab's main job without Docker: the four servers on loopback and real
//! Locust pointed at them, either with Locust's web UI (the lab's way) or as a
//! headless sweep of user counts that ends in a latency report.
//!
//! - [`run`] (here): the entry point; [`options`] says what to run, [`LabError`] why it stopped.
//! - [`web`]: the web UI mode. [`sweep`]: the headless sweep, one [`step`] per
//!   user count, with a [`progress`] line.
//! - [`targets`]: the four servers and the Locust tasks that load them;
//!   [`stack`] runs the servers in this process, serving the [`served_model`].
//! - [`locust`]: Locust as a child process, running the [`locustfile`];
//!   [`cpu`]: how much CPU each side used.
//! - [`stats`]: reading Locust's numbers (final and on time thanks to the
//!   [`step_hook`]), and the servers' own `/metrics` ([`server_metrics`]); [`report`]: the report's data and its renderings (text,
//!   CSV, HTML, chart).

pub mod cpu;
mod error;
pub mod locust;
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
pub use options::{LabOptions, Mode, SweepOptions, WebOptions};

use tokio_util::sync::CancellationToken;

use locust::Locust;

/// Runs the lab in `mode` until it is done, fails, or `stop` is cancelled
/// (Ctrl-C). Locust is looked for first: without it nothing else is worth starting.
pub async fn run(
    options: &LabOptions,
    mode: &Mode,
    stop: CancellationToken,
) -> Result<(), LabError> {
    let locust = Locust::find(options.locust.clone()).await?;
    match mode {
        Mode::Web(web) => web::run(&locust, options, web, stop).await,
        Mode::Sweep(sweep) => sweep::run(&locust, options, sweep, stop).await.map(drop),
    }
}
