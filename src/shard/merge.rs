//! Which partials make a whole run, and their exact sum.
//!
//! A run of N shards is whole when each index 0..N-1 is present exactly once, all with the
//! manifest's checksum. Counts add; histograms add bucket by bucket (HdrHistogram's `add`,
//! lossless); per-row sums add as decimals; witnesses concatenate. Only the throughput and
//! median-latency samples are approximations: the shards' clocks tick from the same start line
//! but not in lockstep, so throughput samples add index by index and medians are averaged.

use super::partial::{ErrorCount, Load, Partial, RowSum, decode_histogram, encode_histogram};
use crate::error::{Error, Result};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the set of partials covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    pub shards: u32,
    /// Indexes with no partial (only with `--allow-missing`).
    pub missing: Vec<u32>,
}

/// Checks the set: one run, one manifest, each shard at most once, and every shard present
/// unless `allow_missing`. Every refusal is one sentence naming the files (exit 2).
pub fn check(
    partials: &[(PathBuf, Partial)],
    run_id: &str,
    manifest_sha256: &str,
    allow_missing: bool,
) -> Result<Coverage> {
    let first = partials
        .first()
        .ok_or_else(|| Error::Input("verify needs the partial reports (PARTIAL...)".into()))?;
    let shards = first.1.shards;
    let mut seen: BTreeMap<u32, &PathBuf> = BTreeMap::new();
    for (path, p) in partials {
        let at = path.display();
        if p.run_id != run_id {
            return Err(Error::Input(format!(
                "{at}: a partial of run {}, not of --run-id {run_id}",
                p.run_id
            )));
        }
        if p.manifest_sha256 != manifest_sha256 {
            return Err(Error::Input(format!(
                "{at}: shard {} ran another manifest than run {run_id} holds now (checksum \
                 differs); its results cannot be merged",
                p.id()
            )));
        }
        if p.shards != shards {
            return Err(Error::Input(format!(
                "{at}: shard {} says N = {}, {} says N = {shards}; every shard of a run takes \
                 the same N",
                p.id(),
                p.shards,
                first.0.display()
            )));
        }
        if let Some(other) = seen.insert(p.shard, path) {
            return Err(Error::Input(format!(
                "shard {} is given twice ({} and {at}): pass each shard's partial once",
                p.id(),
                other.display()
            )));
        }
    }
    let missing: Vec<u32> = (0..shards).filter(|s| !seen.contains_key(s)).collect();
    if !missing.is_empty() && !allow_missing {
        let list: Vec<String> = missing.iter().map(|s| format!("{s}/{shards}")).collect();
        return Err(Error::Input(format!(
            "shard {} missing: pass every shard's partial, or --allow-missing to report the run \
             as incomplete (exit 1)",
            list.join(", ")
        )));
    }
    Ok(Coverage { shards, missing })
}

/// The loads of every partial with the same label, summed into one, in the first partial's
/// order of loads. Consumes the partials: their witnesses move into the sum, never copied.
pub fn loads(partials: Vec<Partial>) -> std::result::Result<Vec<Load>, String> {
    let mut order: Vec<String> = Vec::new();
    let mut by_label: BTreeMap<String, Vec<Load>> = BTreeMap::new();
    for p in partials {
        for l in p.loads {
            if !by_label.contains_key(&l.label) {
                order.push(l.label.clone());
            }
            by_label.entry(l.label.clone()).or_default().push(l);
        }
    }
    order
        .iter()
        .map(|label| sum(by_label.remove(label).unwrap_or_default()))
        .collect()
}

/// One load summed over shards.
pub fn sum(loads: Vec<Load>) -> std::result::Result<Load, String> {
    let mut total = Load {
        label: loads.first().map(|l| l.label.clone()).unwrap_or_default(),
        witnesses: Some(Vec::new()),
        ..Load::default()
    };
    let mut histogram = hdrhistogram::Histogram::<u64>::new(3).map_err(|e| e.to_string())?;
    let (mut acked, mut pos, mut neg) = (Rows::default(), Rows::default(), Rows::default());
    let mut medians: Vec<(f64, u32)> = Vec::new();
    let mut intervals: BTreeMap<u64, hdrhistogram::Histogram<u64>> = BTreeMap::new();
    for l in loads {
        total.ops_ok += l.ops_ok;
        total.ops_failed += l.ops_failed;
        total.ops_indeterminate += l.ops_indeterminate;
        total.retries += l.retries;
        total.late_starts += l.late_starts;
        total.not_started += l.not_started;
        total.elapsed_s = total.elapsed_s.max(l.elapsed_s);
        add_samples(&mut total.throughput_samples, &l.throughput_samples);
        for (i, &m) in l.latency_p50_samples.iter().enumerate() {
            if medians.len() <= i {
                medians.push((0.0, 0));
            }
            medians[i].0 += m;
            medians[i].1 += 1;
        }
        histogram
            .add(decode_histogram(&l.histogram)?)
            .map_err(|e| format!("histograms of '{}' do not add: {e:?}", l.label))?;
        errors(&mut total.errors, &l.errors);
        total.absent_sent += l.absent_sent;
        total.absent_accepted += l.absent_accepted;
        errors(&mut total.absent_rejected, &l.absent_rejected);
        acked.add(&l.acked);
        pos.add(&l.unknown_pos);
        neg.add(&l.unknown_neg);
        total.witnesses = match (total.witnesses.take(), l.witnesses) {
            (Some(mut all), Some(w)) => {
                all.extend(w);
                Some(all)
            }
            _ => None,
        };
        total.witnesses_dropped += l.witnesses_dropped;
        if let Some((c, n)) = l.ledger {
            let t = total.ledger.get_or_insert((0, 0));
            *t = (t.0 + c, t.1 + n);
        }
        for (k, h) in &l.intervals {
            let h = decode_histogram(h)?;
            let into = match intervals.entry(*k) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(hdrhistogram::Histogram::new(3).map_err(|e| e.to_string())?)
                }
            };
            into.add(h)
                .map_err(|e| format!("interval histograms of '{}' do not add: {e:?}", l.label))?;
        }
        total.wall_start_ms = match total.wall_start_ms {
            0 => l.wall_start_ms,
            t => t.min(l.wall_start_ms),
        };
        total.interrupted |= l.interrupted;
    }
    total.intervals = intervals
        .iter()
        .map(|(k, h)| Ok((*k, encode_histogram(h).map_err(|e| e.to_string())?)))
        .collect::<std::result::Result<_, String>>()?;
    total.latency_p50_samples = medians.iter().map(|(s, n)| s / f64::from(*n)).collect();
    total.histogram = encode_histogram(&histogram).map_err(|e| e.to_string())?;
    total.acked = acked.into_vec();
    total.unknown_pos = pos.into_vec();
    total.unknown_neg = neg.into_vec();
    Ok(total)
}

fn add_samples(into: &mut Vec<f64>, from: &[f64]) {
    if into.len() < from.len() {
        into.resize(from.len(), 0.0);
    }
    for (a, b) in into.iter_mut().zip(from) {
        *a += b;
    }
}

fn errors(into: &mut BTreeMap<String, ErrorCount>, from: &BTreeMap<String, ErrorCount>) {
    for (class, e) in from {
        let t = into.entry(class.clone()).or_default();
        if t.count == 0 {
            t.message = e.message.clone();
        }
        t.count += e.count;
    }
}

/// Per-row sums being added up.
#[derive(Default)]
struct Rows(BTreeMap<u32, (u64, Vec<Decimal>)>);

impl Rows {
    fn add(&mut self, rows: &[RowSum]) {
        for (key, calls, sums) in rows {
            let (c, s) = self
                .0
                .entry(*key)
                .or_insert_with(|| (0, vec![Decimal::ZERO; sums.len()]));
            *c += calls;
            for (a, b) in s.iter_mut().zip(sums) {
                *a += b;
            }
        }
    }

    fn into_vec(self) -> Vec<RowSum> {
        self.0.into_iter().map(|(k, (c, s))| (k, c, s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::Histogram;

    fn load(values: &[u64], acked: Vec<RowSum>) -> Load {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for &v in values {
            h.record(v).unwrap();
        }
        Load {
            label: "rpc".into(),
            ops_ok: values.len() as u64,
            histogram: encode_histogram(&h).unwrap(),
            acked,
            ..Load::default()
        }
    }

    #[test]
    fn histograms_and_sums_add_exactly() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let a = load(
            &[10, 20, 3000],
            vec![(0, 2, vec![d("1.10")]), (5, 1, vec![d("2")])],
        );
        let b = load(&[20, 70_000], vec![(0, 1, vec![d("0.90")])]);
        let m = sum(vec![a, b]).unwrap();
        assert_eq!(m.ops_ok, 5);
        let h = decode_histogram(&m.histogram).unwrap();
        assert_eq!(h.len(), 5);
        assert_eq!(h.count_at(20), 2);
        assert_eq!(m.acked, vec![(0, 3, vec![d("2.00")]), (5, 1, vec![d("2")])]);
    }

    fn partial(shard: u32, shards: u32) -> (PathBuf, Partial) {
        (
            PathBuf::from(format!("p{shard}.json")),
            Partial {
                format: 1,
                run_id: "r".into(),
                shard,
                shards,
                manifest_sha256: "m".into(),
                started_at: String::new(),
                complete: true,
                saw_gone: vec![],
                loads: vec![],
            },
        )
    }

    #[test]
    fn a_set_has_each_shard_once() {
        let set = vec![partial(0, 3), partial(2, 3)];
        let e = check(&set, "r", "m", false).unwrap_err().to_string();
        assert!(e.starts_with("shard 1/3 missing"), "{e}");
        assert_eq!(check(&set, "r", "m", true).unwrap().missing, vec![1]);
        let dup = vec![partial(0, 2), partial(1, 2), partial(1, 2)];
        let e = check(&dup, "r", "m", false).unwrap_err().to_string();
        assert!(e.contains("given twice"), "{e}");
        let e = check(&set, "r", "other", false).unwrap_err().to_string();
        assert!(e.contains("another manifest"), "{e}");
    }
}
