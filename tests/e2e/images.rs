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
//!
//! The tests tag the images in a repository of their own, [`test_repository`]
//! (images.json's with `-test-` and a hash of the checkout's path), never with the
//! lab's tags users run: two checkouts testing at once would otherwise replace
//! each other's images mid-test, and a test run the images a user built. The test
//! tags are removed when the test process ends ([`remove_test_tags`]); the images
//! stay cached under [`Spec::locust_cache_tag`] and [`Spec::server_cache_tag`],
//! which no one runs. `WINE_LAB_TAG_IMAGES=1`
//! also gives the built images the lab's own tags, which stay.

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
/// Set to `1`, [`ready`] also tags the images it built with the lab's own tags
/// (images.json's repository), which are not removed: the way to build the
/// lab's images without Nix.
pub const TAG_LAB_IMAGES: &str = "WINE_LAB_TAG_IMAGES";

/// deploy/images.json, the one definition of the lab's images.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    /// The lab's repository, the one users run (`docker-compose.yml`).
    pub repository: String,
    /// The tests' repository ([`test_repository`]); not in images.json.
    #[serde(skip)]
    pub test_repository: String,
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
    /// The interval where an orchestrator routes only to healthy replicas.
    pub orchestrator_interval_ms: u64,
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
        let mut spec: Spec =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        spec.test_repository = test_repository(&spec.repository, repo());
        spec
    }

    /// The tag the tests build and run for a server variant,
    /// `<test repository>:<variant>`, e.g. `mlepc4w2-ugl-test-1a2b3c4d5e6f:no-batch`.
    pub fn server_tag(&self, variant: &str) -> String {
        format!("{}:{variant}", self.test_repository)
    }

    /// The tag the tests build and run for Locust, `<test repository>:<locustTag>`.
    pub fn locust_tag(&self) -> String {
        format!("{}:{}", self.test_repository, self.locust_tag)
    }

    /// The lab's own tag of a server variant, `<repository>:<variant>`, e.g.
    /// `mlepc4w2-ugl:no-batch`: what users run, never built by a test unless
    /// asked ([`TAG_LAB_IMAGES`]).
    pub fn lab_server_tag(&self, variant: &str) -> String {
        format!("{}:{variant}", self.repository)
    }

    /// The lab's own Locust tag, `<repository>:<locustTag>`.
    pub fn lab_locust_tag(&self) -> String {
        format!("{}:{}", self.repository, self.locust_tag)
    }

    /// The tests' tags, the servers' then Locust's.
    pub fn test_tags(&self) -> Vec<String> {
        self.servers
            .keys()
            .map(|variant| self.server_tag(variant))
            .chain([self.locust_tag()])
            .collect()
    }

    /// The lab's tags, in the order of [`Spec::test_tags`].
    pub fn lab_tags(&self) -> Vec<String> {
        self.servers
            .keys()
            .map(|variant| self.lab_server_tag(variant))
            .chain([self.lab_locust_tag()])
            .collect()
    }

    /// The image a tag of the lab's repository (as the compose files name it)
    /// stands for in the tests: the same tag in the tests' repository. `None` for
    /// any other image, or a tag images.json does not define.
    pub fn test_image_for(&self, lab_image: &str) -> Option<String> {
        let (repository, tag) = lab_image.rsplit_once(':')?;
        (repository == self.repository
            && (self.servers.contains_key(tag) || tag == self.locust_tag))
            .then(|| format!("{}:{tag}", self.test_repository))
    }

    /// Where the Locust image built from inputs hashing to `inputs` stays
    /// between test runs once the test tags are gone: `<repository>-cache:locust-<inputs>`
    /// (the first 16 hex digits). Named by its inputs, so checkouts share it and
    /// no one replaces another's, and no user runs it. Without it every run would
    /// rebuild the image (minutes of debootstrap) unless the lab's tag was there.
    pub fn locust_cache_tag(&self, inputs: &str) -> String {
        format!(
            "{}:{}-{}",
            self.cache_repository(),
            self.locust_tag,
            &inputs[..16.min(inputs.len())]
        )
    }

    /// Where the last server image the tests built of `variant` stays between
    /// runs, `<repository>-cache:<variant>`: the test tags go when a test process
    /// ends, and with their last tag Docker would delete the legacy builder's
    /// intermediate images too, so the next run would build both server images
    /// anew (about 15 s here) although nothing changed. A cache only: tests never
    /// run it, and a concurrent checkout moving it costs a rebuild, nothing more.
    pub fn server_cache_tag(&self, variant: &str) -> String {
        format!("{}:{variant}", self.cache_repository())
    }

    /// The repository of the cache tags ([`Spec::locust_cache_tag`],
    /// [`Spec::server_cache_tag`]).
    fn cache_repository(&self) -> String {
        format!("{}-cache", self.repository)
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

/// The repository the tests tag their images in: `<lab repository>-test-<12 hex
/// digits of the SHA-256 of the checkout's absolute path>`. Its own per checkout,
/// so that two checkouts testing at once never replace each other's images, and
/// never the lab's (`lab_repository`, the one users run); the same for every run
/// of a checkout, so a killed run's leftovers are replaced by the next, not piled up.
pub fn test_repository(lab_repository: &str, checkout: &Path) -> String {
    let checkout = checkout
        .canonicalize()
        .unwrap_or_else(|_| checkout.to_path_buf());
    let digest = Sha256::digest(checkout.as_os_str().as_encoded_bytes());
    let short: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{lab_repository}-test-{short}")
}

/// Builds (or reuses) the three images under the tests' tags and checks them
/// against images.json, once per test process; every test that calls it fails
/// with the same message if that went wrong. The test tags are removed when the
/// process ends; the lab's tags are left as they were (and checked to be), unless
/// [`TAG_LAB_IMAGES`] asks for them.
pub fn ready() -> &'static Images {
    static IMAGES: OnceLock<Result<Images, String>> = OnceLock::new();
    let built = IMAGES.get_or_init(|| {
        std::panic::catch_unwind(|| {
            let spec = Spec::load();
            hold_test_tags(&spec);
            let tag_lab = std::env::var(TAG_LAB_IMAGES).is_ok_and(|value| value == "1");
            let lab_before = lab_image_ids(&spec);
            phase("Locust image", || locust_image(&spec));
            let images = phase("server images", || server_images(spec));
            phase("image settings vs deploy/images.json", || check(&images));
            if tag_lab {
                phase("the lab's own tags", || tag_lab_images(&images.spec));
            } else {
                let lab_after = lab_image_ids(&images.spec);
                assert_eq!(
                    lab_after, lab_before,
                    "building the test images changed the lab's own tags (image IDs before, after)"
                );
            }
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

/// The image ID of each lab tag (`None` where there is none).
fn lab_image_ids(spec: &Spec) -> Vec<(String, Option<String>)> {
    spec.lab_tags()
        .into_iter()
        .map(|tag| {
            let id = image_id(&tag);
            (tag, id)
        })
        .collect()
}

/// Tags the test images with the lab's tags ([`TAG_LAB_IMAGES`]); an image a lab
/// tag leaves behind is removed as a rebuild's would be (Docker refuses while
/// it still has another tag or a container).
fn tag_lab_images(spec: &Spec) {
    for (test, lab) in spec.test_tags().into_iter().zip(spec.lab_tags()) {
        retag(&test, &lab);
        log(&format!("{lab}: tagged from {test}"));
    }
}

/// Gives the image tagged `from` the tag `to` as well; the image `to` named
/// before is removed as a rebuild's would be, unless another tag still names it
/// (Docker refuses while a container uses it).
fn retag(from: &str, to: &str) {
    let old = image_id(to);
    cmd::run(docker().args(["tag", from, to]), Duration::from_secs(60));
    let new = image_id(to);
    // Only an image no tag names any more: `docker rmi <id>` of an image with
    // one tag left deletes it with that tag (a user's `mlepc4w2-ugl:no-batch`).
    if let Some(old) = old.filter(|old| Some(old) != new.as_ref())
        && inspect_image(&old, "{{len .RepoTags}}").as_deref() == Some("0")
    {
        let _ = cmd::output(docker().args(["rmi", &old]), Duration::from_secs(60));
    }
}

/// The test tags [`remove_test_tags`] removes, and the lock file that says
/// this process uses them.
static TEST_TAGS: OnceLock<(Vec<String>, File)> = OnceLock::new();

/// Marks this process as a user of the checkout's test tags, and has them
/// removed when it ends ([`remove_test_tags`], registered with atexit(3):
/// libtest ends the process through `exit` whether the tests passed or failed,
/// and nothing else runs after the last test). Several test processes of one
/// checkout share the tags (`cargo test --test compose` beside `--test swarm`):
/// each holds a shared flock(2) on a lock file for as long as it lives, and only
/// the last one to end removes them. A process killed by a signal runs no
/// atexit handler; its tags stay until the next run of the checkout replaces
/// and removes them.
fn hold_test_tags(spec: &Spec) {
    use std::os::fd::AsRawFd;
    TEST_TAGS.get_or_init(|| {
        let cache = cache_dir();
        std::fs::create_dir_all(&cache).expect("create the cache folder");
        let path = cache.join(format!("{}.lock", spec.test_repository));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        // Waits while another process of the checkout is removing the tags.
        // SAFETY: flock(2) on a descriptor this function owns.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH) };
        assert_eq!(locked, 0, "flock {}", path.display());
        // SAFETY: atexit(3) with a function that takes nothing and never unwinds.
        let registered = unsafe { libc::atexit(remove_test_tags) };
        assert_eq!(
            registered, 0,
            "atexit: cannot register the test tags' removal"
        );
        (spec.test_tags(), file)
    });
}

/// Removes the test tags when the test process ends, unless another process of
/// the checkout still holds them (see [`hold_test_tags`]). `docker rmi` of a tag
/// deletes the image only when no other tag names it: the Locust image stays
/// under its cache tag, and images also tagged for the lab stay theirs.
extern "C" fn remove_test_tags() {
    use std::os::fd::AsRawFd;
    let Some((tags, file)) = TEST_TAGS.get() else {
        return;
    };
    // Converts this process's shared lock into an exclusive one, which only
    // succeeds when no other process holds it.
    // SAFETY: flock(2) on a descriptor owned by the static.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        eprintln!("[e2e] test tags kept: another test process of this checkout uses them");
        return;
    }
    let present: Vec<&String> = tags.iter().filter(|tag| image_id(tag).is_some()).collect();
    if present.is_empty() {
        return;
    }
    match cmd::output(docker().arg("rmi").args(&present), Duration::from_secs(120)) {
        Ok(output) if output.status.success() => {
            eprintln!("[e2e] test tags removed: {present:?}")
        }
        Ok(output) => eprintln!(
            "[e2e] removing the test tags {present:?} FAILED: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(e) => eprintln!("[e2e] removing the test tags {present:?} FAILED: {e}"),
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
        let cache_tag = spec.server_cache_tag(variant);
        let cached = image_id(&cache_tag);
        build(
            &tag,
            SERVER_DOCKERFILE,
            &args,
            context.path(),
            Duration::from_secs(300),
        );
        let unchanged = cached.is_some() && image_id(&tag) == cached;
        retag(&tag, &cache_tag);
        log(&if unchanged {
            format!("{tag}: unchanged (the image cached as {cache_tag})")
        } else {
            format!("{tag}: built")
        });
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

/// A local image whose inputs label is `inputs`: the test tag's own, the cache
/// tag's, the lab's or any other image this code built from the same inputs.
fn labelled_image(inputs: &str) -> Option<String> {
    let filter = format!("label={LOCUST_INPUTS_LABEL}={inputs}");
    let output = cmd::output(
        docker().args(["images", "--quiet", "--no-trunc", "--filter", &filter]),
        Duration::from_secs(60),
    )
    .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .next()
        .map(str::to_owned)
}

/// Tags the image `id` as the test's Locust tag and as the cache tag.
fn tag_locust(id: &str, tag: &str, cache_tag: &str) {
    for name in [tag, cache_tag] {
        cmd::run(docker().args(["tag", id, name]), Duration::from_secs(60));
    }
}

/// Removes the cache tags of other inputs (a Locust image replaced by a change of
/// its inputs); an image still tagged otherwise, or used by a container, stays.
fn prune_locust_cache(spec: &Spec, keep: &str) {
    let listed = cmd::run(
        docker().args([
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            &spec.cache_repository(),
        ]),
        Duration::from_secs(60),
    );
    // Only Locust's cache tags: the servers' share the repository.
    let locust = spec.locust_cache_tag("");
    for old in listed
        .lines()
        .filter(|tag| tag.starts_with(&locust) && *tag != keep)
    {
        let _ = cmd::output(docker().args(["rmi", old]), Duration::from_secs(60));
        log(&format!("{old}: cache tag of other inputs removed"));
    }
}

/// The Locust image under the test tag, reused (`docker tag`) from any local image
/// whose label holds the hash of the same inputs, else built, and kept under
/// [`Spec::locust_cache_tag`] for later runs.
fn locust_image(spec: &Spec) {
    let tag = spec.locust_tag();
    let build_args = as_build_args(spec.locust_build_args());
    let inputs = locust_inputs_hash(&build_args);
    let cache_tag = spec.locust_cache_tag(&inputs);
    if let Some(id) = labelled_image(&inputs) {
        tag_locust(&id, &tag, &cache_tag);
        log(&format!("{tag}: reused {id} (its inputs are unchanged)"));
        return;
    }
    let cache = cache_dir();
    std::fs::create_dir_all(&cache).expect("create the cache folder");
    // One build per machine at a time; a run that waited reuses the other's image.
    let _lock = lock(
        &cache.join("locust-image.lock"),
        Duration::from_secs(30 * 60),
    );
    if let Some(id) = labelled_image(&inputs) {
        tag_locust(&id, &tag, &cache_tag);
        log(&format!("{tag}: reused {id} (built by a concurrent run)"));
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
    cmd::run(
        docker().args(["tag", &tag, &cache_tag]),
        Duration::from_secs(60),
    );
    prune_locust_cache(spec, &cache_tag);
    log(&format!("{tag}: built, kept as {cache_tag}"));
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
