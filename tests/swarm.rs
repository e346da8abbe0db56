//! The lab on Docker Swarm: `docker-compose.swarm.yml` over the seed's
//! `docker-compose.yml`, deployed with `docker stack deploy`
//! (docs/scale-out.md#docker-swarm).
//!
//! - Plain tests read the three compose files, `deploy/images.json` and the
//!   Kubernetes manifests, and check that the swarm stack is the Compose stack
//!   with Locust's workers (docker-compose.workers.yml): the same services,
//!   images, commands and files, with what Swarm needs added and nothing that
//!   Docker 20.10's `stack deploy` would merge wrongly (a base service's
//!   `command` or `volumes`); and that the docs name the deploy command the
//!   file's header gives.
//! - The ignored test deploys the stack on a single-node swarm of this
//!   machine (initialised only if none is active, left again), 2 replicas of
//!   each server and 2 Locust workers, runs Locust headless from the master,
//!   scales a server up mid-run, and removes the stack: `cargo test --test
//!   swarm -- --include-ignored --nocapture`. Knobs: E2E_SWARM_USERS (100),
//!   E2E_SWARM_SPAWN_RATE (5), E2E_SWARM_RUN_TIME (30s).

mod common;
mod e2e;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wine_lab::lab::TARGETS;

use e2e::images::{self, Spec, phase};
use e2e::swarm::{self, Stack, Swarm};
use e2e::{knob, locust, log, repo, workers};

const COMPOSE: &str = "docker-compose.yml";
const WORKERS_OVERLAY: &str = "docker-compose.workers.yml";
const SWARM_OVERLAY: &str = "docker-compose.swarm.yml";
const DOCS: &str = "docs/scale-out.md";
const KUBERNETES: &str = "deploy/kubernetes/wine-lab.yaml";
/// Compose's Locust service (the master under Swarm) and the workers'.
const MASTER: &str = "locust";
const WORKER: &str = "locust-worker";
/// The overlay's variables (docker-compose.swarm.yml's header).
const REPOSITORY_VARIABLE: &str = "WINE_LAB_REPOSITORY";
const REPLICAS_VARIABLE: &str = "WINE_LAB_REPLICAS";
const WORKERS_VARIABLE: &str = "WINE_LAB_WORKERS";
/// Locust's setting for `--master` (Locust 2.47, argument_parser.py).
const MASTER_MODE: &str = "LOCUST_MODE_MASTER";

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// A compose file as JSON, its YAML merge keys (`<<: *anchor`) applied, as
/// Docker's loader applies them.
fn compose(path: &str) -> Value {
    let mut yaml: yaml_serde::Value =
        yaml_serde::from_str(&read(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    yaml.apply_merge()
        .unwrap_or_else(|e| panic!("{path}: merge keys: {e}"));
    serde_json::to_value(yaml).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn services(file: &Value) -> &serde_json::Map<String, Value> {
    file["services"].as_object().expect("a services map")
}

/// `text` with `${NAME:-default}` replaced as `docker stack deploy` does
/// (a variable from `env`, else its default); any other `$` form fails.
fn interpolate(text: &str, env: &BTreeMap<&str, &str>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let end = tail
            .find('}')
            .filter(|_| tail.starts_with("${"))
            .ok_or(format!("{text:?}: only ${{NAME:-default}} is expected"))?;
        let (name, default) = tail[2..end]
            .split_once(":-")
            .ok_or(format!("{text:?}: a variable without a default"))?;
        out.push_str(env.get(name).copied().unwrap_or(default));
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The words of a compose command (the lab's need no shell quoting).
fn command_words(command: &Value) -> Vec<String> {
    let text = command.as_str().expect("a command string");
    assert!(
        !text.contains(['"', '\'', '\\', '$']),
        "{text}: a command needing a shell's quoting"
    );
    text.split_whitespace().map(str::to_owned).collect()
}

/// The files a Locust command loads (`-f a,b`).
fn locustfiles(words: &[String]) -> Vec<String> {
    let at = words
        .iter()
        .position(|w| w == "-f")
        .expect("a Locust command with -f");
    words[at + 1].split(',').map(str::to_owned).collect()
}

/// The tag (after the last `:`) of an image reference.
/// A Compose duration written in whole seconds (`2s`), in milliseconds.
fn duration_ms(text: &str) -> u64 {
    text.strip_suffix('s')
        .and_then(|seconds| seconds.parse::<u64>().ok())
        .map_or(u64::MAX, |seconds| seconds * 1000)
}

fn tag(image: &str) -> &str {
    image.rsplit_once(':').map_or(image, |(_, tag)| tag)
}

#[test]
fn interpolation_takes_the_variable_or_its_default_and_refuses_the_rest() {
    let env = BTreeMap::from([("A", "x")]);
    assert_eq!(interpolate("${A:-a}:${B:-b}", &env).unwrap(), "x:b");
    assert_eq!(interpolate("plain", &env).unwrap(), "plain");
    assert!(interpolate("$A", &env).is_err());
    assert!(interpolate("${A}", &env).is_err());
}

/// Over docker-compose.yml the swarm overlay has the services of the Compose
/// stack with Locust's workers, each of the same image and the same Locust
/// commands and files; what it adds is what Swarm needs.
#[test]
fn swarm_overlay_is_the_compose_stack_with_workers() {
    let base = compose(COMPOSE);
    let workers = compose(WORKERS_OVERLAY);
    let overlay = compose(SWARM_OVERLAY);
    let spec = Spec::load();
    let (base, workers, swarm) = (services(&base), services(&workers), services(&overlay));

    // The services: the Compose stack's, and the workers overlay's additions.
    let expected: BTreeSet<&String> = base.keys().chain(workers.keys()).collect::<BTreeSet<_>>();
    assert_eq!(swarm.keys().collect::<BTreeSet<_>>(), expected);

    for (name, service) in swarm {
        // Docker 20.10's `stack deploy` joins the commands of two files and
        // adds up their volumes (docker/cli#1582, docker/for-linux#460): a
        // base service must not set either here.
        if base.contains_key(name) {
            for field in ["command", "volumes"] {
                assert!(
                    service.get(field).is_none(),
                    "{name}: {SWARM_OVERLAY} sets {field}, which Docker 20.10 would merge into {COMPOSE}'s"
                );
            }
        }
        // The image: images.json's repository, or $WINE_LAB_REPOSITORY, and
        // the base's tag (the master's for the workers).
        let image = service["image"].as_str().expect("an image");
        let source = base.get(name).unwrap_or(&base[MASTER]);
        let base_image = source["image"].as_str().expect("the base's image");
        assert_eq!(
            interpolate(image, &BTreeMap::new()).unwrap(),
            base_image,
            "{name}: the local tags by default"
        );
        let pushed = BTreeMap::from([(REPOSITORY_VARIABLE, "registry.example:5000/x")]);
        assert_eq!(
            interpolate(image, &pushed).unwrap(),
            format!("registry.example:5000/x:{}", tag(base_image)),
            "{name}: ${REPOSITORY_VARIABLE} names the repository"
        );
        assert_eq!(
            base_image.split_once(':').map(|(repository, _)| repository),
            Some(spec.repository.as_str()),
            "{name}: deploy/images.json's repository"
        );
        // DNS round-robin for every service (the file's header says why).
        assert_eq!(
            service["deploy"]["endpoint_mode"], "dnsrr",
            "{name}: endpoint_mode"
        );
        assert!(
            service["deploy"]["restart_policy"]["condition"].is_string(),
            "{name}: a restart policy"
        );
    }

    // The servers: replicated as $WINE_LAB_REPLICAS says, one by default;
    // the image's health check, at an interval of its own (the file says why).
    for target in TARGETS {
        let healthcheck = &swarm[target.service]["healthcheck"];
        assert_eq!(
            healthcheck
                .as_object()
                .map(|fields| fields.keys().collect::<Vec<_>>()),
            Some(vec![&"interval".to_owned()]),
            "{}: only the interval is the overlay's",
            target.service
        );
        assert_eq!(
            duration_ms(healthcheck["interval"].as_str().unwrap_or_default()),
            spec.healthcheck.orchestrator_interval_ms,
            "{}: deploy/images.json's orchestratorIntervalMs",
            target.service
        );
        let replicas = &swarm[target.service]["deploy"]["replicas"];
        assert_eq!(
            *replicas,
            json!(format!("${{{REPLICAS_VARIABLE}:-1}}")),
            "{}",
            target.service
        );
    }

    // The master: Compose's Locust, as the workers overlay's master, on a
    // manager, its web UI published on the node that runs it.
    let master = &swarm[MASTER];
    let base_command = base[MASTER]["command"].as_str().expect("a command");
    assert_eq!(
        workers[MASTER]["command"],
        format!("{base_command} --master"),
        "{WORKERS_OVERLAY}'s master is {COMPOSE}'s Locust in master mode"
    );
    assert_eq!(master["environment"], json!({ (MASTER_MODE): "true" }));
    assert_eq!(
        master["deploy"]["placement"]["constraints"],
        json!(["node.role == manager"])
    );
    let published = base[MASTER]["ports"]
        .as_array()
        .expect("published ports")
        .iter()
        .map(|port| {
            let (host, container) = port.as_str().unwrap().split_once(':').unwrap();
            json!({
                "target": container.parse::<u16>().unwrap(),
                "published": host.parse::<u16>().unwrap(),
                "protocol": "tcp",
                "mode": "host",
            })
        })
        .collect::<Vec<_>>();
    assert_eq!(master["ports"], json!(published), "{MASTER}: ports");

    // The workers: the workers overlay's command; their files from configs,
    // where Compose mounts this folder, each from this folder.
    let worker = &swarm[WORKER];
    assert_eq!(worker["command"], workers[WORKER]["command"]);
    let loaded = locustfiles(&command_words(&worker["command"]));
    let (folder, mount) = base[MASTER]["volumes"][0]
        .as_str()
        .and_then(|volume| volume.split_once(':'))
        .expect("Compose mounts a folder for Locust");
    let configs = overlay["configs"].as_object().expect("top-level configs");
    let mut targets = Vec::new();
    for config in worker["configs"].as_array().expect("the workers' configs") {
        let target = config["target"].as_str().expect("a target");
        let file_name = target
            .strip_prefix(&format!("{mount}/"))
            .unwrap_or_else(|| panic!("{target} is not in {mount}"));
        let source = config["source"].as_str().expect("a source");
        assert_eq!(
            configs[source],
            json!({ "file": format!("{}{file_name}", folder) }),
            "config {source}"
        );
        assert!(
            repo().join(file_name).is_file(),
            "{file_name} is not in the repository"
        );
        targets.push(target.to_owned());
    }
    assert_eq!(
        targets, loaded,
        "the configs are the files the workers load"
    );
    assert_eq!(configs.len(), loaded.len(), "no config left unused");
    assert_eq!(
        worker["deploy"]["replicas"],
        json!(format!("${{{WORKERS_VARIABLE}:-{}}}", kubernetes_workers())),
        "as many workers by default as the Kubernetes manifests start"
    );
}

/// The workers the Kubernetes manifests (and `nix run .#up-workers`) start.
fn kubernetes_workers() -> u64 {
    read(KUBERNETES)
        .split("\n---\n")
        .filter_map(|document| yaml_serde::from_str::<Value>(document).ok())
        .find(|document| document["kind"] == "Deployment" && document["metadata"]["name"] == WORKER)
        .and_then(|deployment| deployment["spec"]["replicas"].as_u64())
        .expect("the workers' Deployment")
}

/// The one command in the overlay's header is the one docs/scale-out.md gives.
#[test]
fn docs_give_the_overlays_deploy_command() {
    let header: Vec<String> = read(SWARM_OVERLAY)
        .lines()
        .filter_map(|line| line.strip_prefix("#   docker stack "))
        .map(|rest| format!("docker stack {rest}"))
        .collect();
    assert_eq!(header.len(), 2, "deploy and rm in the header: {header:?}");
    assert!(header[0].contains(&format!("-c {COMPOSE} -c {SWARM_OVERLAY}")));
    let docs = read(DOCS);
    for command in &header {
        assert!(docs.contains(command.as_str()), "{DOCS} lacks `{command}`");
    }
}

// ── On a real swarm ────────────────────────────────────────────────────────

/// Locust's master headless, started by the test (no replica at first) and
/// never restarted, writing its CSVs to `run_dir`; each worker logging its
/// own counts (tests/e2e/workers.rs).
fn headless_override(
    run_dir: &Path,
    users: u32,
    spawn_rate: f64,
    run_time: &str,
    workers: usize,
) -> String {
    format!(
        r#"# Test-only override (tests/swarm.rs): the master headless, started by the test.
version: "3.9"
services:
  {MASTER}:
    environment:
      LOCUST_HEADLESS: "true"
      LOCUST_USERS: "{users}"
      LOCUST_SPAWN_RATE: "{spawn_rate}"
      LOCUST_RUN_TIME: "{run_time}"
      LOCUST_EXPECT_WORKERS: "{workers}"
      LOCUST_EXPECT_WORKERS_MAX_WAIT: "60"
      LOCUST_STOP_TIMEOUT: "5"
      LOCUST_CSV: /out/stats
      LOCUST_CSV_FULL_HISTORY: "true"
      LOCUST_ONLY_SUMMARY: "true"
    volumes:
      - {}:/out
    deploy:
      replicas: 0
      restart_policy:
        condition: none
  {WORKER}:
    environment:
      LOCUST_PRINT_STATS: "true"
    deploy:
      restart_policy:
        condition: none
"#,
        run_dir.display()
    )
}

/// The options `docker stack deploy` said it ignores.
fn ignored_options(said: &str) -> Vec<String> {
    said.lines()
        .filter_map(|line| line.trim().strip_prefix("Ignoring unsupported options:"))
        .flat_map(|options| options.split(','))
        .map(|option| option.trim().to_owned())
        .collect()
}

#[test]
fn reads_the_options_stack_deploy_ignores() {
    let said = "Ignoring unsupported options: links\n\nCreating network x_default\n";
    assert_eq!(ignored_options(said), ["links"]);
    assert_eq!(
        ignored_options("Ignoring unsupported options: build, links\n"),
        ["build", "links"]
    );
}

/// The stack on a single-node swarm: 2 replicas of each server, 2 Locust
/// workers, Locust headless from the master; mid-run `docker service scale`
/// adds a batch-1 replica. Asserts 0 failures and a zero exit, both workers
/// accepted and sending requests, every replica of every server (the added
/// one too) answering Locust's requests (its own /metrics, read by
/// locust_servers.py per address), and nothing of the stack left after
/// `docker stack rm`, nor of the swarm if the test made it.
#[test]
#[ignore = "needs docker swarm"]
fn swarm_stack_serves_from_every_replica_and_scales_mid_run() {
    common::require("docker");
    let users: u32 = knob("E2E_SWARM_USERS", 100);
    let spawn_rate: f64 = knob("E2E_SWARM_SPAWN_RATE", 5.0);
    let run_time: String = knob("E2E_SWARM_RUN_TIME", "30s".to_owned());
    const REPLICAS: usize = 2;
    const WORKERS: usize = 2;
    let scaled = TARGETS[1].service; // batch-1
    let names: Vec<&str> = TARGETS.iter().map(|target| target.name).collect();
    let started = Instant::now();

    let images = images::ready();
    let mut swarm = phase("a swarm on 127.0.0.1", Swarm::ready);
    let mut stack = Stack::new(&[&repo().join(COMPOSE), &repo().join(SWARM_OVERLAY)]);
    // The images `images::ready()` built, through the overlay's own variable:
    // the tests' repository, never the lab's tags.
    stack.set(REPOSITORY_VARIABLE, &images.spec.test_repository);
    let run_dir = stack.run_dir().to_path_buf();
    stack.add_override(
        "headless.yml",
        &headless_override(&run_dir, users, spawn_rate, &run_time, WORKERS),
    );
    stack.set(REPLICAS_VARIABLE, &REPLICAS.to_string());
    stack.set(WORKERS_VARIABLE, &WORKERS.to_string());

    let said = phase(&format!("docker stack deploy {}", stack.name), || {
        stack.deploy()
    });
    assert_eq!(
        ignored_options(&said),
        ["links"],
        "swarm mode should ignore docker-compose.yml's links and nothing else:\n{said}"
    );
    let test_tags = images.spec.test_tags();
    for service in TARGETS
        .iter()
        .map(|target| target.service)
        .chain([MASTER, WORKER])
    {
        let image = e2e::cmd::run(
            e2e::docker().args([
                "service",
                "inspect",
                "--format",
                "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
                &stack.service(service),
            ]),
            Duration::from_secs(60),
        );
        assert!(
            test_tags.contains(&image.trim().to_owned()),
            "{service} runs {}, not one of the test's tags {test_tags:?}",
            image.trim()
        );
    }
    phase(
        &format!("{REPLICAS} healthy replicas of each server, {WORKERS} workers"),
        || {
            for target in TARGETS {
                stack.wait_running(target.service, REPLICAS, Duration::from_secs(60));
            }
            stack.wait_running(WORKER, WORKERS, Duration::from_secs(60));
        },
    );

    // The master starts once every replica is healthy, so that each is in
    // the names' DNS answers before the first user connects.
    let master = phase("start the master", || {
        stack.scale(MASTER, 1);
        stack.wait_running(MASTER, 1, Duration::from_secs(60))[0].clone()
    });
    let running = || !stack.running(MASTER).is_empty();
    let before: BTreeSet<String> = stack.running(scaled).into_iter().collect();
    let added = phase(
        &format!(
            "once all names have requests, scale {scaled} to {}",
            REPLICAS + 1
        ),
        || {
            assert!(
                locust::wait_for_requests(&run_dir, &names, Duration::from_secs(90), running),
                "Locust did not get going; the master's log:\n{}",
                e2e::cmd::tail(&swarm::logs(&master), 30)
            );
            let asked = Instant::now();
            stack.scale(scaled, REPLICAS + 1);
            let after = stack.wait_running(scaled, REPLICAS + 1, Duration::from_secs(60));
            log(&format!(
                "  the new replica is healthy {:.1} s after docker service scale",
                asked.elapsed().as_secs_f64()
            ));
            let added: Vec<String> = after
                .into_iter()
                .filter(|id| !before.contains(id))
                .collect();
            assert_eq!(added.len(), 1, "one new {scaled} container: {added:?}");
            added[0].clone()
        },
    );

    let code = phase("wait for the master's end", || {
        swarm::wait_exit(&master, Duration::from_secs(240))
    });
    let master_log = swarm::logs(&master);
    let run = locust::finished(
        &run_dir,
        Output {
            status: ExitStatus::from_raw(code << 8),
            stdout: master_log.clone().into_bytes(),
            stderr: Vec::new(),
        },
    );
    run.summary().lines().for_each(log);
    let mut problems = run.problems(&names);

    // Every replica of every server answered Locust's requests: its own
    // /metrics count, read by locust_servers.py at its address.
    for target in TARGETS {
        let containers = stack.running(target.service);
        let expected = if target.service == scaled {
            REPLICAS + 1
        } else {
            REPLICAS
        };
        if containers.len() != expected {
            problems.push(format!(
                "{}: {} replicas running, not {expected}",
                target.service,
                containers.len()
            ));
        }
        let rows = run
            .servers
            .keys()
            .filter(|row| row.starts_with(&format!("{} (", target.service)))
            .count();
        if rows != containers.len() {
            problems.push(format!(
                "{}: {rows} rows in stats_servers.csv for {} replicas",
                target.service,
                containers.len()
            ));
        }
        for container in &containers {
            let row_name = format!("{} ({})", target.service, stack.address(container));
            let new = if *container == added {
                ", the one added mid-run"
            } else {
                ""
            };
            match run.servers.get(&row_name) {
                Some(row) if row.status == "ok" && row.requests.unwrap_or(0) > 0 => log(&format!(
                    "  {row_name}{new}: {} requests",
                    row.requests.unwrap_or(0)
                )),
                Some(row) => problems.push(format!(
                    "{row_name}{new}: {:?} requests, status {}",
                    row.requests, row.status
                )),
                None => problems.push(format!("{row_name}{new}: no row in stats_servers.csv")),
            }
        }
    }

    // Both workers: accepted by the master, and their own requests without failures.
    let worker_containers = stack.containers(WORKER);
    if worker_containers.len() != WORKERS {
        problems.push(format!(
            "{WORKERS} worker containers expected: {worker_containers:?}"
        ));
    }
    for container in &worker_containers {
        let hostname = workers::hostname(container);
        if !workers::joined(&master_log)
            .iter()
            .any(|id| workers::is_worker_of(id, &hostname))
        {
            problems.push(format!("the master never accepted worker {hostname}"));
        }
        // Each row: the worker's counts since its last report to the master.
        let counts = workers::own_counts(container);
        let requests = counts.iter().map(|row| row.requests).max().unwrap_or(0);
        let failures: u64 = counts.iter().map(|row| row.failures).sum();
        log(&format!(
            "  worker {hostname}: {} rows of its own counts, up to {requests} requests a row, {failures} failures",
            counts.len()
        ));
        if requests == 0 || failures != 0 {
            problems.push(format!(
                "worker {hostname}: up to {requests} requests a row, {failures} failures, in its own counts"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\nthe master's output ends:\n{}",
        problems.join("\n"),
        e2e::cmd::tail(&master_log, 40)
    );

    phase("docker stack rm: nothing of the stack remains", || {
        stack.rm()
    });
    phase("the daemon as it was", || {
        swarm.leave().unwrap_or_else(|e| panic!("{e}"))
    });
    log(&format!(
        "swarm test: {:.0} s in all",
        started.elapsed().as_secs_f64()
    ));
}

// ── deploy/copy-images: the images to other nodes without a registry ───────

const COPY_IMAGES: &str = "deploy/copy-images";

/// A stand-in `docker` that logs its calls: `image inspect` fails for the
/// images in $FAKE_MISSING, `save` writes a line naming what it saves, and
/// `-H HOST load` logs what it read.
const FAKE_DOCKER: &str = r#"#!/bin/bash
echo "docker $*" >> "$FAKE_LOG"
case "$1" in
  image) [[ " $FAKE_MISSING " == *" $3 "* ]] && exit 1; exit 0 ;;
  save) echo "archive of ${*:2}" ;;
  -H) echo "$2 loaded: $(cat)" >> "$FAKE_LOG" ;;
esac
"#;

/// Runs deploy/copy-images with `args` and the stand-in docker first on
/// PATH; its exit code, stderr and the stand-in's log.
fn copy_images(args: &[&str], missing: &str) -> (Option<i32>, String, Vec<String>) {
    use std::os::unix::fs::PermissionsExt;
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let fake = scratch.path().join("docker");
    std::fs::write(&fake, FAKE_DOCKER).expect("write the stand-in docker");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log_file = scratch.path().join("log");
    let path = format!(
        "{}:{}",
        scratch.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = std::process::Command::new(repo().join(COPY_IMAGES))
        .args(args)
        .env("PATH", path)
        .env("FAKE_LOG", &log_file)
        .env("FAKE_MISSING", missing)
        .output()
        .expect("run deploy/copy-images (needs bash and python3)");
    let log = std::fs::read_to_string(&log_file).unwrap_or_default();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        log.lines().map(str::to_owned).collect(),
    )
}

#[test]
fn copy_images_saves_the_images_json_tags_and_loads_them_on_each_node() {
    // deploy/copy-images copies the lab's own tags, the ones users build.
    let tags = Spec::load().lab_tags();
    let all = tags.join(" ");
    let (code, stderr, log) = copy_images(&["alice@node-2", "tcp://node-3:2376"], "");
    assert_eq!(code, Some(0), "{stderr}");
    // First every image is looked for, then copied node by node (the two
    // ends of a pipe log in either order).
    let inspected: Vec<String> = tags
        .iter()
        .map(|tag| format!("docker image inspect {tag}"))
        .collect();
    assert_eq!(log[..inspected.len()], inspected[..], "{log:?}");
    let mut copied = log[inspected.len()..].to_vec();
    copied.sort();
    let mut expected = Vec::new();
    for host in ["ssh://alice@node-2", "tcp://node-3:2376"] {
        expected.push(format!("docker save {all}"));
        expected.push(format!("docker -H {host} load"));
        expected.push(format!("{host} loaded: archive of {all}"));
    }
    expected.sort();
    assert_eq!(copied, expected);

    // An image this machine lacks: nothing is copied, and the message says how to build it.
    let (code, stderr, log) = copy_images(&["node-2"], &tags[0]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(&tags[0]) && stderr.contains("docker_images"),
        "{stderr}"
    );
    assert!(!log.iter().any(|line| line.contains("save")), "{log:?}");

    // No node: the usage, nothing run.
    let (code, stderr, log) = copy_images(&[], "");
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with("usage: deploy/copy-images NODE"),
        "{stderr}"
    );
    assert!(log.is_empty());
}

#[test]
#[ignore = "needs shellcheck"]
fn copy_images_passes_bash_n_and_shellcheck() {
    common::require("shellcheck");
    for (program, args) in [("bash", &["-n"][..]), ("shellcheck", &[][..])] {
        let output = std::process::Command::new(program)
            .args(args)
            .arg(repo().join(COPY_IMAGES))
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {COPY_IMAGES}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
