//! Concurrency on the workforce tables, run beside the attempts as part of the own-row load:
//! many workers, each acting as the execution's owner through `authenticated` exactly as the
//! API does, create the same task ids in the same executions at once, on purpose. The unique
//! `(execution_id, task_id)` constraint must turn every duplicate into a 23505 and store none;
//! each task that was created is then completed (every fourth one failed) and the execution's
//! `completed_tasks` / `failed_tasks` incremented, concurrently with the other workers, and each
//! counter must end at its starting value plus the increments that were acknowledged.
//!
//! The seed ships no trigger and no RPC for these counters (the app maintains them itself), so
//! the increment is the single atomic `UPDATE … SET completed_tasks = completed_tasks + 1` a
//! fix would use; a read-modify-write loses updates, as `token-race` proves for the tokens.

use crate::error::{Error, Result};
use crate::pg::{self, Endpoint, actor::Actor};
use crate::report::isolation_model::{CounterCheck, LoadError, Workforce};
use crate::scenario::isolation::WorkforceSpec;
use std::collections::BTreeMap;
use std::time::Instant;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

/// Every task id this check creates starts with it, so the check counts only its own rows.
const PREFIX: &str = "loadtest-wf-";

const INSERT: &str = "INSERT INTO public.workforce_tasks (execution_id, user_id, task_id, title) \
                      VALUES ($1, $2, $3, $3) RETURNING id";
const SET_STATUS: &str = "UPDATE public.workforce_tasks SET status = $2 WHERE id = $1";
const COMPLETED: &str = "UPDATE public.workforce_executions \
                         SET completed_tasks = completed_tasks + 1 WHERE id = $1";
const FAILED: &str = "UPDATE public.workforce_executions \
                      SET failed_tasks = failed_tasks + 1 WHERE id = $1";

/// One execution under test: its id, its owner (whom the workers act as) and its counters
/// before the check.
#[derive(Debug, Clone, Copy)]
pub struct Execution {
    pub id: Uuid,
    pub owner: Uuid,
    pub completed_before: i64,
    pub failed_before: i64,
}

/// The workers' connections and the executions, ready before any attempt runs.
pub struct Prepared {
    clients: Vec<Client>,
    executions: Vec<Execution>,
}

/// Picks the first execution of each of the first `spec.executions` load users, reads its
/// counters and opens the workers' connections; every statement is checked against the schema
/// here, so a schema without the workforce tables is bad input before any load.
pub async fn prepare(
    owner: &Client,
    endpoint: &Endpoint,
    spec: &WorkforceSpec,
    load_users: &[Uuid],
    origin: &str,
) -> Result<Prepared> {
    let bad = |e: &tokio_postgres::Error| {
        Error::Input(format!(
            "{origin}: [workforce] needs public.workforce_executions and public.workforce_tasks \
             with (execution_id, user_id, task_id, title, status) and completed_tasks / \
             failed_tasks: {}; remove [workforce] for a schema without them",
            pg::describe(e)
        ))
    };
    for sql in [INSERT, SET_STATUS, COMPLETED, FAILED] {
        owner.prepare(sql).await.map_err(|e| bad(&e))?;
    }
    let mut executions = Vec::new();
    for user in load_users.iter().take(spec.executions as usize) {
        let row = owner
            .query_opt(
                "SELECT id, completed_tasks::int8, failed_tasks::int8 \
                 FROM public.workforce_executions WHERE user_id = $1 ORDER BY created_at, id \
                 LIMIT 1",
                &[user],
            )
            .await
            .map_err(|e| bad(&e))?
            .ok_or_else(|| {
                Error::Input(format!(
                    "{origin}: [workforce] needs a workforce execution for each of the first {} \
                     load users; setup.sql gave user {user} none",
                    spec.executions
                ))
            })?;
        executions.push(Execution {
            id: row.get(0),
            owner: *user,
            completed_before: row.get(1),
            failed_before: row.get(2),
        });
    }
    if executions.len() < spec.executions as usize {
        return Err(Error::Input(format!(
            "{origin}: workforce.executions is {} but only {} load user(s) were seeded",
            spec.executions,
            executions.len()
        )));
    }
    let mut clients = Vec::new();
    for _ in 0..spec.workers {
        clients.push(
            pg::connect(endpoint)
                .await
                .map_err(Error::db("cannot open a workforce connection"))?,
        );
    }
    Ok(Prepared {
        clients,
        executions,
    })
}

/// What one worker counted; merged at the end.
#[derive(Default)]
struct Counts {
    inserts: u64,
    rejected: u64,
    /// Per execution (index into the executions): acknowledged completed and failed increments.
    completed: BTreeMap<usize, i64>,
    failed: BTreeMap<usize, i64>,
    errors: BTreeMap<String, (u64, String)>,
}

impl Counts {
    fn note(&mut self, e: &tokio_postgres::Error) {
        let code = e
            .code()
            .map_or("connection".to_string(), |s| s.code().to_string());
        self.errors.entry(code).or_insert((0, pg::describe(e))).0 += 1;
    }
}

/// Whether task `i` fails (every fourth) rather than completes.
fn fails(i: u32) -> bool {
    i % 4 == 3
}

/// Runs every worker to the end: each one creates every task id in every execution, in the
/// same order, so the workers collide on each id at about the same moment.
async fn run(p: &Prepared, spec: &WorkforceSpec) -> Vec<WorkerResult> {
    let work = p.clients.iter().map(|client| async move {
        let mut c = Counts::default();
        for i in 0..spec.task_ids {
            let task_id = format!("{PREFIX}{i:05}");
            for (x, e) in p.executions.iter().enumerate() {
                c.inserts += 1;
                match create(client, e, &task_id).await {
                    Ok(task) => match finish(client, e, task, fails(i)).await {
                        Ok(true) if fails(i) => *c.failed.entry(x).or_default() += 1,
                        Ok(true) => *c.completed.entry(x).or_default() += 1,
                        Ok(false) => {
                            c.errors
                                .entry("no_row".into())
                                .or_insert((
                                    0,
                                    "the owner's UPDATE of its own task or execution touched no row"
                                        .into(),
                                ))
                                .0 += 1;
                        }
                        Err(err) => {
                            let _ = client.batch_execute("ROLLBACK").await;
                            c.note(&err);
                        }
                    },
                    Err(err) => {
                        let _ = client.batch_execute("ROLLBACK").await;
                        if err.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                            c.rejected += 1;
                        } else {
                            c.note(&err);
                        }
                        if err.is_closed() {
                            return c;
                        }
                    }
                }
            }
        }
        c
    });
    futures_util::future::join_all(work)
        .await
        .into_iter()
        .map(WorkerResult)
        .collect()
}

/// A worker's counts, opaque outside this module.
pub struct WorkerResult(Counts);

/// Creates one task as the execution's owner, in its own transaction.
async fn create(
    client: &Client,
    e: &Execution,
    task_id: &str,
) -> std::result::Result<Uuid, tokio_postgres::Error> {
    client
        .batch_execute(&Actor::User(e.owner).begin().unwrap_or_default())
        .await?;
    let row = client
        .query_one(INSERT, &[&e.id, &e.owner, &task_id])
        .await?;
    client.batch_execute("COMMIT").await?;
    Ok(row.get(0))
}

/// Marks a created task completed or failed and increments the execution's counter, in one
/// transaction as the owner: the increment is acknowledged only when it commits. `false` when
/// the UPDATE touched no row (a policy hid the owner's own execution): rolled back, no
/// increment.
async fn finish(
    client: &Client,
    e: &Execution,
    task: Uuid,
    failed: bool,
) -> std::result::Result<bool, tokio_postgres::Error> {
    client
        .batch_execute(&Actor::User(e.owner).begin().unwrap_or_default())
        .await?;
    let status = if failed { "failed" } else { "completed" };
    let marked = client.execute(SET_STATUS, &[&task, &status]).await?;
    let n = client
        .execute(if failed { FAILED } else { COMPLETED }, &[&e.id])
        .await?;
    if marked != 1 || n != 1 {
        client.batch_execute("ROLLBACK").await?;
        return Ok(false);
    }
    client.batch_execute("COMMIT").await?;
    Ok(true)
}

/// What the database holds for one execution afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub rows: i64,
    pub distinct: i64,
    pub completed_tasks: i64,
    pub failed_tasks: i64,
}

/// Reads, as the owner (outside any actor's transaction), the check's rows and each
/// execution's counters.
async fn measure(owner: &Client, p: &Prepared) -> Result<Vec<Stored>> {
    let mut out = Vec::new();
    for e in &p.executions {
        let row = owner
            .query_one(
                "SELECT (SELECT count(*) FROM public.workforce_tasks \
                         WHERE execution_id = x.id AND task_id LIKE $2 || '%'), \
                        (SELECT count(DISTINCT task_id) FROM public.workforce_tasks \
                         WHERE execution_id = x.id AND task_id LIKE $2 || '%'), \
                        x.completed_tasks::int8, x.failed_tasks::int8 \
                 FROM public.workforce_executions x WHERE x.id = $1",
                &[&e.id, &PREFIX],
            )
            .await
            .map_err(Error::db("cannot read the workforce check's rows"))?;
        out.push(Stored {
            rows: row.get(0),
            distinct: row.get(1),
            completed_tasks: row.get(2),
            failed_tasks: row.get(3),
        });
    }
    Ok(out)
}

/// The report's part and the run's failures: a duplicate stored, a counter that is not its
/// start plus the acknowledged increments (per execution), or any error but 23505. Pure.
pub fn judge(
    spec: &WorkforceSpec,
    executions: &[Execution],
    workers: Vec<WorkerResult>,
    stored: &[Stored],
    duration_s: f64,
) -> (Workforce, Vec<String>) {
    let mut total = Counts::default();
    for WorkerResult(c) in workers {
        total.inserts += c.inserts;
        total.rejected += c.rejected;
        for (x, n) in c.completed {
            *total.completed.entry(x).or_default() += n;
        }
        for (x, n) in c.failed {
            *total.failed.entry(x).or_default() += n;
        }
        for (k, (n, m)) in c.errors {
            total.errors.entry(k).or_insert((0, m)).0 += n;
        }
    }
    let mut failures = Vec::new();
    let (mut completed, mut failed) = (
        CounterCheck {
            expected: 0,
            actual: 0,
        },
        CounterCheck {
            expected: 0,
            actual: 0,
        },
    );
    let (mut rows, mut dups) = (0i64, 0i64);
    for (x, (e, s)) in executions.iter().zip(stored).enumerate() {
        rows += s.rows;
        dups += s.rows - s.distinct;
        let want_c = e.completed_before + total.completed.get(&x).copied().unwrap_or(0);
        let want_f = e.failed_before + total.failed.get(&x).copied().unwrap_or(0);
        completed.expected += want_c;
        completed.actual += s.completed_tasks;
        failed.expected += want_f;
        failed.actual += s.failed_tasks;
        for (name, want, got) in [
            ("completed_tasks", want_c, s.completed_tasks),
            ("failed_tasks", want_f, s.failed_tasks),
        ] {
            if want != got {
                failures.push(format!(
                    "workforce: execution {}: {name} is {got}, expected {want} (its start plus \
                     the acknowledged increments): {} increment(s) {}",
                    e.id,
                    (want - got).abs(),
                    if got < want { "lost" } else { "doubled" }
                ));
            }
        }
    }
    if dups > 0 {
        failures.push(format!(
            "workforce: {dups} duplicate task(s) stored: concurrent INSERTs of the same \
             (execution_id, task_id) were not rejected (no unique constraint holds them)"
        ));
    }
    let errors: Vec<LoadError> = total
        .errors
        .into_iter()
        .map(|(sqlstate, (count, message))| LoadError {
            sqlstate,
            count,
            message,
        })
        .collect();
    if let Some(first) = errors.first() {
        failures.push(format!(
            "workforce: {} call(s) failed with something other than a duplicate (first: {} {})",
            errors.iter().map(|e| e.count).sum::<u64>(),
            first.sqlstate,
            first.message
        ));
    }
    (
        Workforce {
            workers: spec.workers,
            executions: spec.executions,
            task_ids: spec.task_ids,
            task_inserts: total.inserts,
            duplicates_rejected: total.rejected,
            stored: rows as u64,
            duplicates_stored: dups as u64,
            completed_tasks: completed,
            failed_tasks: failed,
            errors,
            duration_s,
        },
        failures,
    )
}

/// Runs the check end to end on its own connections: the load, then the measurement on the
/// first worker's connection (the run's main connection is busy with the attempts'
/// transactions meanwhile).
pub async fn execute(p: &Prepared, spec: &WorkforceSpec) -> Result<(Workforce, Vec<String>)> {
    let began = Instant::now();
    let workers = run(p, spec).await;
    let secs = (began.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    let stored = measure(&p.clients[0], p).await?;
    Ok(judge(spec, &p.executions, workers, &stored, secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> WorkforceSpec {
        WorkforceSpec {
            executions: 1,
            task_ids: 4,
            workers: 2,
        }
    }

    fn exec() -> Execution {
        Execution {
            id: Uuid::nil(),
            owner: Uuid::nil(),
            completed_before: 1,
            failed_before: 0,
        }
    }

    fn worker(completed: i64, failed: i64, rejected: u64) -> WorkerResult {
        let mut c = Counts {
            inserts: 4,
            rejected,
            ..Counts::default()
        };
        c.completed.insert(0, completed);
        c.failed.insert(0, failed);
        WorkerResult(c)
    }

    #[test]
    fn exact_counters_and_unique_rows_pass() {
        let stored = [Stored {
            rows: 4,
            distinct: 4,
            completed_tasks: 4,
            failed_tasks: 1,
        }];
        let (w, failures) = judge(
            &spec(),
            &[exec()],
            vec![worker(2, 0, 2), worker(1, 1, 2)],
            &stored,
            0.1,
        );
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!((w.task_inserts, w.duplicates_rejected), (8, 4));
        assert_eq!(
            w.completed_tasks,
            CounterCheck {
                expected: 4,
                actual: 4
            }
        );
    }

    #[test]
    fn a_stored_duplicate_and_a_lost_increment_fail() {
        let stored = [Stored {
            rows: 5,
            distinct: 4,
            completed_tasks: 3,
            failed_tasks: 1,
        }];
        let (w, failures) = judge(
            &spec(),
            &[exec()],
            vec![worker(2, 0, 2), worker(1, 1, 1)],
            &stored,
            0.1,
        );
        assert_eq!(w.duplicates_stored, 1);
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(failures[0].contains("completed_tasks is 3, expected 4"));
        assert!(failures[0].contains("1 increment(s) lost"));
        assert!(failures[1].starts_with("workforce: 1 duplicate task(s) stored"));
    }
}
