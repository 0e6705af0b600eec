//! Peak memory of the `loadtest` process over a whole token race, by calls per path: the
//! README's memory table comes from here.
//!
//!     cargo bench --bench memory                 # 20000 and 200000 calls per path
//!     cargo bench --bench memory -- 20000 1000000
//!
//! Why a bench and not a test: the figure is a measurement of the release build on a given
//! machine, not a pass/fail property. Each run is `loadtest run token-race --ops N --quiet` on a
//! scratch cluster of its own (both paths: `rpc`, then the read-modify-write `fallback` with its
//! exact lost-update count; 256 workers on 64 connections). Peak RSS is the process's own
//! `VmHWM` (`/proc/<pid>/status`, the kernel's high-water mark of its resident set), read every
//! 50 ms until it exits: the high-water mark only grows, so the last reading holds every peak but
//! that of the last 50 ms (the cluster's shutdown). The scratch server is a separate process and
//! is not counted. Prints one Markdown row per size; asserts nothing.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `VmHWM` of `pid` in KiB, if it still runs.
fn high_water_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn main() {
    let sizes: Vec<u64> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![20_000, 200_000]
    } else {
        sizes
    };
    println!("| calls per path | peak RSS | wall time | fallback lost updates (exact) |");
    println!("|---:|---:|---:|---:|");
    for n in sizes {
        let reports = tempfile::tempdir().unwrap();
        let began = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_loadtest"))
            .args(["run", "token-race", "--quiet", "--ops", &n.to_string()])
            .arg("--report-dir")
            .arg(reports.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("run loadtest");
        let mut peak = 0;
        let status = loop {
            if let Some(kib) = high_water_kib(child.id()) {
                peak = peak.max(kib);
            }
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let wall = began.elapsed().as_secs_f64();
        assert!(
            status.success(),
            "loadtest run token-race --ops {n}: {status}"
        );
        let json = std::fs::read_dir(reports.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "json"))
            .expect("a JSON report");
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
        let lost = r["paths"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "fallback")
            .map_or(0, |p| p["lost_updates"].as_u64().unwrap_or(0));
        println!(
            "| {n} | {:.1} MiB | {wall:.1} s | {lost} |",
            peak as f64 / 1024.0
        );
    }
}
