//! The lab's five-container stack on a real Docker engine, end to end: the images
//! built without a registry and checked against deploy/images.json, the
//! repository's own docker-compose.yml (the file users run) started under a unique
//! project name on an internal network, Locust headless inside it against the four
//! servers, each server's `GET /metrics` read over the stack's network and checked
//! against Locust's counts, a prompt exit of every server on SIGTERM, and nothing left after `down`,
//! also when a step fails. This is the only test of what users run with
//! `docker-compose up`, so a broken image, port, environment, model path or
//! shutdown path shows up here. Helpers: tests/e2e.
//!
//! The Docker tests are `#[ignore = "needs docker"]`: run them with `cargo test
//! --test compose -- --include-ignored` (add `--nocapture` to watch the phases).
//! Knobs: E2E_LOCUST_USERS (20), E2E_LOCUST_RUN_TIME (10s), E2E_STOP_LIMIT (2.0 s).

mod common;
mod e2e;

use std::time::Duration;

use e2e::images::{self, SERVER_DOCKERFILE, Spec, phase};
use e2e::project::Project;
use e2e::{locust, log, metrics, repo};

/// The request names of locustfile.py, one per server.
const REQUEST_NAMES: [&str; 4] = ["batch-1", "batch-32", "batch-64", "0:batch"];
/// The compose file's Locust service; every other service is a server.
const LOCUST_SERVICE: &str = "locust";

fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a valid value")),
        Err(_) => default,
    }
}

fn server_dockerfile() -> String {
    std::fs::read_to_string(repo().join(SERVER_DOCKERFILE)).expect("read the server Dockerfile")
}

/// The exec-form ENTRYPOINT cannot take a build argument, so the Dockerfile repeats
/// images.json's serverBinary: this keeps the copy equal.
#[test]
fn server_dockerfile_entrypoint_is_images_json_server_binary() {
    let spec = Spec::load();
    let dockerfile = server_dockerfile();
    let entrypoints: Vec<&str> = dockerfile
        .lines()
        .filter_map(|line| line.trim().strip_prefix("ENTRYPOINT "))
        .collect();
    let wanted = serde_json::json!([spec.server_binary]).to_string();
    assert_eq!(
        entrypoints
            .iter()
            .map(|e| e.replace(' ', ""))
            .collect::<Vec<_>>(),
        [wanted],
        "{SERVER_DOCKERFILE}'s ENTRYPOINT must be deploy/images.json's serverBinary"
    );
}

/// Every ARG of the Dockerfile gets a value from images.json, and no value is
/// passed that the Dockerfile ignores.
#[test]
fn server_dockerfile_takes_exactly_the_derived_build_args() {
    let spec = Spec::load();
    let dockerfile = server_dockerfile();
    let mut declared: Vec<String> = dockerfile
        .lines()
        .filter_map(|line| line.trim().strip_prefix("ARG "))
        .map(|arg| arg.split('=').next().unwrap_or_default().trim().to_owned())
        .collect();
    declared.sort();
    for variant in spec.servers.keys() {
        let mut passed: Vec<String> = spec
            .server_build_args(variant)
            .into_iter()
            .map(|(name, _)| name.to_owned())
            .collect();
        passed.sort();
        assert_eq!(
            passed, declared,
            "build args for {variant} vs the ARGs of {SERVER_DOCKERFILE}"
        );
    }
}

/// Builds (or reuses) the three images and checks them against images.json; also
/// the way to build them without Nix: `cargo test --test compose -- --ignored docker_images`.
#[test]
#[ignore = "needs docker"]
fn docker_images_match_images_json() {
    common::require("docker");
    let images = images::ready();
    log(&format!(
        "images ready: {:?}",
        images
            .spec
            .expected_configs()
            .iter()
            .map(|(tag, _)| tag)
            .collect::<Vec<_>>()
    ));
}

/// The stack users start with `docker-compose up`, under load, stopped and removed.
#[test]
#[ignore = "needs docker"]
fn five_container_stack_on_docker() {
    common::require("docker");
    common::require("docker-compose");
    let users: u32 = knob("E2E_LOCUST_USERS", 20);
    let run_time: String = knob("E2E_LOCUST_RUN_TIME", "10s".to_owned());
    let stop_limit = Duration::from_secs_f64(knob("E2E_STOP_LIMIT", 2.0));

    let images = images::ready();
    let mut project = Project::new(&repo().join("docker-compose.yml"));
    let servers: Vec<String> = project
        .services()
        .into_iter()
        .filter(|service| service != LOCUST_SERVICE)
        .collect();
    assert_eq!(
        servers.len(),
        4,
        "expected four server services besides {LOCUST_SERVICE}, found {servers:?}"
    );

    phase("start the four servers", || project.up(&servers));
    assert!(
        project.network_is_internal(),
        "the stack's network is not internal"
    );

    phase("wait until each server answers GET /", || {
        let urls: Vec<String> = servers
            .iter()
            .map(|service| format!("http://{service}:{}/", images.spec.port))
            .collect();
        for answer in project.fetch(LOCUST_SERVICE, &urls, Duration::from_secs(60)) {
            assert_eq!(
                answer.status,
                Some(200),
                "{} did not answer within 60 s: {answer:?}",
                answer.url
            );
        }
    });

    let run = phase(
        &format!("Locust headless: {users} users, {run_time}"),
        || {
            let run = locust::headless(
                &project,
                LOCUST_SERVICE,
                users,
                &run_time,
                Duration::from_secs(180),
            );
            run.summary().lines().for_each(log);
            let problems = run.problems(&REQUEST_NAMES);
            assert!(
                problems.is_empty(),
                "the Locust run failed:\n  {}",
                problems.join("\n  ")
            );
            run
        },
    );

    phase(
        "GET /metrics of each server, from the Locust container",
        || {
            let checks = metrics::check_against_locust(
                &project,
                LOCUST_SERVICE,
                &servers,
                images.spec.port,
                &run,
            );
            checks.iter().for_each(|line| log(line));
        },
    );

    phase("stop: each server exits on SIGTERM", || {
        let events = project.stop(Duration::from_secs(10));
        let mut problems = Vec::new();
        for service in &servers {
            match Project::sigterm_to_exit(&events, service) {
                Ok((took, code)) => {
                    log(&format!(
                        "  {service:<10} exited {:.3} s after SIGTERM, exit code {code}",
                        took.as_secs_f64()
                    ));
                    if took >= stop_limit {
                        problems.push(format!(
                            "{service}: took {:.3} s (limit {} s)",
                            took.as_secs_f64(),
                            stop_limit.as_secs_f64()
                        ));
                    }
                }
                Err(problem) => problems.push(problem),
            }
        }
        assert!(
            problems.is_empty(),
            "slow or unclean stop:\n  {}",
            problems.join("\n  ")
        );
    });

    phase("down: nothing of the project remains", || project.down());
}
