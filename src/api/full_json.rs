//! The full JSON reader: any body, read as the lab's FastAPI servers read it.
//! It is the slow path, for the bodies the fast reader ([`super::fast_json`])
//! refuses; the body types' `validate` then walks the value it gives.
//!
//! - [`parse`]: JSON like Python's `json` module, which also accepts `NaN`,
//!   `Infinity` and `-Infinity`, with errors located in characters as Python does;
//! - [`lax_number`]: pydantic's lax coercion of a JSON value to a feature value.

use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};

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

/// The OpenAPI schema of one feature value: what [`lax_number`] accepts.
/// A JSON number, a boolean, or a string holding a decimal number with
/// whitespace around it allowed ([`NUMERIC_STRING_PATTERN`]).
pub fn lax_number_schema() -> OneOfBuilder {
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Number))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .description(Some("true is read as 1, false as 0")),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(NUMERIC_STRING_PATTERN))
                .description(Some(
                    "A number written as a string, surrounding whitespace allowed (\"13.2\", \" 1e3 \")",
                )),
        )
}

/// The strings [`lax_number`] reads as a number, as a regular expression that
/// JSON Schema (ECMA-262), Python's `re` and Rust's `regex` read alike: Rust's
/// `f64` syntax between Unicode whitespace (`str::trim`). It is narrower than
/// the server in one way only: at most 200 integer digits and a two-digit
/// exponent, so that every matching string is finite (the server also takes
/// `"1e-400"` or `"1e200"`; it refuses `"1e400"`, which no pattern can tell apart).
pub const NUMERIC_STRING_PATTERN: &str = concat!(
    r"^[\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*",
    r"[+-]?([0-9]{1,200}(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,2})?",
    r"[\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$",
);

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
    fn the_numeric_string_pattern_matches_what_is_coerced() {
        let pattern = regex_automata::meta::Regex::new(NUMERIC_STRING_PATTERN).unwrap();
        let matches = |text: &str| pattern.is_match(text);
        let long_exponent = regex_automata::meta::Regex::new("[eE][+-]?[0-9]{3}").unwrap();
        let mut rng = fastrand::Rng::with_seed(0x5EED_0F1A_C5C5);
        let pieces = [
            "0", "1", "9", "12", ".", "e", "E", "-", "+", " ", "\t", "\u{a0}", "\u{3000}",
            "\u{feff}", "x", "_", "inf", "nan", "1e5", "0x1", ",", "\n",
        ];
        let (mut agreed, mut accepted) = (0, 0);
        for _ in 0..100_000 {
            let text: String = (0..rng.usize(1..8))
                .map(|_| pieces[rng.usize(..pieces.len())])
                .collect();
            let coerced = lax_number(&Value::String(text.clone())).is_ok();
            // Every string the pattern names is coerced; within its bounds
            // (exponents of at most two digits), exactly those are.
            assert!(
                !matches(&text) || coerced,
                "{text:?} matches but is refused"
            );
            if !long_exponent.is_match(&text) {
                assert_eq!(matches(&text), coerced, "{text:?}");
                agreed += 1;
                accepted += usize::from(coerced);
            }
        }
        assert!(
            accepted > 1_000 && agreed - accepted > 1_000,
            "{accepted} of {agreed}"
        );
        // Outside them, the pattern names a subset: every match is accepted.
        for text in ["1e200", "1e-400", "1e400", "1".repeat(201).as_str()] {
            assert!(!matches(text), "{text}");
        }
        assert!(matches(&"9".repeat(200)) && matches(&format!("{}e99", "9".repeat(200))));
        assert!(lax_number(&Value::String(format!("{}e99", "9".repeat(200)))).is_ok());
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
