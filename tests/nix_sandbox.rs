//! The Nix build, rehearsed without Nix: what `nix build` and `nix flake check`
//! run on this crate's code, run here the way the Nix sandbox runs it, so a
//! source set that lacks a file the build or its tests read fails here first.
//!
//! For the package (`nix/package.nix`, nixpkgs' `buildRustPackage`):
//! - the source is exactly the set `nix/sources.json` lists (the file Nix reads
//!   too), git-tracked files only, as in a flake's source, copied into an empty
//!   folder and mounted read-only;
//! - the crates of `Cargo.lock` are vendored with `cargo vendor`, as
//!   `importCargoLock` does, from cargo's local cache (`--offline`: the build
//!   itself never has a network);
//! - build and tests run as the hooks of nixpkgs
//!   (`pkgs/build-support/rust/hooks/cargo-build-hook.sh` @ d1705c6 and
//!   `cargo-check-hook.sh` @ e2ed640) run them: `cargo build --profile release
//!   --target <host> --offline`, then `cargo test --profile <checkType> --target
//!   <host> --frozen <cargoTestFlags> -- --test-threads=2`, with `checkType` and
//!   `cargoTestFlags` read from `nix/package.nix` (buildRustPackage's `buildType`
//!   defaults to "release" and `checkType` to `buildType`:
//!   `build-rust-package/default.nix` @ 00ed845; for "debug" the hook passes no
//!   `--profile`, so cargo's own test profile builds them);
//! - every command runs with an empty environment but PATH, HOME (a folder that
//!   does not exist, as Nix's `/homeless-shelter`), CARGO_HOME (holding only the
//!   vendoring config the setup hook writes), CARGO_TARGET_DIR and TMPDIR, in new
//!   network and mount namespaces: loopback only, source read-only.
//!
//! Then, from that one build: the model (`nix/model.nix`: `wine-train --out`)
//! has the bytes `cargo run --bin wine-train` gives; the server root of the
//! images (`nix/images.nix`: binary and model at the paths of
//! `deploy/images.json`) serves predictions; and with a file the tests read at
//! run time taken out of the source, the same tests fail. clippy and rustfmt
//! (`nix/checks.nix`) run on the same source in the same sandbox.
//!
//! It needs git (the tracked files), `unshare` (util-linux), `ip` and `mount`;
//! on 2 cores the release build and tests take several minutes.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::{read, read_json, root};

/// Parallelism of the build and tests: what a 2-core Nix builder gives them.
const CORES: &str = "2";
/// HOME in the Nix sandbox: a folder that does not exist.
const HOMELESS: &str = "/homeless-shelter";
/// Longer than the release build on a loaded 2-core machine ever took.
const TIMEOUT: Duration = Duration::from_secs(40 * 60);

/// One derivation's source as `nix/sources.json` lists it.
struct SourceSet {
    include: Vec<String>,
    exclude: Vec<String>,
}

impl SourceSet {
    fn named(name: &str) -> SourceSet {
        let sources = read_json("nix/sources.json");
        let list = |key: &str| -> Vec<String> {
            sources[name][key]
                .as_array()
                .unwrap_or_else(|| panic!("nix/sources.json: {name}.{key} is not a list"))
                .iter()
                .map(|path| path.as_str().expect("a path string").to_owned())
                .collect()
        };
        SourceSet {
            include: list("include"),
            exclude: list("exclude"),
        }
    }

    /// Whether `file` (relative to the root) is in the set, as
    /// `lib.fileset.difference (unions include) (unions exclude)` decides.
    fn contains(&self, file: &str) -> bool {
        let under = |path: &String| file == path || file.starts_with(&format!("{path}/"));
        self.include.iter().any(under) && !self.exclude.iter().any(under)
    }
}

/// `cargoTestFlags` of `nix/package.nix`, read from that file.
fn cargo_test_flags() -> Vec<String> {
    let text = read("nix/package.nix");
    let list = text
        .split("cargoTestFlags = [")
        .nth(1)
        .and_then(|rest| rest.split("];").next())
        .expect("nix/package.nix sets cargoTestFlags = [ ... ];");
    let flags: Vec<String> = list
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            line.strip_prefix('"')
                .and_then(|line| line.strip_suffix('"'))
                .unwrap_or_else(|| panic!("cargoTestFlags: not a plain string: {line}"))
                .to_owned()
        })
        .collect();
    assert!(!flags.is_empty(), "cargoTestFlags is empty");
    flags
}

/// The `--profile` of the check phase: `checkType` of `nix/package.nix`, else
/// buildType's "release"; none for "debug", as cargo-check-hook.sh passes none.
fn check_profile() -> Option<String> {
    let text = read("nix/package.nix");
    let check_type = text
        .lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix("checkType = \""))
        .and_then(|rest| rest.strip_suffix("\";"))
        .unwrap_or("release");
    (check_type != "debug").then(|| check_type.to_owned())
}

/// The host's target triple, which the hooks pass as `--target`.
fn host_triple() -> String {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_owned()
}

/// How this machine gives a process its own network and mount namespaces:
/// as root directly, otherwise in a user namespace.
fn unshare_flags() -> &'static [&'static str] {
    static FLAGS: OnceLock<&'static [&'static str]> = OnceLock::new();
    FLAGS.get_or_init(|| {
        let candidates: [&'static [&'static str]; 2] = [
            &["--net", "--mount"],
            &["--map-root-user", "--net", "--mount"],
        ];
        for flags in candidates {
            let works = Command::new("unshare")
                .args(flags)
                .arg("true")
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success());
            if works {
                eprintln!("sandbox: unshare {}", flags.join(" "));
                return flags;
            }
        }
        panic!(
            "neither `unshare --net --mount` nor `unshare --map-root-user --net --mount` \
             works here: run as root, or allow user namespaces (kernel.unprivileged_userns_clone=1)"
        );
    })
}

/// Makes everything under `dir` read-only (also the folders), or writable again.
fn set_writable(dir: &Path, writable: bool) {
    use std::os::unix::fs::PermissionsExt;
    for entry in fs::read_dir(dir).expect("read folder") {
        let path = entry.expect("folder entry").path();
        if path.is_dir() {
            set_writable(&path, writable);
        }
        let mode = match (path.is_dir(), writable) {
            (true, true) => 0o755,
            (true, false) => 0o555,
            (false, true) => 0o644,
            (false, false) => 0o444,
        };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let mode = if writable { 0o755 } else { 0o555 };
    fs::set_permissions(dir, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// An empty scratch folder holding the source set, its vendored crates, a
/// CARGO_HOME and a target folder; the source is read-only.
struct Sandbox {
    scratch: tempfile::TempDir,
    source: PathBuf,
    triple: String,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // So the scratch folder can be removed also by a user who is not root.
        set_writable(&self.source, true);
    }
}

impl Sandbox {
    /// Copies exactly the tracked files of `set` into an empty folder and
    /// vendors the crates of its Cargo.lock there.
    fn new(set: &SourceSet) -> Sandbox {
        common::require("git");
        common::require("unshare");
        let scratch = tempfile::tempdir().expect("create a scratch folder");
        let source = scratch.path().join("source");
        let mut copied = 0;
        for file in common::tracked_files()
            .iter()
            .filter(|file| set.contains(file))
        {
            let to = source.join(file);
            fs::create_dir_all(to.parent().unwrap()).expect("create folder");
            fs::copy(root().join(file), &to).unwrap_or_else(|e| {
                panic!("copy {file} (tracked, but not in the working tree?): {e}")
            });
            copied += 1;
        }
        eprintln!(
            "sandbox: {copied} files of nix/sources.json's set in {}",
            source.display()
        );

        // importCargoLock: one folder per crate of Cargo.lock (for every
        // platform), named with its version. Its fetchers are the only step
        // with a network; here `cargo fetch` (a no-op when cargo's cache holds
        // them all), then `cargo vendor` from that cache alone.
        let vendor = scratch.path().join("cargo-vendor-dir");
        let manifest = source.join("Cargo.toml");
        for args in [
            &["fetch", "--locked", "--manifest-path"][..],
            &[
                "vendor",
                "--locked",
                "--offline",
                "--versioned-dirs",
                "--manifest-path",
            ][..],
        ] {
            let mut command = Command::new("cargo");
            command.args(args).arg(&manifest);
            if args[0] == "vendor" {
                command.arg(&vendor);
            }
            let output = common::output_with_timeout(&mut command, TIMEOUT);
            assert!(
                output.status.success(),
                "cargo {} failed:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        // What cargoSetupHook writes: crates.io replaced by the vendored folder.
        let cargo_home = scratch.path().join("cargo-home");
        fs::create_dir_all(&cargo_home).unwrap();
        fs::write(
            cargo_home.join("config.toml"),
            format!(
                "[source.crates-io]\nreplace-with = \"vendored-sources\"\n\n\
                 [source.vendored-sources]\ndirectory = \"{}\"\n",
                vendor.display()
            ),
        )
        .unwrap();
        fs::create_dir_all(scratch.path().join("tmp")).unwrap();
        set_writable(&source, false);
        Sandbox {
            scratch,
            source,
            triple: host_triple(),
        }
    }

    /// Where `cargo --target <host> --profile release` puts its outputs.
    fn release_dir(&self) -> PathBuf {
        self.scratch
            .path()
            .join("target")
            .join(&self.triple)
            .join("release")
    }

    /// Runs `program args` in the source folder as the Nix sandbox would: empty
    /// environment but PATH (the toolchain running this test, then the system's
    /// linker and tools), HOME that does not exist, CARGO_HOME, CARGO_TARGET_DIR
    /// and TMPDIR in the scratch folder; no network but loopback; source read-only.
    fn run(&self, program: &str, args: &[&str]) -> Output {
        let cargo = PathBuf::from(std::env::var_os("CARGO").expect("cargo sets CARGO"));
        let toolchain = cargo.parent().expect("cargo's folder");
        let path = format!("{}:/usr/bin:/bin:/usr/sbin:/sbin", toolchain.display());
        let source = self.source.to_str().expect("UTF-8 path");
        // In the new namespaces: loopback up (a new network namespace has it
        // down; Nix's sandbox brings it up), the source bound read-only over itself.
        let setup = r#"ip link set lo up && mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && cd "$0" && exec "$@""#;
        eprintln!("sandbox: {program} {}", args.join(" "));
        let started = Instant::now();
        let output = common::output_with_timeout(
            Command::new("unshare")
                .args(unshare_flags())
                .args(["sh", "-c", setup, source, program])
                .args(args)
                .env_clear()
                .env("PATH", path)
                .env("HOME", HOMELESS)
                .env("CARGO_HOME", self.scratch.path().join("cargo-home"))
                .env("CARGO_TARGET_DIR", self.scratch.path().join("target"))
                .env("TMPDIR", self.scratch.path().join("tmp"))
                // cargoBuildHook: stdenv strips, not cargo.
                .env("CARGO_PROFILE_RELEASE_STRIP", "false"),
            TIMEOUT,
        );
        eprintln!("sandbox: ... {:?}, {}", started.elapsed(), output.status);
        output
    }

    /// `run`, failing the test with the command's output unless it succeeds.
    fn run_ok(&self, program: &str, args: &[&str]) -> Output {
        let output = self.run(program, args);
        assert!(
            output.status.success(),
            "in the sandbox, `{program} {}` failed:\n{}\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// cargo-check-hook.sh's `cargo test`, with nix/package.nix's cargoTestFlags.
    fn cargo_test(&self) -> Output {
        let flags = cargo_test_flags();
        let profile = check_profile();
        let mut args = vec!["test", "-j", CORES];
        if let Some(profile) = &profile {
            args.extend(["--profile", profile.as_str()]);
        }
        args.extend(["--target", &self.triple, "--frozen"]);
        args.extend(flags.iter().map(String::as_str));
        args.extend(["--", "--test-threads", CORES]);
        self.run("cargo", &args)
    }
}

/// Starts `binary` with the environment an image of `deploy/images.json` sets,
/// the model at `model`, on a free loopback port.
fn start_server(binary: &Path, api: &str, model: &Path) -> common::Server {
    let mut command = Command::new(binary);
    command
        .env_clear()
        .env("WINE_API", api)
        .env("WINE_HOST", "127.0.0.1")
        .env("WINE_PORT", "0")
        .env("WINE_MODEL", model);
    common::Server::spawn(command)
}

#[test]
#[ignore = "needs git and unshare (util-linux); a release build, minutes"]
fn the_package_builds_and_passes_its_tests_from_exactly_its_nix_source() {
    let started = Instant::now();
    let sandbox = Sandbox::new(&SourceSet::named("servers"));

    // buildPhase (cargo-build-hook.sh), then checkPhase (cargo-check-hook.sh).
    let triple = sandbox.triple.clone();
    sandbox.run_ok(
        "cargo",
        &[
            "build",
            "-j",
            CORES,
            "--target",
            &triple,
            "--offline",
            "--profile",
            "release",
        ],
    );
    let tests = sandbox.cargo_test();
    assert!(
        tests.status.success(),
        "the Nix build's tests fail on the source nix/sources.json lists:\n{}\n{}",
        String::from_utf8_lossy(&tests.stdout),
        String::from_utf8_lossy(&tests.stderr)
    );
    let ran: usize = String::from_utf8_lossy(&tests.stdout)
        .lines()
        .filter_map(|line| line.strip_prefix("test result: ok. "))
        .filter_map(|rest| rest.split(' ').next()?.parse::<usize>().ok())
        .sum();
    eprintln!("sandbox: {ran} tests passed");
    assert!(ran > 0, "no test ran");

    // nix/model.nix: `wine-train --out wine.model` with the built trainer, in
    // the sandbox; the same bytes as `cargo run --bin wine-train` outside it.
    let release = sandbox.release_dir();
    let model = sandbox.scratch.path().join("tmp").join("wine.model");
    let trainer = release.join("wine-train");
    sandbox.run_ok(
        trainer.to_str().unwrap(),
        &["--out", model.to_str().unwrap()],
    );
    let reference = tempfile::tempdir().unwrap();
    let reference_model = reference.path().join("wine.model");
    common::run_ok(
        Command::new(common::binary("wine-train"))
            .arg("--out")
            .arg(&reference_model),
    );
    assert!(
        fs::read(&model).unwrap() == fs::read(&reference_model).unwrap(),
        "the model trained in the sandbox differs from `cargo run --bin wine-train`'s"
    );

    // nix/images.nix's server root: the binary and the model at the paths of
    // deploy/images.json, serving each image's API from there.
    let spec = read_json("deploy/images.json");
    let server_root = sandbox.scratch.path().join("server-root");
    let at = |key: &str| server_root.join(spec[key].as_str().unwrap().trim_start_matches('/'));
    for (from, to) in [
        (release.join("wine-server"), at("serverBinary")),
        (model.clone(), at("modelPath")),
    ] {
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(&from, &to).unwrap();
    }
    for (tag, server) in spec["servers"].as_object().unwrap() {
        let api = server["api"].as_str().unwrap();
        let server = start_server(&at("serverBinary"), api, &at("modelPath"));
        let body = if api == "no-batch" {
            common::wine_body(1.0)
        } else {
            common::batch_body(2, 1.0)
        };
        let response = common::post_json(server.addr, body.as_bytes());
        assert_eq!(response.status, 200, "image {tag}: {}", response.text());
    }

    // The check fails when the set lacks a file the tests read at run time:
    // deploy/images.json (tests/server_cli.rs), missing from the set before
    // issue 9. The binaries are built; only the tests run again.
    let images = sandbox.source.join("deploy/images.json");
    set_writable(&sandbox.source, true);
    fs::remove_file(&images).unwrap();
    set_writable(&sandbox.source, false);
    let without = sandbox.cargo_test();
    let stdout = String::from_utf8_lossy(&without.stdout);
    assert!(
        !without.status.success(),
        "the tests passed without deploy/images.json:\n{stdout}"
    );
    assert!(
        stdout.contains("defaults_agree_with_the_image_definition ... FAILED"),
        "{stdout}"
    );
    eprintln!("sandbox: the whole rehearsal took {:?}", started.elapsed());
}

#[test]
#[ignore = "needs git and unshare (util-linux); a check build, minutes"]
fn clippy_and_rustfmt_pass_on_exactly_the_nix_source() {
    let sandbox = Sandbox::new(&SourceSet::named("servers"));
    // nix/checks.nix: the same commands, with cargo's config from the setup hook.
    sandbox.run_ok("cargo", &["fmt", "--all", "--check"]);
    sandbox.run_ok(
        "cargo",
        &[
            "clippy",
            "-j",
            CORES,
            "--frozen",
            "--all-targets",
            "--",
            "--deny",
            "warnings",
        ],
    );
}

/// Nix fails to evaluate a file set naming a path that does not exist; the
/// sandbox copy above would silently skip it.
#[test]
fn every_path_of_every_source_set_exists() {
    let sources = read_json("nix/sources.json");
    let mut named = BTreeSet::new();
    for (name, set) in sources
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| *name != "comment")
    {
        for key in ["include", "exclude"] {
            for path in set[key]
                .as_array()
                .unwrap_or_else(|| panic!("{name}.{key}"))
            {
                let path = path.as_str().unwrap();
                assert!(
                    root().join(path).exists(),
                    "nix/sources.json: {name}.{key} names {path}, which does not exist"
                );
                named.insert(path);
            }
        }
    }
    assert!(named.contains("Cargo.lock"), "{named:?}");
}
