//! Markdown and HTML views of an index-benchmark report: the query table first (medians,
//! speedup with its interval, index used), then the data, what is still unindexed, the plans.

use super::bench_model::{BenchBody, IndexBench, QueryReport};
use super::model::Report;
use super::page::{fill, header};
use crate::stats;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use serde::Serialize;
use std::fmt::Write;

const TEMPLATE: &str = include_str!("templates/bench.html");

/// The two states' names: "before"/"after", or "A"/"A′" for a calibration run.
fn sides(b: &BenchBody) -> (&'static str, &'static str) {
    match b.index_bench.mode.as_str() {
        "a-a" => ("A", "A′"),
        _ => ("before", "after"),
    }
}

fn ci(q: &QueryReport) -> String {
    format!("[{:.2}, {:.2}]", q.speedup_ci[0], q.speedup_ci[1])
}

fn data_line(b: &IndexBench) -> String {
    let d = &b.data;
    let mut s = format!(
        "{} rows in {} tables at scale {} (seed {}), loaded by COPY in {:.2} s: {:.0} rows/s; \
            foreign-key checks {}; VACUUM (ANALYZE) {:.2} s.",
        d.rows,
        d.tables.len(),
        b.scale,
        b.seed,
        d.seconds,
        d.rows_per_s,
        d.foreign_key_checks,
        d.vacuum_analyze_s
    );
    if let Some(m) = b.migration_s {
        let _ = write!(
            s,
            " Migration {} applied in {m:.2} s on this data.",
            b.migration
        );
    }
    s
}

fn timing_line(b: &IndexBench) -> String {
    let missing = b
        .missing_share
        .map(|m| format!(" ({:.0}% match nothing)", m * 100.0))
        .unwrap_or_default();
    format!(
        "Timing: {} warm-up runs, then at least {} timed runs (up to {}, or {:.1} s) per query \
         and state, client round trip with all rows fetched, random sampled parameters{missing}; \
         speedup = median before / median after, {:.0}% bootstrap interval; throughput with {} \
         clients for {:.1} s. Session settings: {}.",
        b.warmup,
        b.min_runs,
        b.max_runs,
        b.time_per_query_s,
        b.confidence * 100.0,
        b.workers,
        b.throughput_time_s,
        b.session_settings.join("; ")
    )
}

fn fks(b: &BenchBody) -> Vec<String> {
    b.unindexed_foreign_keys
        .iter()
        .map(|f| {
            let mut s = format!(
                "{}({}) → {} [{}]",
                f.table,
                f.columns.join(", "),
                f.references,
                f.constraint
            );
            if let Some(p) = &f.partial_index_not_counted {
                let _ = write!(
                    s,
                    " — partial index {p} not counted: its predicate does not \
                    serve the key's lookups"
                );
            }
            s
        })
        .collect()
}

/// Renders an index benchmark as Markdown.
pub fn markdown(r: &Report, b: &BenchBody) -> String {
    let mut s = header(r);
    let (before, after) = sides(b);
    let _ = writeln!(
        s,
        "| query | index | {before} ms | {after} ms | speedup | interval | index used | q/s \
            {before} → {after} |\n|---|---|---:|---:|---:|---|---|---:|"
    );
    for q in &b.queries {
        let _ = writeln!(
            s,
            "| {} | {} | {:.3} | {:.3} | {:.1}x{} | {} | {} | {:.0} → {:.0} |",
            q.name,
            q.index,
            q.before_ms,
            q.after_ms,
            q.speedup,
            if q.proven { "" } else { " (not proven)" },
            ci(q),
            if q.uses_index { "yes" } else { "**no**" },
            q.throughput_before_qps,
            q.throughput_after_qps
        );
    }
    let _ = writeln!(s, "\n{}\n", data_line(&b.index_bench));
    let fk = fks(b);
    if !fk.is_empty() {
        let _ = writeln!(
            s,
            "Foreign keys still without a supporting index ({}):\n",
            fk.len()
        );
        for f in fk {
            let _ = writeln!(s, "- {f}");
        }
        s.push('\n');
    }
    let _ = writeln!(s, "{}\n", timing_line(&b.index_bench));
    let _ = writeln!(
        s,
        "loadtest {} · run {} at {} · PostgreSQL {} ({}) · migrations {} ({})",
        r.tool.version,
        r.run_id,
        r.started_at,
        r.database.server_version,
        r.database.mode,
        r.migrations.source,
        &r.migrations.fingerprint[..r.migrations.fingerprint.len().min(12)]
    );
    let _ = writeln!(s, "{}", super::page::command_line(r));
    s
}

#[derive(Serialize)]
struct Context<'a> {
    scenario: &'a str,
    description: &'a str,
    verdict: &'a str,
    verdict_label: &'static str,
    failures: &'a [String],
    warnings: &'a [String],
    before: &'static str,
    after: &'static str,
    confidence: String,
    workers: usize,
    queries: Vec<Row>,
    chart_svg: String,
    data: String,
    fks: Vec<String>,
    timing: String,
    footer: String,
}

#[derive(Serialize)]
struct Row {
    name: String,
    index: String,
    before: String,
    after: String,
    p95: String,
    speedup: String,
    ci: String,
    uses_index: &'static str,
    qps: String,
    params: String,
    plan_before: String,
    plan_after: String,
}

/// Renders an index benchmark as a self-contained HTML page.
pub fn html(r: &Report, b: &BenchBody) -> String {
    let (before, after) = sides(b);
    let confidence = b.index_bench.confidence;
    let ctx = Context {
        scenario: &r.scenario,
        description: &r.description,
        verdict: r.verdict.name(),
        verdict_label: r.verdict.label(),
        failures: &r.failures,
        warnings: &r.warnings,
        before,
        after,
        confidence: format!("{:.0}%", confidence * 100.0),
        workers: b.index_bench.workers,
        queries: b
            .queries
            .iter()
            .map(|q| Row {
                name: q.name.clone(),
                index: q.index.clone(),
                before: format!("{:.3}", q.before_ms),
                after: format!("{:.3}", q.after_ms),
                p95: format!("{:.3} → {:.3}", q.before_p95_ms, q.after_p95_ms),
                speedup: format!("{:.1}x", q.speedup),
                ci: ci(q),
                uses_index: if q.uses_index { "yes" } else { "NO" },
                qps: format!(
                    "{:.0} → {:.0}",
                    q.throughput_before_qps, q.throughput_after_qps
                ),
                params: q.representative_params.join(", "),
                plan_before: q.plan_before_text.clone(),
                plan_after: q.plan_after_text.clone(),
            })
            .collect(),
        chart_svg: chart(b, before, after, confidence),
        data: data_line(&b.index_bench),
        fks: fks(b),
        timing: timing_line(&b.index_bench),
        footer: format!(
            "loadtest {} · run {} at {} · PostgreSQL {} ({}) · {}",
            r.tool.version,
            r.run_id,
            r.started_at,
            r.database.server_version,
            r.database.mode,
            super::page::command_line(r)
        ),
    };
    fill("bench", TEMPLATE, &ctx)
}

/// One state of one query as charted: its median in ms (at least 1 µs, for the log axis) and
/// the bootstrap interval of that median.
type Bar = (f64, [f64; 2]);

/// Two bars per query (median before, median after) on a log millisecond axis, each with a
/// whisker for the bootstrap interval of its median.
fn chart(b: &BenchBody, before: &str, after: &str, confidence: f64) -> String {
    if b.queries.is_empty() {
        return String::new();
    }
    let bars = bars(b, confidence);
    let (lo, hi) = y_range(&bars);
    let names: Vec<String> = b.queries.iter().map(|q| q.name.clone()).collect();
    draw(&names, &bars, [before, after], lo, hi)
}

/// The before and after bar of each query, with the intervals bootstrapped from the samples.
fn bars(b: &BenchBody, confidence: f64) -> Vec<[Bar; 2]> {
    b.queries
        .iter()
        .map(|q| {
            let side = |median: f64, samples: &[f64]| {
                (
                    median.max(1e-3),
                    stats::median_interval(samples, stats::Bootstrap::at(confidence))
                        .map_or([median, median], |ci| ci.bounds()),
                )
            };
            [
                side(q.before_ms, &q.samples_before_ms),
                side(q.after_ms, &q.samples_after_ms),
            ]
        })
        .collect()
}

/// The log axis' range: half the lowest bar or whisker end (at least 1 µs) to twice the highest.
fn y_range(bars: &[[Bar; 2]]) -> (f64, f64) {
    let lo = bars
        .iter()
        .flatten()
        .map(|(m, c)| m.min(c[0]))
        .fold(f64::MAX, f64::min)
        .max(1e-3)
        / 2.0;
    let hi = bars
        .iter()
        .flatten()
        .map(|(m, c)| m.max(c[1]))
        .fold(0.0, f64::max)
        * 2.0;
    (lo, hi)
}

/// The SVG: the axes with each query's name under its pair of bars, both sides, the legend.
fn draw(names: &[String], bars: &[[Bar; 2]], labels: [&str; 2], lo: f64, hi: f64) -> String {
    let n = names.len();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 460)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let Ok(mut c) = ChartBuilder::on(&root)
            .margin(15)
            .x_label_area_size(130)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..n as f64, (lo..hi).log_scale())
        else {
            return String::new();
        };
        let _ = c
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - i as f64 - 0.5).abs() < 0.01 {
                    names.get(i).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_label_style(
                ("sans-serif", 11)
                    .into_font()
                    .transform(FontTransform::Rotate90),
            )
            .y_desc("median ms (log)")
            .draw();
        let colors = [RGBColor(207, 34, 46), RGBColor(26, 127, 55)];
        for (k, label) in labels.iter().enumerate() {
            draw_side(&mut c, bars, k, label, colors[k], lo);
        }
        let _ = c
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw();
        let _ = root.present();
    }
    svg
}

/// The k-th bar of every pair (0 before, 1 after) with its legend entry, then their whiskers.
fn draw_side(
    c: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<RangedCoordf64, LogCoord<f64>>>,
    bars: &[[Bar; 2]],
    k: usize,
    label: &str,
    color: RGBColor,
    lo: f64,
) {
    let rects = bars.iter().enumerate().map(|(i, b)| {
        let x0 = i as f64 + 0.1 + 0.4 * k as f64;
        Rectangle::new([(x0, lo), (x0 + 0.35, b[k].0)], color.mix(0.7).filled())
    });
    if let Ok(series) = c.draw_series(rects) {
        series
            .label(label.to_string())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.filled()));
    }
    let whiskers = bars.iter().enumerate().map(|(i, b)| {
        let x = i as f64 + 0.275 + 0.4 * k as f64;
        PathElement::new(
            vec![(x, b[k].1[0].max(lo)), (x, b[k].1[1])],
            BLACK.stroke_width(2),
        )
    });
    let _ = c.draw_series(whiskers);
}
