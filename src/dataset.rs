//! The wine data set and the lab's train/held-out split.
//!
//! Both files ship in the repository (`data/wine.csv`, `data/split.json`) and are
//! compiled into the binaries, so training needs nothing from the file system;
//! other files can still be parsed with the same functions.

use serde::Deserialize;
use thiserror::Error;

use crate::features::{FEATURE_NAMES, Features, N_CLASSES, N_FEATURES};

/// `data/wine.csv` as compiled in: 178 wines, the 13 features and the class.
pub const WINE_CSV: &str = include_str!("../data/wine.csv");

/// `data/split.json` as compiled in: the lab's `train_test_split(random_state=42)`.
pub const SPLIT_JSON: &str = include_str!("../data/split.json");

/// Name of the class column that follows the features in the CSV.
const TARGET_COLUMN: &str = "target";

/// Why a data or split file was rejected.
#[derive(Debug, Error)]
pub enum DataError {
    /// The CSV could not be read as CSV.
    #[error("wine data: {0}")]
    Csv(#[from] csv::Error),
    /// The header is not the 13 feature names followed by `target`.
    #[error("wine data: header must be the 13 feature names then `target`, found {found:?}")]
    Header {
        /// The header as read.
        found: Vec<String>,
    },
    /// A cell is not a finite number, or a class is not 0, 1 or 2.
    #[error("wine data: row {row}, column `{column}`: {value:?} is not {expected}")]
    Cell {
        /// 1-based data row (the header is row 0).
        row: usize,
        /// Column name.
        column: String,
        /// The cell as written.
        value: String,
        /// What the column holds.
        expected: &'static str,
    },
    /// The file has no data rows.
    #[error("wine data: no rows")]
    Empty,
    /// The split file is not the expected JSON.
    #[error("split: {0}")]
    SplitJson(#[from] serde_json::Error),
    /// The split names a row twice, a row the data lacks, or leaves a part empty.
    #[error("split: {0}")]
    Split(String),
}

/// The labelled wines, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Measurements, one row per wine.
    pub rows: Vec<Features>,
    /// Class of each row: 0, 1 or 2.
    pub classes: Vec<u8>,
}

impl Dataset {
    /// The data set compiled into the binary (`data/wine.csv`).
    pub fn embedded() -> Result<Self, DataError> {
        Self::from_csv(WINE_CSV)
    }

    /// Parses CSV text with the header `<13 feature names>,target`.
    pub fn from_csv(text: &str) -> Result<Self, DataError> {
        let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let header: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
        let expected = FEATURE_NAMES.iter().copied().chain([TARGET_COLUMN]);
        if !header.iter().map(String::as_str).eq(expected) {
            return Err(DataError::Header { found: header });
        }
        let mut dataset = Dataset {
            rows: Vec::new(),
            classes: Vec::new(),
        };
        for (index, record) in reader.records().enumerate() {
            let record = record?;
            let row = index + 1;
            let mut features = [0.0; N_FEATURES];
            for (column, value) in features.iter_mut().enumerate() {
                let cell = &record[column];
                *value = cell
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| DataError::Cell {
                        row,
                        column: FEATURE_NAMES[column].to_owned(),
                        value: cell.to_owned(),
                        expected: "a finite number",
                    })?;
            }
            let cell = &record[N_FEATURES];
            let class = cell
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|c| usize::from(*c) < N_CLASSES)
                .ok_or_else(|| DataError::Cell {
                    row,
                    column: TARGET_COLUMN.to_owned(),
                    value: cell.to_owned(),
                    expected: "a class 0, 1 or 2",
                })?;
            dataset.rows.push(features);
            dataset.classes.push(class);
        }
        if dataset.rows.is_empty() {
            return Err(DataError::Empty);
        }
        Ok(dataset)
    }

    /// Number of wines.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are no wines (never, for a parsed file).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Which rows train the model and which are held out to score it.
///
/// The order of `train` matters: the bootstrap samples depend on it, so it is
/// kept exactly as `train_test_split` returned it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Split {
    /// Row indices (0-based, data rows only) used for training, in order.
    pub train: Vec<usize>,
    /// Row indices held out for scoring, in order.
    pub test: Vec<usize>,
}

impl Split {
    /// The split compiled into the binary (`data/split.json`).
    pub fn embedded(rows: usize) -> Result<Self, DataError> {
        Self::from_json(SPLIT_JSON, rows)
    }

    /// Parses `{"train": [...], "test": [...]}` and checks it against a data set
    /// of `rows` rows: indices in range, no row used twice, neither part empty.
    pub fn from_json(text: &str, rows: usize) -> Result<Self, DataError> {
        let split: Split = serde_json::from_str(text)?;
        if split.train.is_empty() || split.test.is_empty() {
            return Err(DataError::Split(
                "train and test must both hold rows".into(),
            ));
        }
        let mut seen = vec![false; rows];
        for &index in split.train.iter().chain(&split.test) {
            let slot = seen.get_mut(index).ok_or_else(|| {
                DataError::Split(format!(
                    "row {index} is out of range (the data has {rows} rows)"
                ))
            })?;
            if std::mem::replace(slot, true) {
                return Err(DataError::Split(format!("row {index} is listed twice")));
            }
        }
        Ok(split)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_data_is_the_uci_wine_set() {
        let data = Dataset::embedded().expect("embedded data parses");
        assert_eq!(data.len(), 178);
        let count = |class| data.classes.iter().filter(|c| **c == class).count();
        assert_eq!((count(0), count(1), count(2)), (59, 71, 48));
        assert_eq!(data.rows[0][0], 14.23);
        assert_eq!(data.rows[177][12], 560.0);
    }

    #[test]
    fn embedded_split_is_133_train_45_test() {
        let split = Split::embedded(178).expect("embedded split parses");
        assert_eq!((split.train.len(), split.test.len()), (133, 45));
        assert_eq!(&split.train[..3], &[2, 100, 122]);
    }

    #[test]
    fn rejects_a_wrong_header() {
        let text = WINE_CSV.replacen("alcohol", "alcool", 1);
        assert!(matches!(
            Dataset::from_csv(&text),
            Err(DataError::Header { .. })
        ));
    }

    #[test]
    fn rejects_bad_cells_naming_row_and_column() {
        let text = WINE_CSV.replacen("14.23", "abc", 1);
        let error = Dataset::from_csv(&text).unwrap_err().to_string();
        assert!(
            error.contains("row 1") && error.contains("alcohol"),
            "{error}"
        );
        let text = WINE_CSV.replacen(",1065.0,0", ",1065.0,7", 1);
        let error = Dataset::from_csv(&text).unwrap_err().to_string();
        assert!(error.contains("target"), "{error}");
        let text = WINE_CSV.replacen("14.23", "NaN", 1);
        assert!(Dataset::from_csv(&text).is_err());
    }

    #[test]
    fn rejects_ragged_rows_and_empty_files() {
        let text = WINE_CSV.replacen(",1065.0,0", ",1065.0", 1);
        assert!(Dataset::from_csv(&text).is_err());
        let header = WINE_CSV.lines().next().unwrap();
        assert!(matches!(Dataset::from_csv(header), Err(DataError::Empty)));
    }

    #[test]
    fn rejects_bad_splits() {
        for (text, needle) in [
            (r#"{"train": [0, 1], "test": [1]}"#, "twice"),
            (r#"{"train": [0, 500], "test": [1]}"#, "out of range"),
            (r#"{"train": [], "test": [1]}"#, "both"),
            (r#"{"train": [0]}"#, "test"),
        ] {
            let error = Split::from_json(text, 178).unwrap_err().to_string();
            assert!(error.contains(needle), "{text}: {error}");
        }
    }
}
