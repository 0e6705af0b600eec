//! `report compare`: two runs side by side, each shared metric with its change and a verdict
//! that accounts for the runs' own noise. Pure: works on two report models.
//!
//! Throughput is judged: each path's per-0.25 s samples give a bootstrap interval of the ratio
//! new/base, and only a slowdown whose *whole* interval lies beyond the threshold is a
//! regression (a change inside the runs' spread is "no change"). The p50 latency is judged
//! the same way from the per-interval medians (a rise beyond the threshold is a regression);
//! p99 comes from too few calls per interval to have a spread, so it is shown, not judged.
//! Correctness is judged strictly: an expectation that held in the base and fails in the new run is a failure.

mod bench;
mod html;
mod row;

pub use html::render as html;
pub use row::{Row, Side, Verdict, change_label, summary};

use crate::report::model::{Body, PathReport, Report, Settings};
use crate::stats;
use serde::Serialize;
use std::fmt::Write;

/// Differences that make two runs' numbers not comparable: another scenario or kind, other
/// settings, another server version or another machine. A changed schema is not one of them:
/// judging what a migration did is what comparing is for ([`schema_change`] names it).
pub fn incomparable(base: &Report, new: &Report) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, a: String, b: String| differs(&mut out, what, a, b);
    check("scenario", base.scenario.clone(), new.scenario.clone());
    // Reports from before `machine` was recorded have an empty one: nothing to compare.
    let (m, n) = (&base.machine, &new.machine);
    if m.cores > 0 && n.cores > 0 {
        check("machine cores", m.cores.to_string(), n.cores.to_string());
        check("machine", m.os.clone(), n.os.clone());
    }
    let major = |v: &str| v.split(['.', ' ']).next().unwrap_or("").to_string();
    check(
        "PostgreSQL major version",
        major(&base.database.server_version),
        major(&new.database.server_version),
    );
    match (&base.body, &new.body) {
        (Body::Race(a), Body::Race(b)) => out.extend(race_settings(&a.settings, &b.settings)),
        (Body::IndexBench(a), Body::IndexBench(b)) => out.extend(bench::incomparable(a, b)),
        (a, b) => out.push(format!("kind {} vs {}", kind(a), kind(b))),
    }
    out
}

/// The migration files that differ between the two runs' schemas (added, removed, or changed
/// since), e.g. "the schema changed: 29991231000000_slow_rpc.sql added"; `None` when the
/// fingerprints match.
pub fn schema_change(base: &Report, new: &Report) -> Option<String> {
    let (b, n) = (&base.migrations, &new.migrations);
    if b.fingerprint == n.fingerprint {
        return None;
    }
    let file = |e: &crate::report::model::MigrationEntry| format!("{}_{}.sql", e.version, e.name);
    let mut what = Vec::new();
    for e in &n.files {
        match b.files.iter().find(|x| x.version == e.version) {
            None => what.push(format!("{} added", file(e))),
            Some(x) if x.checksum != e.checksum => what.push(format!("{} changed", file(e))),
            Some(_) => {}
        }
    }
    for e in b
        .files
        .iter()
        .filter(|x| !n.files.iter().any(|e| e.version == x.version))
    {
        what.push(format!("{} removed", file(e)));
    }
    if what.is_empty() {
        what.push(format!(
            "fingerprint {} vs {}",
            short(&b.fingerprint),
            short(&n.fingerprint)
        ));
    }
    Some(format!("the schema changed: {}", what.join(", ")))
}

/// Records `what` when the two sides differ.
fn differs(out: &mut Vec<String>, what: &str, a: String, b: String) {
    if a != b {
        out.push(format!("{what} {a} vs {b}"));
    }
}

fn kind(b: &Body) -> &'static str {
    match b {
        Body::Race(_) => "race",
        Body::IndexBench(_) => "index benchmark",
        Body::Isolation(_) => "isolation run",
    }
}

/// Race settings that make two runs incomparable.
fn race_settings(s: &Settings, t: &Settings) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, a: String, b: String| differs(&mut out, what, a, b);
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
        format!("{:?} {:?}", s.key_choice, s.key_parameter),
        format!("{:?} {:?}", t.key_choice, t.key_parameter),
    );
    check("mode", s.mode.name().into(), t.mode.name().into());
    check(
        "strategy",
        s.strategy.name().into(),
        t.strategy.name().into(),
    );
    check("rate", format!("{:?}", s.rate), format!("{:?}", t.rate));
    check(
        "query mode",
        s.query_mode.name().into(),
        t.query_mode.name().into(),
    );
    out
}

fn short(s: &str) -> String {
    s.chars().take(12).collect()
}

/// Compares every metric both runs share. `threshold` is a fraction (0.10 = 10%).
pub fn compare(base: &Report, new: &Report, threshold: f64) -> Vec<Row> {
    compare_runs(&[base], &[new], threshold)
}

/// Compares repeated runs of one scenario (`nightly --repeat`), each side a list of runs with
/// the same settings. Values are means over the runs; throughput's interval comes from the
/// runs' samples pooled run by run ([`stats::mean_ratio`]), so a difference between runs
/// of the same code is seen as noise; an expectation holds on a side only if it held in every
/// run. With one run per side this is [`compare`].
pub fn compare_runs(base: &[&Report], new: &[&Report], threshold: f64) -> Vec<Row> {
    let mut rows = Vec::new();
    let Some(first) = base.first() else {
        return rows;
    };
    for b in first.paths() {
        let (bs, ns) = (find(base, &b.name), find(new, &b.name));
        if ns.is_empty() {
            continue;
        }
        rows.push(throughput(&bs, &ns, threshold));
        rows.push(median_latency(&bs, &ns, threshold));
        let p99 = |p: &PathReport| p.latency_us.p99 as f64;
        let (x, y) = (mean(&bs, p99), mean(&ns, p99));
        rows.push(Row {
            metric: format!("{} p99 µs", b.name),
            base: format!("{x:.0}"),
            new: format!("{y:.0}"),
            change_pct: pct(x, y),
            verdict: Verdict::NotJudged,
        });
        let lost = |p: &PathReport| p.lost_updates as f64;
        let (x, y) = (mean(&bs, lost), mean(&ns, lost));
        rows.push(Row {
            metric: format!("{} lost updates", b.name),
            base: format!("{x:.0}"),
            new: format!("{y:.0}"),
            change_pct: pct(x, y),
            verdict: Verdict::NotJudged,
        });
        let all_held = |ps: &[&PathReport]| ps.iter().all(|p| p.expectation_held);
        let (bh, nh) = (all_held(&bs), all_held(&ns));
        rows.push(Row {
            metric: format!("{} expectation ({})", b.name, b.expect.name()),
            base: held(bh).into(),
            new: held(nh).into(),
            change_pct: None,
            verdict: match (bh, nh) {
                (true, false) => Verdict::NewlyFailing,
                (false, true) => Verdict::Improvement,
                _ => Verdict::NoChange,
            },
        });
    }
    if let Some(n) = new.first() {
        rows.extend(bench::rows(first, n, threshold));
    }
    rows
}

/// The runs of each scenario, in the order the scenarios first appear.
pub fn by_scenario(runs: &[Report]) -> Vec<(&str, Vec<&Report>)> {
    let mut groups: Vec<(&str, Vec<&Report>)> = Vec::new();
    for r in runs {
        match groups.iter_mut().find(|(s, _)| *s == r.scenario) {
            Some((_, g)) => g.push(r),
            None => groups.push((&r.scenario, vec![r])),
        }
    }
    groups
}

/// One report standing for repeated runs of a scenario (for the benchmark-tracker files): the
/// first run, with each path's throughput, p50/p99 and lost updates the means over the runs
/// and the throughput samples of all runs together.
pub fn pool(runs: &[&Report]) -> Report {
    let mut out = runs[0].clone();
    let Body::Race(race) = &mut out.body else {
        return out;
    };
    for p in &mut race.paths {
        let ps = find(runs, &p.name);
        p.throughput_ops_s = mean(&ps, |q| q.throughput_ops_s);
        p.throughput_samples = ps
            .iter()
            .flat_map(|q| q.throughput_samples.iter().copied())
            .collect();
        p.latency_p50_samples = ps
            .iter()
            .flat_map(|q| q.latency_p50_samples.iter().copied())
            .collect();
        p.latency_us.p50 = mean(&ps, |q| q.latency_us.p50 as f64).round() as u64;
        p.latency_us.p99 = mean(&ps, |q| q.latency_us.p99 as f64).round() as u64;
        p.lost_updates = mean(&ps, |q| q.lost_updates as f64).round() as u64;
    }
    out
}

/// The path called `name` in each run that has it.
fn find<'a>(runs: &[&'a Report], name: &str) -> Vec<&'a PathReport> {
    runs.iter()
        .filter_map(|r| r.paths().iter().find(|p| p.name == name))
        .collect()
}

fn mean(ps: &[&PathReport], of: impl Fn(&PathReport) -> f64) -> f64 {
    if ps.is_empty() {
        return 0.0;
    }
    ps.iter().map(|p| of(p)).sum::<f64>() / ps.len() as f64
}

fn held(h: bool) -> &'static str {
    if h { "held" } else { "failed" }
}

fn pct(base: f64, new: f64) -> Option<f64> {
    (base != 0.0).then(|| (new - base) / base * 100.0)
}

fn throughput(bs: &[&PathReport], ns: &[&PathReport], threshold: f64) -> Row {
    let (mb, mn) = (
        mean(bs, |p| p.throughput_ops_s),
        mean(ns, |p| p.throughput_ops_s),
    );
    // Without samples (older reports), only the point: the threshold alone decides.
    let point = if mb > 0.0 { mn / mb } else { 1.0 };
    let [lo, hi] =
        ratio_interval(mb, mn, bs, ns, |p| &p.throughput_samples).unwrap_or([point, point]);
    let verdict = if hi < 1.0 - threshold {
        Verdict::Regression
    } else if lo > 1.0 + threshold {
        Verdict::Improvement
    } else {
        Verdict::NoChange
    };
    judged_row(
        format!("{} throughput ops/s", bs[0].name),
        mb,
        mn,
        [lo, hi],
        verdict,
    )
}

/// How much wider than throughput's the p50 threshold is (25% at the default 10%): with many
/// workers queueing for fewer connections, the same machine noise moves the median wait more
/// than the rate. Calibrated: at 1× the same code raised 2 alarms in 10 nightly comparisons on
/// a busy CI machine; a 2 ms sleep added to the RPC moves p50 by 2.3×, far beyond either.
const LATENCY_FACTOR: f64 = 2.5;

/// p50 latency, judged like throughput but the other way round (higher is worse), from the
/// per-interval medians. A run's p50 alone has no spread to judge it by: with fewer than
/// [`stats::Bootstrap::MIN_SAMPLES`] intervals a side (older reports, runs under 0.75 s) it
/// is not judged. It catches what throughput cannot: with many
/// workers per connection, a call that got slower without using more of the server's CPU
/// (a sleep, a lock wait) can leave calls/s unchanged while each caller waits longer.
fn median_latency(bs: &[&PathReport], ns: &[&PathReport], threshold: f64) -> Row {
    let p50 = |p: &PathReport| p.latency_us.p50 as f64;
    let (mb, mn) = (mean(bs, p50), mean(ns, p50));
    let metric = format!("{} p50 µs", bs[0].name);
    let Some([lo, hi]) = ratio_interval(mb, mn, bs, ns, |p| &p.latency_p50_samples) else {
        return Row {
            metric,
            base: format!("{mb:.0}"),
            new: format!("{mn:.0}"),
            change_pct: pct(mb, mn),
            verdict: Verdict::NotJudged,
        };
    };
    let threshold = threshold * LATENCY_FACTOR;
    let verdict = if lo > 1.0 + threshold {
        Verdict::Regression
    } else if hi < 1.0 - threshold {
        Verdict::Improvement
    } else {
        Verdict::NoChange
    };
    judged_row(metric, mb, mn, [lo, hi], verdict)
}

/// The 95% interval of new/base for a metric whose point values are `mb` and `mn`, from the
/// runs' per-interval samples ([`stats::mean_ratio`]), centred on the point ratio; `None`
/// with too few samples.
fn ratio_interval(
    mb: f64,
    mn: f64,
    bs: &[&PathReport],
    ns: &[&PathReport],
    samples: fn(&PathReport) -> &Vec<f64>,
) -> Option<[f64; 2]> {
    let point = if mb > 0.0 { mn / mb } else { 1.0 };
    let sb: Vec<&[f64]> = bs.iter().map(|p| samples(p).as_slice()).collect();
    let sn: Vec<&[f64]> = ns.iter().map(|p| samples(p).as_slice()).collect();
    stats::mean_ratio(&sb, &sn, stats::Bootstrap::default())
        .map(|(p, ci)| ci.scaled(point / p).bounds())
}

/// A judged row: both values, the ratio and its interval, the verdict.
fn judged_row(metric: String, mb: f64, mn: f64, [lo, hi]: [f64; 2], verdict: Verdict) -> Row {
    let point = if mb > 0.0 { mn / mb } else { 1.0 };
    Row {
        metric,
        base: format!("{mb:.0}"),
        new: format!("{mn:.0} (ratio {point:.2}, 95% CI {lo:.2}–{hi:.2})"),
        change_pct: pct(mb, mn),
        verdict,
    }
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
    if let Some(change) = schema_change(base, new) {
        let _ = writeln!(s, "{change}.\n");
    }
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
        schema_version: crate::report::model::SCHEMA_VERSION,
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
        let text = include_str!("../../../reports/example-token-race.json");
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
        for p in &mut slow.race_mut().unwrap().paths {
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

    /// Each path's report with its p50 and per-interval medians scaled by `f`, throughput as is.
    fn p50_scaled(r: &Report, f: f64, samples: &[f64]) -> Report {
        let mut x = r.clone();
        for p in &mut x.race_mut().unwrap().paths {
            p.latency_us.p50 = (p.latency_us.p50 as f64 * f) as u64;
            p.latency_p50_samples = samples.iter().map(|v| v * f).collect();
        }
        x
    }

    #[test]
    fn a_doubled_p50_is_a_regression_even_when_throughput_holds() {
        let r = report();
        let base = p50_scaled(&r, 1.0, &[900.0, 1000.0, 1100.0, 1000.0]);
        let slow = p50_scaled(&r, 2.0, &[900.0, 1000.0, 1100.0, 1000.0]);
        let rows = compare(&base, &slow, 0.10);
        let verdict = |m: &str| rows.iter().find(|x| x.metric == m).unwrap().verdict;
        assert_eq!(verdict("rpc p50 µs"), Verdict::Regression, "{rows:?}");
        assert_eq!(verdict("rpc throughput ops/s"), Verdict::NoChange);
        assert_eq!(verdict("rpc p99 µs"), Verdict::NotJudged);
        // Faster is an improvement, and a rise inside the spread is no change.
        let fast = compare(
            &base,
            &p50_scaled(&r, 0.5, &[900.0, 1000.0, 1100.0, 1000.0]),
            0.1,
        );
        assert_eq!(fast[1].verdict, Verdict::Improvement, "{fast:?}");
        let noisy = p50_scaled(&r, 1.15, &[500.0, 1000.0, 1600.0, 900.0]);
        assert_eq!(compare(&base, &noisy, 0.10)[1].verdict, Verdict::NoChange);
    }

    #[test]
    fn a_p50_from_too_few_intervals_is_not_judged() {
        let r = report();
        let base = p50_scaled(&r, 1.0, &[1000.0, 1000.0]);
        let slow = p50_scaled(&r, 3.0, &[1000.0, 1000.0]);
        let rows = compare(&base, &slow, 0.10);
        assert_eq!(rows[1].metric, "rpc p50 µs");
        assert_eq!(rows[1].verdict, Verdict::NotJudged, "{rows:?}");
        assert!(
            !rows[1].new.contains("CI"),
            "no interval is shown: {}",
            rows[1].new
        );
    }

    /// Each path's throughput samples set to `samples × f`, its throughput their mean.
    fn throughput_samples(r: &Report, f: f64, samples: &[f64]) -> Report {
        let mut x = r.clone();
        for p in &mut x.race_mut().unwrap().paths {
            p.throughput_samples = samples.iter().map(|v| v * f).collect();
            p.throughput_ops_s = p.throughput_samples.iter().sum::<f64>() / samples.len() as f64;
        }
        x
    }

    #[test]
    fn noise_inside_the_spread_is_no_change() {
        // 15% slower: beyond the 10% threshold, so the threshold alone would call it a
        // regression. With samples this spread out the interval reaches past 0.9: no change.
        let noisy = [800.0, 1200.0, 1000.0, 700.0, 1300.0, 1000.0];
        let r = report();
        let rows = compare(
            &throughput_samples(&r, 1.0, &noisy),
            &throughput_samples(&r, 0.85, &noisy),
            0.10,
        );
        assert_eq!(rows[0].metric, "rpc throughput ops/s");
        assert!(
            (rows[0].change_pct.unwrap() + 15.0).abs() < 1e-9,
            "{rows:?}"
        );
        assert_eq!(rows[0].verdict, Verdict::NoChange, "{rows:?}");
        // The same 15% with tight samples is a regression: the spread decided, not the ratio.
        let tight = [995.0, 1005.0, 1000.0, 1000.0, 998.0, 1002.0];
        let rows = compare(
            &throughput_samples(&r, 1.0, &tight),
            &throughput_samples(&r, 0.85, &tight),
            0.10,
        );
        assert_eq!(rows[0].verdict, Verdict::Regression, "{rows:?}");
        // And the same for a rise: 15% faster and tight is an improvement, noisy is not.
        let up = |s: &[f64]| {
            compare(
                &throughput_samples(&r, 1.0, s),
                &throughput_samples(&r, 1.15, s),
                0.10,
            )[0]
            .verdict
        };
        assert_eq!(up(&tight), Verdict::Improvement);
        assert_eq!(up(&noisy), Verdict::NoChange);
    }

    #[test]
    fn a_newly_failing_expectation_is_flagged_and_different_settings_are_incomparable() {
        let r = report();
        let mut broken = r.clone();
        broken.race_mut().unwrap().paths[0].expectation_held = false;
        broken.race_mut().unwrap().settings.workers = 8;
        let rows = compare(&r, &broken, 0.10);
        assert!(rows.iter().any(|x| x.verdict == Verdict::NewlyFailing));
        assert_eq!(incomparable(&r, &broken), ["workers 256 vs 8"]);
    }

    #[test]
    fn repeated_runs_that_differ_as_a_whole_are_noise_not_a_regression() {
        let r = report();
        // Three runs of the same code, one of them 20% slower throughout.
        let scaled = |f: f64| {
            let mut x = r.clone();
            for p in &mut x.race_mut().unwrap().paths {
                p.throughput_ops_s *= f;
                p.throughput_samples.iter_mut().for_each(|v| *v *= f);
            }
            x
        };
        let (a, b, c) = (scaled(1.0), scaled(0.8), scaled(1.05));
        // Alone, the slow run looks like a regression...
        let alone = compare(&a, &b, 0.10);
        assert_eq!(alone[0].verdict, Verdict::Regression, "{alone:?}");
        // ...repeated, the runs' own spread says it can happen to the same code, even with the
        // means 15% apart (beyond the threshold: the spread between runs decides, not the ratio).
        let rows = compare_runs(&[&a, &a, &c], &[&b, &b, &a], 0.10);
        assert!(rows[0].change_pct.unwrap() < -14.0, "{rows:?}");
        assert!(rows.iter().all(|x| !x.verdict.is_bad()), "{rows:?}");
        // Runs that agree with each other, 20% slower than a base that agrees too, are a
        // regression (the noisy new side above held one run at 1.0 and two at 0.8).
        let (s1, s2) = (scaled(0.8), scaled(0.81));
        let rows = compare_runs(&[&a, &a, &a], &[&s1, &s2, &s1], 0.10);
        assert_eq!(rows[0].verdict, Verdict::Regression, "{rows:?}");
        // A real halving is still caught across repeats.
        let (h1, h2) = (scaled(0.5), scaled(0.45));
        let rows = compare_runs(&[&a, &b, &c], &[&h1, &h2, &h1], 0.10);
        assert_eq!(rows[0].verdict, Verdict::Regression, "{rows:?}");
        let both = [a.clone(), b.clone()];
        let groups = by_scenario(&both);
        assert_eq!(groups.len(), 1);
        let pooled = pool(&groups[0].1);
        assert!(
            (pooled.paths()[0].throughput_ops_s - 0.9 * r.paths()[0].throughput_ops_s).abs() < 1.0
        );
        assert_eq!(
            pooled.paths()[0].throughput_samples.len(),
            2 * r.paths()[0].throughput_samples.len()
        );
    }

    #[test]
    fn json_and_html_show_both_runs_side_by_side() {
        let r = report();
        let mut slow = r.clone();
        slow.run_id = "slowrun".into();
        slow.race_mut().unwrap().paths[0].throughput_ops_s /= 2.0;
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

    #[test]
    fn a_changed_schema_is_named_and_still_compared() {
        let r = report();
        let mut new = r.clone();
        assert_eq!(schema_change(&r, &new), None);
        new.migrations.fingerprint = "f".repeat(64);
        let mut slow = new.migrations.files[0].clone();
        slow.version = "29991231000000".into();
        slow.name = "slow_rpc".into();
        new.migrations.files.push(slow);
        new.migrations.files[1].checksum = "0".repeat(64);
        let second = format!(
            "{}_{}.sql",
            new.migrations.files[1].version, new.migrations.files[1].name
        );
        let change = schema_change(&r, &new).unwrap();
        assert_eq!(
            change,
            format!("the schema changed: {second} changed, 29991231000000_slow_rpc.sql added")
        );
        assert!(
            incomparable(&r, &new).is_empty(),
            "a schema change is what compare judges"
        );
        assert!(markdown(&r, &new, &compare(&r, &new, 0.1), 0.1).contains(&change));
        let mut gone = r.clone();
        gone.migrations.fingerprint = "e".repeat(64);
        let last = gone.migrations.files.pop().unwrap();
        assert_eq!(
            schema_change(&r, &gone).unwrap(),
            format!(
                "the schema changed: {}_{}.sql removed",
                last.version, last.name
            )
        );
    }

    #[test]
    fn another_machine_is_incomparable_unless_one_side_did_not_record_it() {
        let mut a = report();
        a.machine = crate::report::model::Machine {
            cores: 2,
            memory_mib: 1024,
            os: "linux x86_64".into(),
        };
        let mut b = a.clone();
        assert!(incomparable(&a, &b).is_empty());
        b.machine.cores = 4;
        assert_eq!(incomparable(&a, &b), ["machine cores 2 vs 4"]);
        assert_eq!(incomparable(&b, &a), ["machine cores 4 vs 2"]);
        b.machine.cores = 2;
        b.machine.os = "linux aarch64".into();
        assert_eq!(
            incomparable(&a, &b),
            ["machine linux x86_64 vs linux aarch64"]
        );
        // A report from before machines were recorded has cores 0: nothing to compare.
        let old = report();
        assert_eq!(old.machine.cores, 0);
        assert!(incomparable(&old, &b).is_empty());
        assert!(incomparable(&b, &old).is_empty());
        assert_eq!(kind(&a.body), "race");
    }
}
