//! HdrHistogram interval logs: a real run writes one `.hlog` per path beside its JSON, named in
//! the report, and reading it back with the hdrhistogram crate's own parser gives back every
//! acknowledged call.

use crate::util::*;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

/// (start s, length s, calls) per interval of an interval log.
fn intervals(text: &str) -> Vec<(f64, f64, u64)> {
    let mut out = Vec::new();
    for entry in IntervalLogIterator::new(text.as_bytes()) {
        if let LogEntry::Interval(i) = entry.expect("a well-formed interval log") {
            let bytes = base64::Engine::decode(
                &base64::engine::general_purpose::STANDARD,
                i.encoded_histogram(),
            )
            .unwrap();
            let h: Histogram<u64> = Deserializer::new().deserialize(&mut &bytes[..]).unwrap();
            out.push((
                i.start_timestamp().as_secs_f64(),
                i.duration().as_secs_f64(),
                h.len(),
            ));
        }
    }
    out
}

#[test]
fn each_path_writes_an_interval_log_holding_every_acknowledged_call() {
    let reports = tempfile::tempdir().unwrap();
    let out = run(&[
        "run",
        "token-race",
        "--duration",
        "2500ms",
        "--workers",
        "32",
        "--connections",
        "8",
        "--quiet",
        "--report-dir",
        reports.path().to_str().unwrap(),
        "--database-url",
        &shared().url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(reports.path());
    let json = std::fs::read_dir(reports.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .find(|n| n.ends_with(".json"))
        .unwrap();
    let stem = json.trim_end_matches(".json");
    let mut hlogs: Vec<String> = std::fs::read_dir(reports.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".hlog"))
        .collect();
    hlogs.sort();
    assert_eq!(
        hlogs,
        [format!("{stem}.fallback.hlog"), format!("{stem}.rpc.hlog")]
    );
    for name in ["rpc", "fallback"] {
        let p = path(&r, name);
        let file = p["hlog"].as_str().expect("hlog named in the report");
        assert_eq!(file, format!("{stem}.{name}.hlog"));
        let text = std::fs::read_to_string(reports.path().join(file)).unwrap();
        assert!(
            text.contains("#[Histogram log format version 1.3]"),
            "{text}"
        );
        assert!(text.contains("#[StartTime: ") && text.contains("#[BaseTime: "));
        let iv = intervals(&text);
        assert!(iv.len() >= 2, "{name}: 2.5 s in 1 s intervals: {iv:?}");
        let total: u64 = iv.iter().map(|i| i.2).sum();
        assert_eq!(total, p["ops_ok"].as_u64().unwrap(), "{name}: {iv:?}");
        for w in iv.windows(2) {
            assert!(w[0].0 < w[1].0, "intervals in order: {iv:?}");
        }
        assert!(iv.iter().all(|i| i.1 > 0.0 && i.1 <= 1.0), "{iv:?}");
    }
}
