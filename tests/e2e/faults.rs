//! What the fault-injection tests (tests/compose.rs) need besides the stack:
//! a container's state as Docker reports it and a wait until it serves, a lone server
//! container started with extra `docker run` options and removed afterwards,
//! and a poller that says when a name on the stack's network serves again.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use super::{cmd, docker, images, log};

/// How long a single docker command may take.
const STEP_LIMIT: Duration = Duration::from_secs(60);

/// `.State` of `docker inspect`, the parts the tests read.
#[derive(Debug, Deserialize)]
pub struct State {
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "StartedAt")]
    pub started_at: String,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
}

/// A Docker timestamp (RFC 3339 with nanoseconds) as seconds since the epoch.
pub fn seconds(timestamp: &str) -> f64 {
    let parsed: jiff::Timestamp = timestamp
        .parse()
        .unwrap_or_else(|e| panic!("a Docker timestamp {timestamp:?}: {e}"));
    parsed.as_nanosecond() as f64 / 1e9
}

/// Now, as seconds since the epoch (the clock Docker and the containers use).
pub fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// `docker inspect --format <format> <container>`, trimmed.
pub fn inspect(container: &str, format: &str) -> String {
    cmd::run(
        docker().args(["inspect", "--format", format, container]),
        STEP_LIMIT,
    )
    .trim()
    .to_owned()
}

/// The container's state now.
pub fn state(container: &str) -> State {
    let json = inspect(container, "{{json .State}}");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

/// A container that serves: its state when its health check first passed,
/// and how long after its start that was.
#[derive(Debug)]
pub struct Serving {
    pub state: State,
    pub seconds_after_start: f64,
}

/// Waits until the container serves, or fails the test after `limit` with its
/// state: its image's own health check (`docker exec <container> <test>`)
/// passes, run here every 100 ms. Docker's own probe is no use for waiting:
/// Docker 20.10 runs the first one a whole interval after the start, and the
/// images' interval is long so that an idle stack costs nothing
/// (deploy/images.json).
pub fn wait_healthy(container: &str, limit: Duration) -> Serving {
    let test = &images::ready().spec.healthcheck_test()[1..];
    let deadline = Instant::now() + limit;
    loop {
        let checked = cmd::output(docker().args(["exec", container]).args(test), STEP_LIMIT);
        let passed_at = now_seconds();
        let state = state(container);
        if checked.is_ok_and(|output| output.status.success()) {
            let seconds_after_start = passed_at - seconds(&state.started_at);
            return Serving {
                state,
                seconds_after_start,
            };
        }
        assert!(
            Instant::now() < deadline && state.status == "running",
            "{container} does not pass its health check after {} s: {state:#?}",
            limit.as_secs_f64()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The most memory the container's cgroup has held, if this machine shows it
/// (cgroup v1 with the cgroupfs driver, or v2 with systemd's).
pub fn peak_memory_bytes(container_id: &str) -> Option<u64> {
    [
        format!("/sys/fs/cgroup/memory/docker/{container_id}/memory.max_usage_in_bytes"),
        format!("/sys/fs/cgroup/system.slice/docker-{container_id}.scope/memory.peak"),
    ]
    .iter()
    .find_map(|path| std::fs::read_to_string(path).ok()?.trim().parse().ok())
}

/// A container started with `docker run --detach` and removed (with its
/// anonymous volumes) when dropped.
pub struct Lone {
    pub id: String,
}

impl Lone {
    /// `docker run --detach <options> <image>`, named after the test process.
    pub fn run(purpose: &str, options: &[&str], image: &str) -> Lone {
        let name = format!(
            "wine-e2e-{purpose}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
        );
        let id = cmd::run(
            docker()
                .args(["run", "--detach", "--name", &name])
                .args(options)
                .arg(image),
            STEP_LIMIT,
        )
        .trim()
        .to_owned();
        log(&format!("started {name} ({image}, {})", options.join(" ")));
        Lone { id }
    }

    /// The container's log (stdout and stderr).
    pub fn logs(&self) -> String {
        let output = cmd::output(docker().args(["logs", &self.id]), STEP_LIMIT)
            .unwrap_or_else(|e| panic!("{e}"));
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }
}

impl Drop for Lone {
    fn drop(&mut self) {
        if let Err(e) = cmd::output(
            docker().args(["rm", "--force", "--volumes", &self.id]),
            STEP_LIMIT,
        ) {
            eprintln!("[e2e] cleanup FAILED: {e}");
        }
    }
}

/// `docker top`'s `uid:gid` of every process in the container (Docker needs the
/// pid column to pick the container's processes; it is dropped here).
pub fn process_users(container: &str) -> Vec<String> {
    cmd::run(
        docker().args(["top", container, "-o", "pid,uid,gid"]),
        STEP_LIMIT,
    )
    .lines()
    .skip(1)
    .map(|line| {
        line.split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(":")
    })
    .collect()
}

/// How long `service` took from the stop signal `signal` (a number, as Docker's
/// events give it) to its exit, and its exit code; an error if either is missing
/// or it also needed a SIGKILL.
pub fn stop_to_exit(
    events: &[super::project::Event],
    service: &str,
    signal: &str,
) -> Result<(Duration, String), String> {
    let mine: Vec<_> = events
        .iter()
        .filter(|e| e.service() == Some(service))
        .collect();
    let stopped = mine
        .iter()
        .find(|e| e.action == "kill" && e.attribute("signal") == Some(signal));
    let died = mine.iter().find(|e| e.action == "die");
    let (Some(stopped), Some(died)) = (stopped, died) else {
        let seen: Vec<&str> = mine.iter().map(|e| e.action.as_str()).collect();
        return Err(format!(
            "{service}: no signal {signal} and exit seen (events: {seen:?})"
        ));
    };
    if mine
        .iter()
        .any(|e| e.action == "kill" && e.attribute("signal") == Some("9"))
    {
        return Err(format!("{service}: needed SIGKILL"));
    }
    let nanos = u64::try_from(died.time_nano - stopped.time_nano).unwrap_or(0);
    let code = died.attribute("exitCode").unwrap_or("?").to_owned();
    Ok((Duration::from_nanos(nanos), code))
}

/// A signal's number, as Docker's events give it, from its name (`SIGINT`).
pub fn signal_number(name: &str) -> &'static str {
    match name.trim_start_matches("SIG") {
        "INT" => "2",
        "TERM" => "15",
        "QUIT" => "3",
        "HUP" => "1",
        other => panic!("add signal {other} to signal_number"),
    }
}

/// `docker diff`: what the container changed in its file system.
pub fn changed_files(container: &str) -> Vec<String> {
    cmd::run(docker().args(["diff", container]), STEP_LIMIT)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Starts a fresh `GET url` every 50 ms (each with its own 1 s timeout, in a
/// thread of its own, so a lookup that hangs does not hold up the next) until one
/// answers 200 or `limit` seconds pass; prints the Unix time of that answer.
/// Run by Python inside the stack (the Locust image), via `docker exec`.
const POLL: &str = r#"
import sys, threading, time, urllib.request
url, limit = sys.argv[1], float(sys.argv[2])
answered, lock, first = threading.Event(), threading.Lock(), []
def attempt():
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                with lock:
                    first.append(time.time())
                answered.set()
    except Exception:
        pass
deadline = time.monotonic() + limit
while not answered.is_set() and time.monotonic() < deadline:
    threading.Thread(target=attempt, daemon=True).start()
    answered.wait(0.05)
with lock:
    print(repr(min(first)) if first else "none", flush=True)
"#;

/// Runs [`POLL`] for `url` in `container` (which has python3) for at most
/// `limit`; the Unix time of the first 200, if one came.
pub fn first_200(container: &str, url: &str, limit: Duration) -> Option<f64> {
    let limit_arg = limit.as_secs_f64().to_string();
    let output = cmd::run(
        docker()
            .args(["exec", container, "python3", "-c", POLL, url])
            .arg(&limit_arg),
        limit + STEP_LIMIT,
    );
    output.trim().parse().ok()
}

/// This machine's wrk, run inside the network namespace of the process `pid` (a
/// container's) by `nsenter` (root), against a URL on that namespace's loopback:
/// no published port, no NAT in between. Its whole output.
pub fn wrk_inside(
    pid: &str,
    url: &str,
    connections: u32,
    duration: Duration,
    script: &std::path::Path,
) -> String {
    let output = cmd::output(
        Command::new("nsenter")
            .args(["--target", pid, "--net", "wrk"])
            .args(["--threads", "2", "--connections", &connections.to_string()])
            .args(["--duration", &format!("{}s", duration.as_secs())])
            .args(["--timeout", "5s", "--script"])
            .arg(script)
            .arg(url),
        duration + STEP_LIMIT,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "wrk failed ({}): {text}",
        output.status
    );
    text
}

/// What a wrk run says went wrong: socket errors and non-2xx/3xx answers; and how
/// many requests it completed.
pub fn wrk_outcome(text: &str) -> (u64, Vec<String>) {
    let requests = text
        .lines()
        .find_map(|line| {
            let (count, rest) = line.trim().split_once(' ')?;
            rest.starts_with("requests in")
                .then(|| count.parse().ok())?
        })
        .unwrap_or(0);
    let errors = text
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("Socket errors") || line.starts_with("Non-2xx"))
        .map(str::to_owned)
        .collect();
    (requests, errors)
}
