//! Locust's CPU use over a sweep step: the report needs it to say whether
//! Locust, not the servers, limited a step. Locust runs in child processes
//! (a master and its workers); the servers' own CPU comes from their
//! `/metrics`, as each server's thread measures it ([`super::server_side`]).

use std::time::{Duration, Instant};

/// CPU time Locust's processes had used, and when it was read.
#[derive(Debug, Clone, Copy)]
pub struct LocustCpu {
    /// The children's that were waited for: Locust.
    used: Duration,
    /// When.
    at: Instant,
}

impl LocustCpu {
    /// Reads it now.
    pub fn now() -> Self {
        LocustCpu {
            used: used_by_waited_children(),
            at: Instant::now(),
        }
    }

    /// Locust's CPU since this reading, in percent of one core. Take it after
    /// Locust was waited for: a child's time counts only once it is reaped
    /// (and so does that of the processes it waited for, such as Locust's own
    /// workers).
    pub fn percent_since(&self) -> f64 {
        let now = LocustCpu::now();
        let elapsed = now.at.duration_since(self.at).as_secs_f64().max(0.001);
        100.0 * now.used.saturating_sub(self.used).as_secs_f64() / elapsed
    }
}

/// CPU time (user + system) used so far by this process's children that have
/// exited and been waited for.
fn used_by_waited_children() -> Duration {
    rusage(libc::RUSAGE_CHILDREN)
}

/// `getrusage(who)`'s user and system time, summed; zero if it fails.
fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: getrusage writes one rusage struct, which we own and have zeroed.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        if libc::getrusage(who, &mut usage) != 0 {
            return Duration::ZERO;
        }
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waited_child_counts_as_locust() {
        let reading = LocustCpu::now();
        let children = used_by_waited_children();
        // A child that burns CPU for a moment, then is waited for.
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(used_by_waited_children() > children);
        let used = reading.percent_since();
        assert!(used > 0.0, "{used}");
    }

    #[test]
    fn a_grandchild_counts_once_its_parent_waited_for_it() {
        // Locust's workers are its forks, waited for by the master before it
        // exits: their time reaches us with the master's. Here the shell
        // forks a subshell that burns CPU and waits for it, doing nothing itself.
        let children = used_by_waited_children();
        let status = std::process::Command::new("sh")
            .args([
                "-c",
                "(i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done) & wait",
            ])
            .status()
            .unwrap();
        assert!(status.success());
        let used = used_by_waited_children().saturating_sub(children);
        assert!(used >= Duration::from_millis(50), "{used:?}");
    }
}
