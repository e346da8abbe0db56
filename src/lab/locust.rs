//! Locust as a child process: finding it, starting it pointed at the local
//! servers, and stopping it without leaving it behind.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use super::LabError;

/// What Locust logs when its own CPU use limits the load it can generate.
pub const CPU_WARNING: &str = "CPU usage above";

/// The `locust` program and its version.
#[derive(Debug, Clone)]
pub struct Locust {
    /// The program as given (`locust`, or a path).
    pub program: OsString,
    /// `locust --version`'s first line, e.g. `locust 2.47.0 from … (Python 3.11.7)`.
    pub version: String,
}

impl Locust {
    /// Finds Locust by running `<program> --version`; explains how to get it when absent.
    pub async fn find(program: OsString) -> Result<Self, LabError> {
        let output = Command::new(&program)
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
                Ok(Locust { program, version })
            }
            Ok(output) => Err(LabError::LocustVersionFailed {
                program: PathBuf::from(&program),
                status: output.status,
                said: last_line(&String::from_utf8_lossy(&output.stderr)),
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Err(LabError::LocustMissing {
                    program: PathBuf::from(program),
                })
            }
            Err(source) => Err(LabError::LocustUnrunnable {
                program: PathBuf::from(&program),
                source,
            }),
        }
    }

    /// A `locust -f <locustfile>[,<more>…]` command with the servers' URLs in
    /// its environment. The child is killed if this process dies or drops it.
    pub fn command(&self, locustfiles: &[&Path], env: &[(String, String)]) -> Command {
        let mut files = OsString::new();
        for (index, file) in locustfiles.iter().enumerate() {
            if index > 0 {
                files.push(",");
            }
            files.push(file);
        }
        let mut command = Command::new(&self.program);
        command
            .arg("-f")
            .arg(files)
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
        command
    }
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

/// SIGTERM, a grace period, then SIGKILL.
pub async fn terminate(child: &mut Child) -> std::io::Result<()> {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on our own child's pid; it has not been reaped (id() is Some).
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
    }
    match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
        Ok(status) => status.map(|_| ()),
        Err(_) => {
            child.kill().await?;
            Ok(())
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
