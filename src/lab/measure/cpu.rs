//! CPU use of the lab's two sides over a sweep step: the servers run in this
//! process, Locust in child processes. The report needs both to say whether
//! Locust, not the servers, limited a step. (Each server's own share comes
//! from its thread's CPU clock, in `servers/cpu_clock.rs`.)

use std::time::{Duration, Instant};

/// CPU time used so far by each side, and when it was read.
#[derive(Debug, Clone, Copy)]
pub struct CpuReading {
    /// This process's: the four servers.
    servers: Duration,
    /// The children's that were waited for: Locust.
    locust: Duration,
    /// When.
    at: Instant,
}

/// CPU used between two readings, in percent of one core.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUse {
    /// Locust (every child process that exited and was waited for, with the
    /// processes they waited for: a master's workers).
    pub locust_percent: f64,
    /// The four servers (this process).
    pub servers_percent: f64,
}

impl CpuReading {
    /// Reads both sides' CPU time now.
    pub fn now() -> Self {
        CpuReading {
            servers: used_by_this_process(),
            locust: used_by_waited_children(),
            at: Instant::now(),
        }
    }

    /// CPU used since this reading. Take it after Locust was waited for: a
    /// child's time counts only once it is reaped (and so does that of the
    /// processes it waited for, such as Locust's own workers).
    pub fn use_since(&self) -> CpuUse {
        let now = CpuReading::now();
        let elapsed = now.at.duration_since(self.at).as_secs_f64().max(0.001);
        let percent = |before: Duration, after: Duration| {
            100.0 * after.saturating_sub(before).as_secs_f64() / elapsed
        };
        CpuUse {
            locust_percent: percent(self.locust, now.locust),
            servers_percent: percent(self.servers, now.servers),
        }
    }
}

/// CPU time (user + system) this process has used so far.
fn used_by_this_process() -> Duration {
    rusage(libc::RUSAGE_SELF)
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

/// CPU used between two readings of a clock, in percent of one core.
pub fn percent_of_core(used: Duration, over: Duration) -> f64 {
    100.0 * used.as_secs_f64() / over.as_secs_f64().max(0.001)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin() {
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        std::hint::black_box(x);
    }

    #[test]
    fn this_process_time_grows_with_work() {
        let before = used_by_this_process();
        spin();
        assert!(used_by_this_process() > before);
    }

    #[test]
    fn a_waited_child_counts_as_locust() {
        let reading = CpuReading::now();
        let children = used_by_waited_children();
        // A child that burns CPU for a moment, then is waited for.
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(used_by_waited_children() > children);
        let used = reading.use_since();
        assert!(used.locust_percent > 0.0, "{used:?}");
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
