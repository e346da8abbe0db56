//! The report's chart, one line per server against users: the median
//! latency Locust measured, then what each server measured itself (from its
//! `/metrics`): its time per request, and its CPU per row, where batching
//! pays. As SVG and PNG; the font is compiled in (DejaVu Sans), so the chart
//! looks the same on every machine and needs no system fonts.

use std::ops::Range;
use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use super::Step;
use crate::lab::measure::TargetStats;
use crate::lab::servers::{TARGETS, Target};

/// One colour per server (Okabe-Ito, readable with colour blindness).
const COLOURS: [RGBColor; 4] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xCC, 0x79, 0xA7),
];

/// Chart size in pixels.
const SIZE: (u32, u32) = (1650, 520);

/// Draws the chart of `steps` into an SVG and a PNG file.
pub fn draw(steps: &[Step], svg: &Path, png: &Path) -> std::io::Result<()> {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        // The font is valid: it ships with the dejavu crate.
        let _ = register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
    });
    draw_on(SVGBackend::new(svg, SIZE).into_drawing_area(), steps)
        .map_err(std::io::Error::other)?;
    draw_on(BitMapBackend::new(png, SIZE).into_drawing_area(), steps)
        .map_err(std::io::Error::other)?;
    Ok(())
}

/// Picks one statistic of a target in a step.
type Statistic = fn(&Step, &Target) -> Option<f64>;

/// One panel of the chart: one statistic of each target, against users.
struct Panel {
    /// Its caption.
    title: &'static str,
    /// What its vertical axis measures, with the unit.
    axis: &'static str,
    /// The statistic drawn.
    statistic: Statistic,
    /// The lowest top of its vertical axis.
    least_top: f64,
}

/// Locust's median, then the servers' own figures, which exclude everything
/// Locust adds (its own queueing, the network): the time a request takes in
/// the server (its median: on a shared machine a few preempted requests move
/// the mean by hundreds of µs), where batch-64 is the dearest, and the CPU a
/// row costs it, where batch-64 is the cheapest by far. Locust's panel starts
/// at 1 ms (it reports whole milliseconds).
const PANELS: [Panel; 3] = [
    Panel {
        title: "Locust: median (p50) latency",
        axis: "latency (ms)",
        statistic: |step, target| locust(step, target)?.median_ms,
        least_top: 1.0,
    },
    Panel {
        title: "each server's own time per request (median)",
        axis: "time in the server (µs)",
        statistic: |step, target| step.server_side(target.service)?.p50_us,
        least_top: 1.0,
    },
    Panel {
        title: "each server's own CPU per row",
        axis: "CPU per row (µs)",
        statistic: |step, target| step.server_side(target.service)?.cpu_us_per_row,
        least_top: 1.0,
    },
];

/// Locust's figures for `target` in `step`.
fn locust<'a>(step: &'a Step, target: &Target) -> Option<&'a TargetStats> {
    step.targets.iter().find(|t| t.name == target.name)
}

/// The chart's title.
const TITLE: &str = "wine lab under load: Locust's latency, and the servers' own time and CPU";

/// A drawing error, as text.
fn drawing<E: std::error::Error + Send + Sync>(error: DrawingAreaErrorKind<E>) -> String {
    error.to_string()
}

/// The whole chart: the note on steps Locust limited, the title, and the
/// panels side by side, on one users axis (logarithmic, each step's count a
/// key point).
fn draw_on<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, steps: &[Step]) -> Result<(), String> {
    root.fill(&WHITE).map_err(drawing)?;
    note_limited_steps(&root, steps)?;
    let root = root.margin(8, 28, 0, 0);
    let root = root.titled(TITLE, ("sans-serif", 24)).map_err(drawing)?;
    let users: Vec<f64> = steps.iter().map(|s| f64::from(s.users)).collect();
    let (low, high) = users
        .iter()
        .fold((f64::MAX, 1.0f64), |(lo, hi), &u| (lo.min(u), hi.max(u)));
    let x_range = (low.min(high) * 0.8).max(0.5)..high * 1.25;
    for (area, panel) in root.split_evenly((1, PANELS.len())).iter().zip(&PANELS) {
        draw_panel(area, panel, steps, &users, x_range.clone())?;
    }
    root.present().map_err(drawing)
}

/// Says at the chart's foot at which user counts Locust limited the steps:
/// charts travel without their report.
fn note_limited_steps<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    steps: &[Step],
) -> Result<(), String> {
    let limited: Vec<String> = steps
        .iter()
        .filter(|s| s.load_generator_limited)
        .map(|s| s.users.to_string())
        .collect();
    if limited.is_empty() {
        return Ok(());
    }
    let note = format!(
        "Locust saturated its CPU core at {} users: there it, not the servers, set the latency",
        limited.join(", ")
    );
    let (_, height) = root.dim_in_pixel();
    let style = ("sans-serif", 15).into_font().color(&RED);
    root.draw(&Text::new(note, (14, height as i32 - 24), style))
        .map_err(drawing)
}

/// One panel: its axes, one line per target (with a point per step), and
/// the legend.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    steps: &[Step],
    users: &[f64],
    x_range: Range<f64>,
) -> Result<(), String> {
    let top = steps
        .iter()
        .flat_map(|s| TARGETS.iter().filter_map(move |t| (panel.statistic)(s, t)))
        .fold(panel.least_top, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(panel.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(
            x_range.log_scale().with_key_points(users.to_vec()),
            0f64..top,
        )
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .x_desc("users")
        .y_desc(panel.axis)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(drawing)?;
    for (i, target) in TARGETS.iter().enumerate() {
        let points: Vec<(f64, f64)> = steps
            .iter()
            .filter_map(|step| Some((f64::from(step.users), (panel.statistic)(step, target)?)))
            .collect();
        let color = COLOURS[i % COLOURS.len()];
        // Earlier lines are wider, so lines that coincide (Locust rounds
        // percentiles to whole milliseconds) still show every colour.
        let width = 2 + 2 * (TARGETS.len() - 1 - i) as u32;
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(width)))
            .map_err(drawing)?
            .label(target.service)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(3))
            });
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&point| Circle::new(point, width + 2, color.filled())),
            )
            .map_err(drawing)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(drawing)
}
