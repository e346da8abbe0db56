//! The stand-ins fail where the real functions fail, so that a test passing
//! against them says something: broken copies of the flake do not evaluate
//! against the stand-in nixpkgs, and the stand-in Arion refuses what Arion's
//! modules refuse (and a second plain `command`, which Arion would concatenate).

use std::fs;
use std::path::Path;

use crate::common::root;
use crate::evaluate::{arion, arion_with, flake};
use crate::kubernetes::{LOCUSTFILES_DEFINITION, MORE_LOCUSTFILES_DEFINITION};
use crate::tree::{copy_files, copy_tree, edit, scratch_copy};

#[test]
#[ignore = "needs nix-instantiate"]
fn flake_with_a_stand_in_nixpkgs_rejects_broken_copies() {
    let (_scratch, copy) = scratch_copy();
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
        copy_tree(root(), &copy);
        break_it(&copy);
        match flake(&copy, "x86_64-linux") {
            Ok(_) => panic!("{what}: the broken copy evaluated"),
            Err(error) => assert!(error.contains(message), "{what}: {error}"),
        }
    }
}

/// A scratch folder holding `files` of the repository, as `arion-compose.nix`
/// reads them (it takes the image tags from deploy/images.json beside it).
fn composition_copy(files: &[&str]) -> tempfile::TempDir {
    let scratch = tempfile::tempdir().unwrap();
    copy_files(files, scratch.path());
    scratch
}

#[test]
#[ignore = "needs nix-instantiate"]
fn stand_in_arion_rejects_a_second_command_without_mk_force() {
    // Arion's `command` would concatenate the two strings (checked by hand with
    // the real modules, docs/nix.md); the stand-in refuses instead.
    let scratch = composition_copy(&[
        "deploy/images.json",
        "arion-compose.nix",
        "arion-workers.nix",
    ]);
    let composition = scratch.path().join("arion-compose.nix");
    let workers = scratch.path().join("arion-workers.nix");
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
    let scratch = composition_copy(&["deploy/images.json", "arion-compose.nix"]);
    let file = scratch.path().join("arion-compose.nix");
    let original = fs::read_to_string(&file).unwrap();
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
