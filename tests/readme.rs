//! The README copies facts the code defines; these tests keep the copies true.
//!
//! Not part of the Nix build's test run (nix/package.nix), whose source holds no
//! README (documentation edits must not rebuild the binaries); read at run time,
//! not compiled in, so `cargo clippy --all-targets` still builds there.

use wine_lab::duration::Positive;
use wine_lab::server::{
    DEFAULT_BODIES_IN_MEMORY, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT,
};

fn readme() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The settings table gives the client limits' defaults as the library defines them.
#[test]
fn the_settings_table_shows_the_client_limit_defaults() {
    let readme = readme();
    for (flag, default) in [
        ("header-read-timeout", DEFAULT_HEADER_READ_TIMEOUT),
        ("body-read-timeout", DEFAULT_BODY_READ_TIMEOUT),
    ] {
        let row = readme
            .lines()
            .find(|line| line.starts_with(&format!("| `--{flag}` |")))
            .unwrap_or_else(|| panic!("README has no settings row for --{flag}"));
        let default = Positive(default).to_string();
        assert!(row.contains(&format!("| `{default}` |")), "{row}");
    }
    let row = readme
        .lines()
        .find(|line| line.starts_with("| `--max-body-memory` |"))
        .expect("README has no settings row for --max-body-memory");
    assert!(
        row.contains(&format!(
            "| {DEFAULT_BODIES_IN_MEMORY} × `--max-body-bytes` |"
        )),
        "{row}"
    );
}

/// The metrics table names every metric the servers export, as src/metrics.rs spells it.
#[test]
fn the_metrics_table_names_every_metric() {
    let readme = readme();
    use wine_lab::metrics::{
        CPU_SECONDS, IN_FLIGHT, REQUEST_DURATION, REQUESTS_TOTAL, RESIDENT_MEMORY, ROWS_PREDICTED,
        START_TIME,
    };
    for name in [
        REQUESTS_TOTAL,
        REQUEST_DURATION,
        ROWS_PREDICTED,
        IN_FLIGHT,
        START_TIME,
        CPU_SECONDS,
        RESIDENT_MEMORY,
    ] {
        assert!(
            readme
                .lines()
                .any(|line| line.starts_with(&format!("| `{name}"))),
            "README's metrics table has no row for {name}"
        );
    }
    let rendered =
        wine_lab::metrics::ServerMetrics::new(wine_lab::metrics::CpuScope::Process).render();
    for line in rendered.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split_whitespace().nth(2).unwrap_or_default();
        assert!(
            readme.contains(&format!("`{name}")),
            "README does not name {name}"
        );
    }
}
