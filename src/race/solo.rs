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

/// After [`WARM_UP`] untimed calls, makes [`CALLS`] calls one after another through `calls`' first caller, each on a key drawn
/// uniformly (no contention) and adding `deltas`; failed calls are left out (they say nothing
/// about the cost of a call, and the load's oracle has already judged the path). `None` when
/// fewer than half the calls succeeded.
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

    #[test]
    fn the_median_of_an_even_count_is_the_lower_middle() {
        assert_eq!(median(&mut [4, 1, 3, 2]), 2);
        assert_eq!(median(&mut [5, 1, 3]), 3);
    }
}
