//! The two APIs' request bodies: parsing, validation and OpenAPI schemas.
//!
//! Each body type has two parsers. The fast one ([`super::fast_json`]) reads
//! the bodies real clients send (plain numbers, exactly the expected keys)
//! straight into fixed-size arrays. Anything it refuses goes to the full
//! validator, which walks a `serde_json::Value` exactly as FastAPI would: it
//! applies the lax coercions and reports every error with its location. Both
//! give the same values for what they both accept (tested below).

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use super::fast_json;
use super::validation::{Loc, MAX_ERRORS, ValidationError, lax_number};
use crate::features::{FEATURE_NAMES, Features, N_FEATURES};

/// A request body of one of the two APIs.
pub trait RequestBody: Sized {
    /// Parses a well-formed body cheaply; `None` sends it to [`RequestBody::validate`].
    fn parse_fast(bytes: &[u8]) -> Option<Self>;

    /// Validates any JSON body, collecting every error as FastAPI would.
    fn validate(body: &Value) -> Result<Self, Vec<ValidationError>>;
}

/// The no-batch body: one wine, its 13 features as named fields.
/// Unknown fields are ignored, as FastAPI does.
#[derive(Debug, Clone, PartialEq)]
pub struct Wine(pub Features);

/// The with-batch body: `{"batches": [[13 numbers], ...]}`, rows in feature order.
#[derive(Debug, Clone, PartialEq)]
pub struct WineBatch(pub Vec<Features>);

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
                Some(value) => match lax_number(value) {
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
                match lax_number(value) {
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

impl PartialSchema for Wine {
    fn schema() -> RefOr<Schema> {
        let mut object = ObjectBuilder::new()
            .title(Some("Wine"))
            .description(Some("One wine's 13 chemical measurements."));
        for name in FEATURE_NAMES {
            let property = ObjectBuilder::new()
                .schema_type(Type::Number)
                .title(Some(title(name)));
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

impl PartialSchema for WineBatch {
    fn schema() -> RefOr<Schema> {
        let row = ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::Number))
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
    use serde_json::json;

    fn wine_json(value: f64) -> Value {
        Value::Object(
            FEATURE_NAMES
                .iter()
                .map(|n| (n.to_string(), json!(value)))
                .collect(),
        )
    }

    #[test]
    fn fast_and_full_parsers_agree_on_good_bodies() {
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
    fn fast_parser_leaves_anything_unusual_to_the_validator() {
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
    fn fast_and_full_parsers_agree_bit_for_bit_on_generated_bodies() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let spaces = [" ", "", "\n  ", "\t"];
        for _ in 0..2_000 {
            let rows: Vec<Vec<String>> = (0..(next() % 5))
                .map(|_| {
                    (0..N_FEATURES)
                        .map(|_| {
                            let bits = next();
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
            let space = spaces[(next() % 4) as usize];
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
    fn titles_like_pydantic() {
        assert_eq!(
            title("od280_od315_of_diluted_wines"),
            "Od280 Od315 Of Diluted Wines"
        );
        assert_eq!(title("alcohol"), "Alcohol");
    }
}
