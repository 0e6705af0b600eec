//! The sorted witnesses of one load, and each row's chain of writes walked in them.
//!
//! A row's surviving history is the chain of writes from its final value back to its initial
//! one: the call that wrote the final value, the call that wrote what that one read, and so on.
//! Every acknowledged call off the chain was overwritten. Each step is a lookup by value written
//! (a binary search in the row's sorted records, through a small cache of file blocks), so the
//! walk needs one bit per record of the row besides the cache, whatever the length of the run.
//!
//! When several calls wrote the value looked for, the one whose read is closest to it (the
//! smallest total |delta|) is taken: with deltas of one sign, values move one way, so the call
//! that really wrote a value read the latest value before it, which is the closest one; any
//! other caller read an older value and was overwritten. (Taking any of them, as a hash map
//! would, skips part of the chain at such a collision and counts too many losses: rare at 20,000
//! calls, hundreds of times at millions.)

use super::{Layout, delta};
use crate::race::oracle::{History, LostPair};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// How many examples of lost updates a verdict keeps per row, at most.
pub(crate) const EXAMPLES: usize = 3;
/// Records per cached block, and how many blocks the cache keeps.
const BLOCK_RECORDS: u64 = 128;
const CACHED_BLOCKS: usize = 256;

/// Where one row's records are in the sorted file.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// Index of its first record, and how many there are.
    pub start: u64,
    pub len: u64,
    /// The sum of the deltas of all its calls, per column.
    pub delta_sum: Vec<Decimal>,
}

/// One witness as a sharded run's partial carries it: (row, values read, deltas added).
pub type Witness = (u32, Vec<Decimal>, Vec<Decimal>);

/// A load's witnesses sorted by (row, value written), ready for the oracle.
pub struct Sorted {
    file: File,
    layout: Layout,
    rows: HashMap<u32, Row>,
    examples: HashMap<u32, Vec<LostPair>>,
    cache: HashMap<u64, (Vec<u8>, u64)>,
    tick: u64,
}

impl std::fmt::Debug for Sorted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sorted")
            .field("rows", &self.rows.len())
            .finish()
    }
}

impl Sorted {
    pub(super) fn new(
        file: File,
        layout: Layout,
        rows: HashMap<u32, Row>,
        examples: HashMap<u32, Vec<LostPair>>,
    ) -> Sorted {
        Sorted {
            file,
            layout,
            rows,
            examples,
            cache: HashMap::new(),
            tick: 0,
        }
    }

    /// How many witnesses were kept.
    pub fn len(&self) -> u64 {
        self.rows.values().map(|r| r.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every witness as (row, values read, deltas added); `None` on a read error. For a sharded
    /// run's partial, which carries them to `verify`.
    pub fn all(&mut self) -> Option<Vec<Witness>> {
        let layout = self.layout;
        let mut out = Vec::with_capacity(self.len() as usize);
        for i in 0..self.len() {
            let rec = self.record(i)?;
            let read = super::decimals(layout.read(rec));
            out.push((layout.key(rec), read, super::delta(layout, rec)));
        }
        Some(out)
    }

    /// Record `i` of the file, through the block cache; `None` on a read error.
    fn record(&mut self, i: u64) -> Option<&[u8]> {
        let size = self.layout.size();
        let block = i / BLOCK_RECORDS;
        self.tick += 1;
        if !self.cache.contains_key(&block) {
            if self.cache.len() >= CACHED_BLOCKS
                && let Some(&oldest) = self
                    .cache
                    .iter()
                    .min_by_key(|(_, (_, t))| *t)
                    .map(|(k, _)| k)
            {
                self.cache.remove(&oldest);
            }
            let mut buf = vec![0; BLOCK_RECORDS as usize * size];
            let mut got = 0;
            while got < buf.len() {
                match self.file.read_at(
                    &mut buf[got..],
                    block * BLOCK_RECORDS * size as u64 + got as u64,
                ) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return None,
                }
            }
            buf.truncate(got - got % size);
            self.cache.insert(block, (buf, 0));
        }
        let tick = self.tick;
        let (buf, used) = self.cache.get_mut(&block)?;
        *used = tick;
        let at = (i % BLOCK_RECORDS) as usize * size;
        buf.get(at..at + size)
    }

    /// The first record of `row` whose value written is not below `target`.
    fn lower_bound(&mut self, row: &Row, target: &[u8]) -> Option<u64> {
        let layout = self.layout;
        let (mut lo, mut hi) = (row.start, row.start + row.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if layout.written(self.record(mid)?) < target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Some(lo)
    }

    /// The unused record of `row` that wrote `target` with the smallest total |delta| (the
    /// latest of them on ties): its index.
    fn writer_of(&mut self, row: &Row, target: &[u8], used: &[u64]) -> Option<u64> {
        let layout = self.layout;
        let end = row.start + row.len;
        let mut i = self.lower_bound(row, target)?;
        let mut best: Option<(Decimal, u64)> = None;
        while i < end {
            let rec = self.record(i)?;
            if layout.written(rec) != target {
                break;
            }
            let bit = i - row.start;
            if used[(bit / 64) as usize] & (1 << (bit % 64)) == 0 {
                let distance: Decimal = delta(layout, rec).iter().map(|d| d.abs()).sum();
                if best.is_none_or(|(b, _)| distance <= b) {
                    best = Some((distance, i));
                }
            }
            i += 1;
        }
        best.map(|(_, i)| i)
    }
}

/// Values in the record encoding.
fn encode(values: &[Decimal]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 * values.len());
    for v in values {
        super::put(&mut out, *v);
    }
    out
}

impl History for Sorted {
    fn lost_by_chain(
        &mut self,
        key: u32,
        initial: &[Decimal],
        final_values: &[Decimal],
    ) -> Option<(u64, Vec<Decimal>)> {
        let layout = self.layout;
        let target = encode(initial);
        let mut current = encode(final_values);
        let Some(row) = self.rows.get(&key).cloned() else {
            return (current == target).then(|| (0, vec![Decimal::ZERO; initial.len()]));
        };
        let mut used = vec![0u64; row.len.div_ceil(64) as usize];
        let mut kept = 0u64;
        let mut kept_sum = vec![Decimal::ZERO; initial.len()];
        while current != target {
            // Each record is taken at most once, so a chain longer than the row is a bug:
            // no chain, rather than a loop that never ends.
            if kept >= row.len {
                return None;
            }
            let i = self.writer_of(&row, &current, &used)?;
            let bit = i - row.start;
            used[(bit / 64) as usize] |= 1 << (bit % 64);
            kept += 1;
            let rec = self.record(i)?;
            for (s, d) in kept_sum.iter_mut().zip(delta(layout, rec)) {
                *s += d;
            }
            current = layout.read(self.record(i)?).to_vec();
        }
        let lost_amount = row
            .delta_sum
            .iter()
            .zip(&kept_sum)
            .map(|(all, kept)| all - kept)
            .collect();
        Some((row.len - kept, lost_amount))
    }

    fn same_read_pairs(&mut self, key: u32, most: usize) -> Vec<LostPair> {
        let mut pairs = self.examples.get(&key).cloned().unwrap_or_default();
        pairs.truncate(most);
        pairs
    }
}
