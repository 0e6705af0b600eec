//! The rollout's bookkeeping around the race oracle: reading every traffic's counters at a
//! checkpoint, the oracle on one of a path's two loads, the two loads merged into one path
//! report, and the settings the report records.

use super::Rows;
use super::plan::RolloutPlan;
use crate::error::{Error, Result};
use crate::race::engine::Outcome;
use crate::race::oracle;
use crate::report::{self, Settings};
use crate::scenario::{self, Strategy};
use rust_decimal::Decimal;
use std::time::Duration;

/// Every traffic's counters, in key order.
pub(super) async fn read_all(
    client: &tokio_postgres::Client,
    rows: &[Rows<'_>],
) -> Result<Vec<Vec<Vec<Decimal>>>> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let n = r.scenario.counters.columns.len();
        let mut by_key = r.table.read(client, n).await?;
        let values = r
            .keys
            .iter()
            .map(|k| {
                by_key.remove(k).ok_or_else(|| {
                    Error::Environment(
                        "a counter row disappeared during the rollout (did a migration delete it?)"
                            .into(),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.push(values);
    }
    Ok(out)
}

/// The oracle on one load of a path, between two reads of its rows.
pub(super) fn verdict(
    r: &Rows,
    from: &[Vec<Decimal>],
    to: &[Vec<Decimal>],
    o: &Outcome,
) -> oracle::Verdict {
    let columns = &r.scenario.counters.columns;
    let max_delta: Vec<Decimal> = columns
        .iter()
        .map(|c| c.delta.max.abs().max(c.delta.min.abs()))
        .collect();
    oracle::check(
        &oracle::Observed {
            columns: columns.len(),
            keys: r.keys.len(),
            initial: from,
            final_values: to,
            acked: &o.acked,
            unknown_pos: &o.unknown_pos,
            unknown_neg: &o.unknown_neg,
            max_delta: &max_delta,
        },
        None,
    )
}

/// The two loads of a path as one: counts added, samples one after the other.
pub(super) fn merge(mut a: Outcome, b: Outcome) -> Outcome {
    let _ = a.latency_us.add(&b.latency_us);
    a.throughput_samples.extend(&b.throughput_samples);
    a.latency_p50_samples.extend(&b.latency_p50_samples);
    a.elapsed += b.elapsed;
    a.intervals = None;
    let panicked = b.panicked.clone();
    a.merge(b);
    // The first load was ended on purpose: not an interruption.
    a.interrupted = false;
    a.panicked = a.panicked.or(panicked);
    a
}

pub(super) fn settings(plan: &RolloutPlan, elapsed: Duration) -> Settings {
    let first = plan.traffic.first();
    Settings {
        ops: None,
        duration_s: Some((elapsed.as_secs_f64() * 1000.0).round() / 1000.0),
        workers: plan.workers,
        connections: plan.connections(),
        seed: plan.seed,
        rows: plan.data.setup.rows,
        key_choice: match first.map(|s| s.keys.choice) {
            Some(scenario::KeyChoice::Hot { .. }) => report::KeyChoice::Hot,
            Some(scenario::KeyChoice::Zipf { .. }) => report::KeyChoice::Zipf,
            _ => report::KeyChoice::Uniform,
        },
        key_parameter: first.and_then(|s| s.keys.choice.parameter()),
        absent_share: 0.0,
        shards: None,
        load_model: report::LoadModel::Closed,
        rate: None,
        mode: report::Mode::Mixed,
        strategy: Strategy::None,
        retry: 0,
        query_mode: match plan.query_mode {
            crate::race::plan::QueryMode::Prepared => report::QueryMode::Prepared,
            crate::race::plan::QueryMode::Extended => report::QueryMode::Extended,
            crate::race::plan::QueryMode::Simple => report::QueryMode::Simple,
        },
        ledger: false,
        // A rollout's loads check a connection out per call, on the main thread.
        client_threads: Some(1),
    }
}
