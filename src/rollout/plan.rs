//! What one rollout under live load runs: the traffic and writers, the migrations applied
//! before the load and those applied under it, the settle period and the write-stall limit.
//! Built from flags and a scenario before any database I/O.

use crate::error::{Error, Result};
use crate::pg::migrate::Migration;
use crate::pg::schema::SchemaPlan;
use crate::pg::target::DatabasePlan;
use crate::race::plan::QueryMode;
use crate::scenario::rollout::{Data, WriteSpec};
use crate::scenario::{RolloutScenario, Scenario};
use std::path::PathBuf;
use std::time::Duration;

/// How long the load keeps going after the last migration, by default.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(5);
/// How long the load runs before the first migration, by default: long enough for the
/// fallback to be seen at full speed.
pub const DEFAULT_LOAD_BEFORE: Duration = Duration::from_secs(2);
/// Workers per counter path and per writer, by default.
pub const DEFAULT_WORKERS: usize = 4;

pub struct RolloutPlan {
    pub name: String,
    pub origin: String,
    pub description: String,
    /// Every counter scenario whose paths run at once (each path its own load).
    pub traffic: Vec<Scenario>,
    pub writes: Vec<WriteSpec>,
    pub data: Data,
    /// The first migration applied under load.
    pub version: String,
    /// The whole schema (for the report); `before` and `under_load` split its migrations.
    pub schema: SchemaPlan,
    pub before: Vec<Migration>,
    pub under_load: Vec<Migration>,
    pub settle: Duration,
    pub load_before: Duration,
    pub max_write_stall: Option<Duration>,
    pub workers: usize,
    pub query_mode: QueryMode,
    pub seed: u64,
    pub report_dir: PathBuf,
    pub quiet: bool,
    pub database: DatabasePlan,
    pub command_line: String,
}

impl RolloutPlan {
    /// Connections the load holds at once: one per worker of every path and writer.
    pub fn connections(&self) -> usize {
        let paths: usize = self.traffic.iter().map(|t| t.paths.len()).sum();
        paths * self.workers
            + self
                .writes
                .iter()
                .map(|w| w.workers.unwrap_or(self.workers))
                .sum::<usize>()
    }
}

/// What a rollout is made from: a race scenario (its setup and its paths, all at once) or a
/// rollout scenario.
pub enum Source {
    Race(Scenario),
    Rollout(RolloutScenario),
}

/// The flags that matter to a rollout, already parsed.
pub struct Flags {
    pub version: Option<String>,
    pub settle: Option<Duration>,
    pub workers: Option<usize>,
    pub query_mode: QueryMode,
    pub seed: u64,
    pub report_dir: PathBuf,
    pub quiet: bool,
    pub database: DatabasePlan,
    pub command_line: String,
}

/// Splits the schema at `--rollout VERSION` and fills in the scenario's defaults.
pub fn resolve(source: Source, schema: SchemaPlan, f: Flags) -> Result<RolloutPlan> {
    let (name, origin, description, traffic, writes, data, defaults) = match source {
        Source::Race(s) => {
            let data = Data {
                scale: format!("setup.rows = {}", s.setup.rows),
                setup: s.setup.clone(),
            };
            (
                s.name.clone(),
                s.origin.clone(),
                s.description.clone(),
                vec![s],
                Vec::new(),
                data,
                None,
            )
        }
        Source::Rollout(r) => {
            let defaults = Some((
                r.version.clone(),
                r.settle,
                r.load_before,
                r.max_write_stall,
                r.workers,
            ));
            (
                r.name,
                r.origin,
                r.description,
                r.traffic,
                r.writes,
                r.data,
                defaults,
            )
        }
    };
    let (v_default, settle, load_before, stall, workers) =
        defaults.unwrap_or((None, None, None, None, None));
    let Some(version) = f.version.or(v_default) else {
        return Err(Error::Input(format!(
            "{origin} does not say which migration to roll out: pass --rollout VERSION or set \
                rollout = \"VERSION\" in the file"
        )));
    };
    let Some(at) = schema.migrations.iter().position(|m| m.version == version) else {
        let versions: Vec<&str> = schema
            .migrations
            .iter()
            .map(|m| m.version.as_str())
            .collect();
        return Err(Error::Input(format!(
            "--rollout {version}: no migration with that version in {} (versions there: {})",
            schema.source,
            versions.join(", ")
        )));
    };
    let before = schema.migrations[..at].to_vec();
    let under_load = schema.migrations[at..].to_vec();
    Ok(RolloutPlan {
        name,
        origin,
        description,
        traffic,
        writes,
        data,
        version,
        schema,
        before,
        under_load,
        settle: f.settle.or(settle).unwrap_or(DEFAULT_SETTLE),
        load_before: load_before.unwrap_or(DEFAULT_LOAD_BEFORE),
        max_write_stall: stall,
        workers: f.workers.or(workers).unwrap_or(DEFAULT_WORKERS),
        query_mode: f.query_mode,
        seed: f.seed,
        report_dir: f.report_dir,
        quiet: f.quiet,
        database: f.database,
        command_line: f.command_line,
    })
}
