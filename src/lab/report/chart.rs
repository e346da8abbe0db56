//! The report's chart: median and p95 latency against users as Locust
//! measured it, and the median each server measured itself (from its
//! `/metrics`), one line per server, as SVG and PNG. The font is compiled in (DejaVu Sans), so the chart
//! looks the same on every machine and needs no system fonts.

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

/// One panel per statistic: Locust's two, then the servers' own median,
/// which excludes everything Locust adds (its own queueing, the network).
const PANELS: [(&str, Statistic); 3] = [
    ("Locust: median (p50) latency", |step, target| {
        locust(step, target)?.median_ms
    }),
    ("Locust: 95th percentile latency", |step, target| {
        locust(step, target)?.p95_ms
    }),
    ("server-side median (p50), from /metrics", |step, target| {
        step.server_side(target.service)?.p50_ms
    }),
];

fn locust<'a>(step: &'a Step, target: &Target) -> Option<&'a TargetStats> {
    step.targets.iter().find(|t| t.name == target.name)
}

fn draw_on<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, steps: &[Step]) -> Result<(), String> {
    let error = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(error)?;
    let limited: Vec<String> = steps
        .iter()
        .filter(|s| s.load_generator_limited)
        .map(|s| s.users.to_string())
        .collect();
    if !limited.is_empty() {
        // Said on the chart itself, since charts travel without their report.
        let note = format!(
            "Locust saturated its CPU core at {} users: there it, not the servers, set the latency",
            limited.join(", ")
        );
        let (_, height) = root.dim_in_pixel();
        let style = ("sans-serif", 15).into_font().color(&RED);
        root.draw(&Text::new(note, (14, height as i32 - 24), style))
            .map_err(error)?;
    }
    let root = root.margin(0, 28, 0, 0);
    let root = root
        .titled(
            "wine lab: latency under load (Locust, and the servers' own)",
            ("sans-serif", 24),
        )
        .map_err(error)?;
    let users: Vec<f64> = steps.iter().map(|s| f64::from(s.users)).collect();
    let (low, high) = users
        .iter()
        .fold((f64::MAX, 1.0f64), |(lo, hi), &u| (lo.min(u), hi.max(u)));
    let x_range = (low.min(high) * 0.8).max(0.5)..high * 1.25;

    for (index, (panel, (label, statistic))) in root
        .split_evenly((1, PANELS.len()))
        .iter()
        .zip(PANELS)
        .enumerate()
    {
        let values = steps
            .iter()
            .flat_map(|s| TARGETS.iter().filter_map(move |t| statistic(s, t)));
        // Locust's panels start at 1 ms (it reports whole milliseconds);
        // the servers' own times are tens of microseconds.
        let floor = if index < 2 { 1.0 } else { 0.001 };
        let top = values.fold(floor, f64::max) * 1.15;
        let mut chart = ChartBuilder::on(panel)
            .caption(label, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(55)
            .build_cartesian_2d(
                x_range.clone().log_scale().with_key_points(users.clone()),
                0f64..top,
            )
            .map_err(error)?;
        let server_format = |y: &f64| format!("{y:.3}");
        let mut mesh = chart.configure_mesh();
        mesh.x_desc("users")
            .y_desc("latency (ms)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .label_style(("sans-serif", 14));
        if index >= 2 {
            mesh.y_label_formatter(&server_format);
        }
        mesh.draw().map_err(error)?;
        for (i, target) in TARGETS.iter().enumerate() {
            let points: Vec<(f64, f64)> = steps
                .iter()
                .filter_map(|step| Some((f64::from(step.users), statistic(step, target)?)))
                .collect();
            let color = COLOURS[i % COLOURS.len()];
            // Earlier lines are wider, so lines that coincide (Locust rounds
            // percentiles to whole milliseconds) still show every colour.
            let width = 2 + 2 * (TARGETS.len() - 1 - i) as u32;
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(width)))
                .map_err(error)?
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
                .map_err(error)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(error)?;
    }
    root.present().map_err(error)
}
