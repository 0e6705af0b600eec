//! The migration runner against real PostgreSQL: the shipped migrations apply end to end and
//! again as a no-op, `--until` stops before the seed indexes, a failing file is rolled back and
//! named by file, line and SQLSTATE, files with their own transactions apply, and a changed
//! checksum is refused (through the binary, a failing file and a duplicate version are cases of
//! the catalogue, `catalogue.rs`).

use crate::util::*;
use loadtest::pg::{compat, migrate};

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
    let client = fresh_db().await;
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
    let client = fresh_db().await;
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
    let client = fresh_db().await;
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
    let client = fresh_db().await;
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
    let client = fresh_db().await;
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

/// `migrate` prints results on stdout (applied files, the summary) and the warning about a file
/// that is not a migration on stderr, so `loadtest migrate > applied.txt` holds results only.
#[test]
fn migrate_warns_about_skipped_files_on_stderr_and_reports_on_stdout() {
    let dir = migrations_with(&[("README.md", "not a migration")]);
    let out = run(&[
        "migrate",
        "--migrations",
        dir.path().to_str().unwrap(),
        "--database-url",
        &shared().url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (so, se) = (stdout(&out), stderr(&out));
    assert!(
        se.contains("warning: skipped README.md"),
        "stderr: {se}\nstdout: {so}"
    );
    assert!(!so.contains("warning"), "stdout: {so}");
    assert!(
        so.contains("applied 20251117000004_add_missing_foreign_key_indexes.sql"),
        "{so}"
    );
    assert!(so.contains("migration(s) from"), "{so}");
}
