//! The Nix side of the repository, checked by evaluation with `nix-instantiate`
//! (Debian: nix-bin); nothing is built here. What the Nix build runs (cargo's
//! build and tests, the model, the images' server root, clippy, rustfmt) is
//! rehearsed by tests/nix_sandbox.rs.
//!
//! - every `.nix` file parses;
//! - `arion-compose.nix`, evaluated as plain `arion up` does (no module
//!   arguments) and as the flake does, equals the seed lab's compose file and
//!   the committed `docker-compose.yml` but for the folder it mounts; Arion's
//!   modules are replaced by `tests/nix/stand-in-arion.nix`; with
//!   `arion-workers.nix` merged in, it equals `docker-compose.workers.yml` over
//!   `docker-compose.yml` (Locust as master plus a scalable worker);
//! - the Kubernetes manifests `nix/kubernetes.nix` derives from that stack are
//!   `deploy/kubernetes/wine-lab.yaml`, and a second locustfile added to the
//!   compose commands and `nix/sources.json` reaches them without other edits;
//! - `flake.lock` holds exactly the nixpkgs pin, which `arion-pkgs.nix` reads;
//! - the flake's outputs evaluate for both systems against a stand-in nixpkgs
//!   (`tests/nix/stand-in-*.nix`) whose functions take what the real ones take,
//!   and broken copies (a misspelt argument, a missing file or attribute) fail;
//! - the scripts the flake writes pass `bash -n` and shellcheck.
//!
//! The tests that need `nix-instantiate` are `#[ignore]`d; `cargo test --
//! --include-ignored` runs them. What was checked only by hand against the real
//! Arion and nixpkgs lib, and what never ran, is in docs/nix.md.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

const SYSTEMS: [&str; 2] = ["x86_64-linux", "aarch64-linux"];
const NIXPKGS_REV: &str = "b51242d7d43689db2f3be91bd05d5b24fbb469c4";
const NIXPKGS_NAR_HASH: &str = "sha256-K5sT4jTpGs15ADhviMKNBH38REpPf5Q6mM1+N6cArVE=";
const NIXPKGS_URL: &str = "github:NixOS/nixpkgs/nixos-26.05";
/// The fields of a compose service that the seed's compose file sets.
const SERVICE_FIELDS: [&str; 5] = ["image", "links", "ports", "volumes", "command"];
/// A store path as the flake's compose file mounts it.
const STORE_SOURCE: &str = "/nix/store/00000000000000000000000000000000-source";
/// The Kubernetes manifests for users without Nix: packages.kubernetes as YAML.
const KUBERNETES_YAML: &str = "deploy/kubernetes/wine-lab.yaml";
/// Set, the flake test rewrites [`KUBERNETES_YAML`] from the evaluation.
const WRITE_KUBERNETES: &str = "WINE_LAB_WRITE_KUBERNETES";
/// What [`KUBERNETES_YAML`] says of itself, above the manifests.
const KUBERNETES_HEADER: &str = "\
# The lab's stack on Kubernetes: the services of docker-compose.yml with
# docker-compose.workers.yml (Locust as master and workers), each a Deployment,
# a Service for each that listens, and Locust's folder as a ConfigMap.
# Deploy: kubectl apply -f deploy/kubernetes/wine-lab.yaml (docs/scale-out.md).
#
# Generated: nix/kubernetes.nix's manifests (`nix build .#kubernetes` writes
# the same list as JSON documents); do not edit. After a change there, to the
# compose stack, deploy/images.json or a locustfile, rewrite it with
#   WINE_LAB_WRITE_KUBERNETES=1 cargo test --test nix -- --ignored flake_outputs_evaluate
";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&read(path))
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The helpers always come from this checkout, also when evaluating a copy.
fn helpers() -> PathBuf {
    root().join("tests").join("nix")
}

// ---------------------------------------------------------------------------
// nix-instantiate
// ---------------------------------------------------------------------------

/// `nix-instantiate --readonly-mode` with an empty NIX_PATH.
///
/// The first call in this process creates the Nix state (/nix/var/nix) with one
/// evaluation: on a machine where Nix never ran, the parallel evaluations of
/// these tests otherwise race to create it ("File exists", "schema is
/// corrupt", "database is busy"). `.ci/run` does the same once before the tests.
fn nix_instantiate() -> Command {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        common::require("nix-instantiate");
        let output = Command::new("nix-instantiate")
            .args(["--eval", "--expr", "true"])
            .stdout(Stdio::null())
            .output()
            .expect("run nix-instantiate");
        assert!(
            output.status.success(),
            "nix-instantiate cannot create its state (/nix/var/nix) here:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    });
    let mut command = Command::new("nix-instantiate");
    command.arg("--readonly-mode").env("NIX_PATH", "");
    command
}

/// Runs an evaluation; `Err` holds Nix's message.
fn run_json(mut command: Command) -> Result<Value, String> {
    let output = command.output().expect("nix-instantiate runs");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("output is not JSON: {e}"))
}

/// Evaluates `file` (a function of string arguments) strictly to JSON.
fn eval_file(file: &Path, args: &[(&str, &str)]) -> Result<Value, String> {
    let mut command = nix_instantiate();
    command.args(["--eval", "--strict", "--json"]).arg(file);
    for (name, value) in args {
        command.args(["--argstr", name, value]);
    }
    run_json(command)
}

/// Evaluates an expression strictly to JSON.
fn eval_expr(expr: &str) -> Result<Value, String> {
    let mut command = nix_instantiate();
    command.args(["--eval", "--strict", "--json", "--expr", expr]);
    run_json(command)
}

/// The flake at `root` evaluated with the stand-in nixpkgs, for one system.
fn flake(root: &Path, system: &str) -> Result<Value, String> {
    let root = root.to_str().expect("UTF-8 path");
    eval_file(
        &helpers().join("eval-flake.nix"),
        &[("root", root), ("system", system)],
    )
}

/// A composition evaluated with the stand-in Arion; without `locust_dir`, with
/// no module arguments, as plain `arion up` evaluates it.
fn arion(composition: &Path, locust_dir: Option<&str>) -> Result<Value, String> {
    arion_with(composition, None, locust_dir)
}

/// [`arion`] with a second module merged in (`also`), as `arion --file
/// <composition> --file <also>` evaluates the two.
fn arion_with(
    composition: &Path,
    also: Option<&Path>,
    locust_dir: Option<&str>,
) -> Result<Value, String> {
    let composition = composition.to_str().expect("UTF-8 path");
    let mut args = vec![("composition", composition)];
    args.extend(also.map(|also| ("also", also.to_str().expect("UTF-8 path"))));
    args.extend(locust_dir.map(|dir| ("locustDir", dir)));
    eval_file(&helpers().join("eval-arion.nix"), &args)
}

// ---------------------------------------------------------------------------
// Comparing compose files
// ---------------------------------------------------------------------------

/// A compose file as JSON (via yaml_serde, the YAML organisation's serde_yaml).
fn parse_yaml(source: &str) -> Result<Value, String> {
    yaml_serde::from_str(source).map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------
// Comparing compose files
// ---------------------------------------------------------------------------

/// A compose file's services, reduced to the fields the seed sets, with absent
/// lists as empty ones. A service setting any other field is an error: it would
/// be a difference this comparison cannot see.
fn services(compose: &Value) -> Result<Map<String, Value>, String> {
    let services = compose
        .get("services")
        .and_then(Value::as_object)
        .ok_or("no `services` map")?;
    let mut reduced = Map::new();
    for (name, service) in services {
        let service = service
            .as_object()
            .ok_or(format!("service {name} is not a map"))?;
        if let Some(other) = service
            .keys()
            .find(|k| !SERVICE_FIELDS.contains(&k.as_str()))
        {
            return Err(format!(
                "service {name} sets {other}, which is not compared"
            ));
        }
        let mut fields = Map::new();
        for field in SERVICE_FIELDS {
            let value = match (field, service.get(field)) {
                (_, Some(value)) => value.clone(),
                ("links" | "ports" | "volumes", None) => json!([]),
                (_, None) => Value::Null,
            };
            fields.insert(field.to_owned(), value);
        }
        reduced.insert(name.clone(), Value::Object(fields));
    }
    Ok(reduced)
}

/// `Ok` when the two compose files' services agree; `Err` names each difference.
fn compare(expected: &Value, actual: &Value) -> Result<(), String> {
    let expected = services(expected).map_err(|e| format!("expected: {e}"))?;
    let actual = services(actual).map_err(|e| format!("actual: {e}"))?;
    let names: BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
    let mut differences = Vec::new();
    for name in names {
        match (expected.get(name), actual.get(name)) {
            (Some(e), Some(a)) => {
                for field in SERVICE_FIELDS {
                    if e[field] != a[field] {
                        differences.push(format!(
                            "{name}.{field}: expected {}, got {}",
                            e[field], a[field]
                        ));
                    }
                }
            }
            (Some(_), None) => differences.push(format!("service {name} is missing")),
            (None, _) => differences.push(format!("service {name} is not expected")),
        }
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(differences.join("\n"))
    }
}

/// Fields that `docker-compose -f base -f overlay` takes whole from the overlay
/// when both files set them for a service (Compose merges lists such as
/// `volumes` and `ports` instead, which [`overlay`] does not model).
const REPLACED_FIELDS: [&str; 2] = ["image", "command"];

/// The compose file `docker-compose -f base -f overlay` uses: the overlay's new
/// services added, and for a service of both files each of the overlay's fields
/// replacing the base's; an overlay field outside [`REPLACED_FIELDS`] on a base
/// service is an error.
fn overlay(base: &Value, overlay: &Value) -> Result<Value, String> {
    let mut merged = base.clone();
    let services = merged["services"]
        .as_object_mut()
        .ok_or("base: no `services` map")?;
    let added = overlay
        .get("services")
        .and_then(Value::as_object)
        .ok_or("overlay: no `services` map")?;
    for (name, service) in added {
        let fields = service
            .as_object()
            .ok_or(format!("overlay: service {name} is not a map"))?;
        match services.get_mut(name).and_then(Value::as_object_mut) {
            None => {
                services.insert(name.clone(), service.clone());
            }
            Some(existing) => {
                for (field, value) in fields {
                    if !REPLACED_FIELDS.contains(&field.as_str()) {
                        return Err(format!(
                            "overlay: {name}.{field} would be merged, not replaced"
                        ));
                    }
                    existing.insert(field.clone(), value.clone());
                }
            }
        }
    }
    Ok(merged)
}

/// docker-compose.yml with docker-compose.workers.yml over it.
fn committed_workers_compose() -> Value {
    let workers = parse_yaml(&read(&root().join("docker-compose.workers.yml")))
        .expect("docker-compose.workers.yml parses");
    overlay(&committed_compose(), &workers).unwrap_or_else(|e| panic!("{e}"))
}

fn images_spec() -> Value {
    read_json(&root().join("deploy/images.json"))
}

/// The Locust extension the stack loads beside the seed's locustfile: the
/// Servers tab on Locust's page (issue 19).
const EXTENSION: &str = "locust_servers.py";

/// The seed's compose file as this lab runs it: Locust from the image built
/// here (`<repository>:<locustTag>`) instead of the registry's locustio/locust,
/// and the [`EXTENSION`] loaded beside the seed's locustfile from the same folder.
fn seed_compose() -> Value {
    let mut seed = parse_yaml(&read(&helpers().join("seed-compose.yml")))
        .expect("tests/nix/seed-compose.yml parses");
    assert_eq!(seed["services"]["locust"]["image"], "locustio/locust");
    let spec = images_spec();
    let tag = format!(
        "{}:{}",
        spec["repository"].as_str().expect("repository"),
        spec["locustTag"].as_str().expect("locustTag")
    );
    seed["services"]["locust"]["image"] = Value::String(tag);
    let command = seed["services"]["locust"]["command"]
        .as_str()
        .expect("command");
    assert_eq!(command, "-f /mnt/locust/locustfile.py");
    seed["services"]["locust"]["command"] = format!("{command},/mnt/locust/{EXTENSION}").into();
    seed
}

fn committed_compose() -> Value {
    parse_yaml(&read(&root().join("docker-compose.yml"))).expect("docker-compose.yml parses")
}

#[test]
fn compose_comparison_reports_each_difference() {
    let seed = seed_compose();
    assert_eq!(compare(&seed, &seed), Ok(()));

    let mut moved = seed.clone();
    moved["services"]["locust"]["ports"] = json!(["8090:8089"]);
    let error = compare(&seed, &moved).unwrap_err();
    assert!(error.contains("locust.ports"), "{error}");

    let mut fewer = seed.clone();
    fewer["services"]
        .as_object_mut()
        .unwrap()
        .remove("batch-64");
    let error = compare(&seed, &fewer).unwrap_err();
    assert!(error.contains("batch-64 is missing"), "{error}");

    let mut extra = seed.clone();
    extra["services"]["no-batch"]["environment"] = json!({"A": "b"});
    let error = compare(&seed, &extra).unwrap_err();
    assert!(error.contains("no-batch sets environment"), "{error}");
}

#[test]
fn committed_docker_compose_yml_is_the_seeds_with_the_locally_built_locust() {
    assert_eq!(compare(&seed_compose(), &committed_compose()), Ok(()));
}

#[test]
#[ignore = "needs the seed lab beside the repository"]
fn seed_compose_copy_matches_the_seed_lab() {
    // The seed's complete compose file: the ```yml block that has a command.
    let blocks = common::seed_blocks(&common::seed_lab(), "yml", "command:");
    assert_eq!(blocks.len(), 1, "one complete compose file in the seed");
    let copy = read(&helpers().join("seed-compose.yml"));
    let body: String = copy
        .lines()
        .skip_while(|line| line.starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(
        body, blocks[0],
        "tests/nix/seed-compose.yml is the seed's, verbatim"
    );
}

/// Replaces exactly one occurrence of `from` in `file`.
fn edit(file: &Path, from: &str, to: &str) {
    let text = read(file);
    assert_eq!(
        text.matches(from).count(),
        1,
        "{} should contain {from:?} once",
        file.display()
    );
    fs::write(file, text.replacen(from, to, 1)).expect("write file");
}

/// Directories that are not the repository's sources.
fn skipped(name: &str) -> bool {
    name == ".git" || name == "target" || name.starts_with("result") || name == "__pycache__"
}

fn nix_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("directory entry");
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() && !skipped(&name) {
            nix_files(&path, found);
        } else if kind.is_file() && name.ends_with(".nix") {
            found.push(path);
        }
    }
}

/// Copies the repository's sources (not .git, target or results) to `to`.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create directory");
    for entry in fs::read_dir(from).expect("read directory") {
        let entry = entry.expect("directory entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() && !skipped(&name) {
            copy_tree(&entry.path(), &to.join(&name));
        } else if kind.is_file() {
            fs::copy(entry.path(), to.join(&name)).expect("copy file");
        }
    }
}

/// packages.kubernetes (a YAML stream of one-line JSON documents, as
/// nix/kubernetes.nix writes it) as [`KUBERNETES_YAML`] spells it.
fn kubernetes_yaml(stream: &str) -> Result<String, String> {
    let lines: Vec<&str> = stream.lines().collect();
    if lines.is_empty() || !lines.len().is_multiple_of(2) {
        return Err(format!(
            "{} lines, not pairs of --- and a document",
            lines.len()
        ));
    }
    let mut yaml = KUBERNETES_HEADER.to_owned();
    for pair in lines.chunks(2) {
        if pair[0] != "---" {
            return Err(format!("expected ---, got {:?}", pair[0]));
        }
        let document: Value = serde_json::from_str(pair[1]).map_err(|e| e.to_string())?;
        yaml.push_str("---\n");
        yaml.push_str(&yaml_serde::to_string(&document).map_err(|e| e.to_string())?);
    }
    Ok(yaml)
}

/// The committed [`KUBERNETES_YAML`] is the flake's packages.kubernetes
/// (rewritten first when [`WRITE_KUBERNETES`] is set).
fn check_kubernetes_yaml(packages: &Value) {
    let stream = packages["kubernetes"]["args"]["text"]
        .as_str()
        .expect("packages.kubernetes is a text file");
    let generated = kubernetes_yaml(stream).unwrap_or_else(|e| panic!("packages.kubernetes: {e}"));
    let path = root().join(KUBERNETES_YAML);
    if std::env::var_os(WRITE_KUBERNETES).is_some() {
        fs::write(&path, &generated).expect("write the manifests");
    }
    let committed = read(&path);
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(c, g)| c != g)
            .map_or_else(|| "the end".to_owned(), |i| format!("line {}", i + 1));
        panic!(
            "{KUBERNETES_YAML} is not nix/kubernetes.nix's output (first difference at {line}); \
             rewrite it with {WRITE_KUBERNETES}=1 cargo test --test nix -- --ignored flake_outputs_evaluate"
        );
    }
}

#[test]
fn kubernetes_yaml_renders_each_document_after_its_header() {
    let yaml = kubernetes_yaml("---\n{\"a\":1}\n---\n{\"b\":\"x\\ny\\n\"}\n").unwrap();
    assert_eq!(
        yaml.strip_prefix(KUBERNETES_HEADER),
        Some("---\na: 1\n---\nb: |\n  x\n  y\n")
    );
    assert!(kubernetes_yaml("{\"a\":1}\n---\n").is_err());
    assert!(kubernetes_yaml("---\n").is_err());
}

#[test]
fn flake_lock_holds_exactly_the_nixpkgs_pin() {
    let lock = read_json(&root().join("flake.lock"));
    let expected = json!({
        "nodes": {
            "nixpkgs": {
                "locked": {
                    "narHash": NIXPKGS_NAR_HASH,
                    "owner": "NixOS",
                    "repo": "nixpkgs",
                    "rev": NIXPKGS_REV,
                    "type": "github"
                },
                "original": {
                    "owner": "NixOS",
                    "ref": "nixos-26.05",
                    "repo": "nixpkgs",
                    "type": "github"
                }
            },
            "root": { "inputs": { "nixpkgs": "nixpkgs" } }
        },
        "root": "root",
        "version": 7
    });
    assert_eq!(lock, expected);
}

// ---------------------------------------------------------------------------
// Tests that need nix-instantiate
// ---------------------------------------------------------------------------

#[test]
#[ignore = "needs nix-instantiate"]
fn every_nix_file_parses() {
    let mut files = Vec::new();
    nix_files(&root(), &mut files);
    assert!(
        files.contains(&root().join("arion-pkgs.nix")) && files.contains(&root().join("flake.nix")),
        "{files:?}"
    );
    let parse = |file: &Path| {
        let output = nix_instantiate().arg("--parse").arg(file).output().unwrap();
        output
            .status
            .success()
            .then_some(())
            .ok_or_else(|| String::from_utf8_lossy(&output.stderr).into_owned())
    };
    for file in &files {
        if let Err(error) = parse(file) {
            panic!("{} does not parse:\n{error}", file.display());
        }
    }
    let scratch = tempfile::tempdir().unwrap();
    let broken = scratch.path().join("broken.nix");
    fs::write(&broken, "{ a = 1; b = ; }\n").unwrap();
    assert!(parse(&broken).is_err(), "a broken file is rejected");
}

#[test]
#[ignore = "needs nix-instantiate"]
fn arion_compose_is_the_seeds_stack_for_arion_up_the_flake_and_docker_compose_yml() {
    // Plain `arion up` in the repository: no module arguments, so Locust's
    // folder is the repository's; the flake: a store path, or "./" for the
    // committed docker-compose.yml.
    let checkout = root().to_str().unwrap().to_owned();
    for (given, mounted) in [
        (None, checkout.as_str()),
        (Some("./"), "./"),
        (Some(STORE_SOURCE), STORE_SOURCE),
    ] {
        let evaluated = arion(&root().join("arion-compose.nix"), given)
            .unwrap_or_else(|e| panic!("arion-compose.nix with {given:?} does not evaluate:\n{e}"));
        let mut compose = evaluated["compose"].clone();
        assert_eq!(
            compose["services"]["locust"]["volumes"],
            json!([format!("{mounted}:/mnt/locust")]),
            "{given:?}"
        );
        compose["services"]["locust"]["volumes"] = json!(["./:/mnt/locust"]);
        assert_eq!(compare(&seed_compose(), &compose), Ok(()), "{given:?}");
        assert_eq!(compare(&committed_compose(), &compose), Ok(()), "{given:?}");
        // Plain docker-compose in the repository uses the same project (.env).
        let project = read(&root().join(".env"))
            .lines()
            .find_map(|line| {
                line.strip_prefix("COMPOSE_PROJECT_NAME=")
                    .map(str::to_owned)
            })
            .expect(".env sets COMPOSE_PROJECT_NAME");
        assert_eq!(evaluated["project"], project.as_str());
    }
}

#[test]
fn compose_overlay_adds_services_and_replaces_only_whole_fields() {
    let base = json!({"services": {"a": {"image": "i", "command": "x", "volumes": ["v"]}}});
    let merged = overlay(
        &base,
        &json!({"services": {"a": {"command": "y"}, "b": {"image": "j"}}}),
    )
    .unwrap();
    assert_eq!(
        merged,
        json!({"services": {
            "a": {"image": "i", "command": "y", "volumes": ["v"]},
            "b": {"image": "j"}
        }})
    );
    let error = overlay(&base, &json!({"services": {"a": {"volumes": ["w"]}}})).unwrap_err();
    assert!(error.contains("a.volumes"), "{error}");
}

/// The distributed Locust: docker-compose.workers.yml over docker-compose.yml
/// is the stack `arion --file arion-compose.nix --file arion-workers.nix`
/// generates, and both only turn the seed's Locust into a master and add a
/// worker of the same image, folder and locustfile.
#[test]
#[ignore = "needs nix-instantiate"]
fn arion_workers_module_is_the_compose_workers_overlay() {
    let workers = root().join("arion-workers.nix");
    let compose = committed_workers_compose();
    let checkout = root().to_str().unwrap().to_owned();
    for (given, mounted) in [
        (None, checkout.as_str()),
        (Some("./"), "./"),
        (Some(STORE_SOURCE), STORE_SOURCE),
    ] {
        let evaluated = arion_with(&root().join("arion-compose.nix"), Some(&workers), given)
            .unwrap_or_else(|e| panic!("arion-workers.nix with {given:?} does not evaluate:\n{e}"));
        let mut generated = evaluated["compose"].clone();
        for service in ["locust", "locust-worker"] {
            assert_eq!(
                generated["services"][service]["volumes"],
                json!([format!("{mounted}:/mnt/locust")]),
                "{service}, {given:?}"
            );
            generated["services"][service]["volumes"] = json!(["./:/mnt/locust"]);
        }
        assert_eq!(compare(&compose, &generated), Ok(()), "{given:?}");
    }

    // Derived from the seed's Locust: the same command with a mode added.
    let seed = &committed_compose()["services"]["locust"];
    let command = seed["command"].as_str().unwrap();
    let services = &compose["services"];
    assert_eq!(services["locust"]["command"], format!("{command} --master"));
    let worker = &services["locust-worker"];
    assert_eq!(
        worker["command"],
        format!("{command} --worker --master-host locust")
    );
    assert_eq!(worker["image"], seed["image"]);
    assert_eq!(worker["volumes"], seed["volumes"]);
    // Scaled: no published port, no fixed container name.
    assert_eq!(worker.get("ports"), None);
    assert_eq!(worker.get("container_name"), None);
    // Only the locust service changes; the servers are the seed's.
    for (name, service) in services.as_object().unwrap() {
        if !name.starts_with("locust") {
            assert_eq!(*service, committed_compose()["services"][name], "{name}");
        }
    }
}

#[test]
#[ignore = "needs nix-instantiate"]
fn stand_in_arion_rejects_a_second_command_without_mk_force() {
    // Arion's `command` would concatenate the two strings (checked by hand with
    // the real modules, docs/nix.md); the stand-in refuses instead.
    let scratch = tempfile::tempdir().unwrap();
    fs::create_dir_all(scratch.path().join("deploy")).unwrap();
    fs::copy(
        root().join("deploy/images.json"),
        scratch.path().join("deploy/images.json"),
    )
    .unwrap();
    let composition = scratch.path().join("arion-compose.nix");
    fs::copy(root().join("arion-compose.nix"), &composition).unwrap();
    let workers = scratch.path().join("arion-workers.nix");
    fs::copy(root().join("arion-workers.nix"), &workers).unwrap();
    assert!(arion_with(&composition, Some(&workers), None).is_ok());
    edit(
        &workers,
        "lib.mkForce \"${locustFiles} --master\"",
        "\"${locustFiles} --master\"",
    );
    match arion_with(&composition, Some(&workers), None) {
        Ok(value) => panic!("two plain commands were accepted: {value}"),
        Err(error) => assert!(error.contains("conflicting definitions"), "{error}"),
    }
}

#[test]
#[ignore = "needs nix-instantiate"]
fn stand_in_arion_rejects_unknown_options_and_wrong_types() {
    let scratch = tempfile::tempdir().unwrap();
    let original = read(&root().join("arion-compose.nix"));
    // arion-compose.nix reads the image tags from deploy/images.json beside it.
    fs::create_dir_all(scratch.path().join("deploy")).unwrap();
    fs::copy(
        root().join("deploy/images.json"),
        scratch.path().join("deploy/images.json"),
    )
    .unwrap();
    let file = scratch.path().join("arion-compose.nix");
    for (from, to, message) in [
        ("ports = [", "port = [", "has no option port"),
        (
            "command = locustFiles;",
            "command = 42; x = locustFiles;",
            "has no option x",
        ),
        ("command = locustFiles;", "command = 42;", "command must be"),
        ("project.name = ", "project.nmae = ", "has no option nmae"),
    ] {
        fs::write(&file, &original).unwrap();
        assert!(arion(&file, None).is_ok(), "the unmodified copy evaluates");
        edit(&file, from, to);
        match arion(&file, None) {
            Ok(value) => panic!("{to:?} was accepted: {value}"),
            Err(error) => assert!(error.contains(message), "{to:?}: {error}"),
        }
    }
}

#[test]
#[ignore = "needs nix-instantiate"]
fn arion_pkgs_is_the_nixpkgs_flake_lock_pins() {
    // arion-pkgs.nix with fetchTarball and import recorded instead of run.
    let expr = format!(
        r#"scopedImport {{
             builtins = builtins // {{ fetchTarball = args: args; currentSystem = "x86_64-linux"; }};
             import = source: settings: {{ inherit source settings; }};
           }} {}"#,
        root().join("arion-pkgs.nix").display()
    );
    let pkgs = eval_expr(&expr).unwrap_or_else(|e| panic!("arion-pkgs.nix: {e}"));
    assert_eq!(
        pkgs["source"],
        json!({
            "url": format!("https://github.com/NixOS/nixpkgs/archive/{NIXPKGS_REV}.tar.gz"),
            "sha256": NIXPKGS_NAR_HASH,
        })
    );
    assert_eq!(pkgs["settings"]["system"], "x86_64-linux");
}

#[test]
#[ignore = "needs nix-instantiate"]
fn flake_nix_inputs_are_the_pin() {
    let flake = root().join("flake.nix");
    let inputs = eval_expr(&format!("(import {}).inputs", flake.display())).unwrap();
    assert_eq!(inputs, json!({ "nixpkgs": { "url": NIXPKGS_URL } }));
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not a map: {value}"))
        .keys()
        .cloned()
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The store path a stand-in records for a package of the stand-in nixpkgs.
fn is_package(path: &Value, name: &str) -> bool {
    path.as_str()
        .is_some_and(|p| p.starts_with("/nix/store/") && p.ends_with(&format!("-{name}")))
}

fn check_flake_outputs(flake: &Value, system: &str) {
    let outputs = ["packages", "apps", "devShells", "checks", "formatter"];
    assert_eq!(keys(&flake["systems"]), set(&outputs));
    for output in outputs {
        assert_eq!(
            flake["systems"][output],
            json!(["aarch64-linux", "x86_64-linux"])
        );
    }
    assert_eq!(
        flake["inputs"],
        json!({ "nixpkgs": { "url": NIXPKGS_URL } })
    );

    let packages = &flake["packages"];
    let names = [
        "default",
        "servers",
        "wine-lab",
        "model",
        "images",
        "compose",
        "compose-workers",
        "kubernetes",
    ];
    let images = ["image-no-batch", "image-with-batch", "image-locust"];
    assert_eq!(
        keys(packages),
        set(&[&names[..], &images[..]].concat()),
        "{system}"
    );
    let servers = &packages["servers"];
    let manifest = read(&root().join("Cargo.toml"));
    assert_eq!(servers["standIn"], "rust-package");
    assert!(manifest.contains(&format!("name = {}", servers["args"]["pname"])));
    assert!(manifest.contains(&format!("version = {}", servers["args"]["version"])));
    let wine_lab = &packages["wine-lab"];
    assert_eq!(packages["default"], *wine_lab);
    assert_eq!(wine_lab["args"]["paths"], json!([servers["path"]]));

    // The images: everything from deploy/images.json.
    let spec = read_json(&root().join("deploy/images.json"));
    let port = spec["port"].as_u64().unwrap();
    let check = &spec["healthcheck"];
    let nanos = |field: &str| check[field].as_u64().unwrap() * 1_000_000;
    let mut test = vec![json!("CMD"), spec["serverBinary"].clone()];
    test.extend(check["args"].as_array().unwrap().iter().cloned());
    let healthcheck = json!({
        "Test": test,
        "Interval": nanos("intervalMs"),
        "Timeout": nanos("timeoutMs"),
        "StartPeriod": nanos("startPeriodMs"),
        "Retries": check["retries"],
    });
    let mut archives = Map::new();
    for (tag, server) in spec["servers"].as_object().unwrap() {
        let image = &packages[format!("image-{tag}")];
        assert_eq!(image["args"]["name"], spec["repository"]);
        assert_eq!(image["args"]["tag"], tag.as_str());
        assert_eq!(
            image["args"]["config"],
            json!({
                "Entrypoint": [spec["serverBinary"]],
                "Env": [
                    format!("WINE_API={}", server["api"].as_str().unwrap()),
                    format!("WINE_HOST={}", spec["host"].as_str().unwrap()),
                    format!("WINE_PORT={port}"),
                    format!("WINE_MODEL={}", spec["modelPath"].as_str().unwrap()),
                ],
                "ExposedPorts": { format!("{port}/tcp"): {} },
                "User": spec["user"],
                "Healthcheck": healthcheck,
            })
        );
        archives.insert(format!("{tag}.tar.gz"), image["path"].clone());
    }
    let locust_image = &packages["image-locust"];
    assert_eq!(locust_image["args"]["tag"], spec["locustTag"]);
    assert_eq!(locust_image["args"]["config"]["User"], spec["user"]);
    assert_eq!(
        locust_image["args"]["config"]["StopSignal"],
        spec["locustStopSignal"]
    );
    let locust_tar = format!("{}.tar.gz", spec["locustTag"].as_str().unwrap());
    archives.insert(locust_tar, locust_image["path"].clone());
    assert_eq!(
        packages["images"]["args"]["entries"],
        Value::Object(archives)
    );

    // The compose file Arion generates mounts a store path; otherwise it is
    // the committed docker-compose.yml.
    let text = packages["compose"]["args"]["text"].as_str().unwrap();
    let mut compose: Value = serde_json::from_str(text).unwrap();
    let volume = compose["services"]["locust"]["volumes"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        volume.starts_with("/nix/store/") && volume.ends_with(":/mnt/locust"),
        "{volume}"
    );
    compose["services"]["locust"]["volumes"] = json!(["./:/mnt/locust"]);
    assert_eq!(compare(&committed_compose(), &compose), Ok(()));
    // The same with the workers: docker-compose.workers.yml over it.
    let text = packages["compose-workers"]["args"]["text"]
        .as_str()
        .unwrap();
    let mut workers: Value = serde_json::from_str(text).unwrap();
    for service in ["locust", "locust-worker"] {
        assert_eq!(workers["services"][service]["volumes"], json!([volume]));
        workers["services"][service]["volumes"] = json!(["./:/mnt/locust"]);
    }
    assert_eq!(compare(&committed_workers_compose(), &workers), Ok(()));
    check_kubernetes_yaml(packages);

    let apps = &flake["apps"];
    for (name, program) in [
        ("default", "wine-lab"),
        ("up", "wine-lab-up"),
        ("up-workers", "wine-lab-up-workers"),
        ("down", "wine-lab-down"),
        ("load", "wine-lab-load"),
        ("push", "wine-lab-push"),
    ] {
        let path = apps[name]["program"].as_str().unwrap();
        assert!(path.ends_with(&format!("/bin/{program}")), "{name}: {path}");
    }
    assert_eq!(
        keys(apps),
        set(&["default", "up", "up-workers", "down", "load", "push"])
    );
    let default = apps["default"]["program"].as_str().unwrap();
    assert!(default.starts_with(wine_lab["path"].as_str().unwrap()));

    let tools = flake["devShells"]["default"]["args"]["packages"]
        .as_array()
        .unwrap();
    for tool in [
        "docker-compose",
        "locust",
        "arion",
        "cargo",
        "rustc",
        "clippy",
        "rustfmt",
        "nixfmt",
    ] {
        assert!(
            tools.iter().any(|p| is_package(p, tool)),
            "{tool} in the shell"
        );
    }

    let checks = &flake["checks"];
    assert_eq!(
        keys(checks),
        set(&["servers", "clippy", "rustfmt", "nixfmt", "compose"])
    );
    assert_eq!(checks["servers"], *servers);
    for check in ["clippy", "rustfmt"] {
        assert_eq!(checks[check]["args"]["src"], servers["args"]["src"]);
    }
    assert!(is_package(&flake["formatter"]["path"], "nixfmt"));
}

#[test]
#[ignore = "needs nix-instantiate"]
fn flake_outputs_evaluate_for_both_systems_with_a_stand_in_nixpkgs() {
    for system in SYSTEMS {
        let flake = flake(&root(), system)
            .unwrap_or_else(|e| panic!("the flake does not evaluate for {system}:\n{e}"));
        check_flake_outputs(&flake, system);
    }
}

#[test]
#[ignore = "needs nix-instantiate"]
fn flake_with_a_stand_in_nixpkgs_rejects_broken_copies() {
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("repo");
    copy_tree(&root(), &copy);
    assert!(
        flake(&copy, "x86_64-linux").is_ok(),
        "the unmodified copy evaluates"
    );

    type Break = fn(&Path);
    let cases: [(&str, Break, &str); 8] = [
        (
            "a misspelt dockerTools argument",
            |repo| edit(&repo.join("nix/images.nix"), "tag = name;", "tags = name;"),
            "tags",
        ),
        (
            "a source file that does not exist",
            |repo| fs::remove_file(repo.join("build.rs")).unwrap(),
            "build.rs does not exist",
        ),
        (
            "an output that names a missing attribute",
            |repo| {
                edit(
                    &repo.join("flake.nix"),
                    "lab.images.locust;",
                    "lab.images.locusts;",
                )
            },
            "locusts",
        ),
        (
            "a package asking nixpkgs for what it lacks",
            |repo| {
                edit(
                    &repo.join("nix/package.nix"),
                    "  rustPlatform,\n}:",
                    "  rustPlatform,\n  rustPlatfrom,\n}:",
                )
            },
            "rustPlatfrom",
        ),
        (
            "a callPackage result exported whole",
            |repo| {
                edit(
                    &repo.join("flake.nix"),
                    "forAllSystems (lab: {\n        inherit (lab.checks)",
                    "forAllSystems (lab: lab.checks // {\n        inherit (lab.checks)",
                )
            },
            "checks.x86_64-linux.override is a function",
        ),
        (
            "a third system",
            |repo| {
                edit(
                    &repo.join("flake.nix"),
                    "\"aarch64-linux\"\n",
                    "\"aarch64-linux\"\n        \"riscv64-linux\"\n",
                )
            },
            "riscv64-linux",
        ),
        (
            "a locustfile the Locust commands load that the ConfigMap lacks",
            |repo| {
                edit(
                    &repo.join("arion-compose.nix"),
                    LOCUSTFILES_DEFINITION,
                    MORE_LOCUSTFILES_DEFINITION,
                )
            },
            "loads /mnt/locust/extra.py, which nix/sources.json's locust set does not hold",
        ),
        (
            "a root process",
            |repo| {
                edit(
                    &repo.join("deploy/images.json"),
                    "\"user\": \"65532:65532\"",
                    "\"user\": \"0:0\"",
                )
            },
            "deploy/images.json's user is root",
        ),
    ];
    for (what, break_it, message) in cases {
        let _ = fs::remove_dir_all(&copy);
        copy_tree(&root(), &copy);
        break_it(&copy);
        match flake(&copy, "x86_64-linux") {
            Ok(_) => panic!("{what}: the broken copy evaluated"),
            Err(error) => assert!(error.contains(message), "{what}: {error}"),
        }
    }
}

/// The files the Locust commands load (arion-compose.nix's `locustFiles`,
/// which arion-workers.nix uses too), and the same with one more file from
/// the same folder, as a lab that adds a locustfile would load it.
const LOCUSTFILES_DEFINITION: &str =
    "locustFiles = \"-f /mnt/locust/locustfile.py,/mnt/locust/locust_servers.py\";";
const MORE_LOCUSTFILES_DEFINITION: &str = "locustFiles = \"-f /mnt/locust/locustfile.py,/mnt/locust/locust_servers.py,/mnt/locust/extra.py\";";

/// The Kubernetes manifests take what the Locust commands load from the
/// composition and nix/sources.json: one more locustfile added there (and
/// nowhere in nix/kubernetes.nix) is in the ConfigMap and in both commands.
#[test]
#[ignore = "needs nix-instantiate"]
fn kubernetes_manifests_follow_a_second_locustfile_without_other_edits() {
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("repo");
    copy_tree(&root(), &copy);
    let extra = "\"\"\"Stand-in for one more locustfile.\"\"\"\n";
    fs::write(copy.join("extra.py"), extra).unwrap();
    edit(
        &copy.join("nix/sources.json"),
        "\"locust\": {\n    \"include\": [\n",
        "\"locust\": {\n    \"include\": [\n      \"extra.py\",\n",
    );
    edit(
        &copy.join("arion-compose.nix"),
        LOCUSTFILES_DEFINITION,
        MORE_LOCUSTFILES_DEFINITION,
    );
    let flake = flake(&copy, "x86_64-linux")
        .unwrap_or_else(|e| panic!("the copy with one more locustfile does not evaluate:\n{e}"));
    let stream = flake["packages"]["kubernetes"]["args"]["text"]
        .as_str()
        .unwrap();
    let documents: Vec<Value> = stream
        .lines()
        .filter(|line| *line != "---")
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let config_map = documents
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .expect("a ConfigMap");
    assert_eq!(config_map["data"]["extra.py"], extra);
    assert_eq!(
        config_map["data"]["locustfile.py"],
        read(&root().join("locustfile.py"))
    );
    for name in ["locust", "locust-worker"] {
        let deployment = documents
            .iter()
            .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no Deployment {name}"));
        let args = &deployment["spec"]["template"]["spec"]["containers"][0]["args"];
        assert_eq!(
            args[1], "/mnt/locust/locustfile.py,/mnt/locust/locust_servers.py,/mnt/locust/extra.py",
            "{name}: {args}"
        );
    }
}

/// Runs `bash -n` and shellcheck on a script; `Err` holds what they said.
fn check_script(script: &Path) -> Result<(), String> {
    for (program, args) in [("bash", &["-n"][..]), ("shellcheck", &[][..])] {
        let output = Command::new(program)
            .args(args)
            .arg(script)
            .output()
            .unwrap();
        if !output.status.success() {
            return Err(format!(
                "{program}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    Ok(())
}

/// writeShellApplication's build runs `bash -n` on the script and its
/// passthru.tests.shellcheck runs shellcheck: the scripts as the stand-in
/// renders them (the real function's text, see stand-in-pkgs.nix) pass both.
#[test]
#[ignore = "needs nix-instantiate and shellcheck"]
fn the_scripts_the_flake_writes_pass_bash_n_and_shellcheck() {
    common::require("shellcheck");
    let scratch = tempfile::tempdir().unwrap();
    let flake = flake(&root(), "x86_64-linux").unwrap();
    let scripts = flake["scripts"].as_object().unwrap();
    assert_eq!(
        keys(&flake["scripts"]),
        set(&["up", "up-workers", "down", "load", "push"])
    );
    for (name, text) in scripts {
        let text = text.as_str().unwrap();
        assert!(text.starts_with("#!/nix/store/"), "{name}: {text}");
        let script = scratch.path().join(name);
        fs::write(&script, text).unwrap();
        if let Err(error) = check_script(&script) {
            panic!("the {name} script fails its checks:\n{error}\n{text}");
        }
    }
    // ... and the checks can fail: an unquoted expansion.
    let bad = scratch.path().join("bad");
    fs::write(&bad, "#!/bin/bash\nrm $1\n").unwrap();
    assert!(check_script(&bad).unwrap_err().contains("SC2086"));
}

/// `nix run .#push -- REGISTRY [option...]`, as the stand-in renders it, with
/// the image archives in a scratch folder and a stand-in skopeo that logs its
/// calls: each archive goes to REGISTRY/<repository>:<tag>, the options
/// passed on, and the last line names the variable docker-compose.swarm.yml
/// reads the repository from.
#[test]
#[ignore = "needs nix-instantiate"]
fn the_push_script_copies_each_archive_to_the_registry() {
    let flake = flake(&root(), "x86_64-linux").unwrap();
    let script = flake["scripts"]["push"].as_str().unwrap();
    let archives_path = flake["packages"]["images"]["path"].as_str().unwrap();
    assert!(script.contains(archives_path), "{script}");
    let spec = images_spec();
    let repository = spec["repository"].as_str().unwrap();
    let mut tags: Vec<String> = keys(&spec["servers"]).into_iter().collect();
    tags.push(spec["locustTag"].as_str().unwrap().to_owned());
    tags.sort();

    let scratch = tempfile::tempdir().unwrap();
    let archives = scratch.path().join("images");
    fs::create_dir(&archives).unwrap();
    // Each "archive" a gzip of its own tag, so the log shows which was decompressed.
    for tag in &tags {
        let archive = fs::File::create(archives.join(format!("{tag}.tar.gz"))).unwrap();
        let status = Command::new("gzip")
            .arg("--stdout")
            .stdin(Stdio::piped())
            .stdout(archive)
            .spawn()
            .and_then(|mut gzip| {
                use std::io::Write;
                gzip.stdin.take().unwrap().write_all(tag.as_bytes())?;
                gzip.wait()
            })
            .unwrap();
        assert!(status.success());
    }
    let bin = scratch.path().join("bin");
    fs::create_dir(&bin).unwrap();
    let log = scratch.path().join("log");
    // The stand-in skopeo logs its arguments, the archive's place replaced by
    // FILE and followed by what the archive held.
    let skopeo = bin.join("skopeo");
    fs::write(
        &skopeo,
        r#"#!/bin/bash
args=()
for arg in "$@"; do
  case "$arg" in
    docker-archive:*) held=$(cat "${arg#docker-archive:}"); args+=("docker-archive:FILE") ;;
    *) args+=("$arg") ;;
  esac
done
echo "skopeo ${args[*]} [$held]" >> "$FAKE_LOG"
"#,
    )
    .unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&skopeo)
        .status()
        .unwrap();
    let tmp = scratch.path().join("tmp");
    fs::create_dir(&tmp).unwrap();
    let path = scratch.path().join("push");
    fs::write(
        &path,
        script.replace(archives_path, archives.to_str().unwrap()),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Command::new("bash")
            .arg(&path)
            .args(args)
            .env("FAKE_LOG", &log)
            .env("TMPDIR", &tmp)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .unwrap()
    };

    let output = run(&["registry.example:5000/", "--dest-tls-verify=false"]);
    assert!(output.status.success(), "{output:?}");
    let calls: Vec<String> = read(&log).lines().map(str::to_owned).collect();
    let expected: Vec<String> = tags
        .iter()
        .map(|tag| {
            format!(
                "skopeo --insecure-policy copy --dest-tls-verify=false \
                 docker-archive:FILE docker://registry.example:5000/{repository}:{tag} [{tag}]"
            )
        })
        .collect();
    assert_eq!(calls, expected);
    assert_eq!(
        fs::read_dir(&tmp).unwrap().count(),
        0,
        "the decompressed archives are removed"
    );
    let said = String::from_utf8_lossy(&output.stdout);
    let variable = format!("WINE_LAB_REPOSITORY=registry.example:5000/{repository}");
    assert!(said.contains(&variable), "{said}");
    assert!(
        read(&root().join("docker-compose.swarm.yml")).contains("${WINE_LAB_REPOSITORY:-"),
        "docker-compose.swarm.yml reads the variable the push script names"
    );

    // No registry: the usage, nothing copied.
    fs::remove_file(&log).unwrap();
    let output = run(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).starts_with("usage: nix run .#push -- REGISTRY")
    );
    assert!(!log.exists());
}
