//! Docker Swarm for the tests (tests/swarm.rs): a single-node swarm on this
//! machine, initialised only if none is active and left again, and a stack
//! deployed from the repository's compose files, removed also when a test fails.
//!
//! The daemon is left as it was found. A swarm that [`Swarm::ready`]
//! initialised is left (`docker swarm leave --force`), and the networks swarm
//! mode creates (`docker_gwbridge`, `ingress`), which leaving can leave behind,
//! are removed unless they were there before. An active swarm of which this
//! node is a manager is used as it is and left alone. Traffic stays on this
//! machine: the swarm advertises and listens on 127.0.0.1 only, and the
//! stack's overlay network spans this one node.
//!
//! Drop order matters: declare the [`Swarm`] before the [`Stack`], so that a
//! failing test removes the stack first and leaves the swarm after.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tempfile::TempDir;

use super::{cmd, docker, log};

/// How long any single docker command may take.
const STEP_LIMIT: Duration = Duration::from_secs(120);
/// The networks `docker swarm init` creates, which `leave` may leave behind.
const SWARM_NETWORKS: [&str; 2] = ["docker_gwbridge", "ingress"];
/// The label `docker stack deploy` puts on everything of a stack.
const STACK_LABEL: &str = "com.docker.stack.namespace";
/// The label Docker puts on a service's task containers.
const SERVICE_LABEL: &str = "com.docker.swarm.service.name";

/// A docker command's stdout, or an error naming it with its output.
fn output(args: &[&str]) -> Result<String, String> {
    let mut command = docker();
    command.args(args);
    let what = cmd::describe(&command);
    let output = cmd::output(&mut command, STEP_LIMIT)?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "`{what}` failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The words of a docker command's stdout (IDs, names), or the test fails.
fn words(args: &[&str]) -> Vec<String> {
    output(args)
        .unwrap_or_else(|e| panic!("{e}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// This node's swarm state and whether it is a manager, as `docker info` says.
fn swarm_state() -> Result<String, String> {
    output(&[
        "info",
        "--format",
        "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}",
    ])
    .map(|state| state.trim().to_owned())
}

/// The names of the daemon's networks.
fn network_names() -> Result<BTreeSet<String>, String> {
    output(&["network", "ls", "--format", "{{.Name}}"])
        .map(|names| names.split_whitespace().map(str::to_owned).collect())
}

/// A swarm to deploy on: the active one if this node manages it, else one
/// initialised here and left again when dropped (or by [`Swarm::leave`]).
pub struct Swarm {
    initialised: bool,
    networks_before: BTreeSet<String>,
    is_left: bool,
}

impl Swarm {
    /// Uses the active swarm, or initialises one on 127.0.0.1 when none is.
    pub fn ready() -> Swarm {
        let state = swarm_state().unwrap_or_else(|e| panic!("{e}"));
        let networks_before = network_names().unwrap_or_else(|e| panic!("{e}"));
        match state.as_str() {
            "inactive false" => {
                // Owned before init, so that a failed init is cleaned up too.
                let swarm = Swarm {
                    initialised: true,
                    networks_before,
                    is_left: false,
                };
                output(&[
                    "swarm",
                    "init",
                    "--advertise-addr",
                    "127.0.0.1",
                    "--listen-addr",
                    "127.0.0.1:2377",
                ])
                .unwrap_or_else(|e| {
                    panic!("cannot initialise a swarm on 127.0.0.1 (is port 2377 taken?): {e}")
                });
                log("swarm initialised on 127.0.0.1 (it is left again at the end)");
                swarm
            }
            "active true" => {
                log(
                    "a swarm is active and this node manages it: the test uses it and leaves it as it is",
                );
                Swarm {
                    initialised: false,
                    networks_before,
                    is_left: true,
                }
            }
            "active false" => panic!(
                "this node is a worker of a swarm, and `docker stack deploy` needs a manager: \
                 run the test on a manager, or leave that swarm first (docker swarm leave)"
            ),
            other => panic!(
                "the swarm state here is `{other}` (docker info: LocalNodeState ControlAvailable); \
                 the test needs none (it initialises one) or an active one this node manages"
            ),
        }
    }

    /// Leaves a swarm this test initialised and removes the networks it left;
    /// an error says what of the daemon is not as it was found.
    pub fn leave(&mut self) -> Result<(), String> {
        if self.is_left {
            return Ok(());
        }
        self.is_left = true;
        if swarm_state()? != "inactive false" {
            output(&["swarm", "leave", "--force"])?;
        }
        // docker_gwbridge may keep an endpoint for a moment after leaving.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let stray: Vec<String> = network_names()?
                .difference(&self.networks_before)
                .cloned()
                .collect();
            if stray.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the daemon keeps networks it did not have: {stray:?}"
                ));
            }
            for network in stray
                .iter()
                .filter(|n| SWARM_NETWORKS.contains(&n.as_str()))
            {
                let _ = output(&["network", "rm", network]);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        match swarm_state()?.as_str() {
            "inactive false" => {
                log("swarm left; the daemon's networks are as they were");
                Ok(())
            }
            state => Err(format!("after leaving, the swarm state is `{state}`")),
        }
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        if let Err(e) = self.leave() {
            eprintln!("[e2e] cleanup FAILED: {e}");
        }
    }
}

/// A stack deployed from compose files (the repository's, then test-only
/// overrides), named `wine-e2e-<time>-<pid>`; `docker stack rm` runs when
/// it is dropped unless [`Stack::rm`] did.
pub struct Stack {
    pub name: String,
    files: Vec<PathBuf>,
    env: Vec<(String, String)>,
    /// The overrides, and what the services write to `/out`; kept when the test fails.
    run_dir: Option<TempDir>,
    is_removed: bool,
}

impl Stack {
    /// A stack of `files`, in `-c` order; nothing is deployed yet.
    pub fn new(files: &[&Path]) -> Stack {
        for file in files {
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
        // The images run as a user of their own (deploy/images.json).
        std::fs::set_permissions(run_dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("make the run folder writable for the containers' user");
        Stack {
            name,
            files: files.iter().map(|file| file.to_path_buf()).collect(),
            env: Vec::new(),
            run_dir: Some(run_dir),
            is_removed: true,
        }
    }

    /// This run's folder.
    pub fn run_dir(&self) -> &Path {
        self.run_dir.as_ref().expect("the run folder").path()
    }

    /// Adds a test-only compose file (`text`) after the others, kept in the
    /// run folder as `file_name`.
    pub fn add_override(&mut self, file_name: &str, text: &str) {
        let path = self.run_dir().join(file_name);
        std::fs::write(&path, text)
            .unwrap_or_else(|e| panic!("write the override {}: {e}", path.display()));
        self.files.push(path);
    }

    /// Sets a variable for `docker stack deploy` (the compose files' `${…}`).
    pub fn set(&mut self, variable: &str, value: &str) {
        self.env.push((variable.to_owned(), value.to_owned()));
    }

    /// `docker stack deploy`, without asking any registry for the images
    /// (they are local); what it printed, both streams.
    pub fn deploy(&mut self) -> String {
        let mut command = docker();
        command
            .args(["stack", "deploy", "--resolve-image", "never"])
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        for file in &self.files {
            command.arg("--compose-file").arg(file);
        }
        command.arg(&self.name);
        self.is_removed = false;
        let what = cmd::describe(&command);
        let output = cmd::output(&mut command, STEP_LIMIT).unwrap_or_else(|e| panic!("{e}"));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "`{what}` failed:\n{text}");
        text
    }

    /// The swarm service of a compose service: `<stack>_<service>`.
    pub fn service(&self, service: &str) -> String {
        format!("{}_{service}", self.name)
    }

    /// The `docker ps` filter for `service`'s task containers.
    fn filter(&self, service: &str) -> String {
        format!("label={SERVICE_LABEL}={}", self.service(service))
    }

    /// IDs of `service`'s running containers, sorted.
    pub fn running(&self, service: &str) -> Vec<String> {
        let mut ids = words(&["ps", "--quiet", "--filter", &self.filter(service)]);
        ids.sort();
        ids
    }

    /// IDs of all of `service`'s containers, exited ones too, sorted.
    pub fn containers(&self, service: &str) -> Vec<String> {
        let mut ids = words(&["ps", "--all", "--quiet", "--filter", &self.filter(service)]);
        ids.sort();
        ids
    }

    /// Waits until `service` has `count` running containers that are healthy
    /// (or have no health check); their IDs. Fails the test after `limit`,
    /// with what Swarm says of the service's tasks.
    pub fn wait_running(&self, service: &str, count: usize, limit: Duration) -> Vec<String> {
        let deadline = Instant::now() + limit;
        loop {
            let ready: Vec<String> = self
                .running(service)
                .into_iter()
                .filter(|id| {
                    let health = cmd::output(
                        docker().args([
                            "inspect",
                            "--format",
                            "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}",
                            id,
                        ]),
                        STEP_LIMIT,
                    );
                    health.is_ok_and(|o| {
                        matches!(
                            String::from_utf8_lossy(&o.stdout).trim(),
                            "healthy" | "none"
                        )
                    })
                })
                .collect();
            if ready.len() == count {
                return ready;
            }
            assert!(
                Instant::now() < deadline,
                "{}: {} of {count} containers running and healthy after {} s; its tasks:\n{}",
                self.service(service),
                ready.len(),
                limit.as_secs(),
                self.tasks(service)
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// What Swarm says of `service`'s tasks: name, state and error, one a line.
    pub fn tasks(&self, service: &str) -> String {
        output(&[
            "service",
            "ps",
            "--no-trunc",
            "--format",
            "{{.Name}} {{.CurrentState}} {{.Error}}",
            &self.service(service),
        ])
        .unwrap_or_else(|e| e)
    }

    /// `docker service scale <service>=<replicas>`, not waiting for it.
    pub fn scale(&self, service: &str, replicas: usize) {
        output(&[
            "service",
            "scale",
            "--detach",
            &format!("{}={replicas}", self.service(service)),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The address a container has on the stack's network.
    pub fn address(&self, container: &str) -> String {
        let network = format!("{}_default", self.name);
        output(&[
            "inspect",
            "--format",
            &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"),
            container,
        ])
        .unwrap_or_else(|e| panic!("{e}"))
        .trim()
        .to_owned()
    }

    /// Services, containers, networks and configs of the stack that exist now.
    fn leftovers(&self) -> Result<Vec<String>, String> {
        let label = format!("label={STACK_LABEL}={}", self.name);
        let mut left = Vec::new();
        for (kind, query) in [
            (
                "service",
                vec!["service", "ls", "--quiet", "--filter", &label],
            ),
            (
                "container",
                vec!["ps", "--all", "--quiet", "--filter", &label],
            ),
            (
                "network",
                vec!["network", "ls", "--quiet", "--filter", &label],
            ),
            (
                "config",
                vec!["config", "ls", "--quiet", "--filter", &label],
            ),
        ] {
            left.extend(
                output(&query)?
                    .split_whitespace()
                    .map(|id| format!("{kind} {id}")),
            );
        }
        Ok(left)
    }

    /// `docker stack rm`, then waits (at most 60 s) until nothing of the
    /// stack is left; an error lists what is.
    fn remove(&mut self) -> Result<(), String> {
        self.is_removed = true;
        output(&["stack", "rm", &self.name])?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = self.leftovers()?;
            if left.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "60 s after `docker stack rm`, stack {} still has {left:?}",
                    self.name
                ));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// `docker stack rm`; fails the test unless no service, container,
    /// network or config of the stack remains.
    pub fn rm(&mut self) {
        let started = Instant::now();
        self.remove().unwrap_or_else(|e| panic!("{e}"));
        log(&format!(
            "no service, container, network or config of {} remains ({:.1} s after docker stack rm)",
            self.name,
            started.elapsed().as_secs_f64()
        ));
    }
}

impl Drop for Stack {
    /// The cleanup of a failed (or forgotten) run: `docker stack rm`, and a
    /// loud message if anything of the stack is left. A failed run keeps its folder.
    fn drop(&mut self) {
        if !self.is_removed {
            log(&format!("cleaning up: docker stack rm {}", self.name));
            if let Err(e) = self.remove() {
                eprintln!("[e2e] cleanup FAILED: {e}");
            }
        }
        if std::thread::panicking()
            && let Some(dir) = self.run_dir.take()
        {
            log(&format!("run files kept in {}", dir.keep().display()));
        }
    }
}

/// `docker wait` for a container, at most `limit`: its exit code.
pub fn wait_exit(container: &str, limit: Duration) -> i32 {
    let text = cmd::run(docker().args(["wait", container]), limit);
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("docker wait {container} said {text:?}"))
}

/// A container's whole log, both streams.
pub fn logs(container: &str) -> String {
    let output = cmd::output(docker().args(["logs", container]), STEP_LIMIT)
        .unwrap_or_else(|e| panic!("{e}"));
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
