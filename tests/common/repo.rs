//! The repository the tests run in: its root, its files read as text or JSON,
//! the files git tracks, and the seed lab beside it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The repository's root (cargo's manifest folder).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The text of `path`, relative to the root (or absolute); fails the test,
/// naming the file, if it cannot be read.
pub fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// [`read`], as JSON.
pub fn read_json(path: impl AsRef<Path>) -> Value {
    let text = read(&path);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", root().join(path).display()))
}

/// The files git tracks (what a flake's source holds), relative to the root.
pub fn tracked_files() -> Vec<String> {
    let output = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root())
        .output()
        .expect("run git ls-files");
    assert!(output.status.success(), "git ls-files: {output:?}");
    String::from_utf8(output.stdout)
        .expect("UTF-8 file names")
        .split('\0')
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The seed lab's text, `../shared/seed/load-testing-lab.md` beside the
/// repository (or the file `$WINE_LAB_SEED_LAB` names): the lab this one
/// reproduces. Fails the test, saying where it was looked for, if it is not
/// there; tests that need it are `#[ignore = "needs the seed lab beside the
/// repository"]`, so that elsewhere they count as ignored, never as passed.
pub fn seed_lab() -> String {
    let path = std::env::var_os("WINE_LAB_SEED_LAB").map_or_else(
        || root().join("../shared/seed/load-testing-lab.md"),
        PathBuf::from,
    );
    std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "this test needs the seed lab at {} ({error}): put the seed beside the repository, \
             or name it in WINE_LAB_SEED_LAB",
            path.display()
        )
    })
}

/// The seed lab's code blocks in `language` (```yml, ```python) that contain `marker`.
pub fn seed_blocks(markdown: &str, language: &str, marker: &str) -> Vec<String> {
    markdown
        .split(&format!("```{language}\n"))
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .filter(|block| block.contains(marker))
        .map(str::to_owned)
        .collect()
}
