//! `loadtest run join-bench` (any `kind = "index-bench"` scenario): migrations before the one
//! under test → generated data by COPY → VACUUM (ANALYZE) → every query timed, explained and
//! loaded concurrently → the real migration file → ANALYZE → the same again → speedups with
//! bootstrap intervals, index use, and the foreign keys still unindexed.

pub mod datagen;
pub mod loader;
pub mod plan;
pub mod timing;

use crate::Stop;
use crate::error::{Error, Result};
use crate::pg::actor::Actor;
use crate::pg::{self, lint, migrate, schema, server, target};
use crate::progress::Progress;
use crate::report::bench_model::{
    BenchBody, BenchRunAs, DataReport, ForeignKeyReport, IndexBench, QueryReport,
};
use crate::report::{self, Body, Report};
use crate::stats;
use datagen::TableGen;
use plan::BenchPlan;
use std::time::Instant;
use timing::{Plan as QueryPlan, Ready, Timing};

/// One query's measurements in one state.
struct State {
    timing: Timing,
    plan: QueryPlan,
    qps: f64,
}

/// Runs the benchmark and returns its report and the UTC timestamp naming its files.
pub async fn execute(plan: &BenchPlan, stop: &Stop) -> Result<(Report, String)> {
    let run_id = target::new_run_id();
    let started_at = chrono::Utc::now();
    let began = Instant::now();
    let progress = Progress::new(plan.quiet);
    let report = target::with_target(
        &plan.database,
        plan.workers + 2,
        &run_id,
        stop,
        async |target| {
            let measured = bench_on(target, plan, stop, progress).await?;
            Ok(assemble(plan, &run_id, started_at, began, measured))
        },
    )
    .await?;
    Ok((report, started_at.format("%Y%m%dT%H%M%SZ").to_string()))
}

/// What one benchmark measured, before it is judged.
struct Measured {
    applied: Vec<migrate::Applied>,
    /// The schema's warnings (a right the role lacks), first in the report's.
    schema_warnings: Vec<String>,
    database: report::Database,
    queries: Vec<QueryReport>,
    fks: Vec<ForeignKeyReport>,
    bench: IndexBench,
    actor: Actor,
}

/// The benchmark on one target: the schema before the migration, the data, both states timed
/// around the real migration file, and what is still unindexed after it.
async fn bench_on(
    target: &target::Target,
    plan: &BenchPlan,
    stop: &Stop,
    progress: Progress,
) -> Result<Measured> {
    let config = session_config(target);
    let client = pg::connect(&config)
        .await
        .map_err(Error::db("cannot connect to the scratch database"))?;
    // Timing clients, plus the loader's second connection.
    server::check_capacity(&client, plan.workers + 1, "--workers").await?;
    let say = |l: String| progress.line(&l);
    let built = schema::build_schema(&client, &plan.before, say).await?;
    for w in &built.warnings {
        progress.line(&format!("warning: {w}"));
    }
    let mut applied = built.applied;
    stop.check(Ok(()))?;
    check_tables(&client, plan).await?;
    let s = &plan.scenario;
    let gens = TableGen::all(s, plan.scale, plan.seed);
    progress.line(&format!(
        "loading {} tables at scale {} (seed {})",
        gens.len(),
        plan.scale,
        plan.seed
    ));
    let data = loader::load(&client, &config, gens, stop, &|l| progress.line(&l)).await?;
    progress.line(&format!(
        "  {} rows in {:.2} s: {:.0} rows/s; VACUUM (ANALYZE) {:.2} s",
        data.rows, data.seconds, data.rows_per_s, data.vacuum_analyze_s
    ));
    let indexes_before = index_names(&client).await?;
    let actor = actor(&client, plan).await?;
    let mut readies = Vec::new();
    for q in &s.queries {
        let mut ready = timing::prepare(&client, &s.origin, q, plan.seed).await?;
        ready.actor = actor;
        readies.push(ready);
    }
    let workers = timing::connect_workers(&config, plan.workers).await?;
    let states = States {
        client: &client,
        workers: &workers,
        readies: &readies,
        plan,
        stop,
        progress,
    };
    let (before, after, migration_s) = states.time_both(&mut applied).await?;
    let new_indexes: Vec<String> = index_names(&client)
        .await?
        .into_iter()
        .filter(|i| !indexes_before.contains(i))
        .collect();
    let unindexed = lint::unindexed_foreign_keys(&client)
        .await
        .map_err(Error::db("cannot list unindexed foreign keys"))?;
    let queries: Vec<QueryReport> = readies
        .iter()
        .zip(before)
        .zip(after)
        .map(|((r, b), a)| query_report(r, b, a, plan))
        .collect();
    Ok(Measured {
        applied,
        schema_warnings: built.warnings,
        database: server::database_info(&client, target).await?,
        queries,
        fks: unindexed
            .into_iter()
            .map(|f| ForeignKeyReport {
                table: f.table,
                columns: f.columns,
                references: f.references,
                constraint: f.constraint,
                partial_index_not_counted: f.partial_index_not_counted,
            })
            .collect(),
        bench: index_bench(plan, data, migration_s, new_indexes),
        actor,
    })
}

/// Who the timed queries run as: with `--as authenticated`, the first user of `auth.users` by
/// id (with the shipped data's sequential ids and Zipf references, the user with the most rows),
/// so the queries see data through the policies as that user's requests would.
async fn actor(client: &tokio_postgres::Client, plan: &BenchPlan) -> Result<Actor> {
    if !plan.as_authenticated {
        return Ok(Actor::Owner);
    }
    let row = client
        .query_opt("SELECT id FROM auth.users ORDER BY id LIMIT 1", &[])
        .await
        .map_err(|e| {
            Error::Input(format!(
                "--as authenticated needs auth.users (the Supabase layer): {}",
                pg::describe(&e)
            ))
        })?;
    match row {
        Some(r) => Ok(Actor::User(r.get(0))),
        None => Err(Error::Input(format!(
            "--as authenticated: {} seeds no row in auth.users, so there is no user to act as",
            plan.scenario.origin
        ))),
    }
}

/// The benchmark's session settings, added to whatever options a --database-url already
/// carries, not in their place.
fn session_config(target: &target::Target) -> pg::Endpoint {
    let mut endpoint = target.config();
    let config = &mut endpoint.config;
    let options = match config.get_options() {
        Some(own) if !own.trim().is_empty() => format!("{own} {}", timing::SESSION_OPTIONS),
        _ => timing::SESSION_OPTIONS.to_string(),
    };
    config.options(&options);
    endpoint
}

/// The report's record of how the benchmark ran.
fn index_bench(
    plan: &BenchPlan,
    data: DataReport,
    migration_s: Option<f64>,
    new_indexes: Vec<String>,
) -> IndexBench {
    let s = &plan.scenario.settings;
    IndexBench {
        migration: plan.migration.version.clone(),
        mode: if plan.aa { "a-a" } else { "before-after" }.into(),
        scale: plan.scale,
        seed: plan.seed,
        workers: plan.workers,
        warmup: s.warmup,
        min_runs: s.min_runs,
        max_runs: s.max_runs,
        time_per_query_s: s.time_per_query.as_secs_f64(),
        throughput_time_s: s.throughput_time.as_secs_f64(),
        confidence: s.confidence,
        missing_share: Some(s.missing_share),
        session_settings: vec![
            "synchronize_seqscans = off: without an index, a repeated scan would resume where \
             the last one stopped and look fast"
                .into(),
            "jit = off: JIT compilation of large scans adds tens of milliseconds an app's short \
             queries never pay"
                .into(),
        ],
        data,
        migration_s,
        new_indexes,
    }
}

/// What timing a state needs: the connections, the prepared queries, the plan.
struct States<'a> {
    client: &'a tokio_postgres::Client,
    workers: &'a [tokio_postgres::Client],
    readies: &'a [Ready<'a>],
    plan: &'a BenchPlan,
    stop: &'a Stop,
    progress: Progress,
}

impl States<'_> {
    /// Before and after the migration (or the migrated state twice, for A/A), and the
    /// migration's own duration on this data.
    async fn time_both(
        &self,
        applied: &mut Vec<migrate::Applied>,
    ) -> Result<(Vec<State>, Vec<State>, Option<f64>)> {
        let (client, workers, readies, plan, stop, progress) = (
            self.client,
            self.workers,
            self.readies,
            self.plan,
            self.stop,
            self.progress,
        );
        if plan.aa {
            apply_migration(client, plan, applied, progress).await?;
            let (a, b) = measure_twice(client, workers, readies, plan, stop, progress).await?;
            return Ok((a, b, None));
        }
        let before = measure(
            client, workers, readies, plan, None, "before", stop, progress,
        )
        .await?;
        let t = Instant::now();
        apply_migration(client, plan, applied, progress).await?;
        let migration_s = Some((t.elapsed().as_secs_f64() * 1000.0).round() / 1000.0);
        let reps: Vec<_> = before
            .iter()
            .map(|b| timing::representative(&b.timing))
            .collect();
        let after = measure(
            client,
            workers,
            readies,
            plan,
            Some(&reps),
            "after",
            stop,
            progress,
        )
        .await?;
        Ok((before, after, migration_s))
    }
}

/// Every table of the scenario must exist with its columns before any row is generated: a
/// missing one is the scenario's mistake (exit 2), not the database's.
async fn check_tables(client: &tokio_postgres::Client, plan: &BenchPlan) -> Result<()> {
    for t in &plan.scenario.tables {
        let cols = t
            .columns
            .iter()
            .map(|(c, _)| pg::quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("SELECT {cols} FROM {} LIMIT 0", loader::qualified(&t.name));
        if let Err(e) = client.prepare(&sql).await {
            return Err(Error::Input(format!(
                "{}: table {}: {} (after the migrations before {})",
                plan.scenario.origin,
                t.name,
                pg::describe(&e),
                plan.migration.version
            )));
        }
    }
    Ok(())
}

async fn index_names(client: &tokio_postgres::Client) -> Result<Vec<String>> {
    let rows = client
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname NOT IN ('pg_catalog', \
                'information_schema', 'loadtest') ORDER BY 1",
            &[],
        )
        .await
        .map_err(Error::db("cannot list indexes"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Applies the real migration file, then ANALYZE, so the planner knows the new indexes.
async fn apply_migration(
    client: &tokio_postgres::Client,
    plan: &BenchPlan,
    applied: &mut Vec<migrate::Applied>,
    progress: Progress,
) -> Result<()> {
    let done = migrate::apply(client, std::slice::from_ref(&plan.migration), |a| {
        progress.line(&format!(
            "  applied {:<55} {:>8.1} ms",
            a.file_name,
            a.duration.as_secs_f64() * 1000.0
        ))
    })
    .await?;
    applied.extend(done);
    client
        .batch_execute("ANALYZE")
        .await
        .map_err(Error::db("ANALYZE after the migration failed"))?;
    Ok(())
}

/// Times every query of the current state (interleaved), then explains and loads each. The
/// plans are explained with the representative parameters: `reps` when given (the before
/// state's), else chosen here.
#[allow(clippy::too_many_arguments)]
async fn measure(
    client: &tokio_postgres::Client,
    workers: &[tokio_postgres::Client],
    readies: &[Ready<'_>],
    plan: &BenchPlan,
    reps: Option<&[timing::Pick]>,
    state: &str,
    stop: &Stop,
    progress: Progress,
) -> Result<Vec<State>> {
    let s = &plan.scenario.settings;
    let timings = timing::time(client, readies, s, plan.seed, 1, stop).await?;
    let mut out = Vec::with_capacity(readies.len());
    for (i, (r, mut t)) in readies.iter().zip(timings).enumerate() {
        let timing = t.remove(0);
        let pick = reps.map_or_else(|| timing::representative(&timing), |p| p[i]);
        let qplan = timing::explain(client, r, pick).await?;
        stop.check(Ok(()))?;
        let qps = timing::throughput(workers, r, s.throughput_time, plan.seed).await?;
        progress.line(&format!(
            "  {state:<6} {:<36} median {:>9.3} ms  p95 {:>9.3} ms  {:>4} runs  {:>8.1} q/s",
            r.spec.name,
            stats::quantile(&timing.ms, 0.5),
            stats::quantile(&timing.ms, 0.95),
            timing.ms.len(),
            qps
        ));
        out.push(State {
            timing,
            plan: qplan,
            qps,
        });
    }
    Ok(out)
}

/// A/A: both sides timed interleaved in the same state.
async fn measure_twice(
    client: &tokio_postgres::Client,
    workers: &[tokio_postgres::Client],
    readies: &[Ready<'_>],
    plan: &BenchPlan,
    stop: &Stop,
    progress: Progress,
) -> Result<(Vec<State>, Vec<State>)> {
    let s = &plan.scenario.settings;
    let timings = timing::time(client, readies, s, plan.seed, 2, stop).await?;
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for (r, mut sides) in readies.iter().zip(timings) {
        let b = sides.pop().unwrap_or_default();
        let a = sides.pop().unwrap_or_default();
        let qplan = timing::explain(client, r, timing::representative(&a)).await?;
        let qa = timing::throughput(workers, r, s.throughput_time, plan.seed).await?;
        let qb = timing::throughput(workers, r, s.throughput_time, plan.seed).await?;
        progress.line(&format!(
            "  a-a    {:<36} median {:>9.3} / {:>9.3} ms  {:>4} runs each",
            r.spec.name,
            stats::quantile(&a.ms, 0.5),
            stats::quantile(&b.ms, 0.5),
            a.ms.len()
        ));
        first.push(State {
            timing: a,
            plan: qplan.clone(),
            qps: qa,
        });
        second.push(State {
            timing: b,
            plan: qplan,
            qps: qb,
        });
    }
    Ok((first, second))
}

/// The bootstrap behind each query's speedup interval. Before/after: the scenario's
/// `confidence` per query. A/A: the same confidence for the whole family, Bonferroni-corrected
/// to `1 - (1 - confidence) / queries` per query, because `--aa` promises that *every* interval
/// contains 1 with that probability (at 95% per query, 14 calibrated intervals all contain 1
/// only about half the time: 0.95^14 ≈ 0.49). The corrected tails are a few tenths of a percent
/// wide, so A/A draws more resamples for their order statistics to be stable.
pub(crate) fn interval_bootstrap(plan: &BenchPlan) -> stats::Bootstrap {
    bootstrap_for(
        plan.scenario.settings.confidence,
        plan.scenario.queries.len(),
        plan.aa,
    )
}

/// [`interval_bootstrap`] for a scenario at `confidence` with `queries` queries.
fn bootstrap_for(confidence: f64, queries: usize, aa: bool) -> stats::Bootstrap {
    if !aa {
        return stats::Bootstrap::at(confidence);
    }
    stats::Bootstrap {
        resamples: AA_RESAMPLES,
        ..stats::Bootstrap::at(per_query_level(confidence, queries))
    }
}

/// An A/A run's resamples: enough for stable order statistics in tails of a few tenths of a
/// percent (5 × the default's 2,000).
const AA_RESAMPLES: usize = 10_000;

/// An A/A run's level for each of `queries` intervals so that all of them hold together at
/// `confidence` (Bonferroni).
fn per_query_level(confidence: f64, queries: usize) -> f64 {
    1.0 - (1.0 - confidence) / queries.max(1) as f64
}

fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

fn query_report(r: &Ready<'_>, b: State, a: State, plan: &BenchPlan) -> QueryReport {
    let (speedup, ci) = stats::speedup(&b.timing.ms, &a.timing.ms, interval_bootstrap(plan))
        .map_or((f64::NAN, [f64::NAN, f64::NAN]), |(s, ci)| (s, ci.bounds()));
    let rep = timing::representative(&b.timing);
    QueryReport {
        name: r.spec.name.clone(),
        index: r.spec.index.clone(),
        sql: r.spec.sql.clone(),
        before_ms: round(stats::quantile(&b.timing.ms, 0.5), 4),
        after_ms: round(stats::quantile(&a.timing.ms, 0.5), 4),
        before_p95_ms: round(stats::quantile(&b.timing.ms, 0.95), 4),
        after_p95_ms: round(stats::quantile(&a.timing.ms, 0.95), 4),
        runs_before: b.timing.ms.len(),
        runs_after: a.timing.ms.len(),
        speedup: round(speedup, 3),
        speedup_ci: [round(ci[0], 3), round(ci[1], 3)],
        proven: ci[0] > 1.0,
        uses_index: a.plan.indexes.contains(&r.spec.index),
        plan_before: b.plan.nodes,
        plan_after: a.plan.nodes,
        plan_before_text: b.plan.text,
        plan_after_text: a.plan.text,
        representative_params: r.display(rep),
        missing_share: if r.missing.is_some() {
            r.spec.missing_share
        } else {
            0.0
        },
        throughput_before_qps: b.qps,
        throughput_after_qps: a.qps,
        samples_before_ms: b.timing.ms.iter().map(|v| round(*v, 4)).collect(),
        samples_after_ms: a.timing.ms.iter().map(|v| round(*v, 4)).collect(),
    }
}

/// What held and what did not: every index the migration created must be used by some
/// query's after-plan and every query's after-plan must use its index; at least one speedup
/// must be proven. In an A/A run, no interval may exclude 1. Takes only the two switches of
/// the plan that change the rules, so the verdicts are unit-tested without a database.
fn judge(
    plan: Rules,
    queries: &[QueryReport],
    bench: &IndexBench,
    fks: &[ForeignKeyReport],
) -> (Vec<String>, Vec<String>) {
    let mut failures = Vec::new();
    let mut warnings = Vec::new();
    let ci = |q: &QueryReport| format!("[{:.2}, {:.2}]", q.speedup_ci[0], q.speedup_ci[1]);
    if plan.aa {
        for q in queries {
            if q.speedup_ci[0] > 1.0 || q.speedup_ci[1] < 1.0 {
                failures.push(format!(
                    "A/A: query {} differs from itself: speedup {:.3}, interval {} excludes 1 \
                        (at {:.2}% per query, {:.0}% for all {} together: the noise is larger \
                        than the interval admits)",
                    q.name,
                    q.speedup,
                    ci(q),
                    per_query_level(plan.confidence, queries.len()) * 100.0,
                    plan.confidence * 100.0,
                    queries.len()
                ));
            }
        }
    } else {
        // As `authenticated`, every query carries its policies' predicates (`user_id =
        // auth.uid()`), and the planner may rightly serve them with another index: the index
        // checks then inform (warnings) instead of gating; run as the owner for the gate.
        let mut index_problems = Vec::new();
        for q in queries {
            if !q.uses_index {
                index_problems.push(format!(
                    "query {}: the after-plan does not use {} ({})",
                    q.name,
                    q.index,
                    q.plan_after.join(" > ")
                ));
            }
            if !q.proven {
                warnings.push(format!(
                    "query {}: no proven speedup ({:.2}x, interval {} includes 1)",
                    q.name,
                    q.speedup,
                    ci(q)
                ));
            }
        }
        for i in &bench.new_indexes {
            let used = queries
                .iter()
                .any(|q| q.plan_after.iter().any(|n| node_uses(n, i)));
            if !used {
                index_problems.push(format!(
                    "index {i} (created by {}) is used by no query's after-plan: add a query for \
                        it",
                    bench.migration
                ));
            }
        }
        if !queries.iter().any(|q| q.proven) {
            failures.push(format!(
                "no query is proven faster after {} (every speedup interval includes 1)",
                bench.migration
            ));
        }
        if plan.as_authenticated {
            warnings.extend(
                index_problems
                    .into_iter()
                    .map(|p| format!("as authenticated: {p}")),
            );
        } else {
            failures.splice(0..0, index_problems);
        }
    }
    if !fks.is_empty() {
        warnings.push(format!(
            "{} foreign key(s) still have no supporting index after {}: {}",
            fks.len(),
            bench.migration,
            fks.iter()
                .map(|f| format!("{}({})", f.table, f.columns.join(", ")))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    (failures, warnings)
}

/// What changes the bench's rules: an A/A calibration (no interval may exclude 1) and
/// `--as authenticated` (index checks warn instead of failing).
#[derive(Debug, Clone, Copy)]
struct Rules {
    aa: bool,
    as_authenticated: bool,
    /// The scenario's confidence: in an A/A run, for all queries together.
    confidence: f64,
}

/// Whether a plan node label ("Bitmap Index Scan using idx_x", "Index Scan using idx_x on t")
/// names this index.
fn node_uses(node: &str, index: &str) -> bool {
    node.split(' ').skip_while(|w| *w != "using").nth(1) == Some(index)
}

fn assemble(
    plan: &BenchPlan,
    run_id: &str,
    started_at: chrono::DateTime<chrono::Utc>,
    began: Instant,
    m: Measured,
) -> Report {
    let Measured {
        applied,
        schema_warnings,
        database,
        queries,
        fks,
        bench,
        actor,
    } = m;
    let rules = Rules {
        aa: plan.aa,
        as_authenticated: plan.as_authenticated,
        confidence: plan.scenario.settings.confidence,
    };
    let (failures, mut warnings) = judge(rules, &queries, &bench, &fks);
    warnings.splice(0..0, schema_warnings);
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
    let body = Body::IndexBench(BenchBody {
        queries,
        load_rows_per_s: bench.data.rows_per_s,
        unindexed_foreign_keys: fks,
        index_bench: bench,
        // Only `--as authenticated` is recorded: an owner run's report stays as it always was.
        settings: match actor {
            Actor::User(id) => Some(BenchRunAs {
                as_role: actor.role().to_string(),
                user: Some(id.to_string()),
            }),
            Actor::Owner | Actor::Anon => None,
        },
    });
    let mut schema = plan.before.clone();
    schema.migrations.push(plan.migration.clone());
    let findings = report::Findings {
        database,
        migrations: report::Migrations::of(&schema, &applied),
        failures,
        warnings,
    };
    Report::new(run, body, findings)
}

#[cfg(test)]
mod tests;
