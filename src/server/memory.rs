//! Giving memory back to the OS after a burst of connections has closed.
//!
//! glibc's allocator keeps freed memory in its arenas: after 1,000 stalled
//! 1 MiB bodies had been refused and closed, the server stayed at 28 MB
//! against 11 MB idle; `malloc_trim(0)` (called from gdb) took it to 12 MB
//! (issue 12; the probe is tests/hostile/memory_probe.py). Trimming walks
//! and locks every arena, so it is done only after many connections have
//! closed, not on a timer alone nor per connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How often to look whether connections have closed.
const CHECK_EVERY: Duration = Duration::from_secs(10);

/// Closed connections since the last check that make a burst worth trimming after.
const BURST: usize = 256;

/// Count of closed connections, shared by the connection tasks.
#[derive(Clone, Default)]
pub(super) struct ClosedConnections(Arc<AtomicUsize>);

impl ClosedConnections {
    /// Records that a connection has ended.
    pub(super) fn count_one(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// How many have ended since the last call.
    fn take(&self) -> usize {
        self.0.swap(0, Ordering::Relaxed)
    }
}

/// Every [`CHECK_EVERY`], returns freed memory to the OS if at least
/// [`BURST`] connections closed meanwhile; until `stop`.
pub(super) async fn return_freed_memory(closed: ClosedConnections, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(CHECK_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if closed.take() >= BURST {
            trim();
        }
    }
}

/// Returns the allocator's free pages to the OS.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim only releases memory the allocator holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators (musl's) return memory themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_reset_when_taken() {
        let closed = ClosedConnections::default();
        for _ in 0..3 {
            closed.clone().count_one();
        }
        assert_eq!(closed.take(), 3);
        assert_eq!(closed.take(), 0);
    }
}
