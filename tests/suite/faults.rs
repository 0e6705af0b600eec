//! Faults (`--faults`): backends killed and links cut mid-call leave calls indeterminate, the
//! ledger resolves every one of them and the RPC stays exact to the unit while the fallback is
//! still shown lossy; cancels and statement timeouts are certain failures that never count
//! against the function; a bad spec is one line and exit 2 before anything runs.

use crate::suite::schema::assert_valid;
use crate::util::*;
use rust_decimal::Decimal;
use std::str::FromStr;

fn count(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// Every call of a path ended as exactly one of ok, failed, indeterminate.
fn accounted(p: &serde_json::Value, ops: u64) {
    let sum = count(&p["ops_ok"]) + count(&p["ops_failed"]) + count(&p["ops_indeterminate"]);
    assert_eq!(sum, ops, "{}: ok + failed + indeterminate", p["name"]);
}

#[test]
fn kills_and_cuts_with_the_ledger_leave_the_rpc_exact_and_the_fallback_lossy() {
    let (code, err, r) = run_scenario(
        "token-race",
        &[
            "--ops",
            "3000",
            "--faults",
            "kill:40ms,cut:60ms",
            "--ledger",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    assert_valid("a faulted report", &r);
    let f = &r["faults"];
    assert_eq!(f["spec"], "kill:40ms,cut:60ms");
    assert!(count(&f["injected"]["kill"]) > 0, "{f}");
    assert!(count(&f["injected"]["cut"]) > 0, "{f}");
    assert!(count(&f["pool"]["connections_replaced"]) > 0, "{f}");
    assert_eq!(r["settings"]["ledger"], true);
    let (rpc, fallback) = (path(&r, "rpc"), path(&r, "fallback"));
    accounted(rpc, 3000);
    accounted(fallback, 3000);
    let mut indeterminate = 0;
    for p in [rpc, fallback] {
        let n = count(&p["ops_indeterminate"]);
        let res = &p["indeterminate_resolved"];
        // The ledger resolves every indeterminate call, one way or the other.
        assert_eq!(
            count(&res["committed"]) + count(&res["not_committed"]),
            n,
            "{p}"
        );
        indeterminate += n;
    }
    assert!(indeterminate > 0, "the faults left no call indeterminate");
    // Exact to the unit: final = initial + Σ acknowledged + Σ committed-indeterminate.
    let c = &rpc["counters"][0];
    assert_eq!(c["missing"], "0", "{c}");
    assert_eq!(c["extra"], "0", "{c}");
    assert_eq!(
        Decimal::from_str(c["expected"].as_str().unwrap()).unwrap(),
        Decimal::from_str(c["actual"].as_str().unwrap()).unwrap()
    );
    assert_eq!(rpc["expectation_held"], true);
    assert!(
        count(&fallback["lost_updates"]) > 0,
        "the fallback is still lossy"
    );
}

#[test]
fn cancels_and_statement_timeouts_fail_calls_without_failing_the_rpc() {
    let (code, err, r) = run_scenario(
        "token-race",
        &["--ops", "2000", "--faults", "cancel:20ms,timeout:10ms"],
    );
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    let rpc = path(&r, "rpc");
    accounted(rpc, 2000);
    let cancelled: u64 = rpc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["sqlstate"] == "57014")
        .map(|e| count(&e["count"]))
        .sum();
    assert!(cancelled > 0, "no call was cancelled: {}", rpc["errors"]);
    assert_eq!(count(&rpc["ops_failed"]), cancelled, "{}", rpc["errors"]);
    assert!(
        count(&r["faults"]["injected"]["timeout"]) + count(&r["faults"]["injected"]["cancel"]) > 0
    );
    // Failed calls are certainly not applied: the row holds exactly the acknowledged sum.
    assert_eq!(rpc["counters"][0]["missing"], "0");
    assert_eq!(rpc["counters"][0]["extra"], "0");
    assert_eq!(rpc["expectation_held"], true);
    assert!(
        r["paths"][1]["indeterminate_resolved"].is_null(),
        "no ledger asked"
    );
}

#[test]
fn bad_fault_specs_are_one_line_and_exit_2_before_anything_runs() {
    for (args, says) in [
        (vec!["--faults", "kill:1ms"], "below 10 ms"),
        (vec!["--faults", "kill:1s", "--mixed"], "not --mixed"),
        (vec!["--ledger", "--mixed"], "not --mixed"),
        (vec!["--faults", "restart:twice"], "only 'once'"),
        (
            vec![
                "--faults",
                "restart:once",
                "--database-url",
                "postgresql://x@127.0.0.1:1/x",
            ],
            "never --database-url",
        ),
    ] {
        let reports = tempfile::tempdir().unwrap();
        let mut a = vec!["run", "token-race", "--quiet", "--report-dir"];
        a.push(reports.path().to_str().unwrap());
        a.extend(args.iter().copied());
        let out = run(&a);
        let e = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{args:?}: {e}");
        assert!(e.contains(says), "{args:?}: {e}");
        assert_eq!(std::fs::read_dir(reports.path()).unwrap().count(), 0);
    }
}

#[test]
fn a_crash_and_restart_of_the_scratch_server_leaves_the_rpc_exact_and_nothing_behind() {
    let reports = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["run", "token-race", "--quiet", "--ops", "3000", "--ledger"])
        .args(["--faults", "restart:once", "--report-dir"])
        .arg(reports.path())
        .env("LOADTEST_SCRATCH_DIR", scratch.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(reports.path());
    assert_eq!(
        count(&r["faults"]["injected"]["restart"]),
        1,
        "{}",
        r["faults"]
    );
    let rpc = path(&r, "rpc");
    accounted(rpc, 3000);
    let res = &rpc["indeterminate_resolved"];
    assert_eq!(
        count(&res["committed"]) + count(&res["not_committed"]),
        count(&rpc["ops_indeterminate"])
    );
    assert_eq!(rpc["counters"][0]["missing"], "0");
    assert_eq!(rpc["counters"][0]["extra"], "0");
    assert!(count(&path(&r, "fallback")["lost_updates"]) > 0);
    // The restarted server was stopped too, and its folder is gone.
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
    assert!(servers_mentioning(scratch.path().to_str().unwrap()).is_empty());
}
