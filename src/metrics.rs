//! What a server says about itself at `GET /metrics`, in the Prometheus text
//! exposition format: requests by route and status, how long they took,
//! rows predicted, requests in flight and when the server started.
//!
//! The lab needs it because Locust measures Locust: at 50 users its median was
//! 17 ms for every server while the servers' own share was about 0.02 ms
//! (issue 11). The names below are the one place they are written; the lab's
//! reader ([`crate::lab::Exposition`]) and the tests use these constants.
//!
//! Crate: `prometheus` (tikv/rust-prometheus), default features off. Its
//! histogram records with atomic adds only (prometheus 0.14,
//! src/histogram.rs, `HistogramCore::observe`: a shard index, one bucket, the
//! sum and the count); `prometheus-client` 0.23 takes a write lock per
//! `Histogram::observe`, and `metrics-exporter-prometheus` keeps every sample
//! in a lock-free list until an upkeep task drains it. Every counter and
//! histogram a request touches is resolved once, when the server starts, so
//! a request formats no label and looks nothing up.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Requests answered, by `route` and `status`.
pub const REQUESTS_TOTAL: &str = "wine_http_requests_total";
/// Seconds from the request handed over by hyper to its response body
/// handed back to hyper to write, by `route`.
pub const REQUEST_DURATION: &str = "wine_http_request_duration_seconds";
/// Rows (wines) classified.
pub const ROWS_PREDICTED: &str = "wine_rows_predicted_total";
/// Requests being handled now.
pub const IN_FLIGHT: &str = "wine_http_requests_in_flight";
/// When this server started, in seconds since the Unix epoch (the name
/// Prometheus' own clients use for it).
pub const START_TIME: &str = "process_start_time_seconds";

/// The `route` label: each route of the routers, and `unmatched` for every
/// other path (so that scanning clients cannot grow the label set).
pub const ROUTES: [&str; 6] = [
    "/",
    "/predict",
    "/openapi.json",
    "/docs",
    "/metrics",
    UNMATCHED,
];

/// The `route` label of a path no route serves.
pub const UNMATCHED: &str = "unmatched";

/// Statuses the servers answer with, resolved in advance; any other status
/// is counted through a label lookup.
const STATUSES: [u16; 8] = [200, 400, 404, 405, 413, 422, 500, 503];

/// Upper bounds of the duration buckets, seconds: 5 µs times 1.5^k, up to
/// 1.44 s (32 buckets; between two bounds a quantile is interpolated, so a
/// factor of 1.5 keeps its error within a bucket's width, at most a third).
pub fn duration_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(5e-6, 1.5, 32).unwrap_or_default()
}

/// One server's metrics and the registry that renders them.
pub struct ServerMetrics {
    registry: Registry,
    requests: IntCounterVec,
    /// `requests[route][status]`, in [`ROUTES`] and [`STATUSES`] order.
    resolved_requests: Vec<[IntCounter; STATUSES.len()]>,
    /// One histogram per route, in [`ROUTES`] order.
    durations: Vec<Histogram>,
    rows_predicted: IntCounter,
    in_flight: IntGauge,
}

/// Which route a request went to, as an index into [`ROUTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route(usize);

impl Route {
    /// The route serving `path`.
    pub fn of(path: &str) -> Route {
        Route(
            ROUTES[..ROUTES.len() - 1]
                .iter()
                .position(|route| *route == path)
                .unwrap_or(ROUTES.len() - 1),
        )
    }

    /// Its label.
    pub fn label(self) -> &'static str {
        ROUTES[self.0]
    }
}

impl ServerMetrics {
    /// A fresh set of metrics, its start time now.
    pub fn new() -> Arc<Self> {
        // The names and options are constants that prometheus accepts (a
        // test builds them), so registration cannot fail.
        Arc::new(Self::build().unwrap_or_else(|error| {
            unreachable!("the metrics' constant definitions are valid: {error}")
        }))
    }

    fn build() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(REQUESTS_TOTAL, "Requests answered, by route and status."),
            &["route", "status"],
        )?;
        let durations = HistogramVec::new(
            HistogramOpts::new(
                REQUEST_DURATION,
                "Seconds from the request's headers parsed to its response handed to the connection to write, by route.",
            )
            .buckets(duration_buckets()),
            &["route"],
        )?;
        let rows_predicted = IntCounter::new(ROWS_PREDICTED, "Rows (wines) classified.")?;
        let in_flight = IntGauge::new(IN_FLIGHT, "Requests being handled now.")?;
        let start_time = prometheus::Gauge::new(
            START_TIME,
            "Start time of the server since the Unix epoch, in seconds.",
        )?;
        start_time.set(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |since| since.as_secs_f64()),
        );
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(durations.clone()))?;
        registry.register(Box::new(rows_predicted.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        registry.register(Box::new(start_time))?;
        let resolved_requests = ROUTES
            .iter()
            .map(|route| {
                STATUSES.map(|status| requests.with_label_values(&[*route, &status.to_string()]))
            })
            .collect();
        let durations = ROUTES
            .iter()
            .map(|route| durations.with_label_values(&[*route]))
            .collect();
        Ok(ServerMetrics {
            registry,
            requests,
            resolved_requests,
            durations,
            rows_predicted,
            in_flight,
        })
    }

    /// A request has started.
    pub fn started(&self) {
        self.in_flight.inc();
    }

    /// A request has ended: answered with `status` after `took`, or, without
    /// a status, dropped before it had an answer (only in flight changes).
    pub fn ended(&self, route: Route, status: Option<u16>, took: Duration) {
        self.in_flight.dec();
        let Some(status) = status else { return };
        match STATUSES.iter().position(|known| *known == status) {
            Some(index) => self.resolved_requests[route.0][index].inc(),
            None => self
                .requests
                .with_label_values(&[route.label(), &status.to_string()])
                .inc(),
        }
        self.durations[route.0].observe(took.as_secs_f64());
    }

    /// `rows` wines have been classified.
    pub fn predicted(&self, rows: usize) {
        self.rows_predicted.inc_by(rows as u64);
    }

    /// Everything, in the Prometheus text format ([`CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        let mut text = Vec::new();
        // Encoding to memory fails only for metric families that cannot be
        // written, which these are not.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut text);
        String::from_utf8(text).unwrap_or_default()
    }
}

/// The content type of [`ServerMetrics::render`]: version 0.0.4 of the text format.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definitions_are_valid() {
        assert!(ServerMetrics::build().is_ok());
    }

    #[test]
    fn buckets_span_5_microseconds_to_a_second() {
        let buckets = duration_buckets();
        assert_eq!(buckets.first().copied(), Some(5e-6));
        assert!(buckets.last().is_some_and(|&top| top >= 1.0));
    }

    #[test]
    fn records_by_route_and_status() {
        let metrics = ServerMetrics::new();
        metrics.started();
        metrics.started();
        metrics.ended(Route::of("/predict"), Some(200), Duration::from_micros(30));
        metrics.ended(
            Route::of("/no/such/path"),
            Some(418),
            Duration::from_micros(7),
        );
        metrics.predicted(64);
        let text = metrics.render();
        assert!(
            text.contains(&format!(
                "{REQUESTS_TOTAL}{{route=\"/predict\",status=\"200\"}} 1"
            )),
            "{text}"
        );
        assert!(text.contains(&format!(
            "{REQUESTS_TOTAL}{{route=\"unmatched\",status=\"418\"}} 1"
        )));
        assert!(text.contains(&format!("{ROWS_PREDICTED} 64")));
        assert!(text.contains(&format!("{IN_FLIGHT} 0")));
        assert!(
            text.contains(&format!(
                "{REQUEST_DURATION}_bucket{{route=\"/predict\",le=\"0.0000337500\"}} 1"
            )) || text.contains(&format!("{REQUEST_DURATION}_count{{route=\"/predict\"}} 1"))
        );
        assert!(text.contains(START_TIME));
    }

    #[test]
    fn every_path_has_a_route_label() {
        assert_eq!(Route::of("/").label(), "/");
        assert_eq!(Route::of("/metrics").label(), "/metrics");
        assert_eq!(Route::of("/predict/").label(), UNMATCHED);
        assert_eq!(Route::of(UNMATCHED).label(), UNMATCHED);
    }
}
