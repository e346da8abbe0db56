//! Tests of the benchmark harness (bench/harness, the Python behind bench/run, ab,
//! profile and clients).
//!
//! - Its unit tests (bench/tests): the committed reports in bench/results rendered
//!   again from their JSON, and wrk's recorded output parsed. They need python3 only
//!   (standard library, no network, no wrk), so they run in plain `cargo test`.
//! - The smoke test: `bench/run --quick` completes against the binaries this `cargo
//!   test` built and writes a well-formed result file. It checks shape, never speed:
//!   the servers here are debug builds and CI machines are shared. It needs wrk
//!   (`apt-get install -y wrk`) and python3 with venv (it makes a FastAPI venv from
//!   PyPI), so it is `#[ignore = "needs wrk and python3"]`: `cargo test --test
//!   bench_smoke -- --include-ignored` runs it.

mod common;

use std::process::Command;

use serde_json::Value;

fn num(v: &Value, what: &str) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {v}"))
}

/// `python3 -m unittest discover -s bench/tests -t bench`: hermetic, about a second.
#[test]
fn harness_unit_tests_pass() {
    common::run_ok(
        Command::new("python3")
            .args([
                "-m",
                "unittest",
                "discover",
                "-s",
                "bench/tests",
                "-t",
                "bench",
            ])
            .current_dir(common::root())
            .env("PYTHONDONTWRITEBYTECODE", "1"), // no __pycache__ in the work tree
    );
}

/// `timeout --kill-after=10 300 python3 bench/<script>`: one of the harness's
/// scripts, stopped if it runs for more than five minutes.
fn bench_script(script: &str) -> Command {
    let mut command = Command::new("timeout");
    command
        .args(["--kill-after=10", "300", "python3"])
        .arg(common::root().join("bench").join(script));
    command
}

#[test]
#[ignore = "needs wrk and python3"]
fn quick_benchmark_writes_a_well_formed_result() {
    common::require("wrk");
    common::require("python3");
    // The folder holding this build's binaries (target/debug).
    let server = common::binary("wine-server");
    let bins = server.parent().expect("the binaries' folder");
    let out_dir = tempfile::tempdir().expect("create a scratch folder");
    let out = out_dir.path().join("result.json");

    // The ceiling is a cargo example (examples/ceiling.rs). A full `cargo test`
    // builds it next to the binaries; `cargo test --test bench_smoke` alone does
    // not, so build it here (a no-op when it is current). Every target runs; the
    // harness fails if one is missing.
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--example", "ceiling", "--manifest-path"])
        .arg(common::root().join("Cargo.toml"));
    if !cfg!(debug_assertions) {
        build.arg("--release"); // next to the binaries of `cargo test --release`
    }
    let built = build
        .status()
        .expect("cannot run cargo to build the ceiling example");
    assert!(built.success(), "cargo build --example ceiling failed");

    let status = bench_script("run")
        .args(["--quick", "--bin-dir"])
        .arg(bins)
        .arg("--out")
        .arg(&out)
        .status()
        .expect("cannot run timeout python3 bench/run (are coreutils and python3 on PATH?)");
    assert!(status.success(), "bench/run --quick failed: {status}");
    check_result(&common::read_json(&out));

    let md = std::fs::read_to_string(out.with_extension("md"))
        .expect("bench/run wrote no markdown table");
    assert!(
        md.starts_with("# Benchmark "),
        "markdown report has no title"
    );
    assert!(
        md.contains("| body | conns | target |"),
        "markdown report has no results table"
    );
}

fn check_result(res: &Value) {
    assert_eq!(res["schema"], "wine-lab-bench/1");
    assert_eq!(res["mode"], "quick");
    assert_eq!(res["ok"], true, "the harness saw request errors");
    assert!(
        res["machine"]["cpu_model"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "no CPU model recorded"
    );
    assert!(num(&res["machine"]["cores"], "machine.cores") >= 1.0);
    assert!(
        res["tools"]["wrk"].as_str().is_some_and(|s| !s.is_empty()),
        "no wrk version recorded"
    );

    let sk = &res["sklearn_baseline"];
    assert_eq!(
        sk["ok"], true,
        "scikit-learn baseline does not reproduce the reference predictions"
    );
    assert_eq!(sk["predictions_equal"], sk["rows"]);

    let bodies: Vec<(String, u64)> = res["bodies"]
        .as_array()
        .expect("bodies is not a list")
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap_or_default().to_owned(),
                b["rows"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let want = [
        ("no-batch", 1),
        ("batch-1", 1),
        ("batch-32", 32),
        ("batch-64", 64),
    ];
    assert_eq!(
        bodies,
        want.map(|(n, r)| (n.to_owned(), r)).to_vec(),
        "unexpected request bodies"
    );

    let targets = res["targets"].as_array().expect("targets is not a list");
    let mut seen = Vec::new();
    for t in targets {
        let name = t["name"].as_str().expect("target without a name");
        let api = t["api"].as_str().expect("target without an api");
        seen.push(format!("{name} {api}"));
        assert!(
            num(&t["cold_start_ms"], "cold_start_ms") > 0.0,
            "{name} {api}: no cold start"
        );
        assert!(
            num(&t["idle_rss_kb"], "idle_rss_kb") > 0.0,
            "{name} {api}: no idle RSS"
        );
        let cells = t["cells"].as_array().expect("cells is not a list");
        let expected_cells = if api == "no-batch" { 1 } else { 3 };
        assert_eq!(
            cells.len(),
            expected_cells,
            "{name} {api}: wrong number of cells"
        );
        for c in cells {
            let what = format!("{name} {api} {} @ {}", c["body"], c["connections"]);
            let req = num(&c["req_per_s"], "req_per_s");
            let rows = num(&c["rows_per_s"], "rows_per_s");
            assert!(req > 0.0, "{what}: no requests");
            assert!(
                (rows - req * num(&c["rows"], "rows")).abs() <= 1e-6 * rows,
                "{what}: rows/s != req/s x rows"
            );
            let lat = &c["latency_ms"];
            let (p50, p90, p99) = (
                num(&lat["p50"], "p50"),
                num(&lat["p90"], "p90"),
                num(&lat["p99"], "p99"),
            );
            assert!(
                0.0 < p50 && p50 <= p90 && p90 <= p99,
                "{what}: percentiles out of order"
            );
            assert!(
                num(&c["peak_rss_kb"], "peak_rss_kb") > 0.0,
                "{what}: no peak RSS"
            );
            assert!(
                c["cpu_us_per_req"].is_number(),
                "{what}: no CPU per request"
            );
            let per_row = num(&c["cpu_us_per_row"], "cpu_us_per_row");
            let per_req = num(&c["cpu_us_per_req"], "cpu_us_per_req");
            assert!(
                (per_row * num(&c["rows"], "rows") - per_req).abs() <= 1e-6 * per_req.max(1.0),
                "{what}: CPU per row x rows != CPU per request"
            );
        }
    }
    for name in ["ours", "fastapi", "ceiling"] {
        for api in ["no-batch", "with-batch"] {
            assert!(
                seen.contains(&format!("{name} {api}")),
                "no results for {name} {api} (got {seen:?})"
            );
        }
    }
    for name in [
        "ours-no-metrics",
        "ours-colocated",
        "ours-colocated-per-cpu",
    ] {
        assert!(
            seen.contains(&format!("{name} no-batch")),
            "no results for {name} no-batch (got {seen:?})"
        );
    }
    let goals = res["goals"].as_array().expect("goals is not a list");
    // 14 from the first issue, then the metrics cost and the co-located p99.
    assert_eq!(goals.len(), 16, "expected 16 goal lines");
    for g in goals {
        assert!(g["met"].is_boolean(), "goal {} not evaluated", g["goal"]);
    }
}

/// `bench/clients` runs the lab's sweep once per Locust set-up and tabulates them.
#[test]
#[ignore = "needs locust"]
fn clients_comparison_tabulates_each_locust_setup() {
    common::require("locust");
    let out_dir = tempfile::tempdir().expect("create a scratch folder");
    let out = out_dir.path().join("clients.json");
    let status = bench_script("clients")
        .args([
            "--users",
            "4",
            "--duration",
            "3s",
            "--configs",
            "0:http,1:fast",
        ])
        .arg("--wine-lab")
        .arg(common::binary("wine-lab"))
        .arg("--out")
        .arg(&out)
        .status()
        .expect("cannot run timeout python3 bench/clients");
    assert!(status.success(), "bench/clients failed: {status}");
    let res = common::read_json(&out);
    assert_eq!(res["schema"], "wine-lab-bench-clients/1");
    let runs = res["runs"].as_array().expect("runs is not a list");
    let setups: Vec<(u64, &str)> = runs
        .iter()
        .map(|r| {
            (
                r["workers"].as_u64().unwrap(),
                r["client"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(setups, [(0, "http"), (1, "fast")]);
    for run in runs {
        let rows = run["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "one step per set-up: {run}");
        assert_eq!(rows[0]["users"], 4);
        assert_eq!(rows[0]["failures"], 0, "{run}");
        assert!(num(&rows[0]["requests_per_s"], "requests_per_s") > 0.0);
        assert!(rows[0]["server_p50_ms"]["batch-64"].is_number(), "{run}");
    }
    let md = std::fs::read_to_string(out.with_extension("md")).unwrap();
    assert!(md.contains("| users | Locust |"), "{md}");
}

/// `bench/idle` and `bench/swarm` need Docker and minutes to run; their
/// imports and arguments are checked here (`--help`), so that a harness change
/// that breaks them fails `cargo test`, not the next benchmark.
#[test]
fn the_docker_benchmarks_load_and_describe_themselves() {
    for script in ["idle", "swarm"] {
        let output = bench_script(script)
            .arg("--help")
            .output()
            .unwrap_or_else(|e| panic!("cannot run bench/{script}: {e}"));
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && text.contains("usage:"),
            "bench/{script} --help: {output:?}"
        );
    }
}
