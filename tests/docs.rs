//! The documents copy facts the code and the benchmark define; these tests
//! keep the copies true: docs/api.md's tables of the servers' settings and
//! metrics, and the README's headline figures (the newest full benchmark) and
//! the error message it quotes.
//!
//! Not part of the Nix build's test run (nix/package.nix), whose source holds no
//! documents (documentation edits must not rebuild the binaries); read at run
//! time, not compiled in, so `cargo clippy --all-targets` still builds there.

mod common;

use common::{read, read_json, root};
use wine_lab::duration::Positive;
use wine_lab::server::{
    DEFAULT_BODIES_IN_MEMORY, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT,
};

/// docs/api.md, which holds the servers' settings and metrics tables.
fn readme() -> String {
    read("docs/api.md")
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
            .unwrap_or_else(|| panic!("docs/api.md has no settings row for --{flag}"));
        let default = Positive(default).to_string();
        assert!(row.contains(&format!("| `{default}` |")), "{row}");
    }
    let row = readme
        .lines()
        .find(|line| line.starts_with("| `--max-body-memory` |"))
        .expect("docs/api.md has no settings row for --max-body-memory");
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
            "docs/api.md's metrics table has no row for {name}"
        );
    }
    let rendered =
        wine_lab::metrics::ServerMetrics::new(wine_lab::metrics::CpuScope::Process).render();
    for line in rendered.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split_whitespace().nth(2).unwrap_or_default();
        assert!(
            readme.contains(&format!("`{name}")),
            "docs/api.md does not name {name}"
        );
    }
}

/// The newest full benchmark in bench/results (a file named by its date only:
/// the others, `<date>-clients` and the like, measure other things), as its
/// name and its JSON.
fn newest_benchmark() -> (String, serde_json::Value) {
    let dir = root().join("bench/results");
    let newest = std::fs::read_dir(&dir)
        .expect("bench/results")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
        .filter(|stem| {
            stem.len() == "2026-11-29".len() && stem.bytes().filter(|&b| b == b'-').count() == 2
        })
        .max()
        .expect("a full benchmark in bench/results");
    let json = read_json(format!("bench/results/{newest}.json"));
    (newest, json)
}

/// The README's headline figures are the newest full benchmark's: the ratio
/// of requests/s to FastAPI's at 10 connections over the four bodies, and the
/// idle memory, with that file's name, date and commit beside them.
#[test]
fn the_readmes_headline_figures_are_the_newest_benchmarks() {
    let readme = read("README.md");
    let (name, bench) = newest_benchmark();
    let commit = bench["git"]["commit"].as_str().expect("its commit");
    assert!(
        readme.contains(&format!(
            "[bench/results/{name}.md](bench/results/{name}.md)"
        )) && readme.contains(&format!("commit {}", &commit[..7]))
            && readme.contains(&format!("commit {}, {name}", &commit[..7])),
        "README does not name {name}.md, its commit {commit} and date"
    );
    let ratios: Vec<f64> = bench["ratios"]
        .as_array()
        .expect("ratios")
        .iter()
        .filter(|ratio| ratio["connections"] == 10)
        .map(|ratio| ratio["ours_over_fastapi_req"].as_f64().expect("a ratio"))
        .collect();
    assert_eq!(ratios.len(), 4, "one ratio per body");
    let (low, high) = ratios
        .iter()
        .fold((f64::MAX, 0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    let range = format!("**{low:.0}–{high:.0}×**");
    assert!(readme.contains(&range), "README should say {range}");
    let idle = |target: &str| {
        bench["targets"]
            .as_array()
            .expect("targets")
            .iter()
            .filter(|t| t["name"] == target)
            .map(|t| t["idle_rss_kb"].as_f64().expect("idle RSS") / 1024.0)
            .fold(0f64, f64::max)
    };
    let memory = format!(
        "**{:.1} MiB** against {:.0} MiB",
        idle("ours"),
        idle("fastapi")
    );
    assert!(readme.contains(&memory), "README should say {memory}");
}

/// The message the README quotes for a taken port is the one wine-lab prints.
#[test]
fn the_readme_quotes_wine_labs_message_for_a_taken_port() {
    let error = wine_lab::lab::LabError::WebPortInUse {
        host: "127.0.0.1".into(),
        port: 8089,
        source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
    };
    let readme = read("README.md")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        readme.contains(&format!("`{error}`")),
        "README should quote `{error}`"
    );
}
