//! The Python files Locust loads (`-f first.py,second.py`): the locustfile,
//! then wine-lab's own [`HOOK`] and the [`SERVERS_TAB`].
//!
//! The locustfile is the one given with `--locustfile`, or the repository's,
//! compiled in ([`LOCUSTFILE`], or [`FAST_LOCUSTFILE`] for `--client fast`,
//! which imports the first) and written where Locust can read it: into the
//! report folder for a sweep (so the report says what ran), or else into a
//! scratch folder. wine-lab's own files go to that scratch folder, which is
//! removed however the run ends: they are wine-lab's, not the report's.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::lab::error::LabError;
use crate::lab::options::Client;

/// The repository's `locustfile.py`, compiled in so the runner works from any directory.
pub const LOCUSTFILE: &str = include_str!("../../../locustfile.py");

/// The repository's `locustfile_fast.py`: the lab's tasks on `FastHttpUser`,
/// imported from `locustfile.py`, which must be written beside it.
const FAST_LOCUSTFILE: &str = include_str!("../../../locustfile_fast.py");

/// wine-lab's Python hook (`hook.py`), loaded after the locustfile in each
/// sweep step and in the web mode, for three Locust 2.47 behaviours, two of
/// which made a step's numbers wrong:
///
/// - its `--csv` files are rewritten every second and not at exit, so a step's
///   CSV missed its last second of requests: the hook writes them once more
///   after Locust stopped (the numbers Locust prints in its summary);
/// - its `--run-time` timer counts from gevent's cached clock, so on a busy
///   machine a step could end as soon as it started, with no requests: the
///   hook brings that clock up to date first;
/// - the worker processes of `--workers` outlived a killed wine-lab: the hook
///   gives each the parent-death signal that fork cleared (the one point that
///   matters in the web mode).
///
/// `hook.py` cites the Locust source each relies on.
const HOOK: &str = include_str!("hook.py");

/// The repository's `locust_servers.py`: the Locust extension behind the
/// Servers tab on Locust's page (each server's own figures, from its
/// `/metrics`), which also writes the `<csv prefix>_servers.csv` a sweep
/// step's server-side figures come from. The Docker stack loads the same file.
const SERVERS_TAB: &str = include_str!("../../../locust_servers.py");

/// A compiled-in Python file: the name Locust sees, and its text.
type CompiledIn = (&'static str, &'static str);

/// The built-in locustfile for `client`, in the order written: the last is
/// the one Locust loads, the others are what it imports.
fn built_in_locustfile(client: Client) -> &'static [CompiledIn] {
    match client {
        Client::Http => &[("locustfile.py", LOCUSTFILE)],
        Client::Fast => &[
            ("locustfile.py", LOCUSTFILE),
            ("locustfile_fast.py", FAST_LOCUSTFILE),
        ],
    }
}

/// wine-lab's own files, loaded after the locustfile: the hook, then the
/// Servers tab (whose `quit` handler writes its CSV after the hook's).
const WINE_LAB_FILES: &[CompiledIn] = &[
    ("wine_lab_hook.py", HOOK),
    ("locust_servers.py", SERVERS_TAB),
];

/// The files Locust loads, on disk for as long as this value lives.
#[derive(Debug)]
pub struct LocustFiles {
    /// In the order Locust loads them: the locustfile, then wine-lab's own.
    paths: Vec<PathBuf>,
    /// The scratch folder; dropping it removes it.
    _scratch: TempDir,
}

impl LocustFiles {
    /// The given locustfile, or the built-in one for `client` written into
    /// `keep_in` (where it stays) or, without one, into the scratch folder;
    /// then wine-lab's own files, written into the scratch folder.
    pub fn write(
        given: Option<&Path>,
        client: Client,
        keep_in: Option<&Path>,
    ) -> Result<Self, LabError> {
        let scratch = tempfile::Builder::new()
            .prefix("wine-lab-")
            .tempdir()
            .map_err(|source| LabError::LocustFilesFolder { source })?;
        let locustfile = match given {
            Some(path) if path.is_file() => path.to_owned(),
            Some(path) => {
                return Err(LabError::LocustfileMissing {
                    path: path.to_owned(),
                });
            }
            None => {
                let dir = keep_in.unwrap_or(scratch.path());
                write_into(dir, built_in_locustfile(client))?
            }
        };
        let mut paths = vec![locustfile];
        for &file in WINE_LAB_FILES {
            paths.push(write_into(scratch.path(), &[file])?);
        }
        Ok(LocustFiles {
            paths,
            _scratch: scratch,
        })
    }

    /// Where they are, in the order Locust loads them (`-f a,b`).
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }
}

/// Writes compiled-in `files` into `dir`, in order; the path of the last.
fn write_into(dir: &Path, files: &[CompiledIn]) -> Result<PathBuf, LabError> {
    let mut last = PathBuf::new();
    for (name, text) in files {
        last = dir.join(name);
        std::fs::write(&last, text).map_err(|source| LabError::LocustFileWrite {
            path: last.clone(),
            source,
        })?;
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn the_fast_file_is_written_beside_the_one_it_imports() {
        let dir = tempfile::tempdir().unwrap();
        let files = LocustFiles::write(None, Client::Fast, Some(dir.path())).unwrap();
        assert_eq!(files.paths()[0], dir.path().join("locustfile_fast.py"));
        assert_eq!(read(&files.paths()[0]), FAST_LOCUSTFILE);
        assert_eq!(read(&dir.path().join("locustfile.py")), LOCUSTFILE);
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
    fn the_built_in_copy_is_kept_or_removed_as_asked_and_wine_labs_own_removed() {
        let report = tempfile::tempdir().unwrap();
        let kept = LocustFiles::write(None, Client::Http, Some(report.path())).unwrap();
        let [locustfile, hook, servers_tab] = kept.paths() else {
            panic!("{kept:?}")
        };
        assert_eq!(read(locustfile), LOCUSTFILE);
        assert_eq!(read(hook), HOOK);
        assert_eq!(read(servers_tab), SERVERS_TAB);
        assert_eq!(hook.parent(), servers_tab.parent(), "one scratch folder");
        let hook = hook.clone();
        drop(kept);
        assert!(report.path().join("locustfile.py").is_file());
        assert!(!report.path().join("locustfile_fast.py").exists());
        assert!(!hook.exists() && !hook.parent().unwrap().exists());

        let temporary = LocustFiles::write(None, Client::Http, None).unwrap();
        let paths = temporary.paths().to_vec();
        assert_eq!(read(&paths[0]), LOCUSTFILE);
        assert_eq!(paths[0].parent(), paths[1].parent(), "one scratch folder");
        drop(temporary);
        assert!(!paths[0].exists() && !paths[0].parent().unwrap().exists());
    }

    #[test]
    fn the_hook_is_the_one_that_fixes_locusts_three_behaviours() {
        assert!(HOOK.contains("events.quit.add_listener") && HOOK.contains("update_now"));
        assert!(HOOK.contains("PDEATHSIG"));
    }

    #[test]
    fn a_given_locustfile_is_used_where_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let given = dir.path().join("mine.py");
        std::fs::write(&given, "# mine").unwrap();
        let files = LocustFiles::write(Some(&given), Client::Fast, None).unwrap();
        assert_eq!(files.paths()[0], given);
        drop(files);
        assert!(given.is_file(), "a given locustfile is never removed");
        let missing = dir.path().join("nope.py");
        let missing = LocustFiles::write(Some(&missing), Client::Http, Some(dir.path()));
        assert!(
            matches!(missing, Err(LabError::LocustfileMissing { .. })),
            "{missing:?}"
        );
    }
}
