//! The benchmark's ceiling: a bare axum server that does everything
//! `wine-server` does on `POST /predict` except predicting. It reads the body
//! ([`read_body`], same limit) and parses it with the same code, answers with
//! zeros of the same length, and runs on the same runtime, so `wine-server`'s
//! throughput divided by this one's is the share that is HTTP + JSON rather
//! than the model.
//!
//! `cargo build --release --example ceiling`, then
//! `target/release/examples/ceiling --api no-batch|with-batch --host 127.0.0.1 --port 8000`.

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use clap::Parser;
use wine_lab::api::body::decode;
use wine_lab::api::requests::{Wine, WineBatch};
use wine_lab::api::responses;
use wine_lab::api::{Api, DEFAULT_MAX_BODY_BYTES, read_body};
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
    /// Worker threads (default: one per CPU it may use).
    #[arg(long)]
    threads: Option<usize>,
}

async fn one(request: Request) -> Response {
    let (headers, body) = match read_body(request, DEFAULT_MAX_BODY_BYTES).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    match decode::<Wine>(&headers, &body) {
        Ok(_) => responses::prediction(0),
        Err(errors) => responses::validation_failed(errors),
    }
}

async fn batch(request: Request) -> Response {
    let (headers, body) = match read_body(request, DEFAULT_MAX_BODY_BYTES).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    match decode::<WineBatch>(&headers, &body) {
        Ok(WineBatch(rows)) => responses::predictions(rows.iter().map(|_| 0)),
        Err(errors) => responses::validation_failed(errors),
    }
}

async fn greet() -> Response {
    responses::json(StatusCode::OK, "\"ceiling\"")
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let predict = match args.api {
        Api::NoBatch => post(one),
        Api::WithBatch => post(batch),
    };
    let router = Router::new()
        .route("/", get(greet))
        .route("/predict", predict)
        .layer(DefaultBodyLimit::max(DEFAULT_MAX_BODY_BYTES));
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
