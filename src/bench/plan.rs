//! An index benchmark's validated plan: the schema before the migration under test, that
//! migration, the data scale and how to time.

use crate::pg::migrate::Migration;
use crate::pg::schema::SchemaPlan;
use crate::pg::target::DatabasePlan;
use crate::scenario::BenchScenario;
use std::path::PathBuf;

/// Concurrent clients of the throughput phase (--workers for an index benchmark).
pub const DEFAULT_WORKERS: usize = 4;

/// An index benchmark: the schema before the migration under test, that migration, the data
/// scale and how to time.
pub struct BenchPlan {
    pub scenario: BenchScenario,
    /// Every migration older than the one under test.
    pub before: SchemaPlan,
    /// The migration under test, applied as its real file.
    pub migration: Migration,
    pub scale: f64,
    /// A/A calibration: time the after state twice instead of before and after.
    pub aa: bool,
    pub workers: usize,
    pub seed: u64,
    /// `--as authenticated`: every timed query runs as `authenticated` with a user's claims.
    pub as_authenticated: bool,
    pub report_dir: PathBuf,
    pub quiet: bool,
    pub database: DatabasePlan,
    pub command_line: String,
}
