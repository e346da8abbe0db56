//! Reading Locust's `<prefix>_stats.csv`: one row per request name, the
//! numbers the report shows. Copied as Locust wrote them, never recomputed.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::lab::error::StatsError;
use crate::lab::servers::Target;

/// One row of Locust's stats CSV, the columns the report uses.
#[derive(Debug, Clone, Deserialize)]
struct CsvRow {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Request Count")]
    requests: u64,
    #[serde(rename = "Failure Count")]
    failures: u64,
    #[serde(rename = "Average Response Time")]
    average_ms: f64,
    #[serde(rename = "Requests/s")]
    requests_per_s: f64,
    #[serde(rename = "50%")]
    p50: String,
    #[serde(rename = "95%")]
    p95: String,
    #[serde(rename = "99%")]
    p99: String,
}

/// Latency and throughput of one target during one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetStats {
    /// Locust's request name.
    pub name: String,
    /// The server (Compose service) it loads.
    pub server: String,
    /// Rows per request.
    pub rows_per_request: u32,
    /// Requests sent.
    pub requests: u64,
    /// Requests that failed.
    pub failures: u64,
    /// Median latency, ms (Locust rounds percentiles).
    pub median_ms: Option<f64>,
    /// 95th percentile latency, ms.
    pub p95_ms: Option<f64>,
    /// 99th percentile latency, ms.
    pub p99_ms: Option<f64>,
    /// Mean latency, ms.
    pub average_ms: f64,
    /// Requests per second.
    pub requests_per_s: f64,
    /// Rows classified per second: rows per request x requests per second.
    pub rows_per_s: f64,
}

/// Reads the stats of each target, in `targets` order.
pub fn read_stats(path: &Path, targets: &[Target]) -> Result<Vec<TargetStats>, StatsError> {
    let csv_error = |source| StatsError::Csv {
        path: path.display().to_string(),
        source,
    };
    let mut reader = csv::Reader::from_path(path).map_err(csv_error)?;
    let rows: Vec<CsvRow> = reader
        .deserialize()
        .collect::<Result<_, _>>()
        .map_err(csv_error)?;
    targets
        .iter()
        .map(|target| {
            let row = rows
                .iter()
                .find(|row| row.name == target.name && row.requests > 0)
                .ok_or_else(|| StatsError::Missing(target.name.to_owned()))?;
            Ok(TargetStats {
                name: row.name.clone(),
                server: target.service.to_owned(),
                rows_per_request: target.rows_per_request,
                requests: row.requests,
                failures: row.failures,
                median_ms: percentile(&row.p50),
                p95_ms: percentile(&row.p95),
                p99_ms: percentile(&row.p99),
                average_ms: row.average_ms,
                requests_per_s: row.requests_per_s,
                rows_per_s: row.requests_per_s * f64::from(target.rows_per_request),
            })
        })
        .collect()
}

/// Locust writes `N/A` for a percentile it has no data for.
fn percentile(cell: &str) -> Option<f64> {
    cell.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::servers::TARGETS;

    const SAMPLE: &str = "\
Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%
POST,0:batch,120,0,2,2.5,0.9,11,16.0,40.1,0.0,2,3,3,3,4,5,6,8,11,11,11
POST,batch-1,118,1,2,2.4,0.8,12,18.0,39.3,0.3,2,3,3,3,4,5,6,7,12,12,12
POST,batch-32,121,0,3,3.1,1.1,14,80.0,40.3,0.0,3,3,4,4,5,6,8,9,14,14,14
POST,batch-64,119,0,4,4.2,1.5,15,144.0,39.7,0.0,4,4,5,5,6,7,9,10,15,15,15
,Aggregated,478,1,3,3.0,0.8,15,64.5,159.4,0.3,3,3,4,4,5,6,8,9,15,15,15
";

    /// A stats CSV in a temporary file, removed when the handle drops.
    fn stats_file(contents: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, contents.as_bytes()).unwrap();
        file
    }

    #[test]
    fn reads_each_target_in_order() {
        let file = stats_file(SAMPLE);
        let stats = read_stats(file.path(), &TARGETS).unwrap();
        let names: Vec<_> = stats.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["0:batch", "batch-1", "batch-32", "batch-64"]);
        let batch_64 = &stats[3];
        assert_eq!((batch_64.requests, batch_64.failures), (119, 0));
        assert_eq!(
            (batch_64.median_ms, batch_64.p95_ms, batch_64.p99_ms),
            (Some(4.0), Some(7.0), Some(10.0))
        );
        assert_eq!(batch_64.rows_per_s, 39.7 * 64.0);
        assert_eq!(stats[1].failures, 1);
        assert_eq!(stats[0].server, "no-batch");
    }

    #[test]
    fn a_target_without_requests_is_an_error() {
        let without = SAMPLE
            .lines()
            .filter(|l| !l.contains("batch-32"))
            .collect::<Vec<_>>()
            .join("\n");
        let file = stats_file(&without);
        let error = read_stats(file.path(), &TARGETS).unwrap_err();
        assert!(error.to_string().contains("batch-32"), "{error}");
        assert!(read_stats(Path::new("/nonexistent.csv"), &TARGETS).is_err());
        assert_eq!(percentile("N/A"), None);
    }
}
