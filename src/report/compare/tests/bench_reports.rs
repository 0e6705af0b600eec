//! Comparisons of index-benchmark reports.

use super::*;

fn query(name: &str, after: &[f64], uses_index: bool) -> crate::report::bench_model::QueryReport {
    let median = stats::quantile(after, 0.5);
    crate::report::bench_model::QueryReport {
        name: name.into(),
        index: format!("{name}_idx"),
        sql: String::new(),
        before_ms: 10.0,
        after_ms: median,
        before_p95_ms: 0.0,
        after_p95_ms: 0.0,
        runs_before: 0,
        runs_after: after.len(),
        speedup: 10.0 / median,
        speedup_ci: [2.0, 3.0],
        proven: true,
        uses_index,
        plan_before: vec![],
        plan_after: vec![],
        plan_before_text: String::new(),
        plan_after_text: String::new(),
        representative_params: vec![],
        missing_share: 0.0,
        throughput_before_qps: 0.0,
        throughput_after_qps: 0.0,
        samples_before_ms: vec![],
        samples_after_ms: after.to_vec(),
    }
}

pub(super) fn bench_body(
    queries: &[crate::report::bench_model::QueryReport],
) -> crate::report::bench_model::BenchBody {
    use crate::report::bench_model::{BenchBody, DataReport, IndexBench};
    BenchBody {
        queries: queries.to_vec(),
        unindexed_foreign_keys: vec![],
        load_rows_per_s: 1000.0,
        index_bench: IndexBench {
            migration: "m.sql".into(),
            mode: "before-after".into(),
            scale: 1.0,
            seed: 1,
            workers: 1,
            warmup: 0,
            min_runs: 0,
            max_runs: 0,
            time_per_query_s: 0.0,
            throughput_time_s: 0.0,
            confidence: 0.95,
            missing_share: None,
            session_settings: vec![],
            data: DataReport {
                tables: vec![],
                rows: 0,
                seconds: 0.0,
                rows_per_s: 0.0,
                foreign_key_checks: String::new(),
                vacuum_analyze_s: 0.0,
            },
            migration_s: None,
            new_indexes: vec![],
        },
        settings: None,
    }
}

fn bench_report(queries: &[crate::report::bench_model::QueryReport]) -> Report {
    let mut r = report();
    r.body = Body::IndexBench(bench_body(queries));
    r
}

#[test]
fn a_bench_query_is_judged_against_its_own_run() {
    let t = |v: f64| [v * 0.99, v, v * 1.01, v];
    // Base: a at 1 ms, b at 2 ms, c at 4 ms. New: a and c twice as slow, b four times.
    // Relative to each run's geometric mean (2 and 5.04), b is 1.59x slower, a and c
    // 0.79x: b a regression, a and c improvements, though every query got slower.
    let base = bench_report(&[
        query("a", &t(1.0), true),
        query("b", &t(2.0), true),
        query("c", &t(4.0), true),
    ]);
    let new = bench_report(&[
        query("a", &t(2.0), true),
        query("b", &t(8.0), false),
        query("c", &t(8.0), true),
        query("only_new", &t(1.0), true),
    ]);
    let rows = compare(&base, &new, 0.1);
    let row = |m: &str| {
        rows.iter()
            .find(|x| x.metric == m)
            .unwrap_or_else(|| panic!("{m}: {rows:?}"))
            .clone()
    };
    let g = row("all queries: geometric mean of after medians, ms");
    assert_eq!((g.base.as_str(), g.new.as_str()), ("2.000", "5.040"));
    assert_eq!(g.change_pct, Some(152.0));
    assert_eq!(g.verdict, Verdict::NotJudged);
    let judged = |q: &str| row(&format!("{q} after median ms (judged relative to its run)"));
    assert_eq!(judged("a").verdict, Verdict::Improvement, "{rows:?}");
    assert_eq!(judged("b").verdict, Verdict::Regression, "{rows:?}");
    assert_eq!(judged("b").change_pct, Some(300.0));
    assert_eq!(
        (judged("b").base.as_str(), judged("b").new.as_str()),
        ("2.000", "8.000")
    );
    assert_eq!(judged("c").verdict, Verdict::Improvement);
    assert_eq!(row("b uses b_idx").verdict, Verdict::NewlyFailing);
    assert_eq!(row("b uses b_idx").new, "false");
    assert_eq!(row("a uses a_idx").verdict, Verdict::NoChange);
    assert_eq!(row("a before median ms").change_pct, Some(0.0));
    assert_eq!(row("a speedup").base, "10.0x [2.0, 3.0]");
    assert_eq!(row("a speedup").change_pct, Some(-50.0));
    assert_eq!(row("load rows/s").change_pct, Some(0.0));
    assert_eq!(rows.len(), 1 + 3 * 4 + 1, "only shared queries: {rows:?}");
    // A base of zero has no change in %.
    let mut zero = base.clone();
    if let Body::IndexBench(b) = &mut zero.body {
        b.load_rows_per_s = 0.0;
        b.queries[0].before_ms = 0.0;
    }
    let z = compare(&zero, &new, 0.1);
    let at = |m: &str| z.iter().find(|x| x.metric == m).unwrap().change_pct;
    assert_eq!(at("load rows/s"), None);
    let mut faster = new.clone();
    if let Body::IndexBench(b) = &mut faster.body {
        b.load_rows_per_s = 1500.0;
    }
    let f = compare(&base, &faster, 0.1);
    let load = f.iter().find(|x| x.metric == "load rows/s").unwrap();
    assert_eq!((load.new.as_str(), load.change_pct), ("1500", Some(50.0)));
    assert_eq!(at("a before median ms"), None);
    // An index the base did not use either is no new failure; a query that got relatively
    // faster is an improvement; the other way round b is an improvement.
    let back = compare(&new, &base, 0.1);
    let find = |m: &str| back.iter().find(|x| x.metric == m).unwrap().verdict;
    assert_eq!(find("b uses b_idx"), Verdict::NoChange);
    assert_eq!(
        find("b after median ms (judged relative to its run)"),
        Verdict::Improvement
    );
}

#[test]
fn a_bench_slowdown_at_the_threshold_is_no_change() {
    let c = |v: f64| [v; 4];
    let base = bench_report(&[query("a", &c(1.0), true), query("b", &c(1.0), true)]);
    // b 1.44x against a steady a: relative to the geometric mean (1.2) b is 1.2x, a 1/1.2.
    let new = bench_report(&[query("a", &c(1.0), true), query("b", &c(1.44), true)]);
    let v = |th: f64| {
        let rows = compare(&base, &new, th);
        (rows[1].verdict, rows[5].verdict)
    };
    assert_eq!(v(0.25), (Verdict::NoChange, Verdict::NoChange));
    assert_eq!(v(0.1), (Verdict::Improvement, Verdict::Regression));
    // Too few samples: not judged.
    let few = bench_report(&[query("a", &[1.0, 1.0], true)]);
    assert_eq!(compare(&few, &few, 0.1)[1].verdict, Verdict::NotJudged);
    assert_eq!(bench::rows(&report(), &few, 0.1).len(), 0);
    let none = bench_report(&[query("z", &c(1.0), true)]);
    assert!(compare(&few, &none, 0.1).is_empty());
}

#[test]
fn bench_settings_that_differ_are_named() {
    let a = bench_body(&[]);
    let mut b = bench_body(&[]);
    assert!(bench::incomparable(&a, &b).is_empty());
    b.index_bench.scale = 2.0;
    b.index_bench.mode = "a-a".into();
    b.index_bench.migration = "n.sql".into();
    b.index_bench.seed = 2;
    b.settings = Some(crate::report::bench_model::BenchRunAs {
        as_role: "authenticated".into(),
        user: None,
    });
    assert_eq!(
        bench::incomparable(&a, &b),
        [
            "scale 1 vs 2",
            "index-bench mode before-after vs a-a",
            "migration under test m.sql vs n.sql",
            "seed 1 vs 2",
            "--as owner vs authenticated",
        ]
    );
    let (x, y) = (bench_report(&[]), {
        let mut y = bench_report(&[]);
        y.body = Body::IndexBench(b);
        y
    });
    assert_eq!(incomparable(&x, &y).len(), 5);
}

#[test]
fn row_labels_mark_the_bad_verdicts() {
    use Verdict::*;
    let names: Vec<(&str, bool, String)> =
        [NoChange, Improvement, Regression, NewlyFailing, NotJudged]
            .iter()
            .map(|v| (v.name(), v.is_bad(), v.label()))
            .collect();
    assert_eq!(
        names,
        [
            ("no change", false, "no change".to_string()),
            ("improvement", false, "improvement".to_string()),
            ("regression", true, "**regression**".to_string()),
            ("newly failing", true, "**newly failing**".to_string()),
            ("(not judged)", false, "(not judged)".to_string()),
        ]
    );
    let row = |v: Verdict, c: Option<f64>| Row {
        metric: String::new(),
        base: String::new(),
        new: String::new(),
        change_pct: c,
        verdict: v,
    };
    assert_eq!(
        summary(&[row(NoChange, None), row(Improvement, None)]),
        "no regression"
    );
    assert_eq!(
        summary(&[
            row(Regression, None),
            row(NewlyFailing, None),
            row(NotJudged, None)
        ]),
        "2 regression(s)"
    );
    assert_eq!(change_label(&row(NoChange, Some(3.21))), "+3.2%");
    assert_eq!(change_label(&row(NoChange, Some(-0.05))), "-0.1%");
    assert_eq!(change_label(&row(NoChange, None)), "");
    let r = report();
    let side = serde_json::to_value(Side::of(&r)).unwrap();
    assert_eq!(side["run_id"], r.run_id.as_str());
    assert_eq!(side["started_at"], r.started_at.as_str());
    assert_eq!(side["verdict"], r.verdict.name());
    assert_eq!(side["scenario"], "token-race");
}
