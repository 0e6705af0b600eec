//! A load's outcome to a partial's load and back: what a shard writes and what `verify`
//! rebuilds, with nothing lost on the way (histograms serialized whole, sums as decimals).

use crate::race::engine::{Absent, ErrorClass, Outcome, new_histogram};
use crate::race::oracle::RowSums;
use crate::race::witnesses::Spill;
use crate::report::Resolved;
use crate::report::hlog::IntervalLog;
use crate::shard::partial::{
    ErrorCount, Load, RowSum, WITNESS_BUDGET, decode_histogram, encode_histogram,
};
use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

/// One shard's outcome of a load, as its partial carries it.
pub fn to_load(label: String, mut o: Outcome, resolved: Option<Resolved>) -> Result<Load, String> {
    let witnesses = match o.witnesses.as_mut() {
        Some(w) if w.len() <= WITNESS_BUDGET => Some(
            w.all()
                .ok_or_else(|| "cannot read the witnesses back".to_string())?,
        ),
        Some(w) => {
            // Past the budget: not carried, so the merged count is a lower bound.
            o.witnesses_dropped += w.len();
            None
        }
        None => None,
    };
    let (intervals, wall_start_ms) = match &o.intervals {
        Some(log) => {
            let (start, _) = log.span();
            let ms = start
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let hs = log
                .intervals()
                .iter()
                .map(|(k, h)| Ok((*k, encode_histogram(h).map_err(|e| e.to_string())?)))
                .collect::<Result<Vec<_>, String>>()?;
            (hs, ms)
        }
        None => (Vec::new(), 0),
    };
    Ok(Load {
        label,
        ops_ok: o.ops_ok,
        ops_failed: o.ops_failed,
        ops_indeterminate: o.ops_indeterminate,
        retries: o.retries,
        late_starts: o.late_starts,
        not_started: o.not_started,
        elapsed_s: o.elapsed.as_secs_f64(),
        throughput_samples: o.throughput_samples,
        latency_p50_samples: o.latency_p50_samples,
        histogram: encode_histogram(&o.latency_us).map_err(|e| e.to_string())?,
        errors: errors_out(o.errors),
        absent_sent: o.absent.sent,
        absent_accepted: o.absent.accepted,
        absent_rejected: errors_out(o.absent.rejected),
        acked: rows_out(&o.acked),
        unknown_pos: rows_out(&o.unknown_pos),
        unknown_neg: rows_out(&o.unknown_neg),
        witnesses,
        witnesses_dropped: o.witnesses_dropped,
        ledger: resolved.map(|r| (r.committed, r.not_committed)),
        intervals,
        wall_start_ms,
        interrupted: o.interrupted,
    })
}

/// A merged load back as an outcome the judge takes, with its witnesses spilled and sorted as
/// a run on one machine would have them; also the ledger's resolution, if kept.
pub fn to_outcome(l: &Load, columns: usize) -> Result<(Outcome, Option<Resolved>), String> {
    let mut o = Outcome::new(columns);
    o.ops_ok = l.ops_ok;
    o.ops_failed = l.ops_failed;
    o.ops_indeterminate = l.ops_indeterminate;
    o.retries = l.retries;
    o.late_starts = l.late_starts;
    o.not_started = l.not_started;
    o.elapsed = Duration::from_secs_f64(l.elapsed_s.max(0.0));
    o.throughput_samples = l.throughput_samples.clone();
    o.latency_p50_samples = l.latency_p50_samples.clone();
    let mut h = new_histogram();
    h.add(decode_histogram(&l.histogram)?)
        .map_err(|e| format!("histogram of '{}': {e:?}", l.label))?;
    o.latency_us = h;
    o.errors = errors_in(&l.errors);
    o.absent = Absent {
        sent: l.absent_sent,
        accepted: l.absent_accepted,
        rejected: errors_in(&l.absent_rejected),
    };
    o.acked = rows_in(&l.acked, columns);
    o.unknown_pos = rows_in(&l.unknown_pos, columns);
    o.unknown_neg = rows_in(&l.unknown_neg, columns);
    o.witnesses_dropped = l.witnesses_dropped;
    o.interrupted = l.interrupted;
    if !l.intervals.is_empty() {
        let mut log = IntervalLog::new(UNIX_EPOCH + Duration::from_millis(l.wall_start_ms));
        for (k, h) in &l.intervals {
            log.add_histogram(*k, &decode_histogram(h)?);
        }
        log.finish(o.elapsed);
        o.intervals = Some(log);
    }
    if let Some(ws) = &l.witnesses {
        let spill = Spill::new(columns);
        let mut sink = spill.sink();
        for (key, read, delta) in ws {
            sink.push(*key, read, delta);
        }
        o.witnesses_dropped += sink.finish();
        match spill.finish() {
            Ok(sorted) => o.witnesses = Some(sorted),
            Err(_) => o.witnesses_dropped = o.witnesses_dropped.max(1),
        }
    }
    let resolved = l.ledger.map(|(committed, not_committed)| Resolved {
        committed,
        not_committed,
    });
    Ok((o, resolved))
}

fn errors_out(m: BTreeMap<String, ErrorClass>) -> BTreeMap<String, ErrorCount> {
    m.into_iter()
        .map(|(k, e)| {
            let e = ErrorCount {
                count: e.count,
                message: e.message,
            };
            (k, e)
        })
        .collect()
}

fn errors_in(m: &BTreeMap<String, ErrorCount>) -> BTreeMap<String, ErrorClass> {
    m.iter()
        .map(|(k, e)| {
            let e = ErrorClass {
                count: e.count,
                message: e.message.clone(),
            };
            (k.clone(), e)
        })
        .collect()
}

fn rows_out(r: &RowSums) -> Vec<RowSum> {
    let mut v: Vec<RowSum> = r.rows().map(|(k, c, s)| (k, c, s.to_vec())).collect();
    v.sort_by_key(|r| r.0);
    v
}

fn rows_in(rows: &[RowSum], columns: usize) -> RowSums {
    let mut r = RowSums::new(columns);
    for (key, calls, sums) in rows {
        r.add(*key, sums, *calls);
    }
    r
}
