//! The lab's two HTTP APIs as axum routers, answering as the original FastAPI
//! servers did (see `README.md`, "API", for every request and response).
//!
//! | route | no-batch | with-batch |
//! |---|---|---|
//! | `GET /` | greeting | greeting |
//! | `POST /predict` | one named wine -> `{"Prediction": 1}` | rows -> `{"Prediction": [1, ...]}` |
//! | `GET /openapi.json`, `GET /docs` | OpenAPI description, Swagger UI | same |

pub mod body;
pub mod fast_json;
pub mod openapi;
pub mod requests;
pub mod responses;
pub mod validation;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};

use crate::model::WineModel;
use requests::{RequestBody, Wine, WineBatch};

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

/// What every handler shares, behind one `Arc`: the model (read-only, no
/// lock), the body limit and the pre-encoded constant answers.
struct AppState {
    model: Arc<WineModel>,
    max_body_bytes: usize,
    greeting: Bytes,
    openapi: Bytes,
}

/// The router of one API, serving `model`, refusing bodies over `max_body_bytes` with 413.
pub fn router(api: Api, model: Arc<WineModel>, max_body_bytes: usize) -> Router {
    let state = AppState {
        model,
        max_body_bytes,
        greeting: Bytes::from(serde_json::to_vec(api.greeting()).unwrap_or_default()),
        openapi: Bytes::from(openapi::document(api)),
    };
    let predict = match api {
        Api::NoBatch => post(predict_one),
        Api::WithBatch => post(predict_batch),
    };
    Router::new()
        .route("/", get(greet))
        .route("/predict", predict)
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(openapi::swagger_ui))
        .fallback(responses::not_found)
        .method_not_allowed_fallback(responses::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(Arc::new(state))
}

/// Greeting: says the API is up and where its docs are.
#[utoipa::path(
    get,
    path = "/",
    tag = TAG,
    responses((status = 200, description = "The greeting", body = String, content_type = "application/json"))
)]
async fn greet(State(state): State<Arc<AppState>>) -> Response {
    responses::json(StatusCode::OK, state.greeting.clone())
}

/// The OpenAPI tag grouping the operations in the docs.
const TAG: &str = "wine classifier";

/// `GET /openapi.json`: this API's description.
async fn openapi_json(State(state): State<Arc<AppState>>) -> Response {
    responses::json(StatusCode::OK, state.openapi.clone())
}

/// Classify one wine.
#[utoipa::path(
    post,
    path = "/predict",
    tag = TAG,
    request_body = Wine,
    responses(
        (status = 200, description = "The wine's class", body = responses::Prediction),
        (status = 413, description = "Body over the size limit", body = responses::Detail),
        (status = 422, description = "Invalid body", body = validation::ValidationErrors),
    )
)]
async fn predict_one(State(state): State<Arc<AppState>>, request: Request) -> Response {
    predict::<Wine>(state, request).await
}

/// Classify a batch of wines, one row each.
#[utoipa::path(
    post,
    path = "/predict",
    tag = TAG,
    request_body = WineBatch,
    responses(
        (status = 200, description = "Each row's class, in order", body = responses::Predictions),
        (status = 413, description = "Body over the size limit", body = responses::Detail),
        (status = 422, description = "Invalid body", body = validation::ValidationErrors),
    )
)]
async fn predict_batch(State(state): State<Arc<AppState>>, request: Request) -> Response {
    predict::<WineBatch>(state, request).await
}

/// A request body the model can answer.
trait Answer: RequestBody {
    /// The 200 response: the prediction(s) for this body.
    fn answer(self, model: &WineModel) -> Response;
}

impl Answer for Wine {
    fn answer(self, model: &WineModel) -> Response {
        responses::prediction(model.predict(&self.0))
    }
}

impl Answer for WineBatch {
    fn answer(self, model: &WineModel) -> Response {
        responses::predictions(self.0.iter().map(|row| model.predict(row)))
    }
}

/// `POST /predict` for either API: read the body, validate it, answer.
async fn predict<B: Answer>(state: Arc<AppState>, request: Request) -> Response {
    let (headers, bytes) = match read_body(request, state.max_body_bytes).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    match body::decode::<B>(&headers, &bytes) {
        Ok(body) => body.answer(&state.model),
        Err(errors) => responses::validation_failed(errors),
    }
}

/// The request's headers (moved out, not cloned) and its whole body, or the
/// error response when the body is over the router's `DefaultBodyLimit`
/// (`max_body_bytes`, named in the 413) or cannot be read.
pub async fn read_body(
    request: Request,
    max_body_bytes: usize,
) -> Result<(HeaderMap, Bytes), Response> {
    let (mut parts, body) = request.into_parts();
    let headers = std::mem::take(&mut parts.headers);
    match Bytes::from_request(Request::from_parts(parts, body), &()).await {
        Ok(bytes) => Ok((headers, bytes)),
        Err(rejection) => Err(body_rejected(&rejection, max_body_bytes)),
    }
}

/// 413 for an oversize body; 400 when the body could not be read at all.
fn body_rejected(rejection: &BytesRejection, limit: usize) -> Response {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        payload_too_large(limit)
    } else {
        responses::detail(StatusCode::BAD_REQUEST, rejection.body_text())
    }
}

/// 413 naming the body limit: for a body found too large while reading it,
/// and for one whose declared length is over the limit (src/server.rs).
pub fn payload_too_large(limit: usize) -> Response {
    responses::detail(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("Request body too large: the limit is {limit} bytes"),
    )
}
