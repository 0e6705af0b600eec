//! After a path's load: its solo latency, the cost of one call with nobody else queued.
//!
//! Under the closed model's hundreds of workers, a call's latency is mostly its wait — for a
//! pooled connection and for the hot row's lock — and by Little's law it moves with throughput,
//! whatever made the calls slower. So a function that got slower without using more of the
//! server (a sleep, a lock wait, an extra round trip) shows only as a modest, noisy rise of the
//! loaded p50. Timed alone, one call after another on one connection, the same change shows at
//! its full size: `pg_sleep(0.002)` in the RPC adds 2 ms to a call that took about 0.15 ms.
//! `report compare` and `nightly` judge this number with its own spread (the median of each
//! batch), beside the loaded metrics.

use super::engine::{Caller, Calls, Pick};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use std::time::Instant;

/// Calls the probe makes: enough batches for a spread, few enough to cost well under a second
/// even for a path that got ten times slower.
pub const CALLS: usize = 200;
/// Calls per batch: each batch's fastest call is one sample. The fastest, not the median: on a
/// busy machine the scheduler adds milliseconds to some calls (a batch's median of the same
/// RPC ranged 0.13–6.3 ms here while other builds ran), never takes any away; the fastest
/// call of 20 is the one it left alone, and a slower function raises it by the full amount.
pub const BATCH: usize = 20;
/// Untimed calls first: the first call on a connection also prepares the path's statements
/// (ten times a plain call's cost), which is not what the probe measures.
const WARM_UP: u64 = BATCH as u64;

/// What the probe measured (µs): each batch's fastest call, and their median.
pub struct Solo {
    pub p50_us: u64,
    pub samples: Vec<f64>,
}

/// After [`WARM_UP`] untimed calls, makes [`CALLS`] calls one after another through `calls`'
/// first caller, each on a key drawn uniformly (no contention) and adding `deltas`. Failed calls
/// are left out: they say nothing about the cost of a call, and the load's oracle has already
/// judged the path. `None` when fewer than half the calls succeeded.
pub async fn probe(calls: &impl Calls, keys: u32, deltas: &[Decimal], seed: u64) -> Option<Solo> {
    let mut caller = calls.caller(0);
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x50_10);
    let mut read = Vec::new();
    let mut ok = 0;
    let mut samples: Vec<u64> = Vec::new();
    let mut batch = u64::MAX;
    for id in 0..WARM_UP + CALLS as u64 {
        let pick = Pick::Existing(rng.random_range(0..keys.max(1)));
        let start = Instant::now();
        let (result, _) = caller.call(id, pick, deltas, &mut read).await;
        if result.is_err() || id < WARM_UP {
            continue;
        }
        let us = start.elapsed().as_micros() as u64;
        ok += 1;
        batch = batch.min(us);
        if ok % BATCH == 0 {
            samples.push(batch);
            batch = u64::MAX;
        }
    }
    (ok >= CALLS / 2).then(|| Solo {
        p50_us: median(&mut samples.clone()),
        samples: samples.into_iter().map(|us| us as f64).collect(),
    })
}

/// The median of `v` (the lower one of an even count), reordering it.
fn median(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v[(v.len() - 1) / 2]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::race::engine::Failure;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// Calls that answer at once during the warm-up, then take `ms` each; every `fail_every`-th
    /// call (counting from 1) is refused. The keys drawn are kept.
    struct Scripted {
        ms: u64,
        fail_every: u64,
        keys: Arc<Mutex<Vec<u32>>>,
    }

    struct ScriptedCaller {
        n: u64,
        ms: u64,
        fail_every: u64,
        keys: Arc<Mutex<Vec<u32>>>,
    }

    impl Caller for ScriptedCaller {
        fn call(
            &mut self,
            _id: u64,
            pick: Pick,
            _deltas: &[Decimal],
            _read: &mut Vec<Decimal>,
        ) -> impl Future<Output = (Result<(), Failure>, u32)> + Send {
            self.n += 1;
            if let Pick::Existing(k) = pick {
                self.keys.lock().unwrap().push(k);
            }
            let (n, ms, every) = (self.n, self.ms, self.fail_every);
            async move {
                if n > WARM_UP {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                match every > 0 && n % every == 0 {
                    true => {
                        let f = Failure::Refused {
                            class: "P0001".into(),
                            message: "scripted".into(),
                        };
                        (Err(f), 0)
                    }
                    false => (Ok(()), 0),
                }
            }
        }
    }

    impl Calls for Scripted {
        type Caller = ScriptedCaller;
        fn caller(&self, _worker: usize) -> ScriptedCaller {
            ScriptedCaller {
                n: 0,
                ms: self.ms,
                fail_every: self.fail_every,
                keys: self.keys.clone(),
            }
        }
        fn has_witnesses(&self) -> bool {
            false
        }
    }

    fn scripted(ms: u64, fail_every: u64) -> Scripted {
        Scripted {
            ms,
            fail_every,
            keys: Arc::default(),
        }
    }

    #[tokio::test]
    async fn the_probe_times_only_successful_calls_after_the_warm_up_in_batches_of_twenty() {
        // 220 calls: the 20 of the warm-up answer at once, then every 4th is refused.
        let calls = scripted(2, 4);
        let solo = probe(&calls, 7, &[], 1)
            .await
            .expect("150 of 200 succeeded");
        // 150 timed successes: 7 full batches, the last 10 calls in none.
        assert_eq!(solo.samples.len(), 7, "{:?}", solo.samples);
        // The instant warm-up calls are in no batch: every fastest call took the 2 ms.
        for s in &solo.samples {
            assert!((2000.0..15000.0).contains(s), "{:?}", solo.samples);
        }
        assert!((2000..15000).contains(&solo.p50_us), "{}", solo.p50_us);
        let keys = calls.keys.lock().unwrap();
        assert_eq!(keys.len(), 220, "warm-up and timed calls");
        assert!(keys.iter().all(|k| *k < 7));
        assert!(
            keys.iter().any(|k| *k != keys[0]),
            "keys are drawn, not fixed"
        );
    }

    #[tokio::test]
    async fn fewer_than_half_succeeding_is_no_measurement() {
        // Every 2nd refused: exactly 100 of 200 succeed, the least that counts.
        let half = probe(&scripted(0, 2), 3, &[], 1)
            .await
            .expect("100 is half");
        assert_eq!(half.samples.len(), 5);
        // Every 3rd refused: 133 succeed, 6 batches.
        assert_eq!(
            probe(&scripted(0, 3), 3, &[], 1)
                .await
                .unwrap()
                .samples
                .len(),
            6
        );
        // Every call refused: no measurement.
        let refused = Scripted {
            ms: 0,
            fail_every: 1,
            keys: Arc::default(),
        };
        assert!(probe(&refused, 3, &[], 1).await.is_none());
    }

    #[test]
    fn the_median_of_an_even_count_is_the_lower_middle() {
        assert_eq!(median(&mut [4, 1, 3, 2]), 2);
        assert_eq!(median(&mut [5, 1, 3]), 3);
    }
}
