//! The 13 chemical measurements that describe a wine, in the one order used
//! everywhere: the CSV columns, a with-batch row, the model's inputs.
//!
//! This is the single source of truth for the feature names; the request parser,
//! the OpenAPI schema and the data loader all derive from [`FEATURE_NAMES`].

/// Number of features per wine.
pub const N_FEATURES: usize = 13;

/// The feature names, exactly as the lab's no-batch API spells its JSON fields.
pub const FEATURE_NAMES: [&str; N_FEATURES] = [
    "alcohol",
    "malic_acid",
    "ash",
    "alcalinity_of_ash",
    "magnesium",
    "total_phenols",
    "flavanoids",
    "nonflavanoid_phenols",
    "proanthocyanins",
    "color_intensity",
    "hue",
    "od280_od315_of_diluted_wines",
    "proline",
];

/// One wine's measurements, in [`FEATURE_NAMES`] order.
pub type Features = [f64; N_FEATURES];

/// Position of a feature name in [`FEATURE_NAMES`], if it is one.
pub fn feature_index(name: &str) -> Option<usize> {
    FEATURE_NAMES.iter().position(|feature| *feature == name)
}

/// Wine classes (cultivars) the model predicts: 0, 1 or 2.
pub const N_CLASSES: usize = 3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_indexed() {
        for (i, name) in FEATURE_NAMES.iter().enumerate() {
            assert_eq!(feature_index(name), Some(i));
        }
        assert_eq!(feature_index("colour"), None);
        assert_eq!(feature_index(""), None);
    }
}
