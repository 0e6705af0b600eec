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
//! path: the connections behind the callers, two relaxed atomics, and a histogram the workers
//! fold into every few hundred calls for the live p99. Per-second latencies (the `.hlog` interval log) go over a channel,
//! as small batches of values (one per worker per second, or per `HAND_IN_AT` calls), to a
//! collector that records them into one histogram per second: a second histogram per worker
//! would cost tens of KB each.

mod load;
mod outcome;
mod worker;

pub use load::{Caller, Calls, Deltas, Failure, KeyDist, Load, Pick, Until};
pub use outcome::{Absent, ErrorClass, Live, Outcome, Unresolved, WITNESS_LIMIT, new_histogram};

use crate::report::hlog::IntervalLog;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use worker::Worker;

/// The interval of the throughput samples.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(250);
/// How long an interrupted load waits for calls in flight before dropping them.
const GRACE: Duration = Duration::from_secs(3);

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
    let samples = samples.lock().map(|s| s.clone()).unwrap_or_default();
    total.throughput_samples = samples.throughput;
    total.latency_p50_samples = samples.latency_p50;
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
