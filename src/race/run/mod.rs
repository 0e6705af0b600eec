//! Running a race scenario's paths — one after another, as a strategy matrix, or all at once
//! ("mixed") — and turning each outcome and the oracle's verdict into a report entry.

use super::calls::{
    LEDGER_TABLE, NAMED_STATEMENTS_LOST, PathCalls, PgCalls, Ways, is_connection_fault,
};
use super::engine::{self, Deltas, KeyDist, Live, Load, Outcome, Until};
use super::judge::{injected_failures, retryable_failures};
use super::oracle;
use super::plan::{RaceMode, RunPlan};
use super::solo;
use super::table::CounterTable;
use super::values::{KeyValue, ParamTypes};
use crate::Stop;
use crate::error::{Error, Result};
use crate::faults::{FaultEnv, Injected, Injector};
use crate::progress::Progress;
use crate::report::{
    AbsentReport, CallKind, ClientPath, CounterReport, ErrorReport, LostPairReport, PathReport,
    PathStrategy, Resolved, WitnessReport,
};
use crate::scenario::{ColumnType, Expect, KeyChoice, PathKind, PathSpec, Strategy};
use crate::shard::barrier::Coordinator;
use crate::stats::{self, LatencyUs};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio_postgres::error::SqlState;

/// How far into the first load `--faults restart:once` crashes the server.
const RESTART_AFTER: std::time::Duration = std::time::Duration::from_millis(300);

/// Everything the paths of one run share.
pub struct Race<'a> {
    pub plan: &'a RunPlan,
    /// Each path's parameter types, by path name, as the statement check described them.
    pub types: &'a BTreeMap<String, Arc<ParamTypes>>,
    pub client: &'a tokio_postgres::Client,
    pub pool: &'a deadpool_postgres::Pool,
    /// The client threads the pool's connections were opened on.
    pub lanes: Arc<super::lanes::Lanes>,
    /// The pool's connections whose socket a worker can borrow (`pg::wire`).
    pub wires: Arc<crate::pg::wire::Wires>,
    pub table: &'a CounterTable,
    pub keys: Arc<Vec<KeyValue>>,
    pub absent: Arc<Vec<KeyValue>>,
    pub stop: &'a Stop,
    pub progress: Progress,
    /// What `--faults` injects, and where; `None` without faults.
    pub faults: Option<&'a FaultEnv>,
    /// Faults injected so far, over every load.
    pub injected: std::sync::Mutex<Injected>,
    /// Where the run's own connection goes, to open it again after a restart fault.
    pub endpoint: crate::pg::Endpoint,
    /// The run's own connection after a restart fault ended `client`.
    pub after_restart: tokio::sync::OnceCell<tokio_postgres::Client>,
    /// In a sharded run, this shard's seat at the meeting point (`None`: an ordinary run).
    pub shard: Option<&'a Coordinator>,
    /// Shards seen dead at a barrier.
    pub gone: std::sync::Mutex<Vec<u32>>,
}

impl Race<'_> {
    /// The run's own connection: the first one, or the one opened after a restart.
    pub fn db(&self) -> &tokio_postgres::Client {
        self.after_restart.get().unwrap_or(self.client)
    }

    /// Each path in turn on freshly reset counters; with `--matrix`, every read-modify-write
    /// path once per strategy.
    pub async fn sequential(&self) -> Result<Vec<PathReport>> {
        let judge = self.judge();
        self.each_load(|spec, strategy, ran| Ok(judge.path(spec, strategy, ran)))
            .await
    }

    /// Runs each load in turn (as `sequential`) and hands each one's outcome to `f`.
    pub async fn each_load<T>(
        &self,
        mut f: impl FnMut(&PathSpec, Strategy, Ran) -> Result<T>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for spec in &self.plan.scenario.paths {
            for strategy in strategies(spec, self.plan) {
                // Interrupted: the paths so far make the partial report.
                if self.stop.token.is_cancelled() {
                    return Ok(out);
                }
                let ran = self.one(spec, strategy, out.len() as i32).await?;
                out.push(f(spec, strategy, ran)?);
            }
        }
        Ok(out)
    }

    /// How the judge sees this run.
    pub fn judge(&self) -> Judge<'_> {
        Judge {
            plan: self.plan,
            keys: &self.keys,
            faults: self.faults.is_some(),
        }
    }

    /// Resets the counters and reads them: the state a load starts from. In a sharded run only
    /// shard 0 does it (and records the values for `verify`), then every shard waits at the
    /// load's start line.
    async fn start_line(&self, label: &str) -> Result<Vec<Vec<Decimal>>> {
        let first = self.shard.is_none_or(|c| c.shard.index == 0);
        let mut initial = Vec::new();
        if first {
            self.table.reset(self.db()).await?;
            initial = self.read().await?;
        }
        if let Some(c) = self.shard {
            if first {
                c.save_values(label, "initial", &initial).await?;
            }
            let gone = c.barrier(&format!("{label}:start"), self.stop).await?;
            self.gone.lock().map(|mut g| g.extend(gone)).ok();
        }
        Ok(initial)
    }

    /// The counters once a load ended; in a sharded run, once every shard's load ended, read
    /// and recorded by shard 0 only.
    async fn finish_line(&self, label: &str) -> Result<Vec<Vec<Decimal>>> {
        let Some(c) = self.shard else {
            return self.read().await.map_err(|e| self.stop.or(e));
        };
        let gone = c.barrier(&format!("{label}:end"), self.stop).await?;
        self.gone.lock().map(|mut g| g.extend(gone)).ok();
        if c.shard.index != 0 {
            return Ok(Vec::new());
        }
        let values = self.read().await.map_err(|e| self.stop.or(e))?;
        c.save_values(label, "final", &values).await?;
        Ok(values)
    }

    /// One path's load on freshly reset counters; `n` numbers the load within the run (the
    /// ledger's `load`; the first load is the one a restart fault hits).
    async fn one(&self, spec: &PathSpec, strategy: Strategy, n: i32) -> Result<Ran> {
        let columns = &self.plan.scenario.counters.columns;
        let label = label(spec, strategy, self.plan.mode == RaceMode::Matrix);
        let initial = self.start_line(&label).await?;
        let live = Arc::new(Live::default());
        let bar = self.progress.bar(
            &label,
            self.plan.ops_hint(),
            live.clone(),
            self.plan.duration(),
        );
        let deltas = Deltas::Drawn(
            columns
                .iter()
                .map(|c| {
                    let (lo, hi) = c.delta.units();
                    (lo, hi, c.delta.scale)
                })
                .collect(),
        );
        // Shards share the ledger: each numbers its loads apart from the others'.
        let ledger_no = match self.shard {
            Some(c) => n * c.shard.count as i32 + c.shard.index as i32,
            None => n,
        };
        let ways = Arc::new(Ways::default());
        let (calls, load) = self
            .load(
                spec,
                strategy,
                ways.clone(),
                (0, ledger_no),
                self.plan.workers,
                self.plan.until,
                self.plan.rate,
                deltas,
            )
            .await;
        let injector = self
            .faults
            .map(|env| Injector::start(env, n == 0, RESTART_AFTER));
        let socket = calls.on_socket();
        let mut outcome = engine::run(calls, load, live, self.stop).await;
        if let Some(i) = injector {
            let injected = i.stop().await;
            if injected.get("restart").is_some_and(|n| *n > 0) {
                let fresh = crate::pg::connect(&self.endpoint)
                    .await
                    .map_err(Error::db("cannot reconnect after the restart fault"))?;
                let _ = self.after_restart.set(fresh);
            }
            if let Ok(mut all) = self.injected.lock() {
                for (k, v) in injected {
                    *all.entry(k).or_default() += v;
                }
            }
        }
        drop(bar);
        self.ended(&label, &outcome)?;
        let resolved = match self.plan.ledger {
            true => Some(self.resolve(ledger_no, &mut outcome, spec).await?),
            false => None,
        };
        let final_values = self.finish_line(&label).await?;
        let solo = self.solo(spec, strategy, n).await;
        Ok(Ran {
            label,
            initial,
            outcome,
            resolved,
            final_values,
            ways: Some(ways.counts()),
            solo,
            socket: Some(socket),
        })
    }

    /// The path's solo latency ([`solo`]), once its load is over: not under faults (a cut
    /// connection is not a slow call), with the ledger (its ids would collide), in the open model
    /// (it times the schedule, not the call), in a shard (shards end at different times) or once
    /// interrupted.
    async fn solo(&self, spec: &PathSpec, strategy: Strategy, n: i32) -> Option<solo::Solo> {
        if self.faults.is_some()
            || self.plan.ledger
            || self.plan.rate.is_some()
            || self.shard.is_some()
            || self.stop.token.is_cancelled()
        {
            return None;
        }
        let columns = &self.plan.scenario.counters.columns;
        let deltas: Vec<Decimal> = columns
            .iter()
            .map(|c| Decimal::new(c.delta.units().0, c.delta.scale))
            .collect();
        let (calls, _) = self
            .load(
                spec,
                strategy,
                Arc::new(Ways::default()),
                (1, n),
                1,
                Until::Ops(solo::CALLS as u64),
                None,
                Deltas::Drawn(Vec::new()),
            )
            .await;
        solo::probe(&*calls, self.keys.len() as u32, &deltas, self.plan.seed).await
    }

    /// Resolves every indeterminate call of load `n` from the ledger: one that committed joins
    /// the acknowledged sums (a read-modify-write one makes the witness count a lower bound), one that did not is
    /// dropped; the oracle then checks the rows to the unit.
    async fn resolve(&self, n: i32, outcome: &mut Outcome, spec: &PathSpec) -> Result<Resolved> {
        let ids: Vec<i64> = outcome.unresolved.iter().map(|u| u.id as i64).collect();
        let rows = self
            .db()
            .query(
                &format!("SELECT id FROM {LEDGER_TABLE} WHERE load = $1 AND id = ANY($2)"),
                &[&n, &ids],
            )
            .await
            .map_err(Error::db("cannot read the ledger"))?;
        let committed: std::collections::HashSet<i64> = rows.iter().map(|r| r.get(0)).collect();
        let mut resolved = Resolved::default();
        let rmw = matches!(spec.kind, PathKind::ReadModifyWrite { .. });
        for u in std::mem::take(&mut outcome.unresolved) {
            if committed.contains(&(u.id as i64)) {
                resolved.committed += 1;
                outcome.acked.add(u.key, &u.deltas, 1);
                // Its read is not in the spilled history: the chains it belongs to can no
                // longer be walked exactly, so the lost-update count becomes a lower bound.
                if rmw {
                    outcome.witnesses_dropped += 1;
                }
            } else {
                resolved.not_committed += 1;
            }
        }
        let columns = self.plan.scenario.counters.columns.len();
        outcome.unknown_pos = oracle::RowSums::new(columns);
        outcome.unknown_neg = oracle::RowSums::new(columns);
        Ok(resolved)
    }

    /// What ends a run after a path's load: a worker's panic (exit 3), a second signal (no
    /// report), or calls that failed because of the connection (exit 3). An interrupted load is
    /// still judged: its abandoned calls are of unknown outcome and widen the bounds.
    fn ended(&self, label: &str, outcome: &Outcome) -> Result<()> {
        if let Some(m) = &outcome.panicked {
            return Err(Error::Environment(format!(
                "path '{label}': a load worker panicked ({m}); the run was stopped and cleaned \
                    up (a bug in loadtest: please report it)"
            )));
        }
        if self.stop.at_once() {
            return Err(self.stop.error());
        }
        // Under --faults, connection faults are what was asked for: accounted, not fatal.
        if !outcome.interrupted && self.faults.is_none() {
            connection_faults(label, outcome)?;
        }
        Ok(())
    }

    /// All paths at once on the same rows, the way a half-upgraded fleet behaves. Every call of
    /// path *j* adds `base^j` to the first counter column, so the final values say exactly how
    /// many of each path's increments survived (see `oracle::attribute`).
    pub async fn mixed(&self) -> Result<Vec<PathReport>> {
        let (outcomes, final_values) = self.mixed_loads().await?;
        Ok(self.judge().mixed(outcomes, &final_values))
    }

    /// The loads of a mixed run, and the counters after them (empty on shards other than 0).
    pub async fn mixed_loads(&self) -> Result<(Vec<Outcome>, Vec<Vec<Decimal>>)> {
        let Until::Ops(ops) = self.plan.until else {
            return Err(Error::Input(
                "--mixed needs --ops (not --duration): the attribution of \
                lost increments is sized from the call count"
                    .into(),
            ));
        };
        let paths = &self.plan.scenario.paths;
        let base = mixed_base(self.plan)?;
        let columns = &self.plan.scenario.counters.columns;
        self.start_line(MIXED).await?;
        let live = Arc::new(Live::default());
        let bar = self
            .progress
            .bar("mixed", ops * paths.len() as u64, live.clone(), None);
        let workers = (self.plan.workers / paths.len()).max(1);
        let mut runs = Vec::new();
        for (j, spec) in paths.iter().enumerate() {
            let mut units = vec![Decimal::from(base.pow(j as u32))];
            units.extend(
                columns
                    .iter()
                    .skip(1)
                    .map(|c| Decimal::new(1, c.delta.scale)),
            );
            let (calls, load) = self
                .load(
                    spec,
                    self.plan.strategy(),
                    Arc::new(Ways::default()),
                    (j as u64, j as i32),
                    workers,
                    Until::Ops(ops),
                    self.plan.rate.map(|r| r / paths.len() as f64),
                    Deltas::Counting(units),
                )
                .await;
            runs.push(engine::run(calls, load, live.clone(), self.stop));
        }
        let outcomes: Vec<Outcome> = futures_util::future::join_all(runs).await;
        drop(bar);
        for (spec, outcome) in paths.iter().zip(&outcomes) {
            self.ended(&format!("{}@mixed", spec.name), outcome)?;
        }
        let final_values = self.finish_line(MIXED).await?;
        Ok((outcomes, final_values))
    }

    /// A path's calls over the pool, and the load the engine runs with them.
    #[allow(clippy::too_many_arguments)]
    async fn load(
        &self,
        spec: &PathSpec,
        strategy: Strategy,
        ways: Arc<Ways>,
        (stream, load_no): (u64, i32),
        workers: usize,
        until: Until,
        rate: Option<f64>,
        deltas: Deltas,
    ) -> (Arc<PgCalls>, Load) {
        let scenario = &self.plan.scenario;
        let calls = PgCalls::new(
            self.pool,
            PathCalls {
                kind: spec.kind.clone(),
                mode: self.plan.query_mode,
                types: self.types.get(&spec.name).cloned().unwrap_or_default(),
                strategy: if !matches!(spec.kind, PathKind::ReadModifyWrite { .. }) {
                    Strategy::None
                } else {
                    strategy
                },
                retries: self.plan.retries,
                keys: self.keys.clone(),
                absent: self.absent.clone(),
                columns: scenario.counters.columns.len(),
                connections: (self.plan.connections * workers / self.plan.workers.max(1)).max(1),
                workers,
                ledger: self.plan.ledger.then_some(load_no),
                faults: self.faults.is_some(),
                ways,
                lanes: Some(self.lanes.clone()),
                wires: self.plan.socket.then(|| self.wires.clone()),
            },
        )
        .await;
        let load = Load {
            until,
            rate,
            workers,
            seed: self.plan.load_seed(),
            stream,
            keys: self.keys.len() as u32,
            absent: self.absent.len() as u32,
            dist: match scenario.keys.choice {
                KeyChoice::Uniform => KeyDist::Uniform,
                KeyChoice::Hot { share } => KeyDist::Hot { share },
                KeyChoice::Zipf { s } => KeyDist::Zipf { s },
            },
            absent_share: scenario.keys.absent_share,
            deltas,
            columns: scenario.counters.columns.len(),
        };
        (Arc::new(calls), load)
    }

    /// Counter values in key order; a key that disappeared during the run is a failure of the
    /// schema under test, reported as such.
    async fn read(&self) -> Result<Vec<Vec<Decimal>>> {
        let mut by_key = self
            .table
            .read(self.db(), self.plan.scenario.counters.columns.len())
            .await?;
        self.keys
            .iter()
            .map(|k| {
                by_key.remove(k).ok_or_else(|| {
                    Error::Environment(
                        "a counter row disappeared during the run (was it deleted \
                        by a trigger or the RPC?)"
                            .into(),
                    )
                })
            })
            .collect()
    }
}

/// The label under which a mixed run's counters are recorded in a sharded run.
pub const MIXED: &str = "mixed";

/// What one load left for the judge: the counters before and after, and what the workers saw.
pub struct Ran {
    pub label: String,
    pub initial: Vec<Vec<Decimal>>,
    pub outcome: Outcome,
    pub resolved: Option<Resolved>,
    pub final_values: Vec<Vec<Decimal>>,
    /// A `rpc-with-fallback` path's (calls via the RPC, calls via the fallback); `None` where
    /// not counted (a sharded run's partials).
    pub ways: Option<(u64, u64)>,
    /// The path's solo latency, when measured ([`solo`]).
    pub solo: Option<solo::Solo>,
    /// Whether the workers called on their own sockets (`pg::wire`); `None` where not known.
    pub socket: Option<bool>,
}

/// The loads a path makes in turn: an RPC once, a read-modify-write path under the run's
/// strategy, or under every strategy in a matrix.
pub fn strategies(spec: &PathSpec, plan: &RunPlan) -> Vec<Strategy> {
    match (&spec.kind, plan.mode) {
        (PathKind::Rpc { .. } | PathKind::RpcWithFallback { .. }, _) => vec![Strategy::None],
        (PathKind::ReadModifyWrite { .. }, RaceMode::Matrix) => Strategy::ALL.to_vec(),
        (PathKind::ReadModifyWrite { .. }, _) => vec![plan.strategy()],
    }
}

/// A path's label in the report (and in a sharded run's partials).
pub fn path_label(spec: &PathSpec, strategy: Strategy, plan: &RunPlan) -> String {
    label(spec, strategy, plan.mode == RaceMode::Matrix)
}

/// The base of a mixed run's counting (see `oracle::attribute`): one more than the calls a
/// path makes over all shards; refused when the first column could not hold it.
pub fn mixed_base(plan: &RunPlan) -> Result<u64> {
    let ops = plan.total_ops();
    let paths = &plan.scenario.paths;
    let columns = &plan.scenario.counters.columns;
    let base = ops + 1;
    let top = (0..paths.len()).try_fold(0u128, |acc, j| {
        acc.checked_add(u128::from(ops) * u128::from(base).checked_pow(j as u32)?)
    });
    if columns[0].ty == ColumnType::Integer && top.is_none_or(|t| t > i32::MAX as u128) {
        return Err(Error::Input(format!(
            "--mixed with {} paths and --ops {ops} would overflow the integer column {}: \
                lower --ops",
            paths.len(),
            columns[0].name
        )));
    }
    Ok(base)
}

/// Calls that failed because of the connection (see [`is_connection_fault`]) say nothing about
/// the path: rather than count them against it, the run stops (exit 3) and says why.
fn connection_faults(label: &str, outcome: &Outcome) -> Result<()> {
    let calls = outcome.ops_ok + outcome.ops_failed + outcome.absent.sent;
    let errors = outcome.errors.iter().chain(&outcome.absent.rejected);
    match fault_message(label, calls, errors) {
        Some(m) => Err(Error::Environment(m)),
        None => Ok(()),
    }
}

fn fault_message<'a>(
    label: &str,
    calls: u64,
    errors: impl Iterator<Item = (&'a String, &'a engine::ErrorClass)>,
) -> Option<String> {
    let (mut count, mut first) = (0, None);
    for (class, e) in errors.filter(|(class, _)| is_connection_fault(class)) {
        count += e.count;
        first.get_or_insert((class, &e.message));
    }
    let (class, message) = first?;
    let why = if class == SqlState::INVALID_SQL_STATEMENT_NAME.code() {
        NAMED_STATEMENTS_LOST
    } else {
        "the connection failed, not the path: run again on a stable connection"
    };
    Some(format!(
        "path '{label}': {count} of {calls} calls failed with \"{message}\" (SQLSTATE {class}): {why}"
    ))
}

mod entries;
pub use entries::Judge;
use entries::label;
pub(crate) use entries::{held, path_report, record_verdict, record_ways};

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(v: &[(&str, u64, &str)]) -> BTreeMap<String, engine::ErrorClass> {
        v.iter()
            .map(|(class, count, message)| {
                let e = engine::ErrorClass {
                    count: *count,
                    message: message.to_string(),
                };
                (class.to_string(), e)
            })
            .collect()
    }

    #[test]
    fn a_lost_named_statement_blames_the_connection_and_names_the_flag() {
        let e = errors(&[
            ("23505", 3, "duplicate key"),
            ("26000", 2645, "prepared statement \"s56\" does not exist"),
        ]);
        let m = fault_message("rpc", 3000, e.iter()).unwrap();
        assert!(m.starts_with("path 'rpc': 2645 of 3000 calls failed with \"prepared statement \"s56\" does not exist\" (SQLSTATE 26000)"), "{m}");
        assert!(m.contains("--query-mode extended or simple"), "{m}");
    }

    #[test]
    fn broken_connections_are_the_connection_s_fault_and_refusals_are_not() {
        let e = errors(&[
            ("08006", 2, "connection failure"),
            ("57P01", 1, "terminating"),
        ]);
        let m = fault_message("fallback", 10, e.iter()).unwrap();
        assert!(m.contains("3 of 10 calls"), "{m}");
        assert!(m.contains("stable connection"), "{m}");
        let e = errors(&[("40001", 5, "could not serialize"), ("no_row", 1, "gone")]);
        assert_eq!(fault_message("fallback", 10, e.iter()), None);
    }
}
