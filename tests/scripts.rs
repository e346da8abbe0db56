//! The repository's shell scripts (every git-tracked file whose first line
//! names bash or sh, found rather than listed, so a new script is covered)
//! parse with `bash -n` and pass shellcheck.

mod common;

use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Tracked files starting with a bash or sh shebang.
fn shell_scripts() -> Vec<String> {
    let listed = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(ROOT)
        .output()
        .expect("run git ls-files");
    assert!(listed.status.success(), "git ls-files failed");
    String::from_utf8(listed.stdout)
        .expect("file names are UTF-8")
        .split('\0')
        .filter(|name| !name.is_empty())
        .filter(|name| {
            let head = std::fs::read(Path::new(ROOT).join(name)).unwrap_or_default();
            let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
            first.starts_with(b"#!") && (first.ends_with(b"bash") || first.ends_with(b"/sh"))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
#[ignore = "needs git and shellcheck"]
fn shell_scripts_parse_and_pass_shellcheck() {
    common::require("git");
    common::require("shellcheck");
    let scripts = shell_scripts();
    for expected in [".ci/run", "bench/soak", "tests/e2e/locust-rootfs.sh"] {
        assert!(
            scripts.iter().any(|s| s == expected),
            "{expected} not found among {scripts:?}"
        );
    }
    for script in &scripts {
        let parsed = Command::new("bash")
            .args(["-n", script])
            .current_dir(ROOT)
            .status()
            .expect("run bash -n");
        assert!(parsed.success(), "bash -n {script} failed");
        let checked = Command::new("shellcheck")
            .arg(script)
            .current_dir(ROOT)
            .output()
            .expect("run shellcheck");
        assert!(
            checked.status.success(),
            "shellcheck {script}:\n{}",
            String::from_utf8_lossy(&checked.stdout)
        );
    }
}
