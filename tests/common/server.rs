//! The package's binaries, a model file trained by the real `wine-train`, and
//! the real `wine-server` on a loopback port.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::process::{run_ok, terminate, wait_with_timeout};

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
        run_ok(Command::new(binary("wine-train")).arg("--out").arg(&staged));
        let path = target_tmp.join("wine.model");
        std::fs::rename(&staged, &path).expect("move the model into place");
        path
    })
}

/// `wine-server --api <api>` on a free loopback port (`--port 0`) with the
/// test model, for the caller to add flags, limits or a way to run it.
pub fn server_command(api: &str) -> Command {
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
        .arg(model_path());
    command
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
        let mut command = server_command(api);
        command.args(extra);
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
