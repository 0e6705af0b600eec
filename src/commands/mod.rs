//! Orchestration: database → compatibility layer → migrations → scenario → load → oracle →
//! report. Whatever happens in between, the database is cleaned up before returning.

use crate::Stop;
use crate::engine::Until;
use crate::error::{Error, Result, exit};
use crate::pg::cluster::{ClusterOptions, RunAs};
use crate::pg::target::{self, Target};
use crate::pg::{self, binaries::Binaries, migrate, template};
use crate::plan::{DatabasePlan, MigratePlan, RunPlan, SchemaPlan};
use crate::progress::Progress;
use crate::race::{self, Race};
use crate::report::{self, PathReport, Report};
use crate::scenario::Strategy;
use crate::workload::{self, CounterTable, KeyValue};
use std::collections::BTreeMap;
use std::sync::Arc;
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
        settings: db.server_settings.clone(),
        cache_root: template::cache_root(),
        tie_to_thread: !db.keep,
    };
    // Started on this (the main) thread on purpose: the server's parent-death signal follows
    // the thread that started it.
    Target::embedded(&opts)
}

/// Runs `body` on a fresh target and always closes the target afterwards.
pub(crate) async fn with_target<T>(
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
pub(crate) async fn build_schema(
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
        let unindexed = pg::lint::unindexed_foreign_keys(&client)
            .await
            .map_err(Error::db("cannot read the foreign keys from the catalog"))?;
        for fk in &unindexed {
            let partial = fk
                .partial_index_not_counted
                .as_ref()
                .map(|p| format!(" (partial index {p} does not serve its lookups)"))
                .unwrap_or_default();
            println!(
                "  unindexed foreign key {}({}) → {}{partial}",
                fk.table,
                fk.columns.join(", "),
                fk.references
            );
        }
            println!(
                "{} migration(s) from {} applied in {:.0} ms on PostgreSQL {} ({}{}); {} foreign key(s) without a supporting index",
                applied.len(),
                plan.schema.source,
                began.elapsed().as_secs_f64() * 1000.0,
                version,
                target::describe_mode(target),
                if plan.schema.compat {
                    ", Supabase compatibility"
                } else {
                    ""
                },
                unindexed.len()
            );
            Ok(exit::OK)
        },
    )
    .await
}

/// `loadtest nightly`: every scenario of the suite, one combined report, compared with the
/// baseline. A run that fails is recorded and the suite goes on; interruption stops it.
pub async fn nightly(plan: crate::plan::NightlyPlan, stop: Stop) -> Result<u8> {
    use crate::report::compare;
    let began = Instant::now();
    let started_at = chrono::Utc::now();
    let mut runs = Vec::new();
    for run in &plan.runs {
        for _ in 0..plan.repeat {
            let (mut report, stamp) = execute(run, &stop).await?;
            report::write(&mut report, &plan.report_dir, &stamp)?;
            eprintln!(
                "nightly: {} {} ({:.1} s)",
                report.scenario, report.verdict, report.duration_s
            );
            runs.push(report);
        }
    }
    // Index benchmarks run once whatever --repeat says: each already times hundreds of runs
    // per query, compare judges those samples, and a run takes a minute at scale 1.
    for bench in &plan.benches {
        let (mut report, stamp) = crate::index_bench::execute(bench, &stop).await?;
        report::write(&mut report, &plan.report_dir, &stamp)?;
        eprintln!(
            "nightly: {} {} ({:.1} s)",
            report.scenario, report.verdict, report.duration_s
        );
        runs.push(report);
    }
    let combined = report::NightlyReport {
        schema_version: report::SCHEMA_VERSION,
        kind: "nightly".into(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        duration_s: (began.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        verdict: if runs.iter().all(|r| r.verdict == "pass") {
            "pass"
        } else {
            "fail"
        }
        .into(),
        runs,
    };
    let path = plan.report_dir.join(format!(
        "nightly-{}.json",
        started_at.format("%Y%m%dT%H%M%SZ")
    ));
    let groups = compare::by_scenario(&combined.runs);
    let pooled: Vec<Report> = groups.iter().map(|(_, g)| compare::pool(g)).collect();
    let (bigger, smaller, bmf) = report::trackers(&pooled);
    for (name, value) in [
        ("benchmark-bigger-is-better.json", bigger),
        ("benchmark-smaller-is-better.json", smaller),
        ("bencher-metrics.json", bmf),
    ] {
        let file = plan.report_dir.join(name);
        std::fs::write(&file, serde_json::to_string_pretty(&value).expect("json")).map_err(
            |source| Error::WriteFile {
                path: file.clone(),
                source,
            },
        )?;
    }
    let json = serde_json::to_string_pretty(&combined).expect("report serialises");
    std::fs::write(&path, &json).map_err(|source| Error::WriteFile {
        path: path.clone(),
        source,
    })?;
    let mut code = if combined.verdict == "pass" {
        exit::OK
    } else {
        exit::EXPECTATION_FAILED
    };
    if plan.baseline.is_file() {
        let base = report::load_nightly(&plan.baseline)?;
        let base_groups = compare::by_scenario(&base.runs);
        for (scenario, news) in &groups {
            let Some((_, olds)) = base_groups.iter().find(|(s, _)| s == scenario) else {
                println!("{scenario}: not in the baseline");
                continue;
            };
            let (old, new) = (olds[0], news[0]);
            let differences = compare::incomparable(old, new);
            if !differences.is_empty() {
                println!(
                    "{}: not comparable with the baseline ({})",
                    new.scenario,
                    differences.join(", ")
                );
                continue;
            }
            let rows = compare::compare_runs(olds, news, plan.threshold);
            print!("{}", compare::markdown(old, new, &rows, plan.threshold));
            if olds.len() > 1 || news.len() > 1 {
                println!(
                    "\n(means over {} baseline and {} new runs; throughput interval from all their samples, run by run)\n",
                    olds.len(),
                    news.len()
                );
            }
            // The nightly's contract is one failing code for the job: 1 for a regression as
            // for a failed expectation; the tables above say which.
            for r in rows.iter().filter(|r| r.verdict.is_bad()) {
                eprintln!(
                    "nightly: {}: {} {}",
                    new.scenario,
                    r.metric,
                    r.verdict.name()
                );
                code = exit::EXPECTATION_FAILED;
            }
        }
    } else if !plan.update_baseline {
        println!(
            "no baseline at {} yet: pass --update-baseline to make this run the baseline",
            plan.baseline.display()
        );
    }
    if plan.update_baseline {
        if let Some(dir) = plan.baseline.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::WriteFile {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&plan.baseline, &json).map_err(|source| Error::WriteFile {
            path: plan.baseline.clone(),
            source,
        })?;
        println!("baseline updated: {}", plan.baseline.display());
    }
    println!(
        "nightly: {} run(s), {}, in {:.1} s; combined report {}",
        combined.runs.len(),
        combined.verdict,
        combined.duration_s,
        path.display()
    );
    Ok(code)
}

/// `loadtest report compare|render`.
pub fn report(command: crate::cli::ReportCommand) -> Result<u8> {
    use crate::cli::{RenderFormat, ReportCommand};
    use crate::report::compare::{self, Verdict};
    match command {
        ReportCommand::Render { run, format } => {
            let r = report::load(&run)?;
            match format {
                RenderFormat::Md => print!("{}", report::markdown(&r)),
                RenderFormat::Html => print!("{}", report::html(&r)),
                RenderFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&r).expect("report serialises")
                ),
            }
            Ok(exit::OK)
        }
        ReportCommand::Compare {
            base,
            new,
            threshold,
            force,
            format,
        } => {
            let (b, n) = (report::load(&base)?, report::load(&new)?);
            let differences = compare::incomparable(&b, &n);
            if !differences.is_empty() && !force {
                return Err(Error::Input(format!(
                    "{} and {} are not comparable: {} (pass --force to compare anyway)",
                    base.display(),
                    new.display(),
                    differences.join(", ")
                )));
            }
            let rows = compare::compare(&b, &n, threshold);
            match format {
                RenderFormat::Md => print!("{}", compare::markdown(&b, &n, &rows, threshold)),
                RenderFormat::Html => print!("{}", compare::html(&b, &n, &rows, threshold)),
                RenderFormat::Json => println!("{}", compare::json(&b, &n, &rows, threshold)),
            }
            Ok(if rows.iter().any(|r| r.verdict == Verdict::NewlyFailing) {
                exit::EXPECTATION_FAILED
            } else if rows.iter().any(|r| r.verdict == Verdict::Regression) {
                exit::REGRESSION
            } else {
                exit::OK
            })
        }
    }
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
    let (report, stamp) = execute(&plan, &stop).await?;
    publish(report, &plan.report_dir, &stamp)
}

/// Writes a run's files, prints its Markdown and where the files are; the exit code of its
/// verdict.
fn publish(mut report: Report, dir: &std::path::Path, stamp: &str) -> Result<u8> {
    let written = report::write(&mut report, dir, stamp)?;
    print!("{}", report::markdown(&report));
    println!(
        "\nreport: {}, {} and {}",
        written.json.display(),
        written.markdown.display(),
        written.html.display()
    );
    Ok(if report.verdict == "pass" {
        exit::OK
    } else {
        exit::EXPECTATION_FAILED
    })
}

/// Runs one scenario and returns its report and the UTC timestamp naming its files.
pub async fn execute(plan: &RunPlan, stop: &Stop) -> Result<(Report, String)> {
    let run_id = new_run_id();
    let started_at = chrono::Utc::now();
    let began = Instant::now();
    let progress = Progress::new(plan.quiet);
    let report = with_target(
        &plan.database,
        plan.connections,
        &run_id,
        stop,
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
            let absent = if plan.absent_share() > 0.0 {
                let here = &plan.scenario.origin;
                KeyValue::absent(&keys, 1024, plan.seed)
                    .map_err(|m| Error::Input(format!("{here}: {m}")))?
            } else {
                Vec::new()
            };
            let pool = pool(target, plan.connections)?;
            warm_up(&pool, plan.connections, plan).await?;
            let race = Race {
                plan,
                client: &client,
                pool: &pool,
                table: &table,
                keys,
                absent: Arc::new(absent),
                stop,
                progress,
            };
            let paths = if plan.mixed {
                race.mixed().await?
            } else {
                race.sequential().await?
            };
            let database = database_info(&client, target).await?;
            Ok(assemble(
                plan, &run_id, started_at, began, paths, applied, database,
            ))
        },
    )
    .await?;
    Ok((report, started_at.format("%Y%m%dT%H%M%SZ").to_string()))
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
async fn warm_up(pool: &deadpool_postgres::Pool, size: usize, plan: &RunPlan) -> Result<()> {
    let strategies: &[Strategy] = if plan.matrix {
        &Strategy::ALL
    } else {
        &[plan.strategy]
    };
    let mut held = Vec::with_capacity(size);
    for _ in 0..size {
        let c = pool.get().await.map_err(|e| {
            Error::Environment(format!(
                "cannot open {size} connections (--connections): {e}"
            ))
        })?;
        for p in &plan.scenario.paths {
            for &strategy in strategies {
                workload::Prepared::on(&c, &p.kind, strategy)
                    .await
                    .map_err(Error::db(format!("cannot prepare path '{}'", p.name)))?;
            }
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

pub(crate) async fn database_info(
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
        "wal_level",
        "max_parallel_workers_per_gather",
        "work_mem",
        "maintenance_work_mem",
        "synchronize_seqscans",
        "jit",
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
    let (failures, warnings) = race::judge(&paths);
    let s = &plan.scenario;
    Report {
        schema_version: report::SCHEMA_VERSION,
        tool: report::Tool::current(),
        scenario: s.name.clone(),
        scenario_origin: s.origin.clone(),
        description: s.description.clone(),
        run_id: run_id.to_string(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        duration_s: (began.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        verdict: if failures.is_empty() { "pass" } else { "fail" }.into(),
        settings: report::Settings {
            ops: match plan.until {
                Until::Ops(n) => Some(n),
                Until::Elapsed(_) => None,
            },
            duration_s: plan.duration().map(|d| d.as_secs_f64()),
            workers: plan.workers,
            connections: plan.connections,
            seed: plan.seed,
            rows: s.setup.rows,
            key_choice: s.keys.choice.name().into(),
            key_parameter: s.keys.choice.parameter(),
            absent_share: s.keys.absent_share,
            load_model: if plan.rate.is_some() {
                "open"
            } else {
                "closed"
            }
            .into(),
            rate: plan.rate,
            mode: if plan.mixed {
                "mixed"
            } else if plan.matrix {
                "matrix"
            } else {
                "sequential"
            }
            .into(),
            strategy: plan.strategy.name().into(),
            retry: plan.retries,
        },
        database,
        migrations: migrations_report(&plan.schema, &applied),
        paths,
        warnings,
        failures,
        command_line: plan.command_line.clone(),
        machine: report::Machine::current(),
        queries: Vec::new(),
        unindexed_foreign_keys: None,
        load_rows_per_s: None,
        index_bench: None,
    }
}

/// The report's record of the schema: where it came from, its fingerprint, each file applied.
pub(crate) fn migrations_report(
    schema: &SchemaPlan,
    applied: &[migrate::Applied],
) -> report::Migrations {
    report::Migrations {
        source: schema.source.clone(),
        compat: if schema.compat { "supabase" } else { "none" }.into(),
        fingerprint: migrate::fingerprint(&schema.migrations),
        files: applied
            .iter()
            .map(|a| report::MigrationEntry {
                version: a.version.clone(),
                name: a.name.clone(),
                checksum: a.checksum.clone(),
                duration_ms: (a.duration.as_secs_f64() * 10_000.0).round() / 10.0,
            })
            .collect(),
        git: schema.git.clone(),
    }
}

/// `loadtest run` of an index benchmark.
pub async fn bench(plan: crate::plan::BenchPlan, stop: Stop) -> Result<u8> {
    let (report, stamp) = crate::index_bench::execute(&plan, &stop).await?;
    publish(report, &plan.report_dir, &stamp)
}

/// A short random id naming the run's database and report.
pub(crate) fn new_run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}
