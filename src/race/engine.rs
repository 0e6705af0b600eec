//! Workers, scheduling and cancellation for one load. Knows no SQL: calls go through
//! `workload::Prepared`.
//!
//! Two load models:
//! - closed (default): `workers` calls in flight, each worker sending its next call when its
//!   last one returns;
//! - open (`rate`): call *i* is due at `start + i / rate` whatever the server does; a worker
//!   that is still busy when a call is due starts it late, and the call's latency is measured
//!   from when it was due, not from when it was sent (coordinated-omission correction, as wrk2
//!   does). Late starts are counted.
//!
//! Each worker owns its histogram, counters and RNG (derived from the run seed, the stream and
//! the worker number) and hands them back when it ends; they are merged once. Shared on the hot
//! path: the pool, two relaxed atomics, and a histogram the workers fold into every few hundred
//! calls for the live p99. Per-second latencies (the `.hlog` interval log) go over a channel,
//! as small batches of values (one per worker per second, or per `HAND_IN_AT` calls), to a
//! collector that records them into one histogram per second: a second histogram per worker
//! would cost tens of KB each.

use crate::hlog::{self, IntervalLog};
use crate::oracle::RowSums;
use crate::scenario::{KeyChoice, Keys, PathKind, Strategy};
use crate::workload::{KeyValue, Num, OpError, Prepared};
use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::Distribution;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// The highest latency recorded exactly (60 s, in µs); slower calls are clamped to it.
const MAX_LATENCY_US: u64 = 60_000_000;
/// A call starting more than this after it was due counts as a late start.
const LATE_AFTER: Duration = Duration::from_millis(1);
/// The interval of the throughput samples.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// How long an interrupted load waits for calls in flight before dropping them.
const GRACE: Duration = Duration::from_secs(3);
/// How often (in calls) a worker folds its latencies into the live histogram.
const LIVE_EVERY: u64 = 256;
/// Most latencies a worker buffers for the interval log before handing them in (32 KB).
const HAND_IN_AT: usize = 4096;

/// How much load to apply.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    Ops(u64),
    Elapsed(Duration),
}

/// Where each call's deltas come from.
#[derive(Debug, Clone)]
pub enum Deltas {
    /// Drawn per column uniformly from (low, high) in units of 10^-scale.
    Drawn(Vec<(i64, i64, u32)>),
    /// Every call adds these fixed amounts: lets mixed runs attribute every increment exactly.
    Counting(Vec<Decimal>),
}

/// What to run.
pub struct Load {
    pub kind: PathKind,
    pub strategy: Strategy,
    pub retries: u32,
    pub until: Until,
    /// Calls per second (open model); `None` for the closed model.
    pub rate: Option<f64>,
    pub workers: usize,
    /// Connections this load may hold at once (shared by its workers when calls allow).
    pub connections: usize,
    pub seed: u64,
    /// Mixed into each worker's seed: loads with the same stream draw the same calls.
    pub stream: u64,
    pub keys: Arc<Vec<KeyValue>>,
    /// Keys that do not exist, for the calls `choice.absent_share` sends there on purpose.
    pub absent: Arc<Vec<KeyValue>>,
    pub choice: Keys,
    pub deltas: Deltas,
    pub columns: usize,
}

/// One read-modify-write witness: the key, what the call read and the delta it added, in one
/// allocation (read values, then deltas).
#[derive(Debug, Clone)]
pub struct Witness {
    pub key: u32,
    values: Box<[Decimal]>,
}

impl Witness {
    pub fn new(key: u32, read: &[Decimal], delta: &[Decimal]) -> Witness {
        Witness {
            key,
            values: read.iter().chain(delta).copied().collect(),
        }
    }
    pub fn read(&self) -> &[Decimal] {
        &self.values[..self.values.len() / 2]
    }
    pub fn delta(&self) -> &[Decimal] {
        &self.values[self.values.len() / 2..]
    }
}

/// At most this many witnesses are kept per load (about 70 bytes each for one counter column),
/// so memory stays bounded however long a run is; past it, lost updates are counted as a lower
/// bound and the report says the witnesses were capped.
pub const WITNESS_LIMIT: usize = 500_000;

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

/// Live counters for the progress bar.
pub struct Live {
    pub done: AtomicU64,
    pub failed: AtomicU64,
    pub latency_us: Mutex<Histogram<u64>>,
}

impl Default for Live {
    fn default() -> Live {
        Live {
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            latency_us: Mutex::new(new_histogram()),
        }
    }
}

/// Everything the workers of one load measured, merged.
pub struct Outcome {
    pub ops_ok: u64,
    pub ops_failed: u64,
    pub retries: u64,
    pub late_starts: u64,
    /// Open model with --duration: calls that were due before the end but never started.
    pub not_started: u64,
    pub elapsed: Duration,
    /// Calls completed per `SAMPLE_EVERY` interval, as calls/s: the run's own spread, which
    /// `report compare` uses to tell a change from noise.
    pub throughput_samples: Vec<f64>,
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
    pub witnesses: Vec<Witness>,
    /// Calls whose witness was not kept because of `WITNESS_LIMIT`.
    pub witnesses_dropped: u64,
    pub interrupted: bool,
}

impl Outcome {
    fn new(columns: usize) -> Outcome {
        Outcome {
            ops_ok: 0,
            ops_failed: 0,
            retries: 0,
            late_starts: 0,
            not_started: 0,
            elapsed: Duration::ZERO,
            throughput_samples: Vec::new(),
            latency_us: new_histogram(),
            intervals: None,
            errors: BTreeMap::new(),
            absent: Absent::default(),
            acked: RowSums::new(columns),
            unknown_pos: RowSums::new(columns),
            unknown_neg: RowSums::new(columns),
            witnesses: Vec::new(),
            witnesses_dropped: 0,
            interrupted: false,
        }
    }

    fn merge(&mut self, other: Outcome) {
        self.ops_ok += other.ops_ok;
        self.ops_failed += other.ops_failed;
        self.retries += other.retries;
        self.late_starts += other.late_starts;
        self.not_started += other.not_started;
        self.latency_us
            .add(&other.latency_us)
            .expect("same histogram bounds");
        merge_errors(&mut self.errors, other.errors);
        self.absent.sent += other.absent.sent;
        self.absent.accepted += other.absent.accepted;
        merge_errors(&mut self.absent.rejected, other.absent.rejected);
        self.acked.merge(&other.acked);
        self.unknown_pos.merge(&other.unknown_pos);
        self.unknown_neg.merge(&other.unknown_neg);
        self.witnesses.extend(other.witnesses);
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

fn count_error(map: &mut BTreeMap<String, ErrorClass>, e: &OpError) {
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
fn record(h: &mut Histogram<u64>, us: u64) {
    let _ = h.record(us.clamp(1, MAX_LATENCY_US));
}

/// The key of one call: an index into the existing keys, or into the absent ones.
#[derive(Clone, Copy)]
enum Pick {
    Existing(u32),
    Absent(u32),
}

/// Draws the key of each call.
struct KeyPicker {
    keys: Keys,
    n: u32,
    absent: u32,
    zipf: Option<rand_distr::Zipf<f64>>,
}

impl KeyPicker {
    fn new(keys: Keys, n: u32, absent: u32) -> KeyPicker {
        let zipf = match keys.choice {
            KeyChoice::Zipf { s } => rand_distr::Zipf::new(n as f64, s).ok(),
            _ => None,
        };
        KeyPicker {
            keys,
            n,
            absent,
            zipf,
        }
    }

    fn pick(&self, rng: &mut SmallRng) -> Pick {
        if self.absent > 0
            && self.keys.absent_share > 0.0
            && rng.random_bool(self.keys.absent_share)
        {
            return Pick::Absent(rng.random_range(0..self.absent));
        }
        Pick::Existing(match (self.keys.choice, &self.zipf) {
            (KeyChoice::Hot { share }, _) if rng.random_bool(share) => 0,
            (KeyChoice::Zipf { .. }, Some(z)) => (z.sample(rng) as u32).clamp(1, self.n) - 1,
            _ => rng.random_range(0..self.n),
        })
    }
}

/// Runs `load` on `pool` and returns the merged outcome. Stops early, with `interrupted` set,
/// when `cancel` fires.
pub async fn run(
    pool: &deadpool_postgres::Pool,
    load: Load,
    live: Arc<Live>,
    cancel: &CancellationToken,
) -> Outcome {
    let shared = shared_connections(pool, &load).await;
    let load = Arc::new(load);
    let (started, wall_start) = (Instant::now(), SystemTime::now());
    let (hand_in, mut handed_in) = tokio::sync::mpsc::unbounded_channel::<(u64, Vec<u64>)>();
    let collector = tokio::spawn(async move {
        let mut log = IntervalLog::new(wall_start);
        while let Some((k, values)) = handed_in.recv().await {
            log.add(k, &values);
        }
        log
    });
    let mut set = tokio::task::JoinSet::new();
    for w in 0..load.workers {
        let (pool, load, live, cancel) = (pool.clone(), load.clone(), live.clone(), cancel.clone());
        let conn = match &shared {
            Some(conns) => Via::Shared(conns[w % conns.len()].clone()),
            None => Via::Pool(pool),
        };
        let hand_in = hand_in.clone();
        set.spawn(async move { worker(w, started, conn, &load, &live, &cancel, hand_in).await });
    }
    drop(hand_in);
    let samples = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (live, samples) = (live.clone(), samples.clone());
        tokio::spawn(async move {
            let mut last = live.done.load(Ordering::Relaxed);
            let mut tick = tokio::time::interval_at((started + SAMPLE_EVERY).into(), SAMPLE_EVERY);
            loop {
                tick.tick().await;
                let now = live.done.load(Ordering::Relaxed);
                if let Ok(mut s) = samples.lock() {
                    s.push(now.saturating_sub(last) as f64 / SAMPLE_EVERY.as_secs_f64());
                }
                last = now;
            }
        })
    };
    let mut total = Outcome::new(load.columns);
    loop {
        let res = tokio::select! {
            r = set.join_next() => match r { Some(r) => r, None => break },
            _ = cancel.cancelled() => {
                // Workers stop after their call in flight; one stuck on a dead server is dropped.
                let _ = tokio::time::timeout(GRACE, async {
                    while let Some(r) = set.join_next().await {
                        if let Ok(o) = r {
                            total.merge(o);
                        }
                    }
                })
                .await;
                set.abort_all();
                break;
            }
        };
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
    // Every worker's sender is gone once its task ended (abandoned ones are dropped by the
    // abort), so the collector ends; it is not waited for longer than an abandoned call.
    drop(set);
    if let Ok(Ok(mut log)) = tokio::time::timeout(GRACE, collector).await {
        log.finish(total.elapsed);
        total.intervals = Some(log);
    }
    // Only whole intervals are kept: a partial last one would look like a slowdown.
    sampler.abort();
    total.throughput_samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    total.interrupted |= cancel.is_cancelled();
    total
}

/// A connection with the load's statements prepared on it, shared by several workers.
pub struct SharedConn {
    client: deadpool_postgres::Object,
    prepared: Prepared,
}

/// How a worker reaches the database.
enum Via {
    /// Check a connection out of the pool for every call: calls that run a transaction need
    /// the connection to themselves.
    Pool(deadpool_postgres::Pool),
    /// One connection shared with other workers: their calls are pipelined on it, which is how
    /// `workers` calls can be in flight over fewer `connections`.
    Shared(Arc<SharedConn>),
}

/// Calls that are single autocommit statements (an RPC, or the app's two-statement
/// read-modify-write) can share connections; transactions cannot. Takes `load.connections`
/// connections from the pool and prepares the statements once on each; `None` when the load
/// needs exclusive connections or the pool cannot give them.
async fn shared_connections(
    pool: &deadpool_postgres::Pool,
    load: &Load,
) -> Option<Vec<Arc<SharedConn>>> {
    if load.strategy != Strategy::None || load.connections == 0 {
        return None;
    }
    let mut conns = Vec::with_capacity(load.connections);
    for _ in 0..load.connections.min(load.workers) {
        let client = pool.get().await.ok()?;
        let prepared = Prepared::on(&client, &load.kind, load.strategy)
            .await
            .ok()?;
        conns.push(Arc::new(SharedConn { client, prepared }));
    }
    Some(conns)
}

async fn worker(
    w: usize,
    started: Instant,
    via: Via,
    load: &Load,
    live: &Live,
    cancel: &CancellationToken,
    hand_in: UnboundedSender<(u64, Vec<u64>)>,
) -> Outcome {
    let ncols = load.columns;
    let mut out = Outcome::new(ncols);
    // This worker's latencies of the current interval, handed in when the next one begins.
    let (mut interval, mut interval_us) = (0u64, Vec::new());
    // Latencies not yet folded into the live histogram (a small buffer, not a histogram).
    let mut recent: Vec<u64> = Vec::with_capacity(LIVE_EVERY as usize);
    let mut rng = SmallRng::seed_from_u64(
        load.seed ^ (load.stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)) ^ ((w as u64) << 32),
    );
    let picker = KeyPicker::new(
        load.choice,
        load.keys.len() as u32,
        load.absent.len() as u32,
    );
    let is_rmw = matches!(load.kind, PathKind::ReadModifyWrite { .. });
    let witness_limit = WITNESS_LIMIT / load.workers.max(1);
    let mut deltas: Vec<Num> = vec![Num(Decimal::ZERO); ncols];
    let mut delta_values: Vec<Decimal> = vec![Decimal::ZERO; ncols];
    let mut read_values: Vec<Decimal> = Vec::with_capacity(ncols);
    let deadline = match load.until {
        Until::Elapsed(d) => Some(started + d),
        Until::Ops(_) => None,
    };
    let mut i = w as u64;
    loop {
        if let Until::Ops(n) = load.until
            && i >= n
        {
            break;
        }
        if cancel.is_cancelled() {
            out.interrupted = true;
            break;
        }
        // When the call is due: now (closed model) or on the open model's schedule.
        let due = match load.rate {
            Some(rate) => {
                let due = started + Duration::from_secs_f64(i as f64 / rate);
                if deadline.is_some_and(|d| due >= d) {
                    break;
                }
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    // Due before the end but never started: the server fell that far behind.
                    let total_due = (deadline
                        .expect("checked")
                        .duration_since(started)
                        .as_secs_f64()
                        * rate)
                        .ceil() as u64;
                    out.not_started += total_due.saturating_sub(i).div_ceil(load.workers as u64);
                    break;
                }
                if due > now {
                    tokio::select! {
                        _ = tokio::time::sleep_until(due.into()) => {}
                        _ = cancel.cancelled() => { out.interrupted = true; break; }
                    }
                } else if now - due > LATE_AFTER {
                    out.late_starts += 1;
                }
                due
            }
            None => {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    break;
                }
                now
            }
        };
        i += load.workers as u64;
        let pick = picker.pick(&mut rng);
        match &load.deltas {
            Deltas::Drawn(ranges) => {
                for ((d, v), &(lo, hi, scale)) in
                    deltas.iter_mut().zip(delta_values.iter_mut()).zip(ranges)
                {
                    *v = Decimal::new(rng.random_range(lo..=hi), scale);
                    *d = Num(*v);
                }
            }
            Deltas::Counting(units) => {
                for ((d, v), unit) in deltas.iter_mut().zip(delta_values.iter_mut()).zip(units) {
                    *v = *unit;
                    *d = Num(*unit);
                }
            }
        }
        let key = match pick {
            Pick::Existing(k) => &load.keys[k as usize],
            Pick::Absent(k) => &load.absent[k as usize],
        };
        let call = async {
            let pool = match &via {
                Via::Shared(c) => {
                    let (result, retries) = c
                        .prepared
                        .call(&**c.client, key, &deltas, &mut read_values, load.retries)
                        .await;
                    return result.map(|()| retries).map_err(|e| (e, retries));
                }
                Via::Pool(pool) => pool,
            };
            let client = pool.get().await.map_err(|e| {
                (
                    OpError::Indeterminate(format!("no connection from the pool: {e}")),
                    0,
                )
            })?;
            let prepared = Prepared::on(&client, &load.kind, load.strategy)
                .await
                .map_err(|e| {
                    let err = OpError::Db {
                        sqlstate: e.code().map_or("prepare", |c| c.code()).to_string(),
                        message: crate::pg::describe(&e),
                    };
                    (err, 0)
                })?;
            let (result, retries) = prepared
                .call(&**client, key, &deltas, &mut read_values, load.retries)
                .await;
            result.map(|()| retries).map_err(|e| (e, retries))
        };
        // No per-call wait on the cancellation token (it takes a lock): a worker sees it between
        // calls, and `run` stops waiting for a call that hangs (see GRACE).
        let result = call.await;
        let done = Instant::now();
        let elapsed_us = done.saturating_duration_since(due).as_micros() as u64;
        live.done.fetch_add(1, Ordering::Relaxed);
        let retries = match &result {
            Ok(r) | Err((_, r)) => *r,
        };
        out.retries += u64::from(retries);
        match (pick, result) {
            (Pick::Absent(_), Ok(_)) => {
                out.absent.sent += 1;
                out.absent.accepted += 1;
            }
            (Pick::Absent(_), Err((e, _))) => {
                out.absent.sent += 1;
                count_error(&mut out.absent.rejected, &e);
            }
            (Pick::Existing(key), Ok(_)) => {
                out.ops_ok += 1;
                record(&mut out.latency_us, elapsed_us);
                let k = hlog::interval_of(done.saturating_duration_since(started));
                if (k != interval || interval_us.len() >= HAND_IN_AT) && !interval_us.is_empty() {
                    let _ = hand_in.send((interval, std::mem::take(&mut interval_us)));
                }
                interval = k;
                interval_us.push(elapsed_us.clamp(1, MAX_LATENCY_US));
                recent.push(elapsed_us);
                out.acked.add(key, &delta_values, 1);
                if is_rmw {
                    if out.witnesses.len() < witness_limit {
                        out.witnesses
                            .push(Witness::new(key, &read_values, &delta_values));
                    } else {
                        out.witnesses_dropped += 1;
                    }
                }
            }
            (Pick::Existing(key), Err((e, _))) => {
                out.ops_failed += 1;
                live.failed.fetch_add(1, Ordering::Relaxed);
                if let OpError::Indeterminate(_) = e {
                    let pos: Vec<Decimal> = delta_values
                        .iter()
                        .map(|d| (*d).max(Decimal::ZERO))
                        .collect();
                    let neg: Vec<Decimal> = delta_values
                        .iter()
                        .map(|d| (*d).min(Decimal::ZERO))
                        .collect();
                    out.unknown_pos.add(key, &pos, 1);
                    out.unknown_neg.add(key, &neg, 1);
                }
                count_error(&mut out.errors, &e);
            }
        }
        if recent.len() as u64 >= LIVE_EVERY {
            if let Ok(mut h) = live.latency_us.try_lock() {
                for &us in &recent {
                    record(&mut h, us);
                }
            }
            recent.clear();
        }
    }
    if !interval_us.is_empty() {
        let _ = hand_in.send((interval, interval_us));
    }
    out
}
