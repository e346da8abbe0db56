//! Locust run headless inside the stack, and what its CSV files say.
//!
//! The locust service runs with its own command from the compose file (`-f
//! /mnt/locust/locustfile.py`), made headless and bounded by Locust's `LOCUST_*`
//! environment variables, and writes its CSVs to the run folder.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde::Deserialize;

use super::metrics::{ServerRow, servers_csv};
use super::project::Project;

/// A finished headless run.
pub struct Run {
    /// Locust's exit status and output.
    pub output: Output,
    /// Request name → its row of `stats_stats.csv` (with "Aggregated"); empty if
    /// Locust wrote none.
    pub stats: BTreeMap<String, Row>,
    /// One line per row of `stats_failures.csv`.
    pub failures: Vec<String>,
    /// Each server's own figures, by server, as `locust_servers.py` wrote
    /// them to `stats_servers.csv`; empty if it wrote none.
    pub servers: BTreeMap<String, ServerRow>,
}

/// The columns of Locust's stats CSV that the checks use.
#[derive(Debug, Deserialize)]
pub struct Row {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Request Count")]
    pub requests: u64,
    #[serde(rename = "Failure Count")]
    pub failures: u64,
    #[serde(rename = "Median Response Time")]
    pub median_ms: String,
    #[serde(rename = "95%")]
    pub p95_ms: String,
    #[serde(rename = "Requests/s")]
    pub requests_per_s: f64,
}

#[derive(Debug, Deserialize)]
struct FailureRow {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Occurrences")]
    occurrences: String,
    #[serde(rename = "Error")]
    error: String,
}

/// Runs the `service` (Locust) headless with `users` users for `run_time` (Locust's
/// syntax, e.g. "10s"), killed after `limit`.
pub fn headless(
    project: &Project,
    service: &str,
    users: u32,
    run_time: &str,
    limit: Duration,
) -> Run {
    headless_with(project, service, users, run_time, &[], limit)
}

/// [`headless`], with more `docker-compose run` options (`-e LOCUST_…=…`, `--name`).
pub fn headless_with(
    project: &Project,
    service: &str,
    users: u32,
    run_time: &str,
    extra: &[String],
    limit: Duration,
) -> Run {
    let env = [
        "LOCUST_HEADLESS=true".to_owned(),
        format!("LOCUST_USERS={users}"),
        format!("LOCUST_SPAWN_RATE={users}"),
        format!("LOCUST_RUN_TIME={run_time}"),
        "LOCUST_STOP_TIMEOUT=5".to_owned(),
        "LOCUST_CSV=/out/stats".to_owned(),
        "LOCUST_ONLY_SUMMARY=true".to_owned(),
    ];
    let mut args: Vec<String> = env.into_iter().flat_map(|e| ["-e".to_owned(), e]).collect();
    args.extend_from_slice(extra);
    let output = project.run(service, &args, &[], limit);
    finished(project.run_dir(), output)
}

/// A run that has ended, from Locust's `output` and the CSV files it wrote
/// to `dir` (`LOCUST_CSV=<dir>/stats` as the container sees it).
pub fn finished(dir: &Path, output: Output) -> Run {
    Run {
        output,
        stats: stats(dir),
        failures: failures(dir),
        servers: servers_csv(dir),
    }
}

/// Request name → its row of `stats_stats.csv` in `dir` (with "Aggregated");
/// empty if Locust wrote none. Every row must parse: a cut-off one fails.
pub fn stats(dir: &Path) -> BTreeMap<String, Row> {
    read_csv::<Row>(&dir.join("stats_stats.csv"))
        .into_iter()
        .map(|row| (row.name.clone(), row))
        .collect()
}

/// One line per row of `stats_failures.csv` in `dir`.
pub fn failures(dir: &Path) -> Vec<String> {
    read_csv::<FailureRow>(&dir.join("stats_failures.csv"))
        .into_iter()
        .map(|f| format!("{}: {} x {}", f.name, f.occurrences, f.error))
        .collect()
}

/// One row of `stats_stats_history.csv` (written each second with
/// `LOCUST_CSV_FULL_HISTORY=true`): a request name's running totals at a time.
#[derive(Debug, Deserialize)]
pub struct HistoryRow {
    /// Unix time in whole seconds.
    #[serde(rename = "Timestamp")]
    pub timestamp: u64,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Total Request Count")]
    pub requests: u64,
    #[serde(rename = "Total Failure Count")]
    pub failures: u64,
}

/// The rows of `stats_stats_history.csv` in `dir`; none if the file is missing.
pub fn history(dir: &Path) -> Vec<HistoryRow> {
    read_csv(&dir.join("stats_stats_history.csv"))
}

/// Waits until Locust's history in `dir` shows requests for every one of `names`
/// (so a fault injected now hits a run in progress); false after `limit` or as
/// soon as `still_running` says the run is over. The file is read while Locust
/// rewrites it, so rows that do not parse are skipped.
pub fn wait_for_requests(
    dir: &Path,
    names: &[&str],
    limit: Duration,
    still_running: impl Fn() -> bool,
) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline && still_running() {
        let rows: Vec<HistoryRow> = csv::Reader::from_path(dir.join("stats_stats_history.csv"))
            .map(|mut reader| reader.deserialize().filter_map(Result::ok).collect())
            .unwrap_or_default();
        if names
            .iter()
            .all(|name| rows.iter().any(|row| row.name == *name && row.requests > 0))
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// How long a headless run of the fault tests may take before it is killed.
const RUN_LIMIT: Duration = Duration::from_secs(180);

/// Runs [`headless_with`] (with `LOCUST_CSV_FULL_HISTORY=true` added, and a
/// limit of 180 s) and, once its history shows requests for every one of
/// `names`, calls `fault` while the run goes on; the finished run and what
/// `fault` returned. Fails the test if the run does not get going within 60 s.
pub fn during_run<T>(
    project: &Project,
    service: &str,
    users: u32,
    run_time: &str,
    extra: &[String],
    names: &[&str],
    fault: impl FnOnce() -> T,
) -> (Run, T) {
    let mut args = vec!["-e".to_owned(), "LOCUST_CSV_FULL_HISTORY=true".to_owned()];
    args.extend_from_slice(extra);
    std::thread::scope(|scope| {
        let locust =
            scope.spawn(|| headless_with(project, service, users, run_time, &args, RUN_LIMIT));
        assert!(
            wait_for_requests(project.run_dir(), names, Duration::from_secs(60), || {
                !locust.is_finished()
            }),
            "Locust did not get going"
        );
        let returned = fault();
        (locust.join().expect("the Locust thread"), returned)
    })
}

/// The rows of a CSV file; none if the file is missing.
fn read_csv<T: serde::de::DeserializeOwned>(path: &Path) -> Vec<T> {
    let Ok(mut reader) = csv::Reader::from_path(path) else {
        return Vec::new();
    };
    reader
        .deserialize()
        .map(|row| row.unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

impl Run {
    /// Locust's summary: one line per request name.
    pub fn summary(&self) -> String {
        self.stats
            .values()
            .map(|row| {
                format!(
                    "  {:<10} requests {:>7}  failures {}  median {} ms  p95 {} ms  {:.0} req/s",
                    row.name,
                    row.requests,
                    row.failures,
                    row.median_ms,
                    row.p95_ms,
                    row.requests_per_s
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Everything wrong with the run, given the request names it must have seen:
    /// a name missing or without requests, any failure, an unexpected name, a
    /// non-zero exit.
    pub fn problems(&self, expected: &[&str]) -> Vec<String> {
        if self.stats.is_empty() {
            return vec![format!(
                "Locust wrote no stats ({}); its output ends:\n{}",
                self.output.status,
                super::cmd::tail(&self.log(), 30)
            )];
        }
        let mut problems = Vec::new();
        for name in expected.iter().copied().chain(["Aggregated"]) {
            match self.stats.get(name) {
                None => problems.push(format!("no row for {name:?}")),
                Some(row) if row.requests == 0 => {
                    problems.push(format!("{name:?} got no requests"))
                }
                Some(row) if row.failures != 0 => {
                    problems.push(format!("{name:?} had {} failures", row.failures))
                }
                Some(_) => {}
            }
        }
        problems.extend(self.failures.iter().cloned());
        let unexpected: Vec<&String> = self
            .stats
            .keys()
            .filter(|name| !expected.contains(&name.as_str()) && *name != "Aggregated")
            .collect();
        if !unexpected.is_empty() {
            problems.push(format!("unexpected request names {unexpected:?}"));
        }
        if !self.output.status.success() {
            problems.push(format!("locust exited with {}", self.output.status));
        }
        problems
    }

    /// Locust's whole output.
    pub fn log(&self) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }
}
