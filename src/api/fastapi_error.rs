//! Every error the servers answer, in FastAPI's two shapes, byte for byte:
//!
//! ```json
//! {"detail": [{"type": "missing", "loc": ["body", "proline"], "msg": "Field required", "input": {...}}]}
//! {"detail": "Not Found"}
//! ```
//!
//! The first is a 422 for a body that is not valid ([`ValidationError`]s, named
//! as pydantic names them); the second is every other error (404, 405, 413, 400).
//! [`FastApiError`] is both: the rejection of the [`ValidBody`](super::ValidBody)
//! extractor and the answer of the router's fallbacks.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// An error answer, as FastAPI would give it.
#[derive(Debug, Clone, PartialEq)]
pub enum FastApiError {
    /// 422 `{"detail": [...]}`: the body is not valid; every error found, in
    /// document order (the answer holds the first ones, up to `MAX_ERROR_BODY_BYTES`).
    Invalid(Vec<ValidationError>),
    /// `{"detail": "..."}` with any status: everything that is not about the body's content.
    Detail(StatusCode, String),
}

impl FastApiError {
    /// 413: the body is over `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        FastApiError::Detail(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body too large: the limit is {limit} bytes"),
        )
    }

    /// 404 for unknown paths.
    pub fn not_found() -> Self {
        FastApiError::Detail(StatusCode::NOT_FOUND, "Not Found".to_owned())
    }

    /// 405 for a known path with another method.
    pub fn method_not_allowed() -> Self {
        FastApiError::Detail(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed".to_owned(),
        )
    }
}

impl IntoResponse for FastApiError {
    fn into_response(self) -> Response {
        match self {
            FastApiError::Invalid(errors) => validation_failed(&errors),
            FastApiError::Detail(status, detail) => {
                let body = serde_json::to_vec(&Detail { detail }).unwrap_or_default();
                super::json(status, body)
            }
        }
    }
}

/// 422 with `{"detail": [...]}` ([`ValidationErrors`]), the first errors up to
/// [`MAX_ERROR_BODY_BYTES`].
fn validation_failed(errors: &[ValidationError]) -> Response {
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
    super::json(StatusCode::UNPROCESSABLE_ENTITY, body)
}

/// At most this many errors are collected for one body. pydantic reports
/// every error; stopping here keeps a hostile body (a million bad values)
/// from costing a million error records.
pub const MAX_ERRORS: usize = 100;

/// A 422 body stops taking further errors once it is this long (it always
/// holds the first), so echoing a large input many times cannot make a huge answer.
pub const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// An error answer other than validation: `{"detail": "Not Found"}`.
// (Its doc comment is the schema's description in /openapi.json.)
#[derive(Debug, Serialize, ToSchema)]
pub struct Detail {
    /// What went wrong.
    pub detail: String,
}

/// The body of every 422 response.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = HTTPValidationError)]
pub struct ValidationErrors {
    /// All the errors found, in document order.
    pub detail: Vec<ValidationError>,
}

/// One step of an error's location: an object key or a list index.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Loc {
    /// An object key (`"body"`, a field name).
    Key(&'static str),
    /// A list index.
    Index(usize),
}

/// One entry of a 422 response's `detail` list (FastAPI's `ValidationError`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ValidationError {
    /// Machine-readable error type, as pydantic names it (`missing`, `float_parsing`, ...).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Where the error is: `["body", field]`, `["body", "batches", row, column]`, ...
    pub loc: Vec<Loc>,
    /// Human-readable message.
    pub msg: String,
    /// The offending input, any JSON value: `null` for a missing body, the
    /// body as a string when it is not JSON, the value or row at `loc`, the
    /// whole body for a missing field.
    // Shared: FastAPI echoes the whole body in every missing-field error,
    // and one copy serves them all.
    #[schema(value_type = Value)]
    pub input: Arc<Value>,
    /// Extra context (limits, the JSON parser's message).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub ctx: Option<Value>,
}

impl ValidationError {
    fn new(
        kind: &'static str,
        loc: Vec<Loc>,
        msg: impl Into<String>,
        input: impl Into<Arc<Value>>,
    ) -> Self {
        ValidationError {
            kind,
            loc,
            msg: msg.into(),
            input: input.into(),
            ctx: None,
        }
    }

    /// A required field (or the whole body) is absent.
    pub fn missing(loc: Vec<Loc>, input: impl Into<Arc<Value>>) -> Self {
        Self::new("missing", loc, "Field required", input)
    }

    /// The body is not a JSON object.
    pub fn not_an_object(input: impl Into<Arc<Value>>) -> Self {
        Self::new(
            "model_attributes_type",
            vec![Loc::Key("body")],
            "Input should be a valid dictionary or object to extract fields from",
            input,
        )
    }

    /// A list was expected.
    pub fn not_a_list(loc: Vec<Loc>, input: impl Into<Arc<Value>>) -> Self {
        Self::new("list_type", loc, "Input should be a valid list", input)
    }

    /// A batch row does not hold exactly `expected` numbers.
    pub fn wrong_length(
        loc: Vec<Loc>,
        input: impl Into<Arc<Value>>,
        expected: usize,
        actual: usize,
    ) -> Self {
        let (kind, bound, limit_key) = if actual < expected {
            ("too_short", "at least", "min_length")
        } else {
            ("too_long", "at most", "max_length")
        };
        let noun = if expected == 1 { "item" } else { "items" };
        let mut error = Self::new(
            kind,
            loc,
            format!("List should have {bound} {expected} {noun} after validation, not {actual}"),
            input,
        );
        error.ctx =
            Some(json!({"field_type": "List", limit_key: expected, "actual_length": actual}));
        error
    }

    /// The body is not valid JSON; `position` is the character offset of the error.
    pub fn invalid_json(position: usize, parser_message: String) -> Self {
        let mut error = Self::new(
            "json_invalid",
            vec![Loc::Key("body"), Loc::Index(position)],
            "JSON decode error",
            json!({}),
        );
        error.ctx = Some(json!({ "error": parser_message }));
        error
    }
}

/// Why a JSON value is not an acceptable feature value (see
/// [`lax_number`](super::full_json::lax_number)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberError {
    /// Not a number, boolean or string (null, list, object).
    NotANumber,
    /// A string that does not parse as a number.
    Unparsable,
    /// NaN or an infinity: the model cannot use it (the original answered 500).
    NotFinite,
}

impl NumberError {
    /// This error at a location, echoing the input.
    pub fn at(self, loc: Vec<Loc>, input: &Value) -> ValidationError {
        let (kind, msg) = match self {
            NumberError::NotANumber => ("float_type", "Input should be a valid number"),
            NumberError::Unparsable => (
                "float_parsing",
                "Input should be a valid number, unable to parse string as a number",
            ),
            NumberError::NotFinite => ("finite_number", "Input should be a finite number"),
        };
        ValidationError::new(kind, loc, msg, input.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::test_support::body_of;

    #[test]
    fn serialises_like_fastapi() {
        let error = ValidationError::wrong_length(
            vec![Loc::Key("body"), Loc::Key("batches"), Loc::Index(0)],
            json!((vec![1.0; 12])),
            13,
            12,
        );
        let expected = r#"{"type":"too_short","loc":["body","batches",0],"msg":"List should have at least 13 items after validation, not 12","input":[1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0,1.0],"ctx":{"field_type":"List","min_length":13,"actual_length":12}}"#;
        assert_eq!(serde_json::to_string(&error).unwrap(), expected);

        let error =
            NumberError::Unparsable.at(vec![Loc::Key("body"), Loc::Key("alcohol")], &json!("abc"));
        let expected = r#"{"type":"float_parsing","loc":["body","alcohol"],"msg":"Input should be a valid number, unable to parse string as a number","input":"abc"}"#;
        assert_eq!(serde_json::to_string(&error).unwrap(), expected);
    }

    #[test]
    fn error_bodies_equal_serde_output_and_stay_bounded() {
        let error =
            |i: usize| ValidationError::missing(vec![Loc::Key("body"), Loc::Index(i)], Value::Null);
        let errors: Vec<_> = (0..3).map(error).collect();
        let expected = serde_json::to_vec(&ValidationErrors {
            detail: errors.clone(),
        })
        .unwrap();
        assert_eq!(
            body_of(FastApiError::Invalid(errors).into_response()),
            expected
        );

        let big = Value::String("x".repeat(MAX_ERROR_BODY_BYTES));
        let errors: Vec<_> = (0..10)
            .map(|_| ValidationError::missing(vec![], big.clone()))
            .collect();
        let parsed: Value =
            serde_json::from_slice(&body_of(FastApiError::Invalid(errors).into_response()))
                .unwrap();
        assert_eq!(
            parsed["detail"].as_array().unwrap().len(),
            1,
            "the first error only"
        );
    }

    #[test]
    fn detail_answers() {
        let response = FastApiError::payload_too_large(70_000).into_response();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            body_of(response),
            br#"{"detail":"Request body too large: the limit is 70000 bytes"}"#
        );
        let response = FastApiError::method_not_allowed().into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body_of(response), br#"{"detail":"Method Not Allowed"}"#);
    }
}
