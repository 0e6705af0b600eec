//! The engine's own endings, with callers that need no database: a worker's panic stops the
//! load, and calls still in flight when a run stops waiting are counted once, as unknown.

use super::*;
use crate::Signal;
use rust_decimal::Decimal;
use std::sync::atomic::AtomicU64;

/// Worker `bad` panics on its `at`-th call; a call after `hang_after` calls never returns.
/// With `lanes`, odd workers run on lane 1 and every call made on a lane thread is counted.
struct Scripted {
    bad: Option<(usize, u64)>,
    hang_after: u64,
    lanes: Option<(Arc<crate::race::lanes::Lanes>, Arc<AtomicU64>)>,
}

struct ScriptedCaller {
    calls: u64,
    panic_at: Option<u64>,
    hang_after: u64,
    on_lane: Option<Arc<AtomicU64>>,
}

impl Caller for ScriptedCaller {
    fn call(
        &mut self,
        _id: u64,
        _pick: Pick,
        _deltas: &[Decimal],
        _read: &mut Vec<Decimal>,
    ) -> impl Future<Output = (Result<(), Failure>, u32)> + Send {
        self.calls += 1;
        let (n, panic_at, hang_after) = (self.calls, self.panic_at, self.hang_after);
        let on_lane = self.on_lane.clone();
        async move {
            tokio::task::yield_now().await;
            if let Some(c) = on_lane
                && std::thread::current().name() == Some("loadtest-lane-1")
            {
                c.fetch_add(1, Ordering::Relaxed);
            }
            if Some(n) == panic_at {
                panic!("scripted panic");
            }
            if n > hang_after {
                std::future::pending::<()>().await;
            }
            (Ok(()), 0)
        }
    }
}

impl Calls for Scripted {
    type Caller = ScriptedCaller;
    fn caller(&self, worker: usize) -> ScriptedCaller {
        ScriptedCaller {
            calls: 0,
            panic_at: self.bad.filter(|(w, _)| *w == worker).map(|(_, at)| at),
            hang_after: self.hang_after,
            on_lane: self.lanes.as_ref().map(|(_, c)| c.clone()),
        }
    }
    fn has_witnesses(&self) -> bool {
        false
    }
    fn runtime(&self, worker: usize) -> Option<tokio::runtime::Handle> {
        let (lanes, _) = self.lanes.as_ref()?;
        Some(lanes.handle(worker % 2).clone())
    }
}

fn load(workers: usize, ops: u64) -> Load {
    Load {
        until: Until::Ops(ops),
        rate: None,
        workers,
        seed: 1,
        stream: 0,
        keys: 10,
        absent: 0,
        dist: KeyDist::Uniform,
        absent_share: 0.0,
        deltas: Deltas::Counting(vec![Decimal::ONE]),
        columns: 1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_s_panic_stops_the_load_and_is_named() {
    let calls = Arc::new(Scripted {
        bad: Some((3, 50)),
        hang_after: u64::MAX,
        lanes: None,
    });
    let stop = Stop::default();
    let out = run(calls, load(8, 10_000_000), Arc::default(), &stop).await;
    assert_eq!(out.panicked.as_deref(), Some("scripted panic"));
    assert!(out.ops_ok < 10_000_000, "the load went on: {}", out.ops_ok);
    assert!(!stop.token.is_cancelled(), "a panic is not a signal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_at_a_second_signal_are_abandoned_and_counted_once() {
    let workers = 6;
    let calls = Arc::new(Scripted {
        bad: None,
        hang_after: 9,
        lanes: None,
    });
    let stop = Stop::default();
    let s = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        s.trigger(Signal::Interrupt);
        s.now.cancel();
    });
    let started = Instant::now();
    let out = run(calls, load(workers, 1_000), Arc::default(), &stop).await;
    assert!(started.elapsed() < GRACE, "waited {:?}", started.elapsed());
    assert!(out.interrupted);
    // Every worker made 9 calls, and its 10th hung: booked once, as indeterminate.
    assert_eq!(out.ops_ok, 9 * workers as u64);
    assert_eq!(out.ops_failed, 0);
    assert_eq!(out.ops_indeterminate, workers as u64);
    assert_eq!(out.unresolved.len(), workers);
    assert_eq!(out.errors["connection"].count, workers as u64);
    let unknown: u64 = (0..10).map(|k| out.unknown_pos.calls(k)).sum();
    assert_eq!(unknown, workers as u64);
}

#[tokio::test(flavor = "current_thread")]
async fn workers_run_on_the_runtime_their_calls_give() {
    let lanes = Arc::new(crate::race::lanes::Lanes::start(2).unwrap());
    let on_lane = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(Scripted {
        bad: None,
        hang_after: u64::MAX,
        lanes: Some((lanes.clone(), on_lane.clone())),
    });
    let live = Arc::new(Live::default());
    // 6 workers, 6000 calls: worker w makes calls w, w + 6, …, so 1000 each.
    let out = run(calls, load(6, 6_000), live.clone(), &Stop::default()).await;
    assert_eq!(out.ops_ok, 6_000);
    // Workers 1, 3 and 5 ran on lane 1's thread, and nowhere else did a call run there.
    assert_eq!(on_lane.load(Ordering::Relaxed), 3_000);
    assert_eq!(live.done.load(Ordering::Relaxed), 6_000);
}

#[tokio::test(flavor = "current_thread")]
async fn the_open_model_waits_for_each_call_s_turn_and_every_call_has_its_latency() {
    let calls = Arc::new(Scripted {
        bad: None,
        hang_after: u64::MAX,
        lanes: None,
    });
    let live = Arc::new(Live::default());
    // 400 calls at 4000/s: the last is due 99.75 ms after the start, whatever the callers do.
    let mut open = load(4, 400);
    open.rate = Some(4000.0);
    let started = Instant::now();
    let out = run(calls, open, live.clone(), &Stop::default()).await;
    assert!(
        started.elapsed() >= Duration::from_millis(99),
        "calls ran ahead of their schedule: {:?}",
        started.elapsed()
    );
    assert_eq!(out.ops_ok, 400);
    assert_eq!(
        out.latency_us.len(),
        400,
        "one latency per acknowledged call"
    );
    assert_eq!(live.done.load(Ordering::Relaxed), 400);
}
