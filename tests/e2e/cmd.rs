//! Outside programs (docker, docker-compose, cargo, a script) run to completion
//! within a time limit, with errors that name the command and show its output.
//!
//! Why not `common::output_with_timeout`: a Docker step that hangs must be killed
//! with everything it started (docker-compose forks, the Locust rootfs script runs
//! debootstrap), and the failure must say which command hung; the cleanup path
//! (`Project`'s `Drop`) also needs a variant that reports instead of panicking.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use std::os::unix::process::CommandExt;

/// The command line as one would type it, for messages.
pub fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `command` (stdin closed, output captured) in a process group of its own;
/// after `limit` the whole group is killed and the result is an error that names the
/// command and shows what it printed so far.
pub fn output(command: &mut Command, limit: Duration) -> Result<Output, String> {
    let what = describe(command);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run `{what}`: {e}"))?;
    let readers = [
        child
            .stdout
            .take()
            .map(Box::new)
            .map(|s| s as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(Box::new)
            .map(|s| s as Box<dyn Read + Send>),
    ]
    .map(|pipe| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => break None,
        }
    };
    if status.is_none() {
        // SAFETY: kill(2) on the process group this function created for the child.
        unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
        let _ = child.wait();
    }
    let [stdout, stderr] = readers.map(|reader| reader.join().unwrap_or_default());
    match status {
        Some(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
        None => Err(format!(
            "`{what}` did not finish within {} s and was killed; its output:\n{}{}",
            limit.as_secs(),
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        )),
    }
}

/// Like [`output`], but a failure to finish in time or a non-zero exit fails the
/// test with the command's output; returns its stdout.
pub fn run(command: &mut Command, limit: Duration) -> String {
    let what = describe(command);
    let output = output(command, limit).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        output.status.success(),
        "`{what}` failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The last `lines` lines of a text, for failure messages about long logs.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
