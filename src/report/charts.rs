//! The race page's charts, drawn by plotters as inline SVG: latency by percentile on a log
//! "nines" axis, and throughput over time.

use super::path_model::PathReport;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

/// "Nines" on the x axis: 0 → 0, 90 → 1, 99 → 2, 99.9 → 3, … (capped for 100).
fn nines(percentile: f64) -> f64 {
    let rest = 1.0 - percentile / 100.0;
    if rest <= 1e-6 { 6.0 } else { -rest.log10() }
}

/// Latency (ms) against percentile on a log "nines" axis, one line per path, as HdrHistogram's
/// plots are drawn.
pub fn latency_chart(paths: &[PathReport]) -> String {
    let mut svg = String::new();
    let top = paths
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
        let lines = paths.iter().map(|p| {
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
pub fn throughput_chart(paths: &[PathReport]) -> String {
    let series: Vec<(String, &[f64])> = paths
        .iter()
        .map(|p| (p.name.clone(), p.throughput_samples.as_slice()))
        .collect();
    throughput_chart_marked(&series, &[])
}

/// A span of time to mark on the throughput chart (a migration under load): its label, and
/// its start and end in seconds from the start of the load.
pub struct Mark {
    pub label: String,
    pub start_s: f64,
    pub end_s: f64,
}

/// Calls/s in each 0.25 s interval, one line per (name, samples), with each mark drawn as a
/// shaded band from its start to its end, labelled.
pub fn throughput_chart_marked(series: &[(String, &[f64])], marks: &[Mark]) -> String {
    let mut svg = String::new();
    let longest = series
        .iter()
        .map(|(_, s)| s.len())
        .max()
        .unwrap_or(0)
        .max(1) as f64
        * 0.25;
    let longest = marks.iter().map(|m| m.end_s).fold(longest, f64::max);
    let top = series
        .iter()
        .flat_map(|(_, s)| s.iter().copied())
        .fold(1.0f64, f64::max);
    {
        let root = SVGBackend::with_string(&mut svg, (900, 360)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let chart = ChartBuilder::on(&root)
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..longest, 0f64..top * 1.1);
        let Ok(mut chart) = chart else {
            return String::new();
        };
        let _ = chart
            .configure_mesh()
            .x_desc("seconds into the path")
            .y_desc("calls/s")
            .draw();
        for (i, m) in marks.iter().enumerate() {
            // At least a sliver wide, so a migration of a few milliseconds still shows.
            let end = m.end_s.max(m.start_s + longest / 400.0);
            let band = Rectangle::new([(m.start_s, 0.0), (end, top * 1.1)], RED.mix(0.15).filled());
            let _ = chart.draw_series(std::iter::once(band));
            let y = top * (1.05 - 0.06 * (i % 4) as f64);
            let text = Text::new(
                m.label.clone(),
                (m.start_s, y),
                ("sans-serif", 12).into_font(),
            );
            let _ = chart.draw_series(std::iter::once(text));
        }
        let lines = series.iter().map(|(name, samples)| {
            let points = samples.iter().enumerate();
            (
                name.clone(),
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
