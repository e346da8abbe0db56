//! The locustfile Locust runs: the one given with `--locustfile`, or the
//! repository's, compiled in ([`LOCUSTFILE`], or [`FAST_LOCUSTFILE`] for
//! `--client fast`, which imports the first) and written where Locust can read
//! it: into the report folder for a sweep (so the report says what ran), or
//! into a temporary folder for the web mode, removed however the run ends.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::lab::error::LabError;
use crate::lab::options::Client;

/// The repository's `locustfile.py`, compiled in so the runner works from any directory.
pub const LOCUSTFILE: &str = include_str!("../../../locustfile.py");

/// The repository's `locustfile_fast.py`: the lab's tasks on `FastHttpUser`,
/// imported from `locustfile.py`, which must be written beside it.
pub const FAST_LOCUSTFILE: &str = include_str!("../../../locustfile_fast.py");

/// A locustfile on disk, for as long as this value lives.
#[derive(Debug)]
pub struct Locustfile {
    path: PathBuf,
    /// The temporary folder holding the built-in copy; dropping it removes it.
    _scratch: Option<TempDir>,
}

impl Locustfile {
    /// The given locustfile, or the built-in one for `client` written into
    /// `dir`, where it stays.
    pub fn kept_in(given: Option<&Path>, client: Client, dir: &Path) -> Result<Self, LabError> {
        let path = match given {
            Some(path) => existing(path)?,
            None => write_built_in(dir, client)?,
        };
        Ok(Locustfile {
            path,
            _scratch: None,
        })
    }

    /// The given locustfile, or the built-in one for `client` in a temporary
    /// folder that is removed when this value drops.
    pub fn temporary(given: Option<&Path>, client: Client) -> Result<Self, LabError> {
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
            path: write_built_in(scratch.path(), client)?,
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

/// Writes the built-in locustfile for `client` into `dir` and returns its
/// path; the lab's own file is always written, as the fast one imports it.
fn write_built_in(dir: &Path, client: Client) -> Result<PathBuf, LabError> {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|source| LabError::LocustfileCopy {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    };
    let lab = write("locustfile.py", LOCUSTFILE)?;
    match client {
        Client::Http => Ok(lab),
        Client::Fast => write("locustfile_fast.py", FAST_LOCUSTFILE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_file_is_written_beside_the_one_it_imports() {
        let dir = tempfile::tempdir().unwrap();
        let fast = Locustfile::kept_in(None, Client::Fast, dir.path()).unwrap();
        assert_eq!(fast.path(), dir.path().join("locustfile_fast.py"));
        assert_eq!(
            std::fs::read_to_string(fast.path()).unwrap(),
            FAST_LOCUSTFILE
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("locustfile.py")).unwrap(),
            LOCUSTFILE
        );
    }

    #[test]
    fn the_fast_file_reuses_the_lab_files_tasks_rather_than_copying_them() {
        let code: Vec<&str> = FAST_LOCUSTFILE
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .collect();
        let code = code.join("\n");
        assert!(code.contains("import locustfile as lab"));
        assert!(code.contains("(FastHttpUser):"));
        for shared in ["tasks", "wait_time", "host"] {
            assert!(
                code.contains(&format!("{shared} = lab.LoadTest.{shared}")),
                "{shared}"
            );
        }
        assert!(LOCUSTFILE.contains("class LoadTest(HttpUser)"));
        assert!(!code.contains("self.client.post"), "no copied task bodies");
    }

    #[test]
    fn the_built_in_copy_is_kept_or_removed_as_asked() {
        let report = tempfile::tempdir().unwrap();
        let kept = Locustfile::kept_in(None, Client::Http, report.path()).unwrap();
        assert_eq!(std::fs::read_to_string(kept.path()).unwrap(), LOCUSTFILE);
        drop(kept);
        assert!(report.path().join("locustfile.py").is_file());
        assert!(!report.path().join("locustfile_fast.py").exists());

        let temporary = Locustfile::temporary(None, Client::Http).unwrap();
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
        let file = Locustfile::temporary(Some(&given), Client::Fast).unwrap();
        assert_eq!(file.path(), given);
        drop(file);
        assert!(given.is_file(), "a given locustfile is never removed");
        let missing =
            Locustfile::kept_in(Some(&dir.path().join("nope.py")), Client::Http, dir.path());
        assert!(
            matches!(missing, Err(LabError::LocustfileMissing { .. })),
            "{missing:?}"
        );
    }
}
