//! The crate's one HTTP client, for what the binaries ask of servers on this
//! machine: `wine-server healthcheck` (the images' HEALTHCHECK) asks the
//! server for `GET /`, and `wine-lab` asks Locust's web UI how many workers
//! have joined. hyper's HTTP/1.1 client (the HTTP stack the servers run), one
//! request per connection, bounded in time and in size; whatever the other
//! end sends comes back as an error, never a panic.

use std::io;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The largest answer read: a server's greeting is under 100 bytes, Locust's
/// `/stats/requests` a few kB.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// `GET http://{host}:{port}{path}`: the body of a `200 OK` answer as text,
/// or why there is none (no connection, another status, more than
/// [`MAX_BODY_BYTES`], not UTF-8, or no answer within `timeout`).
pub async fn get_text(host: &str, port: u16, path: &str, timeout: Duration) -> io::Result<String> {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let url = format!("http://{authority}{path}");
    match tokio::time::timeout(timeout, get(host, port, &authority, path)).await {
        Ok(result) => {
            result.map_err(|error| io::Error::new(error.kind(), format!("GET {url}: {error}")))
        }
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("GET {url} took over {timeout:?}"),
        )),
    }
}

/// [`get_text`] without its timeout, nor the URL in its errors.
async fn get(host: &str, port: u16, authority: &str, path: &str) -> io::Result<String> {
    let stream = TcpStream::connect((host, port)).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io::Error::other)?;
    let driver = tokio::spawn(connection);
    let request = Request::get(path)
        .header(header::HOST, authority)
        .header(header::CONNECTION, "close")
        .body(Body::empty())
        .map_err(io::Error::other)?;
    let response = sender.send_request(request).await.map_err(io::Error::other);
    let body = match response {
        Ok(response) if response.status() == StatusCode::OK => {
            axum::body::to_bytes(Body::new(response.into_body()), MAX_BODY_BYTES)
                .await
                .map_err(io::Error::other)
        }
        Ok(response) => Err(io::Error::other(format!("answered {}", response.status()))),
        Err(error) => Err(error),
    };
    driver.abort();
    String::from_utf8(body?.to_vec()).map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A one-connection server on loopback that reads the request and
    /// answers `response`, then closes; its port.
    async fn answering(response: Vec<u8>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).await;
            let _ = stream.write_all(&response).await;
        });
        port
    }

    fn answer(status: &str, body: &[u8]) -> Vec<u8> {
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        [head.as_bytes(), body].concat()
    }

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_200_answer_is_its_body() {
        let port = answering(answer("200 OK", b"{\"worker_count\": 2}")).await;
        let body = get_text("127.0.0.1", port, "/stats/requests", WAIT).await;
        assert_eq!(body.unwrap(), "{\"worker_count\": 2}");
    }

    #[tokio::test]
    async fn anything_else_is_an_error_never_a_panic() {
        let port = answering(answer("404 Not Found", b"")).await;
        let error = get_text("127.0.0.1", port, "/metrics", WAIT).await;
        let error = error.unwrap_err().to_string();
        assert!(
            error.ends_with("/metrics: answered 404 Not Found"),
            "{error}"
        );

        let too_big = vec![b'x'; MAX_BODY_BYTES + 1];
        let port = answering(answer("200 OK", &too_big)).await;
        assert!(get_text("127.0.0.1", port, "/", WAIT).await.is_err());

        let port = answering(answer("200 OK", b"\xff\xfe")).await;
        assert!(get_text("127.0.0.1", port, "/", WAIT).await.is_err());

        let port = answering(b"not HTTP at all\r\n\r\n".to_vec()).await;
        assert!(get_text("127.0.0.1", port, "/", WAIT).await.is_err());
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let error = get_text("127.0.0.1", port, "/metrics", Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
        drop(listener);
    }
}
