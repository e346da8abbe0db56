//! The hostile-client probes of issue 12 as repeatable checks, on loopback
//! and bounded in time and count: slowloris headers and stalled bodies are
//! closed after their timeouts (short ones, set with the CLI options), bodies
//! wait for the memory budget, an oversize declared body gets 413 at once,
//! and running out of file descriptors is logged once and recovered from.
//!
//! The memory these cost is measured by tests/hostile/memory_probe.py, not
//! asserted here.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Server, post_json, read_response, wine_body};

/// How long a test waits for the server to close a connection before failing.
const PATIENCE: Duration = Duration::from_secs(10);

/// Reads until the server closes the connection, returning what it sent;
/// fails if it is still open after [`PATIENCE`].
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return received,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return received,
            Err(e) => panic!(
                "connection still open after {PATIENCE:?} ({e}); received {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
}

/// Whether the server has said nothing on `stream` for `wait`.
fn silent_for(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut byte = [0];
    matches!(stream.read(&mut byte), Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut))
}

#[test]
fn slowloris_and_idle_connections_are_closed_after_the_header_timeout() {
    let server = Server::start_with("no-batch", &["--header-read-timeout", "500ms"]);
    let started = Instant::now();
    let idle: Vec<TcpStream> = (0..10)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    // Headers dripped one byte at a time, faster than the timeout.
    let mut dripping: Vec<TcpStream> = (0..10)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    let head = b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for byte in head.iter().take(40) {
        if dripping
            .iter_mut()
            .any(|stream| stream.write_all(&[*byte]).is_err())
        {
            break; // closed by the server: what the test is waiting for
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for mut stream in idle.into_iter().chain(dripping) {
        let received = read_until_closed(&mut stream);
        assert!(
            received.is_empty() || received.starts_with(b"HTTP/1.1 408"),
            "{:?}",
            String::from_utf8_lossy(&received)
        );
    }
    assert!(started.elapsed() < PATIENCE);

    // A client that sends its request in time is served as before, also on a
    // connection that idled for less than the timeout in between.
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let body = wine_body(1.0);
    let request = format!(
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    stream
        .write_all(
            request
                .replace("HTTP/1.1\r\n", "HTTP/1.1\r\nConnection: close\r\n")
                .as_bytes(),
        )
        .unwrap();
    let mut both = Vec::new();
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.read_to_end(&mut both).unwrap();
    let text = String::from_utf8_lossy(&both);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{text}");
}

/// A request whose body stops arriving after `sent` of `declared` bytes.
fn stall_body(addr: SocketAddr, declared: usize, sent: usize) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&vec![b' '; sent]).unwrap();
    stream
}

#[test]
fn stalled_bodies_are_closed_after_the_body_timeout() {
    let server = Server::start_with("with-batch", &["--body-read-timeout", "500ms"]);
    let mib = wine_lab::api::DEFAULT_MAX_BODY_BYTES;
    let started = Instant::now();
    let stalled: Vec<TcpStream> = (0..10)
        .map(|_| stall_body(server.addr, mib, mib - 1))
        .collect();
    for mut stream in stalled {
        let received = read_until_closed(&mut stream);
        let text = String::from_utf8_lossy(&received);
        assert!(
            text.starts_with("HTTP/1.1 400") && text.contains("did not arrive within 500ms"),
            "{text}"
        );
    }
    assert!(started.elapsed() < PATIENCE);
    assert_eq!(
        post_json(server.addr, common::batch_body(3, 1.0).as_bytes()).status,
        200
    );
}

#[test]
fn bodies_wait_for_the_memory_budget() {
    // Room for two bodies of the largest size, and time enough to see a third wait.
    let server = Server::start_with(
        "no-batch",
        &[
            "--max-body-bytes",
            "1000",
            "--max-body-memory",
            "2000",
            "--body-read-timeout",
            "60s",
        ],
    );
    let holders: Vec<TcpStream> = (0..2).map(|_| stall_body(server.addr, 1000, 10)).collect();
    // Complete, and small, but over the remaining budget... which is none.
    let body = format!("{:<1000}", wine_body(1.0));
    let mut waiting = TcpStream::connect(server.addr).unwrap();
    waiting
        .write_all(&common::request(
            "POST",
            "/predict",
            Some("application/json"),
            body.as_bytes(),
        ))
        .unwrap();
    assert!(
        silent_for(&mut waiting, Duration::from_millis(300)),
        "answered although the budget was spent"
    );
    // Bodies without a length (chunked) claim the largest size: also waiting.
    // Requests without a body claim nothing and are served.
    let response = common::send_raw(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(response.status, 200);

    drop(holders); // their bodies end; their share of the budget returns
    waiting.set_read_timeout(Some(PATIENCE)).unwrap();
    let response = read_response(&mut waiting);
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, r#"{"Prediction":1}"#)
    );
}

#[test]
fn a_declared_oversize_body_gets_413_before_any_of_it_is_sent() {
    let server = Server::start("with-batch");
    // What the server answers when it finds the body too large while reading it.
    let mut chunked = b"POST /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..17 {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let read_limit = common::send_raw(server.addr, &chunked);
    assert_eq!(read_limit.status, 413);

    for expect in ["Expect: 100-continue\r\n", ""] {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        write!(
            stream,
            "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10737418240\r\n{expect}\r\n"
        )
        .unwrap();
        // Not a byte of the body is sent: the answer must come anyway.
        let received = read_until_closed(&mut stream);
        let text = String::from_utf8_lossy(&received);
        assert!(!text.contains("100 Continue"), "{expect:?}: {text}");
        let response = common::parse_response(&received);
        assert_eq!(response.status, 413, "{expect:?}: {text}");
        assert!(
            response.body == read_limit.body,
            "the same 413 either way: {text}"
        );
        assert_eq!(
            response.header("content-type"),
            read_limit.header("content-type")
        );
    }
}

#[test]
fn running_out_of_file_descriptors_is_logged_once_and_survived() {
    const NOFILE: libc::rlim_t = 64;
    let mut command = common::server_command("no-batch");
    command.env_remove("RUST_LOG");
    common::limit(&mut command, libc::RLIMIT_NOFILE, NOFILE);
    let server = Server::spawn(command);
    // More idle connections than the server may hold descriptors for.
    let held: Vec<TcpStream> = (0..NOFILE + 16)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    let deadline = Instant::now() + PATIENCE;
    let warnings = || {
        server
            .log()
            .into_iter()
            .filter(|line| line.contains("cannot accept connections"))
            .collect::<Vec<_>>()
    };
    while warnings().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Failures keep coming every 100 ms; still one line.
    std::thread::sleep(Duration::from_secs(1));
    let warned = warnings();
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("WARN")
            && warned[0].contains(&format!(
                "may have {NOFILE} open file descriptors (RLIMIT_NOFILE"
            )),
        "{warned:?}"
    );

    drop(held);
    // Descriptors free up: the server accepts again (it may first take the
    // closed connections still in its backlog).
    let response = post_json(server.addr, wine_body(1.0).as_bytes());
    assert_eq!(response.status, 200);
}
