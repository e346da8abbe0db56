//! The HTML rendering, `index.html`: the report's front page, with the
//! chart, links to the data and to Locust's own reports, and one table per step.

use std::fmt::Write as _;

use super::{CHART_PNG, CHART_SVG, COLUMNS, SUMMARY_CSV, SUMMARY_JSON, Summary, cells};

/// Minimal HTML escaping for text from the environment.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report's `index.html`.
pub fn index_html(summary: &Summary) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>wine-lab latency report</title>\n<style>\
         body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}\
         table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}\
         td:first-child,th:first-child{text-align:left}.note{background:#fff4d6;padding:.5em;border-left:4px solid #e0a800}\
         img{max-width:100%}</style></head><body>\n<h1>Latency of the wine lab's four servers</h1>\n",
    );
    let _ = writeln!(
        html,
        "<p>{} on {} ({} cores, {}); {}; model sha256 <code>{}</code>; started {} UTC; {} s per step.{}</p>",
        escape(&summary.tool),
        escape(&summary.machine.cpu),
        summary.machine.cores,
        escape(&summary.machine.os),
        escape(&summary.locust_version),
        escape(&summary.model_sha256),
        escape(&summary.started),
        summary.duration_s,
        if summary.complete {
            ""
        } else {
            " <strong>The sweep stopped early: only finished steps are shown.</strong>"
        },
    );
    let _ = writeln!(
        html,
        "<p><img src=\"{CHART_SVG}\" alt=\"against users: Locust's median latency, each server's own time per request and its CPU per row\"></p>"
    );
    html.push_str(
        "<p>Columns <em>srv</em> and <em>CPU</em> are each server's own figures, as Locust's Servers tab read them from its \
         <code>GET /metrics</code> over the step (<code>locust_servers.csv</code> in the step's folder): the time from the request's \
         headers parsed to its response handed to the connection (the mean exactly, from the histogram's sum and count; \
         percentiles interpolated within its buckets as Prometheus' <code>histogram_quantile</code> does), and the CPU time of \
         the server's thread per request and per row. The other columns are Locust's, and include the time Locust itself \
         takes.</p>\n",
    );
    let _ = writeln!(
        html,
        "<p>Data: <a href=\"{SUMMARY_CSV}\">{SUMMARY_CSV}</a>, <a href=\"{SUMMARY_JSON}\">{SUMMARY_JSON}</a>, chart as <a href=\"{CHART_PNG}\">PNG</a>.</p>"
    );
    for step in &summary.steps {
        let _ = writeln!(
            html,
            "<h2>{} users</h2>\n<p>Spawn rate {}/s, {} s, Locust: {}. Locust used {:.0}% of a CPU core, the four servers {:.0}%. Locust's own report: <a href=\"{dir}/locust.html\">HTML</a>, <a href=\"{dir}/locust_stats.csv\">CSV</a>, <a href=\"{dir}/locust.log\">log</a>.</p>",
            step.users,
            step.spawn_rate,
            step.duration_s,
            escape(&step.load_generator()),
            step.locust_cpu_percent,
            step.servers_cpu_percent,
            dir = escape(&step.locust_output),
        );
        if let Some(note) = step.bottleneck_note() {
            let _ = writeln!(html, "<p class=\"note\">{}</p>", escape(&note));
        }
        let row = |tag: &str, cells: &[String]| {
            let cells: String = cells
                .iter()
                .map(|c| format!("<{tag}>{}</{tag}>", escape(c)))
                .collect();
            format!("<tr>{cells}</tr>\n")
        };
        html.push_str("<table>");
        html.push_str(&row("th", &COLUMNS.map(str::to_owned)));
        for t in &step.targets {
            html.push_str(&row("td", &cells(t, step.server_side(&t.server))));
        }
        html.push_str("</table>\n");
    }
    html.push_str("</body></html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::report::tests::sample_summary;

    #[test]
    fn text_from_the_environment_is_escaped() {
        let mut summary = sample_summary();
        summary.machine.cpu = "<script>\"x\" & y</script>".into();
        let html = index_html(&summary);
        assert!(html.contains("&lt;script&gt;&quot;x&quot; &amp; y&lt;/script&gt;"));
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn an_early_stop_is_said_and_every_step_has_a_table() {
        let mut summary = sample_summary();
        let html = index_html(&summary);
        assert!(html.contains("stopped early"));
        assert_eq!(html.matches("<table>").count(), summary.steps.len());
        assert!(html.contains("users-0050/locust.html"));
        summary.complete = true;
        assert!(!index_html(&summary).contains("stopped early"));
    }
}
