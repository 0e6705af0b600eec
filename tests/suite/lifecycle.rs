//! What a run leaves, and with what it runs: `migrate` applied for real (its database kept with
//! `--keep` and read back), `--threads`, and the embedded cluster's cleanup after a failing run
//! and after a database error mid-run.

use crate::util::*;

/// `loadtest migrate --keep` on the shared server: exit 0, and the kept database holds every
/// migration in the ledger with its checksum, the RPCs, and the 12 indexes of 20251117000004;
/// `--until` stops before it.
#[tokio::test]
async fn migrate_applies_every_file_and_keep_leaves_the_database() {
    let migrate = |extra: &[&str]| {
        let mut args = vec!["migrate", "--keep", "--database-url", &shared().url];
        args.extend(extra);
        run(&args)
    };
    let out = migrate(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let kept = kept_db(&stderr(&out));
    let db = connect(&kept).await;
    let versions: Vec<String> = db
        .query(
            "SELECT version::text FROM loadtest.schema_migrations WHERE checksum IS NOT NULL \
                ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        versions,
        [
            "20251110000000",
            "20251117000001",
            "20251117000002",
            "20251117000003",
            "20251117000004"
        ]
    );
    let count = |sql: &'static str| {
        let db = &db;
        async move { db.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(
        count(
            "SELECT count(*) FROM pg_proc WHERE proname IN \
                ('increment_token_usage', 'increment_participant_stats')"
        )
        .await,
        2
    );
    let fk_indexes = "SELECT count(*) FROM pg_indexes WHERE indexname IN \
        ('idx_automation_nodes_workflow', 'idx_automation_connections_workflow', \
         'idx_credit_transactions_user_credit', 'idx_support_ticket_messages_ticket', \
         'idx_blog_comments_post', 'idx_blog_comments_parent', 'idx_vibe_sessions_updated', \
         'idx_vibe_sessions_user_status', 'idx_support_tickets_user_status', \
         'idx_token_transactions_user', 'idx_token_transactions_created', \
         'idx_token_transactions_type')";
    assert_eq!(count(fk_indexes).await, 12);
    drop(db);
    drop_db(&kept).await;
    assert!(
        stdout(&out).contains("migration(s) from"),
        "{}",
        stdout(&out)
    );

    let out = migrate(&["--until", "20251117000003"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let kept = kept_db(&stderr(&out));
    let db = connect(&kept).await;
    let n: i64 = db.query_one(fk_indexes, &[]).await.unwrap().get(0);
    assert_eq!(n, 0, "--until stops before the index migration");
    drop(db);
    drop_db(&kept).await;
}

/// One client thread carries a full race (256 workers on 64 connections) to a pass: nothing
/// in the load blocks the only runtime thread.
#[test]
fn one_client_thread_runs_a_whole_race() {
    let (code, err, r) = run_scenario("token-race", &["--ops", "2000", "--threads", "1"]);
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    assert_eq!(r["verdict"], "pass");
    assert_eq!(path(&r, "rpc")["ops_ok"], 2000);
    assert!(
        r["command_line"].as_str().unwrap().contains("--threads 1"),
        "{}",
        r["command_line"]
    );
}

/// `loadtest run token-race <args>` on a scratch cluster of its own: exit code, stderr, and
/// that it left no scratch folder and no server.
fn embedded(args: &[&str]) -> (Option<i32>, String) {
    embedded_with(args, &[])
}

/// [`embedded`], with extra environment variables.
fn embedded_with(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let scratch = tempfile::tempdir().unwrap();
    let reports = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["run", "token-race", "--quiet"])
        .args(args)
        .arg("--report-dir")
        .arg(reports.path())
        .env("LOADTEST_SCRATCH_DIR", scratch.path())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(
        std::fs::read_dir(scratch.path()).unwrap().count(),
        0,
        "scratch folder left: {err}"
    );
    assert!(
        servers_mentioning(scratch.path().to_str().unwrap()).is_empty(),
        "server left running: {err}"
    );
    (out.status.code(), err)
}

#[test]
fn the_embedded_cluster_is_removed_after_a_failure_and_a_database_error() {
    // A failing expectation (exit 1): the RPC is the fallback's read-modify-write.
    let lossy = migrations_with(&[(
        "29991231000000_lossy_rpc.sql",
        "CREATE OR REPLACE FUNCTION public.increment_token_usage(p_user_id uuid, p_tokens_used integer)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE v integer;
BEGIN
  SELECT used_tokens INTO v FROM public.user_subscriptions WHERE user_id = p_user_id;
  PERFORM pg_sleep(0.0005);
  UPDATE public.user_subscriptions SET used_tokens = v + p_tokens_used WHERE user_id = p_user_id;
END $$;
",
    )]);
    let (code, err) = embedded(&[
        "--ops",
        "2000",
        "--migrations",
        lossy.path().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{err}");
    // A database error mid-run (exit 3): the 100th RPC call renames the counter table away, so
    // the oracle cannot read it back.
    let vanishing = migrations_with(&[(
        "29991231000000_vanishing_table.sql",
        "CREATE SEQUENCE public.calls;
CREATE OR REPLACE FUNCTION public.increment_token_usage(p_user_id uuid, p_tokens_used integer)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  IF nextval('public.calls') = 100 THEN
    ALTER TABLE public.user_subscriptions RENAME TO gone;
    RETURN;
  END IF;
  UPDATE public.user_subscriptions SET used_tokens = used_tokens + p_tokens_used
  WHERE user_id = p_user_id;
END $$;
",
    )]);
    let (code, err) = embedded(&[
        "--ops",
        "500",
        "--migrations",
        vanishing.path().to_str().unwrap(),
    ]);
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("user_subscriptions"), "{err}");
}

/// A bug's panic once the scratch cluster is up: one line naming it as an internal error, exit
/// 3, and (checked by `embedded_with`) no server and no scratch folder left, as the unwinding
/// drops the cluster.
#[test]
fn a_panic_once_the_server_is_up_still_removes_the_embedded_cluster() {
    let (code, err) = embedded_with(&["--ops", "100"], &[("LOADTEST_TEST_PANIC", "1")]);
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.contains("loadtest: internal error: LOADTEST_TEST_PANIC is set"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}
