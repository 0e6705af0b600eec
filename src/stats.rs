//! The numbers a report states: latency percentiles from HDR histograms, quantiles of samples,
//! and every interval, all from one bootstrap. Pure: no I/O, no async, no database.
//!
//! Each interval is a percentile bootstrap ([`bootstrap`]) with the settings of [`Bootstrap`]:
//! 2000 resamples, seed `0x5EED`, 95% unless a scenario asks for another level. These are the
//! numbers `report compare` has judged regressions with, so its intervals stay as they were; the
//! index benchmark's speedup (2000 resamples, seed `0x5EED_0004`) and the chart's error bars
//! (1000, seed `0x5EED_0005`) now draw the same way, which moves their bounds by resampling noise
//! only.

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

/// How an interval is bootstrapped, stated once so that every interval in a report comes from
/// the same procedure and can be reproduced from the report alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bootstrap {
    /// Resamples drawn; the bounds are order statistics of this many values.
    pub resamples: usize,
    /// Seed of the resampling RNG: the same samples give the same interval on every run.
    pub seed: u64,
    /// Confidence level, e.g. 0.95.
    pub level: f64,
}

impl Bootstrap {
    pub const RESAMPLES: usize = 2000;
    pub const SEED: u64 = 0x5EED;
    pub const LEVEL: f64 = 0.95;
    /// Fewer samples than this on a side and there is no interval: resampling two values says
    /// nothing about a third.
    pub const MIN_SAMPLES: usize = 3;

    /// The standard settings at another confidence level (a scenario's `bench.confidence`).
    pub fn at(level: f64) -> Bootstrap {
        Bootstrap {
            level,
            ..Bootstrap::default()
        }
    }
}

impl Default for Bootstrap {
    fn default() -> Self {
        Bootstrap {
            resamples: Self::RESAMPLES,
            seed: Self::SEED,
            level: Self::LEVEL,
        }
    }
}

/// A confidence interval, `low <= high`, at `level` (e.g. 0.95).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
    pub level: f64,
}

impl Interval {
    /// Whether `x` lies inside, bounds included.
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }

    /// The interval of `k × x`: moves an interval of a ratio onto another point estimate of it.
    pub fn scaled(&self, k: f64) -> Interval {
        let (a, b) = (self.low * k, self.high * k);
        Interval {
            low: a.min(b),
            high: a.max(b),
            level: self.level,
        }
    }

    pub fn width(&self) -> f64 {
        self.high - self.low
    }

    /// `[low, high]`, the shape the report JSON stores.
    pub fn bounds(&self) -> [f64; 2] {
        [self.low, self.high]
    }
}

/// The percentile-bootstrap interval of `statistic`, the one resampling loop of the crate.
///
/// `sides` are the independent groups a statistic compares (before and after, base and new),
/// each a list of runs, each run its samples; a plain sample is one run (`&[&[samples]]`). Each
/// resample draws, side by side in the order given, as many runs as the side has and then,
/// within each drawn run, as many samples as it has, all with replacement: so a run that was fast
/// or slow as a whole, which the samples inside one run cannot show, widens the interval as it
/// should. With one run per side this is the plain bootstrap over samples.
///
/// `statistic` gets the resampled sides, indexed `[side][run][sample]`. Resamples where it is not
/// finite are left out. `None` when a side has fewer than [`Bootstrap::MIN_SAMPLES`] samples (empty
/// runs are dropped) or when fewer than half the resamples gave a finite value. Deterministic.
pub fn bootstrap(
    sides: &[&[&[f64]]],
    mut statistic: impl FnMut(&[Vec<Vec<f64>>]) -> f64,
    opts: Bootstrap,
) -> Option<Interval> {
    use rand::{Rng, SeedableRng};
    let sides: Vec<Vec<&[f64]>> = sides.iter().map(|runs| non_empty(runs)).collect();
    let too_few =
        |runs: &Vec<&[f64]>| runs.iter().map(|r| r.len()).sum::<usize>() < Bootstrap::MIN_SAMPLES;
    if sides.is_empty() || sides.iter().any(too_few) {
        return None;
    }
    let mut rng = rand::rngs::SmallRng::seed_from_u64(opts.seed);
    // One buffer per drawn run, reused by every resample.
    let mut drawn: Vec<Vec<Vec<f64>>> = sides
        .iter()
        .map(|runs| vec![Vec::new(); runs.len()])
        .collect();
    let mut values = Vec::with_capacity(opts.resamples);
    for _ in 0..opts.resamples {
        for (runs, out) in sides.iter().zip(&mut drawn) {
            for slot in out.iter_mut() {
                let run = runs[rng.random_range(0..runs.len())];
                slot.clear();
                slot.extend((0..run.len()).map(|_| run[rng.random_range(0..run.len())]));
            }
        }
        let v = statistic(&drawn);
        if v.is_finite() {
            values.push(v);
        }
    }
    if values.is_empty() || values.len() * 2 < opts.resamples {
        return None;
    }
    values.sort_by(f64::total_cmp);
    // As many values cut from each end: (1 − level) / 2 of them.
    let n = values.len();
    let tail = ((1.0 - opts.level) / 2.0).clamp(0.0, 0.5);
    let cut = ((n as f64 * tail) as usize).min((n - 1) / 2);
    Some(Interval {
        low: values[cut],
        high: values[n - 1 - cut],
        level: opts.level,
    })
}

/// mean(new) / mean(base) over repeated runs (each side a list of runs, each run its samples;
/// runs weigh equally), and its interval from [`bootstrap`], so that the difference between runs
/// of the same code counts as noise. `None` with fewer than 3 samples on either side or a mean
/// that is not positive.
pub fn mean_ratio(base: &[&[f64]], new: &[&[f64]], opts: Bootstrap) -> Option<(f64, Interval)> {
    let (base, new) = (non_empty(base), non_empty(new));
    if base.is_empty() || new.is_empty() {
        return None;
    }
    let (mb, mn) = (mean_of_runs(&base), mean_of_runs(&new));
    if !(mb > 0.0 && mn > 0.0) {
        return None;
    }
    // New drawn before base: the order `report compare`'s intervals have always been drawn in.
    let ci = bootstrap(
        &[&new, &base],
        |s| mean_of_runs(&s[0]) / mean_of_runs(&s[1]),
        opts,
    )?;
    Some((mn / mb, ci))
}

/// A speedup and its interval: median(before) / median(after), both sides resampled
/// independently by [`bootstrap`]. Medians, not means: one run stalled by the machine moves a
/// mean, not a median. `None` with fewer than 3 samples on either side.
pub fn speedup(before: &[f64], after: &[f64], opts: Bootstrap) -> Option<(f64, Interval)> {
    let median = |v: &[f64]| quantile(v, 0.5);
    let point = median(before) / median(after);
    if !point.is_finite() {
        return None;
    }
    let ci = bootstrap(
        &[&[before], &[after]],
        |s| median(&s[0][0]) / median(&s[1][0]),
        opts,
    )?;
    Some((point, ci))
}

/// The interval of one sample's median, for error bars. `None` with fewer than 3 samples.
pub fn median_interval(samples: &[f64], opts: Bootstrap) -> Option<Interval> {
    bootstrap(&[&[samples]], |s| quantile(&s[0][0], 0.5), opts)
}

fn non_empty<'a>(runs: &[&'a [f64]]) -> Vec<&'a [f64]> {
    runs.iter().copied().filter(|r| !r.is_empty()).collect()
}

/// The mean of the runs' means: each run weighs the same, however many samples it has.
fn mean_of_runs<R: AsRef<[f64]>>(runs: &[R]) -> f64 {
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    runs.iter().map(|r| mean(r.as_ref())).sum::<f64>() / runs.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mean_ratio_over_a_zero_base_is_no_ratio() {
        let zero: &[f64] = &[0.0, 0.0, 0.0];
        let some: &[f64] = &[1.0, 2.0, 3.0];
        assert_eq!(mean_ratio(&[zero], &[some], Bootstrap::default()), None);
        assert_eq!(mean_ratio(&[some], &[zero], Bootstrap::default()), None);
        assert!(mean_ratio(&[some], &[some], Bootstrap::default()).is_some());
    }

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

    #[test]
    fn quantiles_interpolate() {
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), 2.0);
        assert_eq!(quantile(&[1.0, 2.0], 0.5), 1.5);
        assert_eq!(quantile(&[], 0.5), 0.0);
        assert!(
            (quantile(&(1..=100).map(f64::from).collect::<Vec<_>>(), 0.95) - 95.05).abs() < 1e-9
        );
    }

    /// `n` values `center ± spread`, uniform, from a fixed seed.
    fn noisy(center: f64, spread: f64, n: usize, seed: u64) -> Vec<f64> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        (0..n)
            .map(|_| center + rng.random_range(-spread..=spread))
            .collect()
    }

    fn mean(v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len() as f64
    }

    #[test]
    fn identical_samples_give_an_interval_that_is_the_point() {
        let same = [7.0; 10];
        let ci = bootstrap(&[&[&same]], |s| mean(&s[0][0]), Bootstrap::default()).unwrap();
        assert_eq!((ci.low, ci.high, ci.level), (7.0, 7.0, 0.95));
        let (s, ci) = speedup(&[100.0; 8], &[50.0; 8], Bootstrap::default()).unwrap();
        assert_eq!((s, ci.bounds()), (2.0, [2.0, 2.0]));
        let (r, ci) = mean_ratio(&[&[4.0; 5]], &[&[6.0; 5]], Bootstrap::default()).unwrap();
        assert_eq!((r, ci.bounds()), (1.5, [1.5, 1.5]));
        assert_eq!(
            median_interval(&same, Bootstrap::default())
                .unwrap()
                .bounds(),
            [7.0, 7.0]
        );
    }

    #[test]
    fn a_doubling_is_inside_the_interval_and_no_change_is_not() {
        let (base, new) = (noisy(100.0, 5.0, 30, 1), noisy(200.0, 10.0, 30, 2));
        let (r, ci) = mean_ratio(&[&base], &[&new], Bootstrap::default()).unwrap();
        assert!((r - 2.0).abs() < 0.05, "{r}");
        assert!(
            ci.contains(r) && ci.contains(2.0) && !ci.contains(1.0),
            "{ci:?}"
        );
        assert!(ci.width() < 0.2, "{ci:?}");
        let (s, ci) = speedup(&new, &base, Bootstrap::default()).unwrap();
        assert!(
            ci.contains(s) && ci.contains(2.0) && !ci.contains(1.0),
            "{ci:?}"
        );
    }

    #[test]
    fn the_interval_of_a_mean_is_as_wide_as_theory_says() {
        // Uniform on ±1 has sd 1/√3; the mean of 100 has se 0.0577, so a 95% interval spans
        // about 2 × 1.96 × 0.0577 = 0.226. Without resampling with replacement it would be 0.
        let v = noisy(10.0, 1.0, 100, 3);
        let ci = bootstrap(&[&[&v]], |s| mean(&s[0][0]), Bootstrap::default()).unwrap();
        assert!((0.18..0.28).contains(&ci.width()), "{ci:?}");
        assert!(ci.contains(mean(&v)), "{ci:?}");
    }

    #[test]
    fn the_same_samples_give_the_same_interval() {
        let (a, b) = (noisy(10.0, 3.0, 20, 4), noisy(12.0, 3.0, 20, 5));
        let once = speedup(&a, &b, Bootstrap::default());
        assert_eq!(once, speedup(&a, &b, Bootstrap::default()));
        let other_seed = Bootstrap {
            seed: 1,
            ..Bootstrap::default()
        };
        assert_ne!(once, speedup(&a, &b, other_seed));
    }

    #[test]
    fn the_level_is_the_one_asked_for() {
        let v = noisy(10.0, 1.0, 50, 6);
        let at = |level| median_interval(&v, Bootstrap::at(level)).unwrap();
        let (c50, c95, c99) = (at(0.50), at(0.95), at(0.99));
        assert_eq!((c50.level, c95.level, c99.level), (0.50, 0.95, 0.99));
        assert!(
            c99.low <= c95.low && c95.high <= c99.high,
            "{c95:?} {c99:?}"
        );
        assert!(c50.width() < c95.width(), "{c50:?} {c95:?}");
        assert!(c99.width() > c95.width(), "{c95:?} {c99:?}");
    }

    #[test]
    fn too_few_samples_give_no_interval() {
        let ok = [1.0, 2.0, 3.0];
        let d = Bootstrap::default();
        assert!(median_interval(&ok, d).is_some());
        assert_eq!(median_interval(&[1.0, 2.0], d), None);
        assert_eq!(speedup(&[1.0], &ok, d), None);
        assert_eq!(speedup(&ok, &[], d), None);
        assert_eq!(mean_ratio(&[&ok], &[&[1.0, 2.0], &[]], d), None);
        // Two runs of two samples are four samples.
        assert!(mean_ratio(&[&ok], &[&[1.0, 2.0], &[3.0, 4.0]], d).is_some());
        assert_eq!(bootstrap(&[], |_| 1.0, d), None);
        // A statistic that is mostly undefined gives no interval either.
        assert_eq!(bootstrap(&[&[&ok]], |_| f64::NAN, d), None);
    }

    #[test]
    fn intervals_scale_and_convert() {
        let ci = Interval {
            low: 0.5,
            high: 2.0,
            level: 0.9,
        };
        assert!(ci.contains(0.5) && ci.contains(2.0) && !ci.contains(2.1));
        assert_eq!(ci.scaled(2.0).bounds(), [1.0, 4.0]);
        assert_eq!(ci.scaled(-1.0).bounds(), [-2.0, -0.5]);
        assert_eq!(ci.scaled(2.0).level, 0.9);
    }

    #[test]
    fn identical_samples_bracket_one_and_noise_widens_the_interval() {
        let d = Bootstrap::default();
        let steady = [100.0, 101.0, 99.0, 100.0, 100.5, 99.5];
        let (_, ci) = mean_ratio(&[&steady], &[&steady], d).unwrap();
        let (lo, hi) = (ci.low, ci.high);
        assert!(lo < 1.0 && hi > 1.0 && hi - lo < 0.05, "{lo} {hi}");
        let noisy = [50.0, 150.0, 80.0, 120.0, 60.0, 140.0];
        let (_, n) = mean_ratio(&[&noisy], &[&noisy], d).unwrap();
        assert!(n.width() > ci.width());
        assert_eq!(mean_ratio(&[&[1.0]], &[&steady], d), None);
    }

    #[test]
    fn runs_that_differ_as_a_whole_widen_the_interval() {
        // Three steady runs at different levels: inside each run nothing moves, so only
        // resampling the runs shows that a fourth run could be 20% off.
        let d = Bootstrap::default();
        let (a, b, c) = (
            [100.0, 101.0, 99.0, 100.0],
            [80.0, 81.0, 79.0, 80.0],
            [120.0, 119.0, 121.0, 120.0],
        );
        let pooled: Vec<f64> = a.iter().chain(&b).chain(&c).copied().collect();
        let (_, p) = mean_ratio(&[&pooled], &[&pooled], d).unwrap();
        let (_, r) = mean_ratio(&[&a, &b, &c], &[&a, &b, &c], d).unwrap();
        assert!(
            r.low < p.low && r.high > p.high,
            "runs {r:?} vs pooled samples {p:?}"
        );
        assert!(r.low < 0.9 && r.high > 1.1, "{r:?}");
        // One run per side is the plain bootstrap.
        let (_, s) = mean_ratio(&[&a], &[&a], d).unwrap();
        assert!(s.low < 1.0 && s.high > 1.0 && s.width() < 0.05);
    }

    #[test]
    fn a_tenfold_speedup_is_proven_and_noise_is_not() {
        let d = Bootstrap::default();
        let before: Vec<f64> = (0..30).map(|i| 10.0 + (i % 7) as f64 * 0.3).collect();
        let after: Vec<f64> = (0..30).map(|i| 1.0 + (i % 5) as f64 * 0.05).collect();
        let (s, ci) = speedup(&before, &after, d).unwrap();
        assert!(s > 8.0 && ci.low > 5.0 && ci.high < 15.0, "{s} {ci:?}");
        let (s, ci) = speedup(&before, &before, d).unwrap();
        assert!((s - 1.0).abs() < 1e-9 && ci.contains(1.0), "{s} {ci:?}");
        assert_eq!(speedup(&[1.0], &after, d), None);
    }

    #[test]
    fn every_percentile_of_a_known_distribution() {
        let mut h = crate::race::engine::new_histogram();
        for v in 1..=1000u64 {
            h.record(v).unwrap();
        }
        let l = LatencyUs::of(&h);
        assert_eq!(
            (l.p50, l.p90, l.p99, l.p999, l.max),
            (500, 900, 990, 999, 1000)
        );
        assert_eq!(l.mean, 500.5);
        let empty = LatencyUs::of(&crate::race::engine::new_histogram());
        assert_eq!((empty.p50, empty.p90, empty.p99, empty.p999), (0, 0, 0, 0));
        assert_eq!(empty.mean, 0.0);
        let curve = percentile_curve(&h);
        assert_eq!(curve.len(), 22);
        assert_eq!(curve[0], [0.0, 1.0]);
        assert_eq!(curve[4], [90.0, 900.0]); // k = 4: 1 - 10^-1
        assert_eq!(curve[8], [99.0, 990.0]); // k = 8: 1 - 10^-2
        assert_eq!(curve[21], [100.0, 1000.0]);
        assert!(
            curve
                .windows(2)
                .all(|w| w[0][0] < w[1][0] && w[0][1] <= w[1][1])
        );
        assert!(percentile_curve(&crate::race::engine::new_histogram()).is_empty());
    }

    #[test]
    fn throughput_rounds_to_a_tenth_and_quantiles_clamp() {
        assert_eq!(throughput(7, 3.0), 2.3);
        assert_eq!(throughput(1, 0.0001), 10000.0);
        assert_eq!(throughput(5, -1.0), 0.0);
        assert_eq!(quantile(&[4.0, 1.0, 9.0], 1.5), 9.0);
        assert_eq!(quantile(&[4.0, 1.0, 9.0], -1.0), 1.0);
        assert_eq!(quantile(&[4.0, 1.0, 9.0], 0.25), 2.5);
        assert_eq!(quantile(&[5.0], 0.7), 5.0);
    }

    #[test]
    fn the_bounds_are_the_order_statistics_the_level_cuts() {
        // A statistic that ignores the draw and counts: the resampled values are 0..2000, so
        // the bounds show exactly how many values each end loses.
        let at = |level: f64| {
            let mut i = 0.0;
            let ci = bootstrap(
                &[&[&[1.0, 2.0, 3.0]]],
                |_| {
                    i += 1.0;
                    i - 1.0
                },
                Bootstrap::at(level),
            )
            .unwrap();
            (ci.low, ci.high)
        };
        assert_eq!(at(0.95), (50.0, 1949.0));
        assert_eq!(at(0.5), (500.0, 1499.0));
        assert_eq!(at(1.0), (0.0, 1999.0));
        assert_eq!(at(0.0), (999.0, 1000.0));
        // Half the resamples undefined is still enough; one more is not.
        let some_nan = |finite: usize| {
            let mut i = 0;
            bootstrap(
                &[&[&[1.0, 2.0, 3.0]]],
                |_| {
                    i += 1;
                    if i <= finite { i as f64 } else { f64::NAN }
                },
                Bootstrap::default(),
            )
        };
        let half = some_nan(1000).unwrap();
        assert_eq!((half.low, half.high), (26.0, 975.0));
        assert_eq!(some_nan(999), None);
    }

    #[test]
    fn each_resample_draws_runs_then_samples_from_the_given_sides() {
        let (a, b, empty) = ([1.0, 2.0], [10.0, 20.0, 30.0], []);
        let c = [100.0, 200.0, 300.0];
        let mut seen = 0;
        let ci = bootstrap(
            &[&[&a, &empty, &b], &[&c]],
            |s| {
                seen += 1;
                assert_eq!(s.len(), 2);
                assert_eq!(s[0].len(), 2, "the empty run is dropped");
                assert_eq!(s[1].len(), 1);
                for run in &s[0] {
                    let from_a = run.len() == 2 && run.iter().all(|v| a.contains(v));
                    let from_b = run.len() == 3 && run.iter().all(|v| b.contains(v));
                    assert!(from_a || from_b, "{run:?}");
                }
                assert!(s[1][0].len() == 3 && s[1][0].iter().all(|v| c.contains(v)));
                s[1][0].iter().sum::<f64>()
            },
            Bootstrap::default(),
        )
        .unwrap();
        assert_eq!(seen, Bootstrap::RESAMPLES);
        assert!(
            ci.low >= 300.0 && ci.high <= 900.0 && ci.low < ci.high,
            "{ci:?}"
        );
    }

    #[test]
    fn runs_weigh_alike_and_a_zero_mean_has_no_ratio() {
        let d = Bootstrap::default();
        // Base runs: mean 1 (three samples) and mean 3 (one sample) -> 2, not 1.5.
        let (r, _) = mean_ratio(&[&[1.0, 1.0, 1.0], &[3.0]], &[&[4.0; 3]], d).unwrap();
        assert_eq!(r, 2.0);
        assert_eq!(mean_of_runs(&[vec![1.0, 1.0, 1.0], vec![3.0]]), 2.0);
        assert_eq!(mean_ratio(&[&[0.0; 3]], &[&[4.0; 3]], d), None);
        assert_eq!(mean_ratio(&[&[4.0; 3]], &[&[0.0; 3]], d), None);
        assert_eq!(mean_ratio(&[&[-4.0; 3]], &[&[-4.0; 3]], d), None);
        assert_eq!(mean_ratio(&[], &[&[4.0; 3]], d), None);
        assert_eq!(mean_ratio(&[&[4.0; 3]], &[&[]], d), None);
        // An after-median of zero has no speedup.
        assert_eq!(speedup(&[1.0; 3], &[0.0; 3], d), None);
        let (s, ci) = speedup(&[9.0, 3.0, 6.0], &[1.0, 2.0, 3.0], d).unwrap();
        assert_eq!(s, 3.0);
        assert!(ci.low <= 3.0 && 3.0 <= ci.high);
        assert_eq!(ci.width(), ci.high - ci.low);
        assert!(ci.width() > 0.0);
    }
}
