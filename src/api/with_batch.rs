//! The with-batch API's `POST /predict`: `{"batches": [[13 numbers], ...]}`,
//! rows in feature order, answered `{"Prediction": [1, 0, ...]}`, one class per row.
//!
//! Everything about this request is here: the body type ([`WineBatch`]), its
//! fast and full readers, its OpenAPI schema, the handler and its answer.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema};
use utoipa::{PartialSchema, ToSchema};

use super::fastapi_error::{Detail, Loc, MAX_ERRORS, ValidationError, ValidationErrors};
use super::openapi::TAG;
use super::valid_body::{RequestBody, ValidBody};
use super::{AppState, fast_json, full_json};
use crate::features::{FEATURE_NAMES, Features, N_FEATURES};

/// The with-batch body: `{"batches": [[13 numbers], ...]}`, rows in feature order.
#[derive(Debug, Clone, PartialEq)]
pub struct WineBatch(pub Vec<Features>);

/// The with-batch answer: `{"Prediction": [0, 2, ...]}`, one class per row.
#[derive(Debug, Serialize, ToSchema)]
pub struct Predictions {
    /// Predicted class of each row, in request order.
    #[serde(rename = "Prediction")]
    pub prediction: Vec<u8>,
}

/// Classify a batch of wines, one row each.
#[utoipa::path(
    post,
    path = "/predict",
    tag = TAG,
    request_body = WineBatch,
    responses(
        (status = 200, description = "Each row's class, in order", body = Predictions),
        (status = 400, description = "The body could not be read", body = Detail),
        (status = 413, description = "Body over the size limit", body = Detail),
        (status = 422, description = "Invalid body", body = ValidationErrors),
    )
)]
pub(super) async fn predict_batch(
    State(state): State<Arc<AppState>>,
    ValidBody(WineBatch(rows)): ValidBody<WineBatch>,
) -> Response {
    let classes = state.model.predict_rows(&rows);
    let body = encode_predictions(&classes);
    if let Some(metrics) = &state.metrics {
        metrics.predicted(rows.len());
    }
    super::json(StatusCode::OK, body)
}

/// `{"Prediction":[a,b,...]}` as bytes, written straight from the classes
/// (no serializer, one allocation), classes being single digits.
fn encode_predictions(classes: &[u8]) -> Vec<u8> {
    const HEAD: &[u8] = b"{\"Prediction\":[";
    let mut body = Vec::with_capacity(HEAD.len() + 2 * classes.len() + 2);
    body.extend_from_slice(HEAD);
    for (i, &class) in classes.iter().enumerate() {
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

impl RequestBody for WineBatch {
    fn parse_fast(bytes: &[u8]) -> Option<Self> {
        // About 65 bytes per row of short numbers: one allocation, rarely two.
        let mut rows = Vec::with_capacity(bytes.len() / 64);
        fast_json::batch_rows(bytes, |row| rows.push(*row))?;
        Some(WineBatch(rows))
    }

    fn validate(body: &Value) -> Result<Self, Vec<ValidationError>> {
        let Value::Object(fields) = body else {
            return Err(vec![ValidationError::not_an_object(body.clone())]);
        };
        let batches_loc = || vec![Loc::Key("body"), Loc::Key("batches")];
        let Some(batches) = fields.get("batches") else {
            return Err(vec![ValidationError::missing(batches_loc(), body.clone())]);
        };
        let Value::Array(rows) = batches else {
            return Err(vec![ValidationError::not_a_list(
                batches_loc(),
                batches.clone(),
            )]);
        };
        let mut features = Vec::with_capacity(rows.len());
        let mut errors = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            if errors.len() >= MAX_ERRORS {
                break;
            }
            let row_loc = || vec![Loc::Key("body"), Loc::Key("batches"), Loc::Index(i)];
            let Value::Array(values) = row else {
                errors.push(ValidationError::not_a_list(row_loc(), row.clone()));
                continue;
            };
            let errors_before = errors.len();
            let mut parsed = [0.0; N_FEATURES];
            for (j, value) in values.iter().enumerate() {
                match full_json::lax_number(value) {
                    Ok(number) if j < N_FEATURES => parsed[j] = number,
                    Ok(_) => {}
                    Err(error) => {
                        let mut loc = row_loc();
                        loc.push(Loc::Index(j));
                        errors.push(error.at(loc, value));
                    }
                }
            }
            if errors.len() == errors_before && values.len() != N_FEATURES {
                errors.push(ValidationError::wrong_length(
                    row_loc(),
                    row.clone(),
                    N_FEATURES,
                    values.len(),
                ));
            }
            features.push(parsed);
        }
        if errors.is_empty() {
            Ok(WineBatch(features))
        } else {
            Err(errors)
        }
    }
}

impl PartialSchema for WineBatch {
    fn schema() -> RefOr<Schema> {
        let row = ArrayBuilder::new()
            .items(full_json::lax_number_schema())
            .min_items(Some(N_FEATURES))
            .max_items(Some(N_FEATURES))
            .description(Some(format!(
                "The 13 features in this order: {}.",
                FEATURE_NAMES.join(", ")
            )));
        let batches = ArrayBuilder::new().items(row).title(Some("Batches"));
        ObjectBuilder::new()
            .title(Some("WineBatch"))
            .description(Some("Wines to classify, one row of 13 numbers each."))
            .property("batches", batches)
            .required("batches")
            .into()
    }
}

impl ToSchema for WineBatch {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("WineBatch")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn batch_errors_name_row_and_column() {
        let errors = WineBatch::validate(
            &json!({"batches": [(vec![1.0; 13]), [1.0, "abc"], 5, (vec![1.0; 14])]}),
        )
        .unwrap_err();
        let summary: Vec<_> = errors.iter().map(|e| (e.kind, e.loc.clone())).collect();
        let at = |row, col: Option<usize>| {
            let mut loc = vec![Loc::Key("body"), Loc::Key("batches"), Loc::Index(row)];
            loc.extend(col.map(Loc::Index));
            loc
        };
        assert_eq!(
            summary,
            vec![
                ("float_parsing", at(1, Some(1))),
                ("list_type", at(2, None)),
                ("too_long", at(3, None)),
            ]
        );
        let errors = WineBatch::validate(&json!({"batches": [(vec![1.0; 12])]})).unwrap_err();
        assert_eq!(errors[0].kind, "too_short");
    }

    #[test]
    fn batch_shape_errors() {
        let kinds = |body: Value| -> Vec<&'static str> {
            WineBatch::validate(&body)
                .unwrap_err()
                .iter()
                .map(|e| e.kind)
                .collect()
        };
        assert_eq!(kinds(json!({})), ["missing"]);
        assert_eq!(kinds(json!({"batches": 5})), ["list_type"]);
        assert_eq!(
            kinds(json!({"batches": [1.0, 2.0]})),
            ["list_type", "list_type"]
        );
        assert_eq!(kinds(json!([(vec![1.0; 13])])), ["model_attributes_type"]);
        assert_eq!(
            kinds(json!({"batches": [(vec![Value::Null; 13])]})).len(),
            13
        );
        assert_eq!(
            WineBatch::validate(&json!({"batches": []})),
            Ok(WineBatch(vec![]))
        );
    }

    #[test]
    fn hand_written_answers_equal_serde_output() {
        for classes in [vec![], vec![1], vec![0, 2, 1, 1, 12]] {
            let expected = serde_json::to_vec(&Predictions {
                prediction: classes.clone(),
            })
            .unwrap();
            assert_eq!(encode_predictions(&classes), expected);
        }
    }
}
