//! Each server container's `GET /metrics`, read over the stack's network from
//! a one-off Locust container (the server images are scratch: no shell to
//! `exec` into), and checked against what Locust counted.

use wine_lab::lab::{Exposition, MEASURED_ROUTE, TARGETS};
use wine_lab::metrics::{REQUESTS_TOTAL, ROWS_PREDICTED};

use super::locust::Run;
use super::project::Project;
use std::time::Duration;

/// Reads every server's `/metrics` via `via` and checks, per server: its
/// `/predict` requests were all answered 200, are not fewer than Locust's
/// count for its request name (nor zero), and rows predicted are requests ×
/// the batch size. Returns one line per server; panics with every problem found.
///
/// Not an equality: the stack's Locust CSV misses its last second of
/// requests (Locust 2.47 rewrites it every second, not at exit; the lab's
/// hook fixes that, src/lab/locust/hook.py), and requests in flight when
/// Locust stops are answered but not counted. A run here: 469 batch-64
/// requests counted by Locust, 483 answered.
pub fn check_against_locust(
    project: &Project,
    via: &str,
    servers: &[String],
    port: u16,
    run: &Run,
) -> Vec<String> {
    let urls: Vec<String> = servers
        .iter()
        .map(|service| format!("http://{service}:{port}/metrics"))
        .collect();
    let answers = project.fetch(via, &urls, Duration::from_secs(30));
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for (service, answer) in servers.iter().zip(answers) {
        let Some(target) = TARGETS.iter().find(|t| t.service == service) else {
            problems.push(format!("{service}: not a target of the lab"));
            continue;
        };
        if answer.status != Some(200) {
            problems.push(format!("{service}: {answer:?}"));
            continue;
        }
        let exposition = match Exposition::parse(&answer.body) {
            Ok(exposition) => exposition,
            Err(error) => {
                problems.push(format!("{service}: {error}"));
                continue;
            }
        };
        let route = ("route", MEASURED_ROUTE);
        let ok = exposition.sum(REQUESTS_TOTAL, &[route, ("status", "200")]) as u64;
        let all = exposition.sum(REQUESTS_TOTAL, &[route]) as u64;
        let rows = exposition.sum(ROWS_PREDICTED, &[]) as u64;
        let sent = run.stats.get(target.name).map_or(0, |row| row.requests);
        lines.push(format!(
            "  {service:<10} /metrics: {ok} requests answered 200 ({all} in all), {rows} rows; Locust counted {sent} {}",
            target.name
        ));
        if sent == 0 || ok < sent {
            problems.push(format!(
                "{service}: {ok} requests answered 200, fewer than the {sent} Locust counted"
            ));
        }
        if all != ok {
            problems.push(format!("{service}: {} requests not answered 200", all - ok));
        }
        if rows != ok * u64::from(target.rows_per_request) {
            problems.push(format!(
                "{service}: {rows} rows predicted for {ok} requests of {} rows",
                target.rows_per_request
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "/metrics disagrees with Locust:\n  {}\n{}",
        problems.join("\n  "),
        lines.join("\n")
    );
    lines
}
