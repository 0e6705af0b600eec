//! One worker: its schedule (closed or open model), the key and deltas of each call, the call
//! through its `Caller`, and the bookkeeping of what came back.

use super::load::Failure;
use super::load::{Caller, Deltas, KeyDist, Load, Pick, Until};
use super::outcome::{Live, MAX_LATENCY_US, Outcome, Unresolved, record};
use crate::race::witnesses::Sink;
use crate::report::hlog;
use futures_util::task::AtomicWaker;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::Distribution;
use rust_decimal::Decimal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

/// A call starting more than this after it was due counts as a late start.
const LATE_AFTER: Duration = Duration::from_millis(1);
/// How often (in calls) a worker folds its latencies into the live histogram.
const LIVE_EVERY: u64 = 256;
/// Most latencies a worker buffers for the interval log before handing them in (32 KB).
const HAND_IN_AT: usize = 4096;

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

/// One worker's share of a load: what it needs besides its caller and the cancellation token.
pub(super) struct Worker {
    pub(super) w: usize,
    pub(super) started: Instant,
    pub(super) load: Arc<Load>,
    pub(super) live: Arc<Live>,
    /// Where each acknowledged call's witness goes (read-modify-write paths).
    pub(super) witnesses: Option<Sink>,
    pub(super) hand_in: UnboundedSender<(u64, Vec<u64>)>,
    /// Set once the load is halted: read before each call instead of the halt token, whose
    /// check takes its lock (1% of the client's CPU per call).
    pub(super) halted: Arc<AtomicBool>,
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
    /// Calls `i = w, w + workers, …` until the load's end, the deadline or `cancel`; a call still
    /// in flight when `abandon` fires is dropped and booked as of unknown outcome.
    pub(super) async fn run(
        mut self,
        mut caller: impl Caller,
        cancel: &CancellationToken,
        abandon: &Abandon,
    ) -> Outcome {
        let load = self.load.clone();
        let load = &*load;
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
            if self.halted.load(Ordering::Relaxed) {
                out.interrupted = true;
                break;
            }
            let due = match self.due(i, deadline, &mut out) {
                // Closed model: due now, no second look at the clock.
                Slot::Due(due) if load.rate.is_some() && due > Instant::now() => {
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
            let id = i;
            i += load.workers as u64;
            let pick = picker.pick(&mut rng);
            load.deltas.draw(&mut rng, &mut deltas);
            // `abandon` is this worker's own: polling it is one atomic load and a waker
            // registration, where a cancellation token's future took a lock and a waiter-list
            // entry on every call (2% of the client's CPU per call).
            let (result, retries) = tokio::select! {
                biased;
                r = caller.call(id, pick, &deltas, &mut read_values) => r,
                _ = abandon.fired() => {
                    let e = Failure::Indeterminate(
                        "abandoned: still in flight when the interrupted load stopped waiting"
                            .into(),
                    );
                    match pick {
                        Pick::Existing(key) => {
                            let u = Unresolved {
                                id,
                                key,
                                deltas: deltas.clone(),
                                read: read_values.clone(),
                            };
                            out.failed(u, &e);
                        }
                        Pick::Absent(_) => out.absent.count(Some(e)),
                    }
                    out.interrupted = true;
                    break;
                }
            };
            let done = Instant::now();
            self.live.done.fetch_add(1, Ordering::Relaxed);
            out.retries += u64::from(retries);
            let latency_us = done.saturating_duration_since(due).as_micros() as u64;
            match (pick, result) {
                (Pick::Absent(_), r) => out.absent.count(r.err()),
                (Pick::Existing(key), Ok(())) => {
                    self.acknowledged(&mut out, key, &deltas, &read_values);
                    self.latency(&mut pending, done, latency_us);
                }
                (Pick::Existing(key), Err(e)) => {
                    self.live.failed.fetch_add(1, Ordering::Relaxed);
                    let u = Unresolved {
                        id,
                        key,
                        deltas: deltas.clone(),
                        read: read_values.clone(),
                    };
                    out.failed(u, &e);
                }
            }
        }
        if !pending.interval_us.is_empty() {
            let _ = self.hand_in.send((pending.interval, pending.interval_us));
        }
        if let Some(sink) = self.witnesses.take() {
            out.witnesses_dropped += sink.finish();
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
    fn acknowledged(&mut self, out: &mut Outcome, key: u32, deltas: &[Decimal], read: &[Decimal]) {
        out.ops_ok += 1;
        out.acked.add(key, deltas, 1);
        if let Some(sink) = &mut self.witnesses {
            sink.push(key, read, deltas);
        }
    }

    /// Records an acknowledged call's latency in the interval log and the path's histogram (in
    /// batches, through the collector) and the live p99 (every `LIVE_EVERY` calls, never waiting for the lock).
    fn latency(&self, p: &mut Pending, done: Instant, us: u64) {
        // Never waits: a call missed while the sampler holds the lock only thins the window.
        if let Ok(mut h) = self.live.window_us.try_lock() {
            record(&mut h, us);
        }
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

/// A worker's abandon signal: fired once (by the engine, when the calls in flight are to be
/// dropped); wakes the worker if its call is parked.
#[derive(Default)]
pub(super) struct Abandon {
    fired: AtomicBool,
    waker: AtomicWaker,
}

impl Abandon {
    pub(super) fn fire(&self) {
        self.fired.store(true, Ordering::SeqCst);
        self.waker.wake();
    }

    /// Ready once fired.
    fn fired(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(move |cx| {
            if self.fired.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            // Fired between the load and the registration: its wake may have missed us.
            match self.fired.load(Ordering::SeqCst) {
                true => Poll::Ready(()),
                false => Poll::Pending,
            }
        })
    }
}
