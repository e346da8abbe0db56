//! wine-lab's Python hook, loaded beside the locustfile in each sweep step (and
//! in the web mode), for three Locust 2.47 behaviours, two of which made a
//! step's numbers wrong:
//!
//! - its `--csv` files are rewritten every second and not at exit, so a step's
//!   CSV missed its last second of requests: the hook writes them once more
//!   after Locust stopped (the numbers Locust prints in its summary);
//! - its `--run-time` timer counts from gevent's cached clock, so on a busy
//!   machine a step could end as soon as it started, with no requests: the
//!   hook brings that clock up to date first;
//! - the worker processes of `--workers` outlived a killed wine-lab: the hook
//!   gives each the parent-death signal that fork cleared.
//!
//! See `step_hook.py` for the Locust source each relies on.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::lab::error::LabError;

/// The hook, compiled in.
pub const STEP_HOOK_PY: &str = include_str!("step_hook.py");

/// The hook on disk, in a temporary folder removed when this value drops
/// (it is wine-lab's, not part of the report).
#[derive(Debug)]
pub struct StepHook {
    path: PathBuf,
    _scratch: TempDir,
}

impl StepHook {
    /// Writes the hook where Locust can load it.
    pub fn write() -> Result<Self, LabError> {
        let scratch = tempfile::Builder::new()
            .prefix("wine-lab-")
            .tempdir()
            .map_err(|source| LabError::ScratchFolder { source })?;
        let path = scratch.path().join("wine_lab_step_hook.py");
        std::fs::write(&path, STEP_HOOK_PY).map_err(|source| LabError::LocustfileCopy {
            path: path.clone(),
            source,
        })?;
        Ok(StepHook {
            path,
            _scratch: scratch,
        })
    }

    /// Where it is: Locust loads it with the locustfile (`-f locustfile,hook`).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_is_written_and_removed() {
        let hook = StepHook::write().unwrap();
        let path = hook.path().to_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("events.quit.add_listener") && text.contains("update_now"));
        assert!(text.contains("PDEATHSIG"));
        drop(hook);
        assert!(!path.exists());
    }
}
