//! The servers' side of a step: each server's own figures, as Locust's
//! Servers tab computed them.
//!
//! `locust_servers.py`, the Locust extension wine-lab loads beside the
//! locustfile (as the Docker stack does), reads every server's `/metrics`
//! when the step starts, while it runs and when it stops, and at Locust's
//! exit writes `<csv prefix>_servers.csv`: per server, requests and rows
//! since the start, its time per request (the histogram's exact mean, and
//! p50/p95/p99 interpolated within its buckets) and its CPU per request and
//! per row. This reads that file, so the arithmetic (counter deltas,
//! quantiles from buckets) is done once, there, for the report and the page
//! alike. In wine-lab each server's CPU is its own thread's
//! ([`crate::metrics::CpuScope::Thread`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::lab::error::ServerSideError;

/// The file the extension writes beside Locust's own CSV, from its `--csv` prefix.
pub fn servers_csv(csv_prefix: &Path) -> std::path::PathBuf {
    let mut name = csv_prefix.as_os_str().to_owned();
    name.push("_servers.csv");
    name.into()
}

/// One server's own figures over a step: a row of the extension's CSV
/// (its `status` column aside, which is "ok" for every row kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerSide {
    /// The server (its Compose service name).
    pub server: String,
    /// `/predict` requests it answered.
    pub requests: u64,
    /// Rows it classified.
    pub rows: u64,
    /// Requests per second over the step.
    pub requests_per_s: f64,
    /// Rows per second over the step.
    pub rows_per_s: f64,
    /// Its mean time per request, µs (exact: the histogram's sum over its count).
    pub mean_us: Option<f64>,
    /// Median time per request, µs (within its histogram bucket).
    pub p50_us: Option<f64>,
    /// 95th percentile, µs.
    pub p95_us: Option<f64>,
    /// 99th percentile, µs.
    pub p99_us: Option<f64>,
    /// CPU time per request, µs.
    pub cpu_us_per_request: Option<f64>,
    /// CPU time per row, µs: where batching pays.
    pub cpu_us_per_row: Option<f64>,
    /// CPU used over the step, in percent of one core.
    pub cpu_percent: Option<f64>,
}

/// A row as the extension writes it: figures it could not give are empty,
/// and its status says whether it could read the server ("ok") or why not.
#[derive(Debug, Deserialize)]
struct CsvRow {
    server: String,
    requests: Option<u64>,
    rows: Option<u64>,
    requests_per_s: Option<f64>,
    rows_per_s: Option<f64>,
    mean_us: Option<f64>,
    p50_us: Option<f64>,
    p95_us: Option<f64>,
    p99_us: Option<f64>,
    cpu_us_per_request: Option<f64>,
    cpu_us_per_row: Option<f64>,
    cpu_percent: Option<f64>,
    status: String,
}

impl CsvRow {
    /// Its figures, if the server was read.
    fn figures(&self) -> Option<ServerSide> {
        (self.status == "ok").then_some(())?;
        Some(ServerSide {
            server: self.server.clone(),
            requests: self.requests?,
            rows: self.rows?,
            requests_per_s: self.requests_per_s?,
            rows_per_s: self.rows_per_s?,
            mean_us: self.mean_us,
            p50_us: self.p50_us,
            p95_us: self.p95_us,
            p99_us: self.p99_us,
            cpu_us_per_request: self.cpu_us_per_request,
            cpu_us_per_row: self.cpu_us_per_row,
            cpu_percent: self.cpu_percent,
        })
    }
}

/// Each of `servers`' figures, in that order, from the extension's `file`.
pub fn read_server_side(file: &Path, servers: &[&str]) -> Result<Vec<ServerSide>, ServerSideError> {
    let path = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|source| ServerSideError::Missing {
        path: path.clone(),
        source,
    })?;
    let rows = csv::Reader::from_reader(text.as_bytes())
        .deserialize::<CsvRow>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| ServerSideError::Malformed { path, source })?;
    servers
        .iter()
        .map(|&server| {
            let row = rows.iter().find(|row| row.server == server);
            row.and_then(CsvRow::figures)
                .ok_or_else(|| ServerSideError::Server {
                    server: server.to_owned(),
                    status: row.map_or("no row in the table".to_owned(), |row| row.status.clone()),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What locust_servers.py writes (tests/extension checks the Python side).
    const TABLE: &str = "\
server,requests,rows,requests_per_s,rows_per_s,mean_us,p50_us,p95_us,p99_us,cpu_us_per_request,cpu_us_per_row,cpu_percent,rss_mib,status
no-batch,1730,1730,176.9344,176.9344,40.4103,15.9107,74.3555,627.1073,93.6411,93.6411,1.6568,,ok
batch-64,1733,110912,177.3572,11350.8593,66.4606,36.6057,112.6743,552.8636,113.9766,1.7809,2.0215,,ok
batch-32,,,,,,,,,,,,,cannot resolve batch-32 within 1 s
";

    fn file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locust_servers.csv");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn reads_each_servers_figures_in_the_order_asked() {
        let (_dir, path) = file(TABLE);
        let sides = read_server_side(&path, &["batch-64", "no-batch"]).unwrap();
        assert_eq!(sides[0].server, "batch-64");
        assert_eq!((sides[0].requests, sides[0].rows), (1733, 110_912));
        assert_eq!(sides[0].cpu_us_per_row, Some(1.7809));
        assert_eq!(sides[1].p99_us, Some(627.1073));
    }

    #[test]
    fn a_server_that_could_not_be_read_or_is_missing_says_why() {
        let (_dir, path) = file(TABLE);
        let error = read_server_side(&path, &["no-batch", "batch-32"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the servers' own figures of batch-32: cannot resolve batch-32 within 1 s"
        );
        let error = read_server_side(&path, &["batch-1"]).unwrap_err();
        assert!(
            error.to_string().ends_with("batch-1: no row in the table"),
            "{error}"
        );
        let missing = read_server_side(&path.with_extension("nope"), &["batch-1"]).unwrap_err();
        assert!(
            matches!(missing, ServerSideError::Missing { .. }),
            "{missing}"
        );
        let (_dir, bad) = file("server,requests,status\nno-batch,many,ok\n");
        let error = read_server_side(&bad, &["no-batch"]).unwrap_err();
        assert!(
            matches!(error, ServerSideError::Malformed { .. }),
            "{error}"
        );
    }

    #[test]
    fn the_file_is_named_after_locusts_csv_prefix() {
        assert_eq!(
            servers_csv(Path::new("/r/users-0010/locust")),
            Path::new("/r/users-0010/locust_servers.csv")
        );
    }
}
