//! Validation errors in FastAPI's shape, and the lax number coercion FastAPI
//! (pydantic) applies, so that clients of the lab's servers see the same 422s.
//!
//! ```json
//! {"detail": [{"type": "missing", "loc": ["body", "proline"], "msg": "Field required", "input": {...}}]}
//! ```

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

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
    /// The offending input (shared: FastAPI echoes the whole body in every
    /// missing-field error, and one copy serves them all).
    #[schema(value_type = Object)]
    pub input: Arc<Value>,
    /// Extra context (limits, the JSON parser's message).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub ctx: Option<Value>,
}

/// At most this many errors are collected for one body. pydantic reports
/// every error; stopping here keeps a hostile body (a million bad values)
/// from costing a million error records.
pub const MAX_ERRORS: usize = 100;

/// A 422 body stops taking further errors once it is this long (it always
/// holds the first), so echoing a large input many times cannot make a huge answer.
pub const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// The body of every 422 response.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(as = HTTPValidationError)]
pub struct ValidationErrors {
    /// All the errors found, in document order.
    pub detail: Vec<ValidationError>,
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

/// Why a JSON value is not an acceptable feature value.
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

/// A feature value with FastAPI's lax coercions: JSON numbers (integers
/// included), numeric strings (`"13.2"`, surrounding spaces allowed) and
/// booleans (1.0 and 0.0). The result must be finite.
pub fn lax_number(value: &Value) -> Result<f64, NumberError> {
    let number = match value {
        Value::Number(number) => number.as_f64().ok_or(NumberError::NotANumber)?,
        Value::Bool(flag) => f64::from(u8::from(*flag)),
        Value::String(text) => text
            .trim()
            .parse::<f64>()
            .map_err(|_| NumberError::Unparsable)?,
        Value::Null | Value::Array(_) | Value::Object(_) => return Err(NumberError::NotANumber),
    };
    if number.is_finite() {
        Ok(number)
    } else {
        Err(NumberError::NotFinite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coerces_like_fastapi() {
        assert_eq!(lax_number(&json!(13.2)), Ok(13.2));
        assert_eq!(lax_number(&json!(100)), Ok(100.0));
        assert_eq!(lax_number(&json!(-3)), Ok(-3.0));
        assert_eq!(lax_number(&json!(" 13.2 ")), Ok(13.2));
        assert_eq!(lax_number(&json!("1e3")), Ok(1000.0));
        assert_eq!(lax_number(&json!(true)), Ok(1.0));
        assert_eq!(lax_number(&json!(false)), Ok(0.0));
        assert_eq!(lax_number(&json!("abc")), Err(NumberError::Unparsable));
        assert_eq!(lax_number(&json!("")), Err(NumberError::Unparsable));
        assert_eq!(lax_number(&json!(null)), Err(NumberError::NotANumber));
        assert_eq!(lax_number(&json!([1.0])), Err(NumberError::NotANumber));
        assert_eq!(lax_number(&json!({})), Err(NumberError::NotANumber));
        for text in ["NaN", "nan", "inf", "-Infinity", "1e400"] {
            assert_eq!(
                lax_number(&json!(text)),
                Err(NumberError::NotFinite),
                "{text}"
            );
        }
    }

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
}
