//! The servers' side of a step: each server's `GET /metrics` read before and
//! after the step, and the difference turned into the latency the server
//! itself measured, beside what Locust measured.
//!
//! Percentiles come from the difference of the duration histogram's
//! cumulative bucket counts, interpolated linearly within the bucket the
//! rank falls in, as Prometheus' `histogram_quantile` does (the lowest
//! bucket starts at 0; a rank in the `+Inf` bucket is the highest finite
//! bound). With buckets 1.5 times apart the error is within that bucket.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::prometheus::Exposition;
use crate::lab::http;
use crate::metrics::{REQUEST_DURATION, REQUESTS_TOTAL, ROWS_PREDICTED};

/// The route whose requests the lab measures.
pub const MEASURED_ROUTE: &str = "/predict";

/// How long one read of `/metrics` may take (it is a few kB from loopback).
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// The `q` quantile (0..=1) of cumulative `buckets` `(le, count)`, as
/// Prometheus' `histogram_quantile` computes it; `None` without observations.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let rank = q * total;
    let index = buckets.iter().position(|&(_, count)| count >= rank)?;
    let (upper, count) = buckets[index];
    let (lower, below) = match index {
        0 => (0.0f64.min(upper), 0.0),
        _ => buckets[index - 1],
    };
    if upper.is_infinite() {
        return Some(lower);
    }
    if count <= below {
        return Some(upper);
    }
    Some(lower + (upper - lower) * (rank - below) / (count - below))
}

/// What the lab keeps of one read of a server's `/metrics`: the
/// [`MEASURED_ROUTE`]'s duration histogram and request count, and rows predicted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reading {
    /// Cumulative buckets `(le seconds, count)` of `/predict` durations.
    pub buckets: Vec<(f64, f64)>,
    /// `/predict` requests answered, any status.
    pub requests: f64,
    /// Rows classified.
    pub rows_predicted: f64,
}

impl Reading {
    /// The lab's figures from a parsed `/metrics`.
    fn from_exposition(exposition: &Exposition) -> Self {
        let route = [("route", MEASURED_ROUTE)];
        Reading {
            buckets: exposition.buckets(REQUEST_DURATION, &route),
            requests: exposition.sum(REQUESTS_TOTAL, &route),
            rows_predicted: exposition.sum(ROWS_PREDICTED, &[]),
        }
    }

    /// Reads and parses `GET /metrics` of the server at `addr`.
    pub async fn read(addr: SocketAddr) -> io::Result<Self> {
        let text = http::get_text(
            &addr.ip().to_string(),
            addr.port(),
            "/metrics",
            SCRAPE_TIMEOUT,
        )
        .await?;
        let exposition = Exposition::parse(&text).map_err(io::Error::other)?;
        Ok(Reading::from_exposition(&exposition))
    }
}

/// One server's own figures over a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerSide {
    /// The server (Compose service).
    pub server: String,
    /// `/predict` requests the server answered during the step.
    pub requests: u64,
    /// Rows it classified.
    pub rows_predicted: u64,
    /// Median time the server took per request, ms (interpolated in its bucket).
    pub p50_ms: Option<f64>,
    /// 95th percentile, ms.
    pub p95_ms: Option<f64>,
    /// 99th percentile, ms.
    pub p99_ms: Option<f64>,
    /// CPU time of the server's thread over the step, in percent of one core.
    pub cpu_percent: Option<f64>,
}

impl ServerSide {
    /// The figures of `server` between two readings, with its CPU use.
    pub fn between(
        server: &str,
        before: &Reading,
        after: &Reading,
        cpu_percent: Option<f64>,
    ) -> Self {
        let buckets: Vec<(f64, f64)> = after
            .buckets
            .iter()
            .map(|&(le, count)| {
                let earlier = before
                    .buckets
                    .iter()
                    .find(|(bound, _)| *bound == le)
                    .map_or(0.0, |(_, count)| *count);
                (le, (count - earlier).max(0.0))
            })
            .collect();
        let ms = |q| histogram_quantile(q, &buckets).map(|seconds| seconds * 1000.0);
        let delta = |after: f64, before: f64| (after - before).max(0.0).round() as u64;
        ServerSide {
            server: server.to_owned(),
            requests: delta(after.requests, before.requests),
            rows_predicted: delta(after.rows_predicted, before.rows_predicted),
            p50_ms: ms(0.5),
            p95_ms: ms(0.95),
            p99_ms: ms(0.99),
            cpu_percent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Route, ServerMetrics};

    #[test]
    fn quantiles_interpolate_within_a_bucket_like_prometheus() {
        // 10 observations up to 1, 10 more up to 2, none above.
        let buckets = [(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)];
        assert_eq!(histogram_quantile(0.5, &buckets), Some(1.0));
        assert_eq!(histogram_quantile(0.25, &buckets), Some(0.5));
        assert_eq!(histogram_quantile(0.75, &buckets), Some(1.5));
        // Ranks in +Inf give the highest finite bound.
        let open = [(1.0, 1.0), (f64::INFINITY, 10.0)];
        assert_eq!(histogram_quantile(0.9, &open), Some(1.0));
        assert_eq!(histogram_quantile(0.5, &[(1.0, 0.0)]), None);
        assert_eq!(histogram_quantile(1.5, &buckets), None);
    }

    #[test]
    fn parses_what_the_servers_write() {
        let metrics = ServerMetrics::new(crate::metrics::CpuScope::Process);
        let predict = Route::of(MEASURED_ROUTE);
        for micros in [10, 20, 40, 80] {
            metrics.started();
            metrics.ended(predict, Some(200), Duration::from_micros(micros));
        }
        metrics.started();
        metrics.ended(predict, Some(422), Duration::from_micros(10));
        metrics.started();
        metrics.ended(Route::of("/"), Some(200), Duration::from_secs(2));
        metrics.predicted(64 * 4);
        let exposition = Exposition::parse(&metrics.render()).unwrap();
        let reading = Reading::from_exposition(&exposition);
        assert_eq!(reading.requests, 5.0);
        assert_eq!(reading.rows_predicted, 256.0);
        assert_eq!(reading.buckets.last(), Some(&(f64::INFINITY, 5.0)));
        let side = ServerSide::between("batch-64", &Reading::default(), &reading, None);
        let p50 = side.p50_ms.unwrap();
        assert!((0.0113..=0.0338).contains(&p50), "{p50}");
        assert!(side.p99_ms.unwrap() <= 0.1 && side.p99_ms.unwrap() >= 0.05);
    }

    #[test]
    fn a_step_counts_only_its_own_requests() {
        let before = Reading {
            buckets: vec![(0.001, 100.0), (f64::INFINITY, 100.0)],
            requests: 100.0,
            rows_predicted: 6400.0,
        };
        let after = Reading {
            buckets: vec![(0.001, 100.0), (f64::INFINITY, 110.0)],
            requests: 110.0,
            rows_predicted: 7040.0,
        };
        let side = ServerSide::between("batch-64", &before, &after, Some(12.5));
        assert_eq!((side.requests, side.rows_predicted), (10, 640));
        assert_eq!(
            side.p50_ms,
            Some(1.0),
            "all ten above the last finite bound"
        );
    }
}
