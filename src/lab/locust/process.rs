//! Locust as a child process: finding it, starting it pointed at the local
//! servers, and stopping it without leaving it behind.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::lab::error::LabError;

/// What Locust logs when its own CPU use limits the load it can generate.
pub const CPU_WARNING: &str = "CPU usage above";

/// How long Locust's master waits for its workers to connect before it gives
/// up (`--expect-workers-max-wait`): without it, a worker that died on start
/// would leave a headless step waiting for ever.
const WORKERS_CONNECT_TIMEOUT_S: u32 = 30;

/// The `locust` program and its version.
#[derive(Debug, Clone)]
pub struct Locust {
    /// The program as given (`locust`, or a path; a venv's `python`).
    pub program: OsString,
    /// Arguments before Locust's own: `-m locust` for a venv's `python`.
    pub leading_args: Vec<OsString>,
    /// `locust --version`'s first line, e.g. `locust 2.47.0 from … (Python 3.11.7)`.
    pub version: String,
}

impl Locust {
    /// Finds Locust by running `<program> --version`; explains how to get it when absent.
    pub async fn find(program: OsString) -> Result<Self, LabError> {
        Self::find_with(program, Vec::new()).await
    }

    /// Finds Locust run as `<program> <leading_args…> --version`.
    pub async fn find_with(
        program: OsString,
        leading_args: Vec<OsString>,
    ) -> Result<Self, LabError> {
        let output = Command::new(&program)
            .args(&leading_args)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .await;
        match output {
            Ok(output) if output.status.success() => {
                let text = String::from_utf8_lossy(&output.stdout).into_owned()
                    + &String::from_utf8_lossy(&output.stderr);
                let version = text
                    .lines()
                    .next()
                    .unwrap_or("locust (unknown version)")
                    .trim()
                    .to_owned();
                Ok(Locust {
                    program,
                    leading_args,
                    version,
                })
            }
            Ok(output) => Err(LabError::LocustVersionFailed {
                program: named(&program, &leading_args),
                status: output.status,
                said: last_line(&String::from_utf8_lossy(&output.stderr)),
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Err(LabError::LocustMissing {
                    program: PathBuf::from(program),
                })
            }
            Err(source) => Err(LabError::LocustUnrunnable {
                program: named(&program, &leading_args),
                source,
            }),
        }
    }

    /// A `locust -f <locustfile>[,<more>…]` command loading `files` (see
    /// [`super::files::LocustFiles::paths`]), with the servers' URLs in its environment. The child is killed if this process dies or drops it.
    ///
    /// With `workers` above 0, Locust runs as a master that forks that many
    /// worker processes (Locust's `--processes`), talking over a free
    /// loopback port. The workers share the master's process group, which
    /// [`terminate`] signals as a whole; they are Locust's children, and it
    /// waits for them before exiting, so their CPU time reaches wine-lab's
    /// [`crate::lab::measure::CpuReading`] reading with the master's.
    pub fn command(
        &self,
        files: &[PathBuf],
        env: &[(String, String)],
        workers: u32,
    ) -> Result<Command, LabError> {
        let mut loaded = OsString::new();
        for (index, file) in files.iter().enumerate() {
            if index > 0 {
                loaded.push(",");
            }
            loaded.push(file);
        }
        let mut command = Command::new(&self.program);
        command.args(&self.leading_args).arg("-f").arg(loaded);
        if workers > 0 {
            let port = free_loopback_port().map_err(|source| LabError::LocustSpawn { source })?;
            let port = port.to_string();
            // The master listens on loopback only (Locust's default is every
            // address); the forked workers connect with --master-port.
            command
                .args(["--processes", &workers.to_string()])
                .args(["--master-bind-host", "127.0.0.1"])
                .args(["--master-bind-port", &port, "--master-port", &port])
                .args([
                    "--expect-workers-max-wait",
                    &WORKERS_CONNECT_TIMEOUT_S.to_string(),
                ]);
        }
        command
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            // Its own process group: a Ctrl-C in the terminal reaches wine-lab
            // only, which then stops Locust once, in order.
            .process_group(0)
            .kill_on_drop(true);
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                // Locust gets SIGTERM if wine-lab dies, even by SIGKILL: no orphans.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        Ok(command)
    }
}

/// The program and its leading arguments, as messages name them
/// (`…/bin/python -m locust`).
fn named(program: &OsString, leading_args: &[OsString]) -> PathBuf {
    let mut text = program.clone();
    for arg in leading_args {
        text.push(" ");
        text.push(arg);
    }
    PathBuf::from(text)
}

/// A loopback port free now, for Locust's master. Another program could take
/// it before Locust binds it; Locust then fails to start and says so.
fn free_loopback_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// Waits for Locust to exit on its own, or stops it (SIGTERM, then SIGKILL
/// after 10 s) once `stop` is cancelled. Returns `None` if it was stopped.
pub async fn wait_or_stop(
    child: &mut Child,
    stop: &CancellationToken,
) -> std::io::Result<Option<ExitStatus>> {
    tokio::select! {
        status = child.wait() => status.map(Some),
        () = stop.cancelled() => {
            terminate(child).await?;
            Ok(None)
        }
    }
}

/// SIGTERM, a grace period, then SIGKILL, to Locust's whole process group:
/// the master and the workers it forked (they have no parent-death signal of
/// their own: Linux clears it on fork).
pub async fn terminate(child: &mut Child) -> std::io::Result<()> {
    signal_group(child, libc::SIGTERM);
    match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
        Ok(status) => status.map(|_| ()),
        Err(_) => {
            signal_group(child, libc::SIGKILL);
            child.kill().await?;
            Ok(())
        }
    }
}

/// Sends `signal` to the process group Locust leads ([`Locust::command`]
/// makes it a group leader).
fn signal_group(child: &Child, signal: libc::c_int) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on the group of our own child, which has not been
        // reaped (id() is Some), so its pid, the group's id, is not reused.
        unsafe {
            libc::kill(-(pid as libc::pid_t), signal);
        }
    }
}

/// The last non-empty line of some output: for a Python crash, the
/// exception. Error messages quote it and name the file with the rest.
pub fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("(nothing)")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_program_is_explained() {
        let error = Locust::find("/nonexistent/locust".into())
            .await
            .unwrap_err();
        assert!(matches!(error, LabError::LocustMissing { .. }));
        let message = error.to_string();
        assert!(
            message.contains("nix develop") && message.contains("pip install locust"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_failing_program_is_reported() {
        let error = Locust::find("false".into()).await.unwrap_err();
        assert!(
            matches!(error, LabError::LocustVersionFailed { .. }),
            "{error}"
        );
        assert_eq!(error.exit_code(), 3);
    }

    #[test]
    fn the_last_line_is_the_last_with_text() {
        assert_eq!(last_line("a\nb\n  c  \n\n"), "c");
        assert_eq!(last_line(""), "(nothing)");
    }
}
