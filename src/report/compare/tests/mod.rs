use super::*;

fn report() -> Report {
    let text = include_str!("../../../../reports/example-token-race.json");
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

/// Each path with a solo latency of `us` and these batch samples, scaled by `f`.
fn solo(r: &Report, f: f64, samples: &[f64]) -> Report {
    let mut x = r.clone();
    for p in &mut x.race_mut().unwrap().paths {
        p.solo_latency_us = Some((100.0 * f) as u64);
        p.solo_latency_samples = samples.iter().map(|v| v * f).collect();
    }
    x
}

#[test]
fn solo_latency_is_judged_at_ten_times_the_threshold() {
    let r = report();
    let s = [90.0, 100.0, 110.0, 100.0, 95.0, 105.0];
    let row = |base: &Report, new: &Report| {
        let rows = compare(base, new, 0.10);
        let x = rows.iter().find(|x| x.metric == "rpc solo p50 µs").cloned();
        x.map(|x| x.verdict)
    };
    let base = solo(&r, 1.0, &s);
    // A 2 ms sleep in a 0.1 ms call: far beyond the threshold.
    assert_eq!(row(&base, &solo(&r, 20.0, &s)), Some(Verdict::Regression));
    // 1.5× is inside the machine's night-to-night noise of this number: not flagged at 10%…
    assert_eq!(row(&base, &solo(&r, 1.5, &s)), Some(Verdict::NoChange));
    // …while 2.5× is, and a call that got 2.5× cheaper is an improvement.
    assert_eq!(row(&base, &solo(&r, 2.5, &s)), Some(Verdict::Regression));
    assert_eq!(row(&base, &solo(&r, 0.4, &s)), Some(Verdict::Improvement));
    // An improvement needs the same factor down (1 / (1 + 10 × 10%) = 0.5): 0.7× is noise.
    assert_eq!(row(&base, &solo(&r, 0.7, &s)), Some(Verdict::NoChange));
    // Too few batches: shown, not judged; missing on a side (older report): no row.
    let few = solo(&r, 20.0, &[100.0, 100.0]);
    assert_eq!(
        row(&solo(&r, 1.0, &[100.0, 100.0]), &few),
        Some(Verdict::NotJudged)
    );
    assert_eq!(row(&r, &solo(&r, 20.0, &s)), None);
}

#[test]
fn throughput_from_too_few_samples_is_not_judged_on_its_point() {
    let r = report();
    let mut base = r.clone();
    let mut slow = r.clone();
    for (b, n) in base
        .race_mut()
        .unwrap()
        .paths
        .iter_mut()
        .zip(&mut slow.race_mut().unwrap().paths)
    {
        b.throughput_samples = vec![1000.0];
        n.throughput_samples = vec![500.0];
        n.throughput_ops_s = b.throughput_ops_s / 2.0;
    }
    let rows = compare(&base, &slow, 0.10);
    assert_eq!(rows[0].metric, "rpc throughput ops/s");
    assert_eq!(rows[0].verdict, Verdict::NotJudged, "{rows:?}");
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
    assert!((pooled.paths()[0].throughput_ops_s - 0.9 * r.paths()[0].throughput_ops_s).abs() < 1.0);
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

/// Each path with throughput and p50 from tight samples around `tp` and `p50`.
fn exact(r: &Report, tp: f64, p50: f64) -> Report {
    let mut x = r.clone();
    for p in &mut x.race_mut().unwrap().paths {
        p.throughput_ops_s = tp;
        p.throughput_samples = vec![tp; 4];
        p.latency_us.p50 = p50 as u64;
        p.latency_p50_samples = vec![p50; 4];
    }
    x
}

#[test]
fn verdicts_at_the_threshold_itself_are_no_change() {
    let r = report();
    let base = exact(&r, 1000.0, 1000.0);
    let at = |tp: f64, p50: f64, threshold: f64| {
        let rows = compare(&base, &exact(&r, tp, p50), threshold);
        (rows[0].verdict, rows[1].verdict)
    };
    use Verdict::*;
    // Throughput at 25%: a ratio of exactly 0.75 or 1.25 is not beyond it.
    assert_eq!(at(750.0, 1000.0, 0.25), (NoChange, NoChange));
    assert_eq!(at(740.0, 1000.0, 0.25), (Regression, NoChange));
    assert_eq!(at(1250.0, 1000.0, 0.25), (NoChange, NoChange));
    assert_eq!(at(1260.0, 1000.0, 0.25), (Improvement, NoChange));
    // p50 at 2.5 x 20% = 50%: exactly 1.5 or 0.5 is not beyond it; higher is worse.
    assert_eq!(at(1000.0, 1500.0, 0.2), (NoChange, NoChange));
    assert_eq!(at(1000.0, 1510.0, 0.2), (NoChange, Regression));
    assert_eq!(at(1000.0, 500.0, 0.2), (NoChange, NoChange));
    assert_eq!(at(1000.0, 490.0, 0.2), (NoChange, Improvement));
    // At the default 10%, p50 is judged at 25%: +20% is no change, +30% a regression.
    assert_eq!(at(1000.0, 1200.0, 0.1), (NoChange, NoChange));
    assert_eq!(at(1000.0, 1300.0, 0.1), (NoChange, Regression));
    assert_eq!(at(1000.0, 700.0, 0.1), (NoChange, Improvement));
    assert_eq!(at(1000.0, 800.0, 0.1), (NoChange, NoChange));
    assert_eq!(at(950.0, 1000.0, 0.1), (NoChange, NoChange));
    assert_eq!(at(1050.0, 1000.0, 0.1), (NoChange, NoChange));
}

#[test]
fn judged_rows_show_the_ratio_and_its_interval() {
    let r = report();
    let rows = compare(&exact(&r, 1000.0, 2000.0), &exact(&r, 500.0, 3000.0), 0.1);
    assert_eq!(rows[0].metric, "rpc throughput ops/s");
    assert_eq!(rows[0].base, "1000");
    assert_eq!(rows[0].new, "500 (ratio 0.50, 95% CI 0.50–0.50)");
    assert_eq!(rows[0].change_pct, Some(-50.0));
    assert_eq!(rows[1].metric, "rpc p50 µs");
    assert_eq!(rows[1].new, "3000 (ratio 1.50, 95% CI 1.50–1.50)");
    assert_eq!(rows[1].change_pct, Some(50.0));
    // Spread-out samples: the interval is centred on the point ratio of the means.
    let mut noisy = exact(&r, 800.0, 2000.0);
    for p in &mut noisy.race_mut().unwrap().paths {
        p.throughput_samples = vec![600.0, 1000.0, 800.0, 700.0, 900.0];
    }
    let row = &compare(&exact(&r, 1000.0, 2000.0), &noisy, 0.1)[0];
    let ci: Vec<f64> = row.new[row.new.find("CI ").unwrap() + 3..row.new.len() - 1]
        .split('–')
        .map(|x| x.parse().unwrap())
        .collect();
    assert!(row.new.starts_with("800 (ratio 0.80,"), "{}", row.new);
    assert!(
        ci[0] < 0.8 && 0.8 < ci[1] && ci[0] > 0.6 && ci[1] < 1.0,
        "{ci:?}"
    );
}

#[test]
fn without_samples_or_a_base_the_point_alone_decides() {
    let r = report();
    let bare = |tp: f64| {
        let mut x = r.clone();
        for p in &mut x.race_mut().unwrap().paths {
            p.throughput_ops_s = tp;
            p.throughput_samples.clear();
        }
        x
    };
    let v = |b: f64, n: f64| compare(&bare(b), &bare(n), 0.1)[0].clone();
    assert_eq!(v(100.0, 85.0).verdict, Verdict::Regression);
    assert_eq!(v(100.0, 95.0).verdict, Verdict::NoChange);
    assert_eq!(v(100.0, 120.0).verdict, Verdict::Improvement);
    assert_eq!(v(100.0, 85.0).new, "85 (ratio 0.85, 95% CI 0.85–0.85)");
    // A base of zero has no ratio: the point is taken as 1, and there is no change in %.
    let zero = v(0.0, 100.0);
    assert_eq!(zero.verdict, Verdict::NoChange);
    assert_eq!(zero.change_pct, None);
    assert_eq!(zero.new, "100 (ratio 1.00, 95% CI 1.00–1.00)");
    // A p50 of zero in the base (with samples) likewise: the point is 1, no change.
    let mut z = exact(&r, 1000.0, 1000.0);
    z.race_mut().unwrap().paths[0].latency_us.p50 = 0;
    let rows = compare(&z, &exact(&r, 1000.0, 500.0), 0.1);
    assert_eq!(rows[1].verdict, Verdict::NoChange, "{rows:?}");
    assert_eq!(rows[1].new, "500 (ratio 1.00, 95% CI 1.00–1.00)");
    assert_eq!(pct(200.0, 150.0), Some(-25.0));
    assert_eq!(pct(0.0, 150.0), None);
}

#[test]
fn a_repaired_expectation_is_an_improvement_and_means_are_over_runs() {
    let r = report();
    let mut broken = r.clone();
    broken.race_mut().unwrap().paths[0].expectation_held = false;
    broken.race_mut().unwrap().paths[0].lost_updates = 30;
    broken.race_mut().unwrap().paths[0].latency_us.p99 = 1000;
    let rows = compare(&broken, &r, 0.1);
    let row = |m: &str| rows.iter().find(|x| x.metric == m).unwrap().clone();
    let e = row("rpc expectation (exact)");
    assert_eq!((e.base.as_str(), e.new.as_str()), ("failed", "held"));
    assert_eq!(e.verdict, Verdict::Improvement);
    assert_eq!(row("rpc lost updates").base, "30");
    assert_eq!(row("rpc lost updates").new, "0");
    assert_eq!(row("rpc p99 µs").base, "1000");
    assert_eq!(row("rpc p99 µs").change_pct, Some(16168.7));
    // Over repeats: means of the runs; one failing run fails the side.
    let rows = compare_runs(&[&r, &broken], &[&r, &r], 0.1);
    let lost = rows
        .iter()
        .find(|x| x.metric == "rpc lost updates")
        .unwrap();
    assert_eq!((lost.base.as_str(), lost.new.as_str()), ("15", "0"));
    let exp = rows.iter().find(|x| x.metric == "rpc expectation (exact)");
    assert_eq!(exp.unwrap().base, "failed");
    assert_eq!(rows.len(), 10);
    // A path only the base has is not compared; an empty base compares nothing.
    let mut one = r.clone();
    one.race_mut().unwrap().paths.truncate(1);
    assert_eq!(compare(&r, &one, 0.1).len(), 5);
    assert!(compare_runs(&[], &[&r], 0.1).is_empty());
}

#[test]
fn pooled_runs_average_each_path_and_group_by_scenario() {
    let r = report();
    let mut b = r.clone();
    b.scenario = "other".into();
    for p in &mut b.race_mut().unwrap().paths {
        p.latency_us.p50 += 11;
        p.latency_us.p99 += 101;
        p.lost_updates += 5;
        p.latency_p50_samples = vec![1.0];
    }
    let runs = [r.clone(), b.clone(), r.clone()];
    let groups = by_scenario(&runs);
    let shape: Vec<(&str, usize)> = groups.iter().map(|(s, g)| (*s, g.len())).collect();
    assert_eq!(shape, [("token-race", 2), ("other", 1)]);
    let pooled = pool(&[&r, &b]);
    let (p, q) = (&pooled.paths()[1], &r.paths()[1]);
    assert_eq!(p.name, "fallback");
    assert_eq!(p.latency_us.p50, q.latency_us.p50 + 6); // 5.5 rounds up
    assert_eq!(p.latency_us.p99, q.latency_us.p99 + 51);
    assert_eq!(p.lost_updates, q.lost_updates + 3);
    assert_eq!(p.latency_p50_samples, [1.0]);
    assert_eq!(p.throughput_ops_s, q.throughput_ops_s);
    assert_eq!(find(&[&r, &b], "fallback").len(), 2);
    assert!(find(&[&r, &b], "nope").is_empty());
    assert_eq!(mean(&[], |p| p.throughput_ops_s), 0.0);
}

#[test]
fn every_race_setting_that_differs_is_named() {
    use crate::report::model::{KeyChoice, Mode, QueryMode};
    let r = report();
    let mut o = r.clone();
    o.database.server_version = "15.2 (other build)".into();
    assert!(
        incomparable(&r, &o).is_empty(),
        "a minor version is comparable"
    );
    o.database.server_version = "16.1".into();
    o.scenario = "other".into();
    let s = &mut o.race_mut().unwrap().settings;
    s.ops = None;
    s.duration_s = Some(5.0);
    s.connections = 3;
    s.rows = 7;
    s.key_choice = KeyChoice::Uniform;
    s.key_parameter = None;
    s.mode = Mode::Mixed;
    s.strategy = crate::scenario::Strategy::Serializable;
    s.rate = Some(10.0);
    s.query_mode = QueryMode::Simple;
    // The example report predates `client_threads`: a side that did not record it is
    // comparable whatever the other side ran with.
    assert_eq!(r.race().unwrap().settings.client_threads, None);
    s.client_threads = Some(2);
    s.seed = 99; // the seed does not make runs incomparable
    assert_eq!(
        incomparable(&r, &o),
        [
            "scenario token-race vs other",
            "PostgreSQL major version 15 vs 16",
            "ops Some(20000) vs None",
            "duration None vs Some(5.0)",
            "connections 64 vs 3",
            "rows 1000 vs 7",
            "keys Hot Some(0.8) vs Uniform None",
            "mode sequential vs mixed",
            "strategy none vs serializable",
            "rate None vs Some(10.0)",
            "query mode prepared vs simple",
        ]
    );
    let (mut one, mut two) = (r.clone(), r.clone());
    one.race_mut().unwrap().settings.client_threads = Some(1);
    two.race_mut().unwrap().settings.client_threads = Some(2);
    assert_eq!(incomparable(&one, &two), ["client threads 1 vs 2"]);
    assert!(incomparable(&two, &two).is_empty());
    let mut bench = r.clone();
    bench.body = Body::IndexBench(bench_reports::bench_body(&[]));
    assert_eq!(incomparable(&r, &bench), ["kind race vs index benchmark"]);
    assert_eq!(kind(&bench.body), "index benchmark");
}

#[test]
fn a_new_fingerprint_over_the_same_files_names_both() {
    let r = report();
    let mut n = r.clone();
    n.migrations.fingerprint = "0123456789abcdef".into();
    let b = short(&r.migrations.fingerprint);
    assert_eq!(b.chars().count(), 12);
    assert_eq!(
        schema_change(&r, &n).unwrap(),
        format!("the schema changed: fingerprint {b} vs 0123456789ab")
    );
}

#[test]
fn markdown_and_json_carry_every_row_and_the_summary() {
    let r = report();
    let mut slow = r.clone();
    slow.run_id = "slowrun".into();
    slow.race_mut().unwrap().paths[0].throughput_ops_s /= 2.0;
    let rows = compare(&r, &slow, 0.10);
    let md = markdown(&r, &slow, &rows, 0.10);
    assert!(
        md.starts_with(&format!(
            "# token-race — {} vs slowrun: 1 regression(s)\n",
            r.run_id
        )),
        "{md}"
    );
    assert!(md.contains("; threshold 10%\n"), "{md}");
    assert!(md.contains("| rpc throughput ops/s | 6715 | 3358 (ratio 0.50, 95% CI"));
    assert!(md.contains("| -50.0% | **regression** |"), "{md}");
    assert_eq!(
        md.lines().filter(|l| l.starts_with("| ")).count(),
        rows.len() + 1
    );
    let v: serde_json::Value = serde_json::from_str(&json(&r, &slow, &rows, 0.10)).unwrap();
    assert_eq!(v["summary"], "1 regression(s)");
    assert_eq!(v["threshold"], 0.1);
    assert_eq!(v["rows"].as_array().unwrap().len(), rows.len());
    assert_eq!(v["base"]["scenario"], "token-race");
    assert_eq!(v["rows"][2]["verdict"], "not_judged");
    assert_eq!(v["rows"][3]["metric"], "rpc lost updates");
    assert_eq!(v["rows"][3]["change_pct"], serde_json::Value::Null);
}

mod bench_reports;
