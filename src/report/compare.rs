//! `report compare`: two runs side by side, each shared metric with its change and a verdict
//! that accounts for the runs' own noise. Pure: works on two report models.
//!
//! Throughput is judged: each path's per-0.25 s samples give a bootstrap interval of the ratio
//! new/base, and only a slowdown whose *whole* interval lies beyond the threshold is a
//! regression (a change inside the runs' spread is "no change"). Latency percentiles come from
//! one run each with no spread to judge them by, so they are shown, not judged. Correctness is
//! judged strictly: an expectation that held in the base and fails in the new run is a failure.

mod html;

pub use html::render as html;

use super::{PathReport, Report};
use crate::stats;
use serde::Serialize;
use std::fmt::Write;

/// One compared metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub metric: String,
    pub base: String,
    pub new: String,
    /// Percent change, new vs base.
    pub change_pct: Option<f64>,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    NoChange,
    Improvement,
    Regression,
    /// A correctness expectation that held in the base fails now.
    NewlyFailing,
    /// Shown for information: nothing to judge it by.
    NotJudged,
}

impl Verdict {
    /// The verdict in words, as every format shows it.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::NoChange => "no change",
            Verdict::Improvement => "improvement",
            Verdict::Regression => "regression",
            Verdict::NewlyFailing => "newly failing",
            Verdict::NotJudged => "(not judged)",
        }
    }

    /// Whether this verdict fails a comparison (exit 4 or 1).
    pub fn is_bad(self) -> bool {
        matches!(self, Verdict::Regression | Verdict::NewlyFailing)
    }

    fn label(self) -> String {
        if self.is_bad() {
            format!("**{}**", self.name())
        } else {
            self.name().to_string()
        }
    }
}

/// Differences that make two runs not comparable (different load, schema or server).
pub fn incomparable(base: &Report, new: &Report) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{what} {a} vs {b}"));
        }
    };
    check("scenario", base.scenario.clone(), new.scenario.clone());
    let (s, t) = (&base.settings, &new.settings);
    check("ops", format!("{:?}", s.ops), format!("{:?}", t.ops));
    check(
        "duration",
        format!("{:?}", s.duration_s),
        format!("{:?}", t.duration_s),
    );
    check("workers", s.workers.to_string(), t.workers.to_string());
    check(
        "connections",
        s.connections.to_string(),
        t.connections.to_string(),
    );
    check("rows", s.rows.to_string(), t.rows.to_string());
    check(
        "keys",
        format!("{} {:?}", s.key_choice, s.key_parameter),
        format!("{} {:?}", t.key_choice, t.key_parameter),
    );
    check("mode", s.mode.clone(), t.mode.clone());
    check("strategy", s.strategy.clone(), t.strategy.clone());
    check("rate", format!("{:?}", s.rate), format!("{:?}", t.rate));
    check(
        "migrations checksum",
        short(&base.migrations.fingerprint),
        short(&new.migrations.fingerprint),
    );
    let major = |v: &str| v.split(['.', ' ']).next().unwrap_or("").to_string();
    check(
        "PostgreSQL major version",
        major(&base.database.server_version),
        major(&new.database.server_version),
    );
    out
}

fn short(s: &str) -> String {
    s.chars().take(12).collect()
}

/// Compares every metric both runs share. `threshold` is a fraction (0.10 = 10%).
pub fn compare(base: &Report, new: &Report, threshold: f64) -> Vec<Row> {
    let mut rows = Vec::new();
    for b in &base.paths {
        let Some(n) = new.paths.iter().find(|p| p.name == b.name) else {
            continue;
        };
        rows.push(throughput(b, n, threshold));
        for (label, x, y) in [
            ("p50 µs", b.latency_us.p50, n.latency_us.p50),
            ("p99 µs", b.latency_us.p99, n.latency_us.p99),
        ] {
            rows.push(Row {
                metric: format!("{} {label}", b.name),
                base: x.to_string(),
                new: y.to_string(),
                change_pct: pct(x as f64, y as f64),
                verdict: Verdict::NotJudged,
            });
        }
        rows.push(Row {
            metric: format!("{} lost updates", b.name),
            base: b.lost_updates.to_string(),
            new: n.lost_updates.to_string(),
            change_pct: pct(b.lost_updates as f64, n.lost_updates as f64),
            verdict: Verdict::NotJudged,
        });
        rows.push(Row {
            metric: format!("{} expectation ({})", b.name, b.expect),
            base: held(b).into(),
            new: held(n).into(),
            change_pct: None,
            verdict: match (b.expectation_held, n.expectation_held) {
                (true, false) => Verdict::NewlyFailing,
                (false, true) => Verdict::Improvement,
                _ => Verdict::NoChange,
            },
        });
    }
    rows
}

fn held(p: &PathReport) -> &'static str {
    if p.expectation_held { "held" } else { "failed" }
}

fn pct(base: f64, new: f64) -> Option<f64> {
    (base != 0.0).then(|| (new - base) / base * 100.0)
}

fn throughput(b: &PathReport, n: &PathReport, threshold: f64) -> Row {
    let point = if b.throughput_ops_s > 0.0 {
        n.throughput_ops_s / b.throughput_ops_s
    } else {
        1.0
    };
    // Without samples, only the point estimate: the threshold alone decides.
    let (lo, hi) = stats::ratio_spread(&b.throughput_samples, &n.throughput_samples)
        .map_or((point, point), |(l, h)| (point * l, point * h));
    let verdict = if hi < 1.0 - threshold {
        Verdict::Regression
    } else if lo > 1.0 + threshold {
        Verdict::Improvement
    } else {
        Verdict::NoChange
    };
    Row {
        metric: format!("{} throughput ops/s", b.name),
        base: format!("{:.0}", b.throughput_ops_s),
        new: format!(
            "{:.0} (ratio {:.2}, 95% CI {:.2}–{:.2})",
            n.throughput_ops_s, point, lo, hi
        ),
        change_pct: pct(b.throughput_ops_s, n.throughput_ops_s),
        verdict,
    }
}

/// "no regression" or "N regression(s)": the comparison's headline.
pub fn summary(rows: &[Row]) -> String {
    match rows.iter().filter(|r| r.verdict.is_bad()).count() {
        0 => "no regression".to_string(),
        n => format!("{n} regression(s)"),
    }
}

/// A row's change as shown: `+3.2%`, or empty when the base is zero or it is not a number.
pub fn change_label(r: &Row) -> String {
    r.change_pct.map_or(String::new(), |c| format!("{c:+.1}%"))
}

/// The comparison as Markdown, the two runs side by side.
pub fn markdown(base: &Report, new: &Report, rows: &[Row], threshold: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# {} — {} vs {}: {}\n",
        base.scenario,
        base.run_id,
        new.run_id,
        summary(rows)
    );
    let _ = writeln!(
        s,
        "base: {} ({}), new: {} ({}); threshold {:.0}%\n",
        base.started_at,
        base.verdict,
        new.started_at,
        new.verdict,
        threshold * 100.0
    );
    s.push_str("| metric | base | new | change | verdict |\n|---|---:|---:|---:|---|\n");
    for r in rows {
        let change = change_label(r);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            r.metric,
            r.base,
            r.new,
            change,
            r.verdict.label()
        );
    }
    s
}

/// One side of a comparison, as the JSON and HTML views name it.
#[derive(Serialize)]
pub struct Side<'a> {
    pub run_id: &'a str,
    pub started_at: &'a str,
    pub verdict: &'a str,
    pub scenario: &'a str,
}

impl<'a> Side<'a> {
    pub fn of(r: &'a Report) -> Side<'a> {
        Side {
            run_id: &r.run_id,
            started_at: &r.started_at,
            verdict: &r.verdict,
            scenario: &r.scenario,
        }
    }
}

/// The comparison as JSON, for tools: the same rows as the Markdown, with the change as a
/// number (null when the base is zero) and the verdict as a snake_case word.
pub fn json(base: &Report, new: &Report, rows: &[Row], threshold: f64) -> String {
    #[derive(Serialize)]
    struct Comparison<'a> {
        schema_version: u32,
        kind: &'static str,
        base: Side<'a>,
        new: Side<'a>,
        threshold: f64,
        summary: String,
        rows: &'a [Row],
    }
    let c = Comparison {
        schema_version: super::SCHEMA_VERSION,
        kind: "compare",
        base: Side::of(base),
        new: Side::of(new),
        threshold,
        summary: summary(rows),
        rows,
    };
    serde_json::to_string_pretty(&c).expect("comparison serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let text = include_str!("../../reports/example-token-race.json");
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_run_compared_with_itself_is_no_change() {
        let r = report();
        let rows = compare(&r, &r, 0.10);
        assert!(
            rows.iter()
                .all(|x| matches!(x.verdict, Verdict::NoChange | Verdict::NotJudged)),
            "{rows:?}"
        );
        assert!(incomparable(&r, &r).is_empty());
    }

    #[test]
    fn halved_throughput_is_a_regression_even_with_identical_samples() {
        let r = report();
        let mut slow = r.clone();
        for p in &mut slow.paths {
            p.throughput_ops_s /= 2.0;
        }
        let rows = compare(&r, &slow, 0.10);
        let bad: Vec<_> = rows
            .iter()
            .filter(|x| x.verdict == Verdict::Regression)
            .map(|x| x.metric.clone())
            .collect();
        assert_eq!(bad, ["rpc throughput ops/s", "fallback throughput ops/s"]);
    }

    #[test]
    fn noise_inside_the_spread_is_no_change() {
        let r = report();
        let mut other = r.clone();
        for p in &mut other.paths {
            p.throughput_ops_s *= 0.95;
            p.throughput_samples.iter_mut().for_each(|v| *v *= 0.95);
        }
        let rows = compare(&r, &other, 0.10);
        assert!(
            rows.iter().all(|x| x.verdict != Verdict::Regression),
            "{rows:?}"
        );
    }

    #[test]
    fn a_newly_failing_expectation_is_flagged_and_different_settings_are_incomparable() {
        let r = report();
        let mut broken = r.clone();
        broken.paths[0].expectation_held = false;
        broken.settings.workers = 8;
        let rows = compare(&r, &broken, 0.10);
        assert!(rows.iter().any(|x| x.verdict == Verdict::NewlyFailing));
        assert_eq!(incomparable(&r, &broken), ["workers 256 vs 8"]);
    }

    #[test]
    fn json_and_html_show_both_runs_side_by_side() {
        let r = report();
        let mut slow = r.clone();
        slow.run_id = "slowrun".into();
        slow.paths[0].throughput_ops_s /= 2.0;
        let rows = compare(&r, &slow, 0.10);
        let v: serde_json::Value = serde_json::from_str(&json(&r, &slow, &rows, 0.10)).unwrap();
        assert_eq!(v["kind"], "compare");
        assert_eq!(v["new"]["run_id"], "slowrun");
        assert_eq!(v["rows"][0]["verdict"], "regression");
        assert!((v["rows"][0]["change_pct"].as_f64().unwrap() + 50.0).abs() < 1e-9);
        let page = html(&r, &slow, &rows, 0.10);
        assert!(page.contains("rpc throughput ops/s") && page.contains("slowrun"));
        assert!(
            page.contains("<td class=\"regression\">regression</td>"),
            "{page}"
        );
        assert!(!page.contains("<script") && !page.contains("http"));
    }
}
