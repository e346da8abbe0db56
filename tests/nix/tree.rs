//! The repository's tree as the Nix tests use it: its `.nix` files, which
//! all parse, and scratch copies of it (whole, or a few files) to break with
//! one edit.

use std::fs;
use std::path::{Path, PathBuf};

use crate::common::{read, root};
use crate::evaluate::nix_instantiate;

/// Replaces exactly one occurrence of `from` in `file`.
pub fn edit(file: &Path, from: &str, to: &str) {
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
pub fn copy_tree(from: &Path, to: &Path) {
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

/// A copy of the repository's sources, `repo` in a scratch folder that is
/// removed with the returned guard.
pub fn scratch_copy() -> (tempfile::TempDir, PathBuf) {
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("repo");
    copy_tree(root(), &copy);
    (scratch, copy)
}

/// Copies `files` (relative to the root) into `to`, each at its place there.
pub fn copy_files(files: &[&str], to: &Path) {
    for file in files {
        let copy = to.join(file);
        fs::create_dir_all(copy.parent().unwrap()).expect("create directory");
        fs::copy(root().join(file), &copy).unwrap_or_else(|e| panic!("copy {file}: {e}"));
    }
}

#[test]
#[ignore = "needs nix-instantiate"]
fn every_nix_file_parses() {
    let mut files = Vec::new();
    nix_files(root(), &mut files);
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
