//! The lab's three images built with Docker alone (no Nix, no registry pull), and
//! checked against deploy/images.json, the one definition nix/images.nix reads too.
//!
//! - The server images come from deploy/server.Dockerfile (`FROM scratch`), with
//!   every `--build-arg` derived here from images.json; the build context holds the
//!   statically linked release `wine-server` and the model the tests train. Docker's
//!   build cache makes an unchanged image a no-op; the static build has its own
//!   target folder in the cache, apart from `target/`, so it stays warm.
//! - The Locust image comes from deploy/locust.Dockerfile over the Debian tree that
//!   tests/e2e/locust-rootfs.sh makes (debootstrap, needs root). That takes minutes,
//!   so the image carries the hash of its inputs as a label and is rebuilt only when
//!   one of them changes.
//!
//! [`ready`] builds (or reuses) all three once per test process and checks them.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::cmd;
use super::{docker, log, repo};
use crate::common;

/// The server images' recipe; its build arguments are [`Spec::server_build_args`].
pub const SERVER_DOCKERFILE: &str = "deploy/server.Dockerfile";
/// The Locust image's recipe, over the tree made by [`LOCUST_ROOTFS_SCRIPT`].
pub const LOCUST_DOCKERFILE: &str = "deploy/locust.Dockerfile";
const LOCUST_ROOTFS_SCRIPT: &str = "tests/e2e/locust-rootfs.sh";
const LOCUST_REQUIREMENTS: &str = "src/lab/locust/requirements.txt";
/// Label holding the hash of the Locust image's inputs.
const LOCUST_INPUTS_LABEL: &str = "wine-lab.inputs-sha256";

/// deploy/images.json, the one definition of the lab's images.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub repository: String,
    /// Variant (the tag) → its server settings.
    pub servers: BTreeMap<String, ServerSpec>,
    pub locust_tag: String,
    /// The signal `docker stop` sends Locust.
    pub locust_stop_signal: String,
    pub server_binary: String,
    pub model_path: String,
    pub host: String,
    pub port: u16,
    /// `uid:gid` every image runs as.
    pub user: String,
    pub healthcheck: HealthcheckSpec,
}

/// One server image's own settings in images.json.
#[derive(Debug, Deserialize)]
pub struct ServerSpec {
    pub api: String,
}

/// The server images' HEALTHCHECK, in milliseconds (Docker's image config holds
/// nanoseconds, the Dockerfile takes `1000ms`; Nix multiplies).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthcheckSpec {
    /// Arguments after serverBinary.
    pub args: Vec<String>,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub start_period_ms: u64,
    pub retries: u32,
}

impl Spec {
    /// Reads deploy/images.json.
    pub fn load() -> Spec {
        let path = repo().join("deploy/images.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// `<repository>:<variant>`, e.g. `mlepc4w2-ugl:no-batch`.
    pub fn server_tag(&self, variant: &str) -> String {
        format!("{}:{variant}", self.repository)
    }

    /// `<repository>:<locustTag>`.
    pub fn locust_tag(&self) -> String {
        format!("{}:{}", self.repository, self.locust_tag)
    }

    /// The `--build-arg`s of deploy/server.Dockerfile for one server image.
    pub fn server_build_args(&self, variant: &str) -> Vec<(&'static str, String)> {
        vec![
            ("SERVER_BINARY", self.server_binary.clone()),
            ("MODEL_PATH", self.model_path.clone()),
            ("API", self.servers[variant].api.clone()),
            ("HOST", self.host.clone()),
            ("PORT", self.port.to_string()),
            ("IMAGE_USER", self.user.clone()),
        ]
    }

    /// The `--build-arg`s of deploy/locust.Dockerfile.
    pub fn locust_build_args(&self) -> Vec<(&'static str, String)> {
        vec![
            ("IMAGE_USER", self.user.clone()),
            ("STOP_SIGNAL", self.locust_stop_signal.clone()),
        ]
    }

    /// The health check's command, as the image config's `Test` holds it.
    pub fn healthcheck_test(&self) -> Vec<String> {
        ["CMD", self.server_binary.as_str()]
            .into_iter()
            .map(str::to_owned)
            .chain(self.healthcheck.args.iter().cloned())
            .collect()
    }

    /// The server Dockerfile's HEALTHCHECK line, which must say what images.json
    /// says (HEALTHCHECK takes no build arguments).
    pub fn dockerfile_healthcheck(&self) -> String {
        let check = &self.healthcheck;
        format!(
            "HEALTHCHECK --interval={}ms --timeout={}ms --start-period={}ms --retries={} CMD [{}]",
            check.interval_ms,
            check.timeout_ms,
            check.start_period_ms,
            check.retries,
            self.healthcheck_test()[1..]
                .iter()
                .map(|arg| Value::from(arg.as_str()).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// The image config's `Healthcheck` (durations in nanoseconds).
    pub fn healthcheck_config(&self) -> Value {
        let check = &self.healthcheck;
        let nanos = |ms: u64| ms * 1_000_000;
        json!({
            "Test": self.healthcheck_test(),
            "Interval": nanos(check.interval_ms),
            "Timeout": nanos(check.timeout_ms),
            "StartPeriod": nanos(check.start_period_ms),
            "Retries": check.retries,
        })
    }

    /// Per image tag, the settings `docker image inspect` must show (`.Config`), as
    /// images.json's comment states them: the servers' Entrypoint, Env,
    /// ExposedPorts, User and Healthcheck, and Locust's Entrypoint, User and
    /// StopSignal.
    pub fn expected_configs(&self) -> Vec<(String, Value)> {
        let mut configs: Vec<(String, Value)> = self
            .servers
            .iter()
            .map(|(variant, server)| {
                let config = json!({
                    "Entrypoint": [self.server_binary],
                    "Env": [
                        format!("WINE_API={}", server.api),
                        format!("WINE_HOST={}", self.host),
                        format!("WINE_PORT={}", self.port),
                        format!("WINE_MODEL={}", self.model_path),
                    ],
                    "ExposedPorts": { format!("{}/tcp", self.port): {} },
                    "User": self.user,
                    "Healthcheck": self.healthcheck_config(),
                });
                (self.server_tag(variant), config)
            })
            .collect();
        configs.push((
            self.locust_tag(),
            json!({
                "Entrypoint": ["locust"],
                "User": self.user,
                "StopSignal": self.locust_stop_signal,
            }),
        ));
        configs
    }
}

/// The three images, built and checked, and what went into the server images.
pub struct Images {
    pub spec: Spec,
    /// The static `wine-server` the server images hold.
    pub server_binary: PathBuf,
    /// The model the server images hold.
    pub model: PathBuf,
}

/// Builds (or reuses) the three images and checks them against images.json, once
/// per test process; every test that calls it fails with the same message if that
/// went wrong.
pub fn ready() -> &'static Images {
    static IMAGES: OnceLock<Result<Images, String>> = OnceLock::new();
    let built = IMAGES.get_or_init(|| {
        std::panic::catch_unwind(|| {
            let spec = Spec::load();
            phase("Locust image", || locust_image(&spec));
            let images = phase("server images", || server_images(spec));
            phase("image settings vs deploy/images.json", || check(&images));
            images
        })
        .map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "building the images panicked".into())
        })
    });
    match built {
        Ok(images) => images,
        Err(message) => panic!("{message}"),
    }
}

/// Runs one step, logging its name and how long it took.
pub fn phase<T>(name: &str, step: impl FnOnce() -> T) -> T {
    log(&format!("── {name}"));
    let started = Instant::now();
    let result = step();
    log(&format!(
        "── {name}: {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    result
}

/// Where builds keep what they reuse between runs (Debian packages, the static
/// build): outside the repository, so a fresh clone on the same machine reuses it.
fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WINE_LAB_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("wine-lab")
}

/// `docker image inspect --format <format> <tag>`, if there is such a local image.
fn inspect_image(tag: &str, format: &str) -> Option<String> {
    let output = cmd::output(
        docker().args(["image", "inspect", "--format", format, tag]),
        Duration::from_secs(60),
    )
    .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The ID of a local image, if there is one with this tag.
fn image_id(tag: &str) -> Option<String> {
    inspect_image(tag, "{{.Id}}")
}

/// `docker build`s `tag`; the image it replaces, now untagged, is removed unless a
/// container still uses it. Returns whether the image changed.
fn build(tag: &str, dockerfile: &str, extra: &[String], context: &Path, limit: Duration) -> bool {
    let old = image_id(tag);
    cmd::run(
        docker()
            .args(["build", "--quiet", "--tag", tag, "--file"])
            .arg(repo().join(dockerfile))
            .args(extra)
            .arg(context),
        limit,
    );
    let new = image_id(tag);
    let changed = old != new;
    if let Some(old) = old.filter(|_| changed) {
        let _ = cmd::output(docker().args(["rmi", &old]), Duration::from_secs(60));
    }
    changed
}

/// The release `wine-server`, linked statically so that it runs in an image holding
/// nothing but itself and the model.
fn static_server_binary() -> PathBuf {
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let target_dir = std::env::var_os("WINE_LAB_STATIC_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("target-static"));
    cmd::run(
        Command::new(env!("CARGO"))
            .current_dir(repo())
            .env("CARGO_TARGET_DIR", &target_dir)
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .args(["build", "--locked", "--release", "--bin", "wine-server"])
            .args(["--target", &triple]),
        Duration::from_secs(40 * 60),
    );
    let binary = target_dir.join(&triple).join("release/wine-server");
    let linkage = cmd::output(Command::new("ldd").arg(&binary), Duration::from_secs(30))
        .map(|o| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        linkage.contains("not a dynamic executable") || linkage.contains("statically linked"),
        "{} is not statically linked, so it cannot run in a FROM scratch image: {linkage}",
        binary.display()
    );
    binary
}

/// `docker build` options for these build arguments.
fn as_build_args(args: Vec<(&'static str, String)>) -> Vec<String> {
    args.into_iter()
        .flat_map(|(name, value)| ["--build-arg".to_owned(), format!("{name}={value}")])
        .collect()
}

/// The two server images, from one build context holding the static binary and the model.
fn server_images(spec: Spec) -> Images {
    let server_binary = static_server_binary();
    let model = common::model_path().to_path_buf();
    let context = tempfile::Builder::new()
        .prefix("wine-server-image.")
        .tempdir()
        .expect("create a build context folder");
    for (source, name, mode) in [
        (&server_binary, "wine-server", 0o555),
        (&model, "wine.model", 0o444),
    ] {
        let staged = context.path().join(name);
        std::fs::copy(source, &staged)
            .unwrap_or_else(|e| panic!("copy {} into the build context: {e}", source.display()));
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode))
            .expect("set the file mode in the build context");
    }
    for variant in spec.servers.keys() {
        let tag = spec.server_tag(variant);
        let args = as_build_args(spec.server_build_args(variant));
        let changed = build(
            &tag,
            SERVER_DOCKERFILE,
            &args,
            context.path(),
            Duration::from_secs(300),
        );
        log(&format!(
            "{tag}: {}",
            if changed { "built" } else { "unchanged" }
        ));
    }
    Images {
        spec,
        server_binary,
        model,
    }
}

/// Hash of everything the Locust image is made from: its files and build arguments.
fn locust_inputs_hash(build_args: &[String]) -> String {
    let mut hasher = Sha256::new();
    for input in [LOCUST_REQUIREMENTS, LOCUST_ROOTFS_SCRIPT, LOCUST_DOCKERFILE] {
        let bytes = std::fs::read(repo().join(input))
            .unwrap_or_else(|e| panic!("cannot read {input}: {e}"));
        hasher.update(input.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    for arg in build_args {
        hasher.update((arg.len() as u64).to_le_bytes());
        hasher.update(arg.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The value of the inputs label on a local image, if any.
fn inputs_label(tag: &str) -> Option<String> {
    inspect_image(
        tag,
        &format!("{{{{index .Config.Labels \"{LOCUST_INPUTS_LABEL}\"}}}}"),
    )
}

/// The Locust image, reused while the hash of its inputs matches its label.
fn locust_image(spec: &Spec) {
    let tag = spec.locust_tag();
    let build_args = as_build_args(spec.locust_build_args());
    let inputs = locust_inputs_hash(&build_args);
    if inputs_label(&tag).as_deref() == Some(inputs.as_str()) {
        log(&format!("{tag}: reused (its inputs are unchanged)"));
        return;
    }
    let cache = cache_dir();
    std::fs::create_dir_all(&cache).expect("create the cache folder");
    // One build per machine at a time; a run that waited reuses the other's image.
    let _lock = lock(
        &cache.join("locust-image.lock"),
        Duration::from_secs(30 * 60),
    );
    if inputs_label(&tag).as_deref() == Some(inputs.as_str()) {
        log(&format!("{tag}: reused (built by a concurrent run)"));
        return;
    }
    common::require("debootstrap");
    // SAFETY: geteuid(2) has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(
        root,
        "{tag} must be built, which needs root (debootstrap, chroot): run this test once as root; \
         later runs reuse the image until {LOCUST_REQUIREMENTS}, {LOCUST_ROOTFS_SCRIPT} or \
         {LOCUST_DOCKERFILE} change"
    );
    let context = tempfile::Builder::new()
        .prefix("wine-locust-image.")
        .tempdir()
        .expect("create a build context folder");
    let log_text = cmd::run(
        Command::new("bash")
            .arg(repo().join(LOCUST_ROOTFS_SCRIPT))
            .arg(context.path().join("rootfs.tar"))
            .env("WINE_LAB_CACHE", &cache),
        Duration::from_secs(40 * 60),
    );
    log(&cmd::tail(&log_text, 3));
    let mut extra = vec![
        "--label".to_owned(),
        format!("{LOCUST_INPUTS_LABEL}={inputs}"),
    ];
    extra.extend(build_args);
    build(
        &tag,
        LOCUST_DOCKERFILE,
        &extra,
        context.path(),
        Duration::from_secs(600),
    );
    log(&format!("{tag}: built"));
}

/// An exclusive lock on `path`, held until the file is dropped; fails the test
/// after `limit`.
fn lock(path: &Path, limit: Duration) -> File {
    use std::os::fd::AsRawFd;
    let file = File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let deadline = Instant::now() + limit;
    // SAFETY: flock(2) on a descriptor this function owns.
    while unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        assert!(
            Instant::now() < deadline,
            "another run held {} for {} s",
            path.display(),
            limit.as_secs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    file
}

/// Compares every image's settings with images.json, and the files in the server
/// images byte for byte with what was built; fails the test with every difference.
fn check(images: &Images) {
    let spec = &images.spec;
    let mut problems = Vec::new();
    for (tag, expected) in spec.expected_configs() {
        let inspected = cmd::run(
            docker().args(["image", "inspect", "--format", "{{json .Config}}", &tag]),
            Duration::from_secs(60),
        );
        let actual: Value = serde_json::from_str(&inspected)
            .unwrap_or_else(|e| panic!("docker image inspect {tag}: {e}: {inspected}"));
        for (key, want) in expected.as_object().expect("an object") {
            let got = actual.get(key).cloned().unwrap_or(Value::Null);
            let same = if key == "Env" {
                // Order is not part of the contract; extra variables would be, except
                // the default PATH every Docker builder gives an image (the server
                // runs by its absolute path, so it is never used).
                sorted(&without_default_path(&got)) == sorted(want)
            } else {
                &got == want
            };
            log(&format!(
                "  {} {tag} {key}: {got}",
                if same { "ok  " } else { "FAIL" }
            ));
            if !same {
                problems.push(format!(
                    "{tag} has {key} {got}, deploy/images.json says {want}"
                ));
            }
        }
    }
    let scratch = tempfile::tempdir().expect("create a scratch folder");
    for variant in spec.servers.keys() {
        let tag = spec.server_tag(variant);
        let container = Container::create(&tag);
        for (path, built) in [
            (&spec.server_binary, &images.server_binary),
            (&spec.model_path, &images.model),
        ] {
            let copy = scratch.path().join("copy");
            let _ = std::fs::remove_file(&copy);
            let copied = cmd::output(
                docker()
                    .arg("cp")
                    .arg(format!("{}:{path}", container.0))
                    .arg(&copy),
                Duration::from_secs(60),
            );
            let same = copied.is_ok_and(|o| o.status.success())
                && std::fs::read(&copy).ok() == std::fs::read(built).ok();
            log(&format!(
                "  {} {tag} holds {path}",
                if same { "ok  " } else { "FAIL" }
            ));
            if !same {
                problems.push(format!("{tag} does not hold {} at {path}", built.display()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the built images differ from deploy/images.json:\n  {}",
        problems.join("\n  ")
    );
}

/// An image's Env without the `PATH=` entry Docker's builders add.
fn without_default_path(env: &Value) -> Value {
    match env.as_array() {
        Some(items) => Value::Array(
            items
                .iter()
                .filter(|item| !item.as_str().is_some_and(|s| s.starts_with("PATH=")))
                .cloned()
                .collect(),
        ),
        None => env.clone(),
    }
}

/// A JSON list of strings, sorted (anything else as it is).
fn sorted(value: &Value) -> Value {
    match value.as_array() {
        Some(items) => {
            let mut items = items.clone();
            items.sort_by_key(|item| item.to_string());
            Value::Array(items)
        }
        None => value.clone(),
    }
}

/// A created (never started) container, removed when dropped.
struct Container(String);

impl Container {
    fn create(tag: &str) -> Container {
        let id = cmd::run(docker().args(["create", tag]), Duration::from_secs(60));
        Container(id.trim().to_owned())
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = cmd::output(docker().args(["rm", &self.0]), Duration::from_secs(60));
    }
}
