//! Evaluating with `nix-instantiate`: a file or an expression strictly to
//! JSON, the flake against the stand-in nixpkgs, a composition against the
//! stand-in Arion.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

use crate::common;

/// The folder of the Nix helpers (`eval-*.nix`, `stand-in-*.nix`); they always
/// come from this checkout, also when evaluating a copy.
pub fn helpers() -> PathBuf {
    common::root().join("tests/nix")
}

/// `nix-instantiate --readonly-mode` with an empty NIX_PATH.
///
/// The first call in this process creates the Nix state (/nix/var/nix) with one
/// evaluation: on a machine where Nix never ran, the parallel evaluations of
/// these tests otherwise race to create it ("File exists", "schema is
/// corrupt", "database is busy"). `.ci/run` does the same once before the tests.
pub fn nix_instantiate() -> Command {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        common::require("nix-instantiate");
        let output = Command::new("nix-instantiate")
            .args(["--eval", "--expr", "true"])
            .stdout(Stdio::null())
            .output()
            .expect("run nix-instantiate");
        assert!(
            output.status.success(),
            "nix-instantiate cannot create its state (/nix/var/nix) here:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    });
    let mut command = Command::new("nix-instantiate");
    command.arg("--readonly-mode").env("NIX_PATH", "");
    command
}

/// Runs an evaluation; `Err` holds Nix's message.
fn run_json(mut command: Command) -> Result<Value, String> {
    let output = command.output().expect("nix-instantiate runs");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("output is not JSON: {e}"))
}

/// Evaluates `file` (a function of string arguments) strictly to JSON.
fn eval_file(file: &Path, args: &[(&str, &str)]) -> Result<Value, String> {
    let mut command = nix_instantiate();
    command.args(["--eval", "--strict", "--json"]).arg(file);
    for (name, value) in args {
        command.args(["--argstr", name, value]);
    }
    run_json(command)
}

/// Evaluates an expression strictly to JSON.
pub fn eval_expr(expr: &str) -> Result<Value, String> {
    let mut command = nix_instantiate();
    command.args(["--eval", "--strict", "--json", "--expr", expr]);
    run_json(command)
}

/// The flake at `root` evaluated with the stand-in nixpkgs, for one system.
pub fn flake(root: &Path, system: &str) -> Result<Value, String> {
    let root = root.to_str().expect("UTF-8 path");
    eval_file(
        &helpers().join("eval-flake.nix"),
        &[("root", root), ("system", system)],
    )
}

/// A composition evaluated with the stand-in Arion; without `locust_dir`, with
/// no module arguments, as plain `arion up` evaluates it.
pub fn arion(composition: &Path, locust_dir: Option<&str>) -> Result<Value, String> {
    arion_with(composition, None, locust_dir)
}

/// [`arion`] with a second module merged in (`also`), as `arion --file
/// <composition> --file <also>` evaluates the two.
pub fn arion_with(
    composition: &Path,
    also: Option<&Path>,
    locust_dir: Option<&str>,
) -> Result<Value, String> {
    let composition = composition.to_str().expect("UTF-8 path");
    let mut args = vec![("composition", composition)];
    args.extend(also.map(|also| ("also", also.to_str().expect("UTF-8 path"))));
    args.extend(locust_dir.map(|dir| ("locustDir", dir)));
    eval_file(&helpers().join("eval-arion.nix"), &args)
}
