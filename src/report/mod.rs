//! The one report model of a run. Built once by `app`, rendered as JSON (the source of truth)
//! and Markdown; renderers never touch the database.

mod markdown;

use crate::stats::LatencyUs;
pub use markdown::render as markdown;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bumped when a key changes meaning or disappears; adding keys keeps the version.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub scenario: String,
    pub scenario_origin: String,
    pub description: String,
    pub run_id: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub duration_s: f64,
    /// "pass" when every expectation held, else "fail".
    pub verdict: String,
    pub settings: Settings,
    pub database: Database,
    pub migrations: Migrations,
    pub paths: Vec<PathReport>,
    /// Things a reader should know that did not fail the run.
    pub warnings: Vec<String>,
    /// Every expectation that did not hold, one sentence each.
    pub failures: Vec<String>,
    /// The command line, with secrets redacted.
    pub command_line: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub ops: u64,
    pub workers: usize,
    pub connections: usize,
    pub seed: u64,
    pub rows: u32,
    /// "hot" or "uniform".
    pub key_choice: String,
    pub hot_share: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Database {
    /// "embedded" (a scratch cluster) or "external" (--database-url).
    pub mode: String,
    pub server_version: String,
    /// Server settings that change what the numbers mean.
    pub settings: BTreeMap<String, String>,
    /// Seconds the scratch cluster took to start (embedded only).
    pub start_s: Option<f64>,
    /// Whether it started from the cached initdb template (embedded only).
    pub from_template: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Migrations {
    /// "builtin" or the folder given with --migrations.
    pub source: String,
    /// "supabase" or "none".
    pub compat: String,
    /// SHA-256 over the applied files' versions and checksums.
    pub fingerprint: String,
    pub files: Vec<MigrationEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MigrationEntry {
    pub version: String,
    pub name: String,
    pub checksum: String,
    pub duration_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PathReport {
    pub name: String,
    /// "rpc" or "read-modify-write".
    pub kind: String,
    /// "exact" or "lossy".
    pub expect: String,
    pub ops_ok: u64,
    pub ops_failed: u64,
    pub duration_s: f64,
    pub throughput_ops_s: f64,
    /// Per acknowledged call, from issue to acknowledgement, including the wait for a pooled
    /// connection (what the application would see).
    pub latency_us: LatencyUs,
    pub counters: Vec<CounterReport>,
    /// Acknowledged increments whose effect is missing.
    pub lost_updates: u64,
    /// True when counted call by call from read-modify-write witnesses; false when it is the
    /// smallest number of calls that explains the missing amount (opaque RPC paths).
    pub lost_updates_exact: bool,
    /// Rows below / above every value their acknowledged calls allow.
    pub rows_short: u64,
    pub rows_over: u64,
    /// Failed calls by SQLSTATE (or `no_row`, `connection`), with the first message.
    pub errors: Vec<ErrorReport>,
    pub expectation_held: bool,
}

/// One counter column; decimals are strings so they stay exact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CounterReport {
    pub column: String,
    pub expected: String,
    pub actual: String,
    pub missing: String,
    pub extra: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorReport {
    pub sqlstate: String,
    pub count: u64,
    pub message: String,
}

/// The files one run wrote.
pub struct Written {
    pub json: PathBuf,
    pub markdown: PathBuf,
}

/// Writes `<dir>/<scenario>-<UTC timestamp>.json` and `.md`, never overwriting an earlier
/// report (a second run in the same second gets a `-2` suffix).
pub fn write(report: &Report, dir: &Path, stamp: &str) -> Result<Written, crate::Error> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| crate::Error::WriteFile { path, source }
    };
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    let json = serde_json::to_string_pretty(report).expect("report serialises");
    let md = markdown(report);
    for n in 1.. {
        let base = if n == 1 {
            format!("{}-{stamp}", report.scenario)
        } else {
            format!("{}-{stamp}-{n}", report.scenario)
        };
        let json_path = dir.join(format!("{base}.json"));
        let md_path = dir.join(format!("{base}.md"));
        use std::io::Write;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&json_path)
        {
            Ok(mut f) => {
                f.write_all(json.as_bytes()).map_err(err(&json_path))?;
                f.write_all(b"\n").map_err(err(&json_path))?;
                std::fs::write(&md_path, &md).map_err(err(&md_path))?;
                return Ok(Written {
                    json: json_path,
                    markdown: md_path,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(err(&json_path)(e)),
        }
    }
    unreachable!("1.. is endless")
}
