//! One shard's results, as one JSON file: everything `verify` needs to judge the run exactly,
//! and nothing it would have to guess. Latencies are the HDR histogram itself (V2 serialization,
//! base64), so merging loses nothing; sums are exact decimals written as strings; witnesses are
//! kept up to a budget (past it, the merged lost-update count becomes a lower bound).

use super::ShardId;
use crate::error::{Error, Result};
use base64::Engine;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The partial file format's version.
pub const FORMAT: u32 = 1;
/// Most witnesses a shard keeps per load in its partial (about 60 bytes of JSON each).
pub const WITNESS_BUDGET: u64 = 2_000_000;

/// One shard's file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Partial {
    pub format: u32,
    pub run_id: String,
    pub shard: u32,
    pub shards: u32,
    /// `Manifest::checksum` of the run this shard ran.
    pub manifest_sha256: String,
    /// RFC 3339, UTC: when the shard passed the start line.
    pub started_at: String,
    /// False when the shard was interrupted: its counts cover what ran.
    pub complete: bool,
    /// Shards this one saw die at a barrier.
    pub saw_gone: Vec<u32>,
    pub loads: Vec<Load>,
}

/// Errors of one class, with the first message seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorCount {
    pub count: u64,
    pub message: String,
}

/// One row's sums: `(key index, calls, per-column sum)`.
pub type RowSum = (u32, u64, Vec<Decimal>);
/// One witness: `(key index, values read, deltas added)`.
pub type Witness = (u32, Vec<Decimal>, Vec<Decimal>);

/// One load (a path, a path under a strategy, or a path of a mixed run) as one shard ran it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Load {
    pub label: String,
    pub ops_ok: u64,
    pub ops_failed: u64,
    pub ops_indeterminate: u64,
    pub retries: u64,
    pub late_starts: u64,
    pub not_started: u64,
    pub elapsed_s: f64,
    pub throughput_samples: Vec<f64>,
    pub latency_p50_samples: Vec<f64>,
    /// The acknowledged calls' latencies (µs): an HdrHistogram, V2-serialized, base64.
    pub histogram: String,
    pub errors: BTreeMap<String, ErrorCount>,
    pub absent_sent: u64,
    pub absent_accepted: u64,
    pub absent_rejected: BTreeMap<String, ErrorCount>,
    pub acked: Vec<RowSum>,
    pub unknown_pos: Vec<RowSum>,
    pub unknown_neg: Vec<RowSum>,
    /// Every acknowledged read-modify-write call's witness; `None` for an RPC, or when they
    /// were not all kept (then `witnesses_dropped` > 0).
    pub witnesses: Option<Vec<Witness>>,
    pub witnesses_dropped: u64,
    /// `--ledger`: this shard's indeterminate calls the ledger (rows `load = n * N + I`)
    /// showed committed, and not committed; `None` without `--ledger`.
    pub ledger: Option<(u64, u64)>,
    /// The per-second interval histograms of the `.hlog` (index, V2 base64), and the wall clock
    /// (ms since the epoch) of the load's start.
    pub intervals: Vec<(u64, String)>,
    pub wall_start_ms: u64,
    pub interrupted: bool,
}

/// A histogram as the partial carries it.
pub fn encode_histogram(h: &Histogram<u64>) -> Result<String> {
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| Error::Environment(format!("cannot serialize a histogram: {e:?}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A histogram back from a partial.
pub fn decode_histogram(s: &str) -> std::result::Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| format!("histogram is not base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("histogram does not deserialize: {e:?}"))
}

impl Partial {
    /// The file name a shard writes in `--report-dir`.
    pub fn file_name(&self) -> String {
        format!(
            "partial-{}-shard-{}-of-{}.json",
            self.run_id, self.shard, self.shards
        )
    }

    pub fn id(&self) -> ShardId {
        ShardId {
            index: self.shard,
            count: self.shards,
        }
    }

    /// Writes the partial into `dir` (to a temporary name first, so a reader never sees half
    /// of it); returns its path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join(self.file_name());
        let tmp = dir.join(format!(".{}.tmp", self.file_name()));
        let json = serde_json::to_vec(self)
            .map_err(|e| Error::Environment(format!("cannot encode the partial report: {e}")))?;
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| {
                let _ = std::fs::remove_file(&tmp);
                Error::WriteFile {
                    path: path.clone(),
                    source,
                }
            })?;
        Ok(path)
    }

    /// Reads a partial; a file that is not one is refused with its path (exit 2).
    pub fn read(path: &Path) -> Result<Partial> {
        let bytes = std::fs::read(path).map_err(|source| Error::ReadFile {
            path: path.to_path_buf(),
            source,
        })?;
        let p: Partial = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Input(format!(
                "{}: not a loadtest partial report ({e}); pass the JSON files `loadtest run \
                 --shard` wrote",
                path.display()
            ))
        })?;
        if p.format != FORMAT {
            return Err(Error::Input(format!(
                "{}: partial format {} (this loadtest reads {FORMAT}); use the same loadtest \
                 version for run and verify",
                path.display(),
                p.format
            )));
        }
        for l in &p.loads {
            decode_histogram(&l.histogram).map_err(|m| {
                Error::Input(format!("{}: load '{}': {m}", path.display(), l.label))
            })?;
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_round_trip_without_loss() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for v in [1u64, 17, 999, 123_456, 59_000_000] {
            h.record_n(v, v % 7 + 1).unwrap();
        }
        let back = decode_histogram(&encode_histogram(&h).unwrap()).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.len(), h.len());
    }
}
