//! The headless sweep's results: what each step measured (this module, the
//! data model, written as-is to `summary.json`), and its renderings, one
//! module each: [`text`] (the table printed after each step), [`csv`]
//! (`summary.csv`), [`html`] (`index.html`) and [`chart`] (SVG and PNG).
//!
//! The report is rewritten after every step, so an interrupted or failed sweep
//! keeps everything measured until then.

pub mod chart;
pub mod csv;
pub mod html;
pub mod text;

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::measure::{ServerSide, TargetStats};
use super::options::Client;

/// Locust's CPU use (percent of one core, per core it can use) from which it,
/// not the servers, limits the measurement; Locust itself warns at the same
/// level, each of its processes for itself.
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
    /// Locust's worker processes under its master; 0: Locust ran as one process.
    pub workers: u32,
    /// Locust's HTTP client (the built-in locustfile); `None` for a `--locustfile`.
    pub client: Option<Client>,
    /// Locust's CPU time over the step (master and workers), in percent of one core.
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
    /// Each server's own numbers, from its `/metrics` before and after the
    /// step (empty in reports written before servers measured themselves).
    #[serde(default)]
    pub server_side: Vec<ServerSide>,
}

impl Step {
    /// Which load generator ran, e.g. `FastHttpUser, 2 workers`.
    pub fn load_generator(&self) -> String {
        let client = self.client.map_or("own locustfile", Client::user_class);
        match self.workers {
            0 => format!("{client}, one process"),
            1 => format!("{client}, 1 worker"),
            workers => format!("{client}, {workers} workers"),
        }
    }

    /// The server-side figures of `server` (a Compose service name).
    pub fn server_side(&self, server: &str) -> Option<&ServerSide> {
        self.server_side.iter().find(|side| side.server == server)
    }

    /// Failed requests over all targets.
    pub fn failures(&self) -> u64 {
        self.targets.iter().map(|t| t.failures).sum()
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

/// Whether a step was limited by the load generator, which could use
/// `usable_cores` cores: its processes generating load (the workers, or the
/// one process), at most the machine's cores.
pub fn load_generator_limited(
    locust_cpu_percent: f64,
    cpu_warning: bool,
    usable_cores: u32,
) -> bool {
    cpu_warning
        || locust_cpu_percent >= LOAD_GENERATOR_LIMIT_PERCENT * f64::from(usable_cores.max(1))
}

/// Locust's latency in ms, as Locust wrote it.
fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v}"))
}

/// A server's own figure in µs, to three significant figures (they range
/// from tenths of a µs per row to hundreds of µs at p99).
fn micros(value: Option<f64>) -> String {
    match value {
        None => "-".to_owned(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) if v >= 1.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.3}"),
    }
}

/// The per-server table's columns, in the text and HTML reports alike:
/// Locust's figures, then the server's own (`srv`, from its `/metrics`):
/// its time per request and its CPU per request and per row, where batching
/// pays. (`summary.csv` and `summary.json` hold every figure.)
pub const COLUMNS: [&str; 13] = [
    "server",
    "requests",
    "failures",
    "median ms",
    "p95 ms",
    "requests/s",
    "rows/s",
    "srv mean µs",
    "srv p50 µs",
    "srv p95 µs",
    "srv p99 µs",
    "CPU µs/req",
    "CPU µs/row",
];

/// One server's row of the per-server table: Locust's figures `t` and the
/// server's own `side`.
pub fn cells(t: &TargetStats, side: Option<&ServerSide>) -> [String; COLUMNS.len()] {
    let own = |figure: fn(&ServerSide) -> Option<f64>| micros(side.and_then(figure));
    [
        t.server.clone(),
        t.requests.to_string(),
        t.failures.to_string(),
        ms(t.median_ms),
        ms(t.p95_ms),
        format!("{:.1}", t.requests_per_s),
        format!("{:.1}", t.rows_per_s),
        own(|s| s.mean_us),
        own(|s| s.p50_us),
        own(|s| s.p95_us),
        own(|s| s.p99_us),
        own(|s| s.cpu_us_per_request),
        own(|s| s.cpu_us_per_row),
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
    std::fs::write(dir.join(SUMMARY_CSV), csv::summary_csv(summary))?;
    chart::draw(&summary.steps, &dir.join(CHART_SVG), &dir.join(CHART_PNG))?;
    std::fs::write(dir.join(INDEX_HTML), html::index_html(summary))?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample_step(users: u32, locust_cpu_percent: f64) -> Step {
        let targets: Vec<TargetStats> = crate::lab::servers::TARGETS
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
            workers: 0,
            client: Some(Client::Http),
            locust_cpu_percent,
            locust_cpu_warning: false,
            load_generator_limited: load_generator_limited(locust_cpu_percent, false, 1),
            servers_cpu_percent: 20.0,
            locust_output: format!("users-{users:04}"),
            server_side: targets
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let rows = t.requests * u64::from(t.rows_per_request);
                    let cpu_us = 25.0 + 4.0 * i as f64;
                    ServerSide {
                        server: t.server.clone(),
                        requests: t.requests,
                        rows,
                        requests_per_s: t.requests_per_s,
                        rows_per_s: t.rows_per_s,
                        mean_us: Some(8.0 + 3.0 * i as f64),
                        p50_us: Some(6.0 + 3.0 * i as f64),
                        p95_us: Some(20.0 + 3.0 * i as f64),
                        p99_us: Some(80.0 + 3.0 * i as f64),
                        cpu_us_per_request: Some(cpu_us),
                        cpu_us_per_row: Some(cpu_us * t.requests as f64 / rows as f64),
                        cpu_percent: Some(5.0),
                    }
                })
                .collect(),
            targets,
        }
    }

    /// A sweep stopped after two steps, the second limited by Locust.
    pub(crate) fn sample_summary() -> Summary {
        Summary {
            tool: "wine-lab test".into(),
            started: "2026-11-27T00:00:00Z".into(),
            machine: Machine::current(),
            model_sha256: "abc".into(),
            locust_version: "locust 2.47.0".into(),
            users: vec![10, 50],
            duration_s: 5,
            complete: false,
            steps: vec![sample_step(10, 30.0), sample_step(50, 95.0)],
        }
    }

    #[test]
    fn steps_flag_a_saturated_load_generator() {
        let calm = sample_step(10, 40.0);
        assert!(calm.bottleneck_note().is_none());
        let busy = sample_step(500, 97.0);
        assert!(busy.load_generator_limited);
        assert!(
            busy.bottleneck_note()
                .is_some_and(|note| note.contains("the load generator, not the servers"))
        );
        assert!(load_generator_limited(10.0, true, 1));
        assert!(!load_generator_limited(
            LOAD_GENERATOR_LIMIT_PERCENT - 0.1,
            false,
            1
        ));
        // Two workers on two cores: one saturated core is not the limit yet.
        assert!(!load_generator_limited(120.0, false, 2));
        assert!(load_generator_limited(
            2.0 * LOAD_GENERATOR_LIMIT_PERCENT,
            false,
            2
        ));
        assert!(load_generator_limited(95.0, false, 0));
        let mut step = sample_step(10, 40.0);
        assert_eq!(step.load_generator(), "HttpUser, one process");
        (step.workers, step.client) = (2, Some(Client::Fast));
        assert_eq!(step.load_generator(), "FastHttpUser, 2 workers");
        step.client = None;
        assert!(step.load_generator().starts_with("own locustfile"));
    }

    #[test]
    fn writes_every_report_file() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let summary = sample_summary();
        write(dir, &summary).unwrap();
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
    }
}
