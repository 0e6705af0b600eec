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
            assert_latency_ordered(p);
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
    // Cost deltas carry four decimal places and are summed as decimals: the sum parses as a
    // decimal with a fractional part, and the table holds exactly it.
    let cost = &rpc["counters"][2];
    let expected: rust_decimal::Decimal = cost["expected"].as_str().unwrap().parse().unwrap();
    let actual: rust_decimal::Decimal = cost["actual"].as_str().unwrap().parse().unwrap();
    assert!(expected > rust_decimal::Decimal::ZERO, "{cost}");
    assert!(
        !expected.fract().is_zero() && expected.scale() <= 4,
        "{cost}"
    );
    assert_eq!(expected, actual, "{cost}");
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

/// The attribution is read back from the table by the test itself: a kept database's counters,
/// decoded in base `--ops + 1` (each RPC call adds 1, each fallback call `--ops + 1`), say how
/// many of each path's increments survived, independently of the oracle's own decoding.
#[tokio::test]
async fn mixed_fleets_attribute_the_rpc_increments_the_fallback_erased() {
    let ops = 3000u64;
    let (code, err, r) = race(
        "token-race",
        &["--ops", &ops.to_string(), "--mixed", "--keep"],
    );
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    let kept = kept_db(&err);
    let total: i64 = connect(&kept)
        .await
        .query_one(
            "SELECT sum(used_tokens)::bigint FROM user_subscriptions",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    drop_db(&kept).await;
    let base = ops as i64 + 1;
    let (rpc_survived, fallback_survived) = ((total % base) as u64, (total / base) as u64);
    assert_eq!(r["settings"]["mode"], "mixed");
    let rpc = path(&r, "rpc@mixed");
    let fallback = path(&r, "fallback@mixed");
    assert_eq!(rpc["ops_ok"], ops, "{rpc}");
    assert_eq!(fallback["ops_ok"], ops, "{fallback}");
    let erased = rpc["erased_by_other_paths"].as_u64().unwrap();
    assert!(
        erased > 0,
        "the fallback erased none of the RPC's increments"
    );
    assert_eq!(erased, ops - rpc_survived, "table sum {total}");
    assert_eq!(rpc["lost_updates"].as_u64().unwrap(), erased);
    assert_eq!(
        fallback["lost_updates"].as_u64().unwrap(),
        ops - fallback_survived,
        "table sum {total}"
    );
    assert_eq!(
        rpc["expectation_held"], true,
        "erased is the fallback's fault"
    );
    assert!(
        r["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains(&format!("{erased} of its")))
    );
}

/// A server made slow on purpose (every RPC sleeps 10 ms: four workers serve at most ~400
/// calls/s): at 1000 calls/s, the open model's latency runs from when each call was due, so
/// its p99 holds the whole backlog (hundreds of ms after one second), while the closed model,
/// with the same four workers, sees about one call's time. Timed from the send, both would be
/// about 10 ms.
#[test]
fn the_open_model_counts_latency_from_when_each_call_was_due() {
    let migrations = migrations_with(&[(
        "29991231000000_slow_rpc.sql",
        "CREATE OR REPLACE FUNCTION public.increment_token_usage(p_user_id uuid, p_tokens_used integer)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  PERFORM pg_sleep(0.01);
  UPDATE public.user_subscriptions SET used_tokens = used_tokens + p_tokens_used
  WHERE user_id = p_user_id;
END $$;
",
    )]);
    let dir = migrations.path().to_str().unwrap();
    let common = ["--workers", "4", "--connections", "4", "--migrations", dir];
    let (code, err, closed) = race("token-race", &[&["--ops", "200"][..], &common].concat());
    assert_eq!(code, Some(0), "{err}");
    let closed = closed.unwrap();
    let (code, err, open) = race(
        "token-race",
        &[&["--rate", "1000", "--duration", "1s"][..], &common].concat(),
    );
    assert_eq!(code, Some(0), "{err}");
    let open = open.unwrap();
    assert_eq!(open["settings"]["load_model"], "open");
    assert_eq!(closed["settings"]["load_model"], "closed");
    let (c, o) = (path(&closed, "rpc"), path(&open, "rpc"));
    assert_latency_ordered(c);
    assert_latency_ordered(o);
    let closed_p99 = c["latency_us"]["p99"].as_u64().unwrap();
    let open_p99 = o["latency_us"]["p99"].as_u64().unwrap();
    assert!(closed_p99 >= 10_000, "the RPC sleeps 10 ms: {closed_p99}");
    assert!(
        open_p99 >= 300_000 && open_p99 > 10 * closed_p99,
        "open p99 {open_p99} µs vs closed p99 {closed_p99} µs"
    );
    let behind = o["late_starts"].as_u64().unwrap() + o["not_started"].as_u64().unwrap();
    assert!(behind > 0, "{o}");
    assert!(
        open["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("started late"))
    );
}

/// Same seed and workers = same calls: two runs send the same deltas (equal acknowledged sums),
/// both paths of a run get the same calls, and another seed sends others.
#[test]
fn the_same_seed_and_workers_send_the_same_calls() {
    let sums = |seed: &str| {
        let (code, err, r) = race(
            "token-race",
            &[
                "--ops",
                "400",
                "--workers",
                "8",
                "--connections",
                "4",
                "--seed",
                seed,
            ],
        );
        assert_eq!(code, Some(0), "{err}");
        let r = r.unwrap();
        let rpc = path(&r, "rpc")["counters"][0]["expected"].clone();
        let fallback = path(&r, "fallback")["counters"][0]["expected"].clone();
        assert_eq!(rpc, fallback, "both paths of a run get the same calls");
        rpc
    };
    let first = sums("7");
    assert_eq!(first, sums("7"));
    assert_ne!(first, sums("8"));
}

#[test]
fn client_threads_change_where_calls_run_not_which_calls_or_the_verdict() {
    let with_threads = |threads: &str, extra: &[&str]| {
        let mut args = vec!["--ops", "3000", "--connections", "6", "--threads", threads];
        args.extend(extra);
        let (code, err, r) = race("token-race", &args);
        assert_eq!(code, Some(0), "--threads {threads}: {err}");
        let r = r.unwrap();
        assert_eq!(
            r["settings"]["client_threads"],
            threads.parse::<u64>().unwrap()
        );
        let rpc = path(&r, "rpc");
        assert_eq!(rpc["ops_ok"], 3000, "--threads {threads}");
        assert_eq!(rpc["lost_updates"], 0, "--threads {threads}");
        assert!(
            path(&r, "fallback")["lost_updates"].as_u64().unwrap() > 0,
            "--threads {threads}: the fallback lost nothing"
        );
        rpc["counters"][0]["expected"].clone()
    };
    // Three lanes over six shared connections, and the same run on one: the same calls.
    assert_eq!(with_threads("3", &[]), with_threads("1", &[]));
    // Both paths at once, each on its share of the connections, over two lanes.
    let (code, err, r) = race(
        "token-race",
        &["--ops", "3000", "--mixed", "--threads", "2"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(r.unwrap()["settings"]["client_threads"], 2);
}

/// A pooled connection is driven by the lane that opened it: when the lanes stop, the
/// connections their threads drove are closed, and those the caller's own runtime (lane 0)
/// drives still answer.
#[tokio::test]
async fn a_connection_lives_on_the_lane_that_opened_it() {
    let mgr = deadpool_postgres::Manager::from_config(
        config("postgres"),
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    let pool = deadpool_postgres::Pool::builder(mgr)
        .max_size(4)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .unwrap();
    let lanes = loadtest::race::lanes::Lanes::start(2).unwrap();
    let mut conns = Vec::new();
    for i in 0..4 {
        conns.push(lanes.get(&pool, i).await.unwrap());
    }
    let homes: Vec<usize> = conns.iter().map(|c| lanes.lane_of(c)).collect();
    assert_eq!(homes, [0, 1, 0, 1]);
    for c in &conns {
        c.simple_query("SELECT 1").await.unwrap();
    }
    drop(lanes);
    // Dropping the lanes waited for their threads: lane 1's connections are already closed.
    for (i, c) in conns.iter().enumerate() {
        assert_eq!(c.is_closed(), i % 2 == 1, "connection {i} (lane {})", i % 2);
    }
    for (i, c) in conns.iter().enumerate() {
        let answered = c.simple_query("SELECT 1").await.is_ok();
        assert_eq!(answered, i % 2 == 0, "connection {i} (lane {})", i % 2);
    }
}
