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
        let mut h = crate::race::engine::new_histogram();
        for v in 1..=1000u64 {
            h.record(v).unwrap();
        }
        let l = LatencyUs::of(&h);
        assert_eq!(l.p50, 500);
        assert_eq!(l.p99, 990);
        assert_eq!(l.max, 1000);
        assert_eq!(LatencyUs::of(&crate::race::engine::new_histogram()).max, 0);
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

/// The q-quantile (0..=1) of samples, by linear interpolation between order statistics.
pub fn quantile(samples: &[f64], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// A speedup and its bootstrap interval: median(before) / median(after), with `confidence`
/// (e.g. 0.95) percentile bounds from resampling both sides independently. Medians, not means:
/// one run stalled by the machine moves a mean, not a median. Deterministic (fixed seed).
pub fn speedup(before: &[f64], after: &[f64], confidence: f64) -> Option<(f64, [f64; 2])> {
    use rand::{Rng, SeedableRng};
    if before.len() < 3 || after.len() < 3 {
        return None;
    }
    let point = quantile(before, 0.5) / quantile(after, 0.5);
    if !point.is_finite() {
        return None;
    }
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0x5EED_0004);
    let mut scratch = Vec::new();
    let mut median_of_resample = |v: &[f64], rng: &mut rand::rngs::SmallRng| {
        scratch.clear();
        scratch.extend((0..v.len()).map(|_| v[rng.random_range(0..v.len())]));
        quantile(&scratch, 0.5)
    };
    const B: usize = 2000;
    let mut ratios: Vec<f64> = (0..B)
        .map(|_| {
            let b = median_of_resample(before, &mut rng);
            b / median_of_resample(after, &mut rng)
        })
        .filter(|r| r.is_finite())
        .collect();
    if ratios.len() < B / 2 {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let tail = (1.0 - confidence) / 2.0;
    let lo = ratios[((ratios.len() as f64) * tail) as usize];
    let hi = ratios[(((ratios.len() as f64) * (1.0 - tail)) as usize).min(ratios.len() - 1)];
    Some((point, [lo, hi]))
}

#[cfg(test)]
mod speedup_tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), 2.0);
        assert_eq!(quantile(&[1.0, 2.0], 0.5), 1.5);
        assert_eq!(quantile(&[], 0.5), 0.0);
        assert!(
            (quantile(&(1..=100).map(f64::from).collect::<Vec<_>>(), 0.95) - 95.05).abs() < 1e-9
        );
    }

    #[test]
    fn a_tenfold_speedup_is_proven_and_noise_is_not() {
        let before: Vec<f64> = (0..30).map(|i| 10.0 + (i % 7) as f64 * 0.3).collect();
        let after: Vec<f64> = (0..30).map(|i| 1.0 + (i % 5) as f64 * 0.05).collect();
        let (s, [lo, hi]) = speedup(&before, &after, 0.95).unwrap();
        assert!(s > 8.0 && lo > 5.0 && hi < 15.0, "{s} [{lo}, {hi}]");
        let (s, [lo, hi]) = speedup(&before, &before, 0.95).unwrap();
        assert!(
            (s - 1.0).abs() < 1e-9 && lo <= 1.0 && hi >= 1.0,
            "{s} [{lo}, {hi}]"
        );
        assert_eq!(speedup(&[1.0], &after, 0.95), None);
    }
}

/// A bootstrap interval of one side's median, for error bars. Deterministic.
pub fn median_interval(samples: &[f64], confidence: f64) -> Option<[f64; 2]> {
    use rand::{Rng, SeedableRng};
    if samples.len() < 3 {
        return None;
    }
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0x5EED_0005);
    let mut scratch = Vec::with_capacity(samples.len());
    let mut medians: Vec<f64> = (0..1000)
        .map(|_| {
            scratch.clear();
            scratch.extend((0..samples.len()).map(|_| samples[rng.random_range(0..samples.len())]));
            quantile(&scratch, 0.5)
        })
        .collect();
    medians.sort_by(f64::total_cmp);
    let tail = (1.0 - confidence) / 2.0;
    let at = |q: f64| medians[((medians.len() as f64 * q) as usize).min(medians.len() - 1)];
    Some([at(tail), at(1.0 - tail)])
}
