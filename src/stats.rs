//! Latency statistics from HDR histograms. Pure.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Latency percentiles in microseconds, as the report shows them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencyUs {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

impl LatencyUs {
    /// Percentiles of a histogram of µs values; all zero when it is empty.
    pub fn of(h: &Histogram<u64>) -> LatencyUs {
        if h.is_empty() {
            return LatencyUs {
                p50: 0,
                p90: 0,
                p99: 0,
                p999: 0,
                max: 0,
                mean: 0.0,
            };
        }
        LatencyUs {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: (h.mean() * 10.0).round() / 10.0,
        }
    }
}

/// `[percentile, µs]` at log-spaced percentiles: 0, then 1 − 10^(−k/4) for k = 1..=20 (up to
/// 99.999), then 100 — the points of an HdrHistogram percentile plot.
pub fn percentile_curve(h: &Histogram<u64>) -> Vec<[f64; 2]> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut out = vec![[0.0, h.min() as f64]];
    for k in 1..=20 {
        let q = 1.0 - 10f64.powf(-(k as f64) / 4.0);
        out.push([
            (q * 100_000.0).round() / 1000.0,
            h.value_at_quantile(q) as f64,
        ]);
    }
    out.push([100.0, h.max() as f64]);
    out
}

/// Operations per second, rounded to one decimal.
pub fn throughput(ops: u64, seconds: f64) -> f64 {
    if seconds <= 0.0 {
        return 0.0;
    }
    (ops as f64 / seconds * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = crate::engine::new_histogram();
        for v in 1..=1000u64 {
            h.record(v).unwrap();
        }
        let l = LatencyUs::of(&h);
        assert_eq!(l.p50, 500);
        assert_eq!(l.p99, 990);
        assert_eq!(l.max, 1000);
        assert_eq!(LatencyUs::of(&crate::engine::new_histogram()).max, 0);
    }

    #[test]
    fn throughput_handles_zero_time() {
        assert_eq!(throughput(10, 0.0), 0.0);
        assert_eq!(throughput(3, 2.0), 1.5);
    }
}

/// A 95% bootstrap interval for mean(new) / mean(base), as multiples of the point estimate:
/// `(low, high)` such that the interval of the ratio is `(point × low, point × high)`.
/// Deterministic (fixed seed); `None` with fewer than 3 samples on either side.
pub fn ratio_spread(base: &[f64], new: &[f64]) -> Option<(f64, f64)> {
    ratio_spread_runs(&[base], &[new])
}

/// [`ratio_spread`] over repeated runs: each side is a list of runs, each run its samples. The
/// bootstrap resamples runs first, then samples within each drawn run, and weighs runs equally,
/// so the difference between runs (a run that was fast or slow as a whole, which samples inside
/// one run cannot show) widens the interval as it should; with one run per side it is the
/// plain bootstrap over samples. `None` with fewer than 3 samples on either side.
pub fn ratio_spread_runs(base: &[&[f64]], new: &[&[f64]]) -> Option<(f64, f64)> {
    use rand::{Rng, SeedableRng};
    let keep = |runs: &[&[f64]]| -> Vec<Vec<f64>> {
        runs.iter()
            .filter(|r| !r.is_empty())
            .map(|r| r.to_vec())
            .collect()
    };
    let (base, new) = (keep(base), keep(new));
    let count = |runs: &[Vec<f64>]| runs.iter().map(Vec::len).sum::<usize>();
    if count(&base) < 3 || count(&new) < 3 {
        return None;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let mean_of_runs =
        |runs: &[Vec<f64>]| runs.iter().map(|r| mean(r)).sum::<f64>() / runs.len() as f64;
    let (mb, mn) = (mean_of_runs(&base), mean_of_runs(&new));
    if mb <= 0.0 || mn <= 0.0 {
        return None;
    }
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0x5EED);
    let mut resample = |runs: &[Vec<f64>]| -> f64 {
        let mut total = 0.0;
        for _ in 0..runs.len() {
            let v = &runs[rng.random_range(0..runs.len())];
            total += (0..v.len())
                .map(|_| v[rng.random_range(0..v.len())])
                .sum::<f64>()
                / v.len() as f64;
        }
        total / runs.len() as f64
    };
    let mut ratios: Vec<f64> = (0..2000)
        .map(|_| (resample(&new) / mn) / (resample(&base) / mb))
        .collect();
    ratios.sort_by(f64::total_cmp);
    Some((ratios[50], ratios[1949]))
}

#[cfg(test)]
mod spread_tests {
    use super::{ratio_spread, ratio_spread_runs};

    #[test]
    fn identical_samples_bracket_one_and_noise_widens_the_interval() {
        let steady = [100.0, 101.0, 99.0, 100.0, 100.5, 99.5];
        let (lo, hi) = ratio_spread(&steady, &steady).unwrap();
        assert!(lo < 1.0 && hi > 1.0 && hi - lo < 0.05, "{lo} {hi}");
        let noisy = [50.0, 150.0, 80.0, 120.0, 60.0, 140.0];
        let (nlo, nhi) = ratio_spread(&noisy, &noisy).unwrap();
        assert!(nhi - nlo > hi - lo);
        assert_eq!(ratio_spread(&[1.0], &steady), None);
    }

    #[test]
    fn runs_that_differ_as_a_whole_widen_the_interval() {
        // Three steady runs at different levels: inside each run nothing moves, so only
        // resampling the runs shows that a fourth run could be 20% off.
        let (a, b, c) = (
            [100.0, 101.0, 99.0, 100.0],
            [80.0, 81.0, 79.0, 80.0],
            [120.0, 119.0, 121.0, 120.0],
        );
        let pooled: Vec<f64> = a.iter().chain(&b).chain(&c).copied().collect();
        let (plo, phi) = ratio_spread(&pooled, &pooled).unwrap();
        let (lo, hi) = ratio_spread_runs(&[&a, &b, &c], &[&a, &b, &c]).unwrap();
        assert!(
            lo < plo && hi > phi,
            "runs {lo}–{hi} vs pooled samples {plo}–{phi}"
        );
        assert!(lo < 0.9 && hi > 1.1, "{lo} {hi}");
        // One run per side is the plain bootstrap.
        let (slo, shi) = ratio_spread_runs(&[&a], &[&a]).unwrap();
        assert!(slo < 1.0 && shi > 1.0 && shi - slo < 0.05);
    }
}
