//! What the workers of one load measured: counts, errors by class, per-row sums for the oracle;
//! owned by each worker and merged once at the end, plus what `run` adds (latencies, witnesses).

use super::load::Failure;
use crate::race::oracle::RowSums;
use crate::race::witnesses::Sorted;
use crate::report::hlog::IntervalLog;
use hdrhistogram::Histogram;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// The highest latency recorded exactly (60 s, in µs); slower calls are clamped to it.
pub(super) const MAX_LATENCY_US: u64 = 60_000_000;

/// Errors of one class (SQLSTATE or loadtest's own), with the first message seen.
#[derive(Debug, Clone, Default)]
pub struct ErrorClass {
    pub count: u64,
    pub message: String,
}

/// Calls sent on purpose for keys that do not exist.
#[derive(Debug, Clone, Default)]
pub struct Absent {
    pub sent: u64,
    /// Refused by the function (what it should do), by SQLSTATE.
    pub rejected: BTreeMap<String, ErrorClass>,
    /// Acknowledged although the key does not exist: the function silently did nothing.
    pub accepted: u64,
}

/// Live counters for the progress bar and the throughput sampler.
pub struct Live {
    pub done: AtomicU64,
    pub failed: AtomicU64,
    pub latency_us: Mutex<Histogram<u64>>,
    /// The current sample window's latencies: the sampler takes its median and empties it.
    pub window_us: Mutex<Histogram<u64>>,
}

impl Default for Live {
    fn default() -> Live {
        Live {
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            latency_us: Mutex::new(new_histogram()),
            window_us: Mutex::new(new_histogram()),
        }
    }
}

/// Everything the workers of one load measured, merged.
pub struct Outcome {
    /// Acknowledged calls.
    pub ops_ok: u64,
    /// Calls certainly not applied: the server refused them (an error for the statement, a
    /// rollback) or they never reached it.
    pub ops_failed: u64,
    /// Calls whose connection died while they were in flight: applied or not, nobody knows
    /// until the ledger (if kept) says.
    pub ops_indeterminate: u64,
    /// Each indeterminate call, for the ledger to resolve: few (one per fault at most).
    pub unresolved: Vec<Unresolved>,
    pub retries: u64,
    pub late_starts: u64,
    /// Open model with --duration: calls that were due before the end but never started.
    pub not_started: u64,
    pub elapsed: Duration,
    /// Calls completed per `SAMPLE_EVERY` interval, as calls/s: the run's own spread, which
    /// `report compare` uses to tell a change from noise.
    pub throughput_samples: Vec<f64>,
    /// The median latency (µs) of the calls acknowledged in each `SAMPLE_EVERY` interval that
    /// had any: the spread `report compare` judges a latency change by.
    pub latency_p50_samples: Vec<f64>,
    /// The acknowledged calls' latencies, recorded by `run`'s collector (a worker's is empty).
    pub latency_us: Histogram<u64>,
    /// The acknowledged calls' latencies per `hlog::INTERVAL` of completion time (set by
    /// `run`, not by workers). Its total equals `ops_ok` unless workers were abandoned after an
    /// interruption.
    pub intervals: Option<IntervalLog>,
    pub errors: BTreeMap<String, ErrorClass>,
    pub absent: Absent,
    /// Per key index: the sum of every acknowledged delta per column, and the call count.
    pub acked: RowSums,
    /// Per key index: deltas of calls whose outcome is unknown (connection lost mid-call),
    /// split into positive and negative parts per column: they widen the oracle's bounds.
    pub unknown_pos: RowSums,
    pub unknown_neg: RowSums,
    /// Read-modify-write paths: every acknowledged call's witness, on disk, sorted once the
    /// load ended (set by `run`; `None` for other paths and interrupted loads).
    pub witnesses: Option<Sorted>,
    /// Calls whose witness could not be kept (the spill file failed): when non-zero, lost
    /// updates are counted as a lower bound.
    pub witnesses_dropped: u64,
    pub interrupted: bool,
    /// A worker panicked (a bug): the load was stopped, and this is the panic's message.
    pub panicked: Option<String>,
}

impl Outcome {
    pub fn new(columns: usize) -> Outcome {
        Outcome {
            ops_ok: 0,
            ops_failed: 0,
            ops_indeterminate: 0,
            unresolved: Vec::new(),
            retries: 0,
            late_starts: 0,
            not_started: 0,
            elapsed: Duration::ZERO,
            throughput_samples: Vec::new(),
            latency_p50_samples: Vec::new(),
            latency_us: new_histogram(),
            intervals: None,
            errors: BTreeMap::new(),
            absent: Absent::default(),
            acked: RowSums::new(columns),
            unknown_pos: RowSums::new(columns),
            unknown_neg: RowSums::new(columns),
            witnesses: None,
            witnesses_dropped: 0,
            interrupted: false,
            panicked: None,
        }
    }

    pub(crate) fn merge(&mut self, other: Outcome) {
        self.ops_ok += other.ops_ok;
        self.ops_failed += other.ops_failed;
        self.ops_indeterminate += other.ops_indeterminate;
        self.unresolved.extend(other.unresolved);
        self.retries += other.retries;
        self.late_starts += other.late_starts;
        self.not_started += other.not_started;
        merge_errors(&mut self.errors, other.errors);
        self.absent.sent += other.absent.sent;
        self.absent.accepted += other.absent.accepted;
        merge_errors(&mut self.absent.rejected, other.absent.rejected);
        self.acked.merge(&other.acked);
        self.unknown_pos.merge(&other.unknown_pos);
        self.unknown_neg.merge(&other.unknown_neg);
        self.witnesses_dropped += other.witnesses_dropped;
        self.interrupted |= other.interrupted;
    }
}

fn merge_errors(into: &mut BTreeMap<String, ErrorClass>, from: BTreeMap<String, ErrorClass>) {
    for (k, v) in from {
        let e = into.entry(k).or_default();
        if e.count == 0 {
            e.message = v.message;
        }
        e.count += v.count;
    }
}

fn count_error(map: &mut BTreeMap<String, ErrorClass>, e: &Failure) {
    let (class, message) = e.class();
    let entry = map.entry(class.to_string()).or_default();
    if entry.count == 0 {
        entry.message = message.to_string();
    }
    entry.count += 1;
}

/// An auto-resizing histogram (3 significant digits): it only grows as far as the latencies it
/// sees, which keeps one per worker affordable (tens of KB instead of 220 KB for a fixed
/// 1 µs..60 s range).
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new(3).expect("valid histogram precision")
}

/// Records a latency, clamped to `MAX_LATENCY_US`.
pub(super) fn record(h: &mut Histogram<u64>, us: u64) {
    let _ = h.record(us.clamp(1, MAX_LATENCY_US));
}

impl Absent {
    /// Books a call sent for a key that does not exist: refused (as it should be) or accepted.
    pub(super) fn count(&mut self, failure: Option<Failure>) {
        self.sent += 1;
        match failure {
            Some(e) => count_error(&mut self.rejected, &e),
            None => self.accepted += 1,
        }
    }
}

/// A call whose outcome is unknown: enough to add it to the sums (and, for a read-modify-write,
/// to the witnesses) if the ledger shows it committed.
#[derive(Debug, Clone)]
pub struct Unresolved {
    /// The call's id within its load (what the ledger records).
    pub id: u64,
    pub key: u32,
    pub deltas: Vec<Decimal>,
    /// What a read-modify-write call read before its write (empty for an RPC).
    pub read: Vec<Decimal>,
}

impl Outcome {
    /// Books a call that did not end acknowledged: certainly failed, or indeterminate, which
    /// widens its row's interval until the ledger resolves it.
    pub(super) fn failed(&mut self, u: Unresolved, e: &Failure) {
        if let Failure::Indeterminate(_) = e {
            self.ops_indeterminate += 1;
            let pos: Vec<Decimal> = u.deltas.iter().map(|d| (*d).max(Decimal::ZERO)).collect();
            let neg: Vec<Decimal> = u.deltas.iter().map(|d| (*d).min(Decimal::ZERO)).collect();
            self.unknown_pos.add(u.key, &pos, 1);
            self.unknown_neg.add(u.key, &neg, 1);
            self.unresolved.push(u);
        } else {
            self.ops_failed += 1;
        }
        count_error(&mut self.errors, e);
    }
}
