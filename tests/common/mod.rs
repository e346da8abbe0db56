//! Shared by the integration tests: a trained model file, the real
//! `wine-server` binary on a loopback port, and a raw HTTP/1.1 client that
//! sends exactly the bytes a test asks for (no header added behind its back).

#![allow(dead_code)] // each test binary uses a different part

pub mod prometheus;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Path of a binary of this package, built by cargo for the tests.
pub fn binary(name: &str) -> PathBuf {
    match name {
        "wine-server" => PathBuf::from(env!("CARGO_BIN_EXE_wine-server")),
        "wine-train" => PathBuf::from(env!("CARGO_BIN_EXE_wine-train")),
        "wine-lab" => PathBuf::from(env!("CARGO_BIN_EXE_wine-lab")),
        other => panic!("no binary {other}"),
    }
}

/// A model file trained with the real `wine-train`, once per test process.
///
/// It lives in cargo's `CARGO_TARGET_TMPDIR` (inside `target/`, writable in the
/// Nix sandbox too) and is replaced atomically, so test binaries running at once
/// never see half a file; training is deterministic, so they all write the same bytes.
pub fn model_path() -> &'static Path {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| {
        let target_tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let staging = tempfile::tempdir_in(target_tmp).expect("create a staging folder");
        let staged = staging.path().join("wine.model");
        let output = Command::new(binary("wine-train"))
            .arg("--out")
            .arg(&staged)
            .output()
            .expect("run wine-train");
        assert!(output.status.success(), "wine-train failed: {output:?}");
        let path = target_tmp.join("wine.model");
        std::fs::rename(&staged, &path).expect("move the model into place");
        path
    })
}

/// The outside programs that some integration tests need, each with how to
/// check that it works here and how to get it.
///
/// Such a test is marked `#[ignore = "needs <tool>"]`, so plain `cargo test`
/// needs nothing but Rust, and calls [`require`] first. `cargo test --
/// --include-ignored` (the README's test command, which `.ci/run` runs) asked for
/// it, so there a missing tool fails the test: nothing passes by skipping.
/// An empty check means the program only has to start: wrk has no option that
/// exits 0 (`wrk --version` prints its version and exits 1).
const TOOLS: &[(&str, &[&str], &str)] = &[
    (
        "docker",
        &["info"],
        "a running Docker engine and docker-compose (Debian: docker.io docker-compose)",
    ),
    (
        "docker-compose",
        &["version"],
        "Compose v1 (Debian: apt-get install docker-compose)",
    ),
    (
        "debootstrap",
        &["--version"],
        "Debian: apt-get install debootstrap (building the Locust image also needs root)",
    ),
    (
        "locust",
        &["--version"],
        "pip install -r src/lab/locust/requirements.txt (bash .ci/run puts it in a venv)",
    ),
    ("wrk", &[], "Debian: apt-get install wrk"),
    (
        "nsenter",
        &["--version"],
        "Debian: apt-get install util-linux (entering a container's network namespace also needs root)",
    ),
    (
        "nix-instantiate",
        &["--version"],
        "Debian: apt-get install nix-bin",
    ),
    ("git", &["--version"], "Debian: apt-get install git"),
    (
        "chromium",
        &["--version"],
        "Debian: apt-get install chromium chromium-driver",
    ),
    (
        "chromedriver",
        &["--version"],
        "Debian: apt-get install chromium-driver",
    ),
    (
        "unshare",
        &["--version"],
        "Debian: apt-get install util-linux iproute2 (unshare, mount, ip)",
    ),
    (
        "shellcheck",
        &["--version"],
        "Debian: apt-get install shellcheck",
    ),
    (
        "st",
        &["--version"],
        "schemathesis: pip install -r tests/schemathesis-requirements.txt (bash .ci/run puts it in a venv)",
    ),
    (
        "kubernetes-validate",
        &["--version"],
        "pip install -r tests/kubernetes-requirements.txt (bash .ci/run puts it in a venv)",
    ),
    (
        "python3",
        &["-m", "venv", "--help"],
        "Python 3 with venv (Debian: apt-get install python3-venv)",
    ),
];

/// The seed lab's text, `../shared/seed/load-testing-lab.md` beside the
/// repository (or the file `$WINE_LAB_SEED_LAB` names): the lab this one
/// reproduces. Fails the test, saying where it was looked for, if it is not
/// there; tests that need it are `#[ignore = "needs the seed lab beside the
/// repository"]`, so that elsewhere they count as ignored, never as passed.
pub fn seed_lab() -> String {
    let path = std::env::var_os("WINE_LAB_SEED_LAB").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/seed/load-testing-lab.md"),
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

/// Fails the test, with one line that says how to get it, unless `tool` (one of
/// [`TOOLS`]) runs here. Call it first in a test marked `#[ignore = "needs <tool>"]`.
pub fn require(tool: &str) {
    let Some((_, check, install)) = TOOLS.iter().find(|(name, _, _)| *name == tool) else {
        panic!("require({tool:?}): not a tool tests/common knows; add it to TOOLS");
    };
    let works = Command::new(tool)
        .args(*check)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| check.is_empty() || status.success());
    assert!(
        works,
        "this test needs `{tool}`, which does not run here (`{tool} {}` failed): {install}",
        check.join(" ")
    );
}

/// A running `wine-server`, stopped (SIGTERM) when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    /// Every line the server has logged so far (stderr).
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts `wine-server --api <api>` on a free loopback port with the test model.
    pub fn start(api: &str) -> Server {
        Server::start_with(api, &[])
    }

    /// Same, with extra flags.
    pub fn start_with(api: &str, extra: &[&str]) -> Server {
        let mut command = Command::new(binary("wine-server"));
        command
            .args([
                "--api",
                api,
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--model",
            ])
            .arg(model_path())
            .args(extra);
        Server::spawn(command)
    }

    /// Starts a `wine-server` command prepared by the caller (e.g. with
    /// resource limits set before exec); it must listen on loopback.
    pub fn spawn(mut command: Command) -> Server {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn wine-server");
        // The start-up line names the bound address: "... serving api=... address=127.0.0.1:PORT ...".
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        let addr = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("wine-server exited before serving: {log:?}"))
                .expect("read server log");
            log.lock().unwrap().push(line.clone());
            if let Some(rest) = line.split(" address=").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                break addr.parse().expect("address in the start-up line");
            }
        };
        // Keep reading stderr so the server never blocks on a full pipe.
        let collected = Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                collected.lock().unwrap().push(line);
            }
        });
        Server {
            child,
            addr,
            log,
            reader: Some(reader),
        }
    }

    /// The lines logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits for the exit, returning how long it took.
    pub fn stop(&mut self) -> (std::process::ExitStatus, Duration) {
        let started = Instant::now();
        terminate(&self.child);
        let status = wait_with_timeout(&mut self.child, Duration::from_secs(10));
        let elapsed = started.elapsed();
        // The process is gone, so its stderr ends and the reader finishes.
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (status, elapsed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A child process that is killed if the test ends before it does, so a
/// failed assertion never leaves a server or Locust running.
pub struct Guarded(pub Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Runs a command to completion, capturing its output; kills it and fails
/// the test after `timeout`.
pub fn output_with_timeout(command: &mut Command, timeout: Duration) -> std::process::Output {
    let mut child = Guarded(
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn command"),
    );
    let mut stdout = child.0.stdout.take().expect("piped stdout");
    let mut stderr = child.0.stderr.take().expect("piped stderr");
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let status = wait_with_timeout(&mut child.0, timeout);
    std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Sends a signal (`libc::SIGTERM`, `libc::SIGINT`, ...) to a process.
pub fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) with a pid of a child this test started.
    let result = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(result, 0, "kill({pid}, {signal}) failed");
}

/// Sends SIGTERM to a child process.
pub fn terminate(child: &Child) {
    signal(child.id(), libc::SIGTERM);
}

/// Waits for a child, killing it and failing the test after `timeout`.
pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

/// Sends raw request bytes (which should say `Connection: close`) and reads the response.
pub fn send_raw(addr: SocketAddr, request: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request).expect("send request");
    read_response(&mut stream)
}

/// Reads one response from a connection the server closes afterwards.
pub fn read_response(stream: &mut TcpStream) -> Response {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    parse_response(&raw)
}

/// Parses a whole HTTP/1.1 response with a Content-Length body.
pub fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// A request with an optional content type and body, `Connection: close`.
pub fn request(method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(content_type) = content_type {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// `POST /predict` with a JSON body.
pub fn post_json(addr: SocketAddr, body: &[u8]) -> Response {
    send_raw(
        addr,
        &request("POST", "/predict", Some("application/json"), body),
    )
}

/// The locustfile's no-batch body: the 13 features, all 1.0.
pub fn wine_body(value: f64) -> String {
    let fields: Vec<String> = wine_lab::features::FEATURE_NAMES
        .iter()
        .map(|name| format!("\"{name}\": {value:?}"))
        .collect();
    format!("{{{}}}", fields.join(", "))
}

/// A with-batch body of `rows` rows of 13 copies of `value`.
pub fn batch_body(rows: usize, value: f64) -> String {
    let row = format!("[{}]", vec![format!("{value:?}"); 13].join(", "));
    format!("{{\"batches\": [{}]}}", vec![row; rows].join(", "))
}
