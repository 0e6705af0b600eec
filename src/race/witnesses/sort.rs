//! Sorting the spilled witnesses by (row, value written) in bounded memory: an external merge
//! sort. Chunks of at most `CHUNK_BYTES` are sorted in memory and written out as runs; runs are
//! merged `FAN_IN` at a time until one is left. Then one sequential pass records where each row's
//! records are and the sum of their deltas. Memory: one chunk, or `FAN_IN` read buffers, plus a
//! few dozen bytes per row of the table — never per call.
//!
//! Examples of lost updates (two calls on one row that read the same value) are picked up here,
//! while a chunk is in memory, up to `chain::EXAMPLES` per row.

use super::chain::{EXAMPLES, Row, Sorted};
use super::{Layout, decimals, delta};
use crate::race::oracle::LostPair;
use rust_decimal::Decimal;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

/// The most bytes of records sorted in memory at once (small in unit tests, so that a few
/// thousand records take several runs and merge passes).
#[cfg(not(test))]
pub(super) const CHUNK_BYTES: usize = 8 << 20;
#[cfg(test)]
pub(super) const CHUNK_BYTES: usize = 16 << 10;
/// The most runs merged at once (each with a `READ_BUFFER`).
#[cfg(not(test))]
const FAN_IN: usize = 64;
#[cfg(test)]
pub(super) const FAN_IN: usize = 4;
const READ_BUFFER: usize = 32 << 10;

/// Sorts the `records` records of `spill`.
pub(super) fn sort(spill: File, records: u64, layout: Layout) -> io::Result<Sorted> {
    sort_in(
        spill,
        records,
        layout,
        CHUNK_BYTES,
        FAN_IN,
        &mut Shape::default(),
    )
}

/// How a sort went: what bounds its memory and its open files.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Shape {
    /// Runs written from chunks sorted in memory.
    pub runs: usize,
    /// Merges made, and the most runs any one of them read at once.
    pub merges: usize,
    pub widest_merge: usize,
}

/// [`sort`] with chunks of at most `chunk_bytes` and merges of at most `fan_in` runs; `shape`
/// records how it went (the unit tests hold it to those bounds).
pub(super) fn sort_in(
    mut spill: File,
    records: u64,
    layout: Layout,
    chunk_bytes: usize,
    fan_in: usize,
    shape: &mut Shape,
) -> io::Result<Sorted> {
    let size = layout.size();
    spill.seek(SeekFrom::Start(0))?;
    let chunk_records = (chunk_bytes / size).max(1);
    let mut examples: HashMap<u32, Vec<LostPair>> = HashMap::new();
    let mut runs = Vec::new();
    let mut left = records;
    let mut chunk = Vec::new();
    while left > 0 {
        let n = (chunk_records as u64).min(left) as usize;
        chunk.resize(n * size, 0);
        spill.read_exact(&mut chunk)?;
        left -= n as u64;
        find_examples(&chunk, layout, &mut examples);
        runs.push(sorted_run(&chunk, layout)?);
    }
    drop(chunk);
    drop(spill);
    shape.runs = runs.len();
    let mut merge = |runs: Vec<File>| {
        shape.merges += 1;
        shape.widest_merge = shape.widest_merge.max(runs.len());
        merge(runs, layout)
    };
    while runs.len() > fan_in {
        let rest = runs.split_off(fan_in);
        let merged = merge(runs)?;
        runs = rest;
        runs.push(merged);
    }
    let mut file = match runs.len() {
        0 => tempfile::tempfile()?,
        1 => runs.pop().expect("one run"),
        _ => merge(runs)?,
    };
    let rows = index(&mut file, layout)?;
    Ok(Sorted::new(file, layout, rows, examples))
}

/// One chunk, sorted, as a run file.
fn sorted_run(chunk: &[u8], layout: Layout) -> io::Result<File> {
    let size = layout.size();
    let mut order: Vec<&[u8]> = chunk.chunks_exact(size).collect();
    order.sort_unstable();
    let mut out = BufWriter::new(tempfile::tempfile()?);
    for rec in order {
        out.write_all(rec)?;
    }
    out.into_inner().map_err(|e| e.into_error())
}

/// Pairs of records of one row in `chunk` that read the same value.
fn find_examples(chunk: &[u8], layout: Layout, examples: &mut HashMap<u32, Vec<LostPair>>) {
    let mut order: Vec<&[u8]> = chunk.chunks_exact(layout.size()).collect();
    fn by_read(layout: Layout, r: &[u8]) -> (u32, &[u8]) {
        (layout.key(r), layout.read(r))
    }
    order.sort_by(|a, b| by_read(layout, a).cmp(&by_read(layout, b)));
    for group in order.chunk_by(|a, b| by_read(layout, a) == by_read(layout, b)) {
        let Some((first, rest)) = group.split_first() else {
            continue;
        };
        let key = layout.key(first);
        for second in rest {
            let have = examples.entry(key).or_default();
            if have.len() >= EXAMPLES {
                break;
            }
            have.push(LostPair {
                key,
                read: decimals(layout.read(first)),
                first_delta: delta(layout, first),
                second_delta: delta(layout, second),
            });
        }
    }
}

/// Merges sorted runs into one.
fn merge(runs: Vec<File>, layout: Layout) -> io::Result<File> {
    let size = layout.size();
    let mut readers = Vec::with_capacity(runs.len());
    let mut heap = BinaryHeap::new();
    for (i, mut f) in runs.into_iter().enumerate() {
        f.seek(SeekFrom::Start(0))?;
        let mut r = BufReader::with_capacity(READ_BUFFER, f);
        if let Some(rec) = next(&mut r, size)? {
            heap.push(Reverse((rec, i)));
        }
        readers.push(r);
    }
    let mut out = BufWriter::new(tempfile::tempfile()?);
    while let Some(Reverse((rec, i))) = heap.pop() {
        out.write_all(&rec)?;
        if let Some(rec) = next(&mut readers[i], size)? {
            heap.push(Reverse((rec, i)));
        }
    }
    out.into_inner().map_err(|e| e.into_error())
}

/// The next record of a run, or `None` at its end.
fn next(r: &mut impl Read, size: usize) -> io::Result<Option<Box<[u8]>>> {
    let mut rec = vec![0; size].into_boxed_slice();
    match r.read_exact(&mut rec) {
        Ok(()) => Ok(Some(rec)),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Where each row's records are in the sorted file, and the sum of their deltas.
fn index(file: &mut File, layout: Layout) -> io::Result<HashMap<u32, Row>> {
    file.seek(SeekFrom::Start(0))?;
    let mut r = BufReader::with_capacity(READ_BUFFER, &*file);
    let mut rows: HashMap<u32, Row> = HashMap::new();
    let mut at = 0u64;
    while let Some(rec) = next(&mut r, layout.size())? {
        let row = rows.entry(layout.key(&rec)).or_insert_with(|| Row {
            start: at,
            len: 0,
            delta_sum: vec![Decimal::ZERO; layout.columns],
        });
        row.len += 1;
        for (s, d) in row.delta_sum.iter_mut().zip(delta(layout, &rec)) {
            *s += d;
        }
        at += 1;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use std::io::{self, Read};

    /// A reader that fails as a disk does, not by ending.
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk error"))
        }
    }

    #[test]
    fn a_read_error_is_an_error_and_only_the_end_ends_a_run() {
        assert!(super::next(&mut Failing, 4).is_err());
        assert_eq!(super::next(&mut &[][..], 4).unwrap(), None);
        // A torn last record is the end of the run too (the file ends inside it).
        assert_eq!(super::next(&mut &[1u8, 2][..], 4).unwrap(), None);
        let rec = super::next(&mut &[1u8, 2, 3, 4, 5][..], 4).unwrap();
        assert_eq!(rec.as_deref(), Some(&[1u8, 2, 3, 4][..]));
    }
}
