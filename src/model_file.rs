//! The model file: what the trainer writes and the servers load at start-up.
//!
//! ```text
//! wine-lab model v1 sha256=<hex digest of everything after this line>
//! { "provenance": { ... }, "params": { "scaler": ..., "trees": ... } }
//! ```
//!
//! The first line names the format and its version, so a server can refuse a
//! file from another version before reading it, and carries a checksum of the
//! JSON body, so a damaged file is refused rather than served. The body is
//! written deterministically (no timestamps, fixed key order), so the same
//! training inputs give a byte-identical file.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::dataset::Split;
use crate::model::{ModelError, ModelParams, WineModel};

/// Start of every model file's first line.
pub const MAGIC: &str = "wine-lab model";

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Lowercase hex SHA-256 of some bytes: how files are identified in logs and
/// in the model's provenance.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// What a model was trained on and how well it did: recorded in the file so a
/// model can be traced back to its inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The training data.
    pub data: DataSource,
    /// The rows used for training and for scoring, in order.
    pub split: Split,
    /// Seed of the forest's random number generator.
    pub seed: u64,
    /// Forest settings.
    pub forest: ForestSettings,
    /// Versions of the code that trained the model.
    pub trainer: TrainerVersions,
    /// Accuracy on the training rows.
    pub train_accuracy: Accuracy,
    /// Accuracy on the held-out rows.
    pub held_out_accuracy: Accuracy,
}

/// Identifies the training data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSource {
    /// Where the data came from (a path or a description).
    pub name: String,
    /// SHA-256 of the data file's bytes.
    pub sha256: String,
    /// Number of data rows.
    pub rows: usize,
}

/// The random forest's hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestSettings {
    /// Number of trees.
    pub trees: usize,
    /// Features tried at each split (scikit-learn's `max_features`).
    pub features_per_split: usize,
    /// Split criterion.
    pub criterion: String,
}

/// Crate versions that determine the trained model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerVersions {
    /// This crate.
    pub wine_lab: String,
    /// The smartcore crate that grew the trees.
    pub smartcore: String,
    /// The rand crate behind smartcore's seeded generator.
    pub rand: String,
}

impl TrainerVersions {
    /// The versions compiled into this binary (read from Cargo.lock by build.rs).
    pub fn current() -> Self {
        TrainerVersions {
            wine_lab: env!("CARGO_PKG_VERSION").to_owned(),
            smartcore: env!("WINE_LAB_SMARTCORE_VERSION").to_owned(),
            rand: env!("WINE_LAB_RAND_VERSION").to_owned(),
        }
    }
}

/// Correct predictions out of a number of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accuracy {
    /// Rows predicted correctly.
    pub correct: usize,
    /// Rows scored.
    pub total: usize,
}

impl fmt::Display for Accuracy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let percent = 100.0 * self.correct as f64 / self.total.max(1) as f64;
        write!(f, "{}/{} ({percent:.1}%)", self.correct, self.total)
    }
}

/// The contents of a model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// How the model was made.
    pub provenance: Provenance,
    /// The model itself.
    pub params: ModelParams,
}

/// Why a model file's bytes were refused.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// The first line is not a model-file header.
    #[error("not a wine-lab model file (its first line does not start with `{MAGIC} v`)")]
    NotAModel,
    /// The file was written by another format version.
    #[error(
        "model format v{found} is not supported by this build (it reads v{FORMAT_VERSION}); retrain it with this version's wine-train"
    )]
    UnsupportedVersion {
        /// Version in the header.
        found: String,
    },
    /// The body does not match the header's checksum.
    #[error("the file is corrupt: its checksum does not match its contents")]
    Checksum,
    /// The body is not the expected JSON.
    #[error("the file is corrupt: {0}")]
    Json(#[from] serde_json::Error),
    /// The parameters do not form a valid model.
    #[error("the model is invalid: {0}")]
    Model(#[from] ModelError),
}

/// Why a model file could not be loaded, with its path.
///
/// Each message carries its cause, so the causes are not also error
/// `source`s: printing the chain (`{:#}`) would say them twice.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The file does not exist.
    #[error("model file {} not found; train one with `wine-train --out {}`", .0.display(), .0.display())]
    NotFound(PathBuf),
    /// The path names a directory, a FIFO, a device or a socket.
    #[error("model file {} is not a regular file (it is {kind})", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// The file could not be read.
    #[error("cannot read model file {}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        cause: std::io::Error,
    },
    /// The file was read but refused.
    #[error("model file {}: {cause}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        cause: DecodeError,
    },
}

/// A model ready to serve, with what the server logs about it.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    /// The validated model.
    pub model: WineModel,
    /// The file's provenance record.
    pub provenance: Provenance,
    /// SHA-256 of the whole file.
    pub sha256: String,
}

impl ModelFile {
    /// Serialises to the file format; deterministic for equal contents.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain structs of numbers and strings cannot fail.
        let mut body = serde_json::to_vec_pretty(self).expect("model serialises to JSON");
        body.push(b'\n');
        let mut file =
            format!("{MAGIC} v{FORMAT_VERSION} sha256={}\n", sha256_hex(&body)).into_bytes();
        file.append(&mut body);
        file
    }

    /// Parses and checks a model file's bytes, then validates the model.
    pub fn decode(bytes: &[u8]) -> Result<(Self, WineModel), DecodeError> {
        let newline = bytes
            .iter()
            .position(|b| *b == b'\n')
            .ok_or(DecodeError::NotAModel)?;
        let header = std::str::from_utf8(&bytes[..newline]).map_err(|_| DecodeError::NotAModel)?;
        let body = &bytes[newline + 1..];
        let rest = header
            .strip_prefix(MAGIC)
            .and_then(|rest| rest.strip_prefix(" v"))
            .ok_or(DecodeError::NotAModel)?;
        let (version, checksum) = rest.split_once(' ').unwrap_or((rest, ""));
        if version != FORMAT_VERSION.to_string() {
            return Err(DecodeError::UnsupportedVersion {
                found: version.to_owned(),
            });
        }
        if checksum.strip_prefix("sha256=") != Some(sha256_hex(body).as_str()) {
            return Err(DecodeError::Checksum);
        }
        let file: ModelFile = serde_json::from_slice(body)?;
        let model = WineModel::new(&file.params)?;
        Ok((file, model))
    }

    /// Writes the file, replacing any existing one only once it is complete.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        std::fs::write(&temporary, self.encode())?;
        std::fs::rename(&temporary, path)
    }
}

/// Reads, checks and validates the model file at `path`.
pub fn load(path: &Path) -> Result<LoadedModel, LoadError> {
    let bytes = read_regular_file(path)?;
    let (file, model) = ModelFile::decode(&bytes).map_err(|cause| LoadError::Decode {
        path: path.to_owned(),
        cause,
    })?;
    Ok(LoadedModel {
        model,
        provenance: file.provenance,
        sha256: sha256_hex(&bytes),
    })
}

/// The bytes of the regular file at `path`; anything else is refused before
/// it is read. It is opened without blocking, so a FIFO with no writer (which
/// a plain open waits on forever) is refused too.
fn read_regular_file(path: &Path) -> Result<Vec<u8>, LoadError> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

    let io_error = |cause: std::io::Error| match cause.kind() {
        std::io::ErrorKind::NotFound => LoadError::NotFound(path.to_owned()),
        _ => LoadError::Io {
            path: path.to_owned(),
            cause,
        },
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io_error)?;
    let file_type = file.metadata().map_err(io_error)?.file_type();
    if !file_type.is_file() {
        let kind = if file_type.is_dir() {
            "a directory"
        } else if file_type.is_fifo() {
            "a FIFO"
        } else if file_type.is_socket() {
            "a socket"
        } else if file_type.is_block_device() || file_type.is_char_device() {
            "a device"
        } else {
            "not a file"
        };
        return Err(LoadError::NotAFile {
            path: path.to_owned(),
            kind,
        });
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io_error)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::Dataset;
    use crate::train::{DEFAULT_SEED, TrainingData, train};

    fn trained(seed: u64) -> ModelFile {
        let dataset = Dataset::embedded().unwrap();
        let split = Split::embedded(dataset.len()).unwrap();
        let source = DataSource {
            name: "test".into(),
            sha256: "0".into(),
            rows: dataset.len(),
        };
        train(
            &TrainingData {
                dataset,
                source,
                split,
            },
            seed,
        )
        .unwrap()
    }

    #[test]
    fn encoding_is_deterministic_and_round_trips() {
        let first = trained(DEFAULT_SEED).encode();
        // Compared with assert! so a failure does not print 20 kB of bytes.
        assert!(
            first == trained(DEFAULT_SEED).encode(),
            "same seed, same bytes"
        );
        assert!(
            first != trained(DEFAULT_SEED + 1).encode(),
            "the seed matters"
        );
        let (file, model) = ModelFile::decode(&first).unwrap();
        assert!(
            file.encode() == first,
            "decoding then encoding gives the same bytes"
        );
        assert_eq!(model.n_trees(), 10);
        assert_eq!(file.provenance.trainer, TrainerVersions::current());
        assert_ne!(file.provenance.trainer.smartcore, "unknown");
        assert_ne!(file.provenance.trainer.rand, "unknown");
    }

    #[test]
    fn refuses_damaged_or_foreign_files() {
        let good = trained(DEFAULT_SEED).encode();
        let decode = |bytes: &[u8]| ModelFile::decode(bytes).map(|_| ()).unwrap_err();

        // One digit changed in the body: the checksum catches it.
        let mut flipped = good.clone();
        let at = flipped.iter().rposition(|b| b.is_ascii_digit()).unwrap();
        flipped[at] = if flipped[at] == b'1' { b'2' } else { b'1' };
        assert!(matches!(decode(&flipped), DecodeError::Checksum));

        // Truncated.
        assert!(matches!(
            decode(&good[..good.len() / 2]),
            DecodeError::Checksum
        ));
        assert!(matches!(decode(b""), DecodeError::NotAModel));

        // Another format: a pickle, an empty line, another version.
        assert!(matches!(
            decode(b"\x80\x04\x95\n..."),
            DecodeError::NotAModel
        ));
        assert!(matches!(decode(b"\n{}"), DecodeError::NotAModel));
        let v2 = String::from_utf8(good.clone())
            .unwrap()
            .replacen(" v1 ", " v2 ", 1);
        let error = decode(v2.as_bytes());
        assert!(matches!(error, DecodeError::UnsupportedVersion { ref found } if found == "2"));
        assert!(error.to_string().contains("retrain"), "{error}");
    }

    #[test]
    fn refuses_a_checksummed_but_invalid_model() {
        let mut file = trained(DEFAULT_SEED);
        file.params.trees[0][0] = crate::model::Node::Leaf { class: 9 };
        let bytes = file.encode();
        assert!(matches!(
            ModelFile::decode(&bytes),
            Err(DecodeError::Model(_))
        ));
    }

    #[test]
    fn load_names_the_path_and_what_to_do() {
        let dir = std::env::temp_dir().join(format!("wine-lab-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.model");
        let error = load(&missing).unwrap_err().to_string();
        assert!(
            error.contains("missing.model") && error.contains("wine-train --out"),
            "{error}"
        );

        let corrupt = dir.join("corrupt.model");
        std::fs::write(&corrupt, b"hello\n").unwrap();
        let error = load(&corrupt).unwrap_err().to_string();
        assert!(
            error.contains("corrupt.model") && error.contains("not a wine-lab model"),
            "{error}"
        );

        let error = load(&dir).unwrap_err();
        assert!(
            matches!(
                error,
                LoadError::NotAFile {
                    kind: "a directory",
                    ..
                }
            ),
            "{error}"
        );
        let fifo = dir.join("fifo.model");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a NUL-terminated path we own.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let error = load(&fifo).unwrap_err();
        assert!(
            matches!(error, LoadError::NotAFile { kind: "a FIFO", .. }),
            "{error}"
        );
        assert!(
            std::error::Error::source(&error).is_none(),
            "the cause is in the message only, so it is printed once"
        );

        let good = dir.join("good.model");
        trained(DEFAULT_SEED).save(&good).unwrap();
        let loaded = load(&good).unwrap();
        assert_eq!(loaded.sha256, sha256_hex(&std::fs::read(&good).unwrap()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
