//! The one report model of a run: built once by the run, serialized as JSON (the source of
//! truth, pinned by `report.schema.json`) and rendered as Markdown and HTML.

use super::bench_model;
use super::isolation_model;
use super::path_model::*;
use crate::pg::migrate;
use crate::pg::provenance::GitState;
use crate::pg::schema::SchemaPlan;
use crate::scenario::Strategy;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Bumped when a key changes meaning or disappears; adding keys keeps the version.
///
/// 2: an index benchmark's report no longer carries a race's `settings` (filled with
/// placeholders) and an empty `paths`; what it ran with is in `index_bench`, which gains
/// `missing_share`. Race reports are unchanged. Version 1 reports still load.
pub const SCHEMA_VERSION: u32 = 2;

/// The oldest report version this loadtest still reads.
pub const OLDEST_READABLE: u32 = 1;

/// Whether every expectation of a run held, or whether a signal stopped it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// SIGINT or SIGTERM stopped the run: a partial report of the paths that ran, the last one
    /// cut short (its calls in flight waited for, or booked as of unknown outcome).
    Interrupted,
}

impl Verdict {
    /// Pass when there is no failure.
    pub fn of(failures: &[String]) -> Verdict {
        if failures.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }

    /// Pass when every one passed.
    pub fn all(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        if verdicts.into_iter().all(|v| v == Verdict::Pass) {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }

    pub fn passed(self) -> bool {
        self == Verdict::Pass
    }

    /// "PASS" or "FAIL", as the pages show it.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Interrupted => "INTERRUPTED",
        }
    }

    /// "pass" or "fail", as the JSON has it.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

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
    pub verdict: Verdict,
    /// What ran: a race's settings and paths, or an index benchmark's queries.
    #[serde(flatten)]
    pub body: Body,
    pub database: Database,
    pub migrations: Migrations,
    /// Things a reader should know that did not fail the run.
    pub warnings: Vec<String>,
    /// Every expectation that did not hold, one sentence each.
    pub failures: Vec<String>,
    /// The command line, with secrets redacted.
    pub command_line: String,
    /// The machine the client ran on.
    #[serde(default)]
    pub machine: Machine,
}

/// What every run knows about itself, whatever its kind.
pub struct Run<'a> {
    pub scenario: &'a str,
    pub scenario_origin: &'a str,
    pub description: &'a str,
    pub run_id: &'a str,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// When the run began, for its duration.
    pub began: std::time::Instant,
    pub command_line: &'a str,
}

/// A run's report but for its kind: where it ran and what it found.
pub struct Findings {
    pub database: Database,
    pub migrations: Migrations,
    pub failures: Vec<String>,
    pub warnings: Vec<String>,
}

impl Report {
    /// The report of a finished run: its verdict follows from the failures.
    pub fn new(run: Run, body: Body, f: Findings) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool::current(),
            scenario: run.scenario.to_string(),
            scenario_origin: run.scenario_origin.to_string(),
            description: run.description.to_string(),
            run_id: run.run_id.to_string(),
            started_at: run
                .started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            duration_s: (run.began.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            verdict: Verdict::of(&f.failures),
            body,
            database: f.database,
            migrations: f.migrations,
            warnings: f.warnings,
            failures: f.failures,
            command_line: run.command_line.to_string(),
            machine: Machine::current(),
        }
    }

    /// Marks a run a signal stopped: its verdict is `interrupted`, and a warning says what the
    /// numbers cover.
    pub fn interrupted(&mut self, signal: &str) {
        self.verdict = Verdict::Interrupted;
        self.warnings.push(format!(
            "interrupted by {signal}: a partial report; the last path's load stopped early, its \
                calls in flight were waited for or counted as of unknown outcome"
        ));
    }

    /// The race's settings and paths; `None` for an index benchmark.
    pub fn race(&self) -> Option<&RaceBody> {
        match &self.body {
            Body::Race(r) => Some(r),
            Body::IndexBench(_) | Body::Isolation(_) => None,
        }
    }

    /// The isolation run's findings and attempts; `None` for other kinds.
    pub fn isolation(&self) -> Option<&isolation_model::IsolationBody> {
        match &self.body {
            Body::Isolation(i) => Some(i),
            Body::Race(_) | Body::IndexBench(_) => None,
        }
    }

    /// The index benchmark's queries and settings; `None` for a race.
    pub fn bench(&self) -> Option<&bench_model::BenchBody> {
        match &self.body {
            Body::IndexBench(b) => Some(b),
            Body::Race(_) | Body::Isolation(_) => None,
        }
    }

    /// The race's settings and paths, to change them; `None` for an index benchmark.
    pub fn race_mut(&mut self) -> Option<&mut RaceBody> {
        match &mut self.body {
            Body::Race(r) => Some(r),
            Body::IndexBench(_) | Body::Isolation(_) => None,
        }
    }

    /// A race's paths; none for an index benchmark.
    pub fn paths(&self) -> &[PathReport] {
        self.race().map_or(&[], |r| &r.paths)
    }
}

/// The part of a report that depends on its kind. In the JSON its keys sit beside the common
/// ones; a report with `index_bench` is an index benchmark, one with `isolation` a tenant
/// isolation run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
#[allow(clippy::large_enum_variant)]
pub enum Body {
    IndexBench(bench_model::BenchBody),
    Isolation(isolation_model::IsolationBody),
    Race(RaceBody),
}

/// A race: how it ran, and one entry per path (per path and strategy in a matrix).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RaceBody {
    pub settings: Settings,
    pub paths: Vec<PathReport>,
    /// What `--faults` injected, and what the pool did about it; null without faults.
    #[serde(default)]
    pub faults: Option<FaultsReport>,
    /// `--rollout`: the migrations applied while the load ran, statement by statement, and
    /// what they cost the load. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<super::rollout_model::RolloutReport>,
}

/// The faults of a run (`--faults`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FaultsReport {
    /// The spec, normalised (e.g. `kill:200ms,cut:300ms`).
    pub spec: String,
    /// Faults injected, by kind (`kill`, `cancel`, `timeout`: calls it ended, `cut`,
    /// `restart`), over every path.
    pub injected: BTreeMap<String, u64>,
    pub pool: PoolReport,
}

/// What the connection pool did under the faults.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PoolReport {
    /// Connections opened after the first `--connections` (to replace broken ones).
    pub connections_replaced: u64,
    /// Seconds (in 0.25 s intervals) in which no call completed, over every path.
    pub seconds_stalled: f64,
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
    pub key_choice: KeyChoice,
    /// The hot share (hot) or the exponent s (zipf).
    pub key_parameter: Option<f64>,
    /// Share of calls sent for keys that do not exist, on purpose.
    pub absent_share: f64,
    pub load_model: LoadModel,
    /// Calls per second of the open model.
    pub rate: Option<f64>,
    pub mode: Mode,
    /// Read-modify-write strategy (`--strategy`), and retries allowed per call (`--retry`).
    pub strategy: Strategy,
    pub retry: u32,
    /// How calls went over the wire (`--query-mode`); reports from before it was a flag used
    /// named prepared statements.
    #[serde(default)]
    pub query_mode: QueryMode,
    /// Each call also recorded its id in the run's ledger (`--ledger`).
    #[serde(default)]
    pub ledger: bool,
    /// Client threads the loads ran on (`--threads`); absent in reports from before the lanes
    /// and in a merged sharded run (each shard's machine chose its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_threads: Option<usize>,
    /// A sharded run (`prepare`, `run --shard I/N`, `verify`): N, the shards merged; absent
    /// for a run on one machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<u32>,
}

/// How calls went over the wire: named prepared statements, the unnamed statement with typed
/// parameters, or the simple query protocol with literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryMode {
    #[default]
    Prepared,
    Extended,
    Simple,
}

impl QueryMode {
    pub fn name(self) -> &'static str {
        match self {
            QueryMode::Prepared => "prepared",
            QueryMode::Extended => "extended",
            QueryMode::Simple => "simple",
        }
    }
}

/// How keys were drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyChoice {
    Hot,
    Uniform,
    Zipf,
}

/// Closed: workers wait for each answer; open: calls start at a fixed rate (`--rate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadModel {
    Closed,
    Open,
}

/// Paths one after another, every read-modify-write path under every strategy, or all paths
/// at once on the same rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Sequential,
    Matrix,
    Mixed,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Sequential => "sequential",
            Mode::Matrix => "matrix",
            Mode::Mixed => "mixed",
        }
    }
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
    /// The connection's TLS as the server saw it; `None` when plaintext (and in older reports).
    #[serde(default)]
    pub tls: Option<Tls>,
}

/// A TLS connection: what the server negotiated and how much loadtest checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tls {
    /// e.g. "TLSv1.3", from `pg_stat_ssl`.
    pub version: String,
    /// e.g. "TLS_AES_256_GCM_SHA384", from `pg_stat_ssl`.
    pub cipher: String,
    /// "none" (allow, prefer, require), "ca" (verify-ca, require with sslrootcert) or "full"
    /// (verify-full).
    pub verified: String,
    /// Whether the server saw a client certificate (`pg_stat_ssl.client_dn`); false in older
    /// reports.
    #[serde(default)]
    pub client_cert: bool,
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

/// The combined report of `loadtest nightly`: one run report per scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NightlyReport {
    pub schema_version: u32,
    /// Always "nightly".
    pub kind: String,
    pub started_at: String,
    pub duration_s: f64,
    /// Pass when every run passed.
    pub verdict: Verdict,
    pub runs: Vec<Report>,
}
