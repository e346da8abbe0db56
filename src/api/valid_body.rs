//! [`ValidBody<T>`]: the extractor that reads a `POST /predict` body, within the
//! size limit, and validates it as FastAPI would. A handler that takes one
//! receives valid input only; anything else is answered by its rejection, a
//! [`FastApiError`]. The shape is axum's own (`examples/customize-extractor-error`
//! and `examples/validator` in tokio-rs/axum).
//!
//! FastAPI's steps, in order:
//! 1. the whole body, at most [`BodyLimit`] bytes: 413 over it, 400 if it cannot be read;
//! 2. an empty body is a missing body: 422 `missing`;
//! 3. a body is JSON only under a JSON content type: 422 `model_attributes_type` otherwise;
//! 4. past a UTF-8 byte order mark, if any, the fast reader
//!    ([`RequestBody::parse_fast`]) for the plain bodies real
//!    clients send; anything it refuses goes to the full reader
//!    ([`super::full_json`]) and [`RequestBody::validate`], which report every error.
//!
//! Both readers give the same values for what they both accept (tested below).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRef, FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::Value;

use super::fastapi_error::{FastApiError, Loc, ValidationError};
use super::full_json;

/// A request body of one of the two APIs, with its two readers.
pub trait RequestBody: Sized {
    /// Reads a plain, well-formed body cheaply; `None` sends it to [`RequestBody::validate`].
    fn parse_fast(bytes: &[u8]) -> Option<Self>;

    /// Validates any JSON body, collecting every error as FastAPI would.
    fn validate(body: &Value) -> Result<Self, Vec<ValidationError>>;
}

/// A request body that has been read and validated (see the module's steps).
#[derive(Debug, Clone, PartialEq)]
pub struct ValidBody<T>(pub T);

/// The largest request body, in bytes. The state of a router using
/// [`ValidBody`] provides it (`FromRef`), for the 413's message, and
/// [`BodyLimit::layer`] enforces it: one value for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit(pub usize);

impl BodyLimit {
    /// The router layer that stops reading a body at this limit.
    pub fn layer(self) -> DefaultBodyLimit {
        DefaultBodyLimit::max(self.0)
    }
}

impl<S, T> FromRequest<S> for ValidBody<T>
where
    S: Send + Sync,
    T: RequestBody,
    BodyLimit: FromRef<S>,
{
    type Rejection = FastApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // Reading the body consumes the request: look at its content type first.
        let is_json = has_json_content_type(request.headers());
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| body_rejected(&rejection, BodyLimit::from_ref(state)))?;
        decode(is_json, &bytes)
            .map(ValidBody)
            .map_err(FastApiError::Invalid)
    }
}

/// 413 for an oversize body; 400 when the body could not be read at all.
fn body_rejected(rejection: &BytesRejection, limit: BodyLimit) -> FastApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        FastApiError::payload_too_large(limit.0)
    } else {
        FastApiError::Detail(StatusCode::BAD_REQUEST, rejection.body_text())
    }
}

/// Steps 2 to 4: the body bytes, sent with a JSON content type or not, to a
/// valid `T`, or every error found.
fn decode<T: RequestBody>(is_json: bool, bytes: &[u8]) -> Result<T, Vec<ValidationError>> {
    if bytes.is_empty() {
        return Err(vec![ValidationError::missing(
            vec![Loc::Key("body")],
            Value::Null,
        )]);
    }
    if !is_json {
        // FastAPI hands a non-JSON body to validation as a string.
        let text = String::from_utf8_lossy(bytes).into_owned();
        return Err(vec![ValidationError::not_an_object(Value::String(text))]);
    }
    let json = without_bom(bytes);
    if let Some(body) = T::parse_fast(json) {
        return Ok(body);
    }
    read_full(json)
}

/// The UTF-8 byte order mark some clients (PowerShell, Windows editors) put
/// before a JSON body.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// A JSON body without its UTF-8 byte order mark, if it has one. FastAPI
/// accepted such bodies: Starlette's `Request.json()` is `json.loads(body)`
/// on bytes, and `json.loads` decodes bytes that start with the mark as
/// `utf-8-sig`, dropping it (CPython `Lib/json/__init__.py`, `detect_encoding`).
/// Positions in a `json_invalid` error then count from after the mark, as there.
/// One comparison: the fast path stays as it was for every other body.
pub(super) fn without_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes)
}

/// Step 4's slow path alone: the full reader, then the body type's validation.
pub(super) fn read_full<T: RequestBody>(json: &[u8]) -> Result<T, Vec<ValidationError>> {
    T::validate(&full_json::parse(json)?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::no_batch::Wine;
    use crate::api::with_batch::WineBatch;
    use crate::features::{FEATURE_NAMES, N_FEATURES};
    use axum::http::HeaderValue;
    use serde_json::json;

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
        let kinds = |is_json: bool, body: &[u8]| -> Vec<(&'static str, Vec<Loc>)> {
            decode::<Wine>(is_json, body)
                .unwrap_err()
                .into_iter()
                .map(|e| (e.kind, e.loc))
                .collect()
        };
        assert_eq!(kinds(true, b""), [("missing", vec![Loc::Key("body")])]);
        assert_eq!(kinds(false, b""), [("missing", vec![Loc::Key("body")])]);
        assert_eq!(
            kinds(false, b"{}"),
            [("model_attributes_type", vec![Loc::Key("body")])]
        );
        assert_eq!(
            kinds(true, b"hello"),
            [("json_invalid", vec![Loc::Key("body"), Loc::Index(0)])]
        );
        assert_eq!(
            kinds(true, b"{\n  \"a\": x"),
            [("json_invalid", vec![Loc::Key("body"), Loc::Index(9)])]
        );
    }

    #[test]
    fn a_utf8_byte_order_mark_before_json_is_skipped_as_fastapi_does() {
        let bom = |body: &str| [UTF8_BOM, body.as_bytes()].concat();
        let fast_wine = serde_json::to_string(&wine_json(1.5)).unwrap();
        assert!(Wine::parse_fast(fast_wine.as_bytes()).is_some());
        let mut slow_wine = wine_json(1.5);
        slow_wine["alcohol"] = json!("1.5");
        let slow_wine = slow_wine.to_string();
        assert!(Wine::parse_fast(slow_wine.as_bytes()).is_none());
        for body in [fast_wine, slow_wine] {
            assert_eq!(
                decode::<Wine>(true, &bom(&body)),
                Ok(Wine([1.5; N_FEATURES]))
            );
        }
        let fast_batch = r#"{"batches": [[2,2,2,2,2,2,2,2,2,2,2,2,2]]}"#;
        let slow_batch = r#"{"batches": [[2,2,2,2,2,2,2,2,2,2,2,2,"2"]]}"#;
        assert!(WineBatch::parse_fast(fast_batch.as_bytes()).is_some());
        assert!(WineBatch::parse_fast(slow_batch.as_bytes()).is_none());
        for body in [fast_batch, slow_batch] {
            assert_eq!(
                decode::<WineBatch>(true, &bom(body)),
                Ok(WineBatch(vec![[2.0; N_FEATURES]]))
            );
        }

        // Python counts error positions in the text after the mark, which alone is no JSON.
        let located = |body: &[u8]| {
            let errors = decode::<Wine>(true, body).unwrap_err();
            (errors[0].kind, errors[0].loc.clone())
        };
        let at = |i| ("json_invalid", vec![Loc::Key("body"), Loc::Index(i)]);
        assert_eq!(located(&bom("{\"a\": x")), at(6));
        assert_eq!(located(UTF8_BOM), at(0));
        // Only one mark, and only at the start, is skipped.
        assert_eq!(located(&[UTF8_BOM, &bom("{}")].concat()), at(0));
        assert_eq!(located(&[b" ", &bom("{}")[..]].concat()), at(1));
        // A body that is not JSON is echoed as it came, mark included.
        let errors = decode::<Wine>(false, &bom("{}")).unwrap_err();
        assert_eq!(*errors[0].input, json!("\u{feff}{}"));
    }

    #[test]
    fn non_finite_literals_are_named_errors() {
        let body = br#"{"batches": [[NaN, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -Infinity]], "note": "NaN stays"}"#;
        let errors = decode::<WineBatch>(true, body).unwrap_err();
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
    }

    #[test]
    fn the_extractor_reads_validates_and_rejects() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let extract = |content_type: &str, body: String| {
            let request = Request::builder()
                .header(header::CONTENT_TYPE, content_type)
                .body(axum::body::Body::from(body))
                .unwrap();
            runtime.block_on(ValidBody::<WineBatch>::from_request(
                request,
                &BodyLimit(1000),
            ))
        };
        let rows = json!({"batches": [([1.5; N_FEATURES])]}).to_string();
        assert_eq!(
            extract("application/json", rows.clone()),
            Ok(ValidBody(WineBatch(vec![[1.5; N_FEATURES]])))
        );
        let Err(FastApiError::Invalid(errors)) = extract("text/plain", rows) else {
            panic!("a non-JSON content type is a validation error");
        };
        assert_eq!(errors[0].kind, "model_attributes_type");
        // The 413 needs the router's layer: tests/http.rs checks it end to end.
    }

    fn wine_json(value: f64) -> Value {
        Value::Object(
            FEATURE_NAMES
                .iter()
                .map(|n| (n.to_string(), json!(value)))
                .collect(),
        )
    }

    #[test]
    fn fast_and_full_readers_agree_on_good_bodies() {
        let body = wine_json(1.5);
        let bytes = serde_json::to_vec(&body).unwrap();
        assert_eq!(Wine::parse_fast(&bytes), Some(Wine([1.5; N_FEATURES])));
        assert_eq!(Wine::validate(&body), Ok(Wine([1.5; N_FEATURES])));

        let body = json!({"batches": [(vec![2.0; 13]), (vec![3; 13])]});
        let bytes = serde_json::to_vec(&body).unwrap();
        let expected = WineBatch(vec![[2.0; 13], [3.0; 13]]);
        assert_eq!(WineBatch::parse_fast(&bytes).as_ref(), Some(&expected));
        assert_eq!(WineBatch::validate(&body), Ok(expected));
    }

    #[test]
    fn fast_reader_leaves_anything_unusual_to_the_validator() {
        let mut body = wine_json(1.0);
        body["alcohol"] = json!("13.2");
        assert_eq!(Wine::parse_fast(&serde_json::to_vec(&body).unwrap()), None);
        assert_eq!(Wine::validate(&body).unwrap().0[0], 13.2);
        body.as_object_mut().unwrap().remove("alcohol");
        assert_eq!(Wine::parse_fast(&serde_json::to_vec(&body).unwrap()), None);
        for bytes in [
            &b"[1.0]"[..],
            b"{\"batches\": [[1.0]]}",
            b"{\"batches\": [[true,1,1,1,1,1,1,1,1,1,1,1,1]]}",
        ] {
            assert_eq!(WineBatch::parse_fast(bytes), None);
        }
    }

    #[test]
    fn fast_and_full_readers_agree_bit_for_bit_on_generated_bodies() {
        let mut rng = fastrand::Rng::with_seed(0x2545_F491_4F6C_DD1D);
        let spaces = [" ", "", "\n  ", "\t"];
        for _ in 0..2_000 {
            let rows: Vec<Vec<String>> = (0..rng.usize(0..5))
                .map(|_| {
                    (0..N_FEATURES)
                        .map(|_| {
                            let bits = rng.u64(..);
                            match bits % 4 {
                                0 => format!("{}", (bits >> 8) % 2000),
                                1 => format!("{:.2}", (bits >> 8) as f64 / 1e15),
                                2 => format!("{:e}", f64::from_bits(bits >> 2) % 1e300),
                                _ => format!("{}", -((bits >> 12) as f64) / 3.0),
                            }
                        })
                        .collect()
                })
                .collect();
            let space = spaces[rng.usize(..spaces.len())];
            let batch = format!(
                "{{{space}\"batches\":{space}[{}]}}",
                rows.iter()
                    .map(|r| format!("[{}]", r.join(&format!(",{space}"))))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let value: Value = serde_json::from_str(&batch).unwrap();
            let fast =
                WineBatch::parse_fast(batch.as_bytes()).expect("plain bodies take the fast path");
            let full = WineBatch::validate(&value).unwrap();
            let bits = |b: &WineBatch| {
                b.0.iter()
                    .flatten()
                    .map(|v| v.to_bits())
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(&fast), bits(&full), "{batch}");

            if let Some(row) = rows.first() {
                let fields: Vec<String> = FEATURE_NAMES
                    .iter()
                    .zip(row)
                    .map(|(n, v)| format!("\"{n}\":{space}{v}"))
                    .collect();
                let wine = format!("{{{}}}", fields.join(","));
                let value: Value = serde_json::from_str(&wine).unwrap();
                let fast = Wine::parse_fast(wine.as_bytes()).expect("fast path");
                let full = Wine::validate(&value).unwrap();
                assert_eq!(fast.0.map(f64::to_bits), full.0.map(f64::to_bits), "{wine}");
            }
        }
    }
}
