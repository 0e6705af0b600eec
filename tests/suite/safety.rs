//! External mode only ever works inside the database it created: a sentinel database on the
//! shared server (the URL's own database, holding a `user_subscriptions` table as bait) keeps
//! its row count, its checksum and its list of relations through a passing run, a failing run,
//! a faulted run and an interrupted one, and none of them leaves a `loadtest_%` database.
//!
//! The runs sign in as a superuser role of this test's own, so the databases they create are
//! found by owner even with other tests creating theirs on the same server.

use crate::suite::roles::Role;
use crate::util::*;
use std::time::{Duration, Instant};

/// What must not change: row count and md5 of every row of the sentinel's tables, in order, and
/// every relation outside the system schemas.
async fn fingerprint(db: &tokio_postgres::Client) -> (i64, String, String) {
    let row = db
        .query_one(
            "SELECT (SELECT count(*) FROM accounts) + (SELECT count(*) FROM user_subscriptions),
                    md5((SELECT string_agg(a::text, '|' ORDER BY id) FROM accounts a) ||
                        (SELECT string_agg(u::text, '|' ORDER BY user_id) FROM user_subscriptions u)),
                    (SELECT string_agg(n.nspname || '.' || c.relname, ',' ORDER BY 1)
                       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast'))",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

/// The `loadtest_%` databases `role` owns.
async fn left_by(admin: &tokio_postgres::Client, role: &str) -> Vec<String> {
    admin
        .query(
            "SELECT d.datname::text FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba \
                WHERE r.rolname = $1 AND d.datname LIKE 'loadtest\\_%'",
            &[&role],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// `loadtest run token-race <args>` at `url` with fresh report and scratch folders: the exit
/// code and stderr; no scratch folder or server is left.
fn race_at(url: &str, args: &[&str]) -> (Option<i32>, String) {
    let reports = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["run", "token-race", "--quiet", "--database-url", url])
        .args(args)
        .arg("--report-dir")
        .arg(reports.path())
        .env("LOADTEST_SCRATCH_DIR", scratch.path())
        .output()
        .unwrap();
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
    (out.status.code(), stderr(&out))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sentinel_database_is_unchanged_by_every_kind_of_run() {
    let sentinel_db = test_db_name();
    let sentinel = fresh_db().await;
    sentinel
        .batch_execute(
            "CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric(12, 4));
             INSERT INTO accounts
               SELECT g, 'owner ' || g, g * 1.0001 FROM generate_series(1, 500) g;
             CREATE TABLE user_subscriptions (user_id uuid PRIMARY KEY, used_tokens int);
             INSERT INTO user_subscriptions
               SELECT md5(g::text)::uuid, g FROM generate_series(1, 200) g;",
        )
        .await
        .unwrap();
    let before = fingerprint(&sentinel).await;
    assert_eq!(before.0, 700);
    let admin = connect("postgres").await;
    let role = Role::create(&admin, &shared().socket_dir, "safety", "SUPERUSER").await;
    let url = format!(
        "host={} port=5432 user={} dbname={sentinel_db}",
        shared().socket_dir.display(),
        role.name
    );
    let broken = migrations_with(&[(
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
    let runs: [(&str, Vec<&str>, i32); 3] = [
        ("passing", vec!["--ops", "1000"], 0),
        (
            "failing",
            vec![
                "--ops",
                "2000",
                "--migrations",
                broken.path().to_str().unwrap(),
            ],
            1,
        ),
        (
            "faulted",
            vec!["--ops", "2000", "--faults", "kill:50ms,cut:80ms"],
            0,
        ),
    ];
    for (what, args, code) in runs {
        let (got, err) = race_at(&url, &args);
        assert_eq!(got, Some(code), "{what}: {err}");
        assert_eq!(
            fingerprint(&sentinel).await,
            before,
            "{what}: sentinel changed"
        );
        assert_eq!(
            left_by(&admin, &role.name).await,
            Vec::<String>::new(),
            "{what}"
        );
    }

    // Interrupted mid-load: SIGINT once the load's connections are open.
    let reports = tempfile::tempdir().unwrap();
    let mut child = bin()
        .args(["run", "token-race", "--quiet", "--database-url", &url])
        .args(["--ops", "100000000", "--connections", "8"])
        .arg("--report-dir")
        .arg(reports.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let open: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                    WHERE usename = $1 AND datname LIKE 'loadtest\\_%'",
                &[&role.name],
            )
            .await
            .unwrap()
            .get(0);
        if open >= 8 {
            break;
        }
        assert!(Instant::now() < deadline, "the load never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        (status, err)
    })
    .await
    .unwrap();
    assert_eq!(status.0.code(), Some(130), "interrupted: {}", status.1);
    assert_eq!(
        fingerprint(&sentinel).await,
        before,
        "interrupted: sentinel changed"
    );
    assert_eq!(
        left_by(&admin, &role.name).await,
        Vec::<String>::new(),
        "interrupted"
    );
}
