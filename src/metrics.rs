//! What a server says about itself at `GET /metrics`, in the Prometheus text
//! exposition format: requests by route and status, how long they took,
//! rows predicted, requests in flight, when the server started, and the CPU
//! time and memory it has used.
//!
//! The lab needs it because Locust measures Locust: at 50 users its median was
//! 17 ms for every server while the servers' own share was about 0.02 ms
//! (issue 11). The names below are the one place they are written; the tests
//! use these constants, and `locust_servers.py`, the Locust extension that
//! shows them on Locust's page, names them once more (a test keeps it in step).
//!
//! Crate: `prometheus` (tikv/rust-prometheus), default features off. Its
//! histogram records with atomic adds only (prometheus 0.14,
//! src/histogram.rs, `HistogramCore::observe`: a shard index, one bucket, the
//! sum and the count); `prometheus-client` 0.23 takes a write lock per
//! `Histogram::observe`, and `metrics-exporter-prometheus` keeps every sample
//! in a lock-free list until an upkeep task drains it. Every counter and
//! histogram a request touches is resolved once, when the server starts, so
//! a request formats no label and looks nothing up.
//!
//! CPU time and resident memory are read when `/metrics` is rendered, under
//! the names every Prometheus client uses. Not with the crate's own process
//! collector: it counts `process_cpu_seconds_total` in whole seconds
//! (prometheus 0.14, src/process_collector.rs: `(utime + stime) / CLK_TCK`
//! into an `IntCounter`; tikv/rust-prometheus issues 451 and 560, open), and
//! a lab server uses about 12 ms of CPU a second, so a 30 s step would read
//! 0 or 1. Here it is the CPU clock, to the nanosecond.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::{
    Counter, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
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
/// CPU time (user + system) this server has used, seconds: its process's,
/// or its thread's where servers share a process ([`CpuScope`]).
pub const CPU_SECONDS: &str = "process_cpu_seconds_total";
/// The process's resident memory, bytes (only with [`CpuScope::Process`]).
pub const RESIDENT_MEMORY: &str = "process_resident_memory_bytes";

/// Whose CPU time a server's [`CPU_SECONDS`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuScope {
    /// The whole process: `wine-server`, one server per process (and per
    /// container in the Docker stack). Its resident memory is reported too.
    Process,
    /// The thread that creates the metrics, which must be the only thread
    /// serving: wine-lab runs its four servers in one process, each on a
    /// thread of its own, so only a thread's clock tells them apart (and the
    /// process's memory is no one server's).
    Thread,
}

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

/// Upper bounds of the duration buckets, seconds: 1 µs times 1.25^k, up to
/// 1.28 s (64 buckets). Between two bounds a quantile is interpolated, so its
/// error is within a bucket's width: ±12%. The lab's lesson is a gap of about
/// 1.5× between batch-1's and batch-64's time per request (5–7 against
/// 15–19 µs on loopback, 18.5 against 27.4 µs in Docker, issue 19); with
/// buckets 1.5× apart, from 5 µs, the two often fell into neighbouring
/// buckets, each percentile known only within ±25%.
pub fn duration_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(1e-6, 1.25, 64).unwrap_or_default()
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
    /// The clock behind [`CPU_SECONDS`], and the counter it is copied into.
    cpu_clock: libc::clockid_t,
    cpu_seconds: Counter,
    /// [`RESIDENT_MEMORY`], with [`CpuScope::Process`].
    resident: Option<IntGauge>,
    /// One render at a time: it sets the two above from their sources.
    rendering: Mutex<()>,
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
    /// A fresh set of metrics, its start time now, its CPU time that of
    /// `scope` (for [`CpuScope::Thread`], the calling thread's).
    pub fn new(scope: CpuScope) -> Arc<Self> {
        // The names and options are constants that prometheus accepts (a
        // test builds them), so registration cannot fail.
        Arc::new(Self::build(scope).unwrap_or_else(|error| {
            unreachable!("the metrics' constant definitions are valid: {error}")
        }))
    }

    fn build(scope: CpuScope) -> prometheus::Result<Self> {
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
        let cpu_seconds = Counter::new(
            CPU_SECONDS,
            match scope {
                CpuScope::Process => "Total user and system CPU time spent in seconds.",
                CpuScope::Thread => {
                    "Total user and system CPU time spent in seconds by this server's thread (servers share this process, one thread each)."
                }
            },
        )?;
        registry.register(Box::new(cpu_seconds.clone()))?;
        let resident = match scope {
            CpuScope::Process => {
                let gauge = IntGauge::new(RESIDENT_MEMORY, "Resident memory size in bytes.")?;
                registry.register(Box::new(gauge.clone()))?;
                Some(gauge)
            }
            CpuScope::Thread => None,
        };
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
            cpu_clock: cpu_clock(scope),
            cpu_seconds,
            resident,
            rendering: Mutex::new(()),
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
        let _one_at_a_time = self
            .rendering
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(used) = cpu_time(self.cpu_clock) {
            self.cpu_seconds.reset();
            self.cpu_seconds.inc_by(used.as_secs_f64());
        }
        if let Some((resident, bytes)) = self.resident.as_ref().zip(resident_bytes()) {
            resident.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        let mut text = Vec::new();
        // Encoding to memory fails only for metric families that cannot be
        // written, which these are not.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut text);
        String::from_utf8(text).unwrap_or_default()
    }
}

/// The content type of [`ServerMetrics::render`]: version 0.0.4 of the text format.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// The CPU clock of `scope`: the process's, or the calling thread's (fixed
/// now, so that it stays that thread's wherever it is read).
fn cpu_clock(scope: CpuScope) -> libc::clockid_t {
    match scope {
        CpuScope::Process => libc::CLOCK_PROCESS_CPUTIME_ID,
        CpuScope::Thread => {
            let mut clock: libc::clockid_t = 0;
            // SAFETY: pthread_self is always valid for the calling thread, and
            // the call writes one clockid_t that we own.
            match unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) } {
                0 => clock,
                _ => libc::CLOCK_THREAD_CPUTIME_ID,
            }
        }
    }
}

/// CPU time used so far on `clock`; `None` if it cannot be read.
fn cpu_time(clock: libc::clockid_t) -> Option<Duration> {
    // SAFETY: clock_gettime writes one timespec that we own.
    let time = unsafe {
        let mut time: libc::timespec = std::mem::zeroed();
        if libc::clock_gettime(clock, &mut time) != 0 {
            return None;
        }
        time
    };
    Some(Duration::new(
        u64::try_from(time.tv_sec).ok()?,
        u32::try_from(time.tv_nsec).ok()?,
    ))
}

/// This process's resident memory, from /proc/self/statm.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident: u64 = statm.split_ascii_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
    Some(resident.saturating_mul(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definitions_are_valid() {
        assert!(ServerMetrics::build(CpuScope::Process).is_ok());
        assert!(ServerMetrics::build(CpuScope::Thread).is_ok());
    }

    #[test]
    fn buckets_span_a_microsecond_to_a_second_a_quarter_apart() {
        let buckets = duration_buckets();
        assert_eq!(buckets.first().copied(), Some(1e-6));
        assert!(buckets.last().is_some_and(|&top| top >= 1.0));
        assert!(
            buckets
                .windows(2)
                .all(|pair| (pair[1] / pair[0] - 1.25).abs() < 1e-9)
        );
    }

    #[test]
    fn records_by_route_and_status() {
        let metrics = ServerMetrics::new(CpuScope::Process);
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
        assert!(text.contains(&format!("{REQUEST_DURATION}_count{{route=\"/predict\"}} 1")));
        assert!(text.contains(START_TIME));
    }

    /// The value of the one sample named `name` in `text`.
    fn sample(text: &str, name: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
    }

    fn spin(until: Duration) {
        let cpu = cpu_clock(CpuScope::Thread);
        let start = cpu_time(cpu).unwrap();
        while cpu_time(cpu).unwrap() - start < until {
            std::hint::black_box(0u64.wrapping_add(1));
        }
    }

    #[test]
    fn a_process_reports_its_cpu_time_to_the_microsecond_and_its_memory() {
        let metrics = ServerMetrics::new(CpuScope::Process);
        let before = sample(&metrics.render(), CPU_SECONDS).unwrap();
        spin(Duration::from_millis(30));
        let text = metrics.render();
        let after = sample(&text, CPU_SECONDS).unwrap();
        // Not whole seconds (the prometheus crate's process collector would say 0).
        assert!(after - before >= 0.03, "{before} → {after}");
        assert!(after.fract() != 0.0, "{after}");
        assert!(sample(&text, RESIDENT_MEMORY).unwrap() > 1e6, "{text}");
    }

    #[test]
    fn a_thread_reports_its_own_cpu_time_only() {
        // Made on a thread that then idles, while this one works.
        let (made, metrics) = std::sync::mpsc::channel();
        let (stop, idle) = std::sync::mpsc::channel::<()>();
        let server = std::thread::spawn(move || {
            made.send(ServerMetrics::new(CpuScope::Thread)).unwrap();
            let _ = idle.recv();
        });
        let metrics = metrics.recv().unwrap();
        spin(Duration::from_millis(50));
        let text = metrics.render();
        let used = sample(&text, CPU_SECONDS).unwrap();
        assert!(
            used < 0.025,
            "the idle thread's clock counted another's work: {used}"
        );
        assert_eq!(
            sample(&text, RESIDENT_MEMORY),
            None,
            "no one server's memory"
        );
        stop.send(()).unwrap();
        server.join().unwrap();
    }

    #[test]
    fn every_path_has_a_route_label() {
        assert_eq!(Route::of("/").label(), "/");
        assert_eq!(Route::of("/metrics").label(), "/metrics");
        assert_eq!(Route::of("/predict/").label(), UNMATCHED);
        assert_eq!(Route::of(UNMATCHED).label(), UNMATCHED);
    }
}
