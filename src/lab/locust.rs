//! Locust as a child process: finding it, starting it pointed at the local
//! servers, measuring its CPU use, and stopping it without leaving it behind.

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
            Ok(output) => Err(LabError::LocustBroken {
                program: PathBuf::from(&program),
                detail: tail(&String::from_utf8_lossy(&output.stderr), 3),
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Err(LabError::LocustMissing(PathBuf::from(program)))
            }
            Err(error) => Err(LabError::LocustBroken {
                program: PathBuf::from(&program),
                detail: error.to_string(),
            }),
        }
    }

    /// A `locust -f <locustfile>` command with the servers' URLs in its
    /// environment. The child is killed if this process dies or drops it.
    pub fn command(&self, locustfile: &Path, env: &[(String, String)]) -> Command {
        let mut command = Command::new(&self.program);
        command
            .arg("-f")
            .arg(locustfile)
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

/// CPU time (user + system) used so far by this process, or by its waited-for children.
pub fn cpu_time(children: bool) -> Duration {
    let who = if children {
        libc::RUSAGE_CHILDREN
    } else {
        libc::RUSAGE_SELF
    };
    // SAFETY: getrusage writes one rusage struct, which we own and have zeroed.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(who, &mut usage) != 0 {
            return Duration::ZERO;
        }
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// The last `lines` lines of some output, for error messages.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_missing_program_is_explained() {
        let error = Locust::find("/nonexistent/locust".into())
            .await
            .unwrap_err();
        assert!(matches!(error, LabError::LocustMissing(_)));
        let message = error.to_string();
        assert!(
            message.contains("nix develop") && message.contains("pip install locust"),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_failing_program_is_reported() {
        let error = Locust::find("false".into()).await.unwrap_err();
        assert!(matches!(error, LabError::LocustBroken { .. }), "{error}");
    }

    #[test]
    fn cpu_time_grows() {
        let before = cpu_time(false);
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
        assert!(cpu_time(false) > before);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\n\nc\n", 2), "b\nc");
        assert_eq!(tail("", 2), "");
    }
}
