//! The Nix side of the repository, checked by evaluation: nothing is built, so
//! these run wherever `nix-instantiate` does (CI installs Debian's nix-bin).
//!
//! - every `.nix` file parses;
//! - `arion-compose.nix`, evaluated with a stand-in for the few Arion options it
//!   sets (`tests/nix/stand-in-arion.nix`), equals the seed lab's compose file
//!   and the committed `docker-compose.yml`, service by service;
//! - `flake.lock` holds exactly the nixpkgs pin;
//! - the flake's outputs evaluate for both systems with nixpkgs replaced by a
//!   stand-in (`tests/nix/stand-in-*.nix`) that provides only what the flake
//!   calls and rejects unknown arguments, and they say what they should;
//! - broken copies (a misspelt argument, a missing file, a missing attribute, an
//!   unknown Arion option) are rejected, so the checks above can fail.
//!
//! Without `nix-instantiate`, a test that needs it fails when `CI=true` and
//! otherwise prints a loud note and returns. The real Arion modules and nixpkgs
//! are not available offline; `nix flake check` on a machine with Nix runs the
//! same compose comparison against Arion's own output (`nix/checks.nix`).
//!
//! Independent of the library: only `std`, `serde_json` and `yaml_serde`.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value, json};

const SYSTEMS: [&str; 2] = ["x86_64-linux", "aarch64-linux"];
const NIXPKGS_REV: &str = "b51242d7d43689db2f3be91bd05d5b24fbb469c4";
const NIXPKGS_NAR_HASH: &str = "sha256-K5sT4jTpGs15ADhviMKNBH38REpPf5Q6mM1+N6cArVE=";
const NIXPKGS_URL: &str = "github:NixOS/nixpkgs/nixos-26.05";
/// The fields of a compose service that the seed's compose file sets.
const SERVICE_FIELDS: [&str; 5] = ["image", "links", "ports", "volumes", "command"];

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

// ---------------------------------------------------------------------------
// nix-instantiate
// ---------------------------------------------------------------------------

/// A working `nix-instantiate`, evaluating in read-only mode (no store writes,
/// no daemon needed).
struct Nix;

/// `Some(Nix)` when `nix-instantiate` runs. Otherwise: under `CI=true` the test
/// fails, since CI must install nix-bin; elsewhere a loud note and `None`.
fn nix(test: &str) -> Option<Nix> {
    let works = Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .map(|output| output.status.success())
        .unwrap_or(false);
    if works {
        return Some(Nix);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!(
            "{test}: nix-instantiate is missing, and CI=true: CI must install it \
             (apt-get install -y nix-bin) so the Nix files are checked"
        );
    }
    loud_note(&format!(
        "{test} did NOT run: nix-instantiate is missing.\n\
         Install it (Debian: apt-get install -y nix-bin) to check the Nix files."
    ));
    None
}

/// A note that shows even when the test passes: written to the process's
/// stderr directly, which the test harness does not capture.
fn loud_note(note: &str) {
    let mut text = String::from("\n");
    for line in note.lines() {
        text.push_str(&format!("!!!!!!!! NOTE: {line}\n"));
    }
    let _ = std::io::stderr().write_all(text.as_bytes());
}

impl Nix {
    fn command() -> Command {
        let mut command = Command::new("nix-instantiate");
        command.arg("--readonly-mode").env("NIX_PATH", "");
        command
    }

    /// Parses one file; `Err` holds Nix's message.
    fn parse(&self, file: &Path) -> Result<(), String> {
        let output = Self::command()
            .arg("--parse")
            .arg(file)
            .output()
            .expect("nix-instantiate runs");
        if output.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// Evaluates `file` (a function of string arguments) strictly to JSON.
    fn eval(&self, file: &Path, args: &[(&str, &str)]) -> Result<Value, String> {
        let mut command = Self::command();
        command.args(["--eval", "--strict", "--json"]).arg(file);
        for (name, value) in args {
            command.args(["--argstr", name, value]);
        }
        self.run(command)
    }

    /// Evaluates an expression strictly to JSON.
    fn eval_expr(&self, expr: &str) -> Result<Value, String> {
        let mut command = Self::command();
        command.args(["--eval", "--strict", "--json", "--expr", expr]);
        self.run(command)
    }

    fn run(&self, mut command: Command) -> Result<Value, String> {
        let output = command.output().expect("nix-instantiate runs");
        if !output.status.success() {
            return Err(String::from_utf8_lossy(&output.stderr).into_owned());
        }
        serde_json::from_slice(&output.stdout).map_err(|e| format!("output is not JSON: {e}"))
    }

    /// The flake at `root` evaluated with the stand-in nixpkgs, for one system.
    fn flake(&self, root: &Path, system: &str) -> Result<Value, String> {
        let root = root.to_str().expect("UTF-8 path");
        self.eval(
            &root_of_helpers().join("eval-flake.nix"),
            &[("root", root), ("system", system)],
        )
    }

    /// A composition evaluated with the stand-in Arion.
    fn arion(&self, composition: &Path, locust_dir: &str) -> Result<Value, String> {
        self.eval(
            &root_of_helpers().join("eval-arion.nix"),
            &[
                ("composition", composition.to_str().expect("UTF-8 path")),
                ("locustDir", locust_dir),
            ],
        )
    }
}

/// The helpers always come from this checkout, also when evaluating a copy.
fn root_of_helpers() -> PathBuf {
    root().join("tests").join("nix")
}

/// A scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("wine-lab-{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
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

fn images_spec() -> Value {
    read_json(&root().join("deploy/images.json"))
}

/// The seed's compose file as this lab runs it: Locust from the image built
/// here (`<repository>:<locustTag>`) instead of the registry's locustio/locust.
fn seed_compose() -> Value {
    let mut seed = parse_yaml(&read(&root_of_helpers().join("seed-compose.yml")))
        .expect("tests/nix/seed-compose.yml parses");
    assert_eq!(seed["services"]["locust"]["image"], "locustio/locust");
    let spec = images_spec();
    let tag = format!(
        "{}:{}",
        spec["repository"].as_str().expect("repository"),
        spec["locustTag"].as_str().expect("locustTag")
    );
    seed["services"]["locust"]["image"] = Value::String(tag);
    seed
}

fn committed_compose() -> Value {
    parse_yaml(&read(&root().join("docker-compose.yml"))).expect("docker-compose.yml parses")
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

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
fn seed_compose_copy_matches_the_seed_lab() {
    let seed_lab = root().join("../shared/seed/load-testing-lab.md");
    let Ok(markdown) = fs::read_to_string(&seed_lab) else {
        loud_note(&format!(
            "{} is not beside the repository; the committed copy \
             tests/nix/seed-compose.yml was not compared with it.",
            seed_lab.display()
        ));
        return;
    };
    // The seed's complete compose file: the ```yml block that has a command.
    let blocks: Vec<&str> = markdown
        .split("```yml\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .filter(|block| block.contains("command:"))
        .collect();
    assert_eq!(blocks.len(), 1, "one complete compose file in the seed");
    let copy = read(&root_of_helpers().join("seed-compose.yml"));
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

#[test]
fn every_nix_file_parses() {
    let Some(nix) = nix("every_nix_file_parses") else {
        return;
    };
    let mut files = Vec::new();
    nix_files(&root(), &mut files);
    let relative: BTreeSet<String> = files
        .iter()
        .map(|f| {
            f.strip_prefix(root())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    for expected in [
        "flake.nix",
        "arion-compose.nix",
        "nix/package.nix",
        "nix/lab.nix",
        "nix/model.nix",
        "nix/images.nix",
        "nix/compose.nix",
        "nix/apps.nix",
        "nix/shell.nix",
        "nix/checks.nix",
        "tests/nix/stand-in-pkgs.nix",
    ] {
        assert!(
            relative.contains(expected),
            "{expected} exists: {relative:?}"
        );
    }
    for file in &files {
        if let Err(error) = nix.parse(file) {
            panic!("{} does not parse:\n{error}", file.display());
        }
    }
    println!("{} .nix files parse", files.len());

    let scratch = Scratch::new("parse");
    let broken = scratch.0.join("broken.nix");
    fs::write(&broken, "{ a = 1; b = ; }\n").unwrap();
    assert!(nix.parse(&broken).is_err(), "a broken file is rejected");
}

#[test]
fn arion_compose_evaluates_to_the_seeds_services_and_docker_compose_yml() {
    let Some(nix) = nix("arion_compose_evaluates_to_the_seeds_services_and_docker_compose_yml")
    else {
        return;
    };
    let evaluated = nix
        .arion(&root().join("arion-compose.nix"), "./")
        .unwrap_or_else(|e| panic!("arion-compose.nix does not evaluate:\n{e}"));
    assert_eq!(evaluated["project"], "wine-lab");
    // Plain docker-compose in the repository uses the same project (.env).
    let dotenv = read(&root().join(".env"));
    let project = dotenv
        .lines()
        .find_map(|line| line.strip_prefix("COMPOSE_PROJECT_NAME="))
        .expect(".env sets COMPOSE_PROJECT_NAME");
    assert_eq!(
        evaluated["project"], project,
        ".env and arion-compose.nix disagree"
    );
    let generated = &evaluated["compose"];
    if let Err(e) = compare(&seed_compose(), generated) {
        panic!("arion-compose.nix differs from the seed's compose file:\n{e}");
    }
    if let Err(e) = compare(&committed_compose(), generated) {
        panic!("arion-compose.nix differs from docker-compose.yml:\n{e}");
    }
}

#[test]
fn arion_compose_mounts_the_given_folder_for_nix_run_up() {
    let Some(nix) = nix("arion_compose_mounts_the_given_folder_for_nix_run_up") else {
        return;
    };
    let store = "/nix/store/00000000000000000000000000000000-source";
    let evaluated = nix.arion(&root().join("arion-compose.nix"), store).unwrap();
    let mut compose = evaluated["compose"].clone();
    assert_eq!(
        compose["services"]["locust"]["volumes"],
        json!([format!("{store}:/mnt/locust")])
    );
    // Otherwise it is the checkout's stack.
    compose["services"]["locust"]["volumes"] = json!(["./:/mnt/locust"]);
    assert_eq!(compare(&committed_compose(), &compose), Ok(()));
}

#[test]
fn stand_in_arion_rejects_unknown_options_and_wrong_types() {
    let Some(nix) = nix("stand_in_arion_rejects_unknown_options_and_wrong_types") else {
        return;
    };
    let scratch = Scratch::new("arion");
    let original = read(&root().join("arion-compose.nix"));
    let cases = [
        ("ports = [", "port = [", "has no option port"),
        (
            "command = \"-f /mnt/locust/locustfile.py\";",
            "command = 42;",
            "command must be",
        ),
        ("project.name = ", "project.nmae = ", "has no option nmae"),
    ];
    // arion-compose.nix reads the image tags from deploy/images.json beside it.
    fs::create_dir_all(scratch.0.join("deploy")).unwrap();
    fs::copy(
        root().join("deploy/images.json"),
        scratch.0.join("deploy/images.json"),
    )
    .unwrap();
    for (from, to, message) in cases {
        let file = scratch.0.join("arion-compose.nix");
        fs::write(&file, &original).unwrap();
        assert!(
            nix.arion(&file, "./").is_ok(),
            "the unmodified copy evaluates"
        );
        edit(&file, from, to);
        match nix.arion(&file, "./") {
            Ok(value) => panic!("{to:?} was accepted: {value}"),
            Err(error) => assert!(error.contains(message), "{to:?}: {error}"),
        }
    }
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

    let Some(nix) = nix("flake_lock_holds_exactly_the_nixpkgs_pin (flake.nix's inputs)") else {
        return;
    };
    let flake = root().join("flake.nix");
    let inputs = nix
        .eval_expr(&format!("(import {}).inputs", flake.display()))
        .unwrap();
    assert_eq!(inputs, json!({ "nixpkgs": { "url": NIXPKGS_URL } }));
}

/// The store path a stand-in records for a package of the stand-in nixpkgs.
fn is_package(path: &Value, name: &str) -> bool {
    path.as_str()
        .is_some_and(|p| p.starts_with("/nix/store/") && p.ends_with(&format!("-{name}")))
}

fn cargo_version() -> String {
    read(&root().join("Cargo.toml"))
        .lines()
        .find_map(|line| line.strip_prefix("version = "))
        .expect("a package version")
        .trim_matches('"')
        .to_owned()
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

/// Every file a Rust source compiled by the package embeds (`include_str!`,
/// `include_bytes!`), relative to the repository root.
fn embedded_files(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in fs::read_dir(dir).expect("read directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            if path != root().join("tests").join("nix") {
                embedded_files(&path, found);
            }
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = read(&path);
        for marker in ["include_str!(\"", "include_bytes!(\""] {
            for rest in text.split(marker).skip(1) {
                let literal = rest.split('"').next().unwrap_or_default();
                let mut resolved = path.parent().unwrap().to_path_buf();
                for part in Path::new(literal).components() {
                    match part {
                        std::path::Component::ParentDir => {
                            resolved.pop();
                        }
                        std::path::Component::Normal(name) => resolved.push(name),
                        _ => {}
                    }
                }
                let relative = resolved
                    .strip_prefix(root())
                    .unwrap_or_else(|_| panic!("{} embeds {literal}", path.display()));
                found.insert(relative.to_string_lossy().into_owned());
            }
        }
    }
}

fn check_flake_outputs(flake: &Value, system: &str) {
    let every_system = json!(["aarch64-linux", "x86_64-linux"]);
    for output in ["packages", "apps", "devShells", "checks", "formatter"] {
        assert_eq!(flake["systems"][output], every_system, "{output} systems");
    }
    assert_eq!(
        keys(&flake["systems"]),
        set(&["packages", "apps", "devShells", "checks", "formatter"])
    );
    assert_eq!(
        flake["inputs"],
        json!({ "nixpkgs": { "url": NIXPKGS_URL } })
    );

    let packages = &flake["packages"];
    assert_eq!(
        keys(packages),
        set(&[
            "default",
            "servers",
            "wine-lab",
            "model",
            "image-no-batch",
            "image-with-batch",
            "image-locust",
            "images",
            "compose"
        ]),
        "{system}"
    );

    // The binaries, from exactly the files cargo reads.
    let servers = &packages["servers"];
    assert_eq!(servers["standIn"], "rust-package");
    assert_eq!(servers["args"]["pname"], "wine-lab");
    assert_eq!(servers["args"]["version"], cargo_version());
    assert!(
        servers["args"]["cargoLock"]["lockFile"]
            .as_str()
            .unwrap()
            .ends_with("/Cargo.lock")
    );
    assert_eq!(
        servers["args"]["src"]["source"],
        json!([
            "Cargo.toml",
            "Cargo.lock",
            "build.rs",
            "src",
            "examples",
            "data",
            "locustfile.py",
            "tests minus tests/nix"
        ])
    );
    // What the crate embeds and what Cargo.toml points at are in that source.
    let in_source = |file: &str| {
        ["Cargo.toml", "Cargo.lock", "build.rs", "locustfile.py"].contains(&file)
            || ["src/", "examples/", "data/", "tests/"]
                .iter()
                .any(|dir| file.starts_with(dir) && !file.starts_with("tests/nix/"))
    };
    let mut embedded = BTreeSet::new();
    embedded_files(&root().join("src"), &mut embedded);
    embedded_files(&root().join("examples"), &mut embedded);
    embedded_files(&root().join("tests"), &mut embedded);
    assert!(embedded.contains("data/wine.csv"), "{embedded:?}");
    for file in &embedded {
        assert!(
            in_source(file),
            "the crate embeds {file}, which the Nix source lacks"
        );
    }
    for line in read(&root().join("Cargo.toml")).lines() {
        if let Some(path) = line.trim().strip_prefix("path = ") {
            let path = path.trim_matches('"');
            assert!(
                in_source(path),
                "Cargo.toml names {path}, which the Nix source lacks"
            );
        }
    }

    let flags: Vec<&str> = servers["args"]["cargoTestFlags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(flags.starts_with(&["--lib", "--bins"]), "{flags:?}");
    for pair in flags.windows(2).filter(|pair| pair[0] == "--test") {
        let target = root().join("tests").join(format!("{}.rs", pair[1]));
        assert!(
            target.is_file(),
            "cargoTestFlags names {}",
            target.display()
        );
        assert_ne!(pair[1], "nix", "tests/nix.rs cannot run in the sandbox");
    }

    // `nix run`: the runner with Locust on its PATH.
    let wine_lab = &packages["wine-lab"];
    assert_eq!(packages["default"], *wine_lab);
    assert_eq!(wine_lab["args"]["paths"], json!([servers["path"]]));
    assert_eq!(wine_lab["args"]["meta"]["mainProgram"], "wine-lab");
    let post_build = wine_lab["args"]["postBuild"].as_str().unwrap();
    let locust = flake["devShells"]["default"]["args"]["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| is_package(p, "locust"))
        .expect("locust in the shell")
        .as_str()
        .unwrap();
    assert!(
        post_build.contains(&format!(
            "wrapProgram $out/bin/wine-lab --prefix PATH : {locust}/bin"
        )),
        "{post_build}"
    );

    // The model, trained in a derivation.
    let model = &packages["model"];
    assert!(
        model["args"]["buildCommand"]
            .as_str()
            .unwrap()
            .contains("wine-train --out")
    );
    assert_eq!(model["args"]["nativeBuildInputs"], json!([servers["path"]]));

    // The images, everything from deploy/images.json.
    let spec = images_spec();
    let repository = spec["repository"].as_str().unwrap();
    let port = spec["port"].as_u64().unwrap();
    let servers_spec = spec["servers"].as_object().unwrap();
    assert_eq!(keys(&spec["servers"]), set(&["no-batch", "with-batch"]));
    let mut archives = Map::new();
    for (tag, server) in servers_spec {
        let image = &packages[format!("image-{tag}")];
        assert_eq!(image["standIn"], "docker-image");
        assert_eq!(image["args"]["name"], repository);
        assert_eq!(image["args"]["tag"], tag.as_str());
        assert_eq!(image["args"]["created"], "1970-01-01T00:00:01Z");
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
                "ExposedPorts": { format!("{port}/tcp"): {} }
            })
        );
        archives.insert(format!("{tag}.tar.gz"), image["path"].clone());
    }
    let locust_image = &packages["image-locust"];
    assert_eq!(locust_image["args"]["name"], repository);
    assert_eq!(locust_image["args"]["tag"], spec["locustTag"]);
    assert_eq!(locust_image["args"]["created"], "1970-01-01T00:00:01Z");
    assert_eq!(
        locust_image["args"]["config"]["Entrypoint"],
        json!(["locust"])
    );
    assert!(
        locust_image["args"]["contents"]
            .as_array()
            .unwrap()
            .contains(&json!(locust))
    );
    archives.insert(
        format!("{}.tar.gz", spec["locustTag"].as_str().unwrap()),
        locust_image["path"].clone(),
    );
    assert_eq!(
        packages["images"]["args"]["entries"],
        Value::Object(archives)
    );

    // The compose file Arion generates, mounting a store path.
    let compose: Value =
        serde_json::from_str(packages["compose"]["args"]["text"].as_str().unwrap()).unwrap();
    let volume = compose["services"]["locust"]["volumes"][0]
        .as_str()
        .unwrap();
    assert!(
        volume.starts_with("/nix/store/") && volume.ends_with(":/mnt/locust"),
        "{volume}"
    );
    let mut checkout = compose.clone();
    checkout["services"]["locust"]["volumes"] = json!(["./:/mnt/locust"]);
    assert_eq!(compare(&committed_compose(), &checkout), Ok(()));

    // The apps.
    let apps = &flake["apps"];
    assert_eq!(keys(apps), set(&["default", "up", "down", "load"]));
    for (name, program) in [
        ("default", "wine-lab"),
        ("up", "wine-lab-up"),
        ("down", "wine-lab-down"),
        ("load", "wine-lab-load"),
    ] {
        assert_eq!(apps[name]["type"], "app");
        let path = apps[name]["program"].as_str().unwrap();
        assert!(path.ends_with(&format!("/bin/{program}")), "{name}: {path}");
        assert!(apps[name]["meta"]["description"].is_string());
    }
    assert!(
        apps["default"]["program"]
            .as_str()
            .unwrap()
            .starts_with(wine_lab["path"].as_str().unwrap())
    );

    // The shell.
    let shell = &flake["devShells"]["default"];
    assert_eq!(keys(&flake["devShells"]), set(&["default"]));
    let tools = shell["args"]["packages"].as_array().unwrap();
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
    let hook = shell["args"]["shellHook"].as_str().unwrap();
    assert!(
        hook.contains("nix run .#load") && hook.contains("docker-compose up"),
        "{hook}"
    );

    // The checks and the formatter.
    let checks = &flake["checks"];
    assert_eq!(
        keys(checks),
        set(&["servers", "clippy", "rustfmt", "nixfmt", "compose"])
    );
    assert_eq!(checks["servers"], *servers);
    let clippy = checks["clippy"]["args"]["buildPhase"].as_str().unwrap();
    assert!(clippy.contains("cargo clippy") && clippy.contains("--deny warnings"));
    let rustfmt = checks["rustfmt"]["args"]["buildPhase"].as_str().unwrap();
    assert!(rustfmt.contains("cargo fmt") && rustfmt.contains("--check"));
    for check in ["clippy", "rustfmt"] {
        assert_eq!(checks[check]["args"]["src"], servers["args"]["src"]);
    }
    let nixfmt = checks["nixfmt"]["args"]["buildCommand"].as_str().unwrap();
    assert!(nixfmt.contains("nixfmt --check"));
    let compose_check = checks["compose"]["args"]["buildCommand"].as_str().unwrap();
    for input in [
        "docker-compose.yml",
        "seed-compose.yml",
        "docker-compose.yaml",
    ] {
        assert!(
            compose_check.contains(input),
            "the compose check reads {input}"
        );
    }
    assert!(is_package(&flake["formatter"]["path"], "nixfmt"));
}

#[test]
fn flake_outputs_evaluate_for_both_systems_with_a_stand_in_nixpkgs() {
    let Some(nix) = nix("flake_outputs_evaluate_for_both_systems_with_a_stand_in_nixpkgs") else {
        return;
    };
    for system in SYSTEMS {
        let flake = nix
            .flake(&root(), system)
            .unwrap_or_else(|e| panic!("the flake does not evaluate for {system}:\n{e}"));
        check_flake_outputs(&flake, system);
    }
}

#[test]
fn flake_with_a_stand_in_nixpkgs_rejects_broken_copies() {
    let Some(nix) = nix("flake_with_a_stand_in_nixpkgs_rejects_broken_copies") else {
        return;
    };
    let scratch = Scratch::new("broken-flake");
    let copy = scratch.0.join("repo");
    copy_tree(&root(), &copy);
    assert!(
        nix.flake(&copy, "x86_64-linux").is_ok(),
        "the unmodified copy evaluates"
    );

    type Break = fn(&Path);
    let cases: [(&str, Break, &str); 6] = [
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
    ];
    for (what, break_it, message) in cases {
        let _ = fs::remove_dir_all(&copy);
        copy_tree(&root(), &copy);
        break_it(&copy);
        match nix.flake(&copy, "x86_64-linux") {
            Ok(_) => panic!("{what}: the broken copy evaluated"),
            Err(error) => assert!(error.contains(message), "{what}: {error}"),
        }
    }
}
