//! Agreement of our model with the lab's original scikit-learn model.
//!
//! `data/reference-predictions.json` holds the original pipeline's predictions
//! for the 178 data rows and for every row of the lab's example requests. Our
//! forest is grown by a different library from a different random stream, so
//! it cannot match tree for tree; it must agree on nearly every row, on every
//! training row, and on the three single-wine examples.

use serde::Deserialize;
use wine_lab::dataset::Dataset;
use wine_lab::features::{FEATURE_NAMES, Features};
use wine_lab::model::WineModel;
use wine_lab::model_file::ModelFile;
use wine_lab::train::{DEFAULT_SEED, TrainingData, train};

#[derive(Deserialize)]
struct Reference {
    feature_order: Vec<String>,
    sources: Vec<Source>,
    rows: Vec<Features>,
    predictions: Vec<u8>,
    ties: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Source {
    file: String,
    start: usize,
    end: usize,
}

fn reference() -> Reference {
    let text = include_str!("../data/reference-predictions.json");
    serde_json::from_str(text).expect("reference predictions parse")
}

fn trained_model() -> (ModelFile, WineModel) {
    let file = train(&TrainingData::embedded().unwrap(), DEFAULT_SEED).unwrap();
    let model = WineModel::new(&file.params).unwrap();
    (file, model)
}

/// Agreement on a set of reference rows, printed for the test log.
fn agreement(label: &str, model: &WineModel, reference: &Reference, rows: &[usize]) -> f64 {
    let agreeing = rows
        .iter()
        .filter(|&&i| model.predict(&reference.rows[i]) == reference.predictions[i])
        .count();
    let rate = agreeing as f64 / rows.len() as f64;
    println!(
        "agreement on {label}: {agreeing}/{} ({:.1}%)",
        rows.len(),
        100.0 * rate
    );
    rate
}

#[test]
fn reference_uses_our_feature_order_and_data() {
    let reference = reference();
    assert_eq!(reference.feature_order, FEATURE_NAMES);
    let dataset = Dataset::embedded().unwrap();
    assert_eq!(&reference.rows[..178], &dataset.rows[..]);
    assert_eq!(
        reference.ties.len(),
        4,
        "the reference documents four 5-5 ties"
    );
}

#[test]
fn agrees_with_the_original_model() {
    let reference = reference();
    let (file, model) = trained_model();
    let split = &file.provenance.split;
    let all: Vec<usize> = (0..178).collect();
    let examples: Vec<usize> = (178..reference.rows.len()).collect();

    assert!(agreement("the 178 data rows", &model, &reference, &all) >= 0.95);
    assert_eq!(
        agreement("the 133 training rows", &model, &reference, &split.train),
        1.0
    );
    agreement("the 45 held-out rows", &model, &reference, &split.test);
    assert!(agreement("the example requests' rows", &model, &reference, &examples) >= 0.95);

    // The three no-batch examples: the original answered 0, 1 and 2.
    for (expected, name) in [(0, "0.json"), (1, "1.json"), (2, "2.json")] {
        let source = reference
            .sources
            .iter()
            .find(|s| s.file.ends_with(&format!("no-batch/wine-examples/{name}")))
            .expect("the example is listed");
        assert_eq!(source.end - source.start, 1);
        assert_eq!(reference.predictions[source.start], expected);
        assert_eq!(
            model.predict(&reference.rows[source.start]),
            expected,
            "{name}"
        );
    }
}

#[test]
fn matches_or_beats_the_original_accuracy() {
    // The original: 100% on its 133 training rows, 41/45 held out.
    let (file, _) = trained_model();
    let provenance = &file.provenance;
    println!(
        "training {}, held-out {}",
        provenance.train_accuracy, provenance.held_out_accuracy
    );
    assert_eq!(provenance.train_accuracy.correct, 133);
    assert!(provenance.held_out_accuracy.correct >= 41);
}
