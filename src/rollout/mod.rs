//! A rollout under live load: the schema up to the migration before `--rollout VERSION`, the
//! scenario's data, then the load (counter paths, usually `rpc-with-fallback`, and insert
//! writers); while it runs, VERSION and every later migration through the same runner as
//! always (records and checksums), watched statement by statement by a side connection
//! ([`sampler`]); then `settle` more of load.
//!
//! The counter paths run as two loads with a quiet point between them, at the end of the last
//! migration: the oracle checks each load on its own, so increments lost while the fallback
//! could still run are told apart from any lost after the switch, when only the RPC runs (there
//! must be none). The writers run through both.
//!
//! - `plan`: flags ⊕ scenario → what to run; `sampler`: what each statement cost;
//!   `writers`: the insert load; `judge`: write stalls and post-switch losses (pure);
//!   `checks`: counters at each checkpoint, the oracle per load, the merged path report.

mod checks;
pub mod judge;
pub mod plan;
pub mod sampler;
pub mod writers;

use crate::Stop;
use crate::error::{Error, Result};
use crate::faults;
use crate::pg::{self, migrate, schema, server, target};
use crate::progress::Progress;
use crate::race::calls::{PathCalls, PgCalls, Ways};
use crate::race::engine::{self, Deltas, KeyDist, Live, Load, Until};
use crate::race::oracle;
use crate::race::run::{held, path_report, record_verdict, record_ways};
use crate::race::table::{self, CounterTable};
use crate::race::values::{KeyValue, ParamTypes};
use crate::report::rollout_model::{PhaseLosses, RolloutReport};
use crate::report::{self, Body, RaceBody, Report};
use crate::scenario::{self, Expect, PathSpec, Scenario, Strategy};
use checks::{merge, read_all, settings, verdict};
use plan::RolloutPlan;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A load that never ends by itself: the rollout ends it.
const UNTIL_STOPPED: Duration = Duration::from_secs(24 * 3600);

/// One counter path of the rollout, with what its calls need.
struct PathLoad<'a> {
    traffic: usize,
    spec: &'a PathSpec,
    types: Arc<ParamTypes>,
    ways: Arc<Ways>,
}

/// One traffic's counter table, keys and counter values at each checkpoint.
struct Rows<'a> {
    scenario: &'a Scenario,
    table: CounterTable,
    keys: Arc<Vec<KeyValue>>,
}

/// Runs the rollout and returns its report and the UTC timestamp naming its files.
pub async fn execute(plan: &RolloutPlan, stop: &Stop) -> Result<(Report, String)> {
    let run_id = target::new_run_id();
    let started_at = chrono::Utc::now();
    let began = Instant::now();
    let progress = Progress::new(plan.quiet);
    let connections = plan.connections();
    let report = target::with_target(
        &plan.database,
        connections + 3,
        &run_id,
        stop,
        async |target| {
            let client = pg::connect(&target.config())
                .await
                .map_err(Error::db("cannot connect to the scratch database"))?;
            // Beside the load: this connection, the migration's and the sampler's.
            server::check_capacity(&client, connections + 2, "--workers").await?;
            let before = schema::SchemaPlan {
                migrations: plan.before.clone(),
                ..plan.schema.clone()
            };
            let built = schema::build_schema(&client, &before, |l| progress.line(&l)).await?;
            let mut warnings = built.warnings.clone();
            progress.line(&format!("seeding: {}", plan.data.scale));
            table::run_setup(&client, &plan.origin, &plan.data.setup, plan.seed).await?;
            let (rows, paths) = prepare(&client, plan).await?;
            stop.check(Ok(()))?;
            let endpoint =
                faults::load_endpoint(&target.config(), &faults::FaultPlan::default(), None);
            let pool_size = (connections - writer_workers(plan)).max(1);
            let pool = crate::race::pool(
                &endpoint,
                pool_size,
                Default::default(),
                &Default::default(),
            )?;
            let initial = read_all(&client, &rows).await?;
            let mut writers = Vec::new();
            for w in &plan.writes {
                let n = w.workers.unwrap_or(plan.workers);
                match writers::start(&endpoint, w, n, &plan.origin).await {
                    Ok(r) => writers.push(r),
                    Err(e) => {
                        writers.into_iter().for_each(writers::Running::abort);
                        return Err(e);
                    }
                }
            }
            let mig = pg::connect(&target.config())
                .await
                .map_err(Error::db("cannot open the migration's connection"))?;
            let pid: i32 = mig
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .map_err(Error::db("cannot open the migration's connection"))?
                .get(0);
            let side = pg::connect(&target.config())
                .await
                .map_err(Error::db("cannot open the sampler's connection"))?;
            let t0 = Instant::now();
            let watch = sampler::Watch::new(t0);
            let sampling = tokio_util::sync::CancellationToken::new();
            let sampler_task =
                tokio::spawn(sampler::run(side, pid, watch.clone(), sampling.clone()));

            // The load while the migrations run, ended at a quiet point after the last one.
            let mut phase = Stop::default();
            phase.token = stop.token.child_token();
            phase.now = stop.now.clone();
            let live = Arc::new(Live::default());
            let first = paths.iter().enumerate().map(|(j, p)| {
                let (calls, load) = load(
                    &pool,
                    plan,
                    p,
                    &rows[p.traffic],
                    j as u64,
                    Until::Elapsed(UNTIL_STOPPED),
                );
                engine::run(calls, load, live.clone(), &phase)
            });
            let migrating = async {
                tokio::select! {
                    _ = tokio::time::sleep(plan.load_before) => {}
                    _ = stop.token.cancelled() => {}
                }
                let r = match stop.token.is_cancelled() {
                    true => Err(stop.error()),
                    false => {
                        progress.line(&format!(
                            "rolling out {} under load ({} file(s))",
                            plan.version,
                            plan.under_load.len()
                        ));
                        migrate::apply_watched(
                            &mig,
                            &plan.under_load,
                            |a| {
                                progress.line(&format!(
                                    "  applied {:<55} {:>8.1} ms (under load)",
                                    a.file_name,
                                    a.duration.as_secs_f64() * 1000.0
                                ))
                            },
                            Some(&watch),
                        )
                        .await
                        .map_err(Error::from)
                    }
                };
                phase.token.cancel();
                r
            };
            let (phase1, applied) = tokio::join!(futures_util::future::join_all(first), migrating);
            let applied = match applied {
                Ok(a) => a,
                Err(e) => {
                    sampling.cancel();
                    writers.into_iter().for_each(writers::Running::abort);
                    return Err(stop.or(e));
                }
            };
            let switched = read_all(&client, &rows).await?;
            let switched_at = t0.elapsed();

            // The settle period: the same paths, only the RPC should run now.
            let ways_before: Vec<(u64, u64)> = paths.iter().map(|p| p.ways.counts()).collect();
            let second = paths.iter().enumerate().map(|(j, p)| {
                let (calls, load) = load(
                    &pool,
                    plan,
                    p,
                    &rows[p.traffic],
                    (paths.len() + j) as u64,
                    Until::Elapsed(plan.settle),
                );
                engine::run(calls, load, live.clone(), stop)
            });
            let phase2 = futures_util::future::join_all(second).await;
            let finals = read_all(&client, &rows).await?;
            sampling.cancel();
            let _ = sampler_task.await;
            let mut writes = Vec::new();
            for w in writers {
                writes.push(w.finish().await);
            }
            let (migrations, statements) = watch.results();

            let mut reports = Vec::new();
            let mut losses = Vec::new();
            for (j, ((p, o1), o2)) in paths.iter().zip(phase1).zip(phase2).enumerate() {
                let r = &rows[p.traffic];
                let t = p.traffic;
                let alone = paths.iter().filter(|q| q.traffic == t).count() == 1;
                let v1 = verdict(r, &initial[t], &switched[t], &o1);
                let v2 = verdict(r, &switched[t], &finals[t], &o2);
                let merged = merge(o1, o2);
                let mut report =
                    path_report(p.spec, p.spec.name.clone(), Strategy::None, merged, false);
                record_ways(&mut report, p.spec, p.ways.counts());
                let whole = oracle::Verdict {
                    columns: v1
                        .columns
                        .iter()
                        .zip(&v2.columns)
                        .map(|(a, b)| oracle::ColumnVerdict {
                            expected: a.expected + b.expected - (a.actual),
                            actual: b.actual,
                            missing: a.missing + b.missing,
                            extra: a.extra + b.extra,
                        })
                        .collect(),
                    rows_short: v1.rows_short + v2.rows_short,
                    rows_over: v1.rows_over + v2.rows_over,
                    lost_updates: v1.lost_updates + v2.lost_updates,
                    lost_updates_exact: false,
                    lost_amount_from_witnesses: None,
                    examples: Vec::new(),
                };
                if alone {
                    record_verdict(&r.scenario.counters.columns, &r.keys, &mut report, &whole);
                }
                report.expectation_held = held(
                    p.spec.expect,
                    whole.lost_updates,
                    report.ops_failed,
                    whole.rows_over,
                ) && (p.spec.expect == Expect::Exact
                    || v2.lost_updates == 0);
                let after = p.ways.counts().1 - ways_before[j].1;
                losses.push(PhaseLosses {
                    path: p.spec.name.clone(),
                    lost_during_rollout: v1.lost_updates,
                    missing_during_rollout: v1
                        .columns
                        .iter()
                        .map(|c| c.missing.normalize())
                        .collect(),
                    lost_during_settle: v2.lost_updates,
                    missing_during_settle: v2
                        .columns
                        .iter()
                        .map(|c| c.missing.normalize())
                        .collect(),
                    calls_via_fallback_during_settle: after,
                });
                reports.push(report);
            }
            let (mut failures, mut more) = crate::race::judge::judge(&reports, false);
            warnings.append(&mut more);
            if let Some(limit) = plan.max_write_stall {
                failures.extend(judge::stalls(&statements, limit));
            }
            failures.extend(judge::settle_losses(&losses));
            let database = server::database_info(&client, target)
                .await
                .map_err(|e| stop.or(e))?;
            let mut all_applied = built.applied;
            all_applied.extend(applied);
            let rollout = RolloutReport {
                version: plan.version.clone(),
                settle_s: plan.settle.as_secs_f64(),
                max_write_stall_ms: plan.max_write_stall.map(|d| d.as_secs_f64() * 1000.0),
                data: plan.data.scale.clone(),
                load_before_s: plan.load_before.as_secs_f64(),
                migrations,
                statements,
                writes,
                losses,
            };
            let run = report::Run {
                scenario: &plan.name,
                scenario_origin: &plan.origin,
                description: &plan.description,
                run_id: &run_id,
                started_at,
                began,
                command_line: &plan.command_line,
            };
            let body = Body::Race(RaceBody {
                settings: settings(plan, t0.elapsed().max(switched_at)),
                paths: reports,
                faults: None,
                rollout: Some(rollout),
            });
            let findings = report::Findings {
                database,
                migrations: report::Migrations::of(&plan.schema, &all_applied),
                failures,
                warnings,
            };
            let mut report = Report::new(run, body, findings);
            if stop.token.is_cancelled() {
                report.interrupted(stop.signal().name());
            }
            Ok(report)
        },
    )
    .await?;
    Ok((report, started_at.format("%Y%m%dT%H%M%SZ").to_string()))
}

fn writer_workers(plan: &RolloutPlan) -> usize {
    plan.writes
        .iter()
        .map(|w| w.workers.unwrap_or(plan.workers))
        .sum()
}

/// Every traffic's counter table and keys, and every path's statements checked against the
/// schema as it is before the rollout (a missing RPC is expected then).
async fn prepare<'a>(
    client: &tokio_postgres::Client,
    plan: &'a RolloutPlan,
) -> Result<(Vec<Rows<'a>>, Vec<PathLoad<'a>>)> {
    let mut rows = Vec::new();
    let mut paths = Vec::new();
    for (t, s) in plan.traffic.iter().enumerate() {
        for spec in &s.paths {
            let types = table::check_path(client, s, spec).await.map_err(|e| {
                match (&spec.kind, e) {
                    // Before the rollout the RPC may not exist: a plain `rpc` path cannot run.
                    (scenario::PathKind::Rpc { .. }, Error::Input(m)) => Error::Input(format!(
                        "{m}; before the rollout the function may not exist yet: give the path \
                            kind = \"rpc-with-fallback\" with the read and write the app falls \
                            back to"
                    )),
                    (_, e) => e,
                }
            })?;
            paths.push(PathLoad {
                traffic: t,
                spec,
                types: Arc::new(types),
                ways: Arc::default(),
            });
        }
        let table = CounterTable::new(s);
        let keys = Arc::new(table.keys(client).await?);
        if keys.is_empty() {
            return Err(Error::Input(format!(
                "{}: the data left {} empty: the traffic needs rows to increment",
                plan.origin, s.counters.table
            )));
        }
        rows.push(Rows {
            scenario: s,
            table,
            keys,
        });
    }
    Ok((rows, paths))
}

/// One path's calls and load, each worker on a connection of its own.
fn load(
    pool: &deadpool_postgres::Pool,
    plan: &RolloutPlan,
    p: &PathLoad,
    r: &Rows,
    stream: u64,
    until: Until,
) -> (Arc<PgCalls>, Load) {
    let s = r.scenario;
    let calls = PgCalls::pooled(
        pool,
        PathCalls {
            kind: p.spec.kind.clone(),
            mode: plan.query_mode,
            types: p.types.clone(),
            strategy: Strategy::None,
            retries: 0,
            keys: r.keys.clone(),
            absent: Arc::new(Vec::new()),
            columns: s.counters.columns.len(),
            connections: plan.workers,
            workers: plan.workers,
            ledger: None,
            faults: false,
            ways: p.ways.clone(),
            lanes: None,
            wires: None,
        },
    );
    let load = Load {
        until,
        rate: None,
        workers: plan.workers,
        seed: plan.seed,
        stream,
        keys: r.keys.len() as u32,
        absent: 0,
        dist: match s.keys.choice {
            scenario::KeyChoice::Uniform => KeyDist::Uniform,
            scenario::KeyChoice::Hot { share } => KeyDist::Hot { share },
            scenario::KeyChoice::Zipf { s } => KeyDist::Zipf { s },
        },
        absent_share: 0.0,
        deltas: Deltas::Drawn(
            s.counters
                .columns
                .iter()
                .map(|c| {
                    let (lo, hi) = c.delta.units();
                    (lo, hi, c.delta.scale)
                })
                .collect(),
        ),
        columns: s.counters.columns.len(),
    };
    (Arc::new(calls), load)
}
