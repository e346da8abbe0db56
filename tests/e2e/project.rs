//! One run of the lab's compose file as a Compose project of its own: started,
//! probed and stopped through docker-compose, watched through Docker's events, and
//! removed, also when the test fails.
//!
//! Isolation: a unique project name per run, so runs never collide, and one
//! test-only override that makes the project's network `internal`, so every request
//! stays on the stack's own network. One-off containers (`run`) publish no host port.
//! Another override runs the images the tests built (tests/e2e/images.rs), not the
//! lab's tags the compose files name, which stay the users'.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use tempfile::TempDir;

use super::images::Spec;
use super::{cmd, docker, log};

/// How long any single docker-compose step may take.
const STEP_LIMIT: Duration = Duration::from_secs(120);

/// Makes the project's default network internal: no route out of the stack.
const INTERNAL_NETWORK: &str = "\
# Test-only override (tests/e2e/project.rs): no route out of the stack's network.
version: \"3.9\"
networks:
  default:
    internal: true
";

/// A Compose project made from the compose files given (the first one, then
/// the overlays over it), the internal-network override and any test-only
/// override added; `docker-compose down` runs when it is dropped unless
/// [`Project::down`] did.
pub struct Project {
    pub name: String,
    /// Given compose files, then the run folder's overrides, in `--file` order.
    compose_files: Vec<PathBuf>,
    /// The override, and whatever one-off containers write to `/out`; kept when
    /// the test fails.
    run_dir: Option<TempDir>,
    /// `--project-directory`, where the first compose file is a rewritten copy.
    project_dir: Option<PathBuf>,
    is_down: bool,
}

/// Puts the Locust service on a second, ordinary network as well, so that its
/// published web UI is reachable from this host while the servers stay on the
/// internal one (Docker publishes no port of a container on internal networks only).
const LOCUST_UI_NETWORK: &str = "\
# Test-only override (tests/e2e/project.rs): Locust's web UI reachable from the host.
version: \"3.9\"
services:
  locust:
    networks: [default, ui]
networks:
  ui: {}
";

/// A compose override that gives every service of `files` (compose files, later
/// ones over earlier ones) the tests' tag of the image it names
/// ([`Spec::test_image_for`]), so a test runs what `images::ready()` built and
/// never the lab's tags, while the compose files stay the ones users run. A
/// service naming an image that is not one of images.json's fails the test: it
/// would run something no test built.
pub fn test_images_override(spec: &Spec, files: &[PathBuf]) -> String {
    let mut images = std::collections::BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        let compose: yaml_serde::Value =
            yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let Some(services) = compose.get("services").and_then(|s| s.as_mapping()) else {
            continue;
        };
        for (name, service) in services {
            let name = name.as_str().expect("a service name").to_owned();
            if let Some(image) = service.get("image").and_then(|image| image.as_str()) {
                let test_image = spec.test_image_for(image).unwrap_or_else(|| {
                    panic!(
                        "{}: service {name} runs {image}, not an image of {}'s deploy/images.json",
                        file.display(),
                        spec.repository
                    )
                });
                images.insert(name, test_image);
            }
        }
    }
    let mut text = String::from(
        "# Test-only override (tests/e2e/project.rs): the images the tests built, not the lab's tags.\n\
         version: \"3.9\"\nservices:\n",
    );
    for (name, image) in images {
        text.push_str(&format!("  {name}:\n    image: {image}\n"));
    }
    text
}

/// One container event from `docker events`.
#[derive(Debug, Deserialize)]
pub struct Event {
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
    #[serde(rename = "Actor")]
    pub actor: Actor,
}

/// What an event is about; the attributes hold the container's labels, the
/// `signal` of a kill and the `exitCode` of a die.
#[derive(Debug, Deserialize)]
pub struct Actor {
    #[serde(rename = "Attributes", default)]
    pub attributes: std::collections::HashMap<String, String>,
}

impl Event {
    /// The Compose service of the container.
    pub fn service(&self) -> Option<&str> {
        self.attribute("com.docker.compose.service")
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.actor.attributes.get(name).map(String::as_str)
    }
}

/// An HTTP answer fetched from inside the stack's network.
#[derive(Debug, Deserialize)]
pub struct Answer {
    pub url: String,
    pub status: Option<u16>,
    #[serde(default)]
    pub body: String,
    pub error: Option<String>,
}

/// Fetches each URL (argv[2:]) until it answers 200 or argv[1] seconds have passed,
/// printing one JSON line per URL. Run by the stack's own Python (the Locust image).
const FETCH: &str = r#"
import json, sys, time, urllib.request
deadline = time.monotonic() + float(sys.argv[1])
for url in sys.argv[2:]:
    while True:
        answer = {"url": url}
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                answer.update(status=response.status, body=response.read().decode("utf-8", "replace"))
        except Exception as e:
            answer.update(error=str(e))
        if answer.get("status") == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    print(json.dumps(answer), flush=True)
"#;

/// A point in time as `docker events --since/--until` take it.
pub fn docker_time(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!(
        "{}.{:09}",
        since_epoch.as_secs(),
        since_epoch.subsec_nanos()
    )
}

impl Project {
    /// A new project over `compose_file`, named `wine-e2e-<time>-<pid>`.
    pub fn new(compose_file: &Path) -> Project {
        Project::with_overlays(compose_file, &[])
    }

    /// A new project over `compose_file` with `overlays` over it, in that order
    /// (`docker-compose -f compose_file -f overlay…`).
    pub fn with_overlays(compose_file: &Path, overlays: &[&Path]) -> Project {
        let given: Vec<PathBuf> = std::iter::once(compose_file)
            .chain(overlays.iter().copied())
            .map(Path::to_path_buf)
            .collect();
        for file in &given {
            assert!(file.is_file(), "no compose file at {}", file.display());
        }
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let name = format!("wine-e2e-{}-{}", started.as_millis(), std::process::id());
        let run_dir = tempfile::Builder::new()
            .prefix(&format!("{name}."))
            .tempdir()
            .expect("create the run folder");
        let internal = run_dir.path().join("internal-network.yml");
        std::fs::write(&internal, INTERNAL_NETWORK).expect("write the internal-network override");
        let test_images = run_dir.path().join("test-images.yml");
        std::fs::write(&test_images, test_images_override(&Spec::load(), &given))
            .expect("write the test-images override");
        // The images run as a user of their own (deploy/images.json), which must be
        // able to write its reports to `/out`.
        std::fs::set_permissions(run_dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("make the run folder writable for the containers' user");
        log(&format!(
            "project {name}, compose files {}",
            given
                .iter()
                .map(|file| file.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        Project {
            name,
            compose_files: given.into_iter().chain([internal, test_images]).collect(),
            run_dir: Some(run_dir),
            project_dir: None,
            is_down: false,
        }
    }

    /// A new project over `compose_file` whose Locust web UI, published on
    /// the host's port 8089 there, is published on a free port of 127.0.0.1
    /// instead ([`Project::locust_ui`]), as a browser reaches it: never port
    /// 8089 itself, which the user's own stack or another test may hold. The
    /// file is copied with that one change; its folder stays the project's.
    pub fn with_locust_ui_on_loopback(compose_file: &Path) -> Project {
        let text = std::fs::read_to_string(compose_file)
            .unwrap_or_else(|e| panic!("read {}: {e}", compose_file.display()));
        let published = "\"8089:8089\"";
        assert_eq!(
            text.matches(published).count(),
            1,
            "{} publishes Locust's UI as {published} once",
            compose_file.display()
        );
        let mut project = Project::new(compose_file);
        let copy = project.run_dir().join("docker-compose.yml");
        std::fs::write(&copy, text.replace(published, "\"127.0.0.1::8089\""))
            .expect("write the compose file's copy");
        project.compose_files[0] = copy;
        project.project_dir = compose_file.parent().map(Path::to_path_buf);
        project.add_override("locust-ui-network.yml", LOCUST_UI_NETWORK);
        project
    }

    /// Where this host reaches the started Locust service's web UI, e.g.
    /// `http://127.0.0.1:49153/`.
    pub fn locust_ui(&self) -> String {
        let address = cmd::run(self.compose().args(["port", "locust", "8089"]), STEP_LIMIT);
        format!("http://{}/", address.trim())
    }

    /// Adds a test-only override (`text`, compose YAML) after the other files,
    /// kept in the run folder as `file_name`.
    pub fn add_override(&mut self, file_name: &str, text: &str) {
        let path = self.run_dir().join(file_name);
        std::fs::write(&path, text)
            .unwrap_or_else(|e| panic!("write the override {}: {e}", path.display()));
        self.compose_files.push(path);
    }

    /// This run's folder (mounted at `/out` by [`Project::run`]; writable for
    /// any user, as the containers run as their own).
    pub fn run_dir(&self) -> &Path {
        self.run_dir.as_ref().expect("the run folder").path()
    }

    /// `docker-compose` on this project.
    pub fn compose(&self) -> Command {
        self.compose_with(|_| true)
    }

    /// `docker-compose` for this project with only those of its files that
    /// `keep` keeps: e.g. without an overlay, as `nix run .#down` stops a
    /// stack that `nix run .#up-workers` started.
    pub fn compose_with(&self, keep: impl Fn(&Path) -> bool) -> Command {
        let mut command = Command::new("docker-compose");
        command.arg("--project-name").arg(&self.name);
        if let Some(dir) = &self.project_dir {
            command.arg("--project-directory").arg(dir);
        }
        for file in self.compose_files.iter().filter(|file| keep(file)) {
            command.arg("--file").arg(file);
        }
        command
    }

    /// The services of the compose file.
    pub fn services(&self) -> Vec<String> {
        cmd::run(self.compose().args(["config", "--services"]), STEP_LIMIT)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Starts `services` in the background, without their dependencies (the
    /// servers' `links: [locust]` would otherwise start Locust with its UI port
    /// published on the host).
    pub fn up(&self, services: &[String]) {
        cmd::run(
            self.compose()
                .args(["up", "--detach", "--no-deps"])
                .args(services),
            STEP_LIMIT,
        );
    }

    /// Starts `count` containers of `service` in the background, without its
    /// dependencies (`up --scale`, as users scale the Locust workers).
    pub fn up_scaled(&self, service: &str, count: usize) {
        cmd::run(
            self.compose()
                .args(["up", "--detach", "--no-deps", "--scale"])
                .arg(format!("{service}={count}"))
                .arg(service),
            STEP_LIMIT,
        );
    }

    /// Whether the project's network exists and is internal.
    pub fn network_is_internal(&self) -> bool {
        let network = format!("{}_default", self.name);
        cmd::run(
            docker().args(["network", "inspect", "--format", "{{.Internal}}", &network]),
            STEP_LIMIT,
        )
        .trim()
            == "true"
    }

    /// Runs a one-off container of `service` (removed afterwards, no published
    /// ports, this run's folder at `/out`) with `args` before the service name
    /// (options such as `-e`, `--entrypoint`) and `command` after it.
    pub fn run(
        &self,
        service: &str,
        args: &[String],
        command: &[String],
        limit: Duration,
    ) -> Output {
        let out = format!("{}:/out", self.run_dir().display());
        cmd::output(
            self.compose()
                .args(["run", "--rm", "--no-deps", "-T", "-v", &out])
                .args(args)
                .arg(service)
                .args(command),
            limit,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// GETs each URL from a one-off container of `via` (which must have python3),
    /// retrying each until it answers 200 or `wait` has passed; the last answer per URL.
    pub fn fetch(&self, via: &str, urls: &[String], wait: Duration) -> Vec<Answer> {
        let args = ["--entrypoint".to_owned(), "python3".to_owned()];
        let mut command = vec![
            "-c".to_owned(),
            FETCH.to_owned(),
            wait.as_secs().to_string(),
        ];
        command.extend_from_slice(urls);
        let output = self.run(via, &args, &command, wait + STEP_LIMIT);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "fetching {urls:?} from a {via} container failed ({}): {stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    /// `docker-compose stop` with `grace` before SIGKILL; the project's container
    /// events while it ran.
    pub fn stop(&self, grace: Duration) -> Vec<Event> {
        let since = SystemTime::now();
        cmd::run(
            self.compose()
                .args(["stop", "--timeout", &grace.as_secs().to_string()]),
            grace + STEP_LIMIT,
        );
        let until = SystemTime::now();
        log(&format!(
            "docker-compose stop took {:.2} s",
            until
                .duration_since(since)
                .unwrap_or_default()
                .as_secs_f64()
        ));
        self.events(since, until)
    }

    /// The project's container events between two points in time (both past).
    pub fn events(&self, since: SystemTime, until: SystemTime) -> Vec<Event> {
        let label = format!("label=com.docker.compose.project={}", self.name);
        cmd::run(
            docker()
                .args([
                    "events",
                    "--format",
                    "{{json .}}",
                    "--filter",
                    "type=container",
                ])
                .args(["--filter", &label, "--since", &docker_time(since)])
                .args(["--until", &docker_time(until)]),
            STEP_LIMIT,
        )
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
    }

    /// The ID of `service`'s container (started by [`Project::up`]).
    pub fn container(&self, service: &str) -> String {
        let ids = self.containers(service);
        assert_eq!(
            ids.len(),
            1,
            "{service}: expected one container, found {ids:?}"
        );
        ids[0].clone()
    }

    /// The image `service`'s container was created from, as named (`.Config.Image`).
    pub fn image_of(&self, service: &str) -> String {
        let id = self.container(service);
        cmd::run(
            docker().args(["inspect", "--format", "{{.Config.Image}}", &id]),
            STEP_LIMIT,
        )
        .trim()
        .to_owned()
    }

    /// The IDs of `service`'s containers (one per replica), sorted.
    pub fn containers(&self, service: &str) -> Vec<String> {
        let ids = cmd::run(self.compose().args(["ps", "--quiet", service]), STEP_LIMIT);
        let mut ids: Vec<String> = ids.split_whitespace().map(str::to_owned).collect();
        ids.sort();
        ids
    }

    /// IDs of the project's running containers, one-off ones (`run`) included.
    pub fn running_containers(&self) -> Vec<String> {
        let label = format!("label=com.docker.compose.project={}", self.name);
        cmd::run(
            docker().args(["ps", "--quiet", "--filter", &label]),
            STEP_LIMIT,
        )
        .split_whitespace()
        .map(str::to_owned)
        .collect()
    }

    /// Containers and networks of the project that exist now.
    fn leftovers(&self) -> Result<Vec<String>, String> {
        let label = format!("label=com.docker.compose.project={}", self.name);
        let name = format!("name={}_", self.name);
        let mut left = Vec::new();
        for query in [
            vec!["ps", "--all", "--quiet", "--filter", &label],
            vec!["network", "ls", "--quiet", "--filter", &label],
            vec!["network", "ls", "--quiet", "--filter", &name],
        ] {
            let output = cmd::output(docker().args(&query), STEP_LIMIT)?;
            if !output.status.success() {
                return Err(format!(
                    "docker {}: {}",
                    query.join(" "),
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            left.extend(
                String::from_utf8_lossy(&output.stdout)
                    .lines()
                    .map(str::to_owned),
            );
        }
        Ok(left)
    }

    fn compose_down(&self) -> Result<Output, String> {
        cmd::output(
            self.compose()
                .args(["down", "--volumes", "--remove-orphans", "--timeout", "10"]),
            STEP_LIMIT,
        )
    }

    /// `docker-compose down`, then fails the test unless no container and no
    /// network of the project remain.
    pub fn down(&mut self) {
        self.is_down = true;
        let output = self.compose_down().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            output.status.success(),
            "docker-compose down failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let left = self.leftovers().unwrap_or_else(|e| panic!("{e}"));
        assert!(
            left.is_empty(),
            "after down, project {} still has containers/networks: {left:?}",
            self.name
        );
        log(&format!(
            "no container and no network of {} remain",
            self.name
        ));
    }
}

impl Drop for Project {
    /// The cleanup of a failed (or forgotten) run: `down`, and a loud message if
    /// anything of the project is left. A failed run keeps its folder.
    fn drop(&mut self) {
        if !self.is_down {
            log(&format!(
                "cleaning up: docker-compose down (project {})",
                self.name
            ));
            if let Err(e) = self.compose_down() {
                eprintln!("[e2e] cleanup FAILED: {e}");
            }
            match self.leftovers() {
                Ok(left) if left.is_empty() => {}
                Ok(left) => eprintln!("[e2e] cleanup FAILED: project {} left {left:?}", self.name),
                Err(e) => eprintln!("[e2e] cleanup FAILED: {e}"),
            }
        }
        if std::thread::panicking()
            && let Some(dir) = self.run_dir.take()
        {
            log(&format!("run files kept in {}", dir.keep().display()));
        }
    }
}
