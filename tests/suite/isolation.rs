//! Tenant isolation (`loadtest run rls-isolation`): the seed's policies block every
//! cross-tenant attempt on the workforce tables; the unchecked SECURITY DEFINER RPCs are
//! exploited findings, accepted only with a written reason; a policy opened with USING (true)
//! is a new leak that fails the run; a fixed RPC's finding disappears. And `--as
//! authenticated` for index benchmarks. And the workforce tables under colliding concurrent
//! task creation: the unique (execution_id, task_id) constraint rejects every duplicate and
//! the counters end exact; without the constraint, duplicates are stored and the run fails.

use crate::util::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const SHIPPED: &str = include_str!("../../scenarios/rls-isolation.toml");

/// The shipped scenario with a lighter own-row load, plus `edit`, written to `dir`.
fn scenario(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = SHIPPED
        .replace("calls = 4000", "calls = 300")
        .replace("workers = 16", "workers = 4")
        .replace("task_ids = 100", "task_ids = 40")
        .replace("workers = 8", "workers = 6");
    let file = dir.join("rls-isolation.toml");
    std::fs::write(&file, edit(text)).unwrap();
    file
}

fn attempts<'a>(r: &'a Value, object: &str) -> Vec<&'a Value> {
    r["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["object"] == object)
        .collect()
}

fn finding<'a>(r: &'a Value, object: &str, kind: &str) -> Option<&'a Value> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["object"] == object && f["kind"] == kind)
}

const TOKEN_RPC: &str = "public.increment_token_usage(uuid,integer)";

#[test]
fn seed_policies_block_every_cross_tenant_attempt_and_the_token_rpc_is_an_accepted_exploit() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), |t| t);
    let (code, err, r) = run_scenario(file.to_str().unwrap(), &[]);
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    super::schema::assert_valid("rls-isolation report", &r);
    assert_eq!(r["verdict"], "pass");
    for table in ["public.workforce_executions", "public.workforce_tasks"] {
        let tried = attempts(&r, table);
        let actions: std::collections::BTreeSet<&str> = tried
            .iter()
            .map(|a| a["action"].as_str().unwrap())
            .collect();
        for want in ["select", "update", "delete", "insert-as-victim"] {
            assert!(
                actions.contains(want),
                "{table}: no {want} attempt: {actions:?}"
            );
        }
        // A, B and anon each tried.
        let actors: std::collections::BTreeSet<&str> =
            tried.iter().map(|a| a["actor"].as_str().unwrap()).collect();
        assert_eq!(actors.len(), 3, "{actors:?}");
        for a in &tried {
            assert_eq!(a["outcome"], "blocked", "{a}");
        }
    }
    // A task into B's execution: refused by the policy's WITH CHECK (42501).
    let into_b = attempts(&r, "public.workforce_tasks")
        .into_iter()
        .find(|a| a["action"] == "insert-under-victim-parent" && a["actor"] == "A")
        .expect("an insert of A's task under B's execution");
    assert!(
        into_b["detail"].as_str().unwrap().contains("42501"),
        "{into_b}"
    );
    for view in ["public.user_dashboard_stats", "public.user_recent_activity"] {
        assert!(attempts(&r, view).iter().all(|a| a["outcome"] == "blocked"));
    }
    // The unchecked SECURITY DEFINER RPC: its static finding, proven at run time, accepted in
    // the shipped file with a reason.
    let f = finding(&r, TOKEN_RPC, "unchecked-security-definer").expect("the token RPC finding");
    assert!(f["cause"].as_str().unwrap().contains("p_user_id"), "{f}");
    assert_eq!(f["exploited"], true);
    assert_eq!(f["accepted"], true);
    assert!(f["reason"].as_str().unwrap().len() > 20);
    let rpc = attempts(&r, TOKEN_RPC);
    let by_b_ids = rpc
        .iter()
        .find(|a| a["actor"] == "A" && a["action"] == "rpc-victim-ids")
        .unwrap();
    assert_eq!(by_b_ids["outcome"], "leaked");
    assert!(
        by_b_ids["detail"]
            .as_str()
            .unwrap()
            .contains("user_subscriptions")
    );
    let negative = rpc
        .iter()
        .find(|a| a["actor"] == "A" && a["action"] == "rpc-negative-own")
        .unwrap();
    assert_eq!(negative["outcome"], "leaked");
    assert!(
        finding(
            &r,
            "public.increment_participant_stats(uuid,integer,integer,numeric,integer)",
            "unchecked-security-definer"
        )
        .is_some()
    );
    // The own-row load ran beside the attempts and every call succeeded.
    assert!(
        r["load"]["calls_ok"].as_u64().unwrap() >= 300,
        "{}",
        r["load"]
    );
    assert_eq!(r["load"]["calls_failed"], 0);
    // Concurrency on the workforce tables: 6 workers × 40 task ids × 2 executions, every id
    // created by every worker; the unique constraint lets exactly one through.
    let w = &r["workforce"];
    assert_eq!(w["task_inserts"], 6 * 40 * 2, "{w}");
    assert_eq!(w["stored"], 40 * 2, "{w}");
    assert_eq!(w["duplicates_stored"], 0, "{w}");
    assert_eq!(w["duplicates_rejected"], 5 * 40 * 2, "{w}");
    assert_eq!(w["errors"].as_array().unwrap().len(), 0, "{w}");
    for counter in ["completed_tasks", "failed_tasks"] {
        assert_eq!(w[counter]["expected"], w[counter]["actual"], "{w}");
    }
    // Seeded at 0; every fourth task fails: 30 completed and 10 failed per execution.
    assert_eq!(w["completed_tasks"]["actual"], 60, "{w}");
    assert_eq!(w["failed_tasks"]["actual"], 20, "{w}");
}

#[test]
fn without_the_unique_task_constraint_concurrent_duplicates_are_stored_and_fail() {
    let m = migrations_with(&[(
        "29991231000000_drop_task_key.sql",
        "ALTER TABLE public.workforce_tasks DROP CONSTRAINT workforce_tasks_execution_task_key;",
    )]);
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), |t| t);
    let (code, err, r) = run_scenario(
        file.to_str().unwrap(),
        &["--migrations", m.path().to_str().unwrap()],
    );
    assert_eq!(code, Some(1), "{err}");
    let r = r.unwrap();
    super::schema::assert_valid("rls-isolation report without the task key", &r);
    let w = &r["workforce"];
    assert_eq!(w["duplicates_rejected"], 0, "{w}");
    assert!(w["duplicates_stored"].as_u64().unwrap() > 0, "{w}");
    assert_eq!(
        w["stored"].as_u64().unwrap(),
        80 + w["duplicates_stored"].as_u64().unwrap(),
        "{w}"
    );
    // The increments stay exact (each is one atomic UPDATE): only the duplicates fail.
    for counter in ["completed_tasks", "failed_tasks"] {
        assert_eq!(w[counter]["expected"], w[counter]["actual"], "{w}");
    }
    let failures: Vec<&str> = r["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].contains("duplicate task(s) stored"),
        "{failures:?}"
    );
}

#[test]
fn an_exploited_rpc_without_an_accepted_reason_fails_and_a_reason_is_required() {
    let dir = tempfile::tempdir().unwrap();
    // Drop the token RPC's [[accept]] entry.
    let file = scenario(dir.path(), |t| {
        let start = t
            .find("[[accept]]\nobject = \"public.increment_token_usage")
            .unwrap();
        let end = start + t[start + 1..].find("[[accept]]").unwrap() + 1;
        format!("{}{}", &t[..start], &t[end..])
    });
    let (code, err, r) = run_scenario(file.to_str().unwrap(), &[]);
    assert_eq!(code, Some(1), "{err}");
    let r = r.unwrap();
    let failures: Vec<&str> = r["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(
        failures.iter().any(|f| f.starts_with(&format!(
            "new leak: {TOKEN_RPC} (unchecked-security-definer)"
        ))),
        "{failures:?}"
    );
    assert_eq!(
        finding(&r, TOKEN_RPC, "unchecked-security-definer").unwrap()["accepted"],
        false
    );

    // An acceptance without a reason is bad input, found before anything starts.
    let file = scenario(dir.path(), |t| {
        t.replacen(
            "reason = \"comments are public by design (policy \\\"Comments are public\\\")\"",
            "",
            1,
        )
    });
    let (code, err, r) = run_scenario(file.to_str().unwrap(), &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(r.is_none());
    assert!(
        err.contains("rls-isolation.toml:") && err.contains("a reason is required"),
        "{err}"
    );
}

#[test]
fn a_policy_opened_with_using_true_is_a_new_leak_and_fails() {
    let m = migrations_with(&[(
        "29991231000000_open_policy.sql",
        "DROP POLICY \"Users can view own tasks\" ON public.workforce_tasks;
         CREATE POLICY \"Users can view own tasks\" ON public.workforce_tasks
             FOR SELECT USING (true);",
    )]);
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), |t| t);
    let (code, err, r) = run_scenario(
        file.to_str().unwrap(),
        &["--migrations", m.path().to_str().unwrap()],
    );
    assert_eq!(code, Some(1), "{err}");
    let r = r.unwrap();
    assert_eq!(r["verdict"], "fail");
    let f = finding(&r, "public.workforce_tasks", "always-true-policy").expect("the lint");
    assert_eq!(
        (f["exploited"].clone(), f["accepted"].clone()),
        (true.into(), false.into())
    );
    let select = attempts(&r, "public.workforce_tasks")
        .into_iter()
        .find(|a| a["actor"] == "A" && a["action"] == "select")
        .unwrap();
    assert_eq!(select["outcome"], "leaked", "{select}");
    // The recent-activity view runs as the caller, so it leaks B's tasks through it too.
    assert!(
        attempts(&r, "public.user_recent_activity")
            .iter()
            .any(|a| a["outcome"] == "leaked")
    );
    // Writes stay blocked: only the SELECT policy was opened.
    assert!(
        attempts(&r, "public.workforce_tasks")
            .iter()
            .filter(|a| a["action"] != "select")
            .all(|a| a["outcome"] == "blocked")
    );
}

#[test]
fn a_fixed_rpc_that_checks_the_caller_loses_its_finding() {
    let m = migrations_with(&[(
        "29991231000000_fix_token_rpc.sql",
        "CREATE OR REPLACE FUNCTION public.increment_token_usage(p_user_id UUID, p_tokens_used INTEGER)
         RETURNS VOID LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
         BEGIN
           IF p_user_id IS DISTINCT FROM auth.uid() THEN
             RAISE EXCEPTION 'not your subscription' USING ERRCODE = '42501';
           END IF;
           IF p_tokens_used < 0 THEN
             RAISE EXCEPTION 'negative amount' USING ERRCODE = '22023';
           END IF;
           UPDATE user_subscriptions SET used_tokens = used_tokens + p_tokens_used,
             updated_at = NOW() WHERE user_id = p_user_id;
         END $$;",
    )]);
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), |t| t);
    let (code, err, r) = run_scenario(
        file.to_str().unwrap(),
        &["--migrations", m.path().to_str().unwrap()],
    );
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    assert!(finding(&r, TOKEN_RPC, "unchecked-security-definer").is_none());
    assert!(finding(&r, TOKEN_RPC, "negative-amount").is_none());
    let rpc = attempts(&r, TOKEN_RPC);
    assert!(!rpc.is_empty());
    for a in rpc {
        assert_eq!(a["outcome"], "blocked", "{a}");
    }
    // The load's own increments still go through the fixed function.
    assert_eq!(r["load"]["calls_failed"], 0);
}

#[test]
fn as_is_for_index_benchmarks_only() {
    for scenario in ["token-race", "rls-isolation"] {
        let out = run(&["run", scenario, "--as", "authenticated", "--quiet"]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("--as"), "{err}");
    }
}

#[test]
fn join_bench_as_authenticated_times_queries_under_the_policies() {
    let dir = tempfile::tempdir().unwrap();
    let file = quick_bench(dir.path(), |t| t);
    let (code, err, r) = run_scenario(
        file.to_str().unwrap(),
        &["--scale", "0.01", "--as", "authenticated"],
    );
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    super::schema::assert_valid("join-bench --as authenticated report", &r);
    assert_eq!(r["settings"]["as"], "authenticated");
    let user = r["settings"]["user"].as_str().unwrap();
    // The plans are the authenticated role's: the policies' auth.uid(), inlined, reads the
    // request's claims in them.
    let plans: String = r["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["plan_after_text"].as_str().unwrap())
        .collect();
    assert!(plans.contains("request.jwt.claim"), "{plans}");
    assert_eq!(user.len(), 36);
}
