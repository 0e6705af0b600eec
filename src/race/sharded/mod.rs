//! A race split over shards: `prepare` builds and seeds the run's database once and records the
//! manifest; each `run --shard I/N` fires its share of the calls with its own random stream,
//! meeting the others at the database's barriers, and writes a partial; `verify` merges the
//! partials exactly and judges the run once, with the same judge as a run on one machine.
//!
//! The shard-side plumbing (manifest, barrier, partial files, merge) is `crate::shard`'s; this
//! module is where it meets the race: its settings, its loads and its oracle.

mod convert;
pub mod verify;

use super::lanes::Lanes;
use super::plan::{QueryMode, RaceMode, RunPlan, ShardRun};
use super::run::{Race, Ran, path_label};
use super::{Seeded, calls, pool, seed, warm_up};
use crate::Stop;
use crate::error::{Error, Result};
use crate::pg::target::Target;
use crate::pg::{self, migrate, schema, server};
use crate::progress::Progress;
use crate::scenario::Strategy;
use crate::shard::barrier::Coordinator;
use crate::shard::manifest::{self, Manifest};
use crate::shard::partial::{FORMAT, Partial};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio_postgres::error::SqlState;

/// How long a shard waits at the start line for shards not started yet.
pub const START_WAIT: Duration = Duration::from_secs(600);

/// The manifest's record of a plan's settings (`ops` over all shards).
pub fn settings_of(plan: &RunPlan) -> manifest::Settings {
    let (mode, strategy) = match plan.mode {
        RaceMode::Sequential(s) => ("sequential", s),
        RaceMode::Matrix => ("matrix", Strategy::None),
        RaceMode::Mixed(s) => ("mixed", s),
    };
    manifest::Settings {
        ops: plan.total_ops(),
        workers: plan.workers,
        connections: plan.connections,
        seed: plan.seed,
        mode: mode.into(),
        strategy: strategy.name().into(),
        retry: plan.retries,
        query_mode: plan.query_mode.name().into(),
        ledger: plan.ledger,
        rate: plan.rate,
    }
}

/// Applies the manifest's settings to a plan: `ops` becomes this shard's share (`shard` None:
/// the whole run, for `verify`), the rate its share of the rate.
pub fn apply(plan: &mut RunPlan, s: &manifest::Settings, shard: Option<&ShardRun>) -> Result<()> {
    let bad = |what: &str| {
        Error::Input(format!(
            "the run manifest names {what}, which this loadtest does not know: use the same \
             loadtest version for prepare, run and verify"
        ))
    };
    let strategy = Strategy::ALL
        .into_iter()
        .find(|x| x.name() == s.strategy)
        .ok_or_else(|| bad(&format!("strategy '{}'", s.strategy)))?;
    plan.mode = match s.mode.as_str() {
        "sequential" => RaceMode::Sequential(strategy),
        "matrix" => RaceMode::Matrix,
        "mixed" => RaceMode::Mixed(strategy),
        m => return Err(bad(&format!("mode '{m}'"))),
    };
    plan.query_mode = match s.query_mode.as_str() {
        "prepared" => QueryMode::Prepared,
        "extended" => QueryMode::Extended,
        "simple" => QueryMode::Simple,
        m => return Err(bad(&format!("query mode '{m}'"))),
    };
    let n = shard.map_or(1, |r| r.id.count);
    plan.until = super::engine::Until::Ops(shard.map_or(s.ops, |r| r.id.share(s.ops)));
    plan.workers = s.workers;
    plan.connections = s.connections;
    plan.seed = s.seed;
    plan.retries = s.retry;
    plan.ledger = s.ledger;
    plan.rate = s.rate.map(|r| r / f64::from(n));
    if let Some(r) = &mut plan.shard {
        r.total_ops = s.ops;
    }
    Ok(())
}

/// Each explicit flag of a shard's command line that contradicts the manifest, refused.
fn contradictions(r: &ShardRun, s: &manifest::Settings) -> Result<()> {
    let recorded = |flag: &str| -> String {
        match flag {
            "--ops" => s.ops.to_string(),
            "--workers" => s.workers.to_string(),
            "--connections" => s.connections.to_string(),
            "--seed" => s.seed.to_string(),
            "--strategy" => s.strategy.clone(),
            "--matrix" => (s.mode == "matrix").to_string(),
            "--mixed" => (s.mode == "mixed").to_string(),
            "--retry" => s.retry.to_string(),
            "--query-mode" => s.query_mode.clone(),
            "--ledger" => s.ledger.to_string(),
            "--rate" => s.rate.map_or("none".into(), |r| r.to_string()),
            _ => String::new(),
        }
    };
    for (flag, value) in &r.explicit {
        let was = recorded(flag);
        if *value != was {
            return Err(Error::Input(format!(
                "{flag} {value} contradicts run {}'s manifest ({flag} {was}, set by prepare): \
                 drop it; a shard takes its settings from the manifest",
                r.run_id
            )));
        }
    }
    Ok(())
}

/// Connects to the run's database `loadtest_<run id>`; one that does not exist is refused as
/// input (a wrong id, or a run already verified and dropped).
async fn open_run(url: &str, run_id: &str) -> Result<(Target, tokio_postgres::Client)> {
    let target = Target::attach(url, &format!("loadtest_{run_id}")).await?;
    let client = pg::connect(&target.config()).await.map_err(|e| {
        if e.code() == Some(&SqlState::INVALID_CATALOG_NAME) {
            Error::Input(format!(
                "--run-id {run_id}: the server has no database loadtest_{run_id} (a wrong id, \
                 or the run was already verified and dropped); run `loadtest prepare` first"
            ))
        } else {
            Error::db(format!(
                "cannot connect to the run's database loadtest_{run_id}"
            ))(e)
        }
    })?;
    Ok((target, client))
}

/// `loadtest prepare`: creates the run's database, builds the schema, seeds it and records the
/// manifest. The database stays for the shards; on failure it is dropped again.
pub async fn prepare(
    plan: &RunPlan,
    run_id: &str,
    scenario_text: &str,
    scenario_sha256: &str,
    stop: &Stop,
) -> Result<()> {
    let url = plan
        .database
        .url
        .as_deref()
        .ok_or_else(|| Error::Input(NEEDS_URL.into()))?;
    let progress = Progress::new(plan.quiet);
    let target = Target::external(url, run_id).await?;
    let done = async {
        let client = pg::connect(&target.config())
            .await
            .map_err(Error::db("cannot connect to the run's database"))?;
        for w in plan.schema.skip_warnings() {
            progress.line(&w);
        }
        let built = schema::build_schema(&client, &plan.schema, |l| progress.line(&l)).await?;
        for w in &built.warnings {
            progress.line(&format!("warning: {w}"));
        }
        stop.check(Ok(()))?;
        seed(&client, plan, true).await?;
        if plan.ledger {
            client
                .batch_execute(calls::LEDGER_DDL)
                .await
                .map_err(Error::db("cannot create the ledger table"))?;
        }
        let database = server::database_info(&client, &target).await?;
        let migrations = crate::report::Migrations::of(&plan.schema, &built.applied);
        let m = Manifest {
            run_id: run_id.into(),
            database: target.dbname().into(),
            created_by_loadtest: true,
            prepared_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            scenario: plan.scenario.name.clone(),
            scenario_origin: plan.scenario.origin.clone(),
            scenario_text: scenario_text.into(),
            scenario_sha256: scenario_sha256.into(),
            settings: settings_of(plan),
            migrations_fingerprint: migrate::fingerprint(&plan.schema.migrations),
            migrations: serde_json::to_value(&migrations).unwrap_or_default(),
            database_info: serde_json::to_value(&database).unwrap_or_default(),
        };
        m.record(&client).await?;
        stop.check(Ok(()))
    }
    .await;
    match done {
        Ok(()) => Ok(()),
        Err(e) => {
            // Nothing half prepared is left behind: the database was created in this run.
            let _ = target.close(false).await;
            Err(stop.or(e))
        }
    }
}

/// What `prepare`, a shard and `verify` need and the command line lacks.
pub const NEEDS_URL: &str = "sharded runs meet in one server's database: pass --database-url \
     URL (or set DATABASE_URL), the same for prepare, every shard and verify";

/// `loadtest run --shard I/N --run-id ID`: one shard's loads; returns the partial's path.
pub async fn run_shard(mut plan: RunPlan, stop: &Stop) -> Result<PathBuf> {
    let r = plan
        .shard
        .clone()
        .ok_or_else(|| Error::Input(NEEDS_URL.into()))?;
    let url = plan
        .database
        .url
        .clone()
        .ok_or_else(|| Error::Input(NEEDS_URL.into()))?;
    let (target, client) = open_run(&url, &r.run_id).await?;
    let m = Manifest::read(&client, &r.run_id).await?;
    if m.scenario_sha256 != r.scenario_sha256 {
        return Err(Error::Input(format!(
            "scenario {}: not the file prepared for run {} (its SHA-256 differs: {} was \
             prepared); pass the same scenario file to every shard",
            plan.scenario.origin, r.run_id, m.scenario_origin
        )));
    }
    let fingerprint = migrate::fingerprint(&plan.schema.migrations);
    if fingerprint != m.migrations_fingerprint {
        return Err(Error::Input(format!(
            "--migrations {}: not the migrations prepared for run {} (fingerprint {} vs {}); \
             pass the same --migrations and --until as prepare",
            plan.schema.source,
            r.run_id,
            &fingerprint[..12.min(fingerprint.len())],
            &m.migrations_fingerprint[..12.min(m.migrations_fingerprint.len())]
        )));
    }
    contradictions(&r, &m.settings)?;
    apply(&mut plan, &m.settings, Some(&r))?;
    let plan = &plan;
    let progress = Progress::new(plan.quiet);
    // The pool, and the coordinator's own connection.
    server::check_capacity(&client, plan.connections + 1, "--connections").await?;
    let Seeded {
        types,
        table,
        keys,
        absent,
    } = seed(&client, plan, false).await?;
    let coord_client = pg::connect(&target.config())
        .await
        .map_err(Error::db("cannot open the shard's coordination connection"))?;
    let coord = Coordinator::join(coord_client, r.id, START_WAIT).await?;
    let endpoint = target.config();
    let lanes = Arc::new(Lanes::start(plan.threads).map_err(|e| {
        Error::Environment(format!("cannot start {} client threads: {e}", plan.threads))
    })?);
    let wires = Arc::new(crate::pg::wire::Wires::default());
    let pool = pool(
        &endpoint,
        plan.connections,
        Arc::new(AtomicU64::new(0)),
        &wires,
    )?;
    warm_up(&pool, &lanes, plan, &types).await?;
    let started_at = chrono::Utc::now();
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
        faults: None,
        injected: Default::default(),
        endpoint,
        after_restart: Default::default(),
        shard: Some(&coord),
        gone: Default::default(),
    };
    let loads = match plan.mode {
        RaceMode::Mixed(_) => {
            let (outcomes, _) = race.mixed_loads().await?;
            plan.scenario
                .paths
                .iter()
                .zip(outcomes)
                .map(|(spec, o)| convert::to_load(format!("{}@mixed", spec.name), o, None))
                .collect::<std::result::Result<Vec<_>, String>>()
        }
        RaceMode::Sequential(_) | RaceMode::Matrix => {
            let loads = race
                .each_load(|spec, strategy, ran: Ran| {
                    let label = path_label(spec, strategy, plan);
                    Ok(convert::to_load(label, ran.outcome, ran.resolved))
                })
                .await?;
            loads.into_iter().collect()
        }
    }
    .map_err(|m| Error::Environment(format!("cannot write the partial report: {m}")))?;
    let saw_gone = race.gone.lock().map(|g| g.clone()).unwrap_or_default();
    drop(race);
    let partial = Partial {
        format: FORMAT,
        run_id: r.run_id.clone(),
        shard: r.id.index,
        shards: r.id.count,
        manifest_sha256: m.checksum(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        complete: !stop.token.is_cancelled(),
        saw_gone,
        loads,
    };
    let path = partial.write(&plan.report_dir)?;
    stop.check(Ok(path))
}
