//! The flake's outputs, evaluated for both systems against the stand-in
//! nixpkgs (`stand-in-*.nix`): each output is what it stands for, read from
//! the files it comes from (Cargo.toml, deploy/images.json, the committed
//! compose files and manifests), not written again here.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::common::{read, read_json, root};
use crate::compose::{
    committed_compose, committed_workers_compose, compare, mounting_the_checkout,
};
use crate::evaluate::flake;
use crate::kubernetes::check_kubernetes_yaml;
use crate::pins::NIXPKGS_URL;

const SYSTEMS: [&str; 2] = ["x86_64-linux", "aarch64-linux"];

pub fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not a map: {value}"))
        .keys()
        .cloned()
        .collect()
}

pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The store path a stand-in records for a package of the stand-in nixpkgs.
fn is_package(path: &Value, name: &str) -> bool {
    path.as_str()
        .is_some_and(|p| p.starts_with("/nix/store/") && p.ends_with(&format!("-{name}")))
}

#[test]
#[ignore = "needs nix-instantiate"]
fn flake_outputs_evaluate_for_both_systems_with_a_stand_in_nixpkgs() {
    for system in SYSTEMS {
        let flake = flake(root(), system)
            .unwrap_or_else(|e| panic!("the flake does not evaluate for {system}:\n{e}"));
        check_flake_outputs(&flake, system);
    }
}

/// One system's outputs, as tests/nix/eval-flake.nix describes them.
fn check_flake_outputs(flake: &Value, system: &str) {
    check_systems_and_inputs(flake);
    let packages = &flake["packages"];
    check_package_names(packages, system);
    check_servers(packages);
    check_images(packages);
    check_compose_files(packages);
    check_kubernetes_yaml(packages);
    check_apps(&flake["apps"], &packages["wine-lab"]);
    check_dev_shell(&flake["devShells"]["default"]);
    check_checks(&flake["checks"], &packages["servers"]);
    assert!(is_package(&flake["formatter"]["path"], "nixfmt"));
}

/// Every output for both systems, and the nixpkgs input as pinned.
fn check_systems_and_inputs(flake: &Value) {
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
}

fn check_package_names(packages: &Value, system: &str) {
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
}

/// The Rust package is Cargo.toml's; `wine-lab`, the default, wraps it.
fn check_servers(packages: &Value) {
    let servers = &packages["servers"];
    let manifest = read("Cargo.toml");
    assert_eq!(servers["standIn"], "rust-package");
    assert!(manifest.contains(&format!("name = {}", servers["args"]["pname"])));
    assert!(manifest.contains(&format!("version = {}", servers["args"]["version"])));
    let wine_lab = &packages["wine-lab"];
    assert_eq!(packages["default"], *wine_lab);
    assert_eq!(wine_lab["args"]["paths"], json!([servers["path"]]));
}

/// The images: everything from deploy/images.json, and all three archives
/// in packages.images.
fn check_images(packages: &Value) {
    let spec = read_json("deploy/images.json");
    let mut archives = Map::new();
    for (tag, server) in spec["servers"].as_object().unwrap() {
        let image = &packages[format!("image-{tag}")];
        assert_eq!(image["args"]["name"], spec["repository"]);
        assert_eq!(image["args"]["tag"], tag.as_str());
        assert_eq!(image["args"]["config"], server_image_config(&spec, server));
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
}

/// The image config of one server of deploy/images.json (`spec`), as Docker
/// reads it: durations in nanoseconds.
fn server_image_config(spec: &Value, server: &Value) -> Value {
    let port = spec["port"].as_u64().unwrap();
    let check = &spec["healthcheck"];
    let nanos = |field: &str| check[field].as_u64().unwrap() * 1_000_000;
    let mut test = vec![json!("CMD"), spec["serverBinary"].clone()];
    test.extend(check["args"].as_array().unwrap().iter().cloned());
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
        "Healthcheck": {
            "Test": test,
            "Interval": nanos("intervalMs"),
            "Timeout": nanos("timeoutMs"),
            "StartPeriod": nanos("startPeriodMs"),
            "Retries": check["retries"],
        },
    })
}

/// The compose files Arion generates mount a store path; otherwise they are
/// the committed docker-compose.yml, and docker-compose.workers.yml over it.
fn check_compose_files(packages: &Value) {
    let generated = |package: &str| -> Value {
        let text = packages[package]["args"]["text"].as_str().unwrap();
        serde_json::from_str(text).unwrap()
    };
    let compose = generated("compose");
    let volume = compose["services"]["locust"]["volumes"][0]
        .as_str()
        .unwrap();
    let folder = volume
        .strip_suffix(":/mnt/locust")
        .filter(|folder| folder.starts_with("/nix/store/"))
        .unwrap_or_else(|| panic!("Locust mounts no store path at /mnt/locust: {volume}"));
    let compose = mounting_the_checkout(&compose, &["locust"], folder);
    assert_eq!(compare(&committed_compose(), &compose), Ok(()));
    let workers = mounting_the_checkout(
        &generated("compose-workers"),
        &["locust", "locust-worker"],
        folder,
    );
    assert_eq!(compare(&committed_workers_compose(), &workers), Ok(()));
}

/// Each app runs its own script; the default one, wine-lab.
fn check_apps(apps: &Value, wine_lab: &Value) {
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
}

fn check_dev_shell(shell: &Value) {
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
}

/// `nix flake check` builds the package and checks its very source.
fn check_checks(checks: &Value, servers: &Value) {
    assert_eq!(
        keys(checks),
        set(&["servers", "clippy", "rustfmt", "nixfmt", "compose"])
    );
    assert_eq!(checks["servers"], *servers);
    for check in ["clippy", "rustfmt"] {
        assert_eq!(checks[check]["args"]["src"], servers["args"]["src"]);
    }
}
