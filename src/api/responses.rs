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

use super::validation::{MAX_ERROR_BODY_BYTES, ValidationError};

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

/// The no-batch answer for each class the model can predict, encoded once.
const PREDICTION_BODIES: [&[u8]; crate::features::N_CLASSES] = [
    b"{\"Prediction\":0}",
    b"{\"Prediction\":1}",
    b"{\"Prediction\":2}",
];

/// 200 `{"Prediction":N}` for one class (always one the model can predict:
/// the model's leaves are validated when it is loaded).
pub fn prediction(class: u8) -> Response {
    match PREDICTION_BODIES.get(usize::from(class)) {
        Some(body) => json(StatusCode::OK, *body),
        None => json(StatusCode::OK, format!("{{\"Prediction\":{class}}}")),
    }
}

/// 200 `{"Prediction":[...]}` for a batch.
pub fn predictions(classes: impl ExactSizeIterator<Item = u8>) -> Response {
    json(StatusCode::OK, encode_predictions(classes))
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

/// 422 with FastAPI's `{"detail": [...]}` ([`super::validation::ValidationErrors`]), the first
/// errors up to [`MAX_ERROR_BODY_BYTES`].
pub fn validation_failed(errors: Vec<ValidationError>) -> Response {
    let mut body = b"{\"detail\":[".to_vec();
    for (i, error) in errors.iter().enumerate() {
        if i > 0 {
            if body.len() > MAX_ERROR_BODY_BYTES {
                break;
            }
            body.push(b',');
        }
        // Serialising strings, numbers and JSON values into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut body, error);
    }
    body.extend_from_slice(b"]}");
    json(StatusCode::UNPROCESSABLE_ENTITY, body)
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

    /// A response's whole body.
    fn body_of(response: Response) -> Vec<u8> {
        let body = axum::body::to_bytes(response.into_body(), usize::MAX);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(body).unwrap().to_vec()
    }

    #[test]
    fn error_bodies_equal_serde_output_and_stay_bounded() {
        use super::super::validation::{Loc, ValidationErrors};
        let error = |i: usize| {
            ValidationError::missing(
                vec![Loc::Key("body"), Loc::Index(i)],
                serde_json::Value::Null,
            )
        };
        let errors: Vec<_> = (0..3).map(error).collect();
        let expected = serde_json::to_vec(&ValidationErrors {
            detail: errors.clone(),
        })
        .unwrap();
        assert_eq!(body_of(validation_failed(errors)), expected);

        let big = serde_json::Value::String("x".repeat(MAX_ERROR_BODY_BYTES));
        let errors: Vec<_> = (0..10)
            .map(|_| ValidationError::missing(vec![], big.clone()))
            .collect();
        let parsed: serde_json::Value =
            serde_json::from_slice(&body_of(validation_failed(errors))).unwrap();
        assert_eq!(
            parsed["detail"].as_array().unwrap().len(),
            1,
            "the first error only"
        );
    }

    #[test]
    fn hand_written_bodies_equal_serde_output() {
        for class in 0..3u8 {
            let expected = serde_json::to_vec(&Prediction { prediction: class }).unwrap();
            assert_eq!(PREDICTION_BODIES[usize::from(class)], expected);
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
