//! Sharded runs: one race fired from several machines (or processes) at once and judged once.
//!
//! There is no coordinator of loadtest's own: the orchestrator a team already has (a Kubernetes
//! Indexed Job, a CI matrix, `xargs -P`) starts the shards, and the run's database is where they
//! meet. This folder holds what the shards share through it and through their files, knowing no
//! race and no SQL of the scenario:
//!
//! - `manifest`: the run's settings, recorded once by `prepare` in a loadtest-owned table, so
//!   every shard and `verify` run the same thing (a contradiction is refused);
//! - `barrier`: the start line and the end of each load, kept in the database, with each shard's
//!   liveness shown by an advisory lock its session holds (a killed shard's lock goes with it);
//! - `partial`: one shard's results as a file: HDR histograms serialized losslessly, per-row sums
//!   as exact decimals, counts, errors, witnesses within a budget;
//! - `merge`: which partials make a whole run (each shard once), and their exact sum.

pub mod barrier;
pub mod manifest;
pub mod merge;
pub mod partial;

use crate::error::{Error, Result};

/// One shard of a run: `index` in `0..count` (`--shard I/N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardId {
    pub index: u32,
    pub count: u32,
}

/// The most shards a run may have: far past what one database's connections allow.
pub const MAX_SHARDS: u32 = 4096;

impl std::str::FromStr for ShardId {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<ShardId, String> {
        let bad = || {
            format!("'{s}' is not a shard: expected I/N with 0 <= I < N <= {MAX_SHARDS}, e.g. 0/4")
        };
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(bad());
        }
        Ok(ShardId { index, count })
    }
}

impl std::fmt::Display for ShardId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl ShardId {
    /// This shard's exact share of `total` calls: the shares of `0..count` add up to `total`
    /// (the first `total % count` shards take one more).
    pub fn share(self, total: u64) -> u64 {
        let n = u64::from(self.count);
        total / n + u64::from(u64::from(self.index) < total % n)
    }

    /// This shard's random stream, derived from the run's seed and the shard's index. Shard 0
    /// keeps the seed itself, so a one-shard run draws exactly the calls of an unsharded run.
    pub fn seed(self, seed: u64) -> u64 {
        match self.index {
            0 => seed,
            i => splitmix64(seed ^ splitmix64(u64::from(i))),
        }
    }
}

/// SplitMix64's finalizer: neighbouring inputs give unrelated outputs.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A run id as `prepare --run-id` accepts it: it names the database `loadtest_<id>`, so only
/// lowercase letters, digits and `_`, at most 40.
pub fn check_run_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 40
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    match ok {
        true => Ok(()),
        false => Err(Error::Input(format!(
            "--run-id '{id}': expected 1 to 40 lowercase letters, digits or _ (it names the \
             database loadtest_<id>), e.g. nightly_42"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_total() {
        for n in [1u32, 2, 3, 4, 7, 64] {
            for total in [0u64, 1, 5, 20_000, 1_000_003] {
                let sum: u64 = (0..n)
                    .map(|index| ShardId { index, count: n }.share(total))
                    .sum();
                assert_eq!(sum, total, "n={n} total={total}");
            }
        }
    }

    #[test]
    fn shard_syntax() {
        assert_eq!("1/4".parse::<ShardId>(), Ok(ShardId { index: 1, count: 4 }));
        for bad in ["4/4", "1", "a/2", "0/0", "-1/2"] {
            assert!(bad.parse::<ShardId>().is_err(), "{bad}");
        }
    }

    #[test]
    fn streams_differ_but_shard_zero_is_the_run_itself() {
        let s = |index| ShardId { index, count: 4 }.seed(1);
        assert_eq!(s(0), 1);
        assert_ne!(s(1), s(2));
        assert_ne!(s(1), 1);
    }

    #[test]
    fn run_ids() {
        assert!(check_run_id("nightly_42").is_ok());
        assert!(check_run_id("Bad-Id").is_err());
        assert!(check_run_id("").is_err());
    }
}
