//! Report entries: what one load (or a mixed run's loads) measured, with the oracle's verdict,
//! turned into the path's report entry. The same for a run on one machine, for `verify` of a
//! sharded run, and for a rollout's loads.

use super::*;

/// Turns outcomes and counter values into report entries: the same for a run on one machine
/// and for `verify` of a sharded run, which rebuilds the outcomes from the partials.
pub struct Judge<'a> {
    pub plan: &'a RunPlan,
    pub keys: &'a [KeyValue],
    /// Faults were injected (what they did to calls is not held against a path).
    pub faults: bool,
}

impl Judge<'_> {
    /// One load's report entry, with the oracle's verdict.
    pub fn path(&self, spec: &PathSpec, strategy: Strategy, ran: Ran) -> PathReport {
        let columns = &self.plan.scenario.counters.columns;
        let Ran {
            label,
            initial,
            mut outcome,
            resolved,
            final_values,
            ways,
            solo,
            socket,
        } = ran;
        let max_delta: Vec<Decimal> = columns
            .iter()
            .map(|c| c.delta.max.abs().max(c.delta.min.abs()))
            .collect();
        // Witnesses that were not all kept cannot prove the chain: a lower bound instead.
        let complete = outcome.witnesses_dropped == 0;
        let history = outcome
            .witnesses
            .as_mut()
            .filter(|_| complete && matches!(spec.kind, PathKind::ReadModifyWrite { .. }))
            .map(|h| h as &mut dyn oracle::History);
        let verdict = oracle::check(
            &oracle::Observed {
                columns: columns.len(),
                keys: self.keys.len(),
                initial: &initial,
                final_values: &final_values,
                acked: &outcome.acked,
                unknown_pos: &outcome.unknown_pos,
                unknown_neg: &outcome.unknown_neg,
                max_delta: &max_delta,
            },
            history,
        );
        let mut report = path_report(
            spec,
            label,
            strategy,
            outcome,
            self.plan.absent_share() > 0.0,
        );
        report.indeterminate_resolved = resolved;
        if let Some(ways) = ways {
            record_ways(&mut report, spec, ways);
        }
        report.client = socket.map(|on| match on {
            true => ClientPath::Socket,
            false => ClientPath::Driver,
        });
        if let Some(solo) = solo {
            report.solo_latency_us = Some(solo.p50_us);
            report.solo_latency_samples = solo.samples;
        }
        record_verdict(columns, self.keys, &mut report, &verdict);
        let short = u64::from(verdict.rows_short > 0);
        // What an injected fault did to a call is never evidence against the path.
        let excused = match self.faults {
            true => injected_failures(&report),
            false => 0,
        };
        report.expectation_held =
            if prevents_loss(strategy) && report.kind == CallKind::ReadModifyWrite {
                // These strategies exist to stop lost updates: what commits must be exact; calls
                // aborted by 40001/40P01 (after --retry) are reported, not lost.
                report.expect = Expect::Exact;
                short == 0
                    && verdict.rows_over == 0
                    && report.ops_failed == retryable_failures(&report) + excused
            } else {
                let failed = report.ops_failed.saturating_sub(excused);
                held(spec.expect, short, failed, verdict.rows_over)
            };
        report
    }

    /// A mixed run's report entries, from each path's outcome and the final counters.
    pub fn mixed(&self, outcomes: Vec<Outcome>, final_values: &[Vec<Decimal>]) -> Vec<PathReport> {
        let paths = &self.plan.scenario.paths;
        let columns = &self.plan.scenario.counters.columns;
        let base = self.plan.total_ops() + 1;
        let first: Vec<Decimal> = final_values.iter().map(|v| v[0]).collect();
        let calls: Vec<&oracle::RowSums> = outcomes.iter().map(|o| &o.acked).collect();
        let attribution = oracle::attribute(&calls, base, &first);
        let any_lossy = paths.iter().any(|p| p.expect == Expect::Lossy);
        let mut out = Vec::new();
        for ((spec, outcome), a) in paths.iter().zip(outcomes).zip(attribution) {
            let unit = Decimal::from(base.pow(out.len() as u32));
            let label = format!("{}@mixed", spec.name);
            let mut report = path_report(
                spec,
                label,
                self.plan.strategy(),
                outcome,
                self.plan.absent_share() > 0.0,
            );
            let lost = a.acked - a.surviving;
            report.counters = vec![CounterReport {
                column: columns[0].name.clone(),
                expected: Decimal::from(a.acked) * unit,
                actual: Decimal::from(a.surviving) * unit,
                missing: Decimal::from(lost) * unit,
                extra: Decimal::from(a.over) * unit,
            }];
            report.lost_updates = lost;
            report.lost_updates_exact = true;
            report.rows_short = a.rows_short;
            report.rows_over = a.rows_over;
            // An exact path's increments erased by a lossy path in the same fleet are the lossy
            // path's fault: reported as erased, not as the exact path failing.
            if spec.expect == Expect::Exact && any_lossy {
                report.erased_by_other_paths = Some(lost);
                report.expectation_held = report.ops_failed == 0 && a.rows_over == 0;
            } else {
                report.expectation_held = held(spec.expect, lost, report.ops_failed, a.rows_over);
            }
            out.push(report);
        }
        out
    }
}

/// The oracle's verdict in a path's report: per column totals, lost updates and, for a
/// read-modify-write path, what the witnesses show.
pub(crate) fn record_verdict(
    columns: &[crate::scenario::Column],
    keys: &[KeyValue],
    report: &mut PathReport,
    verdict: &oracle::Verdict,
) {
    let counters = columns
        .iter()
        .zip(&verdict.columns)
        .map(|(c, v)| CounterReport {
            column: c.name.clone(),
            expected: v.expected.normalize(),
            actual: v.actual.normalize(),
            missing: v.missing.normalize(),
            extra: v.extra.normalize(),
        })
        .collect();
    let witnesses = verdict
        .lost_amount_from_witnesses
        .as_ref()
        .map(|amount| WitnessReport {
            agrees_with_totals: amount
                .iter()
                .zip(&verdict.columns)
                .all(|(a, c)| *a == c.missing),
            lost_amount: amount.clone(),
            examples: verdict
                .examples
                .iter()
                .map(|p| LostPairReport {
                    key: keys[p.key as usize].display(),
                    read: p.read.clone(),
                    first_delta: p.first_delta.clone(),
                    second_delta: p.second_delta.clone(),
                })
                .collect(),
        });
    report.counters = counters;
    report.lost_updates = verdict.lost_updates;
    report.lost_updates_exact = verdict.lost_updates_exact;
    report.rows_short = verdict.rows_short;
    report.rows_over = verdict.rows_over;
    report.witnesses = witnesses;
}

/// A `rpc-with-fallback` path's count of which way its calls went.
pub(crate) fn record_ways(report: &mut PathReport, spec: &PathSpec, (rpc, fallback): (u64, u64)) {
    if matches!(spec.kind, PathKind::RpcWithFallback { .. }) {
        report.calls_via_rpc = Some(rpc);
        report.calls_via_fallback = Some(fallback);
    }
}

pub(super) fn label(spec: &PathSpec, strategy: Strategy, matrix: bool) -> String {
    match (&spec.kind, matrix, strategy) {
        (PathKind::Rpc { .. } | PathKind::RpcWithFallback { .. }, _, _)
        | (_, false, Strategy::None) => spec.name.clone(),
        _ => format!("{}@{}", spec.name, strategy.name()),
    }
}

/// Whether a read-modify-write strategy is meant to prevent lost updates.
fn prevents_loss(strategy: Strategy) -> bool {
    matches!(
        strategy,
        Strategy::RepeatableRead | Strategy::Serializable | Strategy::ForUpdate
    )
}

pub(crate) fn held(expect: Expect, lost: u64, failed: u64, over: u64) -> bool {
    match expect {
        Expect::Exact => lost == 0 && failed == 0 && over == 0,
        Expect::Lossy => over == 0,
    }
}

/// The parts of a path's report that come from the engine alone.
pub(crate) fn path_report(
    spec: &PathSpec,
    name: String,
    strategy: Strategy,
    outcome: Outcome,
    absent_on: bool,
) -> PathReport {
    let secs = outcome.elapsed.as_secs_f64();
    let errors = |m: BTreeMap<String, engine::ErrorClass>| -> Vec<ErrorReport> {
        m.into_iter()
            .map(|(sqlstate, e)| ErrorReport {
                sqlstate,
                count: e.count,
                message: e.message,
            })
            .collect()
    };
    let is_rmw = matches!(spec.kind, PathKind::ReadModifyWrite { .. });
    let mut r = PathReport {
        name,
        path: spec.name.clone(),
        kind: match spec.kind {
            PathKind::ReadModifyWrite { .. } => CallKind::ReadModifyWrite,
            PathKind::Rpc { .. } => CallKind::Rpc,
            PathKind::RpcWithFallback { .. } => CallKind::RpcWithFallback,
        },
        strategy: if is_rmw {
            PathStrategy::Rmw(strategy)
        } else {
            PathStrategy::NotApplicable
        },
        expect: spec.expect,
        ops_ok: outcome.ops_ok,
        ops_failed: outcome.ops_failed,
        ops_indeterminate: outcome.ops_indeterminate,
        indeterminate_resolved: None,
        retries: outcome.retries,
        late_starts: outcome.late_starts,
        not_started: outcome.not_started,
        duration_s: (secs * 1000.0).round() / 1000.0,
        throughput_ops_s: stats::throughput(outcome.ops_ok, secs),
        throughput_samples: outcome
            .throughput_samples
            .iter()
            .map(|v| v.round())
            .collect(),
        latency_p50_samples: outcome.latency_p50_samples.clone(),
        solo_latency_us: None,
        solo_latency_samples: Vec::new(),
        latency_us: LatencyUs::of(&outcome.latency_us),
        latency_percentiles: stats::percentile_curve(&outcome.latency_us),
        hlog: None,
        intervals: outcome.intervals.map(std::sync::Arc::new),
        counters: Vec::new(),
        lost_updates: 0,
        lost_updates_exact: true,
        rows_short: 0,
        rows_over: 0,
        errors: errors(outcome.errors),
        absent_keys: absent_on.then(|| AbsentReport {
            sent: outcome.absent.sent,
            accepted: outcome.absent.accepted,
            rejected: outcome.absent.rejected.values().map(|e| e.count).sum(),
            errors: errors(outcome.absent.rejected.clone()),
        }),
        witnesses: None,
        witnesses_dropped: outcome.witnesses_dropped,
        erased_by_other_paths: None,
        expectation_held: false,
        calls_via_rpc: None,
        calls_via_fallback: None,
        client: None,
    };
    r.expectation_held = held(spec.expect, 0, r.ops_failed, 0);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, kind: PathKind) -> PathSpec {
        PathSpec {
            name: name.into(),
            kind,
            expect: Expect::Exact,
            at: (1, 1),
        }
    }

    #[test]
    fn exact_holds_only_with_nothing_lost_failed_or_over_and_lossy_only_with_nothing_over() {
        assert!(held(Expect::Exact, 0, 0, 0));
        assert!(!held(Expect::Exact, 1, 0, 0));
        assert!(!held(Expect::Exact, 0, 1, 0));
        assert!(!held(Expect::Exact, 0, 0, 1));
        assert!(held(Expect::Lossy, 5, 3, 0));
        assert!(!held(Expect::Lossy, 0, 0, 1));
    }

    #[test]
    fn only_the_locking_and_stricter_isolation_strategies_promise_no_loss() {
        for (s, promise) in [
            (Strategy::None, false),
            (Strategy::ReadCommitted, false),
            (Strategy::RepeatableRead, true),
            (Strategy::Serializable, true),
            (Strategy::ForUpdate, true),
        ] {
            assert_eq!(prevents_loss(s), promise, "{}", s.name());
        }
    }

    #[test]
    fn a_read_modify_write_path_is_labelled_by_strategy_in_a_matrix_or_off_the_default() {
        let rpc = spec("rpc", PathKind::Rpc { sql: "x".into() });
        let rmw = spec(
            "fallback",
            PathKind::ReadModifyWrite {
                read: "r".into(),
                write: "w".into(),
            },
        );
        assert_eq!(label(&rpc, Strategy::Serializable, true), "rpc");
        assert_eq!(label(&rmw, Strategy::None, false), "fallback");
        assert_eq!(label(&rmw, Strategy::None, true), "fallback@none");
        assert_eq!(
            label(&rmw, Strategy::ForUpdate, false),
            "fallback@for-update"
        );
    }
}
