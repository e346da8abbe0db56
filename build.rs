//! Records the locked versions of the crates that determine a trained model
//! (smartcore, and the rand it draws its seeded numbers from), so the trainer
//! can write them into the model file.
//!
//! Cargo.lock is read with the `toml` crate: its format is TOML, and cargo gives
//! build scripts no other view of the resolved versions.

use std::path::Path;

use serde::Deserialize;

/// The part of Cargo.lock this needs.
#[derive(Deserialize)]
struct Lock {
    #[serde(default, rename = "package")]
    packages: Vec<Package>,
}

/// One `[[package]]` entry.
#[derive(Deserialize)]
struct Package {
    name: String,
    version: String,
    /// Entries like `"rand"`, or `"rand 0.10.4"` when several versions are locked.
    #[serde(default)]
    dependencies: Vec<String>,
}

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let lock_path = Path::new(&manifest_dir).join("Cargo.lock");
    println!("cargo::rerun-if-changed={}", lock_path.display());
    let text = std::fs::read_to_string(&lock_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", lock_path.display()));
    let lock: Lock = toml::from_str(&text)
        .unwrap_or_else(|e| panic!("cannot parse {}: {e}", lock_path.display()));

    let find = |name: &str| lock.packages.iter().find(|p| p.name == name);
    let smartcore = find("smartcore").expect("smartcore is locked in Cargo.lock");
    let rand = smartcore
        .dependencies
        .iter()
        .find_map(|entry| match entry.split_once(' ') {
            Some(("rand", version)) => Some(version),
            None if entry == "rand" => find("rand").map(|p| p.version.as_str()),
            _ => None,
        })
        .expect("smartcore depends on rand in Cargo.lock");

    println!(
        "cargo::rustc-env=WINE_LAB_SMARTCORE_VERSION={}",
        smartcore.version
    );
    println!("cargo::rustc-env=WINE_LAB_RAND_VERSION={rand}");
}
