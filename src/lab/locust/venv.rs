//! Locust for machines that have none: when no `locust` is on PATH and none
//! is given, wine-lab installs the pinned Locust (`requirements.txt`, which
//! CI and the Locust image install too) into a venv of its own in the user's cache folder,
//! once, and reuses it on later runs. A venv, because Debian's own Python
//! refuses `pip install` outside one (PEP 668).
//!
//! The venv is `$XDG_CACHE_HOME/wine-lab/locust-<hash of PIN>` (or
//! `~/.cache/…`), so a new pin gets a new venv. It is built in a temporary
//! folder beside it and renamed into place only once Locust runs from it,
//! with [`COMPLETE_MARKER`] written last: a half-made venv (a crash, a full
//! disk, Ctrl-C) is never used, and two wine-lab runs installing at once
//! each build their own and the first rename wins.
//!
//! Venvs hard-code their own path in their scripts, so after the rename
//! Locust is run as `<venv>/bin/python -m locust`, never `bin/locust`.

use std::ffi::{OsStr, OsString};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::process::{Locust, last_line};
use crate::lab::error::{InstallError, LabError};

/// The Locust pin, `requirements.txt` beside this file: the one pin for this
/// venv, CI (`.ci/run`) and the Locust image (`tests/e2e/locust-rootfs.sh`).
const PIN: &str = include_str!("requirements.txt");

/// Written into the venv last: its presence says the venv is whole.
pub const COMPLETE_MARKER: &str = "wine-lab-complete";

/// The Python that makes the venv.
const PYTHON: &str = "python3";

/// The cache folder by the XDG rule: `$XDG_CACHE_HOME` if it is an absolute
/// path, else `$HOME/.cache`. Linux only, like wine-lab, so the rule is
/// written here rather than taken from a crate that also knows macOS and Windows.
fn cache_home(xdg_cache_home: Option<&OsStr>, home: Option<&OsStr>) -> Option<PathBuf> {
    let absolute = |value: &OsStr| Some(PathBuf::from(value)).filter(|path| path.is_absolute());
    xdg_cache_home
        .and_then(absolute)
        .or_else(|| home.and_then(absolute).map(|home| home.join(".cache")))
}

/// The venv's folder for this pin: `<cache>/wine-lab/locust-<8 hex digits>`.
pub fn venv_dir(cache_home: &Path) -> PathBuf {
    let digest = Sha256::digest(PIN.as_bytes());
    let short: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    cache_home.join("wine-lab").join(format!("locust-{short}"))
}

/// The requirement lines of [`PIN`] (`locust==2.47.0`), for messages.
fn pinned() -> String {
    PIN.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `venv` was finished (its marker exists).
pub fn is_complete(venv: &Path) -> bool {
    venv.join(COMPLETE_MARKER).is_file()
}

/// Where a finished build ended up.
#[derive(Debug, PartialEq, Eq)]
enum Settled {
    /// The build was renamed into place.
    Ours,
    /// Another run put a complete venv there first; the build was removed.
    Theirs,
}

/// Moves the finished build `staging` to `venv`. A complete venv already
/// there (another run's) is kept and `staging` removed; an incomplete one is
/// replaced.
fn settle(staging: &Path, venv: &Path) -> std::io::Result<Settled> {
    for _ in 0..2 {
        match std::fs::rename(staging, venv) {
            Ok(()) => return Ok(Settled::Ours),
            Err(_) if is_complete(venv) => {
                std::fs::remove_dir_all(staging)?;
                return Ok(Settled::Theirs);
            }
            Err(_) if venv.exists() => discard(venv)?,
            Err(error) => return Err(error),
        }
    }
    Err(std::io::Error::other(format!(
        "{} keeps reappearing incomplete",
        venv.display()
    )))
}

/// Removes a venv that cannot be used, renaming it aside first so a run
/// that looks at the same moment never sees it half-deleted.
fn discard(venv: &Path) -> std::io::Result<()> {
    let parent = venv.parent().unwrap_or(Path::new("."));
    let aside = tempfile::Builder::new()
        .prefix(".discarded-")
        .tempdir_in(parent)?;
    let target = aside.path().join("venv");
    match std::fs::rename(venv, &target) {
        // The TempDir removes it.
        Ok(()) => Ok(()),
        // Someone else moved it already.
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// The Locust of wine-lab's venv, installed first if needed. Says in one
/// line what it did; pip's own lines show the installation's progress.
pub(crate) async fn locust(stop: &CancellationToken) -> Result<Locust, LabError> {
    let cache = cache_home(
        std::env::var_os("XDG_CACHE_HOME").as_deref(),
        std::env::var_os("HOME").as_deref(),
    )
    .ok_or(LabError::LocustInstall(InstallError::NoCacheFolder))?;
    let venv = venv_dir(&cache);
    if is_complete(&venv) {
        match venv_locust(&venv).await {
            Ok(locust) => {
                eprintln!(
                    "wine-lab: no `locust` on PATH; using the Locust wine-lab installed in {}",
                    venv.display()
                );
                return Ok(locust);
            }
            Err(error) => eprintln!(
                "wine-lab: the Locust venv in {} no longer runs ({error}); installing it again",
                venv.display()
            ),
        }
    }
    eprintln!(
        "wine-lab: no `locust` on PATH; installing {} into {} (once: later runs reuse it)",
        pinned(),
        venv.display()
    );
    let installed = tokio::select! {
        installed = install(&venv) => installed,
        () = stop.cancelled() => return Err(LabError::Interrupted),
    };
    let locust = installed.map_err(LabError::LocustInstall)?;
    eprintln!("wine-lab: installed {} in {}", pinned(), venv.display());
    Ok(locust)
}

/// Builds the venv beside `venv` and moves it into place.
async fn install(venv: &Path) -> Result<Locust, InstallError> {
    let parent = venv.parent().unwrap_or(Path::new("."));
    let folder_error = |source| InstallError::CacheFolder {
        path: parent.to_owned(),
        source,
    };
    std::fs::create_dir_all(parent).map_err(folder_error)?;
    let name = venv.file_name().unwrap_or_default().to_string_lossy();
    // Removed on any failure or on Ctrl-C (the future is dropped).
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}-building-"))
        .tempdir_in(parent)
        .map_err(folder_error)?;
    let building = staging.path();

    let made = Command::new(PYTHON)
        .arg("-m")
        .arg("venv")
        .arg(building)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await;
    match made {
        Err(error) if error.kind() == ErrorKind::NotFound => return Err(InstallError::NoPython),
        Err(source) => {
            return Err(InstallError::Run {
                program: PYTHON.into(),
                source,
            });
        }
        Ok(output) if !output.status.success() => {
            let text = String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr);
            return Err(InstallError::Venv {
                status: output.status,
                said: last_line(&text),
            });
        }
        Ok(_) => {}
    }

    let requirements = building.join("wine-lab-requirements.txt");
    std::fs::write(&requirements, PIN).map_err(folder_error)?;
    pip_install(&python(building), &requirements).await?;
    venv_locust(building).await?;
    std::fs::write(building.join(COMPLETE_MARKER), pinned()).map_err(folder_error)?;

    let staging = staging.keep();
    if let Err(error) = settle(&staging, venv) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(folder_error(error));
    }
    venv_locust(venv).await
}

/// `pip install -r <requirements>`, its output shown on stderr as it comes.
async fn pip_install(python: &Path, requirements: &Path) -> Result<(), InstallError> {
    let mut child = Command::new(python)
        .args(["-m", "pip", "install", "--disable-pip-version-check", "-r"])
        .arg(requirements)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| InstallError::Run {
            program: python.display().to_string(),
            source,
        })?;
    let (_, last_error) = tokio::join!(
        forward_lines(child.stdout.take()),
        forward_lines(child.stderr.take())
    );
    let status = child.wait().await.map_err(|source| InstallError::Run {
        program: python.display().to_string(),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(InstallError::Pip {
            pin: pinned(),
            status,
            said: last_error.trim().to_owned(),
        })
    }
}

/// Copies a child's output to stderr, line by line, indented under wine-lab's
/// own lines; returns the last line with text.
async fn forward_lines(stream: Option<impl tokio::io::AsyncRead + Unpin>) -> String {
    let mut last = String::new();
    if let Some(stream) = stream {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            eprintln!("  pip: {line}");
            if !line.trim().is_empty() {
                last = line;
            }
        }
    }
    last
}

/// The venv's interpreter.
fn python(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

/// Locust in `venv`, run by its interpreter (see the module's last paragraph).
async fn venv_locust(venv: &Path) -> Result<Locust, InstallError> {
    Locust::find_with(
        python(venv).into_os_string(),
        vec![OsString::from("-m"), OsString::from("locust")],
    )
    .await
    .map_err(|error| InstallError::Broken(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_follows_the_xdg_rule() {
        let os = |s: &'static str| Some(OsStr::new(s));
        assert_eq!(
            cache_home(os("/xdg"), os("/home/me")),
            Some(PathBuf::from("/xdg"))
        );
        // A relative XDG_CACHE_HOME is ignored, as the specification says.
        assert_eq!(
            cache_home(os("relative"), os("/home/me")),
            Some(PathBuf::from("/home/me/.cache"))
        );
        assert_eq!(
            cache_home(None, os("/home/me")),
            Some(PathBuf::from("/home/me/.cache"))
        );
        assert_eq!(cache_home(None, None), None);
        assert_eq!(cache_home(os(""), os("")), None);
    }

    #[test]
    fn the_venv_is_named_after_the_pin() {
        let dir = venv_dir(Path::new("/c"));
        let name = dir.file_name().unwrap().to_str().unwrap();
        assert_eq!(dir.parent(), Some(Path::new("/c/wine-lab")));
        let hash = name.strip_prefix("locust-").unwrap();
        assert_eq!(hash.len(), 8);
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
        let full: String = Sha256::digest(PIN.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(full.starts_with(hash));
        assert!(pinned().starts_with("locust=="), "{}", pinned());
    }

    /// A folder standing for a built venv, complete or not.
    fn fake_venv(path: &Path, complete: bool, tag: &str) {
        std::fs::create_dir_all(path.join("bin")).unwrap();
        std::fs::write(path.join("tag"), tag).unwrap();
        if complete {
            std::fs::write(path.join(COMPLETE_MARKER), "x").unwrap();
        }
    }

    fn tag(path: &Path) -> String {
        std::fs::read_to_string(path.join("tag")).unwrap()
    }

    #[test]
    fn a_finished_build_is_moved_into_place() {
        let cache = tempfile::tempdir().unwrap();
        let venv = venv_dir(cache.path());
        let staging = cache.path().join("staging");
        fake_venv(&staging, true, "ours");
        std::fs::create_dir_all(venv.parent().unwrap()).unwrap();
        assert!(!is_complete(&venv));
        assert_eq!(settle(&staging, &venv).unwrap(), Settled::Ours);
        assert!(is_complete(&venv) && !staging.exists());
        assert_eq!(tag(&venv), "ours");
    }

    #[test]
    fn another_runs_complete_venv_wins_and_a_half_made_one_is_replaced() {
        let cache = tempfile::tempdir().unwrap();
        let venv = venv_dir(cache.path());
        fake_venv(&venv, true, "theirs");
        let staging = cache.path().join("staging");
        fake_venv(&staging, true, "ours");
        assert_eq!(settle(&staging, &venv).unwrap(), Settled::Theirs);
        assert_eq!(tag(&venv), "theirs");
        assert!(!staging.exists(), "the losing build is removed");

        // A venv without its marker (a crash mid-install) is not trusted.
        std::fs::remove_file(venv.join(COMPLETE_MARKER)).unwrap();
        assert!(!is_complete(&venv));
        fake_venv(&staging, true, "ours");
        assert_eq!(settle(&staging, &venv).unwrap(), Settled::Ours);
        assert_eq!(tag(&venv), "ours");
        assert!(is_complete(&venv));
        let left: Vec<_> = std::fs::read_dir(venv.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(left, [venv.file_name().unwrap()], "nothing left beside it");
    }
}
