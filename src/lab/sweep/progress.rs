//! The sweep's progress line on stderr: which step runs and how long is left,
//! once a second on a terminal (rewriting one line), every 10 s otherwise (a
//! log file gets a line now and then, not a flood).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// Where the sweep is: the step running and what follows it.
#[derive(Debug, Clone, Copy)]
pub struct SweepPosition {
    /// The step running, from 0.
    pub index: usize,
    /// Steps in the sweep.
    pub total: usize,
    /// Users of the step running.
    pub users: u32,
    /// Length of every step.
    pub step_length: Duration,
    /// When the sweep started.
    pub sweep_started: Instant,
}

/// The progress line of one step, shown until this value drops; dropping it
/// clears the line, however the step ended.
#[derive(Debug)]
pub struct StepProgress {
    /// The task writing the line.
    task: JoinHandle<()>,
}

impl StepProgress {
    /// Starts showing progress for the step at `position`.
    pub fn show(position: SweepPosition) -> Self {
        StepProgress {
            task: tokio::spawn(show(position)),
        }
    }
}

impl Drop for StepProgress {
    fn drop(&mut self) {
        self.task.abort();
        if std::io::stderr().is_terminal() {
            eprint!("\r\x1b[K");
        }
    }
}

/// Writes the progress line of the step at `position` until aborted.
async fn show(position: SweepPosition) {
    let terminal = std::io::stderr().is_terminal();
    let step_started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(if terminal { 1 } else { 10 }));
    loop {
        tick.tick().await;
        let line = position.line(step_started.elapsed());
        let mut stderr = std::io::stderr();
        if terminal {
            let _ = write!(stderr, "\r\x1b[K{line}");
        } else {
            let _ = writeln!(stderr, "{line}");
        }
        let _ = stderr.flush();
    }
}

impl SweepPosition {
    /// The progress line, `step_elapsed` into the step.
    fn line(&self, step_elapsed: Duration) -> String {
        let step_left = self.step_length.saturating_sub(step_elapsed);
        let steps_after =
            u32::try_from(self.total.saturating_sub(self.index + 1)).unwrap_or(u32::MAX);
        let sweep_left = step_left.saturating_add(self.step_length.saturating_mul(steps_after));
        format!(
            "step {}/{}: {} users, {} s left in this step, about {} s left in the sweep (elapsed {} s)",
            self.index + 1,
            self.total,
            self.users,
            step_left.as_secs(),
            sweep_left.as_secs(),
            self.sweep_started.elapsed().as_secs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_counts_down_the_step_and_the_sweep() {
        let position = SweepPosition {
            index: 1,
            total: 4,
            users: 50,
            step_length: Duration::from_secs(30),
            sweep_started: Instant::now(),
        };
        let line = position.line(Duration::from_secs(10));
        assert!(
            line.starts_with("step 2/4: 50 users, 20 s left in this step, about 80 s left"),
            "{line}"
        );
    }
}
