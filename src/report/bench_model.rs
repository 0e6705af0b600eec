//! The index benchmark's part of the report model: per-query timings, speedups with their
//! intervals, plans, and what the migration left unindexed. Pure data.

use serde::{Deserialize, Serialize};

/// An index benchmark's part of a report (see `model::Body`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchBody {
    /// One entry per query.
    #[serde(default)]
    pub queries: Vec<QueryReport>,
    /// Foreign keys of the migrated schema still without a supporting index.
    #[serde(default)]
    pub unindexed_foreign_keys: Vec<ForeignKeyReport>,
    /// Rows per second of the data load.
    pub load_rows_per_s: f64,
    /// How it ran.
    pub index_bench: IndexBench,
    /// Who the timed queries ran as (`--as`); absent in reports from before the flag, which ran
    /// as the owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<BenchRunAs>,
}

/// Who an index benchmark's timed queries ran as.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BenchRunAs {
    /// "owner" (the tables' owner: RLS does not apply) or "authenticated" (a user's claims, in
    /// a transaction per query, as Supabase's API runs it: every policy applies).
    #[serde(rename = "as")]
    pub as_role: String,
    /// The user whose claims the queries carried (authenticated only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl BenchBody {
    /// Who the timed queries ran as: "owner" unless the report says otherwise.
    pub fn ran_as(&self) -> &str {
        self.settings
            .as_ref()
            .map_or("owner", |s| s.as_role.as_str())
    }
}

/// How the benchmark ran: the migration under test, the data, the timing rules.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexBench {
    /// The migration applied between "before" and "after".
    pub migration: String,
    /// "before-after", or "a-a" for a calibration run timing one state twice.
    pub mode: String,
    pub scale: f64,
    pub seed: u64,
    /// Concurrent clients of the throughput phase.
    pub workers: usize,
    pub warmup: u32,
    pub min_runs: u32,
    pub max_runs: u32,
    pub time_per_query_s: f64,
    pub throughput_time_s: f64,
    /// Of the speedup intervals.
    pub confidence: f64,
    /// Share of the sampled parameters replaced by values that match no row (lookups that
    /// miss), from the scenario's `missing_share`. Absent in version 1 reports (it was their
    /// `settings.absent_share`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_share: Option<f64>,
    /// Session settings every benchmark connection had, and why.
    pub session_settings: Vec<String>,
    pub data: DataReport,
    /// Seconds to apply the migration (its CREATE INDEX statements) on the loaded data.
    pub migration_s: Option<f64>,
    /// Indexes that exist after the migration but not before.
    pub new_indexes: Vec<String>,
}

/// The generated data set and how fast it loaded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataReport {
    pub tables: Vec<TableLoad>,
    pub rows: u64,
    /// COPY time of all tables.
    pub seconds: f64,
    pub rows_per_s: f64,
    pub foreign_key_checks: String,
    /// VACUUM (ANALYZE) after the load, so hint bits and statistics are settled before timing.
    pub vacuum_analyze_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableLoad {
    pub table: String,
    pub rows: u64,
    pub seconds: f64,
}

/// One query, before and after.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryReport {
    pub name: String,
    /// The index its after-plan must use.
    pub index: String,
    pub sql: String,
    /// Medians of the timed runs, milliseconds (client round trip, all rows fetched).
    pub before_ms: f64,
    pub after_ms: f64,
    pub before_p95_ms: f64,
    pub after_p95_ms: f64,
    pub runs_before: usize,
    pub runs_after: usize,
    /// before_ms / after_ms.
    pub speedup: f64,
    /// Bootstrap interval of the speedup at the report's confidence.
    pub speedup_ci: [f64; 2],
    /// The interval lies above 1.
    pub proven: bool,
    /// The representative after-plan uses `index`.
    pub uses_index: bool,
    /// Top plan nodes of the representative run, pre-order.
    pub plan_before: Vec<String>,
    pub plan_after: Vec<String>,
    pub plan_before_text: String,
    pub plan_after_text: String,
    /// The parameters of the representative run (the median result size).
    pub representative_params: Vec<String>,
    /// Share of runs whose first parameter matched nothing.
    pub missing_share: f64,
    /// Queries per second with `workers` concurrent clients.
    pub throughput_before_qps: f64,
    pub throughput_after_qps: f64,
    /// Every timed run, for comparisons across reports.
    pub samples_before_ms: Vec<f64>,
    pub samples_after_ms: Vec<f64>,
}

/// A foreign key with no index to serve its parent's DELETE/UPDATE lookups and its JOINs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKeyReport {
    pub table: String,
    pub columns: Vec<String>,
    pub references: String,
    pub constraint: String,
    /// A partial index leading with the key whose predicate does not serve the lookups.
    pub partial_index_not_counted: Option<String>,
}
