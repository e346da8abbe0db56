//! The lab's model at prediction time: a standard scaler followed by a random
//! forest whose trees vote, ties going to the lower class (as scikit-learn does).
//!
//! Prediction reads rows from plain arrays: no matrix, no lock, and no scaling
//! (the scaler is folded into the trees' thresholds, exactly). One row walks
//! each tree from the root and stops at its leaf ([`WineModel::predict`]); a
//! batch goes through the forest in blocks of rows, one tree at a time, all
//! rows of a block stepping together until none moves (a leaf leads to itself)
//! ([`WineModel::predict_rows`]), so the walks of a block are independent and
//! overlap. Both give the same classes, bit for bit. A validated [`WineModel`] is immutable and shared by all
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

/// A split node laid out for the prediction loop (24 bytes).
///
/// Thresholds are on raw (unscaled) features: the scaler is folded in when the
/// model is loaded (see [`raw_threshold`]), so prediction does no arithmetic.
/// A child below zero is a leaf voting for class `!child`.
#[derive(Debug, Clone, Copy)]
struct CompiledNode {
    threshold: f64,
    feature: u32,
    left: i32,
    right: i32,
}

/// A validated decision tree, in the two layouts prediction uses.
#[derive(Debug, Clone)]
struct Tree {
    /// For one row at a time: split nodes only, stopping at a leaf.
    walk: Walk,
    /// For blocks of rows: every node, a fixed number of steps.
    block: BlockTree,
}

/// A tree laid out for one row's walk from the root to its leaf.
#[derive(Debug, Clone)]
enum Walk {
    /// A tree that is a single leaf.
    Constant(usize),
    /// Split nodes, root first; every child index is larger than its parent's.
    Splits(Box<[CompiledNode]>),
}

/// A node laid out for the block walk (24 bytes): a split, or a leaf whose
/// two children are itself, so that a row that has reached its leaf stays
/// there and every row of a block can take as many steps as its slowest
/// row (at most the tree's depth), without a branch on where it stopped.
#[derive(Debug, Clone, Copy)]
struct BlockNode {
    /// Raw threshold, as in [`CompiledNode`].
    threshold: f64,
    /// Feature compared.
    feature: u32,
    /// Next node when `row[feature] <= threshold` holds, and when it does not
    /// (NaN included, as in the walk).
    children: [u32; 2],
}

/// A tree laid out for the block walk: the model file's nodes, same indices.
#[derive(Debug, Clone)]
struct BlockTree {
    nodes: BlockNodes,
    /// Each node's class if it is a leaf (0 for a split: never read there).
    classes: Box<[u8]>,
    /// Splits on the longest path from the root: after this many steps every
    /// row is at its leaf.
    depth: usize,
}

/// A block tree's nodes. A tree of up to [`SMALL_TREE`] nodes (the lab's
/// have 15 to 25) is padded to that many, so that a position cut to a byte
/// is always in range and the walk does no bounds check; larger trees keep
/// their length, and a bounds check per step.
#[derive(Debug, Clone)]
enum BlockNodes {
    Small(Box<[BlockNode; SMALL_TREE]>),
    Large(Box<[BlockNode]>),
}

/// Nodes of a tree the block walk reaches without bounds checks: a byte's worth.
const SMALL_TREE: usize = 256;

impl Tree {
    fn new(index: usize, nodes: &[Node], scaler: &Scaler) -> Result<Self, ModelError> {
        let invalid = |node, reason: &str| ModelError::Node {
            tree: index,
            node,
            reason: reason.to_owned(),
        };
        if nodes.is_empty() {
            return Err(invalid(0, "tree has no nodes"));
        }
        if nodes.len() > i32::MAX as usize {
            return Err(invalid(0, "tree has too many nodes"));
        }
        // Validate every node, and number the splits in order.
        let mut split_number = vec![0i32; nodes.len()];
        let mut splits = 0;
        for (i, node) in nodes.iter().enumerate() {
            match *node {
                Node::Leaf { class } if class >= N_CLASSES => {
                    return Err(invalid(i, "leaf class is not 0, 1 or 2"));
                }
                Node::Leaf { .. } => {}
                Node::Split { feature, .. } if feature >= N_FEATURES => {
                    return Err(invalid(i, "feature index out of range"));
                }
                Node::Split { threshold, .. } if !threshold.is_finite() => {
                    return Err(invalid(i, "threshold is not finite"));
                }
                Node::Split { left, right, .. }
                    if left <= i || right <= i || left >= nodes.len() || right >= nodes.len() =>
                {
                    return Err(invalid(i, "children must be later nodes of the same tree"));
                }
                Node::Split { .. } => {
                    split_number[i] = splits;
                    splits += 1;
                }
            }
        }
        let raw: Vec<f64> = nodes
            .iter()
            .map(|node| match *node {
                Node::Split {
                    feature, threshold, ..
                } => raw_threshold(threshold, scaler.mean[feature], scaler.scale[feature]),
                Node::Leaf { .. } => 0.0,
            })
            .collect();
        Ok(Tree {
            walk: Walk::new(nodes, &raw, &split_number),
            block: BlockTree::new(nodes, &raw),
        })
    }
}

impl Walk {
    /// The walk's layout of a validated tree, `raw` holding each split's raw
    /// threshold and `split_number` its index among the splits.
    fn new(nodes: &[Node], raw: &[f64], split_number: &[i32]) -> Self {
        let child = |index: usize| match nodes[index] {
            Node::Leaf { class } => !(class as i32),
            Node::Split { .. } => split_number[index],
        };
        if let Node::Leaf { class } = nodes[0] {
            return Walk::Constant(class);
        }
        let compiled = nodes
            .iter()
            .zip(raw)
            .filter_map(|(node, &threshold)| match *node {
                Node::Split {
                    feature,
                    left,
                    right,
                    ..
                } => Some(CompiledNode {
                    threshold,
                    feature: feature as u32,
                    left: child(left),
                    right: child(right),
                }),
                Node::Leaf { .. } => None,
            })
            .collect();
        Walk::Splits(compiled)
    }

    /// The class this tree votes for, given a raw row. Terminates because
    /// children come after their parent (checked in [`Tree::new`]).
    #[inline]
    fn vote(&self, row: &Features) -> usize {
        let nodes = match self {
            Walk::Constant(class) => return *class,
            Walk::Splits(nodes) => nodes,
        };
        let mut index = 0;
        loop {
            let node = &nodes[index];
            let next = if row[node.feature as usize] <= node.threshold {
                node.left
            } else {
                node.right
            };
            if next < 0 {
                return !next as usize;
            }
            index = next as usize;
        }
    }
}

impl BlockTree {
    /// The block layout of a validated tree (children after their parent,
    /// classes below [`N_CLASSES`]), `raw` holding each split's raw threshold.
    fn new(nodes: &[Node], raw: &[f64]) -> Self {
        let mut depth = vec![0usize; nodes.len()];
        // Children come after their parent: one pass from the last node up.
        for (i, node) in nodes.iter().enumerate().rev() {
            if let Node::Split { left, right, .. } = *node {
                depth[i] = 1 + depth[left].max(depth[right]);
            }
        }
        let block: Vec<BlockNode> = nodes
            .iter()
            .zip(raw)
            .enumerate()
            .map(|(i, (node, &threshold))| match *node {
                Node::Split {
                    feature,
                    left,
                    right,
                    ..
                } => BlockNode {
                    threshold,
                    feature: feature as u32,
                    children: [left as u32, right as u32],
                },
                Node::Leaf { .. } => BlockNode {
                    threshold: 0.0,
                    feature: 0,
                    children: [i as u32, i as u32],
                },
            })
            .collect();
        let classes = nodes
            .iter()
            .map(|node| match *node {
                Node::Leaf { class } => class as u8,
                Node::Split { .. } => 0,
            })
            .collect();
        let nodes = if block.len() > SMALL_TREE {
            BlockNodes::Large(block.into())
        } else {
            // The padding is never reached.
            let mut padded = Box::new([block[0]; SMALL_TREE]);
            padded[..block.len()].copy_from_slice(&block);
            BlockNodes::Small(padded)
        };
        BlockTree {
            nodes,
            classes,
            depth: depth[0],
        }
    }

    /// Adds this tree's vote for each row of `block` to its entry of
    /// `votes`: every row takes `depth` steps, the rows one after the other
    /// at each step, so no row's next load waits for another row's.
    #[inline]
    fn vote(&self, block: &Block, votes: &mut [[u32; 4]; BLOCK_ROWS]) {
        let at = match &self.nodes {
            // Positions are below the node count (children are checked in
            // `Tree::new`), so cutting them to a byte changes nothing.
            BlockNodes::Small(nodes) => walk(block, self.depth, |at| &nodes[usize::from(at as u8)]),
            BlockNodes::Large(nodes) => walk(block, self.depth, |at| &nodes[at as usize]),
        };
        for (votes, at) in votes.iter_mut().zip(at) {
            // Classes are below 3 (checked in `Tree::new`): the mask only
            // spares the bounds check.
            votes[usize::from(self.classes[at as usize] & 3)] += 1;
        }
    }
}

/// Where each row of `block` ends in a tree of `depth`, `node` giving the
/// node at a position: every row takes a step, the rows one after the other,
/// so no row's next load waits for another row's.
#[inline(always)]
fn walk<'a>(block: &Block, depth: usize, node: impl Fn(u32) -> &'a BlockNode) -> [u32; BLOCK_ROWS] {
    let mut at = [0u32; BLOCK_ROWS];
    for _ in 0..depth {
        // A row at a split always moves (children come after their
        // parent); once none moves, every row is at its leaf.
        let mut moved = false;
        for (at, row) in at.iter_mut().zip(block) {
            let node = node(*at);
            // `feature` is below 13 (checked in `Tree::new`): the mask
            // only tells the compiler that it is within the padded row.
            let left = row[node.feature as usize & 15] <= node.threshold;
            let next = node.children[usize::from(!left)];
            moved |= next != *at;
            *at = next;
        }
        if !moved {
            break;
        }
    }
    at
}

/// A block of rows as the block walk reads them: each row padded to 16
/// values (so a feature index masked to 4 bits needs no bounds check) and
/// the block padded with rows of zeros (so every block has the same length,
/// and the walk over it is unrolled).
type Block = [[f64; 16]; BLOCK_ROWS];

/// Rows a batch is evaluated in together, tree by tree: enough independent
/// walks to overlap their loads, few enough that their positions stay in
/// registers or L1.
const BLOCK_ROWS: usize = 8;

/// The largest raw value `x` for which the scaled comparison
/// `(x - mean) / scale <= threshold` holds, as computed in floating point.
///
/// For a positive scale, `x -> (x - mean) / scale` is non-decreasing even with
/// rounding, so the raw values that go left are exactly those `<=` this one:
/// comparing raw values with it gives the same answer as scaling first, bit
/// for bit. Found by bisection over the doubles in order (64 steps).
fn raw_threshold(threshold: f64, mean: f64, scale: f64) -> f64 {
    let goes_left = |x: f64| (x - mean) / scale <= threshold;
    // Doubles ordered as unsigned integers: negative ones flipped, positive ones offset.
    let key = |x: f64| {
        let bits = x.to_bits();
        if bits >> 63 == 1 {
            !bits
        } else {
            bits | 1 << 63
        }
    };
    let value = |key: u64| {
        f64::from_bits(if key >> 63 == 1 {
            key & !(1 << 63)
        } else {
            !key
        })
    };
    let (mut low, mut high) = (key(f64::MIN), key(f64::MAX));
    if !goes_left(f64::MIN) {
        return f64::NEG_INFINITY;
    }
    if goes_left(f64::MAX) {
        return f64::INFINITY;
    }
    // Invariant: goes_left(value(low)) and !goes_left(value(high)).
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if goes_left(value(middle)) {
            low = middle;
        } else {
            high = middle;
        }
    }
    value(low)
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
            .map(|(i, nodes)| Tree::new(i, nodes, &params.scaler))
            .collect::<Result<_, _>>()?;
        Ok(WineModel { trees })
    }

    /// Number of trees in the forest.
    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// Votes of each class for one (unscaled) row.
    pub fn votes(&self, row: &Features) -> [u32; N_CLASSES] {
        let mut votes = [0u32; N_CLASSES];
        for tree in self.trees.iter() {
            votes[tree.walk.vote(row)] += 1;
        }
        votes
    }

    /// Predicted class (0, 1 or 2) for one row: the class with the most votes,
    /// the lowest such class on a tie.
    #[inline]
    pub fn predict(&self, row: &Features) -> u8 {
        majority(&self.votes(row))
    }

    /// Predicted class of each row, in order: the same as [`predict`] on
    /// each, computed in blocks of rows, one tree at a time (the cheaper way
    /// for more than a row or two).
    ///
    /// [`predict`]: WineModel::predict
    pub fn predict_rows(&self, rows: &[Features]) -> Vec<u8> {
        let mut classes = Vec::with_capacity(rows.len());
        for block in rows.chunks(BLOCK_ROWS) {
            // A row alone has no other walk to overlap with: it stops at its leaf.
            if let [row] = block {
                classes.push(self.predict(row));
                continue;
            }
            let mut padded: Block = [[0.0; 16]; BLOCK_ROWS];
            for (padded, row) in padded.iter_mut().zip(block) {
                padded[..N_FEATURES].copy_from_slice(row);
            }
            let mut votes = [[0u32; 4]; BLOCK_ROWS];
            for tree in self.trees.iter() {
                tree.block.vote(&padded, &mut votes);
            }
            classes.extend(
                votes[..block.len()]
                    .iter()
                    .map(|votes| majority(&[votes[0], votes[1], votes[2]])),
            );
        }
        classes
    }
}

/// The class with the most votes, the lowest such class on a tie.
#[inline]
fn majority(votes: &[u32; N_CLASSES]) -> u8 {
    let mut best = 0;
    for class in 1..N_CLASSES {
        if votes[class] > votes[best] {
            best = class;
        }
    }
    best as u8
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

    /// The textbook computation: scale, then walk the stored trees.
    fn reference_votes(params: &ModelParams, row: &Features) -> [u32; N_CLASSES] {
        let scaled = params.scaler.transform(row);
        let mut votes = [0; N_CLASSES];
        for nodes in &params.trees {
            let mut index = 0;
            let class = loop {
                match nodes[index] {
                    Node::Leaf { class } => break class,
                    Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                    } => {
                        index = if scaled[feature] <= threshold {
                            left
                        } else {
                            right
                        };
                    }
                }
            };
            votes[class] += 1;
        }
        votes
    }

    #[test]
    fn folded_thresholds_are_exact_at_the_boundary() {
        let mut rng = fastrand::Rng::with_seed(0x853C_49E6_748F_EA9B);
        let mut next = move || rng.u64(..);
        for _ in 0..20_000 {
            let mean = ((next() % 2_000_000) as f64 - 1e6) / 1e3;
            let scale = (next() % 1_000_000 + 1) as f64 / 1e4;
            let threshold = ((next() % 2_000_000) as f64 - 1e6) / 1e5;
            let raw = raw_threshold(threshold, mean, scale);
            let goes_left = |x: f64| (x - mean) / scale <= threshold;
            assert!(
                goes_left(raw) && !goes_left(raw.next_up()),
                "{threshold} {mean} {scale}"
            );
        }
        assert_eq!(raw_threshold(0.0, 0.0, 1.0), 0.0);
        // Everything goes left: the boundary is infinite.
        assert_eq!(raw_threshold(f64::MAX, 0.0, 1.0), f64::INFINITY);
        // Extreme scales still give the exact boundary.
        for (threshold, mean, scale) in [
            (f64::MAX, 0.0, 1e-300),
            (-1.0, 5.0, 1e-300),
            (1e-300, 0.0, 1e300),
        ] {
            let raw = raw_threshold(threshold, mean, scale);
            let goes_left = |x: f64| (x - mean) / scale <= threshold;
            assert!(
                goes_left(raw) && !goes_left(raw.next_up()),
                "{threshold} {mean} {scale}"
            );
        }
    }

    /// The embedded training data, the parameters `wine-train` trains from it
    /// with its default seed, and the model built from them.
    fn trained() -> (crate::train::TrainingData, ModelParams, WineModel) {
        use crate::train::{DEFAULT_SEED, TrainingData, train};
        let data = TrainingData::embedded().unwrap();
        let params = train(&data, DEFAULT_SEED).unwrap().params;
        let model = WineModel::new(&params).unwrap();
        (data, params, model)
    }

    /// Rows from `base` with one feature moved onto each of that feature's
    /// `boundaries`, or one ulp either side of it.
    fn rows_on_boundaries(
        boundaries: &[Vec<f64>],
        mut base: impl FnMut() -> Features,
    ) -> Vec<Features> {
        let mut rows = Vec::new();
        for (feature, near) in boundaries.iter().enumerate() {
            for &raw in near {
                for x in [raw, raw.next_up(), raw.next_down()] {
                    let mut row = base();
                    row[feature] = x;
                    rows.push(row);
                }
            }
        }
        rows
    }

    #[test]
    fn the_trained_model_predicts_as_scaling_first_would() {
        let (data, params, model) = trained();
        // The data rows, then the first one with a feature on every split's
        // raw boundary, or one ulp either side.
        let mut rows: Vec<Features> = data.dataset.rows.clone();
        let first = data.dataset.rows[0];
        rows.extend(rows_on_boundaries(&raw_boundaries(&params), || first));
        for row in &rows {
            assert_eq!(model.votes(row), reference_votes(&params, row), "{row:?}");
        }
    }

    /// A random valid tree over `N_FEATURES` features, nodes in preorder
    /// (children after their parent), with leaves at every depth up to
    /// `max_depth` (only at `max_depth` if `complete`).
    fn random_tree(rng: &mut fastrand::Rng, max_depth: usize, complete: bool) -> Vec<Node> {
        fn grow(
            rng: &mut fastrand::Rng,
            depth_left: usize,
            complete: bool,
            nodes: &mut Vec<Node>,
        ) -> usize {
            let index = nodes.len();
            if depth_left == 0 || (!complete && rng.u8(..4) == 0) {
                nodes.push(Node::Leaf {
                    class: rng.usize(..N_CLASSES),
                });
                return index;
            }
            nodes.push(Node::Leaf { class: 0 });
            let left = grow(rng, depth_left - 1, complete, nodes);
            let right = grow(rng, depth_left - 1, complete, nodes);
            nodes[index] = Node::Split {
                feature: rng.usize(..N_FEATURES),
                threshold: f64::from(rng.i8(..)) / 16.0,
                left,
                right,
            };
            index
        }
        let mut nodes = Vec::new();
        grow(rng, max_depth, complete, &mut nodes);
        nodes
    }

    /// Rows for comparing the two ways of predicting: each feature on a
    /// threshold of the forest, one ulp either side of it, or anywhere in
    /// the thresholds' range, and some rows with NaN and infinities.
    fn rows_around(
        rng: &mut fastrand::Rng,
        boundaries: &[Vec<f64>],
        count: usize,
    ) -> Vec<Features> {
        let mut rows: Vec<Features> = (0..count)
            .map(|_| {
                std::array::from_fn(|feature| {
                    let near = &boundaries[feature];
                    match (rng.u8(..4), near.is_empty()) {
                        (0, _) | (_, true) => (rng.f64() - 0.5) * 20.0,
                        (1, false) => near[rng.usize(..near.len())].next_up(),
                        (2, false) => near[rng.usize(..near.len())].next_down(),
                        _ => near[rng.usize(..near.len())],
                    }
                })
            })
            .collect();
        for (i, odd) in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY]
            .into_iter()
            .enumerate()
        {
            for row in rows.iter_mut().skip(i).step_by(17) {
                row[rng.usize(..N_FEATURES)] = odd;
            }
        }
        rows
    }

    /// Each feature's raw thresholds in a model's forest.
    fn raw_boundaries(params: &ModelParams) -> Vec<Vec<f64>> {
        let mut boundaries = vec![Vec::new(); N_FEATURES];
        for node in params.trees.iter().flatten() {
            if let Node::Split {
                feature, threshold, ..
            } = *node
            {
                boundaries[feature].push(raw_threshold(
                    threshold,
                    params.scaler.mean[feature],
                    params.scaler.scale[feature],
                ));
            }
        }
        boundaries
    }

    /// `predict_rows` against `predict` row by row, on all rows and on every
    /// prefix length around the block size (full blocks, a partial last one).
    fn assert_blocks_predict_as_rows_do(model: &WineModel, rows: &[Features]) {
        let expected: Vec<u8> = rows.iter().map(|row| model.predict(row)).collect();
        assert_eq!(model.predict_rows(rows), expected);
        for len in 0..=(3 * BLOCK_ROWS + 1).min(rows.len()) {
            assert_eq!(
                model.predict_rows(&rows[..len]),
                expected[..len],
                "{len} rows"
            );
        }
    }

    #[test]
    fn the_trained_model_predicts_blocks_as_rows() {
        let (data, params, model) = trained();
        let mut rng = fastrand::Rng::with_seed(0x2545_F491_4F6C_DD1D);
        let boundaries = raw_boundaries(&params);
        // Data rows, then data rows with one feature moved onto each split's
        // boundary or one ulp either side, then random rows around them all.
        let mut rows = data.dataset.rows.clone();
        let data_rows = &data.dataset.rows;
        rows.extend(rows_on_boundaries(&boundaries, || {
            data_rows[rng.usize(..data_rows.len())]
        }));
        rows.extend(rows_around(&mut rng, &boundaries, 5_000));
        rng.shuffle(&mut rows);
        assert_blocks_predict_as_rows_do(&model, &rows);
    }

    #[test]
    fn random_forests_predict_blocks_as_rows() {
        let mut rng = fastrand::Rng::with_seed(0x9E37_79B9_7F4A_7C15);
        for _ in 0..200 {
            let n_trees = rng.usize(1..12);
            let max_depth = rng.usize(0..9);
            let params = ModelParams {
                scaler: Scaler {
                    mean: std::array::from_fn(|_| f64::from(rng.i8(..)) / 32.0),
                    scale: std::array::from_fn(|_| rng.f64() * 3.0 + 0.01),
                },
                // Some trees over the block walk's small-tree size (2^9 - 1 nodes).
                trees: (0..n_trees)
                    .map(|_| match rng.u8(..8) {
                        0 => random_tree(&mut rng, 9, true),
                        _ => random_tree(&mut rng, max_depth, false),
                    })
                    .collect(),
            };
            let model = WineModel::new(&params).unwrap();
            let rows = rows_around(&mut rng, &raw_boundaries(&params), 200);
            assert_blocks_predict_as_rows_do(&model, &rows);
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
