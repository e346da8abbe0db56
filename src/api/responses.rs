//! Every response the servers send, byte-compatible with the lab's FastAPI
//! servers: JSON bodies with `application/json`, errors as `{"detail": ...}`.
//!
//! Predictions are written straight into bytes (no serializer, one allocation
//! at most); the response types still derive `Serialize` so tests can check
//! the hand-written bytes against serde's and the OpenAPI schema stays true.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::validation::{ValidationError, ValidationErrors};

/// The no-batch answer: `{"Prediction": 0}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Prediction {
    /// Predicted class: 0, 1 or 2.
    #[serde(rename = "Prediction")]
    pub prediction: u8,
}

/// The with-batch answer: `{"Prediction": [0, 2, ...]}`, one class per row.
#[derive(Debug, Serialize, ToSchema)]
pub struct Predictions {
    /// Predicted class of each row, in request order.
    #[serde(rename = "Prediction")]
    pub prediction: Vec<u8>,
}

/// An error answer other than validation: `{"detail": "Not Found"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Detail {
    /// What went wrong.
    pub detail: String,
}

/// A response with a JSON body that is already encoded.
pub fn json(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut response = (status, body.into()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// 200 `{"Prediction":N}` for one class.
pub fn prediction(class: u8) -> Response {
    const BODIES: [&[u8]; 3] = [
        b"{\"Prediction\":0}",
        b"{\"Prediction\":1}",
        b"{\"Prediction\":2}",
    ];
    match BODIES.get(usize::from(class)) {
        Some(body) => json(StatusCode::OK, *body),
        None => json(StatusCode::OK, encode_prediction(class)),
    }
}

/// 200 `{"Prediction":[...]}` for a batch.
pub fn predictions(classes: impl ExactSizeIterator<Item = u8>) -> Response {
    json(StatusCode::OK, encode_predictions(classes))
}

/// `{"Prediction":N}` as bytes.
fn encode_prediction(class: u8) -> Vec<u8> {
    format!("{{\"Prediction\":{class}}}").into_bytes()
}

/// `{"Prediction":[a,b,...]}` as bytes, classes being single digits.
pub fn encode_predictions(classes: impl ExactSizeIterator<Item = u8>) -> Vec<u8> {
    const HEAD: &[u8] = b"{\"Prediction\":[";
    let mut body = Vec::with_capacity(HEAD.len() + 2 * classes.len() + 2);
    body.extend_from_slice(HEAD);
    for (i, class) in classes.enumerate() {
        if i > 0 {
            body.push(b',');
        }
        if class < 10 {
            body.push(b'0' + class);
        } else {
            body.extend_from_slice(class.to_string().as_bytes());
        }
    }
    body.extend_from_slice(b"]}");
    body
}

/// 422 with FastAPI's `{"detail": [...]}`.
pub fn validation_failed(errors: Vec<ValidationError>) -> Response {
    let body = ValidationErrors { detail: errors };
    // Serialising strings, numbers and JSON values cannot fail.
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    json(StatusCode::UNPROCESSABLE_ENTITY, bytes)
}

/// `{"detail": "..."}` with any status.
pub fn detail(status: StatusCode, message: impl Into<String>) -> Response {
    let body = Detail {
        detail: message.into(),
    };
    json(status, serde_json::to_vec(&body).unwrap_or_default())
}

/// 404 for unknown paths, as FastAPI answers.
pub async fn not_found() -> Response {
    detail(StatusCode::NOT_FOUND, "Not Found")
}

/// 405 for a known path with another method, as FastAPI answers.
pub async fn method_not_allowed() -> Response {
    detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_bodies_equal_serde_output() {
        for class in 0..3u8 {
            let expected = serde_json::to_vec(&Prediction { prediction: class }).unwrap();
            assert_eq!(encode_prediction(class), expected);
        }
        for classes in [vec![], vec![1], vec![0, 2, 1, 1, 12]] {
            let expected = serde_json::to_vec(&Predictions {
                prediction: classes.clone(),
            })
            .unwrap();
            assert_eq!(encode_predictions(classes.into_iter()), expected);
        }
    }
}
