//! A race's validated plan: what `plan` resolves the command line and scenario into, and the
//! defaults the command line and `nightly` share. Nothing here reads clap types.

use super::engine::Until;
use crate::pg::schema::SchemaPlan;
use crate::pg::target::DatabasePlan;
use crate::scenario::{Scenario, Strategy};
use crate::shard::ShardId;
use std::path::PathBuf;

/// Calls per path when neither --ops nor --duration is given.
pub const DEFAULT_OPS: u64 = 20_000;
/// Calls in flight at once (--workers).
pub const DEFAULT_WORKERS: usize = 256;
/// Pooled connections (--connections).
pub const DEFAULT_CONNECTIONS: usize = 64;
/// The seed of keys and deltas (--seed).
pub const DEFAULT_SEED: u64 = 1;

/// How a race runs its paths: one closed choice, made once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaceMode {
    /// Each path in turn on freshly reset counters; read-modify-write paths under this strategy.
    Sequential(Strategy),
    /// Every read-modify-write path once per strategy (`--matrix`).
    Matrix,
    /// All paths at once on the same rows (`--mixed`); read-modify-write under this strategy.
    Mixed(Strategy),
}

/// How a call's SQL goes over the wire (`--query-mode`, as pgbench's `-M`): one closed choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueryMode {
    /// Named prepared statements, prepared once per connection and reused: fastest, but lost
    /// between transactions behind a transaction-mode pooler.
    #[default]
    Prepared,
    /// The unnamed statement with its parameter types, parsed on every call: works through
    /// any pooler.
    Extended,
    /// The simple query protocol with the values written as literals: works through anything.
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

pub struct RunPlan {
    pub scenario: Scenario,
    /// Faults injected during each load (`--faults`); empty for none.
    pub faults: crate::faults::FaultPlan,
    /// Each call also records its id in the run's ledger table (`--ledger`).
    pub ledger: bool,
    pub until: Until,
    pub rate: Option<f64>,
    pub mode: RaceMode,
    pub retries: u32,
    pub query_mode: QueryMode,
    /// A worker that has a connection to itself may call on its socket (`--client socket`,
    /// `pg::wire`); false: always through tokio-postgres (`--client driver`).
    pub socket: bool,
    pub workers: usize,
    pub connections: usize,
    /// Client threads (`--threads`): each drives its share of the connections and their workers.
    pub threads: usize,
    pub seed: u64,
    pub report_dir: PathBuf,
    pub quiet: bool,
    pub schema: SchemaPlan,
    pub database: DatabasePlan,
    pub command_line: String,
    /// `run --shard I/N --run-id ID`: this process is one shard of a prepared run (`until` is
    /// then this shard's share of the calls).
    pub shard: Option<ShardRun>,
}

/// One shard's part in a prepared run, as the command line gave it; the run's settings come
/// from the manifest (see `race::sharded`).
#[derive(Debug, Clone)]
pub struct ShardRun {
    pub id: ShardId,
    pub run_id: String,
    /// The calls per path over all shards (`--ops` of `prepare`).
    pub total_ops: u64,
    /// The scenario file's SHA-256, to compare with the manifest's.
    pub scenario_sha256: String,
    /// Settings given explicitly on this shard's command line, as (flag, value): each must
    /// agree with the manifest.
    pub explicit: Vec<(&'static str, String)>,
}

impl RunPlan {
    /// The number of calls a path will make, for the progress bar (0 when timed).
    pub fn ops_hint(&self) -> u64 {
        match self.until {
            Until::Ops(n) => n,
            Until::Elapsed(_) => 0,
        }
    }

    pub fn duration(&self) -> Option<std::time::Duration> {
        match self.until {
            Until::Elapsed(d) => Some(d),
            Until::Ops(_) => None,
        }
    }

    /// The strategy of read-modify-write paths (in a matrix, each path runs under all).
    pub fn strategy(&self) -> Strategy {
        match self.mode {
            RaceMode::Sequential(s) | RaceMode::Mixed(s) => s,
            RaceMode::Matrix => Strategy::None,
        }
    }

    /// The calls per path over the whole run: all shards' in a sharded run.
    pub fn total_ops(&self) -> u64 {
        match &self.shard {
            Some(s) => s.total_ops,
            None => self.ops_hint(),
        }
    }

    /// The seed of this process's calls: the run's, or this shard's stream of it.
    pub fn load_seed(&self) -> u64 {
        match &self.shard {
            Some(s) => s.id.seed(self.seed),
            None => self.seed,
        }
    }

    pub fn absent_share(&self) -> f64 {
        self.scenario.keys.absent_share
    }
}
