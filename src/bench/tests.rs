use super::{ForeignKeyReport, IndexBench, QueryReport, Rules, judge};

#[test]
fn an_aa_run_corrects_each_level_for_the_family_and_draws_more_resamples() {
    let aa = super::bootstrap_for(0.95, 14, true);
    assert_eq!(aa.resamples, 10_000);
    assert!(
        (aa.level - (1.0 - 0.05 / 14.0)).abs() < 1e-12,
        "{}",
        aa.level
    );
    let gate = super::bootstrap_for(0.95, 14, false);
    assert_eq!(gate.resamples, crate::stats::Bootstrap::RESAMPLES);
    assert!((gate.level - 0.95).abs() < 1e-12, "{}", gate.level);
    assert_eq!(aa.seed, gate.seed);
}

/// A query `name` over index `{name}_idx`, its after-plan `plan`, speedup interval `ci`.
fn query(name: &str, plan: &[&str], ci: [f64; 2]) -> QueryReport {
    let after: Vec<String> = plan.iter().map(|n| n.to_string()).collect();
    serde_json::from_value(serde_json::json!({
        "name": name, "index": format!("{name}_idx"), "sql": "",
        "before_ms": 2.0, "after_ms": 1.0, "before_p95_ms": 0.0, "after_p95_ms": 0.0,
        "runs_before": 5, "runs_after": 5, "speedup": (ci[0] + ci[1]) / 2.0,
        "speedup_ci": ci, "proven": ci[0] > 1.0,
        "uses_index": after.iter().any(|n| super::node_uses(n, &format!("{name}_idx"))),
        "plan_before": [], "plan_after": after, "plan_before_text": "",
        "plan_after_text": "", "representative_params": [], "missing_share": 0.0,
        "throughput_before_qps": 0.0, "throughput_after_qps": 0.0,
        "samples_before_ms": [], "samples_after_ms": []
    }))
    .unwrap()
}

fn bench(new_indexes: &[&str]) -> IndexBench {
    serde_json::from_value(serde_json::json!({
        "migration": "m.sql", "mode": "before-after", "scale": 1.0, "seed": 1,
        "workers": 1, "warmup": 0, "min_runs": 0, "max_runs": 0, "time_per_query_s": 0.0,
        "throughput_time_s": 0.0, "confidence": 0.95, "session_settings": [],
        "data": {"tables": [], "rows": 0, "seconds": 0.0, "rows_per_s": 0.0,
                 "foreign_key_checks": "", "vacuum_analyze_s": 0.0},
        "migration_s": null, "new_indexes": new_indexes
    }))
    .unwrap()
}

const GATE: Rules = Rules {
    aa: false,
    as_authenticated: false,
    confidence: 0.95,
};

#[test]
fn a_used_index_with_a_proven_speedup_passes() {
    let qs = [
        query("a", &["Index Scan using a_idx on t"], [1.5, 3.0]),
        query(
            "b",
            &["Bitmap Heap Scan on t", "Bitmap Index Scan using b_idx"],
            [0.9, 1.1],
        ),
    ];
    let (f, w) = judge(GATE, &qs, &bench(&["a_idx", "b_idx"]), &[]);
    assert!(f.is_empty(), "{f:?}");
    // b's speedup is not proven: said, not failed, while another query's is.
    assert_eq!(
        w,
        ["query b: no proven speedup (1.00x, interval [0.90, 1.10] includes 1)"]
    );
}

#[test]
fn an_after_plan_without_its_index_and_an_unused_index_fail() {
    let qs = [query("a", &["Seq Scan on t"], [1.5, 3.0])];
    let (f, w) = judge(GATE, &qs, &bench(&["a_idx", "spare_idx"]), &[]);
    assert_eq!(
        f,
        [
            "query a: the after-plan does not use a_idx (Seq Scan on t)",
            "index a_idx (created by m.sql) is used by no query's after-plan: add a query for it",
            "index spare_idx (created by m.sql) is used by no query's after-plan: add a query for it",
        ]
    );
    assert!(w.is_empty());
    // As authenticated, the same problems inform instead of gating.
    let rules = Rules {
        as_authenticated: true,
        ..GATE
    };
    let (f, w) = judge(rules, &qs, &bench(&["a_idx", "spare_idx"]), &[]);
    assert!(f.is_empty(), "{f:?}");
    assert_eq!(w.len(), 3);
    assert!(
        w.iter().all(|x| x.starts_with("as authenticated: ")),
        "{w:?}"
    );
}

#[test]
fn no_proven_speedup_fails_the_run() {
    let qs = [
        query("a", &["Index Scan using a_idx on t"], [0.8, 1.2]),
        query("b", &["Index Scan using b_idx on t"], [1.0, 1.3]),
    ];
    let (f, w) = judge(GATE, &qs, &bench(&[]), &[]);
    assert_eq!(
        f,
        ["no query is proven faster after m.sql (every speedup interval includes 1)"]
    );
    assert_eq!(w.len(), 2);
    // One interval wholly above 1 is enough.
    let qs = [query("a", &["Index Scan using a_idx on t"], [1.01, 1.2])];
    assert_eq!(judge(GATE, &qs, &bench(&[]), &[]), (vec![], vec![]));
}

#[test]
fn an_aa_interval_that_excludes_one_fails() {
    let aa = Rules { aa: true, ..GATE };
    let qs = [
        query("a", &["Seq Scan on t"], [0.9, 1.1]),
        query("b", &["Seq Scan on t"], [1.0, 1.0]),
        query("c", &["Seq Scan on t"], [1.01, 1.2]),
        query("d", &["Seq Scan on t"], [0.8, 0.99]),
    ];
    // No index or speedup checks in an A/A run: only the intervals.
    let (f, w) = judge(aa, &qs, &bench(&["x_idx"]), &[]);
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!(
        f[0],
        "A/A: query c differs from itself: speedup 1.105, interval [1.01, 1.20] excludes 1 \
         (at 98.75% per query, 95% for all 4 together: the noise is larger than the \
         interval admits)"
    );
    assert!(f[1].starts_with("A/A: query d differs"), "{f:?}");
    assert!(w.is_empty());
}

#[test]
fn unindexed_foreign_keys_are_a_warning() {
    let fk = |t: &str, c: &[&str]| ForeignKeyReport {
        table: t.into(),
        columns: c.iter().map(|x| x.to_string()).collect(),
        references: "p".into(),
        constraint: "fk".into(),
        partial_index_not_counted: None,
    };
    let qs = [query("a", &["Index Scan using a_idx on t"], [2.0, 3.0])];
    let (f, w) = judge(
        GATE,
        &qs,
        &bench(&[]),
        &[fk("orders", &["user_id"]), fk("items", &["a", "b"])],
    );
    assert!(f.is_empty());
    assert_eq!(
        w,
        [
            "2 foreign key(s) still have no supporting index after m.sql: orders(user_id), items(a, b)"
        ]
    );
}

#[test]
fn plan_nodes_name_their_index() {
    assert!(super::node_uses("Bitmap Index Scan using idx_a", "idx_a"));
    assert!(super::node_uses("Index Scan using idx_a on t x", "idx_a"));
    assert!(!super::node_uses("Index Scan using idx_ab on t", "idx_a"));
    assert!(!super::node_uses("Seq Scan on idx_a", "idx_a"));
}
