//! Read-modify-write witnesses, kept on disk so memory does not grow with the run.
//!
//! Every acknowledged read-modify-write call leaves a witness: its row, the values it read and
//! the values it wrote. Kept in memory they cost about 70 bytes a call (142.8 MB peak for a
//! 400,000-call token race); here each worker buffers a few KB of fixed-size records and
//! appends them to one unnamed temporary file (`tempfile::tempfile`: already unlinked, so it
//! disappears with the process on every exit path, even SIGKILL). At the end of the load the
//! file is sorted by (row, value written) in bounded memory (`sort`), and the oracle walks each
//! short row's chain of writes in it (`chain`).
//!
//! A record is `[row: u32 big-endian][written: 16 bytes per column][read: 16 bytes per column]`,
//! every value `Decimal::normalize`d and `Decimal::serialize`d, so two equal values have equal
//! bytes (1.50 and 1.5 alike). Calls that add nothing (every delta zero) leave no witness: they
//! cannot be lost and take no part in a chain.

mod chain;
mod sort;

pub use chain::Sorted;

use rust_decimal::Decimal;
use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// How many bytes of records a worker buffers before appending them to the file.
const FLUSH_AT: usize = 8 * 1024;

/// The byte layout of one record for `columns` counter columns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub columns: usize,
}

impl Layout {
    pub fn size(self) -> usize {
        4 + 32 * self.columns
    }
    pub fn key(self, rec: &[u8]) -> u32 {
        u32::from_be_bytes([rec[0], rec[1], rec[2], rec[3]])
    }
    pub fn written(self, rec: &[u8]) -> &[u8] {
        &rec[4..4 + 16 * self.columns]
    }
    pub fn read(self, rec: &[u8]) -> &[u8] {
        &rec[4 + 16 * self.columns..self.size()]
    }
}

/// Serialized values back to decimals.
pub(crate) fn decimals(bytes: &[u8]) -> Vec<Decimal> {
    bytes
        .chunks_exact(16)
        .map(|c| Decimal::deserialize(c.try_into().expect("16-byte chunks")))
        .collect()
}

/// What a record's call added: written − read, per column.
pub(crate) fn delta(layout: Layout, rec: &[u8]) -> Vec<Decimal> {
    decimals(layout.written(rec))
        .into_iter()
        .zip(decimals(layout.read(rec)))
        .map(|(w, r)| w - r)
        .collect()
}

/// Appends one value in the record encoding.
fn put(buf: &mut Vec<u8>, d: Decimal) {
    buf.extend_from_slice(&d.normalize().serialize());
}

/// The witnesses of one load: a temporary file every worker appends to.
pub struct Spill {
    layout: Layout,
    /// `None` once a write failed (or the file could not be created): from then on witnesses
    /// are counted as dropped and the lost-update count becomes a lower bound.
    file: Mutex<Option<File>>,
    records: AtomicU64,
}

impl Spill {
    /// A spill file for witnesses of `columns` columns, in the temp folder (`TMPDIR`).
    pub fn new(columns: usize) -> Arc<Spill> {
        Arc::new(Spill {
            layout: Layout { columns },
            file: Mutex::new(tempfile::tempfile().ok()),
            records: AtomicU64::new(0),
        })
    }

    /// A worker's buffer in front of the file.
    pub fn sink(self: &Arc<Spill>) -> Sink {
        Sink {
            spill: self.clone(),
            buf: Vec::new(),
            pending: 0,
            dropped: 0,
        }
    }

    /// Sorts what was spilled, once every sink has been finished. `None` when witnesses were
    /// lost to an I/O error (the sinks counted them as dropped) or the sort failed.
    pub fn finish(&self) -> io::Result<Sorted> {
        let file = self
            .file
            .lock()
            .map_err(|_| io::Error::other("witness spill lock poisoned"))?
            .take()
            .ok_or_else(|| io::Error::other("the witness spill file failed"))?;
        let records = self.records.load(Ordering::Relaxed);
        sort::sort(file, records, self.layout)
    }

    /// Records appended so far.
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }
}

/// One worker's buffer of witnesses.
pub struct Sink {
    spill: Arc<Spill>,
    buf: Vec<u8>,
    pending: u64,
    dropped: u64,
}

impl Sink {
    /// Keeps the witness of an acknowledged call on row `key` that read `read` and added
    /// `delta`.
    pub fn push(&mut self, key: u32, read: &[Decimal], delta: &[Decimal]) {
        let columns = self.spill.layout.columns;
        if delta.iter().all(Decimal::is_zero) {
            return;
        }
        if read.len() != columns || delta.len() != columns {
            self.dropped += 1;
            return;
        }
        self.buf.extend_from_slice(&key.to_be_bytes());
        for (r, d) in read.iter().zip(delta) {
            put(&mut self.buf, r.checked_add(*d).unwrap_or(Decimal::MAX));
        }
        for r in read {
            put(&mut self.buf, *r);
        }
        self.pending += 1;
        if self.buf.len() >= FLUSH_AT {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.pending == 0 {
            return;
        }
        let n = std::mem::take(&mut self.pending);
        let ok = match self.spill.file.lock() {
            Ok(mut file) => match file.as_mut().map(|f| f.write_all(&self.buf)) {
                Some(Ok(())) => true,
                Some(Err(_)) => {
                    // A partial write leaves a torn record: the file is useless from here.
                    *file = None;
                    false
                }
                None => false,
            },
            Err(_) => false,
        };
        if ok {
            self.spill.records.fetch_add(n, Ordering::Relaxed);
        } else {
            self.dropped += n;
        }
        self.buf.clear();
    }

    /// Appends what is buffered; returns how many witnesses this worker could not keep.
    pub fn finish(mut self) -> u64 {
        self.flush();
        self.dropped
    }
}

#[cfg(test)]
mod tests;
