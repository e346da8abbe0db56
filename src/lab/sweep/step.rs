//! One step of the sweep: Locust, headless, at one user count for a fixed
//! time, and what the step measured: Locust's numbers for each target, each
//! server's own, and Locust's CPU use.
//!
//! Two files Locust writes: its CSV (made final by wine-lab's hook, see
//! `locust/hook.py`), and beside it the servers' own figures, which its
//! Servers tab (`locust_servers.py`) read from each server's `GET /metrics`
//! when the step started, while it ran and when it stopped (see
//! [`crate::lab::measure`]).
//!
//! [`run`] reads as the step goes: the step's folder, Locust's command, Locust
//! run between two readings of its CPU time, then its exit, its CSV and the
//! servers' figures checked in that order, and the step's record.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::progress::{StepProgress, SweepPosition};
use crate::lab::error::LabError;
use crate::lab::locust::{self, Locust, LocustFiles};
use crate::lab::measure::{self, LocustCpu};
use crate::lab::options::{Client, SweepOptions};
use crate::lab::report::{self, Step};
use crate::lab::servers::{LocalStack, TARGETS};

/// What a step needs from the sweep around it.
pub struct StepContext<'a> {
    /// The Locust program.
    pub locust: &'a Locust,
    /// The files it loads: the locustfile, then wine-lab's hook.
    pub files: &'a LocustFiles,
    /// Which built-in locustfile that is; `None` for a `--locustfile`.
    pub client: Option<Client>,
    /// Locust's worker processes (0: one process).
    pub workers: u32,
    /// The servers it loads.
    pub stack: &'a LocalStack,
    /// The sweep's settings.
    pub sweep: &'a SweepOptions,
    /// Ctrl-C.
    pub stop: &'a CancellationToken,
}

/// Runs the step at `position` and returns what it measured. Locust's own
/// files (CSV, HTML, log) go to `users-<count>/` in the report folder.
pub async fn run(context: &StepContext<'_>, position: SweepPosition) -> Result<Step, LabError> {
    let sweep = context.sweep;
    let users = position.users;
    let spawn_rate = sweep.spawn_rate.unwrap_or(f64::from(users));
    let (folder, stdout, stderr) = StepFolder::create(&sweep.out, users)?;
    let command = headless_locust(context, users, spawn_rate, &folder, stdout, stderr)?;
    let around = run_measured(context, command, position).await?;

    let log_text = std::fs::read_to_string(&folder.log).unwrap_or_default();
    match around.exit {
        Ok(None) => return Err(LabError::Interrupted),
        Ok(Some(status)) if !status.success() => {
            return Err(LabError::StepFailed {
                users,
                status,
                log_end: locust::last_line(&log_text),
                log: folder.log,
            });
        }
        Ok(Some(_)) => {}
        Err(source) => return Err(LabError::LocustWait { source }),
    }
    let stats = folder.dir.join("locust_stats.csv");
    let targets =
        measure::read_stats(&stats, &TARGETS).map_err(|source| LabError::StepStatistics {
            users,
            source,
            log_end: locust::last_line(&log_text),
            log: folder.log.clone(),
        })?;
    let services = TARGETS.map(|target| target.service);
    let server_side =
        measure::read_server_side(&measure::servers_csv(&folder.csv_prefix()), &services)
            .map_err(|source| LabError::ServersUnread { users, source })?;
    let locust_cpu_percent = around.locust_cpu_percent;
    // Each Locust process warns for itself, the workers in the same log.
    let locust_cpu_warning = log_text.contains(locust::CPU_WARNING);
    Ok(Step {
        users,
        spawn_rate,
        duration_s: sweep.duration.as_secs(),
        workers: context.workers,
        client: context.client,
        locust_cpu_percent,
        locust_cpu_warning,
        load_generator_limited: limited_by_locust(
            context.workers,
            locust_cpu_percent,
            locust_cpu_warning,
        ),
        servers_cpu_percent: server_side.iter().filter_map(|side| side.cpu_percent).sum(),
        locust_output: folder.name,
        targets,
        server_side,
    })
}

/// A step's folder in the report, `users-<count>/`: Locust's CSV, HTML and log.
struct StepFolder {
    /// Its name in the report folder.
    name: String,
    /// Where it is.
    dir: PathBuf,
    /// Locust's log: its output, both streams.
    log: PathBuf,
}

impl StepFolder {
    /// Locust's `--csv` prefix: its files are `locust_stats.csv` and so on.
    fn csv_prefix(&self) -> PathBuf {
        self.dir.join("locust")
    }

    /// Makes the folder of a step at `users` in the report folder `out`, and
    /// its log, opened twice: for Locust's stdout and its stderr.
    fn create(out: &Path, users: u32) -> Result<(Self, File, File), LabError> {
        let report_error = |source| LabError::ReportWrite {
            dir: out.to_owned(),
            source,
        };
        let name = format!("users-{users:04}");
        let dir = out.join(&name);
        std::fs::create_dir_all(&dir).map_err(report_error)?;
        let log = dir.join("locust.log");
        let stdout = File::create(&log).map_err(report_error)?;
        let stderr = stdout.try_clone().map_err(report_error)?;
        Ok((StepFolder { name, dir, log }, stdout, stderr))
    }
}

/// Locust, headless, at `users` for the step's length, writing its CSV and
/// HTML into `folder` and its output into the log.
fn headless_locust(
    context: &StepContext<'_>,
    users: u32,
    spawn_rate: f64,
    folder: &StepFolder,
    stdout: File,
    stderr: File,
) -> Result<Command, LabError> {
    // In distributed mode the master, which has the statistics, writes the
    // CSV; the hook is loaded by the workers too and does nothing there.
    let mut command = context.locust.command(
        context.files.paths(),
        &context.stack.locust_env(),
        context.workers,
    )?;
    command
        .arg("--headless")
        .args(["--users", &users.to_string()])
        .args(["--spawn-rate", &spawn_rate.to_string()])
        .args([
            "--run-time",
            &format!("{}s", context.sweep.duration.as_secs()),
        ])
        .arg("--csv")
        .arg(folder.csv_prefix())
        .arg("--html")
        .arg(folder.dir.join("locust.html"))
        .args(["--only-summary", "--exit-code-on-error", "0"])
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr));
    Ok(command)
}

/// How Locust's run ended, and the CPU it used.
struct AroundLocust {
    /// Locust's exit; `None` if Ctrl-C stopped it.
    exit: std::io::Result<Option<ExitStatus>>,
    /// Locust's CPU over its run, in percent of one core.
    locust_cpu_percent: f64,
}

/// Runs `locust` (with the progress line) until it exits or Ctrl-C stops it,
/// between two readings of its CPU time.
async fn run_measured(
    context: &StepContext<'_>,
    mut locust: Command,
    position: SweepPosition,
) -> Result<AroundLocust, LabError> {
    // The workers are the master's children, waited for by it before it
    // exits, so the reading after, taken once the master was waited for, counts them.
    let cpu = LocustCpu::now();
    let mut child = locust
        .spawn()
        .map_err(|source| LabError::LocustSpawn { source })?;
    let progress = StepProgress::show(position);
    let exit = locust::wait_or_stop(&mut child, context.stop).await;
    drop(progress);
    Ok(AroundLocust {
        exit,
        locust_cpu_percent: cpu.percent_since(),
    })
}

/// Whether Locust, not the servers, limited the step: it warned, or its
/// processes generating load (the workers, or the one process) used nearly
/// all the cores they could.
fn limited_by_locust(workers: u32, locust_cpu_percent: f64, warned: bool) -> bool {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    report::load_generator_limited(locust_cpu_percent, warned, workers.max(1).min(cores))
}

/// Locust's first failure line for a step whose requests failed, from
/// `locust_failures.csv` in the step's folder.
pub fn first_failure(report_dir: &Path, step: &Step) -> String {
    let path: PathBuf = report_dir
        .join(&step.locust_output)
        .join("locust_failures.csv");
    std::fs::read_to_string(path)
        .ok()
        .and_then(|csv| csv.lines().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "see locust_failures.csv".into())
}
