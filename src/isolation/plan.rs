//! A tenant-isolation run's validated plan: the scenario, the schema, where to run it.

use crate::pg::schema::SchemaPlan;
use crate::pg::target::DatabasePlan;
use crate::scenario::IsolationScenario;
use std::path::PathBuf;

pub struct IsolationPlan {
    pub scenario: IsolationScenario,
    pub schema: SchemaPlan,
    pub database: DatabasePlan,
    /// Feeds `loadtest.seed`, which the setup SQL may read.
    pub seed: u64,
    pub report_dir: PathBuf,
    pub quiet: bool,
    pub command_line: String,
}
