//! One race run: build the schema, seed, fire every path's calls (one after another, as a
//! strategy matrix, or all at once), let the oracle judge, and assemble the report.
//!
//! - `engine`: workers, schedule, cancellation; generic over how a call is made, knows no SQL;
//! - `calls`: the SQL of each path (prepared statements, one call, SQLSTATE classes);
//! - `table`: the counter table (keys, reset, read) and the scenario's setup;
//! - `probe`: before the load, whether the query mode works through the connection (a
//!   transaction-mode pooler loses named prepared statements);
//! - `oracle`: what each row should hold, exact; `run`: the paths of one run; `judge`: verdicts;
//! - `witnesses`: read-modify-write witnesses spilled to a temporary file, sorted, and the
//!   chains of writes the oracle walks in them.

pub mod calls;
pub mod engine;
pub mod judge;
pub mod lanes;
pub mod oracle;
pub mod plan;
pub mod probe;
pub mod run;
pub mod sharded;
pub mod solo;
pub mod table;
pub mod values;
pub mod witnesses;

use crate::Stop;
use crate::error::{Error, Result};
use crate::faults;
use crate::pg::migrate;
use crate::pg::server;
use crate::pg::target;
use crate::pg::{self, schema};
use crate::progress::Progress;
use crate::report::{self, PathReport, Report};
use crate::report::{Body, KeyChoice, LoadModel, Mode, QueryMode, RaceBody, Settings};
use crate::scenario::{self, Strategy};
use engine::Until;
use plan::{RaceMode, RunPlan};
use run::Race;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use table::CounterTable;
use values::KeyValue;

/// Runs one scenario and returns its report and the UTC timestamp naming its files.
pub async fn execute(plan: &RunPlan, stop: &Stop) -> Result<(Report, String)> {
    let run_id = target::new_run_id();
    let started_at = chrono::Utc::now();
    let began = Instant::now();
    let progress = Progress::new(plan.quiet);
    // Under faults, a connection cut by the proxy keeps its backend until the server notices:
    // the scratch server gets room for a second pool's worth while the pool replaces them.
    let headroom = match plan.faults.is_empty() {
        true => plan.connections,
        false => plan.connections * 2,
    };
    let report = target::with_target(&plan.database, headroom, &run_id, stop, async |target| {
        let client = pg::connect(&target.config())
            .await
            .map_err(Error::db("cannot connect to the scratch database"))?;
        // The run's own client is already connected: the pool needs `connections` more.
        server::check_capacity(&client, plan.connections, "--connections").await?;
        for w in plan.schema.skip_warnings() {
            progress.line(&w);
        }
        let built = schema::build_schema(&client, &plan.schema, |l| progress.line(&l)).await?;
        for w in &built.warnings {
            progress.line(&format!("warning: {w}"));
        }
        stop.check(Ok(()))?;
        let Seeded {
            types,
            table,
            keys,
            absent,
        } = seed(&client, plan, true).await?;
        let proxy = match plan.faults.has("cut") {
            true => Some(Arc::new(
                faults::Proxy::start(faults::upstream_of(&target.config().config))
                    .await
                    .map_err(|e| {
                        Error::Environment(format!("cannot start the fault proxy: {e}"))
                    })?,
            )),
            false => None,
        };
        let load_endpoint = faults::load_endpoint(
            &target.config(),
            &plan.faults,
            proxy.as_ref().map(|p| p.port()),
        );
        let opened = Arc::new(AtomicU64::new(0));
        let lanes = Arc::new(lanes::Lanes::start(plan.threads).map_err(|e| {
            Error::Environment(format!("cannot start {} client threads: {e}", plan.threads))
        })?);
        let wires = Arc::new(pg::wire::Wires::default());
        let pool = pool(&load_endpoint, plan.connections, opened.clone(), &wires)?;
        warm_up(&pool, &lanes, plan, &types).await?;
        if plan.ledger {
            client
                .batch_execute(calls::LEDGER_DDL)
                .await
                .map_err(Error::db("cannot create the ledger table"))?;
        }
        let fault_env = (!plan.faults.is_empty()).then(|| faults::FaultEnv {
            plan: plan.faults.clone(),
            side: target.config(),
            proxy: proxy.clone(),
            restart: target
                .restarter()
                .map(|r| Arc::new(r) as Arc<dyn faults::Restart>),
        });
        let race = Race {
            plan,
            types: &types,
            client: &client,
            pool: &pool,
            lanes: lanes.clone(),
            wires,
            table: &table,
            keys,
            absent: Arc::new(absent),
            stop,
            progress,
            faults: fault_env.as_ref(),
            injected: Default::default(),
            endpoint: target.config(),
            after_restart: Default::default(),
            shard: None,
            gone: Default::default(),
        };
        let paths = match plan.mode {
            RaceMode::Mixed(_) => race.mixed().await?,
            RaceMode::Sequential(_) | RaceMode::Matrix => race.sequential().await?,
        };
        let faults = fault_env.as_ref().map(|env| {
            let injected = race.injected.lock().map(|c| c.clone()).unwrap_or_default();
            faults_report(env, injected, &paths, opened.load(Ordering::Relaxed), plan)
        });
        // Interrupted: a partial report of what ran, unless nothing did or a second
        // signal asked for cleanup only.
        let interrupted = stop.token.is_cancelled();
        if interrupted && (paths.is_empty() || stop.at_once()) {
            return Err(stop.error());
        }
        let database = server::database_info(race.db(), target)
            .await
            .map_err(|e| stop.or(e))?;
        drop(race);
        drop(proxy);
        let mut report = assemble(
            plan,
            &run_id,
            started_at,
            began,
            (paths, faults),
            built.applied,
            database,
        );
        report.warnings.splice(0..0, built.warnings);
        if interrupted {
            report.interrupted(stop.signal().name());
        }
        Ok(report)
    })
    .await?;
    Ok((report, started_at.format("%Y%m%dT%H%M%SZ").to_string()))
}

/// What the paths of a run share once the database is seeded: each path's parameter types, the
/// counter table, its keys, and keys that do not exist.
struct Seeded {
    types: BTreeMap<String, Arc<values::ParamTypes>>,
    table: CounterTable,
    keys: Arc<Vec<KeyValue>>,
    absent: Vec<KeyValue>,
}

/// Checks every path's SQL against the migrated schema, runs the scenario's setup (unless
/// `setup` is false: a shard finds the database seeded by `prepare`) and reads the keys; all
/// before any load, so a bad scenario fails with its file position.
async fn seed(client: &tokio_postgres::Client, plan: &RunPlan, setup: bool) -> Result<Seeded> {
    let mut types = BTreeMap::new();
    for path in &plan.scenario.paths {
        let t = table::check_path(client, &plan.scenario, path).await?;
        types.insert(path.name.clone(), Arc::new(t));
    }
    if setup {
        table::setup(client, &plan.scenario, plan.seed).await?;
    }
    let table = CounterTable::new(&plan.scenario);
    let keys = Arc::new(table.keys(client).await?);
    if keys.is_empty() {
        return Err(Error::Input(format!(
            "{}: setup.sql left {} empty: the scenario needs rows to increment",
            plan.scenario.origin, plan.scenario.counters.table
        )));
    }
    let absent = if plan.absent_share() > 0.0 {
        let here = &plan.scenario.origin;
        KeyValue::absent(&keys, 1024, plan.seed)
            .map_err(|m| Error::Input(format!("{here}: {m}")))?
    } else {
        Vec::new()
    };
    if plan.query_mode == plan::QueryMode::Simple {
        // Every call writes the key as a literal: a key type without one fails here,
        // not as thousands of refused calls.
        for (name, t) in &types {
            if let Some(ty) = t.call.first() {
                keys[0].literal(ty).map_err(|m| {
                    Error::Input(format!("{}: path '{name}': {m}", plan.scenario.origin))
                })?;
            }
        }
    }
    Ok(Seeded {
        types,
        table,
        keys,
        absent,
    })
}

/// The load's pool; `opened` counts every connection it opens (the first `size`, then the
/// replacements of broken ones).
pub(crate) fn pool(
    endpoint: &pg::Endpoint,
    size: usize,
    opened: Arc<AtomicU64>,
    wires: &Arc<pg::wire::Wires>,
) -> Result<deadpool_postgres::Pool> {
    let (config, tls) = endpoint.for_pool();
    let connect = pg::wire::WireConnect {
        tls,
        wires: wires.clone(),
    };
    let mgr = deadpool_postgres::Manager::from_connect(
        config,
        connect,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    let wires = wires.clone();
    deadpool_postgres::Pool::builder(mgr)
        .max_size(size)
        .post_create(deadpool_postgres::Hook::sync_fn(move |conn, _| {
            opened.fetch_add(1, Ordering::Relaxed);
            wires.created(conn);
            Ok(())
        }))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| Error::Environment(format!("cannot build the connection pool: {e}")))
}

/// A pool error with the server's own SQLSTATE and message when the server sent one.
fn pool_error(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(e) => pg::describe(e),
        other => other.to_string(),
    }
}

/// Opens every pooled connection, proves the query mode works through them (named statements
/// survive, or the mode's protocol runs) and, in `prepared` mode, prepares every path's
/// statements on each, so neither connecting nor planning is timed as part of the load.
async fn warm_up(
    pool: &deadpool_postgres::Pool,
    lanes: &lanes::Lanes,
    plan: &RunPlan,
    types: &BTreeMap<String, Arc<values::ParamTypes>>,
) -> Result<()> {
    let strategies: &[Strategy] = match plan.mode {
        RaceMode::Matrix => &Strategy::ALL,
        RaceMode::Sequential(s) | RaceMode::Mixed(s) => &[s],
    };
    let size = plan.connections;
    let mut held = Vec::with_capacity(size);
    // Connection i is opened (and driven) on lane i mod lanes: an even share on each.
    for i in 0..size {
        let c = lanes.get(pool, i).await.map_err(|e| {
            Error::Environment(format!(
                "cannot open {size} connections (--connections): {}",
                pool_error(&e)
            ))
        })?;
        held.push(c);
    }
    // A `--faults timeout` applies to the load's calls, not to proving and preparing: lifted
    // here, and RESET (back to the connection's startup value) once done.
    for c in held.iter().filter(|_| plan.faults.timeout().is_some()) {
        c.batch_execute("SET statement_timeout = 0")
            .await
            .map_err(Error::db("cannot prepare the load's connections"))?;
    }
    let reset = async || -> Result<()> {
        for c in held.iter().filter(|_| plan.faults.timeout().is_some()) {
            c.batch_execute("RESET statement_timeout")
                .await
                .map_err(Error::db("cannot prepare the load's connections"))?;
        }
        Ok(())
    };
    probe::query_mode_works(&held, plan.query_mode).await?;
    if plan.query_mode != plan::QueryMode::Prepared {
        return reset().await;
    }
    for c in &held {
        for p in &plan.scenario.paths {
            let t = types.get(&p.name).cloned().unwrap_or_default();
            for &strategy in strategies {
                calls::Prepared::on(
                    c,
                    &p.kind,
                    strategy,
                    plan.query_mode,
                    &t,
                    &Default::default(),
                )
                .await
                .map_err(Error::db(format!("cannot prepare path '{}'", p.name)))?;
            }
        }
    }
    reset().await
}

fn assemble(
    plan: &RunPlan,
    run_id: &str,
    started_at: chrono::DateTime<chrono::Utc>,
    began: Instant,
    (paths, faults): (Vec<PathReport>, Option<report::FaultsReport>),
    applied: Vec<migrate::Applied>,
    database: report::Database,
) -> Report {
    let (failures, warnings) = judge::judge(&paths, faults.is_some());
    let s = &plan.scenario;
    let run = report::Run {
        scenario: &s.name,
        scenario_origin: &s.origin,
        description: &s.description,
        run_id,
        started_at,
        began,
        command_line: &plan.command_line,
    };
    let body = Body::Race(RaceBody {
        settings: settings(plan),
        paths,
        faults,
        rollout: None,
    });
    let findings = report::Findings {
        database,
        migrations: report::Migrations::of(&plan.schema, &applied),
        failures,
        warnings,
    };
    Report::new(run, body, findings)
}

/// The report's record of how the race ran.
fn settings(plan: &RunPlan) -> Settings {
    let s = &plan.scenario;
    Settings {
        ops: match plan.until {
            Until::Ops(n) => Some(n),
            Until::Elapsed(_) => None,
        },
        duration_s: plan.duration().map(|d| d.as_secs_f64()),
        workers: plan.workers,
        connections: plan.connections,
        seed: plan.seed,
        rows: s.setup.rows,
        key_choice: match s.keys.choice {
            scenario::KeyChoice::Hot { .. } => KeyChoice::Hot,
            scenario::KeyChoice::Uniform => KeyChoice::Uniform,
            scenario::KeyChoice::Zipf { .. } => KeyChoice::Zipf,
        },
        key_parameter: s.keys.choice.parameter(),
        absent_share: s.keys.absent_share,
        load_model: if plan.rate.is_some() {
            LoadModel::Open
        } else {
            LoadModel::Closed
        },
        rate: plan.rate,
        mode: match plan.mode {
            RaceMode::Sequential(_) => Mode::Sequential,
            RaceMode::Matrix => Mode::Matrix,
            RaceMode::Mixed(_) => Mode::Mixed,
        },
        strategy: plan.strategy(),
        retry: plan.retries,
        query_mode: match plan.query_mode {
            plan::QueryMode::Prepared => QueryMode::Prepared,
            plan::QueryMode::Extended => QueryMode::Extended,
            plan::QueryMode::Simple => QueryMode::Simple,
        },
        ledger: plan.ledger,
        client_threads: Some(plan.threads),
        shards: None,
    }
}

/// What the faults did over the run: injected by the injector, plus the calls the statement
/// timeout ended, and what the pool did.
fn faults_report(
    env: &faults::FaultEnv,
    injected: faults::Injected,
    paths: &[PathReport],
    opened: u64,
    plan: &RunPlan,
) -> report::FaultsReport {
    let mut counts: BTreeMap<String, u64> = injected
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    for f in &env.plan.faults {
        counts.entry(f.name().to_string()).or_default();
    }
    if env.plan.timeout().is_some() {
        let ended: u64 = paths
            .iter()
            .flat_map(|p| &p.errors)
            .filter(|e| e.sqlstate == "57014" && e.message.contains("statement timeout"))
            .map(|e| e.count)
            .sum();
        counts.insert("timeout".into(), ended);
    }
    let quarter = engine::SAMPLE_EVERY.as_secs_f64();
    let stalled = paths
        .iter()
        .flat_map(|p| &p.throughput_samples)
        .filter(|v| **v == 0.0)
        .count() as f64
        * quarter;
    report::FaultsReport {
        spec: env.plan.describe(),
        injected: counts,
        pool: report::PoolReport {
            connections_replaced: opened.saturating_sub(plan.connections as u64),
            seconds_stalled: stalled,
        },
    }
}
