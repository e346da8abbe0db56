//! A raw HTTP/1.1 client that sends exactly the bytes a test asks for (no
//! header added behind its back), and the request bodies the locustfile sends.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

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
