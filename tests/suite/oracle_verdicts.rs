//! The race oracle's verdicts, each made to fail (or warn) for real by a function or trigger the
//! test writes into its migrations: an RPC that applies some calls twice, a function that
//! silently accepts absent keys, a lossy path that lost nothing, writes the witnesses never saw,
//! and deadlocks that `--retry` must carry through.

use crate::util::*;

/// The token race with `sql` as an extra, last migration.
fn token_race_with(sql: &str, extra: &[&str]) -> (Option<i32>, String, Option<serde_json::Value>) {
    let migrations = migrations_with(&[("29991231000000_under_test.sql", sql)]);
    let mut args = vec!["--migrations", migrations.path().to_str().unwrap()];
    args.extend(extra);
    run_scenario("token-race", &args)
}

fn decimal(v: &serde_json::Value) -> rust_decimal::Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("a decimal string: {v}"))
        .parse()
        .unwrap()
}

fn warnings(r: &serde_json::Value) -> String {
    r["warnings"].to_string()
}

#[test]
fn an_rpc_that_applies_some_calls_twice_is_extra_and_fails() {
    let (code, err, r) = token_race_with(
        "CREATE OR REPLACE FUNCTION public.increment_token_usage(p_user_id uuid, p_tokens_used integer)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  UPDATE public.user_subscriptions
  SET used_tokens = used_tokens + p_tokens_used * CASE WHEN random() < 0.05 THEN 2 ELSE 1 END
  WHERE user_id = p_user_id;
END $$;
",
        &["--ops", "600"],
    );
    assert_eq!(code, Some(1), "{err}");
    let r = r.unwrap();
    assert_eq!(r["verdict"], "fail");
    let rpc = path(&r, "rpc");
    assert_eq!(rpc["expectation_held"], false);
    assert!(rpc["rows_over"].as_u64().unwrap() > 0, "{rpc}");
    let c = &rpc["counters"][0];
    assert!(decimal(&c["extra"]) > rust_decimal::Decimal::ZERO, "{c}");
    assert_eq!(
        decimal(&c["actual"]) - decimal(&c["expected"]),
        decimal(&c["extra"]) - decimal(&c["missing"]),
        "{c}"
    );
    assert!(
        r["failures"]
            .to_string()
            .contains("path 'rpc': used_tokens")
            && r["failures"].to_string().contains("applied twice"),
        "{}",
        r["failures"]
    );
}

#[test]
fn a_function_that_silently_accepts_absent_keys_is_named() {
    // The seed's version: an UPDATE that matches no row returns normally.
    let migrations = migrations_with(&[(
        "29991231000000_silent.sql",
        "CREATE OR REPLACE FUNCTION public.increment_participant_stats(
  p_participant_id uuid, p_message_count integer DEFAULT 0, p_tokens_used integer DEFAULT 0,
  p_cost_incurred numeric DEFAULT 0, p_tasks_completed integer DEFAULT 0)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  UPDATE conversation_participants
  SET message_count = message_count + p_message_count, tokens_used = tokens_used + p_tokens_used,
      cost_incurred = cost_incurred + p_cost_incurred,
      tasks_completed = tasks_completed + p_tasks_completed, last_active_at = now()
  WHERE id = p_participant_id;
END $$;
",
    )]);
    let (code, err, r) = run_scenario(
        "participant-stats-race",
        &[
            "--ops",
            "1000",
            "--migrations",
            migrations.path().to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "a warning, not a failure: {err}");
    let r = r.unwrap();
    let absent = &path(&r, "rpc")["absent_keys"];
    assert!(absent["sent"].as_u64().unwrap() > 0, "{absent}");
    assert_eq!(absent["accepted"], absent["sent"], "{absent}");
    assert_eq!(absent["rejected"], 0, "{absent}");
    assert!(
        warnings(&r)
            .contains("call(s) for keys that do not exist: the function silently did nothing"),
        "{}",
        warnings(&r)
    );
}

#[test]
fn a_lossy_path_that_lost_nothing_is_a_warning() {
    // One worker: the read-modify-write never races.
    let (code, err, r) = run_scenario(
        "token-race",
        &["--ops", "300", "--workers", "1", "--connections", "1"],
    );
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    assert_eq!(path(&r, "fallback")["lost_updates"], 0);
    assert!(
        warnings(&r).contains("path 'fallback' is expected to lose updates but lost none"),
        "{}",
        warnings(&r)
    );
    // With the default load it loses, and the warning is gone.
    let (code, err, r) = run_scenario("token-race", &["--ops", "2000"]);
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    assert!(path(&r, "fallback")["lost_updates"].as_u64().unwrap() > 0);
    assert!(!warnings(&r).contains("lost none"), "{}", warnings(&r));
}

/// Writes the witnesses never saw (every fallback write stores one more than the value the
/// client computed) leave no chain from the final value back to the initial one: the count
/// falls back to a lower bound (no witness verdict, `lost_updates_exact: false`), and the
/// surplus on the rows the chain missed is `extra`, which fails even a lossy path. (That the
/// two methods disagreeing fails a path is proven on the report rows, `race::judge`'s tests:
/// once a chain is found its deltas telescope to what the totals miss, so no database can make
/// them disagree.)
#[test]
fn writes_the_witnesses_never_saw_are_extra_and_fail() {
    let (code, err, r) = token_race_with(
        "CREATE FUNCTION public.skew_fallback() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_query() LIKE '%used_tokens = $2%' THEN
    NEW.used_tokens := NEW.used_tokens + 1;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER skew_fallback BEFORE UPDATE ON public.user_subscriptions
  FOR EACH ROW EXECUTE FUNCTION public.skew_fallback();
",
        &["--ops", "1000"],
    );
    assert_eq!(code, Some(1), "{err}");
    let r = r.unwrap();
    assert_eq!(
        path(&r, "rpc")["expectation_held"],
        true,
        "the trigger skips the rpc"
    );
    let fallback = path(&r, "fallback");
    assert_eq!(fallback["expectation_held"], false, "{fallback}");
    assert!(fallback["witnesses"].is_null(), "{fallback}");
    assert_eq!(fallback["lost_updates_exact"], false, "{fallback}");
    assert!(fallback["rows_over"].as_u64().unwrap() > 0, "{fallback}");
    assert!(
        r["failures"]
            .to_string()
            .contains("path 'fallback': used_tokens"),
        "{}",
        r["failures"]
    );
}

#[test]
fn deadlocks_are_retried_and_every_call_lands() {
    // Each fallback write then locks two rows of a side table, in an order set by the parity
    // of the value it wrote: two writes on different users deadlock (40P01) half the time.
    let (code, err, r) = token_race_with(
        "CREATE TABLE public.lock_pair (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO public.lock_pair (id) VALUES (1), (2);
CREATE FUNCTION public.lock_pair() RETURNS trigger LANGUAGE plpgsql
SET deadlock_timeout = '20ms' AS $$
DECLARE first int := 1 + NEW.used_tokens % 2;
BEGIN
  IF current_query() LIKE '%used_tokens = $2%' THEN
    UPDATE public.lock_pair SET n = n + 1 WHERE id = first;
    PERFORM pg_sleep(0.002);
    UPDATE public.lock_pair SET n = n + 1 WHERE id = 3 - first;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER lock_pair AFTER UPDATE ON public.user_subscriptions
  FOR EACH ROW EXECUTE FUNCTION public.lock_pair();
",
        &[
            "--ops",
            "300",
            "--workers",
            "16",
            "--connections",
            "8",
            "--strategy",
            "for-update",
            "--retry",
            "1000",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    let fallback = r["paths"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str().unwrap().starts_with("fallback"))
        .unwrap();
    // Only 40001 and 40P01 are retried, and FOR UPDATE at read committed never raises 40001.
    assert!(fallback["retries"].as_u64().unwrap() > 0, "{fallback}");
    assert_eq!(fallback["ops_ok"], 300, "{fallback}");
    assert_eq!(fallback["ops_failed"], 0, "{fallback}");
    assert_eq!(fallback["lost_updates"], 0, "{fallback}");
    assert_eq!(fallback["expectation_held"], true, "{fallback}");
}

/// Witnesses that cannot be written (the temp folder does not exist, as when it is full or
/// read-only): every acknowledged read-modify-write call is counted as a dropped witness, the
/// lost-update count is reported as a lower bound (not exact), never above what the totals
/// show missing, and a warning says why and what moves the folder.
#[test]
fn witnesses_that_cannot_be_written_make_the_lost_updates_a_lower_bound() {
    let reports = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["run", "token-race", "--quiet", "--ops", "1500"])
        .args(["--database-url", &shared().url, "--report-dir"])
        .arg(reports.path())
        .env("TMPDIR", reports.path().join("no-such-folder"))
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let r = report(reports.path());
    let fallback = path(&r, "fallback");
    assert_eq!(
        fallback["witnesses_dropped"], fallback["ops_ok"],
        "{fallback}"
    );
    assert_eq!(fallback["ops_ok"], 1500);
    assert_eq!(fallback["lost_updates_exact"], false, "{fallback}");
    let lost = fallback["lost_updates"].as_u64().unwrap();
    assert!(lost > 0, "{fallback}");
    // Something is missing from the totals, and the bound never exceeds the calls made.
    let c = &fallback["counters"][0];
    assert!(decimal(&c["missing"]) > rust_decimal::Decimal::ZERO, "{c}");
    assert!(lost <= 1500, "{fallback}");
    assert!(
        warnings(&r).contains(
            "path 'fallback': 1500 witness(es) could not be written to the temporary file"
        ) && warnings(&r).contains("lower bound"),
        "{}",
        warnings(&r)
    );
    // The rpc path keeps no witnesses and stays exact.
    assert_eq!(path(&r, "rpc")["witnesses_dropped"], 0);
}
