//! The lab's main job without Docker: the four servers on loopback and real
//! Locust pointed at them, either with Locust's web UI (the lab's way) or as a
//! headless sweep of user counts that ends in a latency report.
//!
//! - [`targets`]: the four servers and the Locust tasks that load them.
//! - [`stack`]: running the four servers in this process.
//! - [`locust`]: Locust as a child process.
//! - [`stats`], [`report`], [`chart`]: reading Locust's numbers and reporting them.

pub mod chart;
pub mod locust;
pub mod report;
pub mod stack;
pub mod stats;
pub mod targets;

use std::ffi::OsString;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::model::WineModel;
use crate::model_file::{self, LoadError, ModelFile, sha256_hex};
use crate::train::{DEFAULT_SEED, TrainingData, train};
use locust::Locust;
use report::{Machine, Step, Summary};
use stack::LocalStack;
use targets::{LOCUSTFILE, TARGETS};

/// Why the lab stopped; each cause has its own exit code.
#[derive(Debug, Error)]
pub enum LabError {
    /// No Locust program.
    #[error(
        "Locust is not installed (no `{}` program found). Get it with `nix develop` (the dev shell has it) or `pip install locust`, or point --locust at it.",
        .0.display()
    )]
    LocustMissing(PathBuf),
    /// Locust is there but does not run.
    #[error("`{} --version` failed, so Locust cannot run here: {detail}", program.display())]
    LocustBroken {
        /// The program tried.
        program: PathBuf,
        /// What it said.
        detail: String,
    },
    /// The model could not be loaded or trained.
    #[error("{0}")]
    Model(String),
    /// A port is taken, or another start-up problem with the servers.
    #[error("{0}")]
    Start(String),
    /// Locust stopped with an error.
    #[error("Locust {0}")]
    LocustFailed(String),
    /// Requests failed: the servers answered errors or not at all.
    #[error("{count} request(s) failed at {users} users ({detail}); see {report}")]
    RequestsFailed {
        /// Users in the failing step.
        users: u32,
        /// Failed requests.
        count: u64,
        /// Locust's first failure line.
        detail: String,
        /// Where the report is.
        report: String,
    },
    /// The report could not be written.
    #[error("cannot write the report in {dir}: {source}")]
    Report {
        /// The report folder.
        dir: String,
        /// The file system's error.
        source: std::io::Error,
    },
    /// Ctrl-C or SIGTERM.
    #[error("interrupted{0}")]
    Interrupted(String),
}

impl LabError {
    /// The process exit code for this error (documented in README.md).
    pub fn exit_code(&self) -> i32 {
        match self {
            LabError::LocustMissing(_) | LabError::LocustBroken { .. } => 3,
            LabError::RequestsFailed { .. } => 4,
            LabError::Interrupted(_) => 130,
            _ => 1,
        }
    }
}

/// Settings shared by both modes.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Serve this model file instead of training the images' model.
    pub model: Option<PathBuf>,
    /// Use this locustfile instead of the repository's (compiled in).
    pub locustfile: Option<PathBuf>,
    /// The Locust program.
    pub locust: OsString,
    /// Servers on this port and the three after it; free ports when `None`.
    pub base_port: Option<u16>,
}

/// Settings of the interactive mode.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Address of Locust's web UI.
    pub host: String,
    /// Port of Locust's web UI.
    pub port: u16,
}

/// Settings of the headless sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// User counts, one step each.
    pub users: Vec<u32>,
    /// Users started per second; each step's user count when `None`.
    pub spawn_rate: Option<f64>,
    /// Length of each step.
    pub duration: Duration,
    /// Report folder.
    pub out: PathBuf,
}

/// The model the servers will serve, and its file's checksum.
fn model(path: Option<&Path>) -> Result<(WineModel, String), LabError> {
    match path {
        Some(path) => {
            let loaded =
                model_file::load(path).map_err(|e: LoadError| LabError::Model(e.to_string()))?;
            Ok((loaded.model, loaded.sha256))
        }
        None => {
            // Exactly the images' model: `wine-train` with the built-in data and seed.
            let data = TrainingData::embedded().map_err(|e| LabError::Model(e.to_string()))?;
            let file: ModelFile =
                train(&data, DEFAULT_SEED).map_err(|e| LabError::Model(e.to_string()))?;
            let model = WineModel::new(&file.params).map_err(|e| LabError::Model(e.to_string()))?;
            Ok((model, sha256_hex(&file.encode())))
        }
    }
}

/// The locustfile to run: the given one, or the compiled-in copy written to `dir`.
fn locustfile(given: Option<&Path>, dir: &Path) -> Result<PathBuf, LabError> {
    if let Some(path) = given {
        if !path.is_file() {
            return Err(LabError::Start(format!(
                "locustfile {} does not exist",
                path.display()
            )));
        }
        return Ok(path.to_owned());
    }
    let path = dir.join("locustfile.py");
    std::fs::write(&path, LOCUSTFILE)
        .map_err(|e| LabError::Start(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}

/// A folder for the web mode's copy of the locustfile, removed however the
/// run ends.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn create() -> Result<Self, LabError> {
        let path = std::env::temp_dir().join(format!("wine-lab-{}", std::process::id()));
        std::fs::create_dir_all(&path)
            .map_err(|e| LabError::Start(format!("cannot create {}: {e}", path.display())))?;
        Ok(ScratchDir(path))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start_servers(model: WineModel, base_port: Option<u16>) -> Result<LocalStack, LabError> {
    let stack = LocalStack::start(Arc::new(model), base_port)
        .await
        .map_err(|e| match base_port {
            Some(_) => LabError::Start(format!(
                "{e} (pass another --base-port, or none to use free ports)"
            )),
            None => LabError::Start(e.to_string()),
        })?;
    for server in &stack.servers {
        eprintln!(
            "{:<10} {}  ({})",
            server.target.service,
            server.url(),
            server.target.api
        );
    }
    Ok(stack)
}

/// The interactive lab: servers, then Locust's web UI, until Ctrl-C or Locust exits.
pub async fn run_web(
    options: &LabOptions,
    web: &WebOptions,
    stop: CancellationToken,
) -> Result<(), LabError> {
    let locust = Locust::find(options.locust.clone()).await?;
    if std::net::TcpListener::bind((web.host.as_str(), web.port)).is_err() {
        return Err(LabError::Start(format!(
            "port {} on {} (Locust's web UI) is in use: stop what uses it (a previous `docker-compose up`?) or pass --web-port",
            web.port, web.host
        )));
    }
    let (model, sha) = model(options.model.as_deref())?;
    let scratch = ScratchDir::create()?;
    let file = locustfile(options.locustfile.as_deref(), &scratch.0)?;
    eprintln!("model sha256 {sha}; {}", locust.version);
    let stack = start_servers(model, options.base_port).await?;
    let result = web_session(&locust, &file, &stack, web, &stop).await;
    let stopped = stack.stop().await;
    result?;
    stopped.map_err(|e| LabError::Start(format!("a server failed: {e}")))
}

async fn web_session(
    locust: &Locust,
    file: &Path,
    stack: &LocalStack,
    web: &WebOptions,
    stop: &CancellationToken,
) -> Result<(), LabError> {
    let mut child = locust
        .command(file, &stack.locust_env())
        .args(["--web-host", &web.host, "--web-port", &web.port.to_string()])
        .spawn()
        .map_err(|e| LabError::LocustFailed(format!("could not start: {e}")))?;
    // Wait for the web UI to listen, unless Locust gives up first.
    let ui_host = if web.host == "0.0.0.0" || web.host == "*" {
        "127.0.0.1"
    } else {
        web.host.as_str()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| LabError::LocustFailed(e.to_string()))?
        {
            return Err(LabError::LocustFailed(format!(
                "exited before its web UI started ({status})"
            )));
        }
        if TcpStream::connect((ui_host, web.port)).is_ok() {
            break;
        }
        if Instant::now() > deadline || stop.is_cancelled() {
            let _ = locust::terminate(&mut child).await;
            return Err(if stop.is_cancelled() {
                LabError::Interrupted(String::new())
            } else {
                LabError::LocustFailed("did not open its web UI within 60 s".into())
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let shown = if web.host == "127.0.0.1" || web.host == "0.0.0.0" {
        "localhost"
    } else {
        web.host.as_str()
    };
    eprintln!(
        "\nLocust web UI: http://{shown}:{}  (start swarming there; Ctrl-C stops everything)\n",
        web.port
    );
    match locust::wait_or_stop(&mut child, stop).await {
        Ok(None) => {
            eprintln!("stopped Locust and the servers");
            Ok(())
        }
        Ok(Some(status)) if status.success() => Ok(()),
        Ok(Some(status)) => Err(LabError::LocustFailed(format!("exited with {status}"))),
        Err(e) => Err(LabError::LocustFailed(e.to_string())),
    }
}

/// The headless sweep: one Locust run per user count, then the report.
pub async fn run_sweep(
    options: &LabOptions,
    sweep: &SweepOptions,
    stop: CancellationToken,
) -> Result<Summary, LabError> {
    let locust = Locust::find(options.locust.clone()).await?;
    let (model, sha) = model(options.model.as_deref())?;
    let out = &sweep.out;
    let report_error = |source| LabError::Report {
        dir: out.display().to_string(),
        source,
    };
    if std::fs::read_dir(out).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(LabError::Start(format!(
            "report folder {} already has files; choose another --out (nothing was overwritten)",
            out.display()
        )));
    }
    eprintln!("model sha256 {sha}; {}", locust.version);
    let stack = start_servers(model, options.base_port).await?;
    let mut summary = Summary {
        tool: format!("wine-lab {}", env!("CARGO_PKG_VERSION")),
        started: jiff::Timestamp::now()
            .round(jiff::Unit::Second)
            .unwrap_or_else(|_| jiff::Timestamp::now())
            .to_string(),
        machine: Machine::current(),
        model_sha256: sha,
        locust_version: locust.version.clone(),
        users: sweep.users.clone(),
        duration_s: sweep.duration.as_secs(),
        complete: false,
        steps: Vec::new(),
    };
    // The report folder is made once the servers run, so a failed start
    // leaves no folder behind to block the next attempt.
    let prepared = std::fs::create_dir_all(out)
        .map_err(report_error)
        .and_then(|()| locustfile(options.locustfile.as_deref(), out));
    let result = match &prepared {
        Ok(file) => sweep_steps(&locust, file, &stack, sweep, &mut summary, &stop).await,
        Err(_) => Ok(()),
    };
    let stopped = stack.stop().await;
    prepared?;
    summary.complete = result.is_ok();
    let written = report::write(out, &summary).map_err(report_error);
    let index = out.join(report::INDEX_HTML);
    match result {
        Ok(()) => {
            written?;
            stopped.map_err(|e| LabError::Start(format!("a server failed: {e}")))?;
            eprintln!("report: {}", index.display());
            Ok(summary)
        }
        Err(error) => {
            // The sweep's own error decides the exit code; a report that
            // could not be written is said too.
            if let Err(report) = written {
                eprintln!("wine-lab: {report}");
            }
            Err(match error {
                LabError::Interrupted(_) => LabError::Interrupted(format!(
                    ": kept the {} finished step(s) in {}",
                    summary.steps.len(),
                    index.display()
                )),
                error => error,
            })
        }
    }
}

async fn sweep_steps(
    locust: &Locust,
    file: &Path,
    stack: &LocalStack,
    sweep: &SweepOptions,
    summary: &mut Summary,
    stop: &CancellationToken,
) -> Result<(), LabError> {
    let out = &sweep.out;
    let report_error = |source| LabError::Report {
        dir: out.display().to_string(),
        source,
    };
    let started = Instant::now();
    let total = sweep.users.len();
    for (index, &users) in sweep.users.iter().enumerate() {
        let spawn_rate = sweep.spawn_rate.unwrap_or(f64::from(users));
        let seconds = sweep.duration.as_secs();
        let dir_name = format!("users-{users:04}");
        let dir = out.join(&dir_name);
        std::fs::create_dir_all(&dir).map_err(report_error)?;
        let log_path = dir.join("locust.log");
        let log = File::create(&log_path).map_err(report_error)?;
        let log_err = log.try_clone().map_err(report_error)?;
        let mut command = locust.command(file, &stack.locust_env());
        command
            .arg("--headless")
            .args(["--users", &users.to_string()])
            .args(["--spawn-rate", &spawn_rate.to_string()])
            .args(["--run-time", &format!("{seconds}s")])
            .arg("--csv")
            .arg(dir.join("locust"))
            .arg("--html")
            .arg(dir.join("locust.html"))
            .args(["--only-summary", "--exit-code-on-error", "0"])
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));

        let (locust_cpu, servers_cpu) = (locust::cpu_time(true), locust::cpu_time(false));
        let step_start = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| LabError::LocustFailed(format!("could not start: {e}")))?;
        let progress = tokio::spawn(show_progress(index, total, users, sweep.duration, started));
        let outcome = locust::wait_or_stop(&mut child, stop).await;
        progress.abort();
        clear_progress_line();
        let elapsed = step_start.elapsed().as_secs_f64().max(0.001);
        let log_text = std::fs::read_to_string(&log_path).unwrap_or_default();
        match outcome {
            Ok(None) => return Err(LabError::Interrupted(String::new())),
            Ok(Some(status)) if !status.success() => {
                return Err(LabError::LocustFailed(format!(
                    "exited with {status} at {users} users; the end of {}:\n{}",
                    log_path.display(),
                    locust::tail(&log_text, 5)
                )));
            }
            Ok(Some(_)) => {}
            Err(error) => return Err(LabError::LocustFailed(error.to_string())),
        }
        let locust_cpu_percent =
            100.0 * (locust::cpu_time(true) - locust_cpu).as_secs_f64() / elapsed;
        let servers_cpu_percent =
            100.0 * (locust::cpu_time(false) - servers_cpu).as_secs_f64() / elapsed;
        let locust_cpu_warning = log_text.contains(locust::CPU_WARNING);
        let targets = stats::read_stats(&dir.join("locust_stats.csv"), &TARGETS).map_err(|e| {
            LabError::LocustFailed(format!(
                "ran but {e}; the end of {}:\n{}",
                log_path.display(),
                locust::tail(&log_text, 5)
            ))
        })?;
        let step = Step {
            users,
            spawn_rate,
            duration_s: seconds,
            locust_cpu_percent,
            locust_cpu_warning,
            load_generator_limited: report::load_generator_limited(
                locust_cpu_percent,
                locust_cpu_warning,
            ),
            servers_cpu_percent,
            locust_output: dir_name,
            targets,
        };
        println!("{}", step.table());
        let failures = step.failures();
        summary.steps.push(step);
        report::write(out, summary).map_err(report_error)?;
        if failures > 0 {
            let detail = std::fs::read_to_string(dir.join("locust_failures.csv"))
                .ok()
                .and_then(|csv| csv.lines().nth(1).map(str::to_owned))
                .unwrap_or_else(|| "see locust_failures.csv".into());
            return Err(LabError::RequestsFailed {
                users,
                count: failures,
                detail,
                report: out.join(report::INDEX_HTML).display().to_string(),
            });
        }
    }
    Ok(())
}

/// Prints which step runs and how long is left, once a second on a terminal
/// (rewriting one line), every 10 s otherwise.
async fn show_progress(
    index: usize,
    total: usize,
    users: u32,
    step: Duration,
    sweep_started: Instant,
) {
    let terminal = std::io::stderr().is_terminal();
    let step_started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(if terminal { 1 } else { 10 }));
    loop {
        tick.tick().await;
        let step_left = step.saturating_sub(step_started.elapsed());
        let remaining_steps = (total - index - 1) as u32;
        let sweep_left = step_left + step * remaining_steps;
        let line = format!(
            "step {}/{total}: {users} users, {} s left in this step, about {} s left in the sweep (elapsed {} s)",
            index + 1,
            step_left.as_secs(),
            sweep_left.as_secs(),
            sweep_started.elapsed().as_secs()
        );
        let mut stderr = std::io::stderr();
        if terminal {
            let _ = write!(stderr, "\r\x1b[K{line}");
        } else {
            let _ = writeln!(stderr, "{line}");
        }
        let _ = stderr.flush();
    }
}

fn clear_progress_line() {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
}
