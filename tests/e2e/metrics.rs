//! The servers' own figures from a headless Locust run in the stack: what
//! `locust_servers.py` (loaded beside the locustfile by the compose command)
//! wrote to `stats_servers.csv`, read from each server's `GET /metrics` over
//! the stack's network, checked against what Locust counted.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use wine_lab::lab::TARGETS;

use super::locust::Run;

/// One row of `<prefix>_servers.csv`: a server's own figures over the run
/// (empty cells, for figures it could not give, are `None`).
#[derive(Debug, Clone, Deserialize)]
pub struct ServerRow {
    pub server: String,
    pub requests: Option<u64>,
    pub rows: Option<u64>,
    pub mean_us: Option<f64>,
    pub cpu_us_per_request: Option<f64>,
    pub cpu_us_per_row: Option<f64>,
    pub rss_mib: Option<f64>,
    pub status: String,
}

/// The rows of `stats_servers.csv` in `dir`, by server; none if it is missing.
pub fn servers_csv(dir: &Path) -> BTreeMap<String, ServerRow> {
    let Ok(mut reader) = csv::Reader::from_path(dir.join("stats_servers.csv")) else {
        return BTreeMap::new();
    };
    reader
        .deserialize::<ServerRow>()
        .map(|row| row.unwrap_or_else(|e| panic!("stats_servers.csv: {e}")))
        .map(|row| (row.server.clone(), row))
        .collect()
}

/// Checks the servers' own figures of `run`, per server: it was read ("ok"),
/// answered no fewer requests than Locust counted for its name (nor zero),
/// classified requests × the batch size rows, and gave its CPU and memory;
/// and batch-64's CPU per row is under a fifth of batch-1's (the lab's
/// lesson: about 1/45). Returns one line per server; panics with every problem.
///
/// Not an equality of counts: the stack's Locust CSV misses its last second
/// of requests (Locust 2.47 rewrites it every second, not at exit; wine-lab's
/// hook fixes that, src/lab/locust/hook.py), and requests in flight when
/// Locust stops are answered but not counted. A run here: 469 batch-64
/// requests counted by Locust, 483 answered.
pub fn check_against_locust(run: &Run) -> Vec<String> {
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for target in TARGETS {
        let Some(row) = run.servers.get(target.service) else {
            problems.push(format!("{}: no row in stats_servers.csv", target.service));
            continue;
        };
        let (requests, rows) = (row.requests.unwrap_or(0), row.rows.unwrap_or(0));
        let sent = run.stats.get(target.name).map_or(0, |r| r.requests);
        lines.push(format!(
            "  {:<10} {requests} requests, {rows} rows, {:.2} µs of CPU per request, {:.3} per row, {:.1} MiB ({}); Locust counted {sent} {}",
            target.service,
            row.cpu_us_per_request.unwrap_or(f64::NAN),
            row.cpu_us_per_row.unwrap_or(f64::NAN),
            row.rss_mib.unwrap_or(f64::NAN),
            row.status,
            target.name,
        ));
        if row.status != "ok" {
            problems.push(format!("{}: {}", target.service, row.status));
        }
        if sent == 0 || requests < sent {
            problems.push(format!(
                "{}: {requests} requests answered, fewer than the {sent} Locust counted",
                target.service
            ));
        }
        if rows != requests * u64::from(target.rows_per_request) {
            problems.push(format!(
                "{}: {rows} rows for {requests} requests of {} rows",
                target.service, target.rows_per_request
            ));
        }
        if row.cpu_us_per_row.is_none() || row.rss_mib.is_none() || row.mean_us.is_none() {
            problems.push(format!(
                "{}: no CPU, memory or time figures",
                target.service
            ));
        }
    }
    let per_row = |service: &str| run.servers.get(service).and_then(|row| row.cpu_us_per_row);
    match (per_row("batch-1"), per_row("batch-64")) {
        (Some(one), Some(sixty_four)) if sixty_four < one / 5.0 => {}
        (one, sixty_four) => problems.push(format!(
            "batch-64's CPU per row ({sixty_four:?} µs) is not under a fifth of batch-1's ({one:?} µs)"
        )),
    }
    assert!(
        problems.is_empty(),
        "the servers' own figures disagree with Locust:\n  {}\n{}",
        problems.join("\n  "),
        lines.join("\n")
    );
    lines
}
