//! Scenarios as data: the model of one `scenarios/<name>.toml` file, and how a name on the
//! command line is resolved to a file (a path, `./scenarios/<name>.toml`, or a built-in copy).
//!
//! Pure: no database, no runtime. `parse` turns TOML into a validated [`Scenario`] or an error
//! that names the file, line and column.

pub mod bench;
mod generators;
pub mod isolation;
mod parse;
pub mod rollout;

pub use bench::BenchScenario;
pub use isolation::IsolationScenario;
pub use parse::{ScenarioError, parse};
pub use rollout::RolloutScenario;
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};

/// The scenarios compiled into the binary (this repository's `scenarios/`).
pub const BUILTIN: &[(&str, &str)] = crate::builtin::SCENARIOS;

/// Any scenario file: a counter race (the default kind) or an index benchmark.
#[derive(Debug, Clone)]
pub enum Loaded {
    Race(Scenario),
    IndexBench(BenchScenario),
    Isolation(IsolationScenario),
    Rollout(RolloutScenario),
}

/// Parses a scenario file of either kind, told apart by its top-level `kind` key.
pub fn load(origin: &str, text: &str) -> Result<Loaded, ScenarioError> {
    #[derive(serde::Deserialize)]
    struct Kind {
        kind: Option<toml::Spanned<String>>,
    }
    let kind = toml::from_str::<Kind>(text).ok().and_then(|k| k.kind);
    match kind {
        Some(k) if k.get_ref() == "index-bench" => {
            bench::parse(origin, text).map(Loaded::IndexBench)
        }
        Some(k) if k.get_ref() == "rls-isolation" => {
            isolation::parse(origin, text).map(Loaded::Isolation)
        }
        Some(k) if k.get_ref() == "rollout" => rollout::parse(origin, text).map(Loaded::Rollout),
        Some(k) if k.get_ref() != "race" => Err(ScenarioError::at(
            origin,
            text,
            k.span().start,
            format!(
                "kind = \"{}\": expected \"race\" (the default), \"index-bench\", \
                 \"rls-isolation\" or \"rollout\"",
                k.get_ref()
            ),
        )),
        _ => parse(origin, text).map(Loaded::Race),
    }
}

impl Loaded {
    pub fn description(&self) -> &str {
        match self {
            Loaded::Race(s) => &s.description,
            Loaded::IndexBench(b) => &b.description,
            Loaded::Isolation(i) => &i.description,
            Loaded::Rollout(r) => &r.description,
        }
    }
}

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    /// Where it was read from: a file path or `builtin:<name>`.
    pub origin: String,
    pub description: String,
    pub setup: Setup,
    pub counters: Counters,
    pub keys: Keys,
    pub paths: Vec<PathSpec>,
}

/// Rows to seed before the load. The SQL can read `current_setting('loadtest.rows')` and
/// `current_setting('loadtest.seed')`.
#[derive(Debug, Clone)]
pub struct Setup {
    pub rows: u32,
    pub sql: String,
}

/// The table whose counter columns the oracle checks, one row per key.
#[derive(Debug, Clone)]
pub struct Counters {
    pub table: String,
    pub key: String,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
    pub delta: DeltaRange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Integer,
    Numeric,
}

/// Deltas are drawn uniformly from `min..=max` in steps of `10^-scale`: exact decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaRange {
    pub min: Decimal,
    pub max: Decimal,
    pub scale: u32,
}

impl DeltaRange {
    /// The range in units of the last decimal place, for the random generator.
    pub fn units(&self) -> (i64, i64) {
        let f = Decimal::from(10i64.pow(self.scale));
        let lo = (self.min * f).trunc();
        let hi = (self.max * f).trunc();
        (
            lo.try_into().unwrap_or(i64::MIN),
            hi.try_into().unwrap_or(i64::MAX),
        )
    }
}

/// Which rows the calls hit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Keys {
    pub choice: KeyChoice,
    /// The share of calls sent for keys that do not exist, on purpose: the function should
    /// refuse them (counted as rejected calls, never as lost updates).
    pub absent_share: f64,
}

/// How the row of each call is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyChoice {
    /// `share` of the calls hit the first key (the hot row); the rest are uniform over all keys.
    Hot { share: f64 },
    /// Every key equally likely.
    Uniform,
    /// Zipf(s) over the keys in key order: the k-th key is drawn with weight 1/k^s.
    Zipf { s: f64 },
}

impl KeyChoice {
    /// "hot", "uniform" or "zipf", for reports.
    pub fn name(&self) -> &'static str {
        match self {
            KeyChoice::Hot { .. } => "hot",
            KeyChoice::Uniform => "uniform",
            KeyChoice::Zipf { .. } => "zipf",
        }
    }

    /// The choice's parameter (hot share or Zipf exponent), if any.
    pub fn parameter(&self) -> Option<f64> {
        match self {
            KeyChoice::Hot { share } => Some(*share),
            KeyChoice::Uniform => None,
            KeyChoice::Zipf { s } => Some(*s),
        }
    }
}

/// One way of applying the increments.
#[derive(Debug, Clone)]
pub struct PathSpec {
    pub name: String,
    pub kind: PathKind,
    pub expect: Expect,
    /// Line and column of the path's table in the file, for errors found at prepare time.
    pub at: (usize, usize),
}

#[derive(Debug, Clone)]
pub enum PathKind {
    /// One statement: `$1` is the key, `$2…` the deltas in column order.
    Rpc { sql: String },
    /// A read (`$1` = key, returning the counter columns in order) then a write (`$1` = key,
    /// `$2…` = the read values plus the deltas), two statements, no lock.
    ReadModifyWrite { read: String, write: String },
    /// The app's real client code: call the RPC (`sql`); when the server answers 42883 (the
    /// function does not exist yet) run the read-modify-write (`read`, `write`) instead. One
    /// writer as far as the oracle is concerned; which way each call went is counted.
    RpcWithFallback {
        sql: String,
        read: String,
        write: String,
    },
}

impl PathKind {
    pub fn label(&self) -> &'static str {
        match self {
            PathKind::Rpc { .. } => "rpc",
            PathKind::ReadModifyWrite { .. } => "read-modify-write",
            PathKind::RpcWithFallback { .. } => "rpc-with-fallback",
        }
    }
}

/// How a read-modify-write path runs: as the app wrote it (two autocommit statements), or
/// inside a transaction at an isolation level, or with the read locking the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Two statements, no transaction, no lock: the app's old code.
    None,
    /// BEGIN ISOLATION LEVEL READ COMMITTED; read; write; COMMIT.
    ReadCommitted,
    /// BEGIN ISOLATION LEVEL REPEATABLE READ; read; write; COMMIT.
    RepeatableRead,
    /// BEGIN ISOLATION LEVEL SERIALIZABLE; read; write; COMMIT.
    Serializable,
    /// BEGIN; read ... FOR UPDATE; write; COMMIT.
    ForUpdate,
}

impl Strategy {
    pub const ALL: [Strategy; 5] = [
        Strategy::None,
        Strategy::ReadCommitted,
        Strategy::RepeatableRead,
        Strategy::Serializable,
        Strategy::ForUpdate,
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Strategy::None => "none",
            Strategy::ReadCommitted => "read-committed",
            Strategy::RepeatableRead => "repeatable-read",
            Strategy::Serializable => "serializable",
            Strategy::ForUpdate => "for-update",
        }
    }

    /// The statement opening the transaction, if the strategy uses one.
    pub fn begin(&self) -> Option<&'static str> {
        match self {
            Strategy::None => None,
            Strategy::ReadCommitted => Some("BEGIN ISOLATION LEVEL READ COMMITTED"),
            Strategy::RepeatableRead => Some("BEGIN ISOLATION LEVEL REPEATABLE READ"),
            Strategy::Serializable => Some("BEGIN ISOLATION LEVEL SERIALIZABLE"),
            Strategy::ForUpdate => Some("BEGIN"),
        }
    }
}

/// What the oracle must find for a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Nothing lost, nothing applied twice, no failed call.
    Exact,
    /// Losses expected and reported; a warning when none were seen.
    Lossy,
}

impl Expect {
    /// "exact" or "lossy", as reports show it.
    pub fn name(self) -> &'static str {
        match self {
            Expect::Exact => "exact",
            Expect::Lossy => "lossy",
        }
    }
}

/// Finds the scenario text for a command-line argument: a path to a `.toml` file, or a name
/// looked up in `./scenarios/` and then among the built-in scenarios.
pub fn locate(arg: &str) -> Result<(String, String), crate::Error> {
    use crate::Error;
    let looks_like_path = arg.contains('/') || arg.ends_with(".toml");
    if looks_like_path {
        let path = PathBuf::from(arg);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Input(format!("scenario file {arg} does not exist"))
            } else {
                Error::ReadFile {
                    path: path.clone(),
                    source: e,
                }
            }
        })?;
        return Ok((path.display().to_string(), text));
    }
    let local = Path::new("scenarios").join(format!("{arg}.toml"));
    if local.is_file() {
        let text = std::fs::read_to_string(&local).map_err(|source| Error::ReadFile {
            path: local.clone(),
            source,
        })?;
        return Ok((local.display().to_string(), text));
    }
    if let Some((_, text)) = BUILTIN.iter().find(|(name, _)| *name == arg) {
        return Ok((format!("builtin:{arg}"), text.to_string()));
    }
    let known: Vec<String> = list().into_iter().map(|e| e.name).collect();
    Err(Error::Input(format!(
        "unknown scenario '{arg}': known scenarios are {} (see `loadtest list`), or pass a path \
            to a .toml file",
        known.join(", ")
    )))
}

/// The name a scenario file is known by: its file stem.
pub fn name_of(origin: &str) -> String {
    let s = origin.strip_prefix("builtin:").unwrap_or(origin);
    Path::new(s)
        .file_stem()
        .map(|x| x.to_string_lossy().to_string())
        .unwrap_or_else(|| s.to_string())
}

/// One line of `loadtest list`.
#[derive(Debug, Clone)]
pub struct Listed {
    pub name: String,
    pub origin: String,
    pub description: String,
}

/// Every scenario reachable by name: `./scenarios/*.toml` first, then built-in ones not
/// shadowed by a local file.
pub fn list() -> Vec<Listed> {
    let mut out: Vec<Listed> = Vec::new();
    let mut local: Vec<PathBuf> = std::fs::read_dir("scenarios")
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    local.retain(|p| p.extension().is_some_and(|e| e == "toml"));
    local.sort();
    for p in local {
        let origin = p.display().to_string();
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        out.push(Listed {
            name: name_of(&origin),
            description: describe(&origin, &text),
            origin,
        });
    }
    for (name, text) in BUILTIN {
        if !out.iter().any(|l| l.name == *name) {
            let origin = format!("builtin:{name}");
            out.push(Listed {
                name: name.to_string(),
                description: describe(&origin, text),
                origin,
            });
        }
    }
    out
}

fn describe(origin: &str, text: &str) -> String {
    match load(origin, text) {
        Ok(s) => s.description().to_string(),
        Err(e) => format!("(invalid: {e})"),
    }
}

impl Scenario {
    /// `origin:line:col` of a byte offset in the file.
    pub fn position(&self, at: (usize, usize)) -> String {
        format!("{}:{}:{}", self.origin, at.0, at.1)
    }
}
