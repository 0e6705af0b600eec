//! Integration tests against real PostgreSQL: the migration runner, the external-server safety
//! rule, the token race end to end, clean-up on exit and on SIGINT, and bad input.

mod util;

use loadtest::pg::{compat, migrate};
use std::time::Duration;
use util::*;

const SEED_INDEXES: [&str; 12] = [
    "idx_automation_nodes_workflow",
    "idx_automation_connections_workflow",
    "idx_credit_transactions_user_credit",
    "idx_support_ticket_messages_ticket",
    "idx_blog_comments_post",
    "idx_blog_comments_parent",
    "idx_vibe_sessions_updated",
    "idx_token_transactions_created",
    "idx_vibe_sessions_user_status",
    "idx_support_tickets_user_status",
    "idx_token_transactions_type",
    "idx_token_transactions_user",
];

async fn names(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    client
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

async fn seed_indexes(client: &tokio_postgres::Client) -> Vec<String> {
    names(
        client,
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
    )
    .await
    .into_iter()
    .filter(|i| SEED_INDEXES.contains(&i.as_str()))
    .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_apply_end_to_end() {
    let client = fresh_db("e2e").await;
    compat::apply(&client).await.unwrap();
    let all = migrate::load_builtin().unwrap();
    let applied = migrate::apply(&client, &all, |_| {}).await.unwrap();
    assert_eq!(applied.len(), all.len());
    let tables = names(
        &client,
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
    )
    .await;
    for t in [
        "user_subscriptions",
        "conversations",
        "conversation_participants",
        "purchased_employees",
        "automation_workflows",
        "automation_nodes",
        "automation_connections",
        "user_credits",
        "credit_transactions",
        "support_tickets",
        "support_ticket_messages",
        "blog_posts",
        "blog_comments",
        "vibe_sessions",
        "token_transactions",
        "workforce_executions",
        "workforce_tasks",
    ] {
        assert!(tables.contains(&t.to_string()), "missing table {t}");
    }
    let functions = names(
        &client,
        "SELECT proname::text FROM pg_proc WHERE pronamespace = 'public'::regnamespace",
    )
    .await;
    assert!(functions.contains(&"increment_token_usage".to_string()));
    assert!(functions.contains(&"increment_participant_stats".to_string()));
    assert_eq!(seed_indexes(&client).await.len(), SEED_INDEXES.len());
    let recorded: i64 = client
        .query_one("SELECT count(*) FROM loadtest.schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded as usize, all.len());
    // Applying again changes nothing: everything is already recorded with the same checksum.
    let again = migrate::apply(&client, &all, |_| {}).await.unwrap();
    assert!(again.iter().all(|a| a.already_applied));
}

#[tokio::test(flavor = "multi_thread")]
async fn until_leaves_the_seed_indexes_out() {
    let client = fresh_db("until").await;
    compat::apply(&client).await.unwrap();
    let all = migrate::load_builtin().unwrap();
    let before = migrate::select(&all, Some("20251117000003"), "builtin").unwrap();
    migrate::apply(&client, before, |_| {}).await.unwrap();
    assert_eq!(seed_indexes(&client).await, Vec::<String>::new());
    let f: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_proc WHERE proname = 'increment_participant_stats'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(f, 1, "000003 is applied");
    // ... and the rest applies on top: the "after" state.
    migrate::apply(&client, &all, |_| {}).await.unwrap();
    assert_eq!(seed_indexes(&client).await.len(), SEED_INDEXES.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_migration_is_rolled_back_and_named_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1_ok.sql"), "CREATE TABLE ok (x int);\n").unwrap();
    std::fs::write(
        dir.path().join("2_bad.sql"),
        "CREATE TABLE half (x int);\nINSERT INTO half VALUES (1);\n\nINSERT INTO no_such_table VALUES (1);\n",
    )
    .unwrap();
    let client = fresh_db("failing").await;
    let (files, _) = migrate::load_dir(dir.path()).unwrap();
    let err = migrate::apply(&client, &files, |_| {}).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("2_bad.sql") && msg.contains("line 4") && msg.contains("42P01"),
        "{msg}"
    );
    assert!(err.is_input_error());
    let tables = names(
        &client,
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
    )
    .await;
    assert_eq!(
        tables,
        ["ok"],
        "the failing file's table must be rolled back"
    );
    let recorded = names(&client, "SELECT version FROM loadtest.schema_migrations").await;
    assert_eq!(recorded, ["1"]);

    // The same through the binary: exit 2, one line naming file, line and SQLSTATE.
    let out = run(&[
        "migrate",
        "--compat",
        "none",
        "--migrations",
        dir.path().to_str().unwrap(),
        "--database-url",
        &shared().url,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("2_bad.sql failed at line 4: 42P01"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn files_with_their_own_transaction_bom_and_crlf_apply() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("1_own_tx.sql"),
        b"\xef\xbb\xbfBEGIN;\r\nCREATE TABLE a (x int);\r\nCOMMIT;\r\nBEGIN;\r\nCREATE TABLE b (x int);\r\nCOMMIT;\r\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("2_atomic.sql"),
        "CREATE FUNCTION two() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND;\nCREATE TABLE c AS SELECT two() AS x;\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("README.md"), "not a migration").unwrap();
    let client = fresh_db("own_tx").await;
    let (files, skipped) = migrate::load_dir(dir.path()).unwrap();
    assert_eq!(skipped, ["README.md"]);
    migrate::apply(&client, &files, |_| {}).await.unwrap();
    let tables = names(
        &client,
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    )
    .await;
    assert_eq!(tables, ["a", "b", "c"]);
    let x: i32 = client
        .query_one("SELECT x FROM c", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(x, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_checksum_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("1_t.sql");
    std::fs::write(&file, "CREATE TABLE t (x int);\n").unwrap();
    let client = fresh_db("checksum").await;
    let (files, _) = migrate::load_dir(dir.path()).unwrap();
    migrate::apply(&client, &files, |_| {}).await.unwrap();
    std::fs::write(&file, "CREATE TABLE t (x bigint);\n").unwrap();
    let (changed, _) = migrate::load_dir(dir.path()).unwrap();
    let err = migrate::apply(&client, &changed, |_| {}).await.unwrap_err();
    assert!(
        matches!(err, migrate::MigrateError::ChecksumChanged { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("migration 1 was applied but its file changed"),
        "{err}"
    );
}

#[test]
fn duplicate_versions_and_unknown_until_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1_a.sql"), "SELECT 1;").unwrap();
    std::fs::write(dir.path().join("1_b.sql"), "SELECT 1;").unwrap();
    let out = run(&["migrate", "--migrations", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("version 1 appears twice (1_a.sql and 1_b.sql)"),
        "{}",
        stderr(&out)
    );
    let out = run(&["migrate", "--until", "19990101"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--until 19990101"),
        "{}",
        stderr(&out)
    );
}

/// pg_dump of a database, to compare it byte for byte (minus pg_dump's per-run random
/// `\restrict` key).
fn dump(db: &str) -> String {
    let bindir = loadtest::pg::binaries::Binaries::find(None).unwrap().bindir;
    let out = std::process::Command::new(bindir.join("pg_dump"))
        .args([
            "-h",
            shared().socket_dir.to_str().unwrap(),
            "-U",
            "postgres",
            "-d",
            db,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_external_run_creates_and_drops_only_its_own_database() {
    let bystander = fresh_db("bystander").await;
    bystander
        .batch_execute("CREATE TABLE user_subscriptions (user_id uuid, used_tokens int); INSERT INTO user_subscriptions VALUES (gen_random_uuid(), 7);")
        .await
        .unwrap();
    drop(bystander);
    let admin = connect("postgres").await;
    let before = dump("t_bystander");
    assert!(
        before.contains("COPY public.user_subscriptions"),
        "{before}"
    );
    let reports = tempfile::tempdir().unwrap();
    let url = shared()
        .url
        .replace("dbname=postgres", "dbname=t_bystander");
    let out = run(&[
        "run",
        "token-race",
        "--ops",
        "2000",
        "--quiet",
        "--database-url",
        &url,
        "--report-dir",
        reports.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(reports.path());
    assert_eq!(r["database"]["mode"], "external");
    // Other tests run on this server at the same time, so look for this run's database by name.
    let own = format!("loadtest_{}", r["run_id"].as_str().unwrap());
    let left: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&own],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the run's own database {own} must be gone");
    assert_eq!(
        dump("t_bystander"),
        before,
        "the URL's database must be untouched"
    );
}

#[test]
fn rpc_loses_nothing_and_fallback_loses_updates_at_the_defaults() {
    let reports = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "run",
            "token-race",
            "--quiet",
            "--report-dir",
            reports.path().to_str().unwrap(),
        ])
        .env("LOADTEST_SCRATCH_DIR", scratch.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(reports.path());
    assert_eq!(r["verdict"], "pass");
    assert_eq!(r["schema_version"], 1);
    let rpc = path(&r, "rpc");
    let fallback = path(&r, "fallback");
    assert_eq!(rpc["ops_ok"], 20000);
    assert_eq!(rpc["lost_updates"], 0);
    assert_eq!(rpc["counters"][0]["missing"], "0");
    assert_eq!(rpc["counters"][0]["expected"], rpc["counters"][0]["actual"]);
    assert!(fallback["lost_updates"].as_u64().unwrap() > 0);
    assert_eq!(fallback["lost_updates_exact"], true);
    assert_ne!(fallback["counters"][0]["missing"], "0");
    for key in ["p50", "p90", "p99", "p999", "max"] {
        assert!(rpc["latency_us"][key].as_u64().unwrap() > 0, "{key}");
    }
    assert!(rpc["throughput_ops_s"].as_f64().unwrap() > 0.0);
    // Markdown next to the JSON.
    assert!(
        std::fs::read_dir(reports.path())
            .unwrap()
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "md"))
    );
    // Nothing left behind.
    assert_eq!(
        std::fs::read_dir(scratch.path()).unwrap().count(),
        0,
        "scratch folder left"
    );
    assert!(servers_mentioning(scratch.path().to_str().unwrap()).is_empty());
}

#[test]
fn sigint_mid_run_stops_the_server_and_removes_the_folder() {
    // Past the migrations, into the load.
    interrupt(
        &["run", "token-race", "--ops", "100000000"],
        Duration::from_millis(1500),
    )
    .assert_clean();
}

/// Runs the token race on the shared server with `dir`'s migrations; it must exit 1.
fn token_race_failing_on(dir: &tempfile::TempDir, ops: &str) -> serde_json::Value {
    let reports = tempfile::tempdir().unwrap();
    let (migrations, reports_dir) = (
        dir.path().to_str().unwrap(),
        reports.path().to_str().unwrap(),
    );
    let out = run(&[
        "run",
        "token-race",
        "--ops",
        ops,
        "--quiet",
        "--migrations",
        migrations,
        "--database-url",
        &shared().url,
        "--report-dir",
        reports_dir,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    report(reports.path())
}

#[test]
fn a_non_atomic_rpc_fails_the_exact_expectation() {
    // The classic wrong fix: read into a variable, then write it back plus the delta.
    let dir = migrations_with(&[(
        "20251118000000_broken_rpc.sql",
        "CREATE OR REPLACE FUNCTION increment_token_usage(p_user_id uuid, p_tokens_used integer)
         RETURNS void LANGUAGE plpgsql AS $$
         DECLARE v integer;
         BEGIN
           SELECT used_tokens INTO v FROM user_subscriptions WHERE user_id = p_user_id;
           PERFORM pg_sleep(0.0005);
           UPDATE user_subscriptions SET used_tokens = v + p_tokens_used WHERE user_id = p_user_id;
         END $$;",
    )]);
    let r = token_race_failing_on(&dir, "3000");
    assert_eq!(r["verdict"], "fail");
    let rpc = path(&r, "rpc");
    assert!(rpc["lost_updates"].as_u64().unwrap() > 0);
    assert_eq!(rpc["expectation_held"], false);
    assert!(r["failures"][0].as_str().unwrap().contains("must be exact"));
}

#[test]
fn an_rpc_that_always_errors_fails_with_its_sqlstate() {
    let dir = migrations_with(&[(
        "20251118000000_erroring_rpc.sql",
        "CREATE OR REPLACE FUNCTION increment_token_usage(p_user_id uuid, p_tokens_used integer)
         RETURNS void LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'quota service down' USING ERRCODE = 'P0001'; END $$;",
    )]);
    let r = token_race_failing_on(&dir, "500");
    let rpc = path(&r, "rpc");
    assert_eq!(rpc["ops_failed"], 500);
    assert_eq!(rpc["lost_updates"], 0, "a refused call lost nothing");
    assert_eq!(rpc["errors"][0]["sqlstate"], "P0001");
    assert_eq!(rpc["errors"][0]["message"], "quota service down");
    assert!(
        r["failures"][0]
            .as_str()
            .unwrap()
            .contains("quota service down")
    );
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "this is = not [valid toml\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", "no-such-scenario"],
            "unknown scenario 'no-such-scenario'",
        ),
        (vec!["run", bad.to_str().unwrap()], "bad.toml:1:6"),
        (vec!["run", "token-race", "--ops", "0"], "--ops"),
        (vec!["run", "token-race", "--workers", "many"], "--workers"),
        (
            vec!["run", "token-race", "--migrations", "/no/such/dir"],
            "--migrations /no/such/dir",
        ),
        (
            vec!["run", "token-race", "--pg-bindir", "/no/such/dir"],
            "--pg-bindir",
        ),
        (
            vec!["run", "token-race", "--database-url", "postgres://x:y@[bad"],
            "--database-url",
        ),
        (vec!["frobnicate"], "frobnicate"),
    ];
    for (args, needle) in cases {
        let out = run(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "{err}"
        );
    }
}

#[test]
fn an_unreachable_server_is_exit_3() {
    let out = run(&[
        "run",
        "token-race",
        "--database-url",
        "host=/nonexistent port=1 user=x dbname=y",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stderr(&out).trim().lines().count(), 1);
    assert!(stderr(&out).contains("cannot connect"), "{}", stderr(&out));
}

#[test]
fn list_shows_the_token_race() {
    let out = run(&["list"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("token-race"));
}

#[path = "suite/race_engine.rs"]
mod race_engine;

#[path = "suite/index_bench.rs"]
mod index_bench;

#[path = "suite/html_chromium.rs"]
mod html_chromium;

#[path = "suite/hlog.rs"]
mod hlog;

#[test]
fn report_compare_and_render_from_saved_json() {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/example-token-race.json");
    let e = example.to_str().unwrap();
    let out = run(&["report", "compare", e, e]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("no regression"));

    let dir = tempfile::tempdir().unwrap();
    let mut slow: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&example).unwrap()).unwrap();
    for p in slow["paths"].as_array_mut().unwrap() {
        let t = p["throughput_ops_s"].as_f64().unwrap();
        p["throughput_ops_s"] = serde_json::json!(t / 2.0);
    }
    let slow_path = dir.path().join("slow.json");
    std::fs::write(&slow_path, serde_json::to_string(&slow).unwrap()).unwrap();
    let out = run(&["report", "compare", e, slow_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        stdout(&out).contains("| rpc throughput ops/s |")
            && stdout(&out).contains("**regression**")
    );
    // The same comparison as a page and as JSON: same exit code, both runs' values side by side.
    let slow_s = slow_path.to_str().unwrap();
    let out = run(&["report", "compare", e, slow_s, "--format", "html"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let page = stdout(&out);
    let base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&example).unwrap()).unwrap();
    for p in base["paths"].as_array().unwrap() {
        let (name, t) = (
            p["name"].as_str().unwrap(),
            p["throughput_ops_s"].as_f64().unwrap(),
        );
        for metric in ["throughput ops/s", "p50 µs", "p99 µs", "lost updates"] {
            assert!(
                page.contains(&format!("<td>{name} {metric}</td>")),
                "{name} {metric}"
            );
        }
        assert!(
            page.contains(&format!("<td>{t:.0}</td>")),
            "base value of {name}"
        );
        assert!(
            page.contains(&format!("<td>{:.0} (ratio", t / 2.0)),
            "new value of {name}"
        );
    }
    assert!(page.starts_with("<!DOCTYPE html>") && !page.contains("<script"));
    let out = run(&["report", "compare", e, slow_s, "--format", "json"]);
    assert_eq!(out.status.code(), Some(4));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["rows"][0]["metric"], "rpc throughput ops/s");
    assert_eq!(v["rows"][0]["verdict"], "regression");

    let mut other = slow.clone();
    other["settings"]["workers"] = serde_json::json!(8);
    let other_path = dir.path().join("other.json");
    std::fs::write(&other_path, serde_json::to_string(&other).unwrap()).unwrap();
    let out = run(&["report", "compare", e, other_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("workers 256 vs 8") && stderr(&out).contains("--force"));
    assert_eq!(
        run(&[
            "report",
            "compare",
            e,
            other_path.to_str().unwrap(),
            "--force"
        ])
        .status
        .code(),
        Some(4)
    );

    let mut old = slow;
    old["schema_version"] = serde_json::json!(0);
    let old_path = dir.path().join("old.json");
    std::fs::write(&old_path, serde_json::to_string(&old).unwrap()).unwrap();
    let truncated = dir.path().join("truncated.json");
    std::fs::write(
        &truncated,
        &std::fs::read_to_string(&example).unwrap()[..500],
    )
    .unwrap();
    for (file, needle) in [(&old_path, "schema_version 0"), (&truncated, "truncated")] {
        let out = run(&["report", "render", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert_eq!(stderr(&out).trim().lines().count(), 1);
        assert!(stderr(&out).contains(needle), "{}", stderr(&out));
    }
    let out = run(&["report", "render", e]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("# token-race — PASS"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unindexed_foreign_keys_are_found_and_indexed_ones_are_not() {
    let client = fresh_db("lint").await;
    client
        .batch_execute(
            "CREATE TABLE parent (id int PRIMARY KEY, a int, b int, UNIQUE (a, b));
             CREATE TABLE indexed (p int REFERENCES parent, x int);
             CREATE INDEX ON indexed (p, x);
             CREATE TABLE bare (p int REFERENCES parent);
             CREATE TABLE wrong_order (a int, b int, FOREIGN KEY (a, b) REFERENCES parent (a, b));
             CREATE INDEX ON wrong_order (b, a);
             CREATE TABLE partial_ok (p int REFERENCES parent);
             CREATE INDEX ON partial_ok (p) WHERE p IS NOT NULL;
             CREATE TABLE partial_bad (p int REFERENCES parent, open bool);
             CREATE INDEX partial_bad_open ON partial_bad (p) WHERE open;",
        )
        .await
        .unwrap();
    let found = loadtest::pg::lint::unindexed_foreign_keys(&client)
        .await
        .unwrap();
    let tables: Vec<&str> = found.iter().map(|f| f.table.as_str()).collect();
    assert_eq!(tables, ["bare", "partial_bad", "wrong_order"], "{found:?}");
    assert_eq!(found[2].columns, ["a", "b"]);
    assert!(
        found[1]
            .partial_index_not_counted
            .as_deref()
            .unwrap()
            .starts_with("partial_bad_open WHERE")
    );
    assert_eq!(found[0].references, "parent");
}

#[test]
fn nightly_runs_the_suite_and_compares_with_its_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let (d, baseline) = (
        dir.path().to_str().unwrap(),
        dir.path().join("base/baseline.json"),
    );
    let suite = dir.path().join("suite.txt");
    std::fs::write(&suite, "# the suite\ntoken-race\n").unwrap();
    let args = |extra: &[&str]| {
        let mut a = vec![
            "nightly",
            "--ops",
            "1500",
            "--quiet",
            "--report-dir",
            d,
            "--database-url",
            &shared().url,
        ];
        a.extend([
            "--suite",
            suite.to_str().unwrap(),
            "--baseline",
            baseline.to_str().unwrap(),
        ]);
        a.extend(extra.iter().copied());
        run(&a)
    };
    let out = args(&["--update-baseline", "--repeat", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let combined: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    assert_eq!(combined["kind"], "nightly");
    assert_eq!(combined["runs"].as_array().unwrap().len(), 2, "two repeats");
    assert_eq!(combined["runs"][1]["scenario"], "token-race");
    assert_eq!(combined["runs"][0]["scenario"], "token-race");
    assert!(combined["runs"][0]["machine"]["cores"].as_u64().unwrap() >= 1);
    let bigger: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("benchmark-bigger-is-better.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(bigger[0]["name"], "token-race/rpc throughput");
    assert_eq!(bigger[0]["unit"], "ops/s");
    // The repeats are pooled into one entry per path for the trackers.
    assert_eq!(bigger.as_array().unwrap().len(), 2, "{bigger}");
    let bmf: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("bencher-metrics.json")).unwrap(),
    )
    .unwrap();
    assert!(
        bmf["token-race/fallback"]["lost_updates"]["value"]
            .as_u64()
            .unwrap()
            > 0
    );
    // Against itself: every correctness row holds.
    let out = args(&["--threshold", "90%"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("| rpc expectation (exact) | held | held |"));
    assert!(
        stdout(&out).contains("means over 2 baseline and 1 new runs"),
        "{}",
        stdout(&out)
    );
}

/// `git -C dir args…`, which must succeed; its trimmed stdout.
fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .expect("git for this test");
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

#[test]
fn reports_name_the_git_commit_of_the_migrations_folder() {
    let run_on = |migrations: &std::path::Path| {
        let reports = tempfile::tempdir().unwrap();
        let out = run(&[
            "run",
            "token-race",
            "--ops",
            "200",
            "--quiet",
            "--migrations",
            migrations.to_str().unwrap(),
            "--report-dir",
            reports.path().to_str().unwrap(),
            "--database-url",
            &shared().url,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        (
            report(reports.path())["migrations"]["git"].clone(),
            stdout(&out),
        )
    };
    // A repository whose migrations live in a subfolder, committed.
    let repo = tempfile::tempdir().unwrap();
    let copied = migrations_with(&[]);
    let dir = repo.path().join("supabase/migrations");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(copied.path()).unwrap().flatten() {
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    git(repo.path(), &["init", "-q"]);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "schema"]);
    let head = git(repo.path(), &["rev-parse", "HEAD"]);
    let (g, md) = run_on(&dir);
    assert_eq!(g["commit"], head.as_str());
    assert_eq!(g["dirty"], false);
    assert!(md.contains(&format!("commit {}", &head[..12])), "{md}");

    // A change elsewhere in the repository does not make the folder dirty; one inside does.
    std::fs::write(repo.path().join("README"), "elsewhere").unwrap();
    assert_eq!(
        loadtest::provenance::of_dir(&dir).map(|g| g.dirty),
        Some(false)
    );
    let file = std::fs::read_dir(&dir).unwrap().flatten().next().unwrap();
    let mut sql = std::fs::read_to_string(file.path()).unwrap();
    sql.push_str("\n-- an uncommitted edit\n");
    std::fs::write(file.path(), sql).unwrap();
    let (g, md) = run_on(&dir);
    assert_eq!(
        (g["commit"].as_str(), &g["dirty"]),
        (Some(head.as_str()), &serde_json::json!(true))
    );
    assert!(md.contains("with uncommitted changes"), "{md}");

    // Not a repository: null, and the run goes on.
    assert_eq!(loadtest::provenance::of_dir(copied.path()), None);
    let (g, _) = run_on(copied.path());
    assert!(g.is_null(), "{g}");

    // The built-in migrations carry the commit loadtest was built from (this checkout's HEAD),
    // when it was built from a checkout.
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(here) = loadtest::provenance::of_dir(manifest) {
        let built = loadtest::provenance::builtin().expect("build.rs recorded the commit");
        assert_eq!(built.commit, here.commit);
    }
}
