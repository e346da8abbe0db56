//! The lab's two HTTP APIs as axum routers, answering as the original FastAPI
//! servers did (see `README.md`, "API", for every request and response).
//!
//! | route | no-batch | with-batch |
//! |---|---|---|
//! | `GET /` | greeting | greeting |
//! | `POST /predict` | one named wine -> `{"Prediction": 1}` | rows -> `{"Prediction": [1, ...]}` |
//! | `GET /openapi.json`, `GET /docs` | OpenAPI description, Swagger UI | same |
//! | `GET /metrics` | Prometheus metrics ([`crate::metrics`]) | same |
//!
//! A `POST /predict` goes: the [`ValidBody`] extractor (`valid_body.rs`: the
//! body within its limit, the fast reader `fast_json.rs` or the full one
//! `full_json.rs` and the body type's validation) -> the API's handler
//! (`no_batch.rs` or `with_batch.rs`, each owning its body type, validation,
//! schema and answer) -> the model. Every error is a [`FastApiError`]
//! (`fastapi_error.rs`); `openapi.rs` assembles the description.

mod fast_json;
mod fastapi_error;
mod full_json;
mod no_batch;
mod openapi;
mod valid_body;
mod with_batch;

/// The two request readers, each alone, for the fuzz targets in `fuzz/`
/// (which check that they never panic and always agree). Only built with the
/// `fuzzing` feature: not part of the library's interface.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use super::valid_body::{self, without_bom};
    use super::{RequestBody, ValidationError};

    /// The fast reader, on a JSON body as the extractor gives it (past a byte order mark).
    pub fn read_fast<T: RequestBody>(body: &[u8]) -> Option<T> {
        T::parse_fast(without_bom(body))
    }

    /// The full reader and validation, on the same body.
    pub fn read_full<T: RequestBody>(body: &[u8]) -> Result<T, Vec<ValidationError>> {
        valid_body::read_full(without_bom(body))
    }
}

pub use fastapi_error::{FastApiError, Loc, MAX_ERRORS, ValidationError};
pub use no_batch::Wine;
pub use valid_body::{BodyLimit, RequestBody, ValidBody};
pub use with_batch::WineBatch;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRef, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::metrics::{self, CpuScope, ServerMetrics};
use crate::model::WineModel;

/// Which of the lab's two servers to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// One wine per request, 13 named fields (image `mlepc4w2-ugl:no-batch`).
    NoBatch,
    /// Any number of rows per request (image `mlepc4w2-ugl:with-batch`).
    WithBatch,
}

impl Api {
    /// Both APIs.
    pub const ALL: [Api; 2] = [Api::NoBatch, Api::WithBatch];

    /// The name used on the command line and in image tags.
    pub fn name(self) -> &'static str {
        match self {
            Api::NoBatch => "no-batch",
            Api::WithBatch => "with-batch",
        }
    }

    /// The original servers' `GET /` greeting, verbatim. (The with-batch one says
    /// port 81 because the lab ran that container with `-p 81:80`.)
    pub fn greeting(self) -> &'static str {
        match self {
            Api::NoBatch => {
                "Congratulations! Your API is working as expected. Now head over to http://localhost:80/docs"
            }
            Api::WithBatch => {
                "Congratulations! Your API is working as expected. This new version allows for batching. Now head over to http://localhost:81/docs"
            }
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Api {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Api::ALL
            .into_iter()
            .find(|api| api.name() == name)
            .ok_or_else(|| format!("unknown API {name:?}: expected no-batch or with-batch"))
    }
}

/// Default request body limit: 1 MiB, about 15,000 rows of 13 numbers.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// The router of one API, serving `model`, refusing bodies over `max_body_bytes` with 413,
/// with metrics of its own.
pub fn router(api: Api, model: Arc<WineModel>, max_body_bytes: usize) -> Router {
    router_with_metrics(
        api,
        model,
        max_body_bytes,
        Some(ServerMetrics::new(CpuScope::Process)),
    )
}

/// [`router`], counting rows predicted in `metrics` and serving them at
/// `GET /metrics` (the server times requests into the same `metrics`);
/// with `None`, neither counted nor served (`GET /metrics` is then 404 and
/// absent from `/openapi.json`).
pub fn router_with_metrics(
    api: Api,
    model: Arc<WineModel>,
    max_body_bytes: usize,
    metrics: Option<Arc<ServerMetrics>>,
) -> Router {
    let body_limit = BodyLimit(max_body_bytes);
    let state = AppState {
        model,
        metrics: metrics.clone(),
        body_limit,
        greeting: Bytes::from(serde_json::to_vec(api.greeting()).unwrap_or_default()),
        openapi: Bytes::from(openapi::document(api, metrics.is_some())),
    };
    let predict = match api {
        Api::NoBatch => post(no_batch::predict_one),
        Api::WithBatch => post(with_batch::predict_batch),
    };
    let mut router = Router::new()
        .route("/", get(greet))
        .route("/predict", predict)
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(openapi::swagger_ui));
    if let Some(metrics) = metrics {
        router = router.route("/metrics", get(metrics_text).with_state(metrics));
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(body_limit.layer())
        .with_state(Arc::new(state))
}

/// The 413 this API answers for a body over `limit` bytes, for a layer that
/// refuses such a request before reading its body, with the same bytes.
pub fn payload_too_large(limit: usize) -> Response {
    FastApiError::payload_too_large(limit).into_response()
}

/// What every handler shares, behind one `Arc`: the model (read-only, no
/// lock), the body limit and the pre-encoded constant answers.
struct AppState {
    model: Arc<WineModel>,
    metrics: Option<Arc<ServerMetrics>>,
    body_limit: BodyLimit,
    greeting: Bytes,
    openapi: Bytes,
}

/// How [`ValidBody`] finds the limit it names in a 413.
impl FromRef<Arc<AppState>> for BodyLimit {
    fn from_ref(state: &Arc<AppState>) -> Self {
        state.body_limit
    }
}

/// Greeting: says the API is up and where its docs are.
#[utoipa::path(
    get,
    path = "/",
    tag = openapi::TAG,
    responses((status = 200, description = "The greeting", body = String, content_type = "application/json"))
)]
async fn greet(State(state): State<Arc<AppState>>) -> Response {
    json(StatusCode::OK, state.greeting.clone())
}

/// `GET /openapi.json`: this API's description.
async fn openapi_json(State(state): State<Arc<AppState>>) -> Response {
    json(StatusCode::OK, state.openapi.clone())
}

/// `GET /metrics`: this server's metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = openapi::TAG,
    responses((
        status = 200,
        description = "This server's metrics in the Prometheus text exposition format 0.0.4: requests by route and status, request durations, rows predicted, requests in flight, start time",
        body = String,
        content_type = "text/plain; version=0.0.4"
    ))
)]
async fn metrics_text(State(metrics): State<Arc<ServerMetrics>>) -> Response {
    let mut response = metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    response
}

/// 404 for unknown paths, as FastAPI answers.
async fn not_found() -> FastApiError {
    FastApiError::not_found()
}

/// 405 for a known path with another method, as FastAPI answers.
async fn method_not_allowed() -> FastApiError {
    FastApiError::method_not_allowed()
}

/// A response with a JSON body that is already encoded: every answer's shape.
fn json(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = (status, body.into()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod test_support {
    use axum::response::Response;

    /// A response's whole body.
    pub fn body_of(response: Response) -> Vec<u8> {
        let body = axum::body::to_bytes(response.into_body(), usize::MAX);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(body).unwrap().to_vec()
    }
}
