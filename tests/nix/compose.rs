//! The compose stack three ways, kept equal service by service: the seed
//! lab's compose file (`seed-compose.yml`, a verbatim copy), the committed
//! `docker-compose.yml` (and `docker-compose.workers.yml` over it), and what
//! `arion-compose.nix` (with `arion-workers.nix`) generates.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::common::{self, read, read_json, root};
use crate::evaluate::{arion, arion_with, helpers};

/// The fields of a compose service that the seed's compose file sets.
const SERVICE_FIELDS: [&str; 5] = ["image", "links", "ports", "volumes", "command"];
/// A store path as the flake's compose file mounts it.
const STORE_SOURCE: &str = "/nix/store/00000000000000000000000000000000-source";

/// A compose file as JSON (via yaml_serde, the YAML organisation's serde_yaml).
fn parse_yaml(source: &str) -> Result<Value, String> {
    yaml_serde::from_str(source).map_err(|e| e.to_string())
}

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
pub fn compare(expected: &Value, actual: &Value) -> Result<(), String> {
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
pub fn committed_workers_compose() -> Value {
    let workers =
        parse_yaml(&read("docker-compose.workers.yml")).expect("docker-compose.workers.yml parses");
    overlay(&committed_compose(), &workers).unwrap_or_else(|e| panic!("{e}"))
}

/// The Locust extension the stack loads beside the seed's locustfile: the
/// Servers tab on Locust's page (issue 19).
const EXTENSION: &str = "locust_servers.py";

/// The seed's compose file as this lab runs it: Locust from the image built
/// here (`<repository>:<locustTag>`) instead of the registry's locustio/locust,
/// and the [`EXTENSION`] loaded beside the seed's locustfile from the same folder.
fn seed_compose() -> Value {
    let mut seed = parse_yaml(&read(helpers().join("seed-compose.yml")))
        .expect("tests/nix/seed-compose.yml parses");
    assert_eq!(seed["services"]["locust"]["image"], "locustio/locust");
    let spec = read_json("deploy/images.json");
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

pub fn committed_compose() -> Value {
    parse_yaml(&read("docker-compose.yml")).expect("docker-compose.yml parses")
}

/// A generated compose file whose Locust `services` each mount `folder` at
/// /mnt/locust, with "./" there instead, as the committed files mount it.
pub fn mounting_the_checkout(generated: &Value, services: &[&str], folder: &str) -> Value {
    let mut compose = generated.clone();
    for service in services {
        let volumes = &mut compose["services"][service]["volumes"];
        assert_eq!(
            *volumes,
            json!([format!("{folder}:/mnt/locust")]),
            "{service}"
        );
        *volumes = json!(["./:/mnt/locust"]);
    }
    compose
}

/// The folders the Locust service mounts as the composition is evaluated:
/// none given (plain `arion up` in the repository: the checkout itself), "./"
/// (the committed docker-compose.yml) or a store path (the flake's).
fn mounts() -> [(Option<&'static str>, String); 3] {
    [
        (None, root().to_str().unwrap().to_owned()),
        (Some("./"), "./".to_owned()),
        (Some(STORE_SOURCE), STORE_SOURCE.to_owned()),
    ]
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
    let copy = read(helpers().join("seed-compose.yml"));
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

#[test]
#[ignore = "needs nix-instantiate"]
fn arion_compose_is_the_seeds_stack_for_arion_up_the_flake_and_docker_compose_yml() {
    // Plain docker-compose in the repository uses the same project (.env).
    let project = read(".env")
        .lines()
        .find_map(|line| line.strip_prefix("COMPOSE_PROJECT_NAME="))
        .expect(".env sets COMPOSE_PROJECT_NAME")
        .to_owned();
    for (given, mounted) in mounts() {
        let evaluated = arion(&root().join("arion-compose.nix"), given)
            .unwrap_or_else(|e| panic!("arion-compose.nix with {given:?} does not evaluate:\n{e}"));
        let compose = mounting_the_checkout(&evaluated["compose"], &["locust"], &mounted);
        assert_eq!(compare(&seed_compose(), &compose), Ok(()), "{given:?}");
        assert_eq!(compare(&committed_compose(), &compose), Ok(()), "{given:?}");
        assert_eq!(evaluated["project"], project.as_str());
    }
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
    for (given, mounted) in mounts() {
        let evaluated = arion_with(&root().join("arion-compose.nix"), Some(&workers), given)
            .unwrap_or_else(|e| panic!("arion-workers.nix with {given:?} does not evaluate:\n{e}"));
        let generated = mounting_the_checkout(
            &evaluated["compose"],
            &["locust", "locust-worker"],
            &mounted,
        );
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
