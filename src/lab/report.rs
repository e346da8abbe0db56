//! The headless sweep's results: what each step measured, printed as tables
//! and written as a report folder (summary CSV and JSON, chart, index.html).
//!
//! The report is rewritten after every step, so an interrupted or failed sweep
//! keeps everything measured until then.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::chart;
use super::stats::TargetStats;

/// Locust's CPU use (percent of one core) from which it, not the servers,
/// limits the measurement; Locust itself warns at the same level.
pub const LOAD_GENERATOR_LIMIT_PERCENT: f64 = 90.0;

/// Everything a sweep measured, as written to `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The program that wrote the report.
    pub tool: String,
    /// When the sweep started (UTC, RFC 3339).
    pub started: String,
    /// The machine it ran on.
    pub machine: Machine,
    /// SHA-256 of the model file the servers used.
    pub model_sha256: String,
    /// `locust --version`.
    pub locust_version: String,
    /// User counts of the sweep, in order.
    pub users: Vec<u32>,
    /// Seconds per step.
    pub duration_s: u64,
    /// False when the sweep stopped early (interrupted or failed).
    pub complete: bool,
    /// The finished steps.
    pub steps: Vec<Step>,
}

/// The machine a sweep ran on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// CPU cores available.
    pub cores: usize,
    /// Operating system and kernel.
    pub os: String,
}

impl Machine {
    /// This machine.
    pub fn current() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| {
                line.strip_prefix("model name")
                    .and_then(|rest| rest.split(':').nth(1))
            })
            .map(|name| name.trim().to_owned())
            .unwrap_or_else(|| std::env::consts::ARCH.to_owned());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            os: format!("{} {}", std::env::consts::OS, kernel.trim())
                .trim()
                .to_owned(),
        }
    }
}

/// One step of the sweep: a user count held for a fixed time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Simulated users.
    pub users: u32,
    /// Users started per second.
    pub spawn_rate: f64,
    /// Seconds the step ran.
    pub duration_s: u64,
    /// Locust's CPU time over the step, in percent of one core.
    pub locust_cpu_percent: f64,
    /// Whether Locust logged its own high-CPU warning.
    pub locust_cpu_warning: bool,
    /// Whether the load generator, not the servers, limited this step.
    pub load_generator_limited: bool,
    /// The four servers' CPU time over the step, in percent of one core.
    pub servers_cpu_percent: f64,
    /// Folder of Locust's own CSV and HTML for this step, relative to the report.
    pub locust_output: String,
    /// Each target's numbers, as Locust reported them.
    pub targets: Vec<TargetStats>,
}

impl Step {
    /// Failed requests over all targets.
    pub fn failures(&self) -> u64 {
        self.targets.iter().map(|t| t.failures).sum()
    }

    /// The step as a text table with a heading and, if needed, the bottleneck note.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{} users (spawn rate {}/s, {} s): Locust used {:.0}% of a CPU core, the four servers {:.0}%\n",
            self.users,
            self.spawn_rate,
            self.duration_s,
            self.locust_cpu_percent,
            self.servers_cpu_percent
        );
        let line = |cells: [&str; COLUMNS.len()]| {
            let mut line = format!("{:<10}", cells[0]);
            for (cell, width) in cells[1..].iter().zip(COLUMN_WIDTHS) {
                line.push_str(&format!(" {cell:>width$}"));
            }
            line
        };
        let _ = writeln!(out, "{}", line(COLUMNS));
        for t in &self.targets {
            let cells = cells(t);
            let _ = writeln!(out, "{}", line(cells.each_ref().map(String::as_str)));
        }
        if let Some(note) = self.bottleneck_note() {
            let _ = writeln!(out, "note: {note}");
        }
        out
    }

    /// Why this step's numbers measure Locust more than the servers, if they do.
    pub fn bottleneck_note(&self) -> Option<String> {
        self.load_generator_limited.then(|| {
            let warned = if self.locust_cpu_warning { " and warned about it" } else { "" };
            format!(
                "Locust used {:.0}% of a CPU core{warned}: the load generator, not the servers, limited this step (the servers used {:.0}%); its latencies include Locust's own queueing.",
                self.locust_cpu_percent, self.servers_cpu_percent
            )
        })
    }
}

/// Whether a step was limited by the load generator.
pub fn load_generator_limited(locust_cpu_percent: f64, cpu_warning: bool) -> bool {
    cpu_warning || locust_cpu_percent >= LOAD_GENERATOR_LIMIT_PERCENT
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v}"))
}

/// The per-server table's columns, in the text and HTML reports alike.
const COLUMNS: [&str; 9] = [
    "server",
    "requests",
    "failures",
    "median ms",
    "p95 ms",
    "p99 ms",
    "avg ms",
    "requests/s",
    "rows/s",
];

/// Widths of the text table's columns after the first.
const COLUMN_WIDTHS: [usize; 8] = [9, 8, 9, 7, 7, 9, 11, 11];

/// One server's row of the per-server table.
fn cells(t: &TargetStats) -> [String; COLUMNS.len()] {
    [
        t.server.clone(),
        t.requests.to_string(),
        t.failures.to_string(),
        ms(t.median_ms),
        ms(t.p95_ms),
        ms(t.p99_ms),
        format!("{:.2}", t.average_ms),
        format!("{:.1}", t.requests_per_s),
        format!("{:.1}", t.rows_per_s),
    ]
}

/// The files of a report folder.
pub const SUMMARY_JSON: &str = "summary.json";
/// See [`SUMMARY_JSON`].
pub const SUMMARY_CSV: &str = "summary.csv";
/// See [`SUMMARY_JSON`].
pub const CHART_SVG: &str = "chart.svg";
/// See [`SUMMARY_JSON`].
pub const CHART_PNG: &str = "chart.png";
/// See [`SUMMARY_JSON`].
pub const INDEX_HTML: &str = "index.html";

/// Writes (or rewrites) the report folder's summary files, chart and index.
pub fn write(dir: &Path, summary: &Summary) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(summary).map_err(std::io::Error::other)?;
    std::fs::write(dir.join(SUMMARY_JSON), json)?;
    std::fs::write(dir.join(SUMMARY_CSV), summary_csv(summary))?;
    chart::draw(&summary.steps, &dir.join(CHART_SVG), &dir.join(CHART_PNG))?;
    std::fs::write(dir.join(INDEX_HTML), index_html(summary))?;
    Ok(())
}

/// One row per step and target.
fn summary_csv(summary: &Summary) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = [
        "users",
        "server",
        "locust_name",
        "rows_per_request",
        "requests",
        "failures",
        "median_ms",
        "p95_ms",
        "p99_ms",
        "average_ms",
        "requests_per_s",
        "rows_per_s",
        "locust_cpu_percent",
        "servers_cpu_percent",
        "load_generator_limited",
    ];
    let _ = writer.write_record(header);
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for step in &summary.steps {
        for t in &step.targets {
            let _ = writer.write_record([
                step.users.to_string(),
                t.server.clone(),
                t.name.clone(),
                t.rows_per_request.to_string(),
                t.requests.to_string(),
                t.failures.to_string(),
                opt(t.median_ms),
                opt(t.p95_ms),
                opt(t.p99_ms),
                t.average_ms.to_string(),
                t.requests_per_s.to_string(),
                t.rows_per_s.to_string(),
                format!("{:.1}", step.locust_cpu_percent),
                format!("{:.1}", step.servers_cpu_percent),
                step.load_generator_limited.to_string(),
            ]);
        }
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Minimal HTML escaping for text from the environment.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn index_html(summary: &Summary) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>wine-lab latency report</title>\n<style>\
         body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}\
         table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}\
         td:first-child,th:first-child{text-align:left}.note{background:#fff4d6;padding:.5em;border-left:4px solid #e0a800}\
         img{max-width:100%}</style></head><body>\n<h1>Latency of the wine lab's four servers</h1>\n",
    );
    let _ = writeln!(
        html,
        "<p>{} on {} ({} cores, {}); {}; model sha256 <code>{}</code>; started {} UTC; {} s per step.{}</p>",
        escape(&summary.tool),
        escape(&summary.machine.cpu),
        summary.machine.cores,
        escape(&summary.machine.os),
        escape(&summary.locust_version),
        escape(&summary.model_sha256),
        escape(&summary.started),
        summary.duration_s,
        if summary.complete {
            ""
        } else {
            " <strong>The sweep stopped early: only finished steps are shown.</strong>"
        },
    );
    let _ = writeln!(
        html,
        "<p><img src=\"{CHART_SVG}\" alt=\"median and p95 latency against users\"></p>"
    );
    let _ = writeln!(
        html,
        "<p>Data: <a href=\"{SUMMARY_CSV}\">{SUMMARY_CSV}</a>, <a href=\"{SUMMARY_JSON}\">{SUMMARY_JSON}</a>, chart as <a href=\"{CHART_PNG}\">PNG</a>.</p>"
    );
    for step in &summary.steps {
        let _ = writeln!(
            html,
            "<h2>{} users</h2>\n<p>Spawn rate {}/s, {} s. Locust used {:.0}% of a CPU core, the four servers {:.0}%. Locust's own report: <a href=\"{dir}/locust.html\">HTML</a>, <a href=\"{dir}/locust_stats.csv\">CSV</a>, <a href=\"{dir}/locust.log\">log</a>.</p>",
            step.users,
            step.spawn_rate,
            step.duration_s,
            step.locust_cpu_percent,
            step.servers_cpu_percent,
            dir = escape(&step.locust_output),
        );
        if let Some(note) = step.bottleneck_note() {
            let _ = writeln!(html, "<p class=\"note\">{}</p>", escape(&note));
        }
        let row = |tag: &str, cells: &[String]| {
            let cells: String = cells
                .iter()
                .map(|c| format!("<{tag}>{}</{tag}>", escape(c)))
                .collect();
            format!("<tr>{cells}</tr>\n")
        };
        html.push_str("<table>");
        html.push_str(&row("th", &COLUMNS.map(str::to_owned)));
        for t in &step.targets {
            html.push_str(&row("td", &cells(t)));
        }
        html.push_str("</table>\n");
    }
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample_step(users: u32, locust_cpu_percent: f64) -> Step {
        let targets = crate::lab::targets::TARGETS
            .iter()
            .enumerate()
            .map(|(i, target)| TargetStats {
                name: target.name.to_owned(),
                server: target.service.to_owned(),
                rows_per_request: target.rows_per_request,
                requests: 100 * u64::from(users),
                failures: 0,
                median_ms: Some(1.0 + i as f64),
                p95_ms: Some(2.0 + i as f64 + f64::from(users) / 100.0),
                p99_ms: Some(3.0 + i as f64),
                average_ms: 1.5,
                requests_per_s: 40.0,
                rows_per_s: 40.0 * f64::from(target.rows_per_request),
            })
            .collect();
        Step {
            users,
            spawn_rate: f64::from(users),
            duration_s: 5,
            locust_cpu_percent,
            locust_cpu_warning: false,
            load_generator_limited: load_generator_limited(locust_cpu_percent, false),
            servers_cpu_percent: 20.0,
            locust_output: format!("users-{users:04}"),
            targets,
        }
    }

    #[test]
    fn tables_flag_a_saturated_load_generator() {
        let calm = sample_step(10, 40.0);
        assert!(calm.bottleneck_note().is_none());
        assert!(calm.table().contains("batch-64"));
        let busy = sample_step(500, 97.0);
        assert!(busy.load_generator_limited);
        assert!(
            busy.table()
                .contains("the load generator, not the servers, limited this step")
        );
        assert!(load_generator_limited(10.0, true));
    }

    #[test]
    fn writes_every_report_file() {
        let dir = std::env::temp_dir().join(format!("wine-lab-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let summary = Summary {
            tool: "wine-lab test".into(),
            started: "2026-11-27T00:00:00Z".into(),
            machine: Machine::current(),
            model_sha256: "abc".into(),
            locust_version: "locust 2.47.0".into(),
            users: vec![10, 50],
            duration_s: 5,
            complete: false,
            steps: vec![sample_step(10, 30.0), sample_step(50, 95.0)],
        };
        write(&dir, &summary).unwrap();
        for file in [SUMMARY_JSON, SUMMARY_CSV, CHART_SVG, CHART_PNG, INDEX_HTML] {
            let bytes = std::fs::read(dir.join(file)).unwrap();
            assert!(bytes.len() > 100, "{file} is too small");
        }
        let back: Summary =
            serde_json::from_slice(&std::fs::read(dir.join(SUMMARY_JSON)).unwrap()).unwrap();
        assert_eq!(back, summary);
        let csv = std::fs::read_to_string(dir.join(SUMMARY_CSV)).unwrap();
        assert_eq!(csv.lines().count(), 1 + 2 * 4);
        assert!(
            std::fs::read(dir.join(CHART_PNG))
                .unwrap()
                .starts_with(b"\x89PNG")
        );
        let html = std::fs::read_to_string(dir.join(INDEX_HTML)).unwrap();
        assert!(
            html.contains("stopped early")
                && html.contains("chart.svg")
                && html.contains("users-0050/locust.html")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
