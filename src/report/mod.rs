//! The one report model of a run. Built once by `app`, rendered as JSON (the source of truth)
//! and Markdown; renderers never touch the database.

pub mod bench;
mod bench_view;
pub mod compare;
mod compare_bench;
mod html;
mod markdown;

pub use html::render as html;

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
    /// The machine the client ran on.
    #[serde(default)]
    pub machine: Machine,
    /// Index benchmarks: one entry per query (races: absent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<bench::QueryReport>,
    /// Index benchmarks: foreign keys of the migrated schema still without a supporting index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unindexed_foreign_keys: Option<Vec<bench::ForeignKeyReport>>,
    /// Index benchmarks: rows per second of the data load.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_rows_per_s: Option<f64>,
    /// Index benchmarks: how it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_bench: Option<bench::IndexBench>,
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

/// Benchmark-tracker views of a set of runs: the `name`/`unit`/`value` lists of the GitHub
/// benchmark action (one bigger-is-better, one smaller-is-better) and bencher's metric format.
pub fn trackers(runs: &[Report]) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
    use serde_json::json;
    let (mut bigger, mut smaller, mut bmf) = (Vec::new(), Vec::new(), serde_json::Map::new());
    for r in runs {
        for p in &r.paths {
            let name = format!("{}/{}", r.scenario, p.name);
            bigger.push(json!({"name": format!("{name} throughput"), "unit": "ops/s", "value": p.throughput_ops_s}));
            smaller.push(
                json!({"name": format!("{name} p99"), "unit": "us", "value": p.latency_us.p99}),
            );
            smaller.push(
                json!({"name": format!("{name} p50"), "unit": "us", "value": p.latency_us.p50}),
            );
            bmf.insert(
                name,
                json!({
                    "throughput": {"value": p.throughput_ops_s},
                    "latency": {"value": p.latency_us.p50 as f64 * 1000.0, "upper_value": p.latency_us.p99 as f64 * 1000.0},
                    "lost_updates": {"value": p.lost_updates},
                }),
            );
        }
        for q in &r.queries {
            let name = format!("{}/{}", r.scenario, q.name);
            smaller.push(
                json!({"name": format!("{name} after median"), "unit": "ms", "value": q.after_ms}),
            );
            bigger
                .push(json!({"name": format!("{name} speedup"), "unit": "x", "value": q.speedup}));
            bmf.insert(
                name,
                json!({
                    "latency": {"value": q.after_ms * 1e6, "upper_value": q.after_p95_ms * 1e6},
                    "speedup": {"value": q.speedup, "lower_value": q.speedup_ci[0], "upper_value": q.speedup_ci[1]},
                }),
            );
        }
    }
    (
        json!(bigger),
        json!(smaller),
        serde_json::Value::Object(bmf),
    )
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

/// A folder's state in git.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitState {
    /// `git rev-parse HEAD` of the work tree holding the folder.
    pub commit: String,
    /// Whether `git status --porcelain -- <folder>` listed anything (modified, staged, deleted
    /// or untracked files).
    pub dirty: bool,
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
    pub intervals: Option<std::sync::Arc<crate::hlog::IntervalLog>>,
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

/// Reads a saved report, refusing (exit 2) what this loadtest cannot read.
pub fn load(path: &Path) -> Result<Report, crate::Error> {
    load_json(path)
}

/// Reads a saved combined nightly report.
pub fn load_nightly(path: &Path) -> Result<NightlyReport, crate::Error> {
    load_json(path)
}

fn load_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, crate::Error> {
    use crate::Error;
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    let shown = path.display();
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::Input(format!(
            "{shown}:{}:{}: not a complete JSON report ({e}); was the file truncated?",
            e.line(),
            e.column()
        ))
    })?;
    match value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(v) if v == u64::from(SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(Error::Input(format!(
                "{shown}: report schema_version {v}; this loadtest reads schema_version {SCHEMA_VERSION} (rerun the scenario to get a current report)"
            )));
        }
        None => {
            return Err(Error::Input(format!(
                "{shown}: not a loadtest report (no schema_version)"
            )));
        }
    }
    serde_json::from_value(value)
        .map_err(|e| Error::Input(format!("{shown}: not this kind of loadtest report: {e}")))
}

/// The files one run wrote.
pub struct Written {
    pub json: PathBuf,
    pub markdown: PathBuf,
    pub html: PathBuf,
}

/// Writes `<dir>/<scenario>-<UTC timestamp>.json`, `.md`, `.html` and one
/// `.<path>.hlog` per path with interval histograms (named in the report's `hlog` keys), never
/// overwriting an earlier report (a second run in the same second gets a `-2` suffix).
pub fn write(report: &mut Report, dir: &Path, stamp: &str) -> Result<Written, crate::Error> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| crate::Error::WriteFile { path, source }
    };
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    for n in 1.. {
        let base = if n == 1 {
            format!("{}-{stamp}", report.scenario)
        } else {
            format!("{}-{stamp}-{n}", report.scenario)
        };
        let json_path = dir.join(format!("{base}.json"));
        let md_path = dir.join(format!("{base}.md"));
        let html_path = dir.join(format!("{base}.html"));
        use std::io::Write;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&json_path)
        {
            Ok(mut f) => {
                write_hlogs(report, dir, &base)?;
                let json = serde_json::to_string_pretty(report).expect("report serialises");
                let md = markdown(report);
                f.write_all(json.as_bytes()).map_err(err(&json_path))?;
                f.write_all(b"\n").map_err(err(&json_path))?;
                std::fs::write(&md_path, &md).map_err(err(&md_path))?;
                std::fs::write(&html_path, html(report)).map_err(err(&html_path))?;
                return Ok(Written {
                    json: json_path,
                    markdown: md_path,
                    html: html_path,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(err(&json_path)(e)),
        }
    }
    unreachable!("1.. is endless")
}

/// Writes each path's interval log as `<dir>/<base>.<path>.hlog` and names it in the path's
/// `hlog` key (relative to the JSON's folder).
fn write_hlogs(report: &mut Report, dir: &Path, base: &str) -> Result<(), crate::Error> {
    let about = format!(
        "Logged with loadtest {}: scenario {}, run {}; latency of acknowledged calls in microseconds",
        report.tool.version, report.scenario, report.run_id
    );
    for p in &mut report.paths {
        let Some(log) = &p.intervals else { continue };
        let safe: String = p
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_@".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let name = format!("{base}.{safe}.hlog");
        let path = dir.join(&name);
        let mut text = Vec::new();
        log.write(&mut text, &format!("{about}, path {}", p.name))
            .and_then(|()| std::fs::write(&path, &text))
            .map_err(|source| crate::Error::WriteFile { path, source })?;
        p.hlog = Some(name);
    }
    Ok(())
}
