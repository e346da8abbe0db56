//! Locust in distributed mode on the stack (docker-compose.workers.yml over
//! docker-compose.yml): the master run headless as a one-off container that the
//! workers reach by its service name, and the evidence of what each worker did.
//!
//! Locust 2.47's statistics do not say which worker sent what: a worker sends
//! its counts to the master every 3 s and resets them (`stats.py`,
//! `on_report_to_master`: `get_stripped_report`), and the master adds them up
//! under the request names. The per-worker evidence is therefore each worker's
//! own log: with `--print-stats` (`LOCUST_PRINT_STATS`, which Locust honours on
//! a worker, `main.py`) a worker prints its counts since its last report every
//! 2 s, and a row `Aggregated <requests> <failures>(<percent>)` with requests
//! means that worker sent them. The master's log names each worker that joined
//! (`<id> (index <n>) reported as ready`) and each that went missing (`Worker
//! <id> failed to send heartbeat`); a worker's id starts with its hostname,
//! which Docker sets to the container's short ID.

use std::time::Duration;

use super::project::Project;
use super::{cmd, docker, faults};

/// Makes every worker print its own counts (test-only: users see the sum in
/// the master's web UI, and the tables every 2 s per worker would be noise).
const PRINT_STATS_OVERRIDE: &str = "\
# Test-only override (tests/e2e/workers.rs): each worker logs its own counts.
version: \"3.9\"
services:
  locust-worker:
    environment:
      LOCUST_PRINT_STATS: \"true\"
";

/// How long a single docker command may take.
const STEP_LIMIT: Duration = Duration::from_secs(60);

/// Adds the override that makes each worker log its own counts (before the
/// workers start).
pub fn log_own_counts(project: &mut Project) {
    project.add_override("worker-stats.yml", PRINT_STATS_OVERRIDE);
}

/// `docker-compose run` options for the master's one-off container: reachable
/// under its service name (`--use-aliases`: a one-off container has no alias
/// otherwise, and the workers join `--master-host locust`), and headless runs
/// start once `workers` have joined, waiting at most 60 s for them.
pub fn master_args(workers: usize) -> Vec<String> {
    [
        "--use-aliases".to_owned(),
        "-e".to_owned(),
        format!("LOCUST_EXPECT_WORKERS={workers}"),
        "-e".to_owned(),
        "LOCUST_EXPECT_WORKERS_MAX_WAIT=60".to_owned(),
    ]
    .into()
}

/// The hostname of a container, the start of its Locust worker id.
pub fn hostname(container: &str) -> String {
    faults::inspect(container, "{{.Config.Hostname}}")
}

/// The worker id that `pick` finds in the words of each of the master's log
/// lines containing `marker`, in order (quotes around an id dropped).
fn ids_in(
    master_log: &str,
    marker: &str,
    pick: impl for<'a> Fn(&[&'a str]) -> Option<&'a str>,
) -> Vec<String> {
    master_log
        .lines()
        .filter(|line| line.contains(marker))
        .filter_map(|line| pick(&line.split_whitespace().collect::<Vec<_>>()))
        .map(|id| id.trim_matches(|c| c == '\'' || c == '"').to_owned())
        .collect()
}

/// Ids of the workers the master accepted ("<id> (index <n>) reported as ready").
pub fn joined(master_log: &str) -> Vec<String> {
    ids_in(master_log, "reported as ready", |words| {
        let index = words.iter().position(|word| *word == "(index")?;
        words.get(index.checked_sub(1)?).copied()
    })
}

/// Ids of the workers the master gave up on ("Worker <id> failed to send
/// heartbeat, setting state to missing").
pub fn went_missing(master_log: &str) -> Vec<String> {
    ids_in(master_log, "failed to send heartbeat", |words| {
        let worker = words.iter().position(|word| *word == "Worker")?;
        words.get(worker + 1).copied()
    })
}

/// Whether `id` is the worker id of the container with `hostname`.
pub fn is_worker_of(id: &str, hostname: &str) -> bool {
    id.strip_prefix(hostname)
        .is_some_and(|rest| rest.starts_with('_'))
}

/// One `Aggregated` row a worker printed: its counts since its last report.
#[derive(Debug, Clone, Copy)]
pub struct OwnCounts {
    /// When Docker received the line, seconds since the epoch.
    pub at: f64,
    pub requests: u64,
    pub failures: u64,
}

/// Every `Aggregated` row in a worker container's log (`docker logs
/// --timestamps`, both streams).
pub fn own_counts(container: &str) -> Vec<OwnCounts> {
    let output = cmd::output(
        docker().args(["logs", "--timestamps", container]),
        STEP_LIMIT,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines().filter_map(parse_aggregated).collect()
}

/// `<timestamp> Aggregated <requests> <failures>(<percent>%) | …`.
fn parse_aggregated(line: &str) -> Option<OwnCounts> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let [timestamp, "Aggregated", requests, failures, ..] = words.as_slice() else {
        return None;
    };
    Some(OwnCounts {
        at: faults::seconds(timestamp),
        requests: requests.parse().ok()?,
        failures: failures.split('(').next()?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_master_and_worker_lines_of_locust_2_47() {
        let master = "\
[2026-11-29 09:00:01,000] abc/INFO/locust.runners: 3f2a9c1b7d10_0b1c (index 0) reported as ready. 1 workers connected.
[2026-11-29 09:00:02,000] abc/INFO/locust.runners: 77aa00bb11cc_9f8e (index 1) reported as ready. 2 workers connected.
[2026-11-29 09:00:09,000] abc/INFO/locust.runners: Worker 3f2a9c1b7d10_0b1c failed to send heartbeat, setting state to missing.";
        assert_eq!(joined(master), ["3f2a9c1b7d10_0b1c", "77aa00bb11cc_9f8e"]);
        assert_eq!(went_missing(master), ["3f2a9c1b7d10_0b1c"]);
        assert!(is_worker_of("3f2a9c1b7d10_0b1c", "3f2a9c1b7d10"));
        assert!(!is_worker_of("3f2a9c1b7d10_0b1c", "3f2a9c1b7d1"));

        let row = parse_aggregated(
            "2026-11-29T09:00:03.500000000Z          Aggregated     \
             412     2(0.49%) |      9       1      60      7 |  137.00        0.00",
        )
        .unwrap();
        assert_eq!((row.requests, row.failures), (412, 2));
        assert!((row.at - 1_795_942_803.5).abs() < 1e-3, "{}", row.at);
        assert!(parse_aggregated("2026-11-29T09:00:03Z POST batch-1 12 0(0.00%)").is_none());
    }
}
