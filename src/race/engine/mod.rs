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
//! Each worker owns its counters and RNG (derived from the run seed, the stream and the worker
//! number) and hands them back when it ends; they are merged once. Shared on the hot path: the
//! connections behind the callers, two relaxed atomics, a histogram the workers fold into every
//! few hundred calls for the live p99, and the witness spill file (read-modify-write paths, in
//! batches). Latencies go over a channel, as small batches of values (one per worker per
//! second, or per `HAND_IN_AT` calls), to a collector that records them into one histogram per
//! second (the `.hlog` interval log) and one for the whole path: a histogram per worker costs
//! about 100 KB each once latencies reach a few hundred milliseconds.

mod load;
mod outcome;
mod worker;

pub use load::{Caller, Calls, Deltas, Failure, KeyDist, Load, Pick, Until};
pub use outcome::{Absent, ErrorClass, Live, Outcome, Unresolved, new_histogram};

use crate::Stop;
use crate::race::witnesses::Spill;
use crate::report::hlog::IntervalLog;
use hdrhistogram::Histogram;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use worker::{Abandon, Worker};

/// The interval of the throughput samples.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// How long an interrupted load waits for calls in flight before abandoning them (a second
/// Ctrl-C abandons them at once).
const GRACE: Duration = Duration::from_secs(3);

/// Runs `load` on `pool` and returns the merged outcome. Stops early, with `interrupted` set,
/// when `stop` fires: no new call starts, calls in flight get `GRACE` to finish, then each one
/// still running is abandoned and booked as a call of unknown outcome, so every call started is
/// counted once. A worker that panics stops the load, and the outcome names the panic.
pub async fn run<C: Calls>(calls: Arc<C>, load: Load, live: Arc<Live>, stop: &Stop) -> Outcome {
    let load = Arc::new(load);
    let (started, wall_start) = (Instant::now(), SystemTime::now());
    let (hand_in, collector) = collect_intervals(wall_start);
    // `halt` stops the load (a signal, or a worker's panic); `abandon` drops calls in flight.
    let halt = stop.token.child_token();
    let abandon = CancellationToken::new();
    let spill = calls.has_witnesses().then(|| Spill::new(load.columns));
    // What workers check on the hot path: a flag and their own abandon signal, set here when
    // the tokens fire (a token's checks take its lock).
    let halted = Arc::new(AtomicBool::new(false));
    let abandons: Vec<Arc<Abandon>> = (0..load.workers).map(|_| Arc::default()).collect();
    let watchers = [
        tokio::spawn({
            let (halt, halted) = (halt.clone(), halted.clone());
            async move {
                halt.cancelled().await;
                halted.store(true, Ordering::Relaxed);
            }
        }),
        tokio::spawn({
            let (abandon, abandons) = (abandon.clone(), abandons.clone());
            async move {
                abandon.cancelled().await;
                abandons.iter().for_each(|a| a.fire());
            }
        }),
    ];
    let mut set = tokio::task::JoinSet::new();
    for (w, abandon) in abandons.iter().enumerate() {
        // The halt token is polled only by the open model's waits: a child of its own, so its
        // lock is not fought over by workers on different threads.
        let (halt, abandon) = (halt.child_token(), abandon.clone());
        let caller = calls.caller(w);
        let worker = Worker {
            w,
            started,
            load: load.clone(),
            live: live.clone(),
            witnesses: spill.as_ref().map(Spill::sink),
            hand_in: hand_in.clone(),
            halted: halted.clone(),
        };
        let work = async move { worker.run(caller, &halt, &abandon).await };
        match calls.runtime(w) {
            Some(rt) => set.spawn_on(work, &rt),
            None => set.spawn(work),
        };
    }
    drop(hand_in);
    let (sampler, samples) = sample_throughput(live, started);
    let mut total = Outcome::new(load.columns);
    join_workers(set, &mut total, &halt, &abandon, stop).await;
    watchers.iter().for_each(|w| w.abort());
    total.elapsed = started.elapsed();
    // Every worker's sender is gone once its task ended, so the collector ends.
    if let Ok(Ok((mut log, latency_us))) = tokio::time::timeout(GRACE, collector).await {
        log.finish(total.elapsed);
        total.intervals = Some(log);
        total.latency_us = latency_us;
    }
    // Only whole intervals are kept: a partial last one would look like a slowdown.
    sampler.abort();
    let samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    total.throughput_samples = samples.throughput;
    total.latency_p50_samples = samples.latency_p50;
    total.interrupted |= stop.token.is_cancelled();
    // An interrupted load is not worth a sort the user would wait for: its lost-update count
    // becomes a lower bound.
    if let Some(spill) = spill
        && !total.interrupted
        && total.panicked.is_none()
    {
        let sorting = tokio::task::spawn_blocking(move || spill.finish());
        // A second signal does not wait for the sort (the run ends without a report).
        let sorted = tokio::select! {
            r = sorting => r.ok().and_then(Result::ok),
            _ = stop.now.cancelled() => None,
        };
        match sorted {
            Some(sorted) => total.witnesses = Some(sorted),
            None => total.witnesses_dropped = total.witnesses_dropped.max(1),
        }
    }
    total
}

/// The collector's task: the interval log and the path's histogram.
type Collector = tokio::task::JoinHandle<(IntervalLog, Histogram<u64>)>;

/// The collector of per-second latencies: workers hand in batches on the sender; the task
/// returns the interval log and the whole path's histogram once every sender is gone. The one
/// histogram here replaces one per worker: 256 auto-sized worker histograms held 31 MB of a
/// 46 MB run (heaptrack), this one about 100 KB.
fn collect_intervals(wall_start: SystemTime) -> (UnboundedSender<(u64, Vec<u64>)>, Collector) {
    let (hand_in, mut handed_in) = tokio::sync::mpsc::unbounded_channel::<(u64, Vec<u64>)>();
    let collector = tokio::spawn(async move {
        let mut log = IntervalLog::new(wall_start);
        let mut total = new_histogram();
        while let Some((k, values)) = handed_in.recv().await {
            log.add(k, &values);
            for &v in &values {
                let _ = total.record(v);
            }
        }
        (log, total)
    });
    (hand_in, collector)
}

/// Per `SAMPLE_EVERY`: calls completed, as calls/s, and the median latency of the calls
/// acknowledged in it (windows without any are skipped), until the returned task is aborted.
fn sample_throughput(
    live: Arc<Live>,
    started: Instant,
) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Samples>>) {
    let samples = Arc::new(Mutex::new(Samples::default()));
    let kept = samples.clone();
    let sampler = tokio::spawn(async move {
        let mut last = live.done.load(Ordering::Relaxed);
        let mut tick = tokio::time::interval_at((started + SAMPLE_EVERY).into(), SAMPLE_EVERY);
        loop {
            tick.tick().await;
            let now = live.done.load(Ordering::Relaxed);
            let p50 = live.window_us.lock().ok().and_then(|mut h| {
                let p50 = (!h.is_empty()).then(|| h.value_at_quantile(0.5) as f64);
                h.reset();
                p50
            });
            if let Ok(mut s) = kept.lock() {
                s.throughput
                    .push(now.saturating_sub(last) as f64 / SAMPLE_EVERY.as_secs_f64());
                s.latency_p50.extend(p50);
            }
            last = now;
        }
    });
    (sampler, samples)
}

/// What the sampler gathered, one value per `SAMPLE_EVERY`.
#[derive(Default, Clone)]
struct Samples {
    throughput: Vec<f64>,
    latency_p50: Vec<f64>,
}

/// Merges every worker's outcome as it ends. Once the load is halted, workers get `GRACE` (none
/// after a second signal) to finish their call in flight; then the calls still running are
/// abandoned, and every worker returns promptly with its own outcome.
async fn join_workers(
    mut set: tokio::task::JoinSet<Outcome>,
    total: &mut Outcome,
    halt: &CancellationToken,
    abandon: &CancellationToken,
    stop: &Stop,
) {
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let res = tokio::select! {
            r = set.join_next() => match r { Some(r) => r, None => break },
            _ = halt.cancelled(), if deadline.is_none() => {
                deadline = Some(tokio::time::Instant::now() + GRACE);
                continue;
            }
            _ = stop.now.cancelled(), if !abandon.is_cancelled() => {
                abandon.cancel();
                continue;
            }
            _ = tokio::time::sleep_until(deadline.unwrap_or_else(tokio::time::Instant::now)),
                if deadline.is_some() && !abandon.is_cancelled() => {
                abandon.cancel();
                continue;
            }
        };
        match res {
            Ok(o) => total.merge(o),
            Err(e) => {
                // A bug: stop the load, and say so; the run ends with exit 3.
                halt.cancel();
                let message = if e.is_panic() {
                    panic_message(e.into_panic())
                } else {
                    "cancelled".into()
                };
                total.panicked.get_or_insert(message);
            }
        }
    }
}

/// The text of a panic's payload.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a load worker panicked".into())
}

#[cfg(test)]
mod tests;
