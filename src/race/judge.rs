//! The run's verdict: every expectation that did not hold (failures) and everything a reader
//! should know (warnings), one sentence each, judged on the typed report rows.

use super::calls;
use crate::report::{CounterReport, PathReport, PathStrategy, per_column};
use crate::scenario::{Expect, Strategy};
use rust_decimal::Decimal;

/// Every expectation that did not hold (failures) and everything a reader should know
/// (warnings), one sentence each.
pub fn judge(paths: &[PathReport], faults: bool) -> (Vec<String>, Vec<String>) {
    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    for p in paths {
        failures.extend(failed(p, faults));
        warnings.extend(warned(p));
    }
    (failures, warnings)
}

/// The counter columns where `f` is not zero, with its value.
fn nonzero(p: &PathReport, f: fn(&CounterReport) -> Decimal) -> Vec<(String, Decimal)> {
    p.counters
        .iter()
        .filter(|c| !f(c).is_zero())
        .map(|c| (c.column.clone(), f(c)))
        .collect()
}

/// The expectations of one path that did not hold: an increment applied twice, an exact path
/// that lost updates or failed calls, and the oracle's two methods disagreeing.
fn failed(p: &PathReport, faults: bool) -> Vec<String> {
    let mut failures = Vec::new();
    let missing = nonzero(p, |c| c.missing);
    let extra = nonzero(p, |c| c.extra);
    if !extra.is_empty() {
        let what: Vec<String> = extra
            .iter()
            .map(|(c, v)| format!("{c} {v} above every acknowledged sum"))
            .collect();
        failures.push(format!(
            "path '{}': {} (an increment applied twice?)",
            p.name,
            what.join(", ")
        ));
    }
    if p.erased_by_other_paths.is_none() && p.expect == Expect::Exact && !missing.is_empty() {
        let bound = if p.lost_updates_exact {
            ""
        } else {
            "at least "
        };
        let what: Vec<String> = missing
            .iter()
            .map(|(c, v)| format!("{c} missing {v}"))
            .collect();
        failures.push(format!(
            "path '{}' must be exact but lost {bound}{} update(s) in {} row(s): {}",
            p.name,
            p.lost_updates,
            p.rows_short,
            what.join(", ")
        ));
    }
    // Only a transaction strategy expects serialization failures and deadlocks.
    let tolerated = match p.strategy.strategy() {
        None | Some(Strategy::None) => 0,
        Some(_) => retryable_failures(p),
    } + if faults { injected_failures(p) } else { 0 };
    if p.expect == Expect::Exact && p.ops_failed > tolerated {
        let calls: Vec<String> = p
            .errors
            .iter()
            .map(|e| format!("{}× {} {}", e.count, e.sqlstate, e.message))
            .collect();
        failures.push(format!(
            "path '{}' must not fail calls, but {} failed: {}",
            p.name,
            p.ops_failed,
            calls.join("; ")
        ));
    }
    if let Some(w) = &p.witnesses
        && !w.agrees_with_totals
    {
        failures.push(format!(
            "path '{}': the witnesses account for {} lost, the totals for {}: the oracle's \
             two methods disagree",
            p.name,
            per_column(&w.lost_amount),
            per_column(&missing.iter().map(|(_, v)| *v).collect::<Vec<_>>())
        ));
    }
    failures
}

/// What a reader of one path should know that did not fail it.
fn warned(p: &PathReport) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(erased) = p.erased_by_other_paths {
        warnings.push(format!(
            "path '{}': {erased} of its {} acknowledged increments were erased by the lossy \
             path(s) running beside it",
            p.name, p.ops_ok
        ));
    }
    if p.expect == Expect::Lossy
        && p.lost_updates == 0
        && p.strategy == PathStrategy::Rmw(Strategy::None)
    {
        warnings.push(format!(
            "path '{}' is expected to lose updates but lost none: the load was too weak to \
             prove the race (raise --workers/--connections/--ops or the hot share)",
            p.name
        ));
    }
    if let Some(a) = &p.absent_keys
        && a.accepted > 0
    {
        warnings.push(format!(
            "path '{}' acknowledged {} call(s) for keys that do not exist: the function \
                silently did nothing instead of refusing them",
            p.name, a.accepted
        ));
    }
    if p.witnesses_dropped > 0 {
        warnings.push(format!(
            "path '{}': {} witness(es) could not be written to the temporary file (is the temp \
                folder full? TMPDIR moves it), so its lost updates are a lower bound",
            p.name, p.witnesses_dropped
        ));
    }
    if p.late_starts > 0 || p.not_started > 0 {
        warnings.push(format!(
            "path '{}': {} call(s) started late and {} never started: the server could not \
                keep up with --rate (latency counts from when each call was due)",
            p.name, p.late_starts, p.not_started
        ));
    }
    warnings
}

/// Failed calls that an injected fault explains (a cancel, a statement timeout, no connection
/// to be had): under `--faults`, never evidence against the path.
pub fn injected_failures(p: &PathReport) -> u64 {
    p.errors
        .iter()
        .filter(|e| calls::is_injected_failure(&e.sqlstate))
        .map(|e| e.count)
        .sum()
}

/// Failed calls that a transaction strategy expects: serialization failures and deadlocks.
pub fn retryable_failures(p: &PathReport) -> u64 {
    p.errors
        .iter()
        .filter(|e| calls::is_retryable(&e.sqlstate))
        .map(|e| e.count)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::Report;
    use crate::report::path_model::{AbsentReport, ErrorReport, WitnessReport};
    use rust_decimal_macros::dec;

    /// The committed example's fallback path: lossy, its witnesses agreeing with its totals.
    fn fallback() -> PathReport {
        let r: serde_json::Value =
            serde_json::from_str(include_str!("../../reports/example-token-race.json")).unwrap();
        serde_json::from_value(r["paths"][1].clone()).unwrap()
    }

    /// No database can make the two methods disagree once a chain is found (the chain's deltas
    /// telescope to final − initial, so what is off it is what the totals miss): only a bug in
    /// the oracle can, so the verdict on a disagreement is proven here, on the report rows.
    #[test]
    fn witnesses_that_disagree_with_the_example_s_totals_fail_it() {
        let mut p = fallback();
        assert!(failed(&p, false).is_empty(), "{:?}", failed(&p, false));
        let w = p.witnesses.as_mut().unwrap();
        w.agrees_with_totals = false;
        w.lost_amount = vec![Decimal::from(32_040_000)];
        let f = failed(&p, false);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].contains("the witnesses account for 32040000 lost, the totals for 32040233"),
            "{f:?}"
        );
        assert!(f[0].contains("the oracle's two methods disagree"), "{f:?}");
    }

    #[test]
    fn an_extra_fails_even_a_lossy_path_and_an_exact_path_fails_on_any_loss() {
        let mut p = fallback();
        p.counters[0].extra = Decimal::ONE;
        assert!(
            failed(&p, false)
                .iter()
                .any(|f| f.contains("used_tokens 1 above every acknowledged sum")),
            "{:?}",
            failed(&p, false)
        );
        let mut p = fallback();
        p.expect = Expect::Exact;
        assert!(
            failed(&p, false)
                .iter()
                .any(|f| f.contains("must be exact but lost")),
            "{:?}",
            failed(&p, false)
        );
    }

    /// The example report's paths: `rpc` (exact, an RPC, nothing lost) and `fallback` (lossy,
    /// read-modify-write without a strategy, witnesses agreeing with the totals).
    fn paths() -> (PathReport, PathReport) {
        let r: Report =
            serde_json::from_str(include_str!("../../reports/example-token-race.json")).unwrap();
        (r.paths()[0].clone(), r.paths()[1].clone())
    }

    fn errors(p: &mut PathReport, e: &[(&str, u64)]) {
        p.errors = e
            .iter()
            .map(|&(s, n)| ErrorReport {
                sqlstate: s.into(),
                count: n,
                message: format!("msg {s}"),
            })
            .collect();
        p.ops_failed = e.iter().map(|x| x.1).sum();
    }

    #[test]
    fn the_example_passes_clean() {
        let (rpc, fallback) = paths();
        assert_eq!(judge(&[rpc, fallback], false), (vec![], vec![]));
    }

    #[test]
    fn an_extra_amount_fails_any_path() {
        let (mut rpc, mut fallback) = paths();
        rpc.counters[0].extra = dec!(7);
        fallback.counters[0].extra = dec!(1.5);
        let (f, w) = judge(&[rpc, fallback], false);
        assert_eq!(
            f,
            [
                "path 'rpc': used_tokens 7 above every acknowledged sum (an increment applied twice?)",
                "path 'fallback': used_tokens 1.5 above every acknowledged sum (an increment applied twice?)",
            ]
        );
        assert!(w.is_empty());
    }

    #[test]
    fn an_exact_path_that_lost_fails_and_says_whether_the_count_is_a_bound() {
        let (mut rpc, _) = paths();
        rpc.counters[0].missing = dec!(12);
        rpc.lost_updates = 3;
        rpc.rows_short = 2;
        rpc.lost_updates_exact = false;
        let (f, _) = judge(std::slice::from_ref(&rpc), false);
        assert_eq!(
            f,
            [
                "path 'rpc' must be exact but lost at least 3 update(s) in 2 row(s): used_tokens missing 12"
            ]
        );
        rpc.lost_updates_exact = true;
        assert_eq!(
            judge(std::slice::from_ref(&rpc), false).0,
            ["path 'rpc' must be exact but lost 3 update(s) in 2 row(s): used_tokens missing 12"]
        );
        // In a mixed run the loss is the other paths' doing: a warning, not a failure.
        rpc.erased_by_other_paths = Some(3);
        let (f, w) = judge(std::slice::from_ref(&rpc), false);
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(
            w,
            [
                "path 'rpc': 3 of its 20000 acknowledged increments were erased by the lossy path(s) running beside it"
            ]
        );
    }

    #[test]
    fn a_lossy_path_may_lose_but_a_lossy_path_that_lost_nothing_is_a_warning() {
        let (_, mut fallback) = paths();
        assert!(fallback.lost_updates > 0);
        fallback.counters[0].missing = dec!(5);
        assert_eq!(
            judge(std::slice::from_ref(&fallback), false),
            (vec![], vec![])
        );
        fallback.lost_updates = 0;
        let (f, w) = judge(std::slice::from_ref(&fallback), false);
        assert!(f.is_empty());
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with("path 'fallback' is expected to lose updates but lost none"),
            "{w:?}"
        );
        // A lossy path with a transaction strategy is not expected to show the race.
        fallback.strategy = PathStrategy::Rmw(Strategy::Serializable);
        assert_eq!(
            judge(std::slice::from_ref(&fallback), false),
            (vec![], vec![])
        );
    }

    #[test]
    fn failed_calls_fail_an_exact_path_unless_its_strategy_or_the_faults_explain_them() {
        let (mut rpc, mut fallback) = paths();
        errors(&mut rpc, &[("40001", 2), ("57014", 1)]);
        let (f, _) = judge(std::slice::from_ref(&rpc), false);
        assert_eq!(
            f,
            [
                "path 'rpc' must not fail calls, but 3 failed: 2× 40001 msg 40001; 1× 57014 msg 57014"
            ]
        );
        // Injected faults explain the cancel, not the serialization failures.
        assert_eq!(judge(std::slice::from_ref(&rpc), true).0.len(), 1);
        errors(&mut rpc, &[("57014", 2), ("no_connection", 1)]);
        assert!(judge(std::slice::from_ref(&rpc), true).0.is_empty());
        assert_eq!(judge(std::slice::from_ref(&rpc), false).0.len(), 1);
        // A transaction strategy expects serialization failures and deadlocks, nothing else.
        fallback.expect = Expect::Exact;
        fallback.counters[0].missing = Decimal::ZERO;
        fallback.witnesses = None;
        fallback.strategy = PathStrategy::Rmw(Strategy::RepeatableRead);
        errors(&mut fallback, &[("40001", 2), ("40P01", 1)]);
        assert!(judge(std::slice::from_ref(&fallback), false).0.is_empty());
        errors(&mut fallback, &[("40001", 2), ("23505", 1)]);
        assert_eq!(judge(std::slice::from_ref(&fallback), false).0.len(), 1);
        fallback.strategy = PathStrategy::Rmw(Strategy::None);
        errors(&mut fallback, &[("40001", 1)]);
        assert_eq!(judge(std::slice::from_ref(&fallback), false).0.len(), 1);
        // A lossy path is not held to it.
        fallback.expect = Expect::Lossy;
        assert!(judge(std::slice::from_ref(&fallback), false).0.is_empty());
        assert_eq!(retryable_failures(&fallback), 1);
        assert_eq!(injected_failures(&rpc), 3);
        assert_eq!(injected_failures(&fallback), 0);
    }

    #[test]
    fn witnesses_that_disagree_with_the_totals_fail_the_path() {
        let (_, mut fallback) = paths();
        fallback.counters[0].missing = dec!(40);
        fallback.witnesses = Some(WitnessReport {
            lost_amount: vec![dec!(41)],
            agrees_with_totals: false,
            examples: vec![],
        });
        assert_eq!(
            judge(std::slice::from_ref(&fallback), false).0,
            [
                "path 'fallback': the witnesses account for 41 lost, the totals for 40: the oracle's two methods disagree"
            ]
        );
    }

    #[test]
    fn each_thing_a_reader_should_know_is_one_warning() {
        let (mut rpc, _) = paths();
        rpc.absent_keys = Some(AbsentReport {
            sent: 10,
            rejected: 10,
            accepted: 0,
            errors: vec![],
        });
        assert_eq!(judge(std::slice::from_ref(&rpc), false), (vec![], vec![]));
        rpc.absent_keys.as_mut().unwrap().accepted = 4;
        rpc.witnesses_dropped = 2;
        rpc.late_starts = 5;
        let (f, w) = judge(std::slice::from_ref(&rpc), false);
        assert!(f.is_empty());
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[0].starts_with("path 'rpc' acknowledged 4 call(s) for keys that do not exist"));
        assert!(w[1].starts_with("path 'rpc': 2 witness(es) could not be written"));
        assert!(w[2].starts_with("path 'rpc': 5 call(s) started late and 0 never started"));
        rpc.late_starts = 0;
        rpc.not_started = 1;
        let w = judge(std::slice::from_ref(&rpc), false).1;
        assert!(w[2].starts_with("path 'rpc': 0 call(s) started late and 1 never started"));
    }
}
