//! The two binaries as users and Docker run them: start-up errors are one
//! clear line and a non-zero exit; SIGTERM/SIGINT stop the server promptly
//! while in-flight requests finish; the trainer is deterministic.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::{Server, binary, model_path, post_json, read_response, wine_body};
use wine_lab::server::STOPPING_HEADER;

/// Runs one of the binaries (`wine-server`, `wine-train`) to completion with
/// `args`; returns its exit code and what it wrote on stderr.
fn run(name: &str, args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(binary(name))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap_or_else(|e| panic!("run {name}: {e}"));
    (
        output.status.code(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// Runs wine-server expecting it to fail at start-up; returns its stderr.
fn failed_start(args: &[&str]) -> String {
    let (code, stderr) = run("wine-server", args);
    assert_eq!(code, Some(1), "{stderr}");
    stderr
}

/// `wine-server --help`, with no settings in the environment.
fn server_help() -> String {
    let help = Command::new(binary("wine-server"))
        .env_clear()
        .arg("--help")
        .output()
        .unwrap();
    String::from_utf8(help.stdout).unwrap()
}

/// [`failed_start`] of the no-batch API on loopback `port` with `model`, then `extra`.
fn failed_no_batch_start(port: &str, model: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "--api",
        "no-batch",
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--model",
        model,
    ];
    args.extend_from_slice(extra);
    failed_start(&args)
}

#[test]
fn model_problems_are_one_line_errors() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let missing = dir.join("absent.model");
    let corrupt = dir.join("corrupt.model");
    let mut bytes = std::fs::read(model_path()).unwrap();
    let last_digit = bytes.iter().rposition(u8::is_ascii_digit).unwrap();
    bytes[last_digit] = if bytes[last_digit] == b'7' {
        b'8'
    } else {
        b'7'
    };
    std::fs::write(&corrupt, &bytes).unwrap();
    let other_version = dir.join("v9.model");
    let text = std::fs::read_to_string(model_path()).unwrap();
    std::fs::write(&other_version, text.replacen(" v1 ", " v9 ", 1)).unwrap();
    let pickle = dir.join("wine.pkl");
    std::fs::write(&pickle, b"\x80\x04\x95\x00\x00").unwrap();
    // A FIFO with no writer: opening it plainly would block forever.
    let fifo = dir.join("fifo.model");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path we own.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);

    for (path, needle) in [
        (&missing, "not found; train one with `wine-train --out"),
        (&corrupt, "corrupt"),
        (&other_version, "format v9 is not supported"),
        (&pickle, "not a wine-lab model file"),
        (
            &dir.to_path_buf(),
            "is not a regular file (it is a directory)",
        ),
        (&fifo, "is not a regular file (it is a FIFO)"),
    ] {
        let stderr = failed_no_batch_start("0", path.to_str().unwrap(), &[]);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("wine-server: ") && stderr.contains(needle),
            "{stderr}"
        );
        assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
    }

    // An unreadable file: the operating system's cause, said once.
    let unreadable = dir.join("unreadable.model");
    std::fs::write(&unreadable, b"x").unwrap();
    std::fs::set_permissions(
        &unreadable,
        std::os::unix::fs::PermissionsExt::from_mode(0o000),
    )
    .unwrap();
    let stderr = failed_no_batch_start("0", unreadable.to_str().unwrap(), &[]);
    if !stderr.contains("not a wine-lab model") {
        // (root reads it anyway; everyone else gets EACCES.)
        assert_eq!(stderr.matches("os error").count(), 1, "{stderr}");
    }
}

#[test]
fn zero_and_impossible_limits_are_refused_with_a_reason() {
    for (flag, value, needle) in [
        ("--threads", "0", "number would be zero"),
        ("--max-body-bytes", "0", "0 is not in 1..="),
        ("--max-body-memory", "0", "0 is not in 1.."),
        ("--header-read-timeout", "0s", "is not more than zero"),
        ("--body-read-timeout", "soon", "such as 30s, 500ms"),
    ] {
        let (code, stderr) = run(
            "wine-server",
            &["--api", "no-batch", "--port", "0", flag, value],
        );
        assert_eq!(code, Some(2), "{flag} {value}: {stderr}");
        assert!(
            stderr.contains(&format!("invalid value '{value}' for '{flag}"))
                && stderr.contains(needle),
            "{stderr}"
        );
    }

    // A body budget smaller than one body of the largest size could never be met.
    let model = model_path().to_str().unwrap();
    let stderr = failed_no_batch_start(
        "0",
        model,
        &["--max-body-bytes", "2000", "--max-body-memory", "1000"],
    );
    assert!(
        stderr.contains("must hold at least one body of the largest size (2000 bytes)"),
        "{stderr}"
    );
}

/// More worker threads than the OS allows: one line and exit 1, not tokio's
/// panic followed by a hang. The limit is on address space (each thread
/// reserves a 2 MiB stack), which binds root too, unlike RLIMIT_NPROC.
#[test]
fn more_threads_than_the_os_allows_is_a_one_line_error() {
    let mut command = common::server_command("no-batch");
    command.args(["--threads", "5000"]).env_remove("RUST_LOG");
    common::limit(&mut command, libc::RLIMIT_AS, 2 << 30);
    let output = common::output_with_timeout(&mut command, Duration::from_secs(30));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "wine-server: cannot start the async runtime: cannot start 5000 worker threads, only "
        ) && stderr.contains("lower --threads"),
        "{stderr}"
    );
}

#[test]
fn a_taken_port_is_a_one_line_error() {
    let server = Server::start("no-batch");
    let port = server.addr.port().to_string();
    let model = model_path().to_str().unwrap();
    let stderr = failed_no_batch_start(&port, model, &[]);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(stderr.lines().count() <= 2, "{stderr}"); // the start-up log never happened
}

#[test]
fn bad_flags_are_explained() {
    let (code, stderr) = run("wine-server", &["--api", "batchy"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("expected no-batch or with-batch"),
        "{stderr}"
    );
}

#[test]
fn settings_come_from_the_environment_too() {
    // The images configure the server with WINE_* variables only.
    let mut command = Command::new(binary("wine-server"));
    command
        .env("WINE_API", "with-batch")
        .env("WINE_HOST", "127.0.0.1")
        .env("WINE_PORT", "0")
        .env("WINE_MODEL", model_path());
    let mut server = Server::spawn(command);
    let first = &server.log()[0];
    assert!(
        first.contains("api=with-batch") && first.contains("address=127.0.0.1:"),
        "{first}"
    );
    assert!(server.stop().0.success());
}

#[test]
fn start_up_is_logged_once_and_requests_are_not() {
    let mut server = Server::start("no-batch");
    for _ in 0..3 {
        assert_eq!(
            post_json(server.addr, wine_body(1.0).as_bytes()).status,
            200
        );
    }
    let (status, _) = server.stop();
    assert!(status.success());
    let log = server.log();
    let sha = wine_lab::model_file::sha256_hex(&std::fs::read(model_path()).unwrap());
    assert!(
        log[0].contains("serving") && log[0].contains("api=no-batch"),
        "{log:?}"
    );
    assert!(
        log[0].contains(&format!("model={}", model_path().display())),
        "{log:?}"
    );
    assert!(log[0].contains(&format!("sha256={sha}")), "{log:?}");
    assert_eq!(
        log.len(),
        3,
        "start-up, signal and stop lines only: {log:?}"
    );

    let mut server = Server::start_with("no-batch", &["--log-requests"]);
    assert_eq!(
        post_json(server.addr, wine_body(1.0).as_bytes()).status,
        200
    );
    server.stop();
    assert!(
        server
            .log()
            .iter()
            .any(|line| line.contains("/predict") && line.contains("200")),
        "{:?}",
        server.log()
    );
}

#[test]
fn sigterm_and_sigint_stop_promptly() {
    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let mut server = Server::start("with-batch");
        let started = std::time::Instant::now();
        common::signal(server.child.id(), signal);
        let status = common::wait_with_timeout(&mut server.child, Duration::from_secs(5));
        assert!(status.success(), "{name}: {status:?}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{name}: took {:?}",
            started.elapsed()
        );
    }
}

/// After its stop signal a server serves on, each answer saying it is stopping
/// (so the lab's Locust stops its users before the server goes, and the stop
/// fails no request), and exits once requests stop coming: a client keeps
/// sending for 1 s after SIGTERM, on its keep-alive connection and on new ones,
/// every answer is a 200 with `wine-server-stopping: 1`, and the server exits
/// within about a quiet spell (250 ms) of the last one.
/// One `POST /predict` on a connection kept open, its answer read by its
/// Content-Length (the shared helpers ask for `Connection: close`).
fn exchange_kept_alive(stream: &mut TcpStream, body: &str) -> common::Response {
    write!(
        stream,
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut raw = Vec::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "closed: {raw:?}");
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
        raw.extend_from_slice(line.as_bytes());
        if line == "\r\n" {
            break;
        }
    }
    let mut content = vec![0; length];
    reader.read_exact(&mut content).unwrap();
    raw.extend_from_slice(&content);
    common::parse_response(&raw)
}

#[test]
fn a_stopping_server_serves_on_and_says_so_until_requests_stop() {
    let mut server = Server::start("no-batch");
    let body = wine_body(1.0);
    let before = post_json(server.addr, body.as_bytes());
    assert_eq!(before.status, 200);
    assert_eq!(
        before.header(STOPPING_HEADER.as_str()),
        None,
        "not stopping yet"
    );

    let mut kept = TcpStream::connect(server.addr).unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(exchange_kept_alive(&mut kept, &body).status, 200);

    common::terminate(&server.child);
    let signalled = std::time::Instant::now();
    let mut answers = 0;
    while signalled.elapsed() < Duration::from_secs(1) {
        let on_kept = exchange_kept_alive(&mut kept, &body);
        let on_new = post_json(server.addr, body.as_bytes());
        for response in [on_kept, on_new] {
            assert_eq!(
                (response.status, response.header(STOPPING_HEADER.as_str())),
                (200, Some("1")),
                "{}",
                response.text()
            );
            answers += 1;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let last = std::time::Instant::now();
    let status = common::wait_with_timeout(&mut server.child, Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    let after_last = last.elapsed();
    assert!(
        after_last < Duration::from_millis(900),
        "exited {after_last:?} after the last request"
    );
    assert!(answers > 20, "only {answers} answers while stopping");
}

#[test]
fn in_flight_requests_finish_after_sigterm() {
    let mut server = Server::start("no-batch");
    // An idle keep-alive connection must not hold the shutdown up.
    let _idle = TcpStream::connect(server.addr).unwrap();

    // A request whose body is only half sent when the signal arrives.
    let body = wine_body(1.0);
    let (first, second) = body.as_bytes().split_at(body.len() / 2);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(first).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    common::terminate(&server.child);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server must wait for the open request"
    );
    stream.write_all(second).unwrap();
    let response = read_response(&mut stream);
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, r#"{"Prediction":1}"#)
    );

    let status = common::wait_with_timeout(&mut server.child, Duration::from_secs(5));
    assert!(status.success());
}

#[test]
fn training_is_deterministic_and_reports_accuracy() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let run = |name: &str, seed: &str| {
        let path = dir.join(name);
        let output = Command::new(binary("wine-train"))
            .args(["--seed", seed, "--out"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        (
            std::fs::read(&path).unwrap(),
            String::from_utf8(output.stdout).unwrap(),
        )
    };
    let (first, stdout) = run("a.model", "42");
    let (second, _) = run("b.model", "42");
    let (other_seed, _) = run("c.model", "7");
    assert!(first == second, "same seed, same bytes");
    assert!(first != other_seed, "the seed is used");
    assert!(
        stdout.contains("held-out accuracy: 44/45 (97.8%)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("training accuracy: 133/133 (100.0%)"),
        "{stdout}"
    );
    assert!(
        std::fs::read(model_path()).unwrap() == first,
        "the default seed is 42"
    );
}

#[test]
fn trainer_errors_are_clear() {
    let (code, stderr) = run("wine-train", &["--out", "/nonexistent-dir/x.model"]);
    assert_ne!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("cannot write /nonexistent-dir/x.model"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");

    let scratch = tempfile::tempdir().unwrap();
    let bad_csv = scratch.path().join("bad.csv");
    std::fs::write(&bad_csv, "a,b\n1,2\n").unwrap();
    let (code, stderr) = run(
        "wine-train",
        &[
            "--out",
            "/tmp/unused.model",
            "--data",
            bad_csv.to_str().unwrap(),
        ],
    );
    assert_ne!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("header must be the 13 feature names"),
        "{stderr}"
    );
}

/// The container settings in deploy/images.json are the one definition; the
/// server's defaults and the locustfile's default port are copies of them.
#[test]
fn defaults_agree_with_the_image_definition() {
    let images = common::read_json("deploy/images.json");
    let help = server_help();
    let default_of = |flag: &str| -> String {
        let text = help
            .split(&format!("--{flag} <"))
            .nth(1)
            .unwrap_or_else(|| panic!("--{flag}: {help}"));
        let text = text.split("[default: ").nth(1).unwrap();
        text.split(']').next().unwrap().to_owned()
    };
    assert_eq!(default_of("port"), images["port"].to_string());
    assert_eq!(default_of("host"), images["host"].as_str().unwrap());
    assert_eq!(default_of("model"), images["modelPath"].as_str().unwrap());
    let locustfile = common::read("locustfile.py");
    assert!(
        locustfile.contains(&format!("http://{{service}}:{}", images["port"])),
        "locustfile.py's default URLs use the images' port"
    );
}

/// `--help` shows the client limits' defaults as the library defines them.
#[test]
fn client_limit_defaults_in_help_come_from_the_library() {
    use wine_lab::duration::Positive;
    use wine_lab::server::{
        DEFAULT_BODIES_IN_MEMORY, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT,
    };
    let help = server_help();
    for (flag, default) in [
        ("header-read-timeout", DEFAULT_HEADER_READ_TIMEOUT),
        ("body-read-timeout", DEFAULT_BODY_READ_TIMEOUT),
    ] {
        let default = Positive(default).to_string();
        assert!(
            help.contains(&format!("[default: {default}]")),
            "--{flag}: {help}"
        );
    }
    let multiple = format!("{DEFAULT_BODIES_IN_MEMORY} times --max-body-bytes");
    assert!(help.contains(&multiple), "{help}");
}

/// The process's thread count, from /proc.
fn threads_of(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Threads:")).unwrap();
    line["Threads:".len()..].trim().parse().unwrap()
}

/// By default the whole server runs on one thread (`server::DEFAULT_THREADS`,
/// chosen from the co-located measurement); `--threads 3` starts three workers.
#[test]
fn one_thread_by_default_and_workers_on_request() {
    for (extra, threads) in [(&[][..], 1), (&["--threads", "3"][..], 4)] {
        let server = Server::start_with("no-batch", extra);
        for _ in 0..20 {
            assert_eq!(
                post_json(server.addr, wine_body(1.0).as_bytes()).status,
                200
            );
        }
        // The main thread blocks in the runtime; a multi-thread runtime adds its workers.
        assert_eq!(threads_of(server.child.id()), threads, "{extra:?}");
    }
}
