//! Interrupting a race: a signal at any moment (migrations, load, oracle, report writing) stops
//! the scratch server, removes its folder, leaves only whole report files and exits 130/143; a
//! run stopped during its load writes a partial report that accounts for every call it counted.
//! (The index bench's load is interrupted in `index_bench.rs`.)

use crate::util::*;
use nix::sys::signal::Signal::{SIGINT, SIGTERM};
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// What an interrupted race promises: calls in flight get 3 s (`engine::GRACE`), then the
/// scratch server is stopped and its folder removed (a second or two on a busy machine).
const STOP_BOUND: Duration = Duration::from_secs(5);

#[test]
fn sigint_mid_load_writes_a_partial_report_that_accounts_for_every_call() {
    // Into the first path's load, once stderr says it began.
    let i = signal_run(
        &["run", "token-race", "--ops", "100000000"],
        "rpc: load started",
        Duration::from_millis(300),
        &[(SIGINT, Duration::ZERO)],
    );
    let reports = i.assert_clean_with(130);
    // The promise: calls in flight get 3 s, then the cluster stops. Token calls take
    // milliseconds, so the grace is not even used.
    assert!(i.stopped_after < STOP_BOUND, "{:?}", i.stopped_after);
    assert_eq!(reports.len(), 1, "one partial report: {}", i.stderr);
    let r = &reports[0];
    assert_eq!(r["verdict"], "interrupted");
    let rpc = path(r, "rpc");
    let ok = rpc["ops_ok"].as_u64().unwrap();
    assert!(ok > 0 && ok < 100_000_000, "{ok}");
    // Every acknowledged call is in the table, and nothing more: the partial counts are whole.
    assert_eq!(rpc["lost_updates"], 0, "{rpc}");
    assert_eq!(rpc["rows_short"], 0, "{rpc}");
    assert_eq!(rpc["rows_over"], 0, "{rpc}");
    assert!(
        r["warnings"].to_string().contains("interrupted by SIGINT"),
        "{}",
        r["warnings"]
    );
}

#[test]
fn sigterm_mid_load_exits_143_with_a_partial_report() {
    let i = signal_run(
        &["run", "token-race", "--ops", "100000000"],
        "rpc: load started",
        Duration::from_millis(200),
        &[(SIGTERM, Duration::ZERO)],
    );
    let reports = i.assert_clean_with(143);
    assert!(i.stopped_after < STOP_BOUND, "{:?}", i.stopped_after);
    assert_eq!(reports.len(), 1, "one partial report: {}", i.stderr);
    assert_eq!(reports[0]["verdict"], "interrupted");
    assert!(
        reports[0]["warnings"]
            .to_string()
            .contains("interrupted by SIGTERM"),
        "{}",
        reports[0]["warnings"]
    );
    assert!(path(&reports[0], "rpc")["ops_ok"].as_u64().unwrap() > 0);
}

#[test]
fn a_second_sigint_tears_down_at_once_without_a_report() {
    // Calls that take 1.5 s each: after the first SIGINT the run would wait its 3 s grace for
    // them; the second one abandons them at once.
    let migrations = migrations_with(&[(
        "29991231000000_slow_rpc.sql",
        "CREATE OR REPLACE FUNCTION public.increment_token_usage(p_user_id uuid, p_tokens_used integer)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  PERFORM pg_sleep(1.5);
  UPDATE public.user_subscriptions SET used_tokens = used_tokens + p_tokens_used
  WHERE user_id = p_user_id;
END $$;
",
    )]);
    let dir = migrations.path().to_str().unwrap();
    let i = signal_run(
        &[
            "run",
            "token-race",
            "--ops",
            "100000000",
            "--migrations",
            dir,
        ],
        "rpc: load started",
        Duration::from_millis(100),
        &[
            (SIGINT, Duration::ZERO),
            (SIGINT, Duration::from_millis(100)),
        ],
    );
    let reports = i.assert_clean_with(130);
    assert!(reports.is_empty(), "no report after a second signal");
    assert!(
        i.stopped_after < Duration::from_millis(2500),
        "waited {:?}: the calls in flight were not abandoned",
        i.stopped_after
    );
}

#[test]
fn twenty_signals_at_random_moments_leave_nothing_behind() {
    // Each run on its own scratch cluster, the signal at a random moment of the run after its
    // server started: during the migrations, the seeding, either path's load, the oracle or the
    // report writing. Every fifth is a SIGTERM (exit 143). Four at a time, to keep the test
    // short. The moments are drawn over 80% of a whole run timed first on this machine (a fixed
    // 1.5 s outlasted the whole run on a fast one), so each signal lands before the end: four
    // runs at once are slower than that one alone.
    let args = ["run", "token-race", "--ops", "3000", "--quiet"];
    let whole = {
        let (scratch, reports) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let started = std::time::Instant::now();
        let out = bin()
            .args(args)
            .arg("--report-dir")
            .arg(reports.path())
            .env("LOADTEST_SCRATCH_DIR", scratch.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        started.elapsed()
    };
    let span = (whole.as_millis() as u64 * 4 / 5).max(200);
    let seed: u64 = std::env::var("INTERRUPT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let plan: Vec<(u64, bool)> = (0..20)
        .map(|n| (rng.random_range(0..=span), n % 5 == 4))
        .collect();
    for batch in plan.chunks(4) {
        let runs: Vec<_> = batch
            .iter()
            .map(|&(delay, term)| {
                std::thread::spawn(move || {
                    let signal = if term { SIGTERM } else { SIGINT };
                    let i = signal_run(
                        &args,
                        "",
                        Duration::from_millis(delay),
                        &[(signal, Duration::ZERO)],
                    );
                    (delay, term, i)
                })
            })
            .collect();
        for r in runs {
            let (delay, term, i) = r.join().unwrap();
            let code = if term { 143 } else { 130 };
            let reports =
                std::panic::catch_unwind(|| i.assert_clean_with(code)).unwrap_or_else(|_| {
                    panic!("signal {delay} ms after the server started (INTERRUPT_SEED={seed})")
                });
            for r in reports {
                let verdict = r["verdict"].as_str().unwrap().to_string();
                assert!(
                    ["interrupted", "pass"].contains(&verdict.as_str()),
                    "{verdict} (INTERRUPT_SEED={seed})"
                );
            }
        }
    }
}
