//! The full JSON reader: any body, read as the lab's FastAPI servers read it.
//! It is the slow path, for the bodies the fast reader ([`super::fast_json`])
//! refuses; the body types' `validate` then walks the value it gives.
//!
//! - [`parse`]: JSON like Python's `json` module, which also accepts `NaN`,
//!   `Infinity` and `-Infinity`, with errors located in characters as Python does;
//! - [`lax_number`]: pydantic's lax coercion of a JSON value to a feature value.

use serde_json::Value;

use super::fastapi_error::{NumberError, ValidationError};

/// Parses JSON like Python's `json` module, which also accepts the literals
/// `NaN`, `Infinity` and `-Infinity`: those are read as strings here so that
/// validation can name the field and answer `finite_number`.
/// The error, when there is one, is the body's only one, as a list like every
/// validation's.
pub fn parse(bytes: &[u8]) -> Result<Value, Vec<ValidationError>> {
    let error = match serde_json::from_slice(bytes) {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    if let Some(quoted) = quote_non_finite_literals(bytes)
        && let Ok(value) = serde_json::from_slice(&quoted)
    {
        return Ok(value);
    }
    Err(vec![ValidationError::invalid_json(
        char_offset(bytes, &error),
        parser_message(&error),
    )])
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

/// Python's non-standard JSON number literals.
const NON_FINITE_LITERALS: [&[u8]; 3] = [b"-Infinity", b"Infinity", b"NaN"];

/// Copies `bytes` with every non-finite literal outside strings wrapped in
/// quotes, or `None` when there is none.
fn quote_non_finite_literals(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() + 8);
    let (mut in_string, mut escaped, mut found) = (false, false, false);
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_string = true;
        } else if let Some(literal) = NON_FINITE_LITERALS
            .iter()
            .find(|l| bytes[i..].starts_with(l))
        {
            out.push(b'"');
            out.extend_from_slice(literal);
            out.push(b'"');
            i += literal.len();
            found = true;
            continue;
        }
        out.push(byte);
        i += 1;
    }
    found.then_some(out)
}

/// Character offset of a parse error (Python reports characters, serde_json
/// lines and byte columns).
fn char_offset(bytes: &[u8], error: &serde_json::Error) -> usize {
    let mut offset = 0;
    for line in bytes
        .split(|b| *b == b'\n')
        .take(error.line().saturating_sub(1))
    {
        offset += line.len() + 1;
    }
    let offset = (offset + error.column().saturating_sub(1)).min(bytes.len());
    String::from_utf8_lossy(&bytes[..offset]).chars().count()
}

/// serde_json's message without its " at line L column C" suffix.
fn parser_message(error: &serde_json::Error) -> String {
    let message = error.to_string();
    match message.rsplit_once(" at line ") {
        Some((head, _)) => head.to_owned(),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::fastapi_error::Loc;
    use serde_json::json;

    #[test]
    fn invalid_json_is_located_in_characters() {
        let [error] = &parse(b"hello").unwrap_err()[..] else {
            panic!("one error");
        };
        assert_eq!(
            (error.kind, &error.loc[..]),
            ("json_invalid", &[Loc::Key("body"), Loc::Index(0)][..])
        );
        let errors = parse("{\n  \"é\": x".as_bytes()).unwrap_err();
        assert_eq!(errors[0].loc, [Loc::Key("body"), Loc::Index(9)]);
    }

    #[test]
    fn non_finite_literals_are_read_as_strings() {
        let value = parse(br#"{"batches": [[NaN, -Infinity]], "note": "NaN stays"}"#).unwrap();
        assert_eq!(
            value,
            json!({"batches": [["NaN", "-Infinity"]], "note": "NaN stays"})
        );
        assert_eq!(quote_non_finite_literals(br#"{"a": "NaN"}"#), None);
        assert_eq!(
            quote_non_finite_literals(br#"["\"NaN", Infinity]"#).unwrap(),
            br#"["\"NaN", "Infinity"]"#
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        let errors = parse(deep.as_bytes()).unwrap_err();
        assert_eq!(errors[0].kind, "json_invalid");
        assert!(
            errors[0].ctx.as_ref().unwrap()["error"]
                .as_str()
                .unwrap()
                .contains("recursion")
        );
    }

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
}
