//! Giving memory back to the OS after a burst of clients has left.
//!
//! glibc's allocator keeps freed memory resident in its arenas, and returns
//! it only from the top of the heap. Issue 12's probe
//! (tests/hostile/memory_probe.py) left the server at 27 MB against 5 MB
//! idle after 1,000 stalled 1 MiB bodies, with 0.2 MB of it in use:
//! the last bodies the budget admitted were freed by fewer than 256
//! connections closing, which was what the trim used to wait for, so it never
//! ran after them. Trimming is now decided by the memory itself: every
//! [`CHECK_EVERY`], if the allocator holds more than [`KEEP_FREE_BYTES`]
//! resident but unused, it is returned with `malloc_trim`.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::debug;

/// How often to look how much freed memory the allocator holds. A look is a
/// read of /proc/self/statm and `mallinfo2` (which walks the free lists).
const CHECK_EVERY: Duration = Duration::from_secs(10);

/// Resident memory the allocator may keep free for reuse before it is
/// returned: small against an idle server's 5 MB, and above what a server in
/// steady use keeps free, so that it does not trim and refault the same pages
/// at every check. (wrk with 64-row batches at 10, 100 and 500 connections,
/// 20 s each: one trim in 60 s, after the 500 had closed, 8.6 → 0.7 MB
/// resident in 0.9 ms.)
const KEEP_FREE_BYTES: u64 = 1 << 20;

/// Every [`CHECK_EVERY`], returns freed memory to the OS if the allocator
/// holds more than [`KEEP_FREE_BYTES`] of it resident; until `stop`.
pub(super) async fn return_freed_memory(stop: CancellationToken) {
    let mut ticks = tokio::time::interval(CHECK_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let Some(before) = usage() else {
            continue;
        };
        if before.free_resident() > KEEP_FREE_BYTES {
            let started = std::time::Instant::now();
            trim();
            let took = started.elapsed();
            if let Some(after) = usage() {
                debug!(
                    "returned freed memory to the OS in {took:?}: resident {} → {} KiB, {} KiB in use",
                    before.resident_anonymous >> 10,
                    after.resident_anonymous >> 10,
                    after.in_use >> 10,
                );
            }
        }
    }
}

/// What the process holds in memory and how much of it is allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Usage {
    /// Anonymous memory in RAM (heap, arenas, stacks): what a trim can shrink.
    resident_anonymous: u64,
    /// Bytes of live allocations, as the allocator counts them.
    in_use: u64,
}

impl Usage {
    /// Resident memory not holding any allocation: at most what a trim gives
    /// back (thread stacks and partly used pages stay). Low while large
    /// allocations are not yet written (in use, not resident); the first
    /// check after they are freed sees them.
    fn free_resident(self) -> u64 {
        self.resident_anonymous.saturating_sub(self.in_use)
    }
}

/// The process's memory now; `None` where it cannot be read (then nothing is
/// trimmed).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn usage() -> Option<Usage> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
    // SAFETY: mallinfo2 only reads the allocator's statistics (glibc ≥ 2.33).
    let info = unsafe { libc::mallinfo2() };
    // Arena chunks in use plus chunks mmapped on their own.
    let in_use = u64::try_from(info.uordblks.saturating_add(info.hblkhd)).ok()?;
    Some(Usage {
        resident_anonymous: resident_anonymous_pages(&statm)?.saturating_mul(page),
        in_use,
    })
}

/// Other allocators (musl's) return memory themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn usage() -> Option<Usage> {
    None
}

/// Resident pages that are not file-backed, from /proc/self/statm ("size
/// resident shared text lib data dt", in pages; proc(5)).
#[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
fn resident_anonymous_pages(statm: &str) -> Option<u64> {
    let mut fields = statm.split_ascii_whitespace().skip(1);
    let resident: u64 = fields.next()?.parse().ok()?;
    let shared: u64 = fields.next()?.parse().ok()?;
    Some(resident.saturating_sub(shared))
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
    fn reads_resident_anonymous_pages_from_statm() {
        assert_eq!(
            resident_anonymous_pages("4242 1258 1100 530 0 300 0\n"),
            Some(158)
        );
        assert_eq!(resident_anonymous_pages("4242 1258"), None);
        assert_eq!(resident_anonymous_pages("4242 x 1100"), None);
    }

    #[test]
    fn free_resident_is_what_no_allocation_holds() {
        let usage = Usage {
            resident_anonymous: 10 << 20,
            in_use: 3 << 20,
        };
        assert_eq!(usage.free_resident(), 7 << 20);
        let usage = Usage {
            in_use: 11 << 20,
            ..usage
        };
        assert_eq!(usage.free_resident(), 0);
    }

    /// Freed memory in the middle of the heap stays resident until trimmed,
    /// and the measure sees it come and go.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn trimming_returns_what_was_freed() {
        const FREED: u64 = 64 << 20;
        // Small blocks (under the mmap threshold), written so that their
        // pages are resident; the last one is kept so that the freed ones
        // are not at the top of the heap, which glibc returns by itself.
        let mut blocks: Vec<Vec<u8>> = (0..FREED / 4096).map(|_| vec![1u8; 4096]).collect();
        let kept = blocks.pop();
        drop(blocks);
        let freed = usage().expect("usage is readable on glibc");
        trim();
        let trimmed = usage().expect("usage is readable on glibc");
        drop(kept);
        // Other tests allocate meanwhile: half the block is margin enough.
        assert!(
            freed.free_resident() >= FREED / 2,
            "freed 64 MiB, measured {freed:?}"
        );
        assert!(
            trimmed.resident_anonymous + FREED / 2 <= freed.resident_anonymous,
            "trimming returned too little: {freed:?} → {trimmed:?}"
        );
    }
}
