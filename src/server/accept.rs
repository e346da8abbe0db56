//! Accepting connections when the process is out of file descriptors (or
//! the kernel out of memory for sockets): say so, naming the limit, at most
//! every [`WARN_EVERY`], and keep trying, so the server serves again as soon
//! as descriptors are free.
//!
//! Measured before (issue 12): under `prlimit --nofile=256` new connections
//! hung and nothing was logged, even at trace level (axum::serve logs accept
//! errors only with its `tracing` feature, which this crate does not enable).

use std::io;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

/// Shortest time between two warnings about the same condition.
pub(super) const WARN_EVERY: Duration = Duration::from_secs(10);

/// How long to wait before accepting again after running out of a resource:
/// the error repeats at once until something is freed.
pub(super) const RETRY_AFTER: Duration = Duration::from_millis(100);

/// What to do after a failed `accept`.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Accept again now: only that one connection failed.
    Continue,
    /// Wait [`RETRY_AFTER`] first.
    Pause,
}

/// Accept failures seen, and when they were last reported.
#[derive(Debug, Default)]
pub(super) struct AcceptErrors {
    last_warning: Option<Instant>,
    unreported: u64,
}

impl AcceptErrors {
    /// Records a failed `accept`, warning if it is time to, and says what to do next.
    pub(super) fn record(&mut self, error: &io::Error) -> Next {
        let exhausted = match error.raw_os_error() {
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => true,
            // The peer gave up before we accepted, and the like: that connection only.
            _ => false,
        };
        if !exhausted {
            debug!("a connection failed before it was accepted: {error}");
            return Next::Continue;
        }
        let now = Instant::now();
        if self
            .last_warning
            .is_some_and(|last| now.duration_since(last) < WARN_EVERY)
        {
            self.unreported += 1;
            return Next::Pause;
        }
        let also = match std::mem::take(&mut self.unreported) {
            0 => String::new(),
            n => format!(" ({n} more failures since the last warning)"),
        };
        match error.raw_os_error() {
            Some(libc::EMFILE) => warn!(
                "cannot accept connections: {error}; this process may have {} open file descriptors (RLIMIT_NOFILE, `ulimit -n`) and has used them all; new connections wait until some close{also}",
                open_file_limit()
                    .map_or_else(|| "a limited number of".to_owned(), |n| n.to_string()),
            ),
            _ => warn!(
                "cannot accept connections: {error}; the system is out of file descriptors or socket memory; new connections wait until some close{also}"
            ),
        }
        self.last_warning = Some(now);
        Next::Pause
    }
}

/// The soft RLIMIT_NOFILE of this process.
fn open_file_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    (ok && limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhaustion_pauses_and_warns_once_per_interval() {
        let mut errors = AcceptErrors::default();
        let emfile = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(errors.record(&emfile), Next::Pause);
        let first = errors.last_warning.expect("the first failure is reported");
        for _ in 0..5 {
            assert_eq!(errors.record(&emfile), Next::Pause);
        }
        assert_eq!(errors.last_warning, Some(first), "no second warning yet");
        assert_eq!(errors.unreported, 5);

        let aborted = io::Error::from_raw_os_error(libc::ECONNABORTED);
        assert_eq!(errors.record(&aborted), Next::Continue);
        assert_eq!(
            errors.unreported, 5,
            "one lost connection is not exhaustion"
        );
    }

    #[test]
    fn the_limit_is_known() {
        assert!(open_file_limit().is_some_and(|n| n > 0));
    }
}
