//! The CPU clock of one thread of this process: how the lab tells its four
//! in-process servers' CPU use apart (each runs on a thread of its own; a
//! process-wide figure such as `getrusage` sums all four).

use std::time::Duration;

/// A thread's CPU clock (`pthread_getcpuclockid`).
#[derive(Debug, Clone, Copy)]
pub struct ThreadCpuClock(libc::clockid_t);

impl ThreadCpuClock {
    /// The clock of the thread behind `handle`.
    pub fn of<T>(handle: &std::thread::JoinHandle<T>) -> Option<Self> {
        use std::os::unix::thread::JoinHandleExt;
        let mut clock: libc::clockid_t = 0;
        // SAFETY: the thread is joinable (not yet joined: we hold its
        // handle), and the call writes one clockid_t that we own.
        let status = unsafe { libc::pthread_getcpuclockid(handle.as_pthread_t(), &mut clock) };
        (status == 0).then_some(ThreadCpuClock(clock))
    }

    /// CPU time the thread has used so far (`None` once it has ended).
    pub fn used(&self) -> Option<Duration> {
        // SAFETY: clock_gettime writes one timespec that we own.
        let time = unsafe {
            let mut time: libc::timespec = std::mem::zeroed();
            if libc::clock_gettime(self.0, &mut time) != 0 {
                return None;
            }
            time
        };
        Some(Duration::new(
            u64::try_from(time.tv_sec).ok()?,
            u32::try_from(time.tv_nsec).ok()?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_thread_clock_counts_that_thread_only() {
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let busy = std::thread::spawn(move || {
            let started = Instant::now();
            while started.elapsed() < Duration::from_millis(100) {
                std::hint::spin_loop();
            }
            let _ = wait.recv();
        });
        let (stop_idle, idle_wait) = std::sync::mpsc::channel::<()>();
        let idle = std::thread::spawn(move || {
            let _ = idle_wait.recv();
        });
        let busy_clock = ThreadCpuClock::of(&busy).unwrap();
        let idle_clock = ThreadCpuClock::of(&idle).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let (busy_used, idle_used) = (busy_clock.used().unwrap(), idle_clock.used().unwrap());
        assert!(busy_used > Duration::from_millis(5), "{busy_used:?}");
        assert!(idle_used < busy_used, "{idle_used:?} vs {busy_used:?}");
        done.send(()).unwrap();
        stop_idle.send(()).unwrap();
        busy.join().unwrap();
        idle.join().unwrap();
    }
}
