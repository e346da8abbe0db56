//! The lab's five-container stack on a real Docker engine, end to end: the images
//! built without a registry and checked against deploy/images.json, the
//! repository's own docker-compose.yml (the file users run) started under a unique
//! project name on an internal network, Locust headless inside it against the four
//! servers, each server's `GET /metrics` read over the stack's network and checked
//! against Locust's counts, a prompt exit of every server on SIGTERM, and nothing left after `down`,
//! also when a step fails; then faults (a server or the whole stack stopped
//! mid-run), and Locust distributed with docker-compose.workers.yml (a master and
//! two workers, one of them killed mid-run). This is the only test of what users
//! run with `docker-compose up`, so a broken image, port, environment, model path
//! or shutdown path shows up here. Helpers: tests/e2e.
//!
//! The Docker tests are `#[ignore = "needs docker"]`: run them with `cargo test
//! --test compose -- --include-ignored` (add `--nocapture` to watch the phases).
//! Knobs: E2E_LOCUST_USERS (20), E2E_LOCUST_RUN_TIME (10s), E2E_STOP_LIMIT (2.0 s),
//! E2E_WORKER_MISSING_AFTER (5.0 s); more in docs/docker.md.

mod common;
mod e2e;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use e2e::faults::{self, Lone};
use e2e::images::{self, LOCUST_DOCKERFILE, SERVER_DOCKERFILE, Spec, phase};
use e2e::project::{self, Project};
use e2e::{cmd, docker, knob, locust, log, metrics, repo, workers};

/// The request names of locustfile.py, one per server.
const REQUEST_NAMES: [&str; 4] = ["batch-1", "batch-32", "batch-64", "0:batch"];
/// The compose file's Locust service; every other service is a server.
const LOCUST_SERVICE: &str = "locust";
/// The distributed Locust: the overlay over docker-compose.yml, and its worker service.
const WORKERS_OVERLAY: &str = "docker-compose.workers.yml";
const WORKER_SERVICE: &str = "locust-worker";

/// One Docker test at a time: each starts containers and measures seconds, and
/// two at once on a small machine would disturb each other's timings.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static DOCKER: Mutex<()> = Mutex::new(());
    DOCKER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The start of every test of a whole stack: Docker and Compose are required,
/// the images are built or reused, and no other Docker test runs meanwhile.
fn stack_test() -> (&'static images::Images, MutexGuard<'static, ()>) {
    common::require("docker");
    common::require("docker-compose");
    let images = images::ready();
    (images, one_at_a_time())
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

/// HEALTHCHECK expands no build arguments, so the server Dockerfile writes
/// images.json's healthcheck out: this keeps the copy equal.
#[test]
fn server_dockerfile_healthcheck_is_images_json_healthcheck() {
    let spec = Spec::load();
    let dockerfile = server_dockerfile();
    let healthchecks: Vec<&str> = dockerfile
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("HEALTHCHECK"))
        .collect();
    assert_eq!(
        healthchecks,
        [spec.dockerfile_healthcheck()],
        "{SERVER_DOCKERFILE}'s HEALTHCHECK must be deploy/images.json's healthcheck"
    );
}

/// The ARG names a Dockerfile declares, sorted.
fn declared_build_args(dockerfile: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join(dockerfile))
        .unwrap_or_else(|e| panic!("read {dockerfile}: {e}"));
    let mut declared: Vec<String> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("ARG "))
        .map(|arg| arg.split('=').next().unwrap_or_default().trim().to_owned())
        .collect();
    declared.sort();
    declared
}

/// The Locust image takes its user from images.json, like the servers.
#[test]
fn locust_dockerfile_takes_exactly_the_derived_build_args() {
    let mut passed: Vec<String> = Spec::load()
        .locust_build_args()
        .into_iter()
        .map(|(name, _)| name.to_owned())
        .collect();
    passed.sort();
    assert_eq!(passed, declared_build_args(LOCUST_DOCKERFILE));
}

/// The tests tag their images in a repository of their own, derived from
/// images.json's: never the lab's (the tags users run), the same for every run of
/// this checkout, and another for another checkout.
#[test]
fn test_repository_is_the_checkouts_own_and_not_the_labs() {
    let spec = Spec::load();
    let test = &spec.test_repository;
    assert_ne!(*test, spec.repository);
    assert!(
        test.starts_with(&format!("{}-test-", spec.repository)),
        "{test}"
    );
    assert_eq!(*test, images::test_repository(&spec.repository, repo()));
    assert_eq!(*test, Spec::load().test_repository, "stable for a checkout");
    let elsewhere = tempfile::tempdir().expect("a scratch folder");
    assert_ne!(
        *test,
        images::test_repository(&spec.repository, elsewhere.path()),
        "another checkout's"
    );
    for (test_tag, lab_tag) in spec.test_tags().iter().zip(spec.lab_tags()) {
        assert!(test_tag.starts_with(&format!("{test}:")), "{test_tag}");
        assert_eq!(spec.test_image_for(&lab_tag).as_ref(), Some(test_tag));
    }
    assert_eq!(
        spec.test_image_for(&format!("{}:other", spec.repository)),
        None
    );
    assert_eq!(spec.test_image_for("python:3"), None);
    // The caches are neither the lab's tags nor the test's, which are removed.
    for cache in [
        spec.locust_cache_tag("0123"),
        spec.server_cache_tag("no-batch"),
    ] {
        for repository in [&spec.repository, test] {
            assert!(!cache.starts_with(&format!("{repository}:")), "{cache}");
        }
    }
}

/// Every project a test starts from the repository's compose files runs the
/// test tags: the override Project adds gives each service of docker-compose.yml
/// and docker-compose.workers.yml the test tag of the lab's image it names.
#[test]
fn compose_projects_run_the_test_tags_not_the_labs() {
    let spec = Spec::load();
    let files = [
        repo().join("docker-compose.yml"),
        repo().join(WORKERS_OVERLAY),
    ];
    let text = project::test_images_override(&spec, &files);
    let override_yaml: serde_json::Value = yaml_serde::from_str(&text).expect("YAML");
    let images: BTreeMap<&str, &str> = override_yaml["services"]
        .as_object()
        .expect("services")
        .iter()
        .map(|(name, service)| (name.as_str(), service["image"].as_str().expect("an image")))
        .collect();
    let mut expected = BTreeMap::new();
    for file in &files {
        let compose: serde_json::Value =
            yaml_serde::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        for (name, service) in compose["services"].as_object().unwrap() {
            if let Some(image) = service["image"].as_str() {
                let (_, tag) = image.rsplit_once(':').unwrap();
                expected.insert(name.clone(), format!("{}:{tag}", spec.test_repository));
            }
        }
    }
    let expected: BTreeMap<&str, &str> = expected
        .iter()
        .map(|(name, image)| (name.as_str(), image.as_str()))
        .collect();
    assert_eq!(images, expected);
    assert_eq!(images.len(), 6, "five services and the worker: {images:?}");
}

/// Builds (or reuses) the three images under the tests' own tags and checks them
/// against images.json; with `WINE_LAB_TAG_IMAGES=1` also the way to build the
/// lab's images without Nix: `WINE_LAB_TAG_IMAGES=1 cargo test --test compose --
/// --ignored docker_images`.
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
    let _docker = one_at_a_time();
    let mut project = Project::new(&repo().join("docker-compose.yml"));
    let servers = servers_of(&project);

    phase("start the four servers", || project.up(&servers));
    assert!(
        project.network_is_internal(),
        "the stack's network is not internal"
    );
    // The compose file names the lab's tags; the test runs its own.
    let test_tags: Vec<String> = images.spec.test_tags();
    for service in &servers {
        let image = project.image_of(service);
        assert!(
            test_tags.contains(&image),
            "{service} runs {image}, not one of the test's tags {test_tags:?}"
        );
    }

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
        "the servers' own figures, as locust_servers.py read them from /metrics",
        || {
            let checks = metrics::check_against_locust(&run);
            checks.iter().for_each(|line| log(line));
        },
    );

    phase("stop: each server exits on SIGTERM", || {
        let events = project.stop(Duration::from_secs(10));
        let mut problems = Vec::new();
        for service in &servers {
            match faults::stop_to_exit(&events, service, faults::signal_number("SIGTERM")) {
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

/// The seed lab's own locustfile, as the course gives it (its URLs written
/// out, no environment variables), runs unchanged in the stack with the
/// Servers tab's extension beside it, as the compose command loads it: every
/// name served, and the servers' own figures written (issue 19).
#[test]
#[ignore = "needs docker and the seed lab beside the repository"]
fn the_seeds_own_locustfile_runs_with_the_servers_tab_beside_it() {
    common::require("docker");
    common::require("docker-compose");
    let seed = common::seed_blocks(&common::seed_lab(), "python", "from locust import");
    assert_eq!(seed.len(), 1, "one complete locustfile in the seed");
    let images = images::ready();
    let _docker = one_at_a_time();
    let project = Project::new(&repo().join("docker-compose.yml"));
    let locustfile = project.run_dir().join("seed_locustfile.py");
    std::fs::write(&locustfile, &seed[0]).expect("write the seed's locustfile");
    let servers = servers_of(&project);
    phase("start the four servers", || project.up(&servers));
    let urls: Vec<String> = servers
        .iter()
        .map(|service| format!("http://{service}:{}/", images.spec.port))
        .collect();
    for answer in project.fetch(LOCUST_SERVICE, &urls, Duration::from_secs(60)) {
        assert_eq!(answer.status, Some(200), "{answer:?}");
    }
    let run = phase("the seed's locustfile, headless, 10 users, 8 s", || {
        // Over the repository's locustfile, at the path the compose command loads.
        let mount = format!("{}:/mnt/locust/locustfile.py:ro", locustfile.display());
        locust::headless_with(
            &project,
            LOCUST_SERVICE,
            10,
            "8s",
            &["-v".to_owned(), mount],
            Duration::from_secs(120),
        )
    });
    run.summary().lines().for_each(log);
    let problems = run.problems(&REQUEST_NAMES);
    assert!(problems.is_empty(), "the seed's locustfile: {problems:?}");
    metrics::check_against_locust(&run)
        .iter()
        .for_each(|line| log(line));
}

// ── Hardened images and faults (issue 12) ───────────────────────────────────

/// The server images as deploy/images.json defines them, seen in real containers:
/// every process runs as the image's user, port 80 binds without root, the root
/// file system can be read-only because the server writes nothing, and the
/// image's health check passes within 2 s of its start.
#[test]
#[ignore = "needs docker"]
fn server_images_run_unprivileged_read_only_and_serve_within_2_s() {
    common::require("docker");
    let images = images::ready();
    let _docker = one_at_a_time();
    let spec = &images.spec;
    let limit: f64 = knob("E2E_HEALTHY_LIMIT", 2.0);
    let mut problems = Vec::new();
    for variant in spec.servers.keys() {
        let tag = spec.server_tag(variant);
        // No network but loopback, which is all the health check uses.
        let server = Lone::run("health", &["--read-only", "--network", "none"], &tag);
        let took = faults::wait_healthy(&server.id, Duration::from_secs(10)).seconds_after_start;
        let users = faults::process_users(&server.id);
        let read_only = faults::inspect(&server.id, "{{.HostConfig.ReadonlyRootfs}}");
        let changed = faults::changed_files(&server.id);
        let listening = format!("address={}:{}", spec.host, spec.port);
        let logs = server.logs();
        log(&format!(
            "  {tag}: its health check passed {took:.3} s after start; processes as {users:?}; \
             read-only root {read_only}; files changed {changed:?}"
        ));
        if took >= limit {
            problems.push(format!(
                "{tag}: its health check passed {took:.3} s after start (limit {limit} s)"
            ));
        }
        if users.is_empty() || users.iter().any(|user| *user != spec.user) {
            problems.push(format!(
                "{tag}: processes run as {users:?}, not {}",
                spec.user
            ));
        }
        if read_only != "true" {
            problems.push(format!("{tag}: root file system not read-only"));
        }
        if !changed.is_empty() {
            problems.push(format!("{tag}: the server changed files: {changed:?}"));
        }
        if !logs.contains(&listening) {
            problems.push(format!("{tag}: no `{listening}` in its log:\n{logs}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A server held to 32 MiB (no swap) serves a 1,000-connection wrk run without
/// one error and is not OOM-killed. The container has no network but loopback;
/// this machine's wrk joins its network namespace (`nsenter`, root) and loads
/// 127.0.0.1:80 there. Why not a port published on 127.0.0.1: Docker's publish
/// path itself cut a few dozen of 1,000 connections per 10 s run (wrk read
/// errors), with or without the memory limit, while the server on the host's
/// loopback and inside its namespace had none.
#[test]
#[ignore = "needs docker"]
fn server_held_to_32_mib_serves_1000_connections_without_errors() {
    common::require("docker");
    common::require("wrk");
    common::require("nsenter");
    let images = images::ready();
    let _docker = one_at_a_time();
    let spec = &images.spec;
    let connections: u32 = knob("E2E_WRK_CONNECTIONS", 1000);
    let duration = Duration::from_secs(knob("E2E_WRK_SECONDS", 10));
    let server = Lone::run(
        "memory",
        &[
            "--read-only",
            "--network",
            "none",
            "--memory",
            "32m",
            "--memory-swap",
            "32m",
        ],
        &spec.server_tag("with-batch"),
    );
    faults::wait_healthy(&server.id, Duration::from_secs(10));
    let pid = faults::inspect(&server.id, "{{.State.Pid}}");
    let url = format!("http://127.0.0.1:{}/predict", spec.port);

    // locustfile.py's largest request, batch-64.
    let body = serde_json::json!({ "batches": vec![vec![1.0; 13]; 64] }).to_string();
    let scratch = tempfile::tempdir().expect("create a scratch folder");
    let script = scratch.path().join("predict.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = '{body}'\n\
             wrk.headers[\"Content-Type\"] = \"application/json\"\n"
        ),
    )
    .expect("write the wrk script");
    let text = phase(
        &format!("wrk: {connections} connections, {} s", duration.as_secs()),
        || faults::wrk_inside(&pid, &url, connections, duration, &script),
    );
    text.lines().for_each(|line| log(&format!("  {line}")));
    let (requests, errors) = faults::wrk_outcome(&text);
    let state = faults::state(&server.id);
    let peak = faults::peak_memory_bytes(&server.id);
    log(&format!(
        "  peak memory of the container: {}",
        peak.map_or("not shown on this machine".to_owned(), |bytes| format!(
            "{:.1} MiB of 32 MiB",
            bytes as f64 / 1048576.0
        ))
    ));
    assert!(requests > 0, "wrk completed no request:\n{text}");
    assert!(errors.is_empty(), "wrk saw errors: {errors:?}\n{text}");
    assert!(
        state.status == "running" && !state.oom_killed,
        "the server did not survive: {state:?}\n{}",
        cmd::tail(&server.logs(), 20)
    );
}

/// The project's server services: all but Locust's (master and workers); four.
fn servers_of(project: &Project) -> Vec<String> {
    let servers: Vec<String> = project
        .services()
        .into_iter()
        .filter(|service| service != LOCUST_SERVICE && service != WORKER_SERVICE)
        .collect();
    assert_eq!(
        servers.len(),
        4,
        "expected four server services besides Locust's, found {servers:?}"
    );
    servers
}

/// The project's four servers up and healthy; their container IDs by service.
fn healthy_servers(project: &Project) -> BTreeMap<String, String> {
    let servers = servers_of(project);
    phase("start the four servers, wait until healthy", || {
        project.up(&servers);
        assert!(
            project.network_is_internal(),
            "the stack's network is not internal"
        );
        servers
            .into_iter()
            .map(|service| {
                let id = project.container(&service);
                faults::wait_healthy(&id, Duration::from_secs(30));
                (service, id)
            })
            .collect()
    })
}

/// `docker kill` of one server while Locust runs: Locust sees that name stop
/// (no request to it succeeds while it is down), any failures are that name's
/// only, the other three keep 0 failures, and after `docker start` the name
/// serves again within 2 s (a fresh request from inside the stack gets a 200,
/// and Locust records no failure for it from then on).
///
/// Whether Locust counts failures for the killed name at all depends on timing:
/// a request in flight at the kill fails; later ones mostly wait (the lookup of a
/// stopped container's name on an internal network takes 10 s to fail, longer
/// than the outage) and succeed after the restart.
#[test]
#[ignore = "needs docker"]
fn killing_one_server_mid_run_fails_only_its_name_and_it_serves_again_within_2_s() {
    let (images, _docker) = stack_test();
    let users: u32 = knob("E2E_LOCUST_USERS", 20);
    let limit: f64 = knob("E2E_SERVES_AGAIN_LIMIT", 2.0);
    // Request name and service are the same word for the with-batch servers.
    let victim = "batch-32";
    let mut project = Project::new(&repo().join("docker-compose.yml"));
    let servers = healthy_servers(&project);
    let victim_id = servers[victim].clone();
    let locust_container = format!("{}-locust-kill", project.name);
    let extra = ["--name", &locust_container].map(str::to_owned);
    let url = format!("http://{victim}:{}/", images.spec.port);

    let (run, (killed_at, restarted_at, served_at)) = locust::during_run(
        &project,
        LOCUST_SERVICE,
        users,
        "16s",
        &extra,
        &REQUEST_NAMES,
        || {
            let killed_at = faults::now_seconds();
            phase(&format!("docker kill {victim}, 2 s down"), || {
                cmd::run(docker().args(["kill", &victim_id]), Duration::from_secs(60));
                std::thread::sleep(Duration::from_secs(2));
            });
            std::thread::scope(|scope| {
                let poller = scope
                    .spawn(|| faults::first_200(&locust_container, &url, Duration::from_secs(10)));
                // Time for `docker exec` to start the poller, which then tries every 50 ms.
                std::thread::sleep(Duration::from_secs(1));
                let restarted_at = faults::now_seconds();
                cmd::run(
                    docker().args(["start", &victim_id]),
                    Duration::from_secs(60),
                );
                let served_at = poller.join().expect("the poller thread");
                (killed_at, restarted_at, served_at)
            })
        },
    );

    run.summary().lines().for_each(log);
    let mut problems = Vec::new();
    match served_at {
        Some(at) => {
            log(&format!(
                "  {victim} answered 200 {:.3} s after `docker start` was called",
                at - restarted_at
            ));
            if at - restarted_at >= limit {
                problems.push(format!(
                    "{victim} served again {:.3} s after docker start (limit {limit} s)",
                    at - restarted_at
                ));
            }
        }
        None => problems.push(format!(
            "{victim} did not answer within 10 s of docker start"
        )),
    }
    if run.stats.is_empty() {
        problems.push(format!(
            "Locust wrote no stats:\n{}",
            cmd::tail(&run.log(), 30)
        ));
    }
    for name in REQUEST_NAMES {
        match run.stats.get(name) {
            None => problems.push(format!("no row for {name}")),
            Some(row) if name != victim && row.failures != 0 => {
                problems.push(format!("{name} had {} failures", row.failures))
            }
            Some(row) if row.requests == 0 => problems.push(format!("{name} got no requests")),
            Some(_) => {}
        }
    }
    let elsewhere: Vec<&String> = run
        .failures
        .iter()
        .filter(|failure| !failure.starts_with(&format!("{victim}: ")))
        .collect();
    if !elsewhere.is_empty() {
        problems.push(format!("failures under other names: {elsewhere:?}"));
    }
    log(&format!("  failures: {:?}", run.failures));

    // Locust's own view, from its per-second history of the victim's totals.
    let history: Vec<locust::HistoryRow> = locust::history(project.run_dir())
        .into_iter()
        .filter(|row| row.name == victim)
        .collect();
    // Rows written while it was down: at or after the kill, a second before the restart.
    let down: Vec<u64> = history
        .iter()
        .filter(|row| {
            row.timestamp as f64 >= killed_at.ceil() && row.timestamp as f64 + 1.0 <= restarted_at
        })
        .map(|row| row.requests - row.failures)
        .collect();
    log(&format!(
        "  {victim} in Locust while down ({:.1} s): successes {down:?}",
        restarted_at - killed_at
    ));
    if down.len() < 2 || down.iter().any(|&successes| successes != down[0]) {
        problems.push(format!(
            "Locust should have seen {victim} down (no success for 2 rows or more): {down:?}"
        ));
    }
    let settled = (restarted_at + limit).ceil() as u64;
    let at_restart = history
        .iter()
        .find(|row| row.timestamp as f64 >= restarted_at.floor());
    let after = history.iter().find(|row| row.timestamp >= settled);
    match (at_restart, after, history.last()) {
        (Some(at_restart), Some(after), Some(last)) => {
            log(&format!(
                "  {victim} in Locust: {} requests/{} failures at restart, {}/{} {limit} s later, {}/{} at the end",
                at_restart.requests,
                at_restart.failures,
                after.requests,
                after.failures,
                last.requests,
                last.failures
            ));
            if last.failures != after.failures {
                problems.push(format!(
                    "Locust recorded {} {victim} failures more than {limit} s after the restart",
                    last.failures - after.failures
                ));
            }
            if last.requests <= at_restart.requests {
                problems.push(format!("Locust made no {victim} request after the restart"));
            }
        }
        _ => problems.push(format!(
            "Locust's history does not cover the restart: {history:?}"
        )),
    }
    faults::wait_healthy(&victim_id, Duration::from_secs(10));
    log(&format!("  {victim} passes its health check again"));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    phase("down: nothing of the project remains", || project.down());
}

/// `docker stop` of the whole stack (the four servers and Locust at once) in the
/// middle of a headless run: Locust exits on the image's stop signal (SIGINT,
/// see deploy/images.json) without needing SIGKILL and still writes every report
/// it was asked for, whole (the CSVs parse to the last row, the HTML report is
/// complete), with no failure: the servers, stopping, serve on until Locust has
/// stopped its users.
#[test]
#[ignore = "needs docker"]
fn stopping_the_stack_mid_run_loses_no_locust_report() {
    let (images, _docker) = stack_test();
    let users: u32 = knob("E2E_LOCUST_USERS", 20);
    let stop_signal = faults::signal_number(&images.spec.locust_stop_signal);
    let mut project = Project::new(&repo().join("docker-compose.yml"));
    healthy_servers(&project);
    let locust_container = format!("{}-locust-stop", project.name);
    let extra = [
        "--name",
        &locust_container,
        "-e",
        "LOCUST_HTML=/out/report.html",
    ]
    .map(str::to_owned);

    let (run, events) = locust::during_run(
        &project,
        LOCUST_SERVICE,
        users,
        "120s",
        &extra,
        &REQUEST_NAMES,
        || {
            phase("docker stop: the whole stack at once", || {
                let containers = project.running_containers();
                assert_eq!(
                    containers.len(),
                    5,
                    "four servers and Locust: {containers:?}"
                );
                let since = SystemTime::now();
                cmd::run(
                    docker().args(["stop", "--time", "10"]).args(&containers),
                    Duration::from_secs(60),
                );
                project.events(since, SystemTime::now())
            })
        },
    );

    let mut problems = Vec::new();
    match faults::stop_to_exit(&events, LOCUST_SERVICE, stop_signal) {
        Ok((took, code)) => log(&format!(
            "  Locust exited {:.3} s after its stop signal ({}), exit code {code}",
            took.as_secs_f64(),
            images.spec.locust_stop_signal
        )),
        Err(problem) => problems.push(problem),
    }
    if run.output.status.code() != Some(0) {
        problems.push(format!("Locust exited {:?}", run.output.status));
    }
    problems.extend(report_problems(project.run_dir()));
    assert!(
        problems.is_empty(),
        "{}\nLocust's output ends:\n{}",
        problems.join("\n"),
        cmd::tail(&run.log(), 20)
    );
    phase("down: nothing of the project remains", || project.down());
}

// ── Stopping the stack every way users do (issue 20) ───────────────────────

/// How users stop the stack (README.md, docs/docker.md, nix/apps.nix).
#[derive(Clone, Copy, Debug)]
enum Way {
    /// Ctrl-C on `docker-compose up` in the foreground.
    CtrlCOnUp,
    /// `docker-compose stop`.
    ComposeStop,
    /// `docker-compose down`, which is also what `arion down` runs (over the
    /// compose file Arion generates, which tests/nix keeps equal to ours).
    ComposeDown,
    /// `nix run .#down` of a stack `nix run .#up-workers` started: `down
    /// --remove-orphans` with the base file only, the workers as orphans.
    NixRunDownOfWorkers,
}

/// Over the stack's own Locust (web UI mode, as students run it): start a
/// test at once, 20 users, every report written to the run folder.
fn autostart_override(run_dir: &std::path::Path, workers: usize) -> String {
    let expect_workers = match workers {
        0 => String::new(),
        count => format!("      LOCUST_EXPECT_WORKERS: \"{count}\"\n"),
    };
    format!(
        "services:\n  locust:\n    environment:\n      LOCUST_AUTOSTART: \"true\"\n      \
         LOCUST_USERS: \"20\"\n      LOCUST_SPAWN_RATE: \"20\"\n{expect_workers}      \
         LOCUST_CSV: /out/stats\n      LOCUST_CSV_FULL_HISTORY: \"true\"\n      \
         LOCUST_HTML: /out/report.html\n    volumes:\n      - {}:/out\n",
        run_dir.display()
    )
}

/// The reports Locust was asked for, each whole, after a stop mid-run, and no
/// failure in them: what a stop must never lose or add. Logs what it found.
fn report_problems(dir: &std::path::Path) -> Vec<String> {
    let mut problems = Vec::new();
    for file in [
        "stats_stats.csv",
        "stats_failures.csv",
        "stats_exceptions.csv",
        "stats_stats_history.csv",
        "stats_servers.csv",
        "report.html",
    ] {
        let size = std::fs::metadata(dir.join(file)).map_or(0, |m| m.len());
        log(&format!("  {file}: {size} bytes"));
        if size == 0 {
            problems.push(format!("{file} is missing or empty"));
        }
    }
    // Parsed to the last row: a cut-off one fails here.
    let stats = locust::stats(dir);
    let failures = locust::failures(dir);
    for name in REQUEST_NAMES.iter().copied().chain(["Aggregated"]) {
        match stats.get(name) {
            Some(row) if row.requests == 0 => problems.push(format!("no requests for {name}")),
            Some(row) if row.failures != 0 => {
                problems.push(format!("{name}: {} failures", row.failures))
            }
            Some(row) => log(&format!(
                "  {name:<10} {} requests, 0 failures",
                row.requests
            )),
            None => problems.push(format!("stats_stats.csv has no row for {name}")),
        }
    }
    if !failures.is_empty() {
        problems.push(format!("failures: {failures:?}"));
    }
    let history_total = locust::history(dir)
        .iter()
        .filter(|row| row.name == "Aggregated")
        .map(|row| row.requests)
        .max()
        .unwrap_or(0);
    let final_total = stats.get("Aggregated").map_or(0, |row| row.requests);
    if final_total < history_total {
        problems.push(format!(
            "stats_stats.csv counts {final_total} requests, fewer than the history's \
             {history_total}: not the final write"
        ));
    }
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap_or_default();
    if !report.trim_end().ends_with("</html>") {
        problems.push("report.html is cut off".to_owned());
    }
    problems
}

/// The stack started as users start it for `way` (with 2 Locust workers for
/// `nix run .#up-workers`), a test running in Locust's web UI mode, then
/// stopped that way mid-run: Locust exits on its stop signal, 0, without
/// SIGKILL; every report is there and whole, with 0 failures.
fn stop_mid_run(way: Way) {
    let (images, _docker) = stack_test();
    let workers = match way {
        Way::NixRunDownOfWorkers => 2,
        _ => 0,
    };
    let overlays = [repo().join(WORKERS_OVERLAY)];
    let mut project = Project::with_overlays(
        &repo().join("docker-compose.yml"),
        &overlays
            .iter()
            .take(workers.min(1))
            .map(|p| p.as_path())
            .collect::<Vec<_>>(),
    );
    let autostart = autostart_override(project.run_dir(), workers);
    project.add_override("autostart.yml", &autostart);
    let mut up = project.compose();
    up.arg("up");
    if workers > 0 {
        up.args(["--scale", &format!("{WORKER_SERVICE}={workers}")]);
    }
    let dir = project.run_dir().to_path_buf();
    let log_file = std::fs::File::create(dir.join("compose-up.log")).expect("compose's log");
    let mut foreground = None;
    // The servers first, serving: Compose starts Locust before them (their
    // `links`), and a test started at once would find one not yet listening.
    // A student presses Start on a page that has been up for a while.
    healthy_servers(&project);
    phase(&format!("{way:?}: up, a test running in Locust"), || {
        if matches!(way, Way::CtrlCOnUp) {
            let child = up
                .stdout(log_file.try_clone().expect("the log"))
                .stderr(log_file)
                .spawn()
                .expect("start docker-compose up");
            foreground = Some(child);
        } else {
            up.arg("--detach");
            cmd::run(&mut up, Duration::from_secs(120));
        }
        assert!(
            locust::wait_for_requests(&dir, &REQUEST_NAMES, Duration::from_secs(90), || true),
            "Locust's test did not get going"
        );
    });
    let since = SystemTime::now();
    phase(&format!("{way:?}: stop"), || match way {
        Way::CtrlCOnUp => {
            let child = foreground.as_mut().expect("the foreground compose");
            common::signal(child.id(), libc::SIGINT);
            let status = common::wait_with_timeout(child, Duration::from_secs(60));
            log(&format!("  docker-compose up ended: {status:?}"));
        }
        Way::ComposeStop => {
            cmd::run(project.compose().arg("stop"), Duration::from_secs(60));
        }
        Way::ComposeDown => {
            cmd::run(project.compose().arg("down"), Duration::from_secs(60));
        }
        Way::NixRunDownOfWorkers => {
            let base_only = |file: &std::path::Path| {
                file.ends_with("docker-compose.yml") || file.ends_with("internal-network.yml")
            };
            cmd::run(
                project
                    .compose_with(base_only)
                    .args(["down", "--remove-orphans"]),
                Duration::from_secs(60),
            );
        }
    });
    let events = project.events(since, SystemTime::now());
    let stop_signal = faults::signal_number(&images.spec.locust_stop_signal);
    let mut problems = Vec::new();
    for event in &events {
        if matches!(event.action.as_str(), "kill" | "die") {
            log(&format!(
                "  {:.3} s {:<14} {} {}",
                (event.time_nano as f64 / 1e9)
                    - since
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs_f64(),
                event.service().unwrap_or("?"),
                event.action,
                event
                    .attribute("signal")
                    .or(event.attribute("exitCode"))
                    .unwrap_or("")
            ));
        }
    }
    match faults::stop_to_exit(&events, LOCUST_SERVICE, stop_signal) {
        Ok((took, code)) => {
            log(&format!(
                "  Locust exited {:.3} s after its {}, exit code {code}",
                took.as_secs_f64(),
                images.spec.locust_stop_signal
            ));
            if code != "0" {
                problems.push(format!("Locust exited {code}"));
            }
        }
        Err(problem) => problems.push(problem),
    }
    problems.extend(report_problems(&dir));
    assert!(
        problems.is_empty(),
        "{way:?}:\n{}\ndocker-compose up said:\n{}",
        problems.join("\n"),
        cmd::tail(
            &std::fs::read_to_string(dir.join("compose-up.log")).unwrap_or_default(),
            30
        )
    );
    phase("down: nothing of the project remains", || project.down());
}

/// Ctrl-C on `docker-compose up` mid-test keeps every report, with no failure.
#[test]
#[ignore = "needs docker"]
fn ctrl_c_on_docker_compose_up_mid_test_keeps_the_reports_and_fails_nothing() {
    stop_mid_run(Way::CtrlCOnUp);
}

/// `docker-compose stop` mid-test keeps every report, with no failure.
#[test]
#[ignore = "needs docker"]
fn docker_compose_stop_mid_test_keeps_the_reports_and_fails_nothing() {
    stop_mid_run(Way::ComposeStop);
}

/// `docker-compose down` (and so `arion down`) mid-test keeps every report,
/// with no failure.
#[test]
#[ignore = "needs docker"]
fn docker_compose_down_mid_test_keeps_the_reports_and_fails_nothing() {
    stop_mid_run(Way::ComposeDown);
}

/// `nix run .#down` of a master and two workers mid-test keeps every report,
/// with no failure.
#[test]
#[ignore = "needs docker"]
fn nix_run_down_of_workers_mid_test_keeps_the_reports_and_fails_nothing() {
    stop_mid_run(Way::NixRunDownOfWorkers);
}

// ── The lab's upper value, 500 users (issue 20 §2) ─────────────────────────

/// Each running container of the project with its memory as `docker stats`
/// shows it now (`MemUsage`'s first part, e.g. `11.2MiB`), by service and
/// container number, sorted.
fn memory_of(project: &Project) -> Vec<(String, String)> {
    let ids = project.running_containers();
    if ids.is_empty() {
        return Vec::new();
    }
    let text = cmd::run(
        docker()
            .args([
                "stats",
                "--no-stream",
                "--format",
                "{{.Name}} {{.MemUsage}}",
            ])
            .args(&ids),
        Duration::from_secs(60),
    );
    let prefix = format!("{}_", project.name);
    let mut rows: Vec<(String, String)> = text
        .lines()
        .filter_map(|line| {
            let (name, usage) = line.split_once(' ')?;
            let name = name.strip_prefix(&prefix).unwrap_or(name);
            Some((
                name.to_owned(),
                usage.split(" / ").next()?.trim().to_owned(),
            ))
        })
        .collect();
    rows.sort();
    rows
}

/// `docker stats`' memory (`11.2MiB`, `1.5GiB`, `800KiB`) in MiB.
fn mebibytes(usage: &str) -> Option<f64> {
    let split = usage.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = usage.split_at(split);
    let scale = match unit {
        "B" => 1.0 / 1048576.0,
        "KiB" | "kB" => 1.0 / 1024.0,
        "MiB" | "MB" => 1.0,
        "GiB" | "GB" => 1024.0,
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * scale)
}

/// The seed lab's upper value on the Docker stack: 500 users spawned at 100/s
/// for 30 s (with `workers` Locust workers, 0 for one Locust process): 0
/// failures, every name served, and each container's memory before, under
/// and after the load logged; a server over 32 MiB (the limit it is tested
/// to serve 1,000 connections in) fails the test.
fn five_hundred_users(workers: usize) {
    let (_images, _docker) = stack_test();
    let users: u32 = knob("E2E_UPPER_USERS", 500);
    let run_time: String = knob("E2E_UPPER_RUN_TIME", "30s".to_owned());
    let (mut project, _workers) = match workers {
        0 => {
            let project = Project::new(&repo().join("docker-compose.yml"));
            healthy_servers(&project);
            (project, Vec::new())
        }
        count => distributed_stack(count),
    };
    let before = memory_of(&project);
    let mut extra = vec!["-e".to_owned(), "LOCUST_SPAWN_RATE=100".to_owned()];
    if workers > 0 {
        extra.extend(workers::master_args(workers));
    }
    let (run, under_load) = std::thread::scope(|scope| {
        let locust = scope.spawn(|| {
            locust::headless_with(
                &project,
                LOCUST_SERVICE,
                users,
                &run_time,
                &extra,
                Duration::from_secs(300),
            )
        });
        // Near the end of the run, with every user long spawned.
        let seconds = run_time.trim_end_matches('s').parse::<u64>().unwrap_or(30);
        std::thread::sleep(Duration::from_secs(seconds.saturating_sub(5).max(10)));
        let under_load = memory_of(&project);
        (locust.join().expect("the Locust thread"), under_load)
    });
    let after = memory_of(&project);
    run.summary().lines().for_each(log);
    log(&format!(
        "  memory (docker stats) before the load, 5 s before its end, after it: {users} users, {workers} workers"
    ));
    let mut problems = run.problems(&REQUEST_NAMES);
    for (name, load) in &under_load {
        let of = |rows: &[(String, String)]| {
            rows.iter()
                .find(|(row, _)| row == name)
                .map_or("–".to_owned(), |(_, usage)| usage.clone())
        };
        let (was, is) = (of(&before), of(&after));
        log(&format!("  {name:<28} {was:>10} {load:>10} {is:>10}"));
        let server = REQUEST_NAMES
            .iter()
            .chain(&["no-batch"])
            .any(|service| name.starts_with(&format!("{service}_")));
        if server
            && [load, &is]
                .iter()
                .any(|usage| mebibytes(usage).is_none_or(|m| m > 32.0))
        {
            problems.push(format!(
                "{name} held {load} under load and {is} after (limit 32 MiB)"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\nLocust's output ends:\n{}",
        problems.join("\n"),
        cmd::tail(&run.log(), 30)
    );
    phase("down: nothing of the project remains", || project.down());
}

/// 500 users on the stack as it starts, one Locust process.
#[test]
#[ignore = "needs docker"]
fn five_hundred_users_on_the_stack_fail_nothing() {
    five_hundred_users(0);
}

/// 500 users on the stack with the workers overlay: a master and 2 workers.
#[test]
#[ignore = "needs docker"]
fn five_hundred_users_on_a_master_and_two_workers_fail_nothing() {
    five_hundred_users(2);
}

// ── Distributed Locust (issue 11 §3, issue 12 §3) ───────────────────────────

/// The stack users start with `docker-compose -f docker-compose.yml -f
/// docker-compose.workers.yml up --scale locust-worker=N`, the workers logging
/// their own counts: its four servers healthy and `count` workers started
/// (waiting for their master); the workers' container IDs.
fn distributed_stack(count: usize) -> (Project, Vec<String>) {
    let mut project = Project::with_overlays(
        &repo().join("docker-compose.yml"),
        &[&repo().join(WORKERS_OVERLAY)],
    );
    workers::log_own_counts(&mut project);
    healthy_servers(&project);
    let ids = phase(&format!("start {count} Locust workers"), || {
        project.up_scaled(WORKER_SERVICE, count);
        project.containers(WORKER_SERVICE)
    });
    assert_eq!(ids.len(), count, "{count} workers expected: {ids:?}");
    (project, ids)
}

/// Problems with one worker's part in a run: the master did not accept it, or
/// its own log shows no request (after `since`, seconds since the epoch) or a
/// failure. Logs what it found.
fn worker_problems(container: &str, master_log: &str, since: f64) -> Vec<String> {
    let hostname = workers::hostname(container);
    let mut problems = Vec::new();
    if !workers::joined(master_log)
        .iter()
        .any(|id| workers::is_worker_of(id, &hostname))
    {
        problems.push(format!("the master never accepted worker {hostname}"));
    }
    let counts: Vec<workers::OwnCounts> = workers::own_counts(container)
        .into_iter()
        .filter(|row| row.at >= since)
        .collect();
    let requests: u64 = counts.iter().map(|row| row.requests).max().unwrap_or(0);
    let failures: u64 = counts.iter().map(|row| row.failures).sum();
    log(&format!(
        "  worker {hostname}: {} own stats rows, up to {requests} requests per row, {failures} failures",
        counts.len()
    ));
    if requests == 0 {
        problems.push(format!("worker {hostname} logged no request of its own"));
    }
    if failures != 0 {
        problems.push(format!("worker {hostname} logged {failures} failures"));
    }
    problems
}

/// Locust as a master and two workers in containers, headless: the master
/// accepts both, the run has 0 failures and requests for all four names, and
/// each worker's own log shows requests it sent.
#[test]
#[ignore = "needs docker"]
fn distributed_locust_master_and_two_workers_send_requests_without_failures() {
    let (_images, _docker) = stack_test();
    let users: u32 = knob("E2E_LOCUST_USERS", 20);
    let run_time: String = knob("E2E_LOCUST_RUN_TIME", "10s".to_owned());
    let (mut project, worker_ids) = distributed_stack(2);

    let run = phase(
        &format!("Locust master headless, 2 workers: {users} users, {run_time}"),
        || {
            locust::headless_with(
                &project,
                LOCUST_SERVICE,
                users,
                &run_time,
                &workers::master_args(2),
                Duration::from_secs(180),
            )
        },
    );
    run.summary().lines().for_each(log);
    let master_log = run.log();
    let mut problems = run.problems(&REQUEST_NAMES);
    for id in &worker_ids {
        problems.extend(worker_problems(id, &master_log, 0.0));
    }
    assert!(
        problems.is_empty(),
        "{}\nthe master's output ends:\n{}",
        problems.join("\n"),
        cmd::tail(&master_log, 30)
    );
    phase("down: nothing of the project remains", || project.down());
}

/// `docker kill` of one of two workers mid-run: the master marks it missing and
/// goes on with the other, which keeps sending requests; the run lasts its
/// whole time and ends with 0 failures and a zero exit.
#[test]
#[ignore = "needs docker"]
fn killing_one_locust_worker_mid_run_leaves_the_master_running_with_the_other() {
    let (_images, _docker) = stack_test();
    let users: u32 = knob("E2E_LOCUST_USERS", 20);
    // Locust's master gives a silent worker up after about 3 heartbeats of 1 s.
    let settle: f64 = knob("E2E_WORKER_MISSING_AFTER", 5.0);
    let (mut project, worker_ids) = distributed_stack(2);
    let (victim, survivor) = (worker_ids[0].as_str(), worker_ids[1].as_str());
    let victim_host = workers::hostname(victim);

    let (run, killed_at) = locust::during_run(
        &project,
        LOCUST_SERVICE,
        users,
        "20s",
        &workers::master_args(2),
        &REQUEST_NAMES,
        || {
            phase(&format!("docker kill worker {victim_host}"), || {
                let killed_at = faults::now_seconds();
                cmd::run(docker().args(["kill", victim]), Duration::from_secs(60));
                killed_at
            })
        },
    );

    run.summary().lines().for_each(log);
    let master_log = run.log();
    let mut problems = run.problems(&REQUEST_NAMES);
    let missing = workers::went_missing(&master_log);
    log(&format!("  the master marked missing: {missing:?}"));
    if missing.len() != 1 || !workers::is_worker_of(&missing[0], &victim_host) {
        problems.push(format!(
            "the master should have marked only worker {victim_host} missing: {missing:?}"
        ));
    }
    // Locust 2.47's master logs these when the run ends by its time, and when
    // it stops because no worker is left (`main.py`, `runners.py`).
    if !master_log.contains("--run-time limit reached") {
        problems.push("the run did not last its whole time".to_owned());
    }
    if master_log.contains("The last worker went missing") {
        problems.push("the master stopped for want of workers".to_owned());
    }
    // The survivor's own requests, after the master gave the victim up.
    problems.extend(worker_problems(survivor, &master_log, killed_at + settle));
    // The master's totals still grew then, until the end of the run.
    let totals: Vec<locust::HistoryRow> = locust::history(project.run_dir())
        .into_iter()
        .filter(|row| row.name == "Aggregated")
        .collect();
    let after = totals
        .iter()
        .find(|row| row.timestamp as f64 >= killed_at + settle);
    match (after, totals.last()) {
        (Some(after), Some(last)) if last.requests > after.requests => log(&format!(
            "  master's total: {} requests {settle} s after the kill, {} at the end, {:.0} s later",
            after.requests,
            last.requests,
            last.timestamp as f64 - after.timestamp as f64
        )),
        _ => problems.push(format!(
            "the master's total did not grow after the kill: {:?}",
            totals
                .iter()
                .map(|row| (row.timestamp, row.requests))
                .collect::<Vec<_>>()
        )),
    }
    let state = faults::state(victim);
    if state.status == "running" {
        problems.push(format!("worker {victim_host} is still running"));
    }
    assert!(
        problems.is_empty(),
        "{}\nthe master's output ends:\n{}",
        problems.join("\n"),
        cmd::tail(&master_log, 30)
    );
    phase("down: nothing of the project remains", || project.down());
}
