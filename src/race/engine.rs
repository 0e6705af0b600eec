//! Workers, scheduling and cancellation for one load. Knows no SQL and no scenario: a call goes
//! through the [`Calls`]/[`Caller`] traits it is given (implemented over PostgreSQL in
//! `race::calls`), keys are indexes, deltas are decimals, failures are classes.
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

use super::oracle::{RowSums, Witness};
use crate::report::hlog::{self, IntervalLog};
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

/// How the key of each call is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDist {
    /// Every key equally likely.
    Uniform,
    /// The first key takes `share` of the calls; the rest spread uniformly.
    Hot { share: f64 },
    /// Zipf's law with exponent `s` over the keys in order.
    Zipf { s: f64 },
}

/// What to run. The SQL is not here: it comes with the [`Calls`] given to [`run`].
pub struct Load {
    pub until: Until,
    /// Calls per second (open model); `None` for the closed model.
    pub rate: Option<f64>,
    pub workers: usize,
    pub seed: u64,
    /// Mixed into each worker's seed: loads with the same stream draw the same calls.
    pub stream: u64,
    /// How many keys exist (indexes `0..keys`), and how many known-absent keys there are.
    pub keys: u32,
    pub absent: u32,
    pub dist: KeyDist,
    /// Share of calls sent on purpose for keys that do not exist.
    pub absent_share: f64,
    pub deltas: Deltas,
    pub columns: usize,
}

/// The key of one call: an index into the existing keys, or into the absent ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    Existing(u32),
    Absent(u32),
}

/// Why one call failed, as the engine counts it.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The server refused the call, or it found no row: it definitely did not apply. `class` is
    /// the SQLSTATE or a loadtest name (`no_row`).
    Refused { class: String, message: String },
    /// The connection failed mid-call: it may or may not have applied.
    Indeterminate(String),
}

impl Failure {
    /// The class the report counts it under, and its message.
    pub fn class(&self) -> (&str, &str) {
        match self {
            Failure::Refused { class, message } => (class, message),
            Failure::Indeterminate(m) => ("connection", m),
        }
    }
}

/// One worker's way to make calls: its connection (or pool) and its buffers.
pub trait Caller: Send {
    /// Makes one call adding `deltas` to the row of `pick`, retrying as the path allows.
    /// Returns the outcome and the retries it took. A call that reads what it overwrites leaves
    /// the values it read in `read` (the oracle's witnesses).
    fn call(
        &mut self,
        pick: Pick,
        deltas: &[Decimal],
        read: &mut Vec<Decimal>,
    ) -> impl Future<Output = (Result<(), Failure>, u32)> + Send;
}

/// Gives each worker its [`Caller`].
pub trait Calls: Send + Sync + 'static {
    type Caller: Caller + 'static;
    fn caller(&self, worker: usize) -> Self::Caller;
    /// Whether each call reads the value it overwrites: then its witness is kept.
    fn has_witnesses(&self) -> bool;
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
fn record(h: &mut Histogram<u64>, us: u64) {
    let _ = h.record(us.clamp(1, MAX_LATENCY_US));
}

/// Draws the key of each call.
struct KeyPicker {
    dist: KeyDist,
    absent_share: f64,
    n: u32,
    absent: u32,
    zipf: Option<rand_distr::Zipf<f64>>,
}

impl KeyPicker {
    fn new(load: &Load) -> KeyPicker {
        let zipf = match load.dist {
            KeyDist::Zipf { s } => rand_distr::Zipf::new(load.keys as f64, s).ok(),
            _ => None,
        };
        KeyPicker {
            dist: load.dist,
            absent_share: load.absent_share,
            n: load.keys,
            absent: load.absent,
            zipf,
        }
    }

    fn pick(&self, rng: &mut SmallRng) -> Pick {
        if self.absent > 0 && self.absent_share > 0.0 && rng.random_bool(self.absent_share) {
            return Pick::Absent(rng.random_range(0..self.absent));
        }
        Pick::Existing(match (self.dist, &self.zipf) {
            (KeyDist::Hot { share }, _) if rng.random_bool(share) => 0,
            (KeyDist::Zipf { .. }, Some(z)) => (z.sample(rng) as u32).clamp(1, self.n) - 1,
            _ => rng.random_range(0..self.n),
        })
    }
}

/// Runs `load` on `pool` and returns the merged outcome. Stops early, with `interrupted` set,
/// when `cancel` fires.
pub async fn run<C: Calls>(
    calls: Arc<C>,
    load: Load,
    live: Arc<Live>,
    cancel: &CancellationToken,
) -> Outcome {
    let load = Arc::new(load);
    let (started, wall_start) = (Instant::now(), SystemTime::now());
    let (hand_in, collector) = collect_intervals(wall_start);
    let mut set = tokio::task::JoinSet::new();
    for w in 0..load.workers {
        let cancel = cancel.clone();
        let caller = calls.caller(w);
        let worker = Worker {
            w,
            started,
            load: load.clone(),
            live: live.clone(),
            witnesses: calls.has_witnesses(),
            hand_in: hand_in.clone(),
        };
        set.spawn(async move { worker.run(caller, &cancel).await });
    }
    drop(hand_in);
    let (sampler, samples) = sample_throughput(live, started);
    let mut total = join_workers(set, Outcome::new(load.columns), cancel).await;
    total.elapsed = started.elapsed();
    // Every worker's sender is gone once its task ended (abandoned ones are dropped by the
    // abort), so the collector ends; it is not waited for longer than an abandoned call.
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

/// The collector of per-second latencies: workers hand in batches on the sender; the task
/// returns the interval log once every sender is gone.
fn collect_intervals(
    wall_start: SystemTime,
) -> (
    UnboundedSender<(u64, Vec<u64>)>,
    tokio::task::JoinHandle<IntervalLog>,
) {
    let (hand_in, mut handed_in) = tokio::sync::mpsc::unbounded_channel::<(u64, Vec<u64>)>();
    let collector = tokio::spawn(async move {
        let mut log = IntervalLog::new(wall_start);
        while let Some((k, values)) = handed_in.recv().await {
            log.add(k, &values);
        }
        log
    });
    (hand_in, collector)
}

/// Calls completed per `SAMPLE_EVERY`, as calls/s, until the returned task is aborted.
fn sample_throughput(
    live: Arc<Live>,
    started: Instant,
) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Vec<f64>>>) {
    let samples = Arc::new(Mutex::new(Vec::new()));
    let kept = samples.clone();
    let sampler = tokio::spawn(async move {
        let mut last = live.done.load(Ordering::Relaxed);
        let mut tick = tokio::time::interval_at((started + SAMPLE_EVERY).into(), SAMPLE_EVERY);
        loop {
            tick.tick().await;
            let now = live.done.load(Ordering::Relaxed);
            if let Ok(mut s) = kept.lock() {
                s.push(now.saturating_sub(last) as f64 / SAMPLE_EVERY.as_secs_f64());
            }
            last = now;
        }
    });
    (sampler, samples)
}

/// Merges every worker's outcome as it ends. On cancellation, workers get `GRACE` to finish
/// their call in flight; one stuck on a dead server is dropped.
async fn join_workers(
    mut set: tokio::task::JoinSet<Outcome>,
    mut total: Outcome,
    cancel: &CancellationToken,
) -> Outcome {
    loop {
        let res = tokio::select! {
            r = set.join_next() => match r { Some(r) => r, None => break },
            _ = cancel.cancelled() => {
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
    total
}

/// One worker's share of a load: what it needs besides its caller and the cancellation token.
struct Worker {
    w: usize,
    started: Instant,
    load: Arc<Load>,
    live: Arc<Live>,
    /// Whether to keep a witness per acknowledged call (read-modify-write paths).
    witnesses: bool,
    hand_in: UnboundedSender<(u64, Vec<u64>)>,
}

/// The open model's schedule: when call `i` is due, or why the worker stops.
enum Slot {
    Due(Instant),
    Stop,
    /// The deadline passed before these calls (this worker's share) could start.
    Missed(u64),
}

/// This worker's latencies waiting to be handed in (interval log) or folded in (live p99).
struct Pending {
    interval: u64,
    interval_us: Vec<u64>,
    recent: Vec<u64>,
}

impl Worker {
    /// Calls `i = w, w + workers, …` until the load's end, the deadline or cancellation.
    async fn run(self, mut caller: impl Caller, cancel: &CancellationToken) -> Outcome {
        let load = &*self.load;
        let mut out = Outcome::new(load.columns);
        let mut pending = Pending {
            interval: 0,
            interval_us: Vec::new(),
            recent: Vec::with_capacity(LIVE_EVERY as usize),
        };
        let mut rng = SmallRng::seed_from_u64(
            load.seed ^ (load.stream.wrapping_mul(0x9E37_79B9_7F4A_7C15)) ^ ((self.w as u64) << 32),
        );
        let picker = KeyPicker::new(load);
        let mut deltas: Vec<Decimal> = vec![Decimal::ZERO; load.columns];
        let mut read_values: Vec<Decimal> = Vec::with_capacity(load.columns);
        let deadline = match load.until {
            Until::Elapsed(d) => Some(self.started + d),
            Until::Ops(_) => None,
        };
        let mut i = self.w as u64;
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
            let due = match self.due(i, deadline, &mut out) {
                Slot::Due(due) if due > Instant::now() => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(due.into()) => due,
                        _ = cancel.cancelled() => { out.interrupted = true; break; }
                    }
                }
                Slot::Due(due) => due,
                Slot::Stop => break,
                Slot::Missed(n) => {
                    out.not_started += n;
                    break;
                }
            };
            i += load.workers as u64;
            let pick = picker.pick(&mut rng);
            load.deltas.draw(&mut rng, &mut deltas);
            // No per-call wait on the cancellation token (it takes a lock): a worker sees it
            // between calls, and `run` stops waiting for a call that hangs (see GRACE).
            let (result, retries) = caller.call(pick, &deltas, &mut read_values).await;
            let done = Instant::now();
            self.live.done.fetch_add(1, Ordering::Relaxed);
            out.retries += u64::from(retries);
            let latency_us = done.saturating_duration_since(due).as_micros() as u64;
            match (pick, result) {
                (Pick::Absent(_), r) => out.absent.count(r.err()),
                (Pick::Existing(key), Ok(())) => {
                    self.acknowledged(&mut out, key, &deltas, &read_values);
                    self.latency(&mut pending, done, latency_us, &mut out);
                }
                (Pick::Existing(key), Err(e)) => {
                    self.live.failed.fetch_add(1, Ordering::Relaxed);
                    out.failed(key, &deltas, &e);
                }
            }
        }
        if !pending.interval_us.is_empty() {
            let _ = self.hand_in.send((pending.interval, pending.interval_us));
        }
        out
    }

    /// When call `i` is due: now (closed model) or on the open model's schedule, with late
    /// starts counted.
    fn due(&self, i: u64, deadline: Option<Instant>, out: &mut Outcome) -> Slot {
        let now = Instant::now();
        let Some(rate) = self.load.rate else {
            return match deadline {
                Some(d) if now >= d => Slot::Stop,
                _ => Slot::Due(now),
            };
        };
        let due = self.started + Duration::from_secs_f64(i as f64 / rate);
        match deadline {
            Some(d) if due >= d => return Slot::Stop,
            Some(d) if now >= d => {
                // Due before the end but never started: the server fell that far behind.
                let total_due = (d.duration_since(self.started).as_secs_f64() * rate).ceil() as u64;
                let workers = self.load.workers as u64;
                return Slot::Missed(total_due.saturating_sub(i).div_ceil(workers));
            }
            _ => {}
        }
        if now > due && now - due > LATE_AFTER {
            out.late_starts += 1;
        }
        Slot::Due(due)
    }

    /// Books an acknowledged call: its deltas for the oracle and, when kept, its witness.
    fn acknowledged(&self, out: &mut Outcome, key: u32, deltas: &[Decimal], read: &[Decimal]) {
        out.ops_ok += 1;
        out.acked.add(key, deltas, 1);
        if self.witnesses {
            if out.witnesses.len() < WITNESS_LIMIT / self.load.workers.max(1) {
                out.witnesses.push(Witness::new(key, read, deltas));
            } else {
                out.witnesses_dropped += 1;
            }
        }
    }

    /// Records an acknowledged call's latency in the worker's histogram, the interval log (in
    /// batches) and the live p99 (every `LIVE_EVERY` calls, never waiting for the lock).
    fn latency(&self, p: &mut Pending, done: Instant, us: u64, out: &mut Outcome) {
        record(&mut out.latency_us, us);
        let k = hlog::interval_of(done.saturating_duration_since(self.started));
        if (k != p.interval || p.interval_us.len() >= HAND_IN_AT) && !p.interval_us.is_empty() {
            let _ = self
                .hand_in
                .send((p.interval, std::mem::take(&mut p.interval_us)));
        }
        p.interval = k;
        p.interval_us.push(us.clamp(1, MAX_LATENCY_US));
        p.recent.push(us);
        if p.recent.len() as u64 >= LIVE_EVERY {
            if let Ok(mut h) = self.live.latency_us.try_lock() {
                for &us in &p.recent {
                    record(&mut h, us);
                }
            }
            p.recent.clear();
        }
    }
}

impl Deltas {
    /// This call's deltas, into `out`.
    fn draw(&self, rng: &mut SmallRng, out: &mut [Decimal]) {
        match self {
            Deltas::Drawn(ranges) => {
                for (v, &(lo, hi, scale)) in out.iter_mut().zip(ranges) {
                    *v = Decimal::new(rng.random_range(lo..=hi), scale);
                }
            }
            Deltas::Counting(units) => out.copy_from_slice(units),
        }
    }
}

impl Absent {
    /// Books a call sent for a key that does not exist: refused (as it should be) or accepted.
    fn count(&mut self, failure: Option<Failure>) {
        self.sent += 1;
        match failure {
            Some(e) => count_error(&mut self.rejected, &e),
            None => self.accepted += 1,
        }
    }
}

impl Outcome {
    /// Books a failed call; one whose outcome is unknown widens its row's interval.
    fn failed(&mut self, key: u32, deltas: &[Decimal], e: &Failure) {
        self.ops_failed += 1;
        if let Failure::Indeterminate(_) = e {
            let pos: Vec<Decimal> = deltas.iter().map(|d| (*d).max(Decimal::ZERO)).collect();
            let neg: Vec<Decimal> = deltas.iter().map(|d| (*d).min(Decimal::ZERO)).collect();
            self.unknown_pos.add(key, &pos, 1);
            self.unknown_neg.add(key, &neg, 1);
        }
        count_error(&mut self.errors, e);
    }
}
