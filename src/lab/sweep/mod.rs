//! The headless sweep: one Locust run per user count against the four
//! servers, a table printed after each step, and the report folder rewritten
//! after each step, so a sweep that stops early keeps what it measured.
//! Each [`step`] runs Locust once, with a [`progress`] line while it runs.

mod progress;
mod step;

use std::path::Path;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::lab::error::LabError;
use crate::lab::locust::{Locust, LocustFiles};
use crate::lab::options::{LabOptions, SweepOptions};
use crate::lab::report::{self, Machine, Summary};
use crate::lab::servers::LabServers;
use progress::SweepPosition;
use step::StepContext;

/// Runs every step against the four servers, then writes the report.
pub async fn run(
    locust: &Locust,
    options: &LabOptions,
    sweep: &SweepOptions,
    stop: CancellationToken,
) -> Result<(), LabError> {
    let out = &sweep.out;
    if std::fs::read_dir(out).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(LabError::ReportFolderNotEmpty { dir: out.clone() });
    }
    let servers = LabServers::start(options, &locust.version).await?;
    let reported = steps_and_report(locust, options, sweep, &servers, &stop).await;
    servers.stop_after(reported).await
}

/// With the servers running: makes the report folder, runs the steps, and
/// writes the report, which says whether the sweep was complete.
async fn steps_and_report(
    locust: &Locust,
    options: &LabOptions,
    sweep: &SweepOptions,
    servers: &LabServers,
    stop: &CancellationToken,
) -> Result<(), LabError> {
    let out = &sweep.out;
    let report_error = |source| LabError::ReportWrite {
        dir: out.clone(),
        source,
    };
    // The report folder is made once the servers run, so a failed start
    // leaves no folder behind to block the next attempt.
    std::fs::create_dir_all(out).map_err(report_error)?;
    let files = LocustFiles::write(options.locustfile.as_deref(), options.client, Some(out))?;
    let context = StepContext {
        locust,
        files: &files,
        client: options.locustfile.is_none().then_some(options.client),
        workers: options.workers,
        stack: &servers.stack,
        sweep,
        stop,
    };
    let mut summary = Summary {
        tool: format!("wine-lab {}", env!("CARGO_PKG_VERSION")),
        started: jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| jiff::Timestamp::now())
            .to_string(),
        machine: Machine::current(),
        model_sha256: servers.model_sha256.clone(),
        locust_version: locust.version.clone(),
        users: sweep.users.clone(),
        duration_s: sweep.duration.as_secs(),
        complete: false,
        steps: Vec::new(),
    };
    let result = steps(&context, &mut summary).await;
    summary.complete = result.is_ok();
    let written = report::write(out, &summary).map_err(report_error);
    let index = out.join(report::INDEX_HTML);
    match result {
        Ok(()) => {
            written?;
            eprintln!("report: {}", index.display());
            Ok(())
        }
        Err(error) => {
            // The sweep's own error decides the exit code; a report that
            // could not be written is said too.
            if let Err(report) = written {
                eprintln!("wine-lab: {report}");
            }
            Err(match error {
                LabError::Interrupted => LabError::SweepInterrupted {
                    finished_steps: summary.steps.len(),
                    report: index,
                },
                error => error,
            })
        }
    }
}

/// Runs the steps in order, adding each to `summary` and rewriting the report
/// after each; stops at the first step whose requests failed.
async fn steps(context: &StepContext<'_>, summary: &mut Summary) -> Result<(), LabError> {
    let out: &Path = &context.sweep.out;
    let sweep_started = Instant::now();
    let users = &context.sweep.users;
    for (index, &step_users) in users.iter().enumerate() {
        let position = SweepPosition {
            index,
            total: users.len(),
            users: step_users,
            step_length: context.sweep.duration,
            sweep_started,
        };
        let step = step::run(context, position).await?;
        println!("{}", report::text::step_table(&step));
        let failures = step.failures();
        let first_failure = (failures > 0).then(|| step::first_failure(out, &step));
        summary.steps.push(step);
        report::write(out, summary).map_err(|source| LabError::ReportWrite {
            dir: out.to_owned(),
            source,
        })?;
        if let Some(first_failure) = first_failure {
            return Err(LabError::RequestsFailed {
                users: step_users,
                count: failures,
                first_failure,
                report: out.join(report::INDEX_HTML),
            });
        }
    }
    Ok(())
}
