//! The outside programs some integration tests need, and how such a test
//! fails, rather than passes, where one is missing.

use std::process::{Command, Stdio};

/// The outside programs that some integration tests need, each with how to
/// check that it works here and how to get it.
///
/// Such a test is marked `#[ignore = "needs <tool>"]`, so plain `cargo test`
/// needs nothing but Rust, and calls [`require`] first. `cargo test --
/// --include-ignored` (the README's test command, which `.ci/run` runs) asked for
/// it, so there a missing tool fails the test: nothing passes by skipping.
/// An empty check means the program only has to start: wrk has no option that
/// exits 0 (`wrk --version` prints its version and exits 1).
const TOOLS: &[(&str, &[&str], &str)] = &[
    (
        "docker",
        &["info"],
        "a running Docker engine and docker-compose (Debian: docker.io docker-compose)",
    ),
    (
        "docker-compose",
        &["version"],
        "Compose v1 (Debian: apt-get install docker-compose)",
    ),
    (
        "debootstrap",
        &["--version"],
        "Debian: apt-get install debootstrap (building the Locust image also needs root)",
    ),
    (
        "locust",
        &["--version"],
        "pip install -r src/lab/locust/requirements.txt (bash .ci/run puts it in a venv)",
    ),
    ("wrk", &[], "Debian: apt-get install wrk"),
    (
        "nsenter",
        &["--version"],
        "Debian: apt-get install util-linux (entering a container's network namespace also needs root)",
    ),
    (
        "nix-instantiate",
        &["--version"],
        "Debian: apt-get install nix-bin",
    ),
    ("git", &["--version"], "Debian: apt-get install git"),
    (
        "chromium",
        &["--version"],
        "Debian: apt-get install chromium chromium-driver",
    ),
    (
        "chromedriver",
        &["--version"],
        "Debian: apt-get install chromium-driver",
    ),
    (
        "unshare",
        &["--version"],
        "Debian: apt-get install util-linux iproute2 (unshare, mount, ip)",
    ),
    (
        "shellcheck",
        &["--version"],
        "Debian: apt-get install shellcheck",
    ),
    (
        "st",
        &["--version"],
        "schemathesis: pip install -r tests/schemathesis-requirements.txt (bash .ci/run puts it in a venv)",
    ),
    (
        "kubernetes-validate",
        &["--version"],
        "pip install -r tests/kubernetes-requirements.txt (bash .ci/run puts it in a venv)",
    ),
    (
        "python3",
        &["-m", "venv", "--help"],
        "Python 3 with venv (Debian: apt-get install python3-venv)",
    ),
];

/// Fails the test, with one line that says how to get it, unless `tool` (one of
/// [`TOOLS`]) runs here. Call it first in a test marked `#[ignore = "needs <tool>"]`.
pub fn require(tool: &str) {
    let Some((_, check, install)) = TOOLS.iter().find(|(name, _, _)| *name == tool) else {
        panic!("require({tool:?}): not a tool tests/common knows; add it to TOOLS");
    };
    let works = Command::new(tool)
        .args(*check)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| check.is_empty() || status.success());
    assert!(
        works,
        "this test needs `{tool}`, which does not run here (`{tool} {}` failed): {install}",
        check.join(" ")
    );
}
