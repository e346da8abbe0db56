//! The lab's model at prediction time: a standard scaler followed by a random
//! forest whose trees vote, ties going to the lower class (as scikit-learn does).
//!
//! Prediction works on one row at a time from a plain array: no matrix, no
//! allocation, no lock. A validated [`WineModel`] is immutable and shared by all
//! requests behind an `Arc`.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::features::{Features, N_CLASSES, N_FEATURES};

/// Why a model's parameters were rejected when building a [`WineModel`].
#[derive(Debug, Error, PartialEq)]
pub enum ModelError {
    /// A scaler parameter is not finite, or a scale is not positive.
    #[error("scaler: {0}")]
    Scaler(String),
    /// The forest has no trees.
    #[error("forest has no trees")]
    NoTrees,
    /// A tree's nodes do not form a valid tree.
    #[error("tree {tree}, node {node}: {reason}")]
    Node {
        /// Index of the tree in the forest.
        tree: usize,
        /// Index of the node in the tree.
        node: usize,
        /// What is wrong with it.
        reason: String,
    },
}

/// Per-feature standardisation: `(x - mean) / scale`, as scikit-learn's
/// `StandardScaler` (population standard deviation; a constant feature gets scale 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// Mean of each feature over the training rows.
    pub mean: Features,
    /// Standard deviation of each feature over the training rows.
    pub scale: Features,
}

impl Scaler {
    /// Learns means and standard deviations from training rows.
    pub fn fit(rows: &[Features]) -> Self {
        let n = rows.len().max(1) as f64;
        let mut mean = [0.0; N_FEATURES];
        let mut scale = [1.0; N_FEATURES];
        for j in 0..N_FEATURES {
            mean[j] = rows.iter().map(|row| row[j]).sum::<f64>() / n;
            let variance = rows
                .iter()
                .map(|row| (row[j] - mean[j]).powi(2))
                .sum::<f64>()
                / n;
            let std = variance.sqrt();
            if std > 0.0 && std.is_finite() {
                scale[j] = std;
            }
        }
        Scaler { mean, scale }
    }

    /// Standardises one row.
    #[inline]
    pub fn transform(&self, row: &Features) -> Features {
        std::array::from_fn(|j| (row[j] - self.mean[j]) / self.scale[j])
    }

    fn validate(&self) -> Result<(), ModelError> {
        if !self.mean.iter().all(|m| m.is_finite()) {
            return Err(ModelError::Scaler("a mean is not finite".into()));
        }
        if !self.scale.iter().all(|s| s.is_finite() && *s > 0.0) {
            return Err(ModelError::Scaler(
                "a scale is not a positive number".into(),
            ));
        }
        Ok(())
    }
}

/// One node of a decision tree, as stored in the model file.
///
/// A split sends a row to `left` when `row[feature] <= threshold` (on scaled
/// features), else to `right`; children always come after their parent, so a
/// walk from the root always ends at a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Node {
    /// An inner node.
    Split {
        /// Feature index, in `FEATURE_NAMES` order.
        feature: usize,
        /// Scaled value compared with `<=`.
        threshold: f64,
        /// Index of the node taken when `row[feature] <= threshold`.
        left: usize,
        /// Index of the node taken otherwise.
        right: usize,
    },
    /// A leaf: the tree's vote.
    Leaf {
        /// Class voted for: 0, 1 or 2.
        class: usize,
    },
}

/// Marks a leaf in [`FlatNode::feature`].
const LEAF: u32 = u32::MAX;

/// A node laid out for the prediction loop: 24 bytes, no enum tag to match.
#[derive(Debug, Clone, Copy)]
struct FlatNode {
    threshold: f64,
    /// Feature index, or [`LEAF`].
    feature: u32,
    /// Left child, or the class for a leaf.
    left: u32,
    right: u32,
}

/// A validated decision tree.
#[derive(Debug, Clone)]
struct Tree {
    nodes: Box<[FlatNode]>,
}

impl Tree {
    fn new(index: usize, nodes: &[Node]) -> Result<Self, ModelError> {
        let invalid = |node, reason: &str| ModelError::Node {
            tree: index,
            node,
            reason: reason.to_owned(),
        };
        if nodes.is_empty() {
            return Err(invalid(0, "tree has no nodes"));
        }
        if nodes.len() >= LEAF as usize {
            return Err(invalid(0, "tree has too many nodes"));
        }
        let flat = nodes
            .iter()
            .enumerate()
            .map(|(i, node)| match *node {
                Node::Leaf { class } if class < N_CLASSES => Ok(FlatNode {
                    threshold: 0.0,
                    feature: LEAF,
                    left: class as u32,
                    right: 0,
                }),
                Node::Leaf { .. } => Err(invalid(i, "leaf class is not 0, 1 or 2")),
                Node::Split { feature, .. } if feature >= N_FEATURES => {
                    Err(invalid(i, "feature index out of range"))
                }
                Node::Split { threshold, .. } if !threshold.is_finite() => {
                    Err(invalid(i, "threshold is not finite"))
                }
                Node::Split { left, right, .. }
                    if left <= i || right <= i || left >= nodes.len() || right >= nodes.len() =>
                {
                    Err(invalid(i, "children must be later nodes of the same tree"))
                }
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => Ok(FlatNode {
                    threshold,
                    feature: feature as u32,
                    left: left as u32,
                    right: right as u32,
                }),
            })
            .collect::<Result<_, _>>()?;
        Ok(Tree { nodes: flat })
    }

    /// The class this tree votes for. Terminates because children come after
    /// their parent (checked in [`Tree::new`]).
    #[inline]
    fn vote(&self, row: &Features) -> usize {
        let mut index = 0;
        loop {
            let node = &self.nodes[index];
            if node.feature == LEAF {
                return node.left as usize;
            }
            index = if row[node.feature as usize] <= node.threshold {
                node.left
            } else {
                node.right
            } as usize;
        }
    }

    fn to_nodes(&self) -> Vec<Node> {
        self.nodes
            .iter()
            .map(|node| match node.feature {
                LEAF => Node::Leaf {
                    class: node.left as usize,
                },
                feature => Node::Split {
                    feature: feature as usize,
                    threshold: node.threshold,
                    left: node.left as usize,
                    right: node.right as usize,
                },
            })
            .collect()
    }
}

/// The model's parameters as stored in a model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelParams {
    /// The standard scaler applied first.
    pub scaler: Scaler,
    /// The forest's trees, each a list of nodes with the root first.
    pub trees: Vec<Vec<Node>>,
}

/// A ready-to-serve model: scaler plus forest, validated, immutable.
#[derive(Debug, Clone)]
pub struct WineModel {
    scaler: Scaler,
    trees: Box<[Tree]>,
}

impl WineModel {
    /// Validates parameters read from a file or produced by training.
    pub fn new(params: &ModelParams) -> Result<Self, ModelError> {
        params.scaler.validate()?;
        if params.trees.is_empty() {
            return Err(ModelError::NoTrees);
        }
        let trees = params
            .trees
            .iter()
            .enumerate()
            .map(|(i, nodes)| Tree::new(i, nodes))
            .collect::<Result<_, _>>()?;
        Ok(WineModel {
            scaler: params.scaler.clone(),
            trees,
        })
    }

    /// The parameters this model was built from.
    pub fn params(&self) -> ModelParams {
        ModelParams {
            scaler: self.scaler.clone(),
            trees: self.trees.iter().map(Tree::to_nodes).collect(),
        }
    }

    /// Number of trees in the forest.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// Votes of each class for one (unscaled) row.
    pub fn votes(&self, row: &Features) -> [u32; N_CLASSES] {
        let scaled = self.scaler.transform(row);
        let mut votes = [0u32; N_CLASSES];
        for tree in self.trees.iter() {
            votes[tree.vote(&scaled)] += 1;
        }
        votes
    }

    /// Predicted class (0, 1 or 2) for one row: the class with the most votes,
    /// the lowest such class on a tie.
    #[inline]
    pub fn predict(&self, row: &Features) -> u8 {
        let votes = self.votes(row);
        let mut best = 0;
        for class in 1..N_CLASSES {
            if votes[class] > votes[best] {
                best = class;
            }
        }
        best as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity_scaler() -> Scaler {
        Scaler {
            mean: [0.0; N_FEATURES],
            scale: [1.0; N_FEATURES],
        }
    }

    /// A stump on feature 0: `<= 0.5` votes `low`, else `high`.
    fn stump(low: usize, high: usize) -> Vec<Node> {
        vec![
            Node::Split {
                feature: 0,
                threshold: 0.5,
                left: 1,
                right: 2,
            },
            Node::Leaf { class: low },
            Node::Leaf { class: high },
        ]
    }

    fn row(first: f64) -> Features {
        let mut row = [0.0; N_FEATURES];
        row[0] = first;
        row
    }

    #[test]
    fn scaler_matches_population_standard_deviation() {
        let rows = [row(1.0), row(3.0)];
        let scaler = Scaler::fit(&rows);
        assert_eq!(scaler.mean[0], 2.0);
        assert_eq!(scaler.scale[0], 1.0);
        // A constant feature keeps scale 1, as in scikit-learn.
        assert_eq!(scaler.scale[1], 1.0);
        assert_eq!(scaler.transform(&row(3.0))[0], 1.0);
    }

    #[test]
    fn threshold_is_inclusive_on_the_left() {
        let params = ModelParams {
            scaler: identity_scaler(),
            trees: vec![stump(0, 2)],
        };
        let model = WineModel::new(&params).unwrap();
        assert_eq!(model.predict(&row(0.5)), 0);
        assert_eq!(model.predict(&row(0.6)), 2);
    }

    #[test]
    fn majority_wins_and_ties_go_to_the_lower_class() {
        let params = ModelParams {
            scaler: identity_scaler(),
            trees: vec![stump(2, 1), stump(1, 1), stump(2, 2), stump(0, 2)],
        };
        let model = WineModel::new(&params).unwrap();
        // Low side: votes 2, 1, 2, 0 -> class 2 has two votes.
        assert_eq!(model.votes(&row(0.0)), [1, 1, 2]);
        assert_eq!(model.predict(&row(0.0)), 2);
        // High side: votes 1, 1, 2, 2 -> a tie between 1 and 2 goes to 1.
        assert_eq!(model.votes(&row(1.0)), [0, 2, 2]);
        assert_eq!(model.predict(&row(1.0)), 1);
    }

    #[test]
    fn round_trips_its_parameters() {
        let params = ModelParams {
            scaler: identity_scaler(),
            trees: vec![stump(0, 1), vec![Node::Leaf { class: 2 }]],
        };
        assert_eq!(WineModel::new(&params).unwrap().params(), params);
    }

    #[test]
    fn rejects_trees_that_could_loop_or_overflow() {
        let cases: Vec<(Vec<Node>, &str)> = vec![
            (vec![], "no nodes"),
            (vec![Node::Leaf { class: 3 }], "class"),
            (
                vec![Node::Split {
                    feature: 0,
                    threshold: 0.0,
                    left: 0,
                    right: 0,
                }],
                "later nodes",
            ),
            (
                vec![Node::Split {
                    feature: 0,
                    threshold: 0.0,
                    left: 1,
                    right: 9,
                }],
                "later nodes",
            ),
            (
                vec![
                    Node::Split {
                        feature: 13,
                        threshold: 0.0,
                        left: 1,
                        right: 1,
                    },
                    Node::Leaf { class: 0 },
                ],
                "feature",
            ),
            (
                vec![
                    Node::Split {
                        feature: 0,
                        threshold: f64::NAN,
                        left: 1,
                        right: 1,
                    },
                    Node::Leaf { class: 0 },
                ],
                "threshold",
            ),
        ];
        for (nodes, needle) in cases {
            let params = ModelParams {
                scaler: identity_scaler(),
                trees: vec![nodes],
            };
            let error = WineModel::new(&params).unwrap_err().to_string();
            assert!(error.contains(needle), "{error}");
        }
    }

    #[test]
    fn rejects_bad_scalers_and_empty_forests() {
        let mut scaler = identity_scaler();
        scaler.scale[3] = 0.0;
        let params = ModelParams {
            scaler,
            trees: vec![stump(0, 1)],
        };
        assert!(matches!(
            WineModel::new(&params),
            Err(ModelError::Scaler(_))
        ));
        let params = ModelParams {
            scaler: identity_scaler(),
            trees: vec![],
        };
        assert_eq!(WineModel::new(&params).unwrap_err(), ModelError::NoTrees);
    }
}
