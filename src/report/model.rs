//! The one report model of a run: built once by the run, serialized as JSON (the source of
//! truth, pinned by `report.schema.json`) and rendered as Markdown and HTML.

use super::bench_model;
use crate::pg::migrate;
use crate::pg::provenance::GitState;
use crate::pg::schema::SchemaPlan;
use crate::stats::LatencyUs;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// The machine the client ran on.
    #[serde(default)]
    pub machine: Machine,
    /// Index benchmarks: one entry per query (races: absent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<bench_model::QueryReport>,
    /// Index benchmarks: foreign keys of the migrated schema still without a supporting index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unindexed_foreign_keys: Option<Vec<bench_model::ForeignKeyReport>>,
    /// Index benchmarks: rows per second of the data load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_rows_per_s: Option<f64>,
    /// Index benchmarks: how it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_bench: Option<bench_model::IndexBench>,
}

/// Where a run ran: numbers from different machines are not comparable.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    pub cores: usize,
    pub memory_mib: u64,
    pub os: String,
}

impl Machine {
    pub fn current() -> Machine {
        let memory_kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| {
                        l.split_whitespace()
                            .nth(1)
                            .and_then(|v| v.parse::<u64>().ok())
                    })
            })
            .unwrap_or(0);
        Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_mib: memory_kib / 1024,
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Tool {
    /// This build of loadtest.
    pub fn current() -> Tool {
        Tool {
            name: "loadtest".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// Calls per path (`--ops`); null when the run was timed with `--duration`.
    pub ops: Option<u64>,
    /// Seconds per path (`--duration`), if timed.
    pub duration_s: Option<f64>,
    pub workers: usize,
    pub connections: usize,
    pub seed: u64,
    pub rows: u32,
    /// "hot", "uniform" or "zipf".
    pub key_choice: String,
    /// The hot share (hot) or the exponent s (zipf).
    pub key_parameter: Option<f64>,
    /// Share of calls sent for keys that do not exist, on purpose.
    pub absent_share: f64,
    /// "closed" (workers wait for each answer) or "open" (calls at a fixed rate).
    pub load_model: String,
    /// Calls per second of the open model.
    pub rate: Option<f64>,
    /// "sequential" (paths one after another), "matrix" or "mixed" (all paths at once).
    pub mode: String,
    /// Read-modify-write strategy (`--strategy`), and retries allowed per call (`--retry`).
    pub strategy: String,
    pub retry: u32,
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
    /// The folder's git commit and whether it had uncommitted changes (builtin: the commit
    /// loadtest was built from); null when unknown (no git, not a repository, older reports).
    #[serde(default)]
    pub git: Option<GitState>,
}

impl Migrations {
    /// The report's record of the schema: where it came from, its fingerprint, each file applied.
    pub fn of(schema: &SchemaPlan, applied: &[migrate::Applied]) -> Migrations {
        Migrations {
            source: schema.source.clone(),
            compat: if schema.compat { "supabase" } else { "none" }.into(),
            fingerprint: migrate::fingerprint(&schema.migrations),
            files: applied
                .iter()
                .map(|a| MigrationEntry {
                    version: a.version.clone(),
                    name: a.name.clone(),
                    checksum: a.checksum.clone(),
                    duration_ms: (a.duration.as_secs_f64() * 10_000.0).round() / 10.0,
                })
                .collect(),
            git: schema.git.clone(),
        }
    }
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
    /// The path's name, with `@strategy` in a matrix and `@mixed` in a mixed run.
    pub name: String,
    /// The scenario's path name.
    pub path: String,
    /// "rpc" or "read-modify-write".
    pub kind: String,
    /// The read-modify-write strategy ("none", "read-committed", ..., "for-update"); "n/a" for an RPC.
    pub strategy: String,
    /// "exact" or "lossy".
    pub expect: String,
    pub ops_ok: u64,
    pub ops_failed: u64,
    /// Transactions tried again after 40001/40P01 (`--retry`).
    pub retries: u64,
    /// Open model: calls that started more than 1 ms after they were due (the server could not
    /// keep up; their latency counts from when they were due).
    pub late_starts: u64,
    /// Open model with --duration: calls due before the end that never started.
    pub not_started: u64,
    pub duration_s: f64,
    pub throughput_ops_s: f64,
    /// Calls/s over each successive 0.25 s of the path (all paths together in a mixed run): the
    /// run's own spread, used by `report compare`.
    #[serde(default)]
    pub throughput_samples: Vec<f64>,
    /// Per acknowledged call, from issue to acknowledgement, including the wait for a pooled
    /// connection (what the application would see).
    pub latency_us: LatencyUs,
    /// The latency distribution at log-spaced percentiles (0, 90, 99, 99.9, … and in between),
    /// as `[percentile, µs]` pairs: the HdrHistogram-style percentile curve.
    #[serde(default)]
    pub latency_percentiles: Vec<[f64; 2]>,
    /// The path's HdrHistogram interval log (`<report>.<path>.hlog`, beside the JSON): latency
    /// of acknowledged calls per second. Null until written, and for older reports.
    #[serde(default)]
    pub hlog: Option<String>,
    /// The per-second histograms behind `hlog`, from the run until `write` saves them.
    #[serde(skip)]
    pub intervals: Option<std::sync::Arc<super::hlog::IntervalLog>>,
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
    /// Calls sent on purpose for keys that do not exist (when the scenario's absent_share > 0).
    pub absent_keys: Option<AbsentReport>,
    /// Read-modify-write paths: what the witnesses show (null for opaque RPCs).
    pub witnesses: Option<WitnessReport>,
    /// Mixed runs: this exact path's increments erased by a lossy path running beside it.
    pub erased_by_other_paths: Option<u64>,
    /// Read-modify-write calls whose witness was not kept (past the memory cap): when non-zero,
    /// `lost_updates` is a lower bound.
    #[serde(default)]
    pub witnesses_dropped: u64,
    pub expectation_held: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AbsentReport {
    pub sent: u64,
    /// Refused by the function, as they should be.
    pub rejected: u64,
    /// Acknowledged although the key does not exist: the function silently did nothing.
    pub accepted: u64,
    pub errors: Vec<ErrorReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WitnessReport {
    /// Per counter column, the deltas of the calls the witnesses show were overwritten.
    pub lost_amount: Vec<String>,
    /// Whether that equals the `missing` the totals show, column by column.
    pub agrees_with_totals: bool,
    /// A few lost updates, as Elle names them: two acknowledged calls on one row that read the
    /// same value and both wrote.
    pub examples: Vec<LostPairReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LostPairReport {
    pub key: String,
    pub read: Vec<String>,
    pub first_delta: Vec<String>,
    pub second_delta: Vec<String>,
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

/// The combined report of `loadtest nightly`: one run report per scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NightlyReport {
    pub schema_version: u32,
    /// Always "nightly".
    pub kind: String,
    pub started_at: String,
    pub duration_s: f64,
    /// "pass" when every run passed.
    pub verdict: String,
    pub runs: Vec<Report>,
}
