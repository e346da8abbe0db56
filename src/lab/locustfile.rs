//! The locustfile Locust runs: the one given with `--locustfile`, or the
//! repository's, compiled in ([`LOCUSTFILE`]) and written where Locust can read
//! it: into the report folder for a sweep (so the report says what ran), or
//! into a temporary folder for the web mode, removed however the run ends.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::LabError;
use super::targets::LOCUSTFILE;

/// A locustfile on disk, for as long as this value lives.
#[derive(Debug)]
pub struct Locustfile {
    path: PathBuf,
    /// The temporary folder holding the built-in copy; dropping it removes it.
    _scratch: Option<TempDir>,
}

impl Locustfile {
    /// The given locustfile, or the built-in one written into `dir`, where it stays.
    pub fn kept_in(given: Option<&Path>, dir: &Path) -> Result<Self, LabError> {
        let path = match given {
            Some(path) => existing(path)?,
            None => write_built_in(dir)?,
        };
        Ok(Locustfile {
            path,
            _scratch: None,
        })
    }

    /// The given locustfile, or the built-in one in a temporary folder that is
    /// removed when this value drops.
    pub fn temporary(given: Option<&Path>) -> Result<Self, LabError> {
        if let Some(path) = given {
            return Ok(Locustfile {
                path: existing(path)?,
                _scratch: None,
            });
        }
        let scratch = tempfile::Builder::new()
            .prefix("wine-lab-")
            .tempdir()
            .map_err(|source| LabError::ScratchFolder { source })?;
        Ok(Locustfile {
            path: write_built_in(scratch.path())?,
            _scratch: Some(scratch),
        })
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn existing(path: &Path) -> Result<PathBuf, LabError> {
    if path.is_file() {
        Ok(path.to_owned())
    } else {
        Err(LabError::LocustfileMissing {
            path: path.to_owned(),
        })
    }
}

fn write_built_in(dir: &Path) -> Result<PathBuf, LabError> {
    let path = dir.join("locustfile.py");
    std::fs::write(&path, LOCUSTFILE).map_err(|source| LabError::LocustfileCopy {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_copy_is_kept_or_removed_as_asked() {
        let report = tempfile::tempdir().unwrap();
        let kept = Locustfile::kept_in(None, report.path()).unwrap();
        assert_eq!(std::fs::read_to_string(kept.path()).unwrap(), LOCUSTFILE);
        drop(kept);
        assert!(report.path().join("locustfile.py").is_file());

        let temporary = Locustfile::temporary(None).unwrap();
        let path = temporary.path().to_owned();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), LOCUSTFILE);
        drop(temporary);
        assert!(!path.exists() && !path.parent().unwrap().exists());
    }

    #[test]
    fn a_given_locustfile_is_used_where_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let given = dir.path().join("mine.py");
        std::fs::write(&given, "# mine").unwrap();
        let file = Locustfile::temporary(Some(&given)).unwrap();
        assert_eq!(file.path(), given);
        drop(file);
        assert!(given.is_file(), "a given locustfile is never removed");
        let missing = Locustfile::kept_in(Some(&dir.path().join("nope.py")), dir.path());
        assert!(
            matches!(missing, Err(LabError::LocustfileMissing { .. })),
            "{missing:?}"
        );
    }
}
