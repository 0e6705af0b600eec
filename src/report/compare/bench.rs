//! `report compare` for index benchmarks: each query's after-median judged by a bootstrap
//! interval over both runs' timed samples (only a slowdown whose whole interval lies beyond the
//! threshold is a regression), its before-median and speedup shown, and an index the new run's
//! plan stopped using reported as newly failing.

use super::row::{Row, Verdict};
use crate::report::bench_model::{BenchBody, QueryReport};
use crate::report::model::Report;
use crate::stats;

/// Settings that make two index benchmarks incomparable.
pub fn incomparable(base: &BenchBody, new: &BenchBody) -> Vec<String> {
    let (a, b) = (&base.index_bench, &new.index_bench);
    let mut out = Vec::new();
    for (what, x, y) in [
        ("scale", a.scale.to_string(), b.scale.to_string()),
        ("index-bench mode", a.mode.clone(), b.mode.clone()),
        (
            "migration under test",
            a.migration.clone(),
            b.migration.clone(),
        ),
        ("seed", a.seed.to_string(), b.seed.to_string()),
        ("--as", base.ran_as().to_string(), new.ran_as().to_string()),
    ] {
        if x != y {
            out.push(format!("{what} {x} vs {y}"));
        }
    }
    out
}

/// Geometric mean of the after-medians of the queries both runs share.
fn geomean(runs: &[&QueryReport]) -> f64 {
    let logs: Vec<f64> = runs.iter().map(|q| q.after_ms.max(1e-6).ln()).collect();
    (logs.iter().sum::<f64>() / logs.len().max(1) as f64).exp()
}

/// One row per shared query metric.
///
/// A query's after-median is judged *relative to its own run*: each run's samples are divided
/// by the geometric mean of that run's after-medians before the bootstrap. Measured on the
/// 2-core machine, whole runs of the same code were 25-50% faster or slower than each other, all
/// queries together, which no interval inside one run can see; a query that lost its index or
/// its plan is still many times slower than its neighbours. A slowdown of every query alike is
/// shown (the geometric mean row) but not judged: one run per side cannot tell it from the
/// machine.
pub fn rows(base: &Report, new: &Report, threshold: f64) -> Vec<Row> {
    let mut rows = Vec::new();
    let (Some(base), Some(new)) = (base.bench(), new.bench()) else {
        return rows;
    };
    let shared: Vec<(&QueryReport, &QueryReport)> = base
        .queries
        .iter()
        .filter_map(|b| {
            new.queries
                .iter()
                .find(|q| q.name == b.name)
                .map(|n| (b, n))
        })
        .collect();
    if shared.is_empty() {
        return rows;
    }
    let gb = geomean(&shared.iter().map(|(b, _)| *b).collect::<Vec<_>>());
    let gn = geomean(&shared.iter().map(|(_, n)| *n).collect::<Vec<_>>());
    let change = |x: f64, y: f64| (x > 0.0).then(|| ((y / x - 1.0) * 1000.0).round() / 10.0);
    rows.push(Row {
        metric: "all queries: geometric mean of after medians, ms".into(),
        base: format!("{gb:.3}"),
        new: format!("{gn:.3}"),
        change_pct: change(gb, gn),
        verdict: Verdict::NotJudged,
    });
    for (b, n) in shared {
        let scaled = |v: &[f64], g: f64| v.iter().map(|x| x / g).collect::<Vec<f64>>();
        // new/base > 1 is slower, relative to each run's own pace.
        let verdict = match stats::speedup(
            &scaled(&n.samples_after_ms, gn),
            &scaled(&b.samples_after_ms, gb),
            stats::Bootstrap::default(),
        ) {
            Some((_, ci)) => {
                Verdict::of_slowdown([ci.low, ci.high], threshold, 1.0 / (1.0 + threshold))
            }
            None => Verdict::NotJudged,
        };
        rows.push(Row {
            metric: format!("{} after median ms (judged relative to its run)", b.name),
            base: format!("{:.3}", b.after_ms),
            new: format!("{:.3}", n.after_ms),
            change_pct: change(b.after_ms, n.after_ms),
            verdict,
        });
        rows.push(Row {
            metric: format!("{} before median ms", b.name),
            base: format!("{:.3}", b.before_ms),
            new: format!("{:.3}", n.before_ms),
            change_pct: change(b.before_ms, n.before_ms),
            verdict: Verdict::NotJudged,
        });
        rows.push(Row {
            metric: format!("{} speedup", b.name),
            base: format!(
                "{:.1}x [{:.1}, {:.1}]",
                b.speedup, b.speedup_ci[0], b.speedup_ci[1]
            ),
            new: format!(
                "{:.1}x [{:.1}, {:.1}]",
                n.speedup, n.speedup_ci[0], n.speedup_ci[1]
            ),
            change_pct: change(b.speedup, n.speedup),
            verdict: Verdict::NotJudged,
        });
        rows.push(Row {
            metric: format!("{} uses {}", b.name, b.index),
            base: b.uses_index.to_string(),
            new: n.uses_index.to_string(),
            change_pct: None,
            verdict: if b.uses_index && !n.uses_index {
                Verdict::NewlyFailing
            } else {
                Verdict::NoChange
            },
        });
    }
    {
        let (a, b) = (base.load_rows_per_s, new.load_rows_per_s);
        rows.push(Row {
            metric: "load rows/s".into(),
            base: format!("{a:.0}"),
            new: format!("{b:.0}"),
            change_pct: (a > 0.0).then(|| ((b / a - 1.0) * 1000.0).round() / 10.0),
            verdict: Verdict::NotJudged,
        });
    }
    rows
}
