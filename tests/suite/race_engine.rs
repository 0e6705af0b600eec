//! The race engine: every shipped scenario, the participant-stats race, strategies, mixed
//! fleets and the open model (malformed scenario files are in the catalogue, `catalogue.rs`).

use crate::util::*;

/// Runs a scenario on the shared server and returns (exit code, stderr, report if written).
fn race(scenario: &str, extra: &[&str]) -> (Option<i32>, String, Option<serde_json::Value>) {
    run_scenario(scenario, extra)
}

#[test]
fn every_shipped_scenario_holds_its_expectations_at_a_small_size() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut ran = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "toml") {
            continue; // example migrations (scenarios/*.sql)
        }
        let text = std::fs::read_to_string(&path).unwrap();
        if ["index-bench", "rls-isolation", "rollout"]
            .iter()
            .any(|k| text.contains(&format!("kind = \"{k}\"")))
        {
            // index benches: tests/suite/index_bench.rs; isolation: isolation.rs; rollouts
            // (no --ops: the load lasts as long as the migrations): rollout.rs
            continue;
        }
        let (code, err, r) = race(path.to_str().unwrap(), &["--ops", "2000"]);
        assert_eq!(code, Some(0), "{}: {err}", path.display());
        let r = r.unwrap();
        assert_eq!(r["verdict"], "pass", "{}", path.display());
        for p in r["paths"].as_array().unwrap() {
            assert_eq!(
                p["expectation_held"],
                true,
                "{}: {}",
                path.display(),
                p["name"]
            );
            if p["expect"] == "exact" {
                assert_eq!(p["lost_updates"], 0);
            }
        }
        ran += 1;
    }
    assert!(ran >= 2);
}

#[test]
fn participant_stats_is_exact_on_all_four_counters_and_refuses_absent_participants() {
    let (code, err, r) = race("participant-stats-race", &["--ops", "4000"]);
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    let rpc = path(&r, "rpc");
    let cols: Vec<&str> = rpc["counters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["column"].as_str().unwrap())
        .collect();
    assert_eq!(
        cols,
        [
            "message_count",
            "tokens_used",
            "cost_incurred",
            "tasks_completed"
        ]
    );
    for c in rpc["counters"].as_array().unwrap() {
        assert_eq!(c["missing"], "0", "{c}");
        assert_eq!(c["expected"], c["actual"], "{c}");
    }
    // Cost deltas carry four decimal places and are summed as decimals.
    let cost = &rpc["counters"][2]["expected"];
    assert!(cost.as_str().unwrap().contains('.'), "{cost}");
    // 1% of calls name a participant that does not exist: refused with P0001, never lost.
    let absent = &rpc["absent_keys"];
    assert!(absent["sent"].as_u64().unwrap() > 0);
    assert_eq!(absent["rejected"], absent["sent"]);
    assert_eq!(absent["errors"][0]["sqlstate"], "P0001");
    assert_eq!(rpc["ops_failed"], 0);
    // The old fetch-then-update loses updates, and its witnesses agree with the totals.
    let fallback = path(&r, "fallback");
    assert!(fallback["lost_updates"].as_u64().unwrap() > 0);
    assert_eq!(fallback["witnesses"]["agrees_with_totals"], true);
    assert!(
        !fallback["witnesses"]["examples"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn serializable_with_retries_and_for_update_end_exact() {
    let (code, err, r) = race(
        "token-race",
        &[
            "--ops",
            "1500",
            "--matrix",
            "--retry",
            "10000",
            "--workers",
            "32",
            "--connections",
            "16",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    for name in [
        "fallback@serializable",
        "fallback@repeatable-read",
        "fallback@for-update",
    ] {
        let p = path(&r, name);
        assert_eq!(p["lost_updates"], 0, "{name}");
        assert_eq!(p["rows_short"], 0, "{name}");
        assert_eq!(
            p["ops_failed"], 0,
            "{name}: retries must carry every call through"
        );
        assert_eq!(p["expectation_held"], true, "{name}");
    }
    assert!(
        path(&r, "fallback@serializable")["retries"]
            .as_u64()
            .unwrap()
            > 0,
        "serialization failures were retried"
    );
    assert!(path(&r, "fallback@none")["lost_updates"].as_u64().unwrap() > 0);
    assert!(
        path(&r, "fallback@read-committed")["lost_updates"]
            .as_u64()
            .unwrap()
            > 0,
        "a transaction alone does not help"
    );
}

#[test]
fn mixed_fleets_attribute_the_rpc_increments_the_fallback_erased() {
    let (code, err, r) = race("token-race", &["--ops", "3000", "--mixed"]);
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    assert_eq!(r["settings"]["mode"], "mixed");
    let rpc = path(&r, "rpc@mixed");
    let erased = rpc["erased_by_other_paths"].as_u64().unwrap();
    assert!(
        erased > 0,
        "the fallback erased none of the RPC's increments"
    );
    assert_eq!(rpc["lost_updates"].as_u64().unwrap(), erased);
    assert_eq!(rpc["lost_updates_exact"], true);
    assert!(
        r["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("erased"))
    );
}

#[test]
fn the_open_model_reports_late_starts_when_the_server_is_saturated() {
    let (code, err, r) = race("token-race", &["--rate", "200000", "--duration", "1s"]);
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    assert_eq!(r["settings"]["load_model"], "open");
    let rpc = path(&r, "rpc");
    let behind = rpc["late_starts"].as_u64().unwrap() + rpc["not_started"].as_u64().unwrap();
    assert!(behind > 0, "{rpc}");
    assert!(
        r["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("started late"))
    );
}

/// Issue 5's calibration, with real runs: ten comparisons of the same code at the same settings
/// (each nightly of three repeats against the previous one as baseline) raise an alarm at most
/// once. Runs on the shared server while other tests run, which is the noisy case.
#[test]
fn the_same_code_compares_as_no_change_in_at_least_9_of_10_tries() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite.txt");
    std::fs::write(&suite, "token-race\n").unwrap();
    let baseline = dir.path().join("baseline.json");
    let nightly = |k: usize, extra: &[&str]| {
        let reports = dir.path().join(format!("r{k}"));
        let mut args = vec![
            "nightly",
            "--suite",
            suite.to_str().unwrap(),
            "--ops",
            "1500",
            "--repeat",
            "3",
            "--quiet",
            "--database-url",
            &shared().url,
        ];
        let (r, b) = (
            reports.to_str().unwrap().to_string(),
            baseline.to_str().unwrap().to_string(),
        );
        args.extend(["--report-dir", &r, "--baseline", &b]);
        args.extend(extra);
        run(&args)
    };
    let out = nightly(0, &["--update-baseline"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut alarms = Vec::new();
    for k in 1..=10 {
        let out = nightly(k, &["--update-baseline"]);
        match out.status.code() {
            Some(0) => {}
            Some(1) => alarms.push(stderr(&out)),
            other => panic!("nightly exit {other:?}: {}", stderr(&out)),
        }
    }
    assert!(
        alarms.len() <= 1,
        "{} alarms in 10: {alarms:?}",
        alarms.len()
    );
}
