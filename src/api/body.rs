//! From HTTP body bytes to a validated request, following FastAPI's steps:
//! an empty body is a missing body; a body is JSON only under a JSON content
//! type; JSON that does not parse is a `json_invalid` error with its position.

use axum::http::{HeaderMap, header};
use serde_json::Value;

use super::requests::RequestBody;
use super::validation::{Loc, ValidationError};

/// Parses and validates a request body of type `T`.
pub fn decode<T: RequestBody>(
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<T, Vec<ValidationError>> {
    if bytes.is_empty() {
        return Err(vec![ValidationError::missing(
            vec![Loc::Key("body")],
            Value::Null,
        )]);
    }
    if !has_json_content_type(headers) {
        // FastAPI hands a non-JSON body to validation as a string.
        let text = String::from_utf8_lossy(bytes).into_owned();
        return Err(vec![ValidationError::not_an_object(Value::String(text))]);
    }
    if let Some(body) = T::parse_fast(bytes) {
        return Ok(body);
    }
    T::validate(&parse_json(bytes)?)
}

/// `application/json` or any `application/*+json`, parameters ignored.
fn has_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || subtype.to_ascii_lowercase().ends_with("+json"))
}

/// Parses JSON like Python's `json` module, which also accepts the literals
/// `NaN`, `Infinity` and `-Infinity`: those are read as strings here so that
/// validation can name the field and answer `finite_number`.
fn parse_json(bytes: &[u8]) -> Result<Value, Vec<ValidationError>> {
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
    use crate::api::requests::{Wine, WineBatch};
    use axum::http::HeaderValue;

    fn json_headers(content_type: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers
    }

    #[test]
    fn json_content_types() {
        for yes in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.api+json",
        ] {
            assert!(has_json_content_type(&json_headers(yes)), "{yes}");
        }
        for no in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "json",
            "application/jsonx",
        ] {
            assert!(!has_json_content_type(&json_headers(no)), "{no}");
        }
        assert!(!has_json_content_type(&HeaderMap::new()));
    }

    #[test]
    fn empty_non_json_and_invalid_bodies() {
        let json = json_headers("application/json");
        let kinds = |headers: &HeaderMap, body: &[u8]| -> Vec<(&'static str, Vec<Loc>)> {
            decode::<Wine>(headers, body)
                .unwrap_err()
                .into_iter()
                .map(|e| (e.kind, e.loc))
                .collect()
        };
        assert_eq!(kinds(&json, b""), [("missing", vec![Loc::Key("body")])]);
        assert_eq!(
            kinds(&HeaderMap::new(), b""),
            [("missing", vec![Loc::Key("body")])]
        );
        assert_eq!(
            kinds(&HeaderMap::new(), b"{}"),
            [("model_attributes_type", vec![Loc::Key("body")])]
        );
        assert_eq!(
            kinds(&json, b"hello"),
            [("json_invalid", vec![Loc::Key("body"), Loc::Index(0)])]
        );
        assert_eq!(
            kinds(&json, b"{\n  \"a\": x"),
            [("json_invalid", vec![Loc::Key("body"), Loc::Index(9)])]
        );
    }

    #[test]
    fn non_finite_literals_are_named_errors() {
        let json = json_headers("application/json");
        let body = br#"{"batches": [[NaN, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -Infinity]], "note": "NaN stays"}"#;
        let errors = decode::<WineBatch>(&json, body).unwrap_err();
        let found: Vec<_> = errors
            .iter()
            .map(|e| (e.kind, e.loc.last().cloned()))
            .collect();
        assert_eq!(
            found,
            [
                ("finite_number", Some(Loc::Index(0))),
                ("finite_number", Some(Loc::Index(12)))
            ]
        );
        assert_eq!(quote_non_finite_literals(br#"{"a": "NaN"}"#), None);
        assert_eq!(
            quote_non_finite_literals(br#"["\"NaN", Infinity]"#).unwrap(),
            br#"["\"NaN", "Infinity"]"#
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let json = json_headers("application/json");
        let deep = "[".repeat(100_000);
        let errors = decode::<WineBatch>(&json, deep.as_bytes()).unwrap_err();
        assert_eq!(errors[0].kind, "json_invalid");
        assert!(
            errors[0].ctx.as_ref().unwrap()["error"]
                .as_str()
                .unwrap()
                .contains("recursion")
        );
    }
}
