//! The CSV rendering, `summary.csv`: one row per step and server, every
//! number of the report in columns a spreadsheet can plot.

use super::Summary;
use crate::lab::options::Client;

/// The header of `summary.csv`.
const HEADER: [&str; 28] = [
    "users",
    "workers",
    "client",
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
    "server_requests",
    "server_rows",
    "server_requests_per_s",
    "server_rows_per_s",
    "server_mean_us",
    "server_p50_us",
    "server_p95_us",
    "server_p99_us",
    "server_cpu_us_per_request",
    "server_cpu_us_per_row",
    "server_cpu_percent",
];

/// One row per step and target.
pub fn summary_csv(summary: &Summary) -> String {
    // Writing to memory cannot fail, and the cells are valid UTF-8.
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record(HEADER);
    let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    for step in &summary.steps {
        for t in &step.targets {
            let side = step.server_side(&t.server);
            let _ = writer.write_record([
                step.users.to_string(),
                step.workers.to_string(),
                step.client.map_or("", Client::as_str).to_owned(),
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
                side.map(|s| s.requests.to_string()).unwrap_or_default(),
                side.map(|s| s.rows.to_string()).unwrap_or_default(),
                opt(side.map(|s| s.requests_per_s)),
                opt(side.map(|s| s.rows_per_s)),
                opt(side.and_then(|s| s.mean_us)),
                opt(side.and_then(|s| s.p50_us)),
                opt(side.and_then(|s| s.p95_us)),
                opt(side.and_then(|s| s.p99_us)),
                opt(side.and_then(|s| s.cpu_us_per_request)),
                opt(side.and_then(|s| s.cpu_us_per_row)),
                opt(side.and_then(|s| s.cpu_percent)),
            ]);
        }
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::report::tests::{sample_step, sample_summary};

    #[test]
    fn a_row_per_step_and_server_under_the_header() {
        let mut summary = sample_summary();
        summary.steps[0].targets[2].p99_ms = None;
        let csv = summary_csv(&summary);
        let mut reader = ::csv::Reader::from_reader(csv.as_bytes());
        assert_eq!(reader.headers().unwrap(), &HEADER[..]);
        let rows: Vec<::csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), summary.steps.len() * 4);
        assert_eq!(&rows[4][0], summary.steps[1].users.to_string());
        assert_eq!((&rows[4][1], &rows[4][2]), ("0", "http"));
        assert_eq!(&rows[3][3], "batch-64");
        assert_eq!(&rows[2][10], "", "a missing percentile is an empty cell");
        let step = sample_step(50, 95.0);
        assert_eq!(&rows[4][16], step.load_generator_limited.to_string());
        let side = step.server_side("batch-64").unwrap();
        assert_eq!(&rows[7][17], side.requests.to_string());
        assert_eq!(&rows[7][22], side.p50_us.unwrap().to_string());
        assert_eq!(&rows[7][26], side.cpu_us_per_row.unwrap().to_string());
    }
}
