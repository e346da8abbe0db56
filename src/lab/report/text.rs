//! The text rendering: the table printed after each step, one row per server,
//! with the bottleneck note when Locust limited the step.

use std::fmt::Write as _;

use super::{COLUMNS, Step, cells};

/// Widths of the text table's columns after the first.
const COLUMN_WIDTHS: [usize; 12] = [9, 8, 9, 7, 11, 10, 11, 10, 10, 10, 10, 10];

/// The step as a text table with a heading and, if needed, the bottleneck
/// note. Columns `srv ...` and `CPU ...` are the servers' own figures, from
/// their `/metrics`.
pub fn step_table(step: &Step) -> String {
    let mut out = format!(
        "{} users (spawn rate {}/s, {} s; Locust: {}): Locust used {:.0}% of a CPU core, the four servers {:.0}%\n",
        step.users,
        step.spawn_rate,
        step.duration_s,
        step.load_generator(),
        step.locust_cpu_percent,
        step.servers_cpu_percent
    );
    let line = |cells: [&str; COLUMNS.len()]| {
        let mut line = format!("{:<10}", cells[0]);
        for (cell, width) in cells[1..].iter().zip(COLUMN_WIDTHS) {
            let _ = write!(line, " {cell:>width$}");
        }
        line
    };
    let _ = writeln!(out, "{}", line(COLUMNS));
    for t in &step.targets {
        let cells = cells(t, step.server_side(&t.server));
        let _ = writeln!(out, "{}", line(cells.each_ref().map(String::as_str)));
    }
    if let Some(note) = step.bottleneck_note() {
        let _ = writeln!(out, "note: {note}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::report::tests::sample_step;
    use crate::lab::servers::TARGETS;

    #[test]
    fn one_aligned_row_per_server_and_the_note_when_locust_limited() {
        let calm = step_table(&sample_step(10, 40.0));
        let lines: Vec<&str> = calm.lines().collect();
        assert_eq!(lines.len(), 2 + TARGETS.len(), "{calm}");
        assert!(lines[1].starts_with("server "), "{calm}");
        for (line, target) in lines[2..].iter().zip(TARGETS) {
            assert!(
                line.starts_with(&format!("{:<10} ", target.service)),
                "{calm}"
            );
            assert_eq!(
                line.chars().count(),
                lines[1].chars().count(),
                "columns line up: {calm}"
            );
        }
        assert!(!calm.contains("note:"));
        let busy = step_table(&sample_step(500, 97.0));
        assert!(
            busy.contains("note: Locust used 97% of a CPU core"),
            "{busy}"
        );
    }
}
