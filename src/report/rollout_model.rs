//! The report of a rollout under live load (`--rollout`): which migrations were applied while
//! the load ran, what each of their statements cost the load, the insert writers beside the
//! counter paths, and where the losses of the app's fallback fell. Pure data.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolloutReport {
    /// The first migration applied under load; the ones before it were applied before the load.
    pub version: String,
    /// How long the load kept going after the last migration.
    pub settle_s: f64,
    /// The scenario's `max_write_stall`, if it sets one.
    #[serde(default)]
    pub max_write_stall_ms: Option<f64>,
    /// The data the load ran on, as the scenario states it.
    #[serde(default)]
    pub data: String,
    /// How long the load ran before the first migration started.
    pub load_before_s: f64,
    pub migrations: Vec<RolloutMigration>,
    pub statements: Vec<StatementCost>,
    pub writes: Vec<WriteReport>,
    pub losses: Vec<PhaseLosses>,
}

/// One migration applied under load, timed from the start of the load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolloutMigration {
    pub version: String,
    pub name: String,
    pub started_s: f64,
    pub ended_s: f64,
    /// Run statement by statement in autocommit (the file builds an index CONCURRENTLY).
    pub outside_transaction: bool,
}

/// What one statement of a migration cost the load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatementCost {
    pub version: String,
    /// Line of the file where the statement starts.
    pub line: usize,
    /// The statement's first words.
    pub text: String,
    pub duration_ms: f64,
    /// The strongest table lock it took ("AccessExclusiveLock", …; "none").
    pub lock: String,
    /// The load's calls (distinct backend and wait start) seen waiting on a lock it took.
    pub blocked_calls: u64,
    /// The longest such wait seen, in milliseconds.
    pub longest_block_ms: f64,
}

/// One insert writer of the scenario: what it did while the migrations ran.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteReport {
    pub name: String,
    pub calls_ok: u64,
    pub calls_failed: u64,
    /// The slowest acknowledged insert, in milliseconds.
    pub longest_ms: f64,
    /// Inserts/s over each 0.25 s of the load.
    pub throughput_samples: Vec<f64>,
}

/// A counter path's losses, split at the end of the last migration: while the fallback could
/// still be in use, and during the settle period (when only the RPC runs: must be none).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhaseLosses {
    pub path: String,
    pub lost_during_rollout: u64,
    pub missing_during_rollout: Vec<Decimal>,
    pub lost_during_settle: u64,
    pub missing_during_settle: Vec<Decimal>,
    pub calls_via_fallback_during_settle: u64,
}
