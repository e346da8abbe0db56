//! The no-batch API's `POST /predict`: one wine, its 13 measurements as named
//! fields, answered `{"Prediction": 1}`.
//!
//! Everything about this request is here: the body type ([`Wine`]), its fast
//! and full readers, its OpenAPI schema, the handler and its answer.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema};
use utoipa::{PartialSchema, ToSchema};

use super::fastapi_error::{Detail, Loc, ValidationError, ValidationErrors};
use super::openapi::TAG;
use super::valid_body::{RequestBody, ValidBody};
use super::{AppState, fast_json, full_json};
use crate::features::{FEATURE_NAMES, Features, N_CLASSES, N_FEATURES};

/// The no-batch body: one wine, its 13 features as named fields.
/// Unknown fields are ignored, as FastAPI does.
#[derive(Debug, Clone, PartialEq)]
pub struct Wine(pub Features);

/// The no-batch answer: `{"Prediction": 0}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Prediction {
    /// Predicted class: 0, 1 or 2.
    #[serde(rename = "Prediction")]
    pub prediction: u8,
}

/// Classify one wine.
#[utoipa::path(
    post,
    path = "/predict",
    tag = TAG,
    request_body = Wine,
    responses(
        (status = 200, description = "The wine's class", body = Prediction),
        (status = 400, description = "The body could not be read", body = Detail),
        (status = 413, description = "Body over the size limit", body = Detail),
        (status = 422, description = "Invalid body", body = ValidationErrors),
    )
)]
pub(super) async fn predict_one(
    State(state): State<Arc<AppState>>,
    ValidBody(Wine(features)): ValidBody<Wine>,
) -> Response {
    let class = state.model.predict(&features);
    if let Some(metrics) = &state.metrics {
        metrics.predicted(1);
    }
    answer(class)
}

/// The answer for each class the model can predict, encoded once.
const PREDICTION_BODIES: [&[u8]; N_CLASSES] = [
    b"{\"Prediction\":0}",
    b"{\"Prediction\":1}",
    b"{\"Prediction\":2}",
];

/// 200 `{"Prediction":N}` for one class (always one the model can predict:
/// the model's leaves are validated when it is loaded).
fn answer(class: u8) -> Response {
    match PREDICTION_BODIES.get(usize::from(class)) {
        Some(body) => super::json(StatusCode::OK, *body),
        None => super::json(StatusCode::OK, format!("{{\"Prediction\":{class}}}")),
    }
}

impl RequestBody for Wine {
    fn parse_fast(bytes: &[u8]) -> Option<Self> {
        fast_json::wine(bytes).map(Wine)
    }

    fn validate(body: &Value) -> Result<Self, Vec<ValidationError>> {
        let Value::Object(fields) = body else {
            return Err(vec![ValidationError::not_an_object(body.clone())]);
        };
        let mut features = [0.0; N_FEATURES];
        let mut errors = Vec::new();
        // Every missing-field error echoes the whole body: one shared copy.
        let mut echo: Option<Arc<Value>> = None;
        for (name, feature) in FEATURE_NAMES.iter().zip(&mut features) {
            let loc = || vec![Loc::Key("body"), Loc::Key(name)];
            match fields.get(*name) {
                None => {
                    let body = echo.get_or_insert_with(|| Arc::new(body.clone()));
                    errors.push(ValidationError::missing(loc(), Arc::clone(body)));
                }
                Some(value) => match full_json::lax_number(value) {
                    Ok(number) => *feature = number,
                    Err(error) => errors.push(error.at(loc(), value)),
                },
            }
        }
        if errors.is_empty() {
            Ok(Wine(features))
        } else {
            Err(errors)
        }
    }
}

impl PartialSchema for Wine {
    fn schema() -> RefOr<Schema> {
        let mut object = ObjectBuilder::new().title(Some("Wine")).description(Some(
            "One wine's 13 chemical measurements. Other fields are ignored.",
        ));
        for name in FEATURE_NAMES {
            let property = full_json::lax_number_schema().title(Some(title(name)));
            object = object.property(name, property).required(name);
        }
        object.into()
    }
}

impl ToSchema for Wine {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Wine")
    }
}

/// `malic_acid` -> `Malic Acid`, as pydantic titles fields.
fn title(name: &str) -> String {
    name.split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::test_support::body_of;
    use serde_json::json;

    #[test]
    fn extra_fields_are_ignored_and_later_duplicates_win() {
        let bytes = br#"{"foo": {"deep": [1]}, "alcohol": 5, "malic_acid": 1, "ash": 1, "alcalinity_of_ash": 1,
            "magnesium": 1, "total_phenols": 1, "flavanoids": 1, "nonflavanoid_phenols": 1,
            "proanthocyanins": 1, "color_intensity": 1, "hue": 1, "od280_od315_of_diluted_wines": 1,
            "proline": 1, "alcohol": 7}"#;
        assert_eq!(
            Wine::parse_fast(bytes),
            None,
            "unusual bodies take the full path"
        );
        let value: Value = serde_json::from_slice(bytes).unwrap();
        assert_eq!(Wine::validate(&value).unwrap().0[0], 7.0);
    }

    #[test]
    fn every_missing_field_is_reported_in_order() {
        let errors = Wine::validate(&json!({"batches": []})).unwrap_err();
        let names: Vec<_> = errors.iter().map(|e| e.loc[1].clone()).collect();
        let expected: Vec<_> = FEATURE_NAMES.iter().map(|n| Loc::Key(n)).collect();
        assert_eq!(names, expected);
        assert!(
            errors
                .iter()
                .all(|e| e.kind == "missing" && *e.input == json!({"batches": []}))
        );
    }

    #[test]
    fn hand_written_answers_equal_serde_output() {
        for class in 0..N_CLASSES as u8 {
            let expected = serde_json::to_vec(&Prediction { prediction: class }).unwrap();
            assert_eq!(PREDICTION_BODIES[usize::from(class)], expected);
            assert_eq!(body_of(answer(class)), expected);
        }
    }

    #[test]
    fn titles_like_pydantic() {
        assert_eq!(
            title("od280_od315_of_diluted_wines"),
            "Od280 Od315 Of Diluted Wines"
        );
        assert_eq!(title("alcohol"), "Alcohol");
    }
}
