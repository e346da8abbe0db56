//! The model the lab's servers serve: a model file the user gives, or exactly
//! the images' model, trained here in a few milliseconds.

use std::path::Path;

use crate::lab::error::LabError;
use crate::model::WineModel;
use crate::model_file::{self, sha256_hex};
use crate::train::{DEFAULT_SEED, TrainError, TrainingData, train};

/// A model ready to serve, and the checksum the report records for it.
#[derive(Debug, Clone)]
pub struct ServedModel {
    /// The model.
    pub model: WineModel,
    /// SHA-256 of its model file (for a trained model: of the file
    /// `wine-train` would write).
    pub sha256: String,
}

/// Loads the model file at `path`, or, without one, trains the images'
/// model: `wine-train` with the built-in data and seed.
pub fn load_or_train(path: Option<&Path>) -> Result<ServedModel, LabError> {
    if let Some(path) = path {
        let loaded = model_file::load(path)?;
        return Ok(ServedModel {
            model: loaded.model,
            sha256: loaded.sha256,
        });
    }
    let data = TrainingData::embedded().map_err(LabError::TrainingData)?;
    let file = train(&data, DEFAULT_SEED).map_err(LabError::Training)?;
    let model = WineModel::new(&file.params)
        .map_err(|error| LabError::Training(TrainError::Model(error)))?;
    Ok(ServedModel {
        model,
        sha256: sha256_hex(&file.encode()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_model_file_names_the_file() {
        let error = load_or_train(Some(Path::new("/nonexistent/wine.model"))).unwrap_err();
        assert!(matches!(error, LabError::ModelFile(_)), "{error}");
        assert!(
            error.to_string().contains("/nonexistent/wine.model"),
            "{error}"
        );
    }
}
