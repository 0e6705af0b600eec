//! Orchestration: database → compatibility layer → migrations → scenario → load → oracle →
//! report. Whatever happens in between, the database is cleaned up before returning.

use crate::Stop;
use crate::engine::{self, Load};
use crate::error::{Error, Result, exit};
use crate::oracle;
use crate::pg::cluster::{ClusterOptions, RunAs};
use crate::pg::target::{self, Target};
use crate::pg::{self, binaries::Binaries, migrate, template};
use crate::plan::{DatabasePlan, MigratePlan, RunPlan, SchemaPlan};
use crate::progress::Progress;
use crate::report::{self, CounterReport, ErrorReport, PathReport, Report};
use crate::scenario::{Expect, KeyChoice};
use crate::stats::{self, LatencyUs};
use crate::workload::{self, CounterTable};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

/// Opens the run's database: a scratch cluster, or a new database on `--database-url`'s server.
async fn open(db: &DatabasePlan, max_connections: usize, run_id: &str) -> Result<Target> {
    if let Some(url) = &db.url {
        return Target::external(url, run_id).await;
    }
    let binaries = Binaries::find(db.pg_bindir.as_deref()).map_err(|m| match db.pg_bindir {
        Some(_) => Error::Input(m),
        None => Error::Environment(m),
    })?;
    let run_as = RunAs::resolve(&db.pg_user).map_err(Error::Environment)?;
    let opts = ClusterOptions {
        binaries,
        run_as,
        max_connections: max_connections as u32 + 10,
        settings: Vec::new(),
        cache_root: template::cache_root(),
        tie_to_thread: !db.keep,
    };
    // Started on this (the main) thread on purpose: the server's parent-death signal follows
    // the thread that started it.
    Target::embedded(&opts)
}

/// Runs `body` on a fresh target and always closes the target afterwards.
async fn with_target<T>(
    db: &DatabasePlan,
    max_connections: usize,
    run_id: &str,
    stop: &Stop,
    progress: Progress,
    body: impl AsyncFnOnce(&Target) -> Result<T>,
) -> Result<T> {
    let target = open(db, max_connections, run_id)
        .await
        .map_err(|e| stop.or(e))?;
    let result = match stop.check(Ok(())) {
        Ok(()) => body(&target).await,
        Err(e) => Err(e),
    };
    let result = stop.check(result);
    let keep = db.keep && !matches!(result, Err(Error::Interrupted(_)));
    match target.close(keep).await {
        Ok(Some(how)) => progress.line(&how),
        Ok(None) => {}
        Err(e) => {
            if result.is_ok() {
                return Err(e);
            }
        }
    }
    result
}

/// Applies the compatibility layer and the migrations; one line per file via `line`.
async fn build_schema(
    client: &tokio_postgres::Client,
    schema: &SchemaPlan,
    mut line: impl FnMut(String),
) -> Result<Vec<migrate::Applied>> {
    for f in &schema.skipped {
        line(format!(
            "warning: skipped {f} in {}: not a migration (expected <version>_<name>.sql)",
            schema.source
        ));
    }
    if schema.compat {
        pg::compat::apply(client)
            .await
            .map_err(Error::Environment)?;
    }
    let applied = migrate::apply(client, &schema.migrations, |a| {
        line(format!(
            "  applied {:<55} {:>8.1} ms",
            a.file_name,
            a.duration.as_secs_f64() * 1000.0
        ))
    })
    .await?;
    Ok(applied)
}

/// `loadtest migrate`.
pub async fn migrate(plan: MigratePlan, stop: Stop) -> Result<u8> {
    let run_id = new_run_id();
    let progress = Progress::new(false);
    with_target(
        &plan.database,
        2,
        &run_id,
        &stop,
        progress,
        async |target| {
            let began = Instant::now();
            let client = pg::connect(&target.config())
                .await
                .map_err(Error::db("cannot connect to the scratch database"))?;
            let version = server_version(&client).await?;
            let applied = build_schema(&client, &plan.schema, |l| println!("{l}")).await?;
            println!(
                "{} migration(s) from {} applied in {:.0} ms on PostgreSQL {} ({}{})",
                applied.len(),
                plan.schema.source,
                began.elapsed().as_secs_f64() * 1000.0,
                version,
                target::describe_mode(target),
                if plan.schema.compat {
                    ", Supabase compatibility"
                } else {
                    ""
                }
            );
            Ok(exit::OK)
        },
    )
    .await
}

/// `loadtest list`.
pub fn list() -> u8 {
    for s in crate::scenario::list() {
        println!("{:<24} {:<40} {}", s.name, s.origin, s.description);
    }
    exit::OK
}

/// `loadtest run`.
pub async fn run(plan: RunPlan, stop: Stop) -> Result<u8> {
    let run_id = new_run_id();
    let started_at = chrono::Utc::now();
    let began = Instant::now();
    let progress = Progress::new(plan.quiet);
    let report = with_target(
        &plan.database,
        plan.connections,
        &run_id,
        &stop,
        progress,
        async |target| {
            let client = pg::connect(&target.config())
                .await
                .map_err(Error::db("cannot connect to the scratch database"))?;
            let applied = build_schema(&client, &plan.schema, |l| progress.line(&l)).await?;
            stop.check(Ok(()))?;
            for path in &plan.scenario.paths {
                workload::check_path(&client, &plan.scenario, path).await?;
            }
            workload::setup(&client, &plan.scenario, plan.seed).await?;
            let table = CounterTable::new(&plan.scenario);
            let keys = Arc::new(table.keys(&client).await?);
            if keys.is_empty() {
                return Err(Error::Input(format!(
                    "{}: setup.sql left {} empty: the scenario needs rows to increment",
                    plan.scenario.origin, plan.scenario.counters.table
                )));
            }
            let pool = pool(target, plan.connections)?;
            warm_up(&pool, plan.connections, &plan.scenario).await?;
            let mut paths = Vec::new();
            for i in 0..plan.scenario.paths.len() {
                stop.check(Ok(()))?;
                paths.push(
                    run_path(&plan, &client, &pool, &table, &keys, i, &stop, progress).await?,
                );
            }
            let database = database_info(&client, target).await?;
            Ok(assemble(
                &plan, &run_id, started_at, began, paths, applied, database,
            ))
        },
    )
    .await?;
    let written = report::write(
        &report,
        &plan.report_dir,
        &started_at.format("%Y%m%dT%H%M%SZ").to_string(),
    )?;
    print!("{}", report::markdown(&report));
    println!(
        "\nreport: {} and {}",
        written.json.display(),
        written.markdown.display()
    );
    Ok(if report.verdict == "pass" {
        exit::OK
    } else {
        exit::EXPECTATION_FAILED
    })
}

#[allow(clippy::too_many_arguments)]
async fn run_path(
    plan: &RunPlan,
    client: &tokio_postgres::Client,
    pool: &deadpool_postgres::Pool,
    table: &CounterTable,
    keys: &Arc<Vec<workload::KeyValue>>,
    index: usize,
    stop: &Stop,
    progress: Progress,
) -> Result<PathReport> {
    let spec = &plan.scenario.paths[index];
    let columns = &plan.scenario.counters.columns;
    table.reset(client).await?;
    let initial = ordered(table.read(client, columns.len()).await?, keys)?;
    let done = Arc::new(AtomicU64::new(0));
    let bar = progress.bar(&spec.name, plan.ops, done.clone());
    let outcome = engine::run(
        pool,
        Load {
            kind: spec.kind.clone(),
            ops: plan.ops,
            workers: plan.workers,
            seed: plan.seed,
            stream: 0,
            keys: keys.clone(),
            choice: plan.scenario.keys,
            columns: columns.clone(),
        },
        done,
        &stop.token,
    )
    .await;
    drop(bar);
    if outcome.interrupted {
        return Err(stop.error());
    }
    let final_values = ordered(table.read(client, columns.len()).await?, keys)?;
    let max_delta: Vec<Decimal> = columns
        .iter()
        .map(|c| c.delta.max.abs().max(c.delta.min.abs()))
        .collect();
    let verdict = oracle::check(&oracle::Observed {
        columns: columns.len(),
        keys: keys.len(),
        initial: &initial,
        final_values: &final_values,
        acked: &outcome.acked,
        unknown_pos: &outcome.unknown_pos,
        unknown_neg: &outcome.unknown_neg,
        witnesses: &outcome.witnesses,
        max_delta: &max_delta,
        has_witnesses: matches!(spec.kind, crate::scenario::PathKind::ReadModifyWrite { .. }),
    });
    let held = match spec.expect {
        Expect::Exact => verdict.is_exact() && outcome.ops_failed == 0,
        Expect::Lossy => verdict.rows_over == 0,
    };
    let secs = outcome.elapsed.as_secs_f64();
    Ok(PathReport {
        name: spec.name.clone(),
        kind: spec.kind.label().to_string(),
        expect: match spec.expect {
            Expect::Exact => "exact",
            Expect::Lossy => "lossy",
        }
        .to_string(),
        ops_ok: outcome.ops_ok,
        ops_failed: outcome.ops_failed,
        duration_s: (secs * 1000.0).round() / 1000.0,
        throughput_ops_s: stats::throughput(outcome.ops_ok, secs),
        latency_us: LatencyUs::of(&outcome.latency_us),
        counters: columns
            .iter()
            .zip(&verdict.columns)
            .map(|(c, v)| CounterReport {
                column: c.name.clone(),
                expected: v.expected.to_string(),
                actual: v.actual.to_string(),
                missing: v.missing.to_string(),
                extra: v.extra.to_string(),
            })
            .collect(),
        lost_updates: verdict.lost_updates,
        lost_updates_exact: verdict.lost_updates_exact,
        rows_short: verdict.rows_short,
        rows_over: verdict.rows_over,
        errors: outcome
            .errors
            .into_iter()
            .map(|(sqlstate, e)| ErrorReport {
                sqlstate,
                count: e.count,
                message: e.message,
            })
            .collect(),
        expectation_held: held,
    })
}

/// Counter values in key order; a key that disappeared during the run is a failure of the
/// schema under test, reported as such.
fn ordered(
    mut by_key: std::collections::HashMap<workload::KeyValue, Vec<Decimal>>,
    keys: &[workload::KeyValue],
) -> Result<Vec<Vec<Decimal>>> {
    keys.iter()
        .map(|k| {
            by_key.remove(k).ok_or_else(|| {
                Error::Environment("a counter row disappeared during the run (was it deleted by a trigger or the RPC?)".into())
            })
        })
        .collect()
}

fn pool(target: &Target, size: usize) -> Result<deadpool_postgres::Pool> {
    let mgr = deadpool_postgres::Manager::from_config(
        target.config(),
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    deadpool_postgres::Pool::builder(mgr)
        .max_size(size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| Error::Environment(format!("cannot build the connection pool: {e}")))
}

/// Opens every pooled connection and prepares every path's statements on it, so neither
/// connecting nor planning is timed as part of the load.
async fn warm_up(
    pool: &deadpool_postgres::Pool,
    size: usize,
    scenario: &crate::scenario::Scenario,
) -> Result<()> {
    let mut held = Vec::with_capacity(size);
    for _ in 0..size {
        let c = pool.get().await.map_err(|e| {
            Error::Environment(format!(
                "cannot open {size} connections (--connections): {e}"
            ))
        })?;
        for p in &scenario.paths {
            workload::Prepared::on(&c, &p.kind)
                .await
                .map_err(Error::db(format!("cannot prepare path '{}'", p.name)))?;
        }
        held.push(c);
    }
    Ok(())
}

async fn server_version(client: &tokio_postgres::Client) -> Result<String> {
    let row = client
        .query_one("SELECT current_setting('server_version')", &[])
        .await
        .map_err(Error::db("cannot read the server version"))?;
    Ok(row.get(0))
}

async fn database_info(
    client: &tokio_postgres::Client,
    target: &Target,
) -> Result<report::Database> {
    let names = [
        "max_connections",
        "shared_buffers",
        "fsync",
        "synchronous_commit",
        "full_page_writes",
        "default_transaction_isolation",
    ];
    let rows = client
        .query(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY($1)",
            &[&&names[..]],
        )
        .await
        .map_err(Error::db("cannot read server settings"))?;
    let settings: BTreeMap<String, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let (start_s, from_template) = match target {
        Target::Embedded { cluster, .. } => (
            Some((cluster.info.duration.as_secs_f64() * 1000.0).round() / 1000.0),
            Some(cluster.info.from_template),
        ),
        Target::External { .. } => (None, None),
    };
    Ok(report::Database {
        mode: target::describe_mode(target).to_string(),
        server_version: server_version(client).await?,
        settings,
        start_s,
        from_template,
    })
}

fn assemble(
    plan: &RunPlan,
    run_id: &str,
    started_at: chrono::DateTime<chrono::Utc>,
    began: Instant,
    paths: Vec<PathReport>,
    applied: Vec<migrate::Applied>,
    database: report::Database,
) -> Report {
    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    for p in &paths {
        let missing: Vec<String> = p
            .counters
            .iter()
            .filter(|c| c.missing != "0")
            .map(|c| format!("{} missing {}", c.column, c.missing))
            .collect();
        let extra: Vec<String> = p
            .counters
            .iter()
            .filter(|c| c.extra != "0")
            .map(|c| {
                format!(
                    "{} {} above every acknowledged sum (an increment applied twice?)",
                    c.column, c.extra
                )
            })
            .collect();
        if !extra.is_empty() {
            failures.push(format!("path '{}': {}", p.name, extra.join(", ")));
        }
        match p.expect.as_str() {
            "exact" => {
                if !missing.is_empty() {
                    let bound = if p.lost_updates_exact {
                        ""
                    } else {
                        "at least "
                    };
                    failures.push(format!(
                        "path '{}' must be exact but lost {bound}{} update(s) in {} row(s): {}",
                        p.name,
                        p.lost_updates,
                        p.rows_short,
                        missing.join(", ")
                    ));
                }
                if p.ops_failed > 0 {
                    let why: Vec<String> = p
                        .errors
                        .iter()
                        .map(|e| format!("{}× {} {}", e.count, e.sqlstate, e.message))
                        .collect();
                    failures.push(format!(
                        "path '{}' must not fail calls, but {} failed: {}",
                        p.name,
                        p.ops_failed,
                        why.join("; ")
                    ));
                }
            }
            _ => {
                if p.lost_updates == 0 {
                    warnings.push(format!(
                        "path '{}' is expected to lose updates but lost none: the load was too weak to prove the race (raise --workers/--connections/--ops or the hot share)",
                        p.name
                    ));
                }
            }
        }
    }
    let s = &plan.scenario;
    let (key_choice, hot_share) = match s.keys {
        KeyChoice::Hot { share } => ("hot", Some(share)),
        KeyChoice::Uniform => ("uniform", None),
    };
    Report {
        schema_version: report::SCHEMA_VERSION,
        tool: report::Tool {
            name: "loadtest".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        scenario: s.name.clone(),
        scenario_origin: s.origin.clone(),
        description: s.description.clone(),
        run_id: run_id.to_string(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        duration_s: (began.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        verdict: if failures.is_empty() { "pass" } else { "fail" }.into(),
        settings: report::Settings {
            ops: plan.ops,
            workers: plan.workers,
            connections: plan.connections,
            seed: plan.seed,
            rows: s.setup.rows,
            key_choice: key_choice.into(),
            hot_share,
        },
        database,
        migrations: report::Migrations {
            source: plan.schema.source.clone(),
            compat: if plan.schema.compat {
                "supabase"
            } else {
                "none"
            }
            .into(),
            fingerprint: migrate::fingerprint(&plan.schema.migrations),
            files: applied
                .iter()
                .map(|a| report::MigrationEntry {
                    version: a.version.clone(),
                    name: a.name.clone(),
                    checksum: a.checksum.clone(),
                    duration_ms: (a.duration.as_secs_f64() * 10_000.0).round() / 10.0,
                })
                .collect(),
        },
        paths,
        warnings,
        failures,
        command_line: plan.command_line.clone(),
    }
}

/// A short random id naming the run's database and report.
fn new_run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}
