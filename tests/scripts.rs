//! The repository's shell scripts (every git-tracked file whose first line
//! names bash or sh, found rather than listed, so a new script is covered)
//! parse with `bash -n` and pass shellcheck.

mod common;

/// Tracked files starting with a bash or sh shebang.
fn shell_scripts() -> Vec<String> {
    common::tracked_files()
        .into_iter()
        .filter(|name| {
            let head = std::fs::read(common::root().join(name)).unwrap_or_default();
            let first = head.split(|&b| b == b'\n').next().unwrap_or_default();
            first.starts_with(b"#!") && (first.ends_with(b"bash") || first.ends_with(b"/sh"))
        })
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
        if let Err(error) = common::check_shell_script(&common::root().join(script)) {
            panic!("{script} fails its checks:\n{error}");
        }
    }
}
