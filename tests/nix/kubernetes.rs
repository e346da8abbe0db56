//! The Kubernetes manifests: `nix/kubernetes.nix`'s output is the committed
//! `deploy/kubernetes/wine-lab.yaml`, and what the Locust commands load
//! reaches them from the composition and `nix/sources.json` alone.

use std::fs;

use serde_json::Value;

use crate::common::{read, root};
use crate::evaluate::flake;
use crate::tree::{edit, scratch_copy};

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
pub fn check_kubernetes_yaml(packages: &Value) {
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

/// The files the Locust commands load (arion-compose.nix's `locustFiles`,
/// which arion-workers.nix uses too), and the same with one more file from
/// the same folder, as a lab that adds a locustfile would load it.
pub const LOCUSTFILES_DEFINITION: &str =
    "locustFiles = \"-f /mnt/locust/locustfile.py,/mnt/locust/locust_servers.py\";";
pub const MORE_LOCUSTFILES_DEFINITION: &str = "locustFiles = \"-f /mnt/locust/locustfile.py,/mnt/locust/locust_servers.py,/mnt/locust/extra.py\";";

/// The Kubernetes manifests take what the Locust commands load from the
/// composition and nix/sources.json: one more locustfile added there (and
/// nowhere in nix/kubernetes.nix) is in the ConfigMap and in both commands.
#[test]
#[ignore = "needs nix-instantiate"]
fn kubernetes_manifests_follow_a_second_locustfile_without_other_edits() {
    let (_scratch, copy) = scratch_copy();
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
    assert_eq!(config_map["data"]["locustfile.py"], read("locustfile.py"));
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
