//! The one nixpkgs pin: `flake.lock` holds exactly it, and both the flake's
//! inputs and `arion-pkgs.nix` (Arion's nixpkgs) read it.

use serde_json::json;

use crate::common::{read_json, root};
use crate::evaluate::eval_expr;

const NIXPKGS_REV: &str = "b51242d7d43689db2f3be91bd05d5b24fbb469c4";
const NIXPKGS_NAR_HASH: &str = "sha256-K5sT4jTpGs15ADhviMKNBH38REpPf5Q6mM1+N6cArVE=";
pub const NIXPKGS_URL: &str = "github:NixOS/nixpkgs/nixos-26.05";

#[test]
fn flake_lock_holds_exactly_the_nixpkgs_pin() {
    let lock = read_json("flake.lock");
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
