//! The index benchmark at a small scale: before has none of the migration's indexes and after
//! has all of them, every after-plan uses its index, an A/A run proves no speedup, and broken
//! queries are input errors.

use crate::util::*;
use std::path::Path;

/// Runs an index bench on the shared server; returns (exit code, stderr, report if written).
fn bench(file: &Path, extra: &[&str]) -> (Option<i32>, String, Option<serde_json::Value>) {
    run_scenario(file.to_str().unwrap(), extra)
}

/// Index names the migration file creates.
fn migration_indexes() -> Vec<String> {
    let sql = include_str!("../../migrations/20251117000004_add_missing_foreign_key_indexes.sql");
    sql.lines()
        .filter_map(|l| l.trim().strip_prefix("CREATE INDEX IF NOT EXISTS "))
        .map(|rest| rest.split_whitespace().next().unwrap().to_string())
        .collect()
}

/// Kept (`--keep`): after the run, the tables the `rollback = true` DELETEs touched still hold
/// every generated row.
#[tokio::test]
async fn join_bench_uses_every_new_index_and_proves_a_speedup() {
    let dir = tempfile::tempdir().unwrap();
    let file = quick_bench(dir.path(), |t| t);
    let (code, err, r) = bench(&file, &["--scale", "0.01", "--keep"]);
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    let kept = kept_db(&err);
    let db = connect(&kept).await;
    let generated = |table: &str| {
        r["index_bench"]["data"]["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == table)
            .unwrap_or_else(|| panic!("no {table} in {}", r["index_bench"]["data"]))["rows"]
            .as_i64()
            .unwrap()
    };
    for table in ["credit_transactions", "support_ticket_messages"] {
        let rows: i64 = db
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert!(rows > 0);
        assert_eq!(rows, generated(table), "{table}: a rolled-back DELETE kept");
    }
    drop(db);
    drop_db(&kept).await;
    assert_eq!(r["verdict"], "pass");
    let wanted = migration_indexes();
    assert_eq!(wanted.len(), 12);
    // new_indexes = after minus before: all of them are new, so before had none.
    let new: Vec<&str> = r["index_bench"]["new_indexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for i in &wanted {
        assert!(
            new.contains(&i.as_str()),
            "{i} not created by the migration: {new:?}"
        );
    }
    let queries = r["queries"].as_array().unwrap();
    let in_file = include_str!("../../scenarios/join-bench.toml")
        .lines()
        .filter(|l| l.trim() == "[[queries]]")
        .count();
    assert_eq!(in_file, 14);
    assert_eq!(queries.len(), in_file);
    for q in queries {
        assert_eq!(q["uses_index"], true, "{}: {}", q["name"], q["plan_after"]);
        let before = q["plan_before"].to_string();
        assert!(
            !before.contains(q["index"].as_str().unwrap()),
            "{} used {} before the migration: {before}",
            q["name"],
            q["index"]
        );
        let ms = |k: &str| q[k].as_f64().unwrap();
        assert!(
            ms("before_ms") > 0.0 && ms("before_ms") <= ms("before_p95_ms"),
            "{q}"
        );
        assert!(
            ms("after_ms") > 0.0 && ms("after_ms") <= ms("after_p95_ms"),
            "{q}"
        );
        let ci = (ms_at(q, 0), ms_at(q, 1));
        assert!(
            ci.0 <= ms("speedup") && ms("speedup") <= ci.1,
            "{}: {ci:?}",
            q["name"]
        );
        assert!(
            q["plan_after_text"].as_str().unwrap().contains("Buffers"),
            "EXPLAIN (ANALYZE, BUFFERS)"
        );
    }
    for i in &wanted {
        assert!(
            queries.iter().any(|q| q["index"] == i.as_str()),
            "no query for {i}"
        );
    }
    assert!(
        queries
            .iter()
            .any(|q| q["speedup_ci"][0].as_f64().unwrap() > 1.0)
    );
    assert!(r["load_rows_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(r["index_bench"]["data"]["rows"], 29_800);
    let fks: Vec<String> = r["unindexed_foreign_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{}({})",
                f["table"].as_str().unwrap(),
                f["columns"][0].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        fks.contains(&"automation_connections(source_node_id)".to_string()),
        "{fks:?}"
    );
    assert!(
        !fks.iter().any(|f| f.starts_with("automation_nodes(")),
        "{fks:?}"
    );
}

fn ms_at(q: &serde_json::Value, i: usize) -> f64 {
    q["speedup_ci"][i].as_f64().unwrap()
}

/// At the shipped confidence (0.95): `--aa` promises that all 14 intervals contain 1 together
/// with that probability (each is Bonferroni-corrected to 1 - 0.05/14), so one A/A run passes.
#[test]
fn a_a_calibration_proves_no_speedup() {
    let dir = tempfile::tempdir().unwrap();
    let file = quick_bench(dir.path(), |t| t);
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("confidence = 0.95")
    );
    // The server URL's own options stay in force beside the benchmark's session settings.
    let url = format!("{} options='-c work_mem=7MB'", shared().url);
    let reports = dir.path().join("reports");
    let out = run(&[
        "run",
        file.to_str().unwrap(),
        "--scale",
        "0.01",
        "--aa",
        "--quiet",
        "--database-url",
        &url,
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(&reports);
    let settings = &r["database"]["settings"];
    assert_eq!(settings["work_mem"], "7MB", "{settings}");
    assert_eq!(settings["synchronize_seqscans"], "off", "{settings}");
    assert_eq!(settings["jit"], "off", "{settings}");
    assert_eq!(r["index_bench"]["mode"], "a-a");
    assert_eq!(r["verdict"], "pass", "{}", r["failures"]);
    assert_eq!(r["queries"].as_array().unwrap().len(), 14);
    for q in r["queries"].as_array().unwrap() {
        let (lo, hi) = (
            q["speedup_ci"][0].as_f64().unwrap(),
            q["speedup_ci"][1].as_f64().unwrap(),
        );
        assert!(lo <= 1.0 && hi >= 1.0, "{}: [{lo}, {hi}]", q["name"]);
        assert_eq!(q["runs_before"], q["runs_after"]);
    }
}

/// Migrations for the failing-verdict benches: `probe(uuid)` is fast before the migration under
/// test (20251117000006) and sleeps 2 ms after it, which also creates an index no query uses;
/// `aa_probe` counts the A/A runs.
fn probe_migrations() -> tempfile::TempDir {
    migrations_with(&[
        (
            "20251117000005_probe.sql",
            "CREATE SEQUENCE public.aa_probe;
CREATE FUNCTION public.probe(p uuid) RETURNS uuid LANGUAGE sql AS $$ SELECT p $$;
",
        ),
        (
            "20251117000006_slower_probe.sql",
            "CREATE INDEX idx_probe_unused ON public.user_credits (created_at);
CREATE OR REPLACE FUNCTION public.probe(p uuid) RETURNS uuid LANGUAGE plpgsql AS $$
BEGIN PERFORM pg_sleep(0.002); RETURN p; END $$;
",
        ),
    ])
}

/// A one-query bench of the probe migrations: `sql` timed, `index` the index it should use.
fn probe_bench(dir: &Path, sql: &str, index: &str) -> std::path::PathBuf {
    let file = dir.join("probe-bench.toml");
    std::fs::write(
        &file,
        format!(
            r#"kind = "index-bench"
[bench]
migration = "20251117000006"
warmup = 3
min_runs = 30
max_runs = 30
time_per_query = "10ms"
throughput_time = "10ms"

[[tables]]
name = "auth.users"
rows = 200
columns.id = {{ seq = "uuid" }}
columns.email = {{ format = "user{{n}}@example.test" }}

[[queries]]
name = "probe"
index = "{index}"
sql = "{sql}"
params = "SELECT id FROM auth.users"
"#
        ),
    )
    .unwrap();
    file
}

/// The bench's verdicts fail for real: a query whose after-plan does not use its index, an
/// index the migration created that no query uses, and no query proven faster (the migration
/// made the only query slower) each fail the run (exit 1) and are named.
#[test]
fn the_bench_fails_without_its_index_an_unused_index_or_a_speedup() {
    let dir = tempfile::tempdir().unwrap();
    let migrations = probe_migrations();
    let file = probe_bench(dir.path(), "SELECT public.probe($1)", "idx_probe_unused");
    let (code, err, r) = bench(
        &file,
        &["--migrations", migrations.path().to_str().unwrap()],
    );
    assert_eq!(code, Some(1), "{err}");
    let r = r.unwrap();
    assert_eq!(r["verdict"], "fail");
    let failures = r["failures"].to_string();
    for wanted in [
        "query probe: the after-plan does not use idx_probe_unused",
        "index idx_probe_unused (created by 20251117000006) is used by no query's after-plan",
        "no query is proven faster after 20251117000006",
    ] {
        assert!(failures.contains(wanted), "{wanted}: {failures}");
    }
    let q = &r["queries"][0];
    assert!(ms_at(q, 1) < 1.0, "the probe got slower: {q}");
    assert_eq!(q["proven"], false);
}

/// An A/A run whose two sides really differ fails: the probe sleeps on the runs that go to the
/// second side. The sides alternate ABBA round by round (`bench::timing::time`), and with the
/// 3 warm-ups the k-th timed run draws `aa_probe` value k + 4, so the second side's runs are
/// those with value mod 4 in (1, 2).
#[test]
fn an_a_a_run_whose_sides_differ_fails() {
    let dir = tempfile::tempdir().unwrap();
    let migrations = probe_migrations();
    let file = probe_bench(
        dir.path(),
        "SELECT pg_sleep(CASE WHEN nextval('public.aa_probe') % 4 IN (1, 2) THEN 0.003 ELSE 0 END), $1::uuid",
        "idx_probe_unused",
    );
    let (code, err, r) = bench(
        &file,
        &["--aa", "--migrations", migrations.path().to_str().unwrap()],
    );
    assert_eq!(code, Some(1), "{err}");
    let r = r.unwrap();
    assert_eq!(r["index_bench"]["mode"], "a-a");
    let q = &r["queries"][0];
    assert!(ms_at(q, 1) < 1.0, "the second side is slower: {q}");
    assert!(
        r["failures"]
            .to_string()
            .contains("A/A: query probe differs from itself"),
        "{}",
        r["failures"]
    );
}

#[test]
fn a_broken_query_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    for (broken, wanted) in [
        (
            "WHERE w.id = $1\"\"\"\nparams = \"SELECT id FROM automation_workflows\"",
            "WHERE w.id = = $1\"\"\"\nparams = \"SELECT id FROM automation_workflows\"",
        ),
        (
            "FROM automation_workflows w JOIN automation_nodes n",
            "FROM automation_workflows w JOIN no_such_table n",
        ),
    ] {
        let file = quick_bench(dir.path(), |t| t.replacen(broken, wanted, 1));
        let (code, err, r) = bench(&file, &["--scale", "0.001"]);
        assert_eq!(code, Some(2), "{err}");
        assert!(r.is_none(), "no report for bad input");
        let line = err.trim();
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(
            line.contains("join-bench.toml:") && line.contains("workflow-with-nodes"),
            "{line}"
        );
        assert!(
            line.contains("42601")
                || line.contains("42P01")
                || line.contains("does not exist")
                || line.contains("syntax"),
            "{line}"
        );
    }
}

#[test]
fn race_flags_are_refused_for_a_bench_and_bench_flags_for_a_race() {
    let out = run(&["run", "join-bench", "--ops", "10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--ops applies to races"),
        "{}",
        stderr(&out)
    );
    let out = run(&["run", "token-race", "--scale", "2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--scale applies to index-bench"),
        "{}",
        stderr(&out)
    );
    let out = run(&["run", "join-bench", "--scale", "0"]);
    assert_eq!(out.status.code(), Some(2));
    // A migrations folder without the migration under test.
    let dir = migrations_with(&[]);
    std::fs::remove_file(
        dir.path()
            .join("20251117000004_add_missing_foreign_key_indexes.sql"),
    )
    .unwrap();
    let out = run(&[
        "run",
        "join-bench",
        "--migrations",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("bench.migration = \"20251117000004\" is not among the migrations"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn sigint_during_the_load_stops_everything() {
    use std::time::Duration;
    // Into the COPY of three million rows: the first table is loaded, the others are streaming.
    let i = interrupt(
        &["run", "join-bench"],
        "  loaded ",
        Duration::from_millis(200),
    );
    i.assert_clean();
    assert!(
        !i.stderr.contains("VACUUM"),
        "the load had finished before the signal: {}",
        i.stderr
    );
    // The fix's promise: the COPY is abandoned between chunks of 4096 rows (milliseconds), then
    // the scratch server stops; before it, the current table was finished first (up to 10 s).
    assert!(
        i.stopped_after < Duration::from_secs(3),
        "took {:?} to stop",
        i.stopped_after
    );
}
