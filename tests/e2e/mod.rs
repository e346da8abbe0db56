//! Helpers for the end-to-end tests on a real Docker engine (tests/compose.rs):
//! outside commands with time limits ([`cmd`]), the images built from
//! deploy/images.json and checked against it ([`images`]), a Compose project that
//! cleans up after itself ([`project`]), Locust run headless inside it
//! ([`locust`]), each server's own figures as Locust's extension read them from
//! its `/metrics` ([`metrics`]), Locust's master and workers in distributed mode
//! ([`workers`]), and a single-node Docker Swarm with a stack on it ([`swarm`]).
//! Everything is Rust driving `docker` and `docker-compose`; the one script,
//! `locust-rootfs.sh`, only makes the Locust image's Debian tree.
//!
//! Kept general on purpose: every test (the stack, `/metrics`, a server or a
//! Locust worker killed mid-run, the stack stopped mid-run) uses the same pieces.

#![allow(dead_code)] // not every test binary uses every helper

pub mod cmd;
pub mod faults;
pub mod images;
pub mod locust;
pub mod metrics;
pub mod project;
pub mod swarm;
pub mod workers;

use std::process::Command;

/// The repository's root (tests/common's, under the name the e2e files use).
pub use crate::common::root as repo;

/// A test's setting from the environment (`E2E_LOCUST_USERS=50`), else `default`;
/// a value that does not parse fails the test, naming it.
pub fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a valid value")),
        Err(_) => default,
    }
}

/// `docker`, for the caller to add arguments.
pub fn docker() -> Command {
    Command::new("docker")
}

/// A progress line on stderr (shown live with `--nocapture`, and with a failure).
pub fn log(message: &str) {
    eprintln!("[e2e] {message}");
}
