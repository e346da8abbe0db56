//! The benchmark's ceiling: a bare axum server that parses what `wine-server`
//! parses on `POST /predict` and does not predict. Its handlers take the same
//! [`ValidBody`] extractor (same reading, limit, parsing and validation),
//! answer with zeros of the same length the same way, and run on the same
//! runtime: the cost of HTTP + JSON alone. It serves with plain `axum::serve`,
//! without wine-server's header-read timeout, body budget and `/metrics`, so
//! `wine-server`'s throughput divided by this one's shows what the model and
//! that hardening cost on top (bench/README.md breaks the difference down:
//! about 2.7k instructions per request besides the model).
//!
//! `cargo build --release --example ceiling`, then
//! `target/release/examples/ceiling --api no-batch|with-batch --host 127.0.0.1 --port 8000`.

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clap::Parser;
use wine_lab::api::{Api, BodyLimit, DEFAULT_MAX_BODY_BYTES, ValidBody, Wine, WineBatch};
use wine_lab::server;

/// A server with the wine APIs' parsing and no model.
#[derive(Parser)]
struct Args {
    /// Which API's bodies to parse.
    #[arg(long)]
    api: Api,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on.
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Worker threads (default: wine-server's, `server::DEFAULT_THREADS`).
    #[arg(long)]
    threads: Option<usize>,
}

async fn one(ValidBody(_): ValidBody<Wine>) -> Response {
    json(b"{\"Prediction\":0}".as_slice())
}

async fn batch(ValidBody(WineBatch(rows)): ValidBody<WineBatch>) -> Response {
    // As wine-server writes its answer: `{"Prediction":[0,0,...]}`, one allocation.
    const HEAD: &[u8] = b"{\"Prediction\":[";
    let mut body = Vec::with_capacity(HEAD.len() + 2 * rows.len() + 2);
    body.extend_from_slice(HEAD);
    for i in 0..rows.len() {
        if i > 0 {
            body.push(b',');
        }
        body.push(b'0');
    }
    body.extend_from_slice(b"]}");
    json(body)
}

async fn greet() -> Response {
    json("\"ceiling\"")
}

/// 200 with an encoded JSON body, built as wine-server builds its answers.
fn json(body: impl Into<Body>) -> Response {
    let mut response = (StatusCode::OK, body.into()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let limit = BodyLimit(DEFAULT_MAX_BODY_BYTES);
    let predict = match args.api {
        Api::NoBatch => post(one),
        Api::WithBatch => post(batch),
    };
    let router = Router::new()
        .route("/", get(greet))
        .route("/predict", predict)
        .layer(limit.layer())
        .with_state(limit);
    server::runtime(args.threads)?.block_on(async {
        let listener = server::bind(SocketAddr::new(args.host, args.port)).await?;
        eprintln!("ceiling: {} on {}", args.api, listener.local_addr()?);
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                if let Ok(mut signals) = server::StopSignals::install() {
                    signals.next().await;
                }
            })
            .await
    })
}
