//! The tenant-isolation part of the report model: the findings first (static lints on the
//! migrated schema and the leaks the attempts proved), then every attempt, then the own-row
//! load that ran meanwhile. Pure data.

use serde::{Deserialize, Serialize};

/// An isolation run's part of a report (see `model::Body`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IsolationBody {
    /// How it ran.
    pub isolation: IsolationSettings,
    /// Static findings on the schema and leaks found at run time, most severe first.
    pub findings: Vec<Finding>,
    /// Every cross-tenant attempt, in the order they ran.
    pub attempts: Vec<Attempt>,
    /// The own-row calls that ran concurrently with the attempts.
    pub load: OwnRowLoad,
    /// Colliding task creation and counter increments on the workforce tables, run
    /// concurrently too; absent when the scenario has no `[workforce]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workforce: Option<Workforce>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IsolationSettings {
    pub exposed_schemas: Vec<String>,
    /// The users who attacked each other, by label ("A", "B", …).
    pub users: Vec<UserLabel>,
    pub load_users: u32,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserLabel {
    pub label: String,
    pub id: String,
}

/// One thing wrong with the schema, statically or as proven by an attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Finding {
    /// e.g. `public.increment_token_usage(uuid,integer)` or `public.workforce_tasks`.
    pub object: String,
    /// `security-definer-view`, `unchecked-security-definer`, `mutable-search-path`,
    /// `rls-disabled`, `always-true-policy`, `anon-access`, `auth-uid-per-row` (static);
    /// `policy-leak`, `rpc-leak`, `negative-amount` (found only at run time).
    pub kind: String,
    /// `high`, `medium`, `low` or `performance`.
    pub severity: String,
    /// One line: why the object is open.
    pub cause: String,
    /// True when an attempt at run time leaked through it.
    pub exploited: bool,
    /// Listed in the scenario file's `[[accept]]` entries.
    pub accepted: bool,
    /// The reason given where it was accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What an attempt ended as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// An error, or no row seen or touched that is not the actor's.
    Blocked,
    /// Rows seen or changed that are not the actor's, or another user's counter moved.
    Leaked,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Blocked => "blocked",
            Outcome::Leaked => "leaked",
        }
    }
}

/// One cross-tenant attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    /// "A", "B", … (logged-in users) or "anon".
    pub actor: String,
    /// Whose rows it went after.
    pub victim: String,
    /// `select`, `update`, `delete`, `insert-as-victim`, `insert-under-victim-parent`,
    /// `rpc-victim-ids`, `rpc-negative-own`.
    pub action: String,
    pub object: String,
    pub outcome: Outcome,
    /// What happened: rows seen or touched, the SQLSTATE that stopped it, which rows moved.
    pub detail: String,
}

/// The own-row calls of the load users, concurrently with the attempts: every one must succeed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OwnRowLoad {
    pub workers: usize,
    pub calls_ok: u64,
    pub calls_failed: u64,
    pub duration_s: f64,
    pub throughput_ops_s: f64,
    pub errors: Vec<LoadError>,
}

/// Failed own-row calls of one SQLSTATE (or `connection`), with the first message.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadError {
    pub sqlstate: String,
    pub count: u64,
    pub message: String,
}

/// The workforce concurrency check: many workers, each acting as the execution's owner, create
/// the same task ids in the same executions at once; the unique `(execution_id, task_id)`
/// constraint must reject every duplicate (23505) and the executions' `completed_tasks` /
/// `failed_tasks` must end exactly at what was acknowledged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Workforce {
    pub workers: usize,
    pub executions: u32,
    /// Distinct task ids per execution; every one is created by every worker.
    pub task_ids: u32,
    /// INSERTs issued (executions × task ids × workers).
    pub task_inserts: u64,
    /// INSERTs refused with 23505 (unique_violation).
    pub duplicates_rejected: u64,
    /// Task rows of this check in the database afterwards.
    pub stored: u64,
    /// Rows beyond one per (execution, task id): must be 0.
    pub duplicates_stored: u64,
    pub completed_tasks: CounterCheck,
    pub failed_tasks: CounterCheck,
    /// Calls that failed with anything but 23505 on an INSERT (any fails the run).
    pub errors: Vec<LoadError>,
    pub duration_s: f64,
}

/// One counter summed over the executions: what it started at plus the acknowledged
/// increments, against what the database holds afterwards.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct CounterCheck {
    pub expected: i64,
    pub actual: i64,
}
