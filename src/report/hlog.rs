//! Per-interval latency histograms of one path, and their HdrHistogram interval log (`.hlog`),
//! the format HdrHistogram's `HistogramLogProcessor` and the other HdrHistogram ports read.
//!
//! The summary percentiles hide *when* a run was slow; an interval log keeps one histogram per
//! second so a stall, a warm-up or a checkpoint shows up at its time. Workers hand in their
//! latencies of an interval when they see the next one begin; the collector records them into
//! one histogram per interval and keeps all but the newest few compressed (V2 deflate, 1–2 KB
//! per second of run), so memory stays small however long the run. A hand-in that arrives after
//! its interval was compressed (a worker whose call took seconds) is still merged exactly.
//!
//! Pure: no database, no runtime; the file is written by `report::write`.

use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::IntervalLogWriterBuilder;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::{Duration, SystemTime};

/// The length of one interval of the log.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// How many of the newest intervals stay uncompressed, to take hand-ins without recompressing.
const OPEN_INTERVALS: u64 = 3;

/// The interval a call completing `since_start` into the path belongs to.
pub fn interval_of(since_start: Duration) -> u64 {
    (since_start.as_nanos() / INTERVAL.as_nanos()) as u64
}

/// An empty auto-resizing histogram (3 significant digits, as the engine's).
fn empty() -> Histogram<u64> {
    Histogram::new(3).expect("valid histogram precision")
}

/// One path's latencies (µs), one histogram per interval.
pub struct IntervalLog {
    /// Wall clock at the path's start: the log's StartTime and BaseTime.
    start: SystemTime,
    /// How long the path ran (the last interval ends there); set by `finish`.
    length: Duration,
    open: BTreeMap<u64, Histogram<u64>>,
    /// V2 deflate serialized histograms.
    closed: BTreeMap<u64, Vec<u8>>,
}

impl std::fmt::Debug for IntervalLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntervalLog")
            .field("intervals", &(self.open.len() + self.closed.len()))
            .field("compressed_bytes", &self.compressed_bytes())
            .finish()
    }
}

impl IntervalLog {
    pub fn new(start: SystemTime) -> IntervalLog {
        IntervalLog {
            start,
            length: Duration::ZERO,
            open: BTreeMap::new(),
            closed: BTreeMap::new(),
        }
    }

    /// Records a worker's latencies (µs, at least 1) of interval `k`.
    pub fn add(&mut self, k: u64, values: &[u64]) {
        let merged = self.reopen(k);
        for &v in values {
            let _ = merged.record(v);
        }
        self.compress_old();
    }

    /// Interval `k`'s histogram, open for additions.
    fn reopen(&mut self, k: u64) -> &mut Histogram<u64> {
        match self.closed.remove(&k) {
            // Late: reopen it (deserialized histograms have fixed bounds; copy into an
            // auto-resizing one so the addition cannot overflow them).
            Some(bytes) => {
                let mut m = empty();
                if let Ok(old) = Deserializer::new().deserialize::<u64, _>(&mut &bytes[..]) {
                    let _ = m.add(&old);
                }
                self.open.insert(k, m);
                self.open.get_mut(&k).expect("just inserted")
            }
            None => self.open.entry(k).or_insert_with(empty),
        }
    }

    /// Compresses all but the newest `OPEN_INTERVALS` intervals.
    fn compress_old(&mut self) {
        let newest = self.open.keys().next_back().copied().unwrap_or(0);
        self.compress_before(newest.saturating_sub(OPEN_INTERVALS - 1));
    }

    /// Compresses every open interval before `k`. One that cannot be serialized (it cannot
    /// happen for latency counts) simply stays open.
    fn compress_before(&mut self, k: u64) {
        let old: Vec<u64> = self.open.range(..k).map(|(&i, _)| i).collect();
        for i in old {
            let mut bytes = Vec::new();
            if V2DeflateSerializer::new()
                .serialize(&self.open[&i], &mut bytes)
                .is_ok()
            {
                self.open.remove(&i);
                self.closed.insert(i, bytes);
            }
        }
    }

    /// Ends the log: the path ran `length`; everything is compressed.
    pub fn finish(&mut self, length: Duration) {
        self.length = length;
        self.compress_before(u64::MAX);
    }

    /// When the path started (the log's StartTime) and how long it ran.
    pub fn span(&self) -> (SystemTime, Duration) {
        (self.start, self.length)
    }

    /// Adds a whole histogram to interval `k` (a sharded run's merge: one shard's interval).
    pub fn add_histogram(&mut self, k: u64, h: &Histogram<u64>) {
        let _ = self.reopen(k).add(h);
        self.compress_old();
    }

    /// Every interval's histogram, in order.
    pub fn intervals(&self) -> Vec<(u64, Histogram<u64>)> {
        self.histograms().collect()
    }

    /// Bytes held compressed (for the memory bound's sake).
    pub fn compressed_bytes(&self) -> usize {
        self.closed.values().map(Vec::len).sum()
    }

    /// Every interval's histogram, in order.
    fn histograms(&self) -> impl Iterator<Item = (u64, Histogram<u64>)> + '_ {
        let keys: std::collections::BTreeSet<u64> = self
            .open
            .keys()
            .chain(self.closed.keys())
            .copied()
            .collect();
        keys.into_iter().filter_map(move |k| {
            let h = match (self.open.get(&k), self.closed.get(&k)) {
                (Some(h), _) => h.clone(),
                (None, Some(bytes)) => Deserializer::new().deserialize(&mut &bytes[..]).ok()?,
                (None, None) => return None,
            };
            Some((k, h))
        })
    }

    /// Writes the interval log: header comments, StartTime and BaseTime (the path's start; the
    /// interval timestamps are seconds since it), the column legend, then one line per interval
    /// that saw a call, values in µs. The last interval is as long as the path ran into it.
    pub fn write(&self, out: &mut impl Write, description: &str) -> io::Result<()> {
        let mut buf = Vec::new();
        let mut serializer = V2DeflateSerializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment(&format!("[{description}]"))
            .add_comment("[Histogram log format version 1.3]")
            .with_start_time(self.start)
            .with_base_time(self.start)
            .begin_log_with(&mut buf, &mut serializer)?;
        buf.extend_from_slice(
            b"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n",
        );
        {
            let mut log =
                IntervalLogWriterBuilder::new().begin_log_with(&mut buf, &mut serializer)?;
            for (k, h) in self.histograms() {
                let from = INTERVAL * k as u32;
                let length = if self.length > from {
                    (self.length - from).min(INTERVAL)
                } else {
                    INTERVAL
                };
                log.write_histogram(&h, from, length, None)
                    .map_err(|e| io::Error::other(e.to_string()))?;
            }
        }
        out.write_all(&buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    #[test]
    fn intervals_merge_compress_and_read_back_with_every_count() {
        let mut log = IntervalLog::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        log.add(0, &[100, 200]);
        log.add(0, &[300]);
        for k in 1..10 {
            log.add(k, &[k * 1000]);
        }
        // Interval 0 was compressed long ago; a late hand-in is still merged exactly, even one
        // far beyond the compressed histogram's range.
        assert!(log.closed.contains_key(&1));
        log.add(0, &[50_000_000]);
        log.finish(Duration::from_millis(9_500));
        assert!(log.open.is_empty());
        let mut text = Vec::new();
        log.write(&mut text, "test").unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.starts_with(
            "#[test]\n#[Histogram log format version 1.3]\n#[StartTime: 1700000000.000"
        ));
        assert!(text.contains("\n\"StartTimestamp\",\"Interval_Length\""));
        let mut counts = Vec::new();
        let mut starts = Vec::new();
        for e in IntervalLogIterator::new(text.as_bytes()) {
            if let LogEntry::Interval(i) = e.unwrap() {
                let bytes = base64::Engine::decode(
                    &base64::engine::general_purpose::STANDARD,
                    i.encoded_histogram(),
                )
                .unwrap();
                let h: Histogram<u64> = Deserializer::new().deserialize(&mut &bytes[..]).unwrap();
                counts.push(h.len());
                starts.push((
                    i.start_timestamp().as_secs_f64(),
                    i.duration().as_secs_f64(),
                ));
            }
        }
        assert_eq!(counts, [4, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        assert_eq!(starts[0], (0.0, 1.0));
        assert_eq!(starts[9], (9.0, 0.5));
    }
}
