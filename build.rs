//! Records the locked versions of the crates that determine a trained model
//! (smartcore, and the rand it draws its seeded numbers from), so the trainer
//! can write them into the model file.

use std::env;
use std::fs;
use std::path::Path;

fn main() {
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let lock_path = Path::new(&manifest_dir).join("Cargo.lock");
    println!("cargo::rerun-if-changed={}", lock_path.display());
    let lock = fs::read_to_string(&lock_path).unwrap_or_default();
    let packages = parse_packages(&lock);
    let smartcore = packages.iter().find(|p| p.name == "smartcore");
    let rand = smartcore.and_then(|smartcore| {
        let dependency = smartcore
            .dependencies
            .iter()
            .find(|d| *d == "rand" || d.starts_with("rand "))?;
        match dependency.split_once(' ') {
            Some((_, version)) => Some(version.to_owned()),
            None => packages
                .iter()
                .find(|p| p.name == "rand")
                .map(|p| p.version.clone()),
        }
    });
    let unknown = || "unknown".to_owned();
    let smartcore = smartcore.map(|p| p.version.clone()).unwrap_or_else(unknown);
    println!("cargo::rustc-env=WINE_LAB_SMARTCORE_VERSION={smartcore}");
    println!(
        "cargo::rustc-env=WINE_LAB_RAND_VERSION={}",
        rand.unwrap_or_else(unknown)
    );
}

/// One `[[package]]` entry of a Cargo.lock.
#[derive(Default)]
struct Package {
    name: String,
    version: String,
    /// Entries like `"rand"` or `"rand 0.10.4"` (the version when several are locked).
    dependencies: Vec<String>,
}

/// Reads the `[[package]]` entries of a Cargo.lock (a fixed, machine-written
/// subset of TOML: one key per line, dependency arrays one item per line).
fn parse_packages(lock: &str) -> Vec<Package> {
    let mut packages: Vec<Package> = Vec::new();
    let mut in_dependencies = false;
    for line in lock.lines().map(str::trim) {
        let quoted = |prefix: &str| {
            line.strip_prefix(prefix)
                .map(|rest| rest.trim_matches(|c| c == '"' || c == ',').to_owned())
        };
        if line == "[[package]]" {
            packages.push(Package::default());
            in_dependencies = false;
        } else if let Some(package) = packages.last_mut() {
            if in_dependencies {
                if line == "]" {
                    in_dependencies = false;
                } else if let Some(dependency) = quoted("") {
                    package.dependencies.push(dependency);
                }
            } else if let Some(name) = quoted("name = ") {
                package.name = name;
            } else if let Some(version) = quoted("version = ") {
                package.version = version;
            } else if line == "dependencies = [" {
                in_dependencies = true;
            }
        }
    }
    packages
}
