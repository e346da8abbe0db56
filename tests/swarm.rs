//! The lab on Docker Swarm (docs/scale-out.md#docker-swarm).
//!
//! - deploy/copy-images, which copies the images to other nodes without a
//!   registry, run against a stand-in `docker`.

mod common;
mod e2e;

use e2e::images::Spec;
use e2e::repo;

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
    let spec = Spec::load();
    let tags: Vec<String> = spec
        .servers
        .keys()
        .map(|variant| spec.server_tag(variant))
        .chain([spec.locust_tag()])
        .collect();
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
