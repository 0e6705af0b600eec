//! The token race end to end: at the defaults the RPC loses nothing and the fallback loses
//! updates, and nothing is left behind; an RPC that is not atomic, or that always errors, fails
//! the run with exit 1.

use crate::util::*;

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
    assert_eq!(r["schema_version"], 2);
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
