//! The HTML view: one self-contained file (no external scripts, styles or fonts) with charts
//! drawn by plotters as inline SVG, filled into a tinytemplate from a serialized context; the
//! template never sees the database and the report is never concatenated by hand.

use super::model::Report;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use serde::Serialize;

const TEMPLATE: &str = include_str!("templates/report.html");

#[derive(Serialize)]
struct Context<'a> {
    scenario: &'a str,
    description: &'a str,
    verdict: &'a str,
    verdict_label: &'static str,
    failures: &'a [String],
    warnings: &'a [String],
    paths: Vec<PathRow>,
    counters: Vec<CounterRow>,
    latency_svg: String,
    throughput_svg: String,
    footer: String,
}

#[derive(Serialize)]
struct PathRow {
    name: String,
    kind: String,
    expect: String,
    held: &'static str,
    ops_ok: u64,
    ops_failed: u64,
    throughput: String,
    p50: u64,
    p99: u64,
    max: u64,
    lost: String,
}

#[derive(Serialize)]
struct CounterRow {
    path: String,
    column: String,
    expected: String,
    actual: String,
    missing: String,
    extra: String,
}

/// Renders a run as a self-contained HTML page.
pub fn render(r: &Report) -> String {
    if r.index_bench.is_some() {
        return super::bench_view::html(r);
    }
    let ctx = Context {
        scenario: &r.scenario,
        description: &r.description,
        verdict: &r.verdict,
        verdict_label: if r.verdict == "pass" { "PASS" } else { "FAIL" },
        failures: &r.failures,
        warnings: &r.warnings,
        paths: r
            .paths
            .iter()
            .map(|p| PathRow {
                name: p.name.clone(),
                kind: p.kind.clone(),
                expect: p.expect.clone(),
                held: if p.expectation_held { "yes" } else { "NO" },
                ops_ok: p.ops_ok,
                ops_failed: p.ops_failed,
                throughput: format!("{:.0}", p.throughput_ops_s),
                p50: p.latency_us.p50,
                p99: p.latency_us.p99,
                max: p.latency_us.max,
                lost: if p.lost_updates_exact || p.lost_updates == 0 {
                    p.lost_updates.to_string()
                } else {
                    format!("≥ {}", p.lost_updates)
                },
            })
            .collect(),
        counters: r
            .paths
            .iter()
            .flat_map(|p| {
                p.counters.iter().map(move |c| CounterRow {
                    path: p.name.clone(),
                    column: c.column.clone(),
                    expected: c.expected.clone(),
                    actual: c.actual.clone(),
                    missing: c.missing.clone(),
                    extra: c.extra.clone(),
                })
            })
            .collect(),
        latency_svg: latency_chart(r),
        throughput_svg: throughput_chart(r),
        footer: format!(
            "loadtest {} · run {} at {} · PostgreSQL {} ({}) · {} workers, {} connections, seed {}",
            r.tool.version,
            r.run_id,
            r.started_at,
            r.database.server_version,
            r.database.mode,
            r.settings.workers,
            r.settings.connections,
            r.settings.seed
        ),
    };
    fill("report", TEMPLATE, &ctx)
}

/// Fills one of the compiled-in page templates. `{x | unescaped}` inserts markup we drew
/// ourselves (the SVG charts); everything else is HTML-escaped by tinytemplate. The templates
/// are part of the binary and tested, so a parse or render failure is a bug, not input.
pub(super) fn fill(name: &str, template: &str, ctx: &impl Serialize) -> String {
    let mut tt = tinytemplate::TinyTemplate::new();
    tt.add_template(name, template)
        .expect("a compiled-in template parses");
    tt.add_formatter("unescaped", |v, out| {
        if let serde_json::Value::String(s) = v {
            out.push_str(s);
        }
        Ok(())
    });
    tt.render(name, ctx)
        .expect("a compiled-in template renders its context")
}

/// "Nines" on the x axis: 0 → 0, 90 → 1, 99 → 2, 99.9 → 3, … (capped for 100).
fn nines(percentile: f64) -> f64 {
    let rest = 1.0 - percentile / 100.0;
    if rest <= 1e-6 { 6.0 } else { -rest.log10() }
}

/// Latency (ms) against percentile on a log "nines" axis, one line per path, as HdrHistogram's
/// plots are drawn.
fn latency_chart(r: &Report) -> String {
    let mut svg = String::new();
    let top = r
        .paths
        .iter()
        .flat_map(|p| p.latency_percentiles.iter().map(|pt| pt[1]))
        .fold(1.0f64, f64::max)
        / 1000.0;
    {
        let root = SVGBackend::with_string(&mut svg, (900, 420)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let chart = ChartBuilder::on(&root)
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..6f64, 0f64..top * 1.05);
        let Ok(mut chart) = chart else {
            return String::new();
        };
        let _ = chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("latency (ms)")
            .x_labels(7)
            .x_label_formatter(&|x| match x.round() as i32 {
                0 => "0%".into(),
                1 => "90%".into(),
                2 => "99%".into(),
                3 => "99.9%".into(),
                4 => "99.99%".into(),
                5 => "99.999%".into(),
                _ => "100%".into(),
            })
            .draw();
        let lines = r.paths.iter().map(|p| {
            let points = p
                .latency_percentiles
                .iter()
                .map(|pt| (nines(pt[0]), pt[1] / 1000.0));
            (p.name.clone(), points.collect())
        });
        draw_lines(&mut chart, lines, SeriesLabelPosition::UpperLeft);
        let _ = root.present();
    }
    svg
}

/// Calls/s in each 0.25 s interval, one line per path.
fn throughput_chart(r: &Report) -> String {
    let mut svg = String::new();
    let longest = r
        .paths
        .iter()
        .map(|p| p.throughput_samples.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let top = r
        .paths
        .iter()
        .flat_map(|p| p.throughput_samples.iter().copied())
        .fold(1.0f64, f64::max);
    {
        let root = SVGBackend::with_string(&mut svg, (900, 360)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let chart = ChartBuilder::on(&root)
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..longest as f64 * 0.25, 0f64..top * 1.1);
        let Ok(mut chart) = chart else {
            return String::new();
        };
        let _ = chart
            .configure_mesh()
            .x_desc("seconds into the path")
            .y_desc("calls/s")
            .draw();
        let lines = r.paths.iter().map(|p| {
            let points = p.throughput_samples.iter().enumerate();
            (
                p.name.clone(),
                points.map(|(k, v)| ((k + 1) as f64 * 0.25, *v)).collect(),
            )
        });
        draw_lines(&mut chart, lines, SeriesLabelPosition::UpperRight);
        let _ = root.present();
    }
    svg
}

/// One coloured line per (name, points), with a legend.
fn draw_lines<'a>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    lines: impl Iterator<Item = (String, Vec<(f64, f64)>)>,
    legend_at: SeriesLabelPosition,
) {
    for (i, (name, points)) in lines.enumerate() {
        let color = Palette99::pick(i).to_rgba();
        if let Ok(series) = chart.draw_series(LineSeries::new(points, color.stroke_width(2))) {
            series
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
    }
    let _ = chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(legend_at)
        .draw();
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_is_self_contained_with_two_charts() {
        let r: crate::report::model::Report =
            serde_json::from_str(include_str!("../../reports/example-token-race.json")).unwrap();
        let html = super::render(&r);
        assert_eq!(html.matches("<svg").count(), 2);
        assert!(
            html.contains("<polyline") || html.contains("<path"),
            "charts have lines"
        );
        assert!(!html.contains("<script"));
        assert!(!html.contains("http://") || html.contains("http://www.w3.org/2000/svg"));
        assert!(html.contains("token-race — <span class=\"pass\">PASS</span>"));
    }
}
