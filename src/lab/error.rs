//! Why a lab run stopped: one variant per thing that can fail, each carrying
//! its cause, so the binary can print one line a user can act on and pick the
//! exit code from the variant rather than from a message.
//!
//! Every message is a single line (the binary prints `wine-lab: {error}`),
//! and, like the crate's other errors, says its cause itself.
//!
//! Every error of the lab is here, [`LabError`] and the three causes with
//! details of their own ([`InstallError`]: wine-lab's own Locust;
//! [`StatsError`]: Locust's statistics; [`ServerSideError`]: the servers'
//! own figures), so this file imports no other part of the lab and each part
//! can return them.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use thiserror::Error;

use crate::dataset::DataError;
use crate::model_file::LoadError;
use crate::train::TrainError;

/// Why the lab stopped; [`LabError::exit_code`] maps each cause to the exit
/// code README.md documents.
#[derive(Debug, Error)]
pub enum LabError {
    // Locust is not usable (exit code 3).
    /// No Locust program at all.
    #[error(
        "Locust is not installed (no `{}` program found, as --locust or WINE_LAB_LOCUST asked). Leave both out to let wine-lab install the pinned Locust in a venv of its own, or get it with `nix develop` or `pip install locust`.",
        program.display()
    )]
    LocustMissing {
        /// The program looked for.
        program: PathBuf,
    },
    /// No Locust anywhere, and wine-lab could not install its own.
    #[error(
        "no Locust on PATH, and wine-lab could not install the pinned one: {0}. Or point --locust at a Locust, or use `nix run`."
    )]
    LocustInstall(#[source] InstallError),
    /// The program exists but could not be run (not executable, say).
    #[error("cannot run `{} --version`, so Locust cannot run here: {source}", program.display())]
    LocustUnrunnable {
        /// The program tried.
        program: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// `locust --version` ran and failed (a broken installation).
    #[error(
        "`{} --version` failed ({status}), so Locust cannot run here; it said: {said}",
        program.display()
    )]
    LocustVersionFailed {
        /// The program tried.
        program: PathBuf,
        /// How it exited.
        status: ExitStatus,
        /// The last line it wrote to stderr.
        said: String,
    },

    // The model (exit code 1).
    /// The `--model` file could not be loaded (its error names the file).
    #[error(transparent)]
    ModelFile(#[from] LoadError),
    /// The compiled-in training data is unusable (a broken build).
    #[error("cannot read the built-in training data: {0}")]
    TrainingData(#[source] DataError),
    /// Training the images' model failed.
    #[error("cannot train the images' model: {0}")]
    Training(#[source] TrainError),

    // Preparing the run (exit code 1).
    /// `--locustfile` names no file.
    #[error("locustfile {} does not exist", path.display())]
    LocustfileMissing {
        /// The path given.
        path: PathBuf,
    },
    /// No temporary folder for the files Locust loads (wine-lab's hook, and
    /// the built-in locustfile in the web mode).
    #[error(
        "cannot create a temporary folder for the files Locust loads (is TMPDIR writable?): {source}"
    )]
    LocustFilesFolder {
        /// The file system's error.
        source: std::io::Error,
    },
    /// A compiled-in Python file (the built-in locustfile, wine-lab's hook)
    /// could not be written out for Locust.
    #[error("cannot write {} for Locust to load: {source}", path.display())]
    LocustFileWrite {
        /// Where it was to be written.
        path: PathBuf,
        /// The file system's error.
        source: std::io::Error,
    },
    /// The report folder already holds files; nothing is overwritten.
    #[error(
        "report folder {} already has files; choose another --out (nothing was overwritten)",
        dir.display()
    )]
    ReportFolderNotEmpty {
        /// The folder given with --out.
        dir: PathBuf,
    },
    /// Something already listens on Locust's web UI port.
    #[error(
        "port {port} on {host} (Locust's web UI) is in use: stop what uses it (a previous `docker-compose up`?) or pass --web-port"
    )]
    WebPortInUse {
        /// The --web-host.
        host: String,
        /// The --web-port.
        port: u16,
        /// The operating system's error (address in use).
        source: std::io::Error,
    },
    /// Locust's web UI address cannot be listened on for another reason.
    #[error(
        "cannot listen on {host}:{port} for Locust's web UI: {source}; pass another --web-host or --web-port"
    )]
    WebAddressUnusable {
        /// The --web-host.
        host: String,
        /// The --web-port.
        port: u16,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The four servers could not start (a port taken by something else).
    #[error("cannot start the four servers: {source}{hint}", hint = base_port_hint(*.base_port))]
    ServersStart {
        /// The --base-port, if one was given.
        base_port: Option<u16>,
        /// The operating system's error, naming the address.
        source: std::io::Error,
    },

    // Running Locust (exit code 1).
    /// Locust's process could not be started.
    #[error("cannot start Locust: {source}")]
    LocustSpawn {
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Waiting for Locust's process failed.
    #[error("cannot wait for Locust to exit: {source}")]
    LocustWait {
        /// The operating system's error.
        source: std::io::Error,
    },
    /// Web mode: Locust exited before its web UI listened (its own output,
    /// on the terminal, says why).
    #[error("Locust exited before its web UI started ({status}); its output above says why")]
    WebUiNeverStarted {
        /// How Locust exited.
        status: ExitStatus,
    },
    /// Web mode: Locust's web UI did not open in time.
    #[error("Locust did not open its web UI on {host}:{port} within {} s", waited.as_secs())]
    WebUiTimeout {
        /// Where it was expected.
        host: String,
        /// Its port.
        port: u16,
        /// How long wine-lab waited.
        waited: Duration,
    },
    /// Web mode: Locust exited with an error after its web UI started.
    #[error("Locust exited with {status}; its output above says why")]
    LocustExited {
        /// How Locust exited.
        status: ExitStatus,
    },
    /// Sweep: Locust failed during a step (a crashing locustfile, say).
    #[error("Locust exited with {status} at {users} users; {} ends: {log_end}", log.display())]
    StepFailed {
        /// Users of the step.
        users: u32,
        /// How Locust exited.
        status: ExitStatus,
        /// Locust's log of the step.
        log: PathBuf,
        /// The log's last line (for a crash, the Python exception).
        log_end: String,
    },
    /// Sweep: Locust ran a step but its statistics are missing or unusable.
    #[error("Locust ran {users} users but {source}; {} ends: {log_end}", log.display())]
    StepStatistics {
        /// Users of the step.
        users: u32,
        /// What is wrong with the statistics.
        source: StatsError,
        /// Locust's log of the step.
        log: PathBuf,
        /// The log's last line.
        log_end: String,
    },

    // The servers answered errors (exit code 4).
    /// Requests failed: the servers answered errors or not at all.
    #[error("{count} request(s) failed at {users} users ({first_failure}); see {}", report.display())]
    RequestsFailed {
        /// Users in the failing step.
        users: u32,
        /// Failed requests.
        count: u64,
        /// Locust's first failure line.
        first_failure: String,
        /// The report's index.html.
        report: PathBuf,
    },

    // Writing the report, stopping (exit code 1).
    /// The report could not be written.
    #[error("cannot write the report in {}: {source}", dir.display())]
    ReportWrite {
        /// The report folder.
        dir: PathBuf,
        /// The file system's error.
        source: std::io::Error,
    },
    /// A server stopped with an error (found when the servers are stopped).
    #[error("a server failed: {source}")]
    ServerFailed {
        /// The server's error.
        source: std::io::Error,
    },
    /// A step has no figures of a server's own: Locust's Servers tab could
    /// not read its `/metrics`, or wrote no table.
    #[error("step with {users} users: {source}")]
    ServersUnread {
        /// The step's user count.
        users: u32,
        /// Which server and why, or which file is missing.
        source: ServerSideError,
    },

    // Ctrl-C or SIGTERM (exit code 130).
    /// Interrupted before anything worth keeping was made.
    #[error("interrupted")]
    Interrupted,
    /// The sweep was interrupted; the finished steps are in the report.
    #[error("interrupted: kept the {finished_steps} finished step(s) in {}", report.display())]
    SweepInterrupted {
        /// Steps in the report.
        finished_steps: usize,
        /// The report's index.html.
        report: PathBuf,
    },
}

/// Why wine-lab could not install its own Locust (exit code 3).
#[derive(Debug, Error)]
pub enum InstallError {
    /// Neither XDG_CACHE_HOME nor HOME says where the user's cache is.
    #[error("no cache folder (set XDG_CACHE_HOME or HOME)")]
    NoCacheFolder,
    /// The cache folder cannot be written.
    #[error("cannot write in {}: {source}", path.display())]
    CacheFolder {
        /// The folder.
        path: PathBuf,
        /// The file system's error.
        source: std::io::Error,
    },
    /// No `python3` program.
    #[error(
        "no `python3` to make a venv with (install Python 3; Debian: apt-get install python3-venv)"
    )]
    NoPython,
    /// `python3 -m venv` failed: on Debian, python3-venv is missing.
    #[error(
        "`python3 -m venv` failed ({status}): {said} (on Debian or Ubuntu: apt-get install python3-venv)"
    )]
    Venv {
        /// How it exited.
        status: ExitStatus,
        /// Its last line.
        said: String,
    },
    /// A program could not be started.
    #[error("cannot run {program}: {source}")]
    Run {
        /// The program.
        program: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// `pip install` failed, most often without PyPI.
    #[error("`pip install {pin}` failed ({status}): {said} (it downloads from PyPI)")]
    Pip {
        /// The requirement.
        pin: String,
        /// How it exited.
        status: ExitStatus,
        /// Its last error line.
        said: String,
    },
    /// Locust was installed but does not run.
    #[error("the installed Locust does not run: {0}")]
    Broken(String),
}

/// Why a stats file could not be used.
#[derive(Debug, Error)]
pub enum StatsError {
    /// The file is missing or not Locust's CSV.
    #[error("cannot read Locust's statistics {path}: {source}")]
    Csv {
        /// The file.
        path: String,
        /// The CSV error.
        source: csv::Error,
    },
    /// A target sent no request at all.
    #[error("Locust's statistics have no requests for {0}")]
    Missing(String),
}

/// Why a step has no server-side figures.
#[derive(Debug, Error)]
pub enum ServerSideError {
    /// The extension wrote no file (Locust did not load it, or stopped first).
    #[error("Locust's extension wrote no {path} ({source})")]
    Missing {
        /// The file.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// A line of the file is not what the extension writes.
    #[error("{path} is not the extension's table: {source}")]
    Malformed {
        /// The file.
        path: String,
        /// What did not parse.
        source: csv::Error,
    },
    /// A server could not be read (its row's status says why), or has no row.
    #[error("the servers' own figures of {server}: {status}")]
    Server {
        /// The server.
        server: String,
        /// Its row's status.
        status: String,
    },
}

/// What to do when servers cannot start on ports the user chose.
fn base_port_hint(base_port: Option<u16>) -> &'static str {
    match base_port {
        Some(_) => " (pass another --base-port, or none to use free ports)",
        None => "",
    }
}

impl LabError {
    /// The process exit code for this error (documented in README.md).
    pub fn exit_code(&self) -> i32 {
        match self {
            LabError::LocustMissing { .. }
            | LabError::LocustUnrunnable { .. }
            | LabError::LocustVersionFailed { .. }
            | LabError::LocustInstall(_) => 3,
            LabError::RequestsFailed { .. } => 4,
            LabError::Interrupted | LabError::SweepInterrupted { .. } => 130,
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taken() -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            "cannot listen on 127.0.0.1:8000: address in use",
        )
    }

    #[test]
    fn the_port_hint_follows_who_chose_the_ports() {
        let chosen = LabError::ServersStart {
            base_port: Some(8000),
            source: taken(),
        };
        assert!(
            chosen.to_string().contains("pass another --base-port"),
            "{chosen}"
        );
        let free = LabError::ServersStart {
            base_port: None,
            source: taken(),
        };
        assert!(!free.to_string().contains("--base-port"), "{free}");
        assert!(free.to_string().ends_with("address in use"), "{free}");
    }

    #[test]
    fn each_kind_has_its_documented_exit_code() {
        let missing = LabError::LocustMissing {
            program: "locust".into(),
        };
        let failed = LabError::RequestsFailed {
            users: 10,
            count: 3,
            first_failure: "POST,0:batch,422".into(),
            report: "out/index.html".into(),
        };
        let interrupted = LabError::SweepInterrupted {
            finished_steps: 1,
            report: "out/index.html".into(),
        };
        let server = LabError::ServerFailed { source: taken() };
        let codes = [missing, failed, interrupted, LabError::Interrupted, server]
            .map(|error| error.exit_code());
        assert_eq!(codes, [3, 4, 130, 130, 1]);
    }
}
