//! `report compare` for index benchmarks: each query's after-median judged by a bootstrap
//! interval over both runs' timed samples (only a slowdown whose whole interval lies beyond the
//! threshold is a regression), its before-median and speedup shown, and an index the new run's
//! plan stopped using reported as newly failing.

use super::Report;
use super::compare::{Row, Verdict};
use crate::stats;

/// Settings that make two index benchmarks incomparable.
pub fn incomparable(base: &Report, new: &Report) -> Vec<String> {
    let (Some(a), Some(b)) = (&base.index_bench, &new.index_bench) else {
        return Vec::new();
    };
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
    ] {
        if x != y {
            out.push(format!("{what} {x} vs {y}"));
        }
    }
    out
}

/// One row per shared query metric.
pub fn rows(base: &Report, new: &Report, threshold: f64) -> Vec<Row> {
    let mut rows = Vec::new();
    for b in &base.queries {
        let Some(n) = new.queries.iter().find(|q| q.name == b.name) else {
            continue;
        };
        let change = |x: f64, y: f64| (x > 0.0).then(|| ((y / x - 1.0) * 1000.0).round() / 10.0);
        // Latency: new/base > 1 is slower. Judged only when the whole interval says so.
        let verdict = match stats::speedup(&n.samples_after_ms, &b.samples_after_ms, 0.95) {
            Some((_, [lo, _])) if lo > 1.0 + threshold => Verdict::Regression,
            Some((_, [_, hi])) if hi < 1.0 / (1.0 + threshold) => Verdict::Improvement,
            Some(_) => Verdict::NoChange,
            None => Verdict::NotJudged,
        };
        rows.push(Row {
            metric: format!("{} after median ms", b.name),
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
    if let (Some(a), Some(b)) = (base.load_rows_per_s, new.load_rows_per_s) {
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
