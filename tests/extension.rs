//! `locust_servers.py`, the Locust extension behind the Servers tab on
//! Locust's page (issue 19), checked from three sides:
//!
//! - it names what the servers write (src/metrics.rs) and the servers the
//!   locustfile loads, with the locustfile's URL rule (plain `cargo test`);
//! - its Python unit tests pass: reading /metrics, the arithmetic over a test,
//!   what it shows (`tests/extension/`, needs Locust);
//! - it reads what a real server renders, and computes from it what the
//!   server recorded (needs Locust).
//!
//! The page itself, in a real browser, is tests/browser.rs.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::{read, root};
use wine_lab::lab::TARGETS;
use wine_lab::metrics::{self, CpuScope, Route, ServerMetrics};

fn extension() -> String {
    read("locust_servers.py")
}

/// The string assigned to `name` at the start of a line: `NAME = "value"`.
fn python_string(source: &str, name: &str) -> String {
    let prefix = format!("{name} = \"");
    let line = source
        .lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("locust_servers.py assigns no string to {name}"));
    line[prefix.len()..]
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn the_extension_names_the_metrics_the_servers_write() {
    let source = extension();
    for (name, value) in [
        ("REQUESTS_TOTAL", metrics::REQUESTS_TOTAL),
        ("REQUEST_DURATION", metrics::REQUEST_DURATION),
        ("ROWS_PREDICTED", metrics::ROWS_PREDICTED),
        ("CPU_SECONDS", metrics::CPU_SECONDS),
        ("RESIDENT_MEMORY", metrics::RESIDENT_MEMORY),
        ("START_TIME", metrics::START_TIME),
        ("ROUTE", Route::of("/predict").label()),
    ] {
        assert_eq!(python_string(&source, name), value, "{name}");
    }
}

#[test]
fn the_extension_reads_the_servers_the_locustfile_loads_by_its_rule() {
    let source = extension();
    let services: Vec<String> = TARGETS
        .iter()
        .map(|target| format!("\"{}\"", target.service))
        .collect();
    let expected = format!("SERVICES = ({})", services.join(", "));
    assert!(
        source.lines().any(|line| line == expected),
        "locust_servers.py should say {expected}"
    );
    // The locustfile's URL rule, written the same way in both files.
    let locustfile = read("locustfile.py");
    for rule in [
        "variable = service.upper().replace(\"-\", \"_\") + \"_URL\"",
        "return os.environ.get(variable, f\"http://{service}:80\").rstrip(\"/\")",
    ] {
        assert!(locustfile.contains(rule), "locustfile.py: {rule}");
        assert!(source.contains(rule), "locust_servers.py: {rule}");
    }
}

/// `python3` with Locust importable, as `.ci/run`'s venv provides it.
fn python_with_locust() -> Command {
    let works = Command::new("python3")
        .args(["-c", "import locust"])
        .output()
        .is_ok_and(|output| output.status.success());
    assert!(
        works,
        "this test needs a python3 that can import locust (bash .ci/run puts one first on PATH; \
         or: python3 -m venv v && v/bin/pip install -r tests/requirements.txt)"
    );
    let mut python = Command::new("python3");
    python.env("PYTHONPATH", root()).current_dir(root());
    python
}

#[test]
#[ignore = "needs locust"]
fn the_extensions_python_unit_tests_pass() {
    let output = python_with_locust()
        .args(["-m", "unittest", "discover", "-v", "-s", "tests/extension"])
        .output()
        .expect("run python3 -m unittest");
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{report}");
    let ran: usize = report
        .lines()
        .find_map(|line| line.strip_prefix("Ran ")?.split(' ').next()?.parse().ok())
        .unwrap_or(0);
    assert!(ran >= 10, "only {ran} tests ran: {report}");
}

#[test]
#[ignore = "needs locust"]
fn the_extension_computes_what_a_server_recorded() {
    let server = ServerMetrics::new(CpuScope::Process);
    let predict = Route::of("/predict");
    let micros = [3u64, 7, 12, 12, 40, 90];
    for &took in &micros {
        server.started();
        server.ended(predict, Some(200), Duration::from_micros(took));
        server.predicted(64);
    }
    server.started();
    server.ended(Route::of("/"), Some(200), Duration::from_secs(1));
    let scratch = tempfile::tempdir().unwrap();
    let text: PathBuf = scratch.path().join("metrics.txt");
    std::fs::write(&text, server.render()).unwrap();
    let script = r#"
import json, sys
import locust_servers as ext
after = ext.parse_metrics(open(sys.argv[1]).read(), 2.0)
figures = ext.Figures.of(ext.Delta.between(after.zero(), after), 2.0, after.rss)
print(json.dumps({**figures.__dict__, "cpu": after.cpu, "start": after.start_time}))
"#;
    let output = python_with_locust()
        .args(["-c", script])
        .arg(&text)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let number = |key: &str| got[key].as_f64().unwrap_or(f64::NAN);
    assert_eq!(number("requests"), micros.len() as f64, "{got}");
    assert_eq!(number("rows"), 64.0 * micros.len() as f64, "{got}");
    // The mean is exact: the histogram's sum over its count.
    let mean = micros.iter().sum::<u64>() as f64 / micros.len() as f64;
    assert!((number("mean_us") - mean).abs() < 1e-6, "{got}");
    // The median, 12 µs, within its bucket (1.25× apart).
    assert!(
        (12.0 / 1.25..=12.0 * 1.25).contains(&number("p50_us")),
        "{got}"
    );
    assert!(number("cpu") > 0.0 && number("rss_mib") > 1.0, "{got}");
    assert!(number("start") > 1.7e9, "{got}");
}
