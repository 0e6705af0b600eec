//! Workers, scheduling and cancellation for one path (closed model: `workers` calls in flight,
//! each sending its next call when the last returns). Knows no SQL: calls go through
//! `workload::Prepared`.
//!
//! Each worker owns its histogram, counters and RNG (derived from the run seed, the path and the
//! worker number) and hands them back when it ends; the results are merged once. Nothing is
//! shared on the hot path but the pool and one relaxed atomic for the progress bar.

use crate::scenario::{Column, KeyChoice, PathKind};
use crate::workload::{KeyValue, Num, OpError, Prepared};
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The highest latency recorded exactly (60 s, in µs); slower calls are clamped to it.
const MAX_LATENCY_US: u64 = 60_000_000;

/// What to run on one path.
pub struct Load {
    pub kind: PathKind,
    pub ops: u64,
    pub workers: usize,
    pub seed: u64,
    /// Mixed into each worker's seed so two paths of one run draw the same operations.
    pub stream: u64,
    pub keys: Arc<Vec<KeyValue>>,
    pub choice: KeyChoice,
    pub columns: Vec<Column>,
}

/// One read-modify-write witness: the key, what the call read and the delta it added.
#[derive(Debug, Clone)]
pub struct Witness {
    pub key: u32,
    pub read: Vec<Decimal>,
    pub delta: Vec<Decimal>,
}

/// Errors of one class (SQLSTATE or loadtest's own), with the first message seen.
#[derive(Debug, Clone, Default)]
pub struct ErrorClass {
    pub count: u64,
    pub message: String,
}

/// Everything the workers of one path measured, merged.
pub struct Outcome {
    pub ops_ok: u64,
    pub ops_failed: u64,
    pub elapsed: Duration,
    pub latency_us: Histogram<u64>,
    pub errors: BTreeMap<String, ErrorClass>,
    /// Per key index: the sum of every acknowledged delta, per column.
    pub acked: HashMap<u32, Vec<Decimal>>,
    /// Per key index: deltas of calls whose outcome is unknown (connection lost mid-call),
    /// split into positive and negative parts per column: they widen the oracle's bounds.
    pub unknown_pos: HashMap<u32, Vec<Decimal>>,
    pub unknown_neg: HashMap<u32, Vec<Decimal>>,
    pub witnesses: Vec<Witness>,
    pub interrupted: bool,
}

impl Outcome {
    fn new() -> Outcome {
        Outcome {
            ops_ok: 0,
            ops_failed: 0,
            elapsed: Duration::ZERO,
            latency_us: new_histogram(),
            errors: BTreeMap::new(),
            acked: HashMap::new(),
            unknown_pos: HashMap::new(),
            unknown_neg: HashMap::new(),
            witnesses: Vec::new(),
            interrupted: false,
        }
    }

    fn merge(&mut self, other: Outcome) {
        self.ops_ok += other.ops_ok;
        self.ops_failed += other.ops_failed;
        self.latency_us
            .add(&other.latency_us)
            .expect("same histogram bounds");
        for (k, v) in other.errors {
            let e = self.errors.entry(k).or_default();
            if e.count == 0 {
                e.message = v.message;
            }
            e.count += v.count;
        }
        for (map, theirs) in [
            (&mut self.acked, other.acked),
            (&mut self.unknown_pos, other.unknown_pos),
            (&mut self.unknown_neg, other.unknown_neg),
        ] {
            for (k, v) in theirs {
                add_into(
                    map.entry(k).or_insert_with(|| vec![Decimal::ZERO; v.len()]),
                    &v,
                );
            }
        }
        self.witnesses.extend(other.witnesses);
        self.interrupted |= other.interrupted;
    }
}

fn add_into(acc: &mut [Decimal], v: &[Decimal]) {
    for (a, b) in acc.iter_mut().zip(v) {
        *a += *b;
    }
}

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// Picks the key of each call.
#[derive(Clone, Copy)]
struct KeyPicker {
    choice: KeyChoice,
    n: u32,
}

impl KeyPicker {
    fn pick(&self, rng: &mut StdRng) -> u32 {
        match self.choice {
            KeyChoice::Hot { share } if rng.random_bool(share) => 0,
            _ => rng.random_range(0..self.n),
        }
    }
}

/// Runs `load` on `pool` and returns the merged outcome. Stops early, with `interrupted` set,
/// when `cancel` fires.
pub async fn run(
    pool: &deadpool_postgres::Pool,
    load: Load,
    done: Arc<AtomicU64>,
    cancel: &CancellationToken,
) -> Outcome {
    let load = Arc::new(load);
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for w in 0..load.workers {
        let (pool, load, done, cancel) = (pool.clone(), load.clone(), done.clone(), cancel.clone());
        set.spawn(async move { worker(w, &pool, &load, &done, &cancel).await });
    }
    let mut total = Outcome::new();
    while let Some(res) = set.join_next().await {
        match res {
            Ok(o) => total.merge(o),
            // A worker that panicked lost its own results only; say so in the counts.
            Err(_) => {
                let e = total.errors.entry("worker_panic".into()).or_default();
                e.count += 1;
                e.message = "a load worker panicked; its results are missing".into();
            }
        }
    }
    total.elapsed = started.elapsed();
    total.interrupted |= cancel.is_cancelled();
    total
}

async fn worker(
    w: usize,
    pool: &deadpool_postgres::Pool,
    load: &Load,
    done: &AtomicU64,
    cancel: &CancellationToken,
) -> Outcome {
    let ncols = load.columns.len();
    let mut out = Outcome::new();
    let mut rng = StdRng::seed_from_u64(
        load.seed ^ (load.stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)) ^ ((w as u64) << 32),
    );
    let picker = KeyPicker {
        choice: load.choice,
        n: load.keys.len() as u32,
    };
    let ranges: Vec<(i64, i64, u32)> = load
        .columns
        .iter()
        .map(|c| {
            let (lo, hi) = c.delta.units();
            (lo, hi, c.delta.scale)
        })
        .collect();
    let is_rmw = matches!(load.kind, PathKind::ReadModifyWrite { .. });
    let mut deltas: Vec<Num> = vec![Num(Decimal::ZERO); ncols];
    let mut read_values: Vec<Decimal> = Vec::with_capacity(ncols);
    let mut i = w as u64;
    while i < load.ops {
        i += load.workers as u64;
        if cancel.is_cancelled() {
            out.interrupted = true;
            break;
        }
        let key = picker.pick(&mut rng);
        for (d, &(lo, hi, scale)) in deltas.iter_mut().zip(&ranges) {
            *d = Num(Decimal::new(rng.random_range(lo..=hi), scale));
        }
        let t0 = Instant::now();
        let call = async {
            let client = pool
                .get()
                .await
                .map_err(|e| OpError::Indeterminate(format!("no connection from the pool: {e}")))?;
            let prepared = Prepared::on(&client, &load.kind)
                .await
                .map_err(|e| OpError::Db {
                    sqlstate: e.code().map_or("prepare", |c| c.code()).to_string(),
                    message: crate::pg::describe(&e),
                })?;
            prepared
                .call(
                    &**client,
                    &load.keys[key as usize],
                    &deltas,
                    &mut read_values,
                )
                .await
        };
        let result = tokio::select! {
            r = call => Some(r),
            _ = cancel.cancelled() => None,
        };
        let Some(result) = result else {
            out.interrupted = true;
            break;
        };
        let elapsed_us = t0.elapsed().as_micros() as u64;
        done.fetch_add(1, Ordering::Relaxed);
        let delta_values: Vec<Decimal> = deltas.iter().map(|d| d.0).collect();
        match result {
            Ok(()) => {
                out.ops_ok += 1;
                out.latency_us.saturating_record(elapsed_us.max(1));
                add_into(
                    out.acked
                        .entry(key)
                        .or_insert_with(|| vec![Decimal::ZERO; ncols]),
                    &delta_values,
                );
                if is_rmw {
                    out.witnesses.push(Witness {
                        key,
                        read: read_values.clone(),
                        delta: delta_values,
                    });
                }
            }
            Err(e) => {
                out.ops_failed += 1;
                if let OpError::Indeterminate(_) = e {
                    let pos: Vec<Decimal> = delta_values
                        .iter()
                        .map(|d| (*d).max(Decimal::ZERO))
                        .collect();
                    let neg: Vec<Decimal> = delta_values
                        .iter()
                        .map(|d| (*d).min(Decimal::ZERO))
                        .collect();
                    add_into(
                        out.unknown_pos
                            .entry(key)
                            .or_insert_with(|| vec![Decimal::ZERO; ncols]),
                        &pos,
                    );
                    add_into(
                        out.unknown_neg
                            .entry(key)
                            .or_insert_with(|| vec![Decimal::ZERO; ncols]),
                        &neg,
                    );
                }
                let (class, message) = e.class();
                let entry = out.errors.entry(class.to_string()).or_default();
                if entry.count == 0 {
                    entry.message = message.to_string();
                }
                entry.count += 1;
            }
        }
    }
    out
}
