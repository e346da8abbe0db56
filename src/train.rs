//! Training: the lab's recipe (standard scaler, then a random forest of 10 trees
//! trying sqrt(13) = 3 features per split) on the lab's 133 training rows, grown
//! by smartcore from a fixed seed.
//!
//! smartcore grows the trees; they are then copied into this crate's own
//! [`ModelParams`], the form the servers predict with, and the copy is checked
//! against smartcore's own predictions before anything is written.

use serde::Deserialize;
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_classifier::SplitCriterion;
use thiserror::Error;

use crate::dataset::{Dataset, Split};
use crate::features::{Features, N_FEATURES};
use crate::model::{ModelError, ModelParams, Node, Scaler, WineModel};
use crate::model_file::{
    Accuracy, DataSource, ForestSettings, ModelFile, Provenance, TrainerVersions,
};

/// Trees in the forest, as in the lab (`n_estimators=10`).
pub const N_TREES: usize = 10;

/// Features tried at each split: scikit-learn's `max_features='sqrt'`, floor(sqrt(13)).
pub const FEATURES_PER_SPLIT: usize = 3;

/// The seed the published model is trained with. Any seed gives a valid model;
/// this one is the repository's choice (see README: its scores against the lab's).
pub const DEFAULT_SEED: u64 = 42;

/// Why training failed.
#[derive(Debug, Error)]
pub enum TrainError {
    /// smartcore refused the data or parameters.
    #[error("smartcore: {0}")]
    Smartcore(String),
    /// smartcore's trees could not be read back (an unexpected smartcore version?).
    #[error("reading smartcore's trees: {0}")]
    Trees(String),
    /// The copied trees are not a valid model.
    #[error("copying smartcore's trees: {0}")]
    Model(#[from] ModelError),
    /// The copied trees disagree with smartcore on some row.
    #[error(
        "the copied forest predicts {ours} for data row {row} where smartcore predicts {theirs}"
    )]
    Disagreement {
        /// Data row index.
        row: usize,
        /// This crate's prediction.
        ours: u8,
        /// smartcore's prediction.
        theirs: u32,
    },
}

/// The training data as the trainer needs it: rows, a name and a checksum.
#[derive(Debug, Clone)]
pub struct TrainingData {
    /// The labelled rows.
    pub dataset: Dataset,
    /// Where the data came from, for the provenance record.
    pub source: DataSource,
    /// Which rows to train on and which to hold out.
    pub split: Split,
}

impl TrainingData {
    /// The data and split compiled into the binary: what the images' model is trained on.
    pub fn embedded() -> Result<Self, crate::dataset::DataError> {
        let dataset = Dataset::embedded()?;
        let split = Split::embedded(dataset.len())?;
        let source = DataSource {
            name: "data/wine.csv".to_owned(),
            sha256: crate::model_file::sha256_hex(crate::dataset::WINE_CSV.as_bytes()),
            rows: dataset.len(),
        };
        Ok(TrainingData {
            dataset,
            source,
            split,
        })
    }
}

/// Trains the model and scores it; the result is ready to save.
pub fn train(data: &TrainingData, seed: u64) -> Result<ModelFile, TrainError> {
    let TrainingData {
        dataset,
        source,
        split,
    } = data;
    let train_rows: Vec<Features> = split.train.iter().map(|&i| dataset.rows[i]).collect();
    let train_classes: Vec<u32> = split
        .train
        .iter()
        .map(|&i| u32::from(dataset.classes[i]))
        .collect();

    let scaler = Scaler::fit(&train_rows);
    let x = matrix(&scaler, &train_rows)?;
    let parameters = RandomForestClassifierParameters::default()
        .with_n_trees(N_TREES as u16)
        .with_m(FEATURES_PER_SPLIT)
        .with_criterion(SplitCriterion::Gini)
        .with_seed(seed);
    let forest = RandomForestClassifier::fit(&x, &train_classes, parameters)
        .map_err(|e| TrainError::Smartcore(e.to_string()))?;

    let params = ModelParams {
        scaler: scaler.clone(),
        trees: copy_trees(&forest)?,
    };
    let model = WineModel::new(&params)?;

    // The copy must predict exactly what smartcore predicts, on every row.
    let theirs = forest
        .predict(&matrix(&scaler, &dataset.rows)?)
        .map_err(|e| TrainError::Smartcore(e.to_string()))?;
    for (row, (features, theirs)) in dataset.rows.iter().zip(theirs).enumerate() {
        let ours = model.predict(features);
        if u32::from(ours) != theirs {
            return Err(TrainError::Disagreement { row, ours, theirs });
        }
    }

    let provenance = Provenance {
        data: source.clone(),
        split: split.clone(),
        seed,
        forest: ForestSettings {
            trees: N_TREES,
            features_per_split: FEATURES_PER_SPLIT,
            criterion: "gini".to_owned(),
        },
        trainer: TrainerVersions::current(),
        train_accuracy: accuracy(&model, dataset, &split.train),
        held_out_accuracy: accuracy(&model, dataset, &split.test),
    };
    Ok(ModelFile { provenance, params })
}

/// Scores the model on some rows of the data set.
pub fn accuracy(model: &WineModel, dataset: &Dataset, rows: &[usize]) -> Accuracy {
    let correct = rows
        .iter()
        .filter(|&&i| model.predict(&dataset.rows[i]) == dataset.classes[i])
        .count();
    Accuracy {
        correct,
        total: rows.len(),
    }
}

/// Scaled rows as the matrix smartcore trains and predicts on.
fn matrix(scaler: &Scaler, rows: &[Features]) -> Result<DenseMatrix<f64>, TrainError> {
    let scaled: Vec<Vec<f64>> = rows
        .iter()
        .map(|row| scaler.transform(row).to_vec())
        .collect();
    DenseMatrix::from_2d_vec(&scaled).map_err(|e| TrainError::Smartcore(e.to_string()))
}

/// smartcore keeps its trees' nodes private but serialises them; the forest is
/// read back through that serialisation into these mirrors of its fields.
#[derive(Deserialize)]
struct SmartcoreForest {
    trees: Vec<SmartcoreTree>,
}

#[derive(Deserialize)]
struct SmartcoreTree {
    nodes: Vec<SmartcoreNode>,
    /// Class labels; a leaf's `output` indexes this.
    classes: Vec<u32>,
}

#[derive(Deserialize)]
struct SmartcoreNode {
    output: usize,
    split_feature: usize,
    split_value: Option<f64>,
    true_child: Option<usize>,
    false_child: Option<usize>,
}

fn copy_trees(
    forest: &RandomForestClassifier<f64, u32, DenseMatrix<f64>, Vec<u32>>,
) -> Result<Vec<Vec<Node>>, TrainError> {
    let trees_error = |e: serde_json::Error| TrainError::Trees(e.to_string());
    let value = serde_json::to_value(forest).map_err(trees_error)?;
    let forest: SmartcoreForest = serde_json::from_value(value).map_err(trees_error)?;
    forest
        .trees
        .into_iter()
        .map(|tree| {
            tree.nodes
                .iter()
                .map(|node| copy_node(node, &tree.classes))
                .collect()
        })
        .collect()
}

fn copy_node(node: &SmartcoreNode, classes: &[u32]) -> Result<Node, TrainError> {
    match (node.true_child, node.false_child, node.split_value) {
        (Some(left), Some(right), Some(threshold)) if node.split_feature < N_FEATURES => {
            Ok(Node::Split {
                feature: node.split_feature,
                threshold,
                left,
                right,
            })
        }
        (None, None, _) => {
            let class = classes.get(node.output).ok_or_else(|| {
                TrainError::Trees(format!("leaf output {} has no class", node.output))
            })?;
            Ok(Node::Leaf {
                class: *class as usize,
            })
        }
        _ => Err(TrainError::Trees(
            "a node is neither a full split nor a leaf".into(),
        )),
    }
}
