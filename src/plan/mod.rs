//! Flags ⊕ scenario file ⊕ defaults, resolved into a validated plan before any database I/O.
//! A bad flag, scenario or migrations folder fails here with exit 2 and nothing started.

use crate::bench::plan::{self as bench_plan, BenchPlan};
use crate::cli::{self, CompatArg};
use crate::error::{Error, Result};
use crate::isolation::plan::IsolationPlan;
use crate::pg::migrate;
pub use crate::pg::schema::SchemaPlan;
pub use crate::pg::target::DatabasePlan;
use crate::race::engine::Until;
use crate::race::plan::{self as race_plan, QueryMode, RaceMode, RunPlan};
pub use crate::race::sharded::verify::VerifyPlan;
use crate::rollout::plan::{RolloutPlan, Source as RolloutSource};
use crate::scenario::{self, BenchScenario, Loaded, Scenario, Strategy};

use std::path::PathBuf;

pub enum Plan {
    Run(Box<RunPlan>),
    /// `prepare`: a race's plan, its run id, and the scenario file with its checksum.
    Prepare(Box<PreparePlan>),
    /// `run --shard I/N --run-id ID`.
    Shard(Box<RunPlan>),
    Verify(VerifyPlan),
    Bench(Box<BenchPlan>),
    Isolation(Box<IsolationPlan>),
    Rollout(Box<RolloutPlan>),
    Migrate(MigratePlan),
    List,
    /// Report commands read files only.
    Report(ReportPlan),
    Nightly(NightlyPlan),
}

/// `prepare`'s plan.
pub struct PreparePlan {
    pub run: RunPlan,
    pub run_id: String,
    pub scenario_text: String,
    pub scenario_sha256: String,
}

/// `report render` and `report compare`, with the format resolved.
pub enum ReportPlan {
    Render {
        run: PathBuf,
        format: Format,
    },
    Compare {
        base: PathBuf,
        new: PathBuf,
        /// Smallest slowdown that counts, as a fraction.
        threshold: f64,
        /// Compare even runs that differ in settings, schema or server.
        force: bool,
        format: Format,
    },
}

/// How a report command prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
    Json,
}

fn report(c: cli::ReportCommand) -> ReportPlan {
    let format = |f: cli::RenderFormat| match f {
        cli::RenderFormat::Md => Format::Markdown,
        cli::RenderFormat::Html => Format::Html,
        cli::RenderFormat::Json => Format::Json,
    };
    match c {
        cli::ReportCommand::Render { run, format: f } => ReportPlan::Render {
            run,
            format: format(f),
        },
        cli::ReportCommand::Compare {
            base,
            new,
            threshold,
            force,
            format: f,
        } => ReportPlan::Compare {
            base,
            new,
            threshold,
            force,
            format: format(f),
        },
    }
}

/// Every scenario of the suite, resolved and validated before anything runs.
pub struct NightlyPlan {
    pub runs: Vec<RunPlan>,
    /// The suite's index benchmarks, run after the races.
    pub benches: Vec<BenchPlan>,
    pub baseline: PathBuf,
    pub update_baseline: bool,
    pub threshold: f64,
    pub report_dir: PathBuf,
    /// Runs per scenario (`--repeat`).
    pub repeat: u32,
}

pub struct MigratePlan {
    pub schema: SchemaPlan,
    pub database: DatabasePlan,
    /// Hides the lines on stderr (the applied files and the summary are results: stdout).
    pub quiet: bool,
}

impl Plan {
    pub fn resolve(cli: cli::Cli, command_line: String) -> Result<Plan> {
        let threads = cli.client_threads();
        let mut plan = Plan::command(cli, command_line)?;
        match &mut plan {
            Plan::Run(p) | Plan::Shard(p) => p.threads = threads,
            Plan::Prepare(p) => p.run.threads = threads,
            Plan::Nightly(n) => n.runs.iter_mut().for_each(|r| r.threads = threads),
            _ => {}
        }
        Ok(plan)
    }

    fn command(mut cli: cli::Cli, command_line: String) -> Result<Plan> {
        cli.spread_quiet();
        Ok(match cli.command {
            cli::Command::List => Plan::List,
            cli::Command::Report(c) => Plan::Report(report(c)),
            cli::Command::Nightly(a) => {
                writable(&a.output.report_dir)?;
                Plan::Nightly(nightly(a, command_line)?)
            }
            cli::Command::Migrate(a) => Plan::Migrate(MigratePlan {
                schema: schema(&a.migrations)?,
                database: database(&a.database),
                quiet: cli.quiet,
            }),
            cli::Command::Verify(a) => Plan::Verify(verify(a, command_line)?),
            cli::Command::Prepare(a) => Plan::Prepare(Box::new(prepare(a, command_line)?)),
            cli::Command::Run(a) if a.shard.is_some() || a.run_id.is_some() => {
                Plan::Shard(Box::new(shard(a, command_line)?))
            }
            cli::Command::Run(a) => {
                writable(&a.output.report_dir)?;
                let (origin, text) = scenario::locate(&a.scenario)?;
                let loaded = scenario::load(&origin, &text)?;
                if a.rollout.is_none() && a.settle.is_some() {
                    return Err(Error::Input(
                        "--settle applies with --rollout VERSION (or a rollout scenario): add \
                            --rollout or drop --settle"
                            .into(),
                    ));
                }
                match loaded {
                    Loaded::Race(s) if a.rollout.is_some() => {
                        Plan::Rollout(Box::new(rollout(a, RolloutSource::Race(s), command_line)?))
                    }
                    Loaded::Rollout(r) => Plan::Rollout(Box::new(rollout(
                        a,
                        RolloutSource::Rollout(r),
                        command_line,
                    )?)),
                    _ if a.rollout.is_some() => {
                        return Err(Error::Input(format!(
                            "--rollout applies to race and rollout scenarios; {origin} is {}: \
                                run a race scenario (e.g. token-race) or `loadtest run rollout`",
                            match loaded {
                                Loaded::IndexBench(_) => "an index benchmark",
                                _ => "a tenant-isolation scenario",
                            }
                        )));
                    }
                    Loaded::Race(scenario) => Plan::Run(Box::new(race(a, scenario, command_line)?)),
                    Loaded::IndexBench(b) => Plan::Bench(Box::new(bench(a, b, command_line)?)),
                    Loaded::Isolation(i) => {
                        Plan::Isolation(Box::new(isolation(a, i, command_line)?))
                    }
                }
            }
        })
    }
}

/// A rollout under live load: the flags a rollout cannot honour are refused by name.
fn rollout(a: cli::RunArgs, source: RolloutSource, command_line: String) -> Result<RolloutPlan> {
    for (given, flag) in [
        (a.ops.is_some(), "--ops"),
        (a.duration.is_some(), "--duration"),
        (a.rate.is_some(), "--rate"),
        (a.matrix, "--matrix"),
        (a.mixed, "--mixed"),
        (a.faults.is_some(), "--faults"),
        (a.ledger, "--ledger"),
        (a.retry > 0, "--retry"),
        (a.strategy != cli::StrategyArg::None, "--strategy"),
        (a.scale.is_some(), "--scale"),
        (a.aa, "--aa"),
        (a.as_role != cli::AsArg::Owner, "--as"),
        (a.migrations.until.is_some(), "--until"),
        // Each rollout call checks a connection out of the pool: always the driver.
        (a.client != cli::ClientArg::Socket, "--client"),
    ] {
        if given {
            return Err(Error::Input(format!(
                "{flag} does not apply to a rollout (--rollout or a rollout scenario): the load \
                    runs until the migrations are applied and --settle has passed; drop {flag}"
            )));
        }
    }
    crate::rollout::plan::resolve(
        source,
        schema(&a.migrations)?,
        crate::rollout::plan::Flags {
            version: a.rollout,
            settle: a.settle,
            workers: a.workers.map(|w| w as usize),
            query_mode: match a.query_mode {
                cli::QueryModeArg::Prepared => QueryMode::Prepared,
                cli::QueryModeArg::Extended => QueryMode::Extended,
                cli::QueryModeArg::Simple => QueryMode::Simple,
            },
            seed: a.seed,
            report_dir: a.output.report_dir,
            quiet: a.output.quiet,
            database: database(&a.database),
            command_line,
        },
    )
}

/// Creates the report folder and proves it writable before anything starts: a run must not
/// spend its load only to find it cannot keep the result.
fn writable(dir: &std::path::Path) -> Result<()> {
    let probe = dir.join(format!(".loadtest-probe-{}", std::process::id()));
    let attempt = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b"probe"))
        .and_then(|()| std::fs::remove_file(&probe));
    attempt.map_err(|e| {
        Error::Input(format!(
            "--report-dir {}: cannot write there ({e}); pass a folder loadtest may create and \
             write to",
            dir.display()
        ))
    })
}

/// A tenant-isolation run takes the schema, database, seed and output flags only.
fn isolation(
    a: cli::RunArgs,
    scenario: crate::scenario::IsolationScenario,
    command_line: String,
) -> Result<IsolationPlan> {
    let other = [
        (a.ops.is_some(), "--ops"),
        (a.duration.is_some(), "--duration"),
        (a.rate.is_some(), "--rate"),
        (a.strategy != cli::StrategyArg::None, "--strategy"),
        (a.matrix, "--matrix"),
        (a.retry > 0, "--retry"),
        (a.query_mode != cli::QueryModeArg::Prepared, "--query-mode"),
        (a.client != cli::ClientArg::Socket, "--client"),
        (a.mixed, "--mixed"),
        (a.workers.is_some(), "--workers"),
        (a.scale.is_some(), "--scale"),
        (a.aa, "--aa"),
        (a.as_role != cli::AsArg::Owner, "--as"),
    ];
    if let Some((_, flag)) = other.iter().find(|(given, _)| *given) {
        return Err(Error::Input(format!(
            "{flag} does not apply to {}, an rls-isolation scenario (it takes --seed, \
             --migrations, --until, --compat, --report-dir and the database flags; the load is \
             set in the file's [load])",
            scenario.name
        )));
    }
    Ok(IsolationPlan {
        schema: schema(&a.migrations)?,
        database: database(&a.database),
        seed: a.seed,
        report_dir: a.output.report_dir,
        quiet: a.output.quiet,
        command_line,
        scenario,
    })
}

fn race(a: cli::RunArgs, scenario: Scenario, command_line: String) -> Result<RunPlan> {
    for (given, flag) in [
        (a.scale.is_some(), "--scale"),
        (a.aa, "--aa"),
        (a.as_role != cli::AsArg::Owner, "--as"),
    ] {
        if given {
            return Err(Error::Input(format!(
                "{flag} applies to index-bench scenarios; {} is a race",
                scenario.name
            )));
        }
    }
    let faults = a.faults.unwrap_or_default();
    if a.mixed && !faults.is_empty() {
        return Err(Error::Input(
            "--faults works with paths run in turn (the default, or --matrix), not --mixed: \
             drop one of them"
                .into(),
        ));
    }
    if faults.has("restart") && a.database.database_url.is_some() {
        return Err(Error::Input(
            "--faults restart:once crashes the server: only loadtest's own scratch cluster, \
             never --database-url; drop restart or the URL"
                .into(),
        ));
    }
    if a.ledger && a.mixed {
        return Err(Error::Input(
            "--ledger works with paths run in turn, not --mixed: drop one of them".into(),
        ));
    }
    let mut database = database(&a.database);
    if faults.has("restart") {
        // A crash loses commits acknowledged before their WAL left the server's memory when
        // commits do not wait for it: that would be the scratch server's loss, not the
        // function's. fsync can stay off: the machine does not crash, only the server.
        database
            .server_settings
            .push(("synchronous_commit".into(), "on".into()));
    }
    Ok(RunPlan {
        scenario,
        faults,
        ledger: a.ledger,
        until: match (a.ops, a.duration) {
            (_, Some(d)) => Until::Elapsed(d),
            (Some(n), None) => Until::Ops(n),
            (None, None) => Until::Ops(race_plan::DEFAULT_OPS),
        },
        rate: a.rate,
        mode: match (a.matrix, a.mixed) {
            (true, _) => RaceMode::Matrix,
            (false, true) => RaceMode::Mixed(strategy(a.strategy)),
            (false, false) => RaceMode::Sequential(strategy(a.strategy)),
        },
        retries: a.retry,
        query_mode: match a.query_mode {
            cli::QueryModeArg::Prepared => QueryMode::Prepared,
            cli::QueryModeArg::Extended => QueryMode::Extended,
            cli::QueryModeArg::Simple => QueryMode::Simple,
        },
        socket: a.client == cli::ClientArg::Socket,
        workers: a.workers.map_or(race_plan::DEFAULT_WORKERS, |w| w as usize),
        connections: a.connections as usize,
        // Set by `Plan::resolve` from the global --threads.
        threads: 1,
        seed: a.seed,
        report_dir: a.output.report_dir,
        quiet: a.output.quiet,
        schema: schema(&a.migrations)?,
        database,
        command_line,
        shard: None,
    })
}

fn strategy(s: cli::StrategyArg) -> Strategy {
    match s {
        cli::StrategyArg::None => Strategy::None,
        cli::StrategyArg::ReadCommitted => Strategy::ReadCommitted,
        cli::StrategyArg::RepeatableRead => Strategy::RepeatableRead,
        cli::StrategyArg::Serializable => Strategy::Serializable,
        cli::StrategyArg::ForUpdate => Strategy::ForUpdate,
    }
}

fn bench(a: cli::RunArgs, scenario: BenchScenario, command_line: String) -> Result<BenchPlan> {
    let race_only = [
        (a.ops.is_some(), "--ops"),
        (a.duration.is_some(), "--duration"),
        (a.rate.is_some(), "--rate"),
        (a.strategy != cli::StrategyArg::None, "--strategy"),
        (a.matrix, "--matrix"),
        (a.retry > 0, "--retry"),
        (a.query_mode != cli::QueryModeArg::Prepared, "--query-mode"),
        (a.client != cli::ClientArg::Socket, "--client"),
        (a.mixed, "--mixed"),
        (a.faults.is_some(), "--faults"),
        (a.ledger, "--ledger"),
        (a.migrations.until.is_some(), "--until"),
    ];
    if let Some((_, flag)) = race_only.iter().find(|(given, _)| *given) {
        return Err(Error::Input(format!(
            "{flag} applies to races; {} is an index benchmark (it takes --scale, --workers, \
                --seed, --aa)",
            scenario.name
        )));
    }
    let flags = BenchFlags {
        scale: a.scale.unwrap_or(1.0),
        aa: a.aa,
        workers: a
            .workers
            .map_or(bench_plan::DEFAULT_WORKERS, |w| w as usize),
        seed: a.seed,
        as_authenticated: a.as_role == cli::AsArg::Authenticated,
    };
    bench_plan(
        scenario,
        schema(&a.migrations)?,
        flags,
        &a.output,
        &a.database,
        command_line,
    )
}

/// The flags an index benchmark takes.
struct BenchFlags {
    scale: f64,
    aa: bool,
    workers: usize,
    seed: u64,
    /// `--as authenticated`.
    as_authenticated: bool,
}

/// Splits the schema at the migration under test: before = the older ones, then that file.
fn bench_plan(
    scenario: BenchScenario,
    mut all: SchemaPlan,
    flags: BenchFlags,
    output: &cli::OutputArgs,
    db: &cli::DatabaseArgs,
    command_line: String,
) -> Result<BenchPlan> {
    let target = &scenario.settings.migration;
    let Some(at) = all.migrations.iter().position(|m| &m.version == target) else {
        return Err(Error::Input(format!(
            "{}: bench.migration = \"{target}\" is not among the migrations of {} (see `loadtest \
                migrate`)",
            scenario.origin, all.source
        )));
    };
    let migration = all.migrations[at].clone();
    all.migrations.truncate(at);
    Ok(BenchPlan {
        before: all,
        migration,
        scale: flags.scale,
        aa: flags.aa,
        workers: flags.workers,
        seed: flags.seed,
        as_authenticated: flags.as_authenticated,
        report_dir: output.report_dir.clone(),
        quiet: output.quiet,
        database: DatabasePlan {
            // A scratch cluster needs no WAL for replicas: with wal_level = minimal, a COPY
            // into a table truncated in the same transaction skips WAL entirely.
            server_settings: vec![
                ("wal_level".into(), "minimal".into()),
                ("max_wal_senders".into(), "0".into()),
            ],
            ..database(db)
        },
        command_line,
        scenario,
    })
}

fn database(a: &cli::DatabaseArgs) -> DatabasePlan {
    DatabasePlan {
        // `--database-url ''`: wherever psql would connect, from the PG* environment.
        url: a.database_url.as_deref().map(|u| match u {
            "" => crate::pg::libpq::conninfo(),
            u => u.to_string(),
        }),
        keep: a.keep,
        pg_user: a.pg_user.clone(),
        pg_bindir: a.pg_bindir.clone(),
        server_settings: Vec::new(),
    }
}

fn schema(a: &cli::MigrationArgs) -> Result<SchemaPlan> {
    let (source, all, skipped, git) = match &a.migrations {
        None => (
            "builtin".to_string(),
            migrate::load_builtin()?,
            Vec::new(),
            crate::pg::provenance::builtin(),
        ),
        Some(dir) => {
            if !dir.is_dir() {
                return Err(Error::Input(format!(
                    "--migrations {}: no such folder (expected a folder of <version>_<name>.sql \
                        files)",
                    dir.display()
                )));
            }
            let (all, skipped) = migrate::load_dir(dir)?;
            migrations_found(dir, &all, &skipped)?;
            let git = crate::pg::provenance::of_dir(dir);
            (dir.display().to_string(), all, skipped, git)
        }
    };
    let selected = migrate::select(&all, a.until.as_deref(), &source)?.to_vec();
    Ok(SchemaPlan {
        source,
        compat: a.compat == CompatArg::Supabase,
        migrations: selected,
        skipped,
        git,
    })
}

/// Refuses a folder that would silently test the wrong schema: one with no migration at all (a
/// wrong path), or with a file named like a migration that is not `.sql` (`…_fix.sql.txt`),
/// which would be skipped. Other files (a README) are only warned about.
fn migrations_found(
    dir: &std::path::Path,
    all: &[migrate::Migration],
    skipped: &[String],
) -> Result<()> {
    let looks_versioned = |name: &str| {
        let digits = name.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && name.as_bytes().get(digits) == Some(&b'_')
    };
    if let Some(name) = skipped.iter().find(|n| looks_versioned(n)) {
        return Err(Error::Input(format!(
            "--migrations {}: {name} is named like a migration but is not a .sql file; rename it \
                to <version>_<name>.sql or move it out of the folder",
            dir.display()
        )));
    }
    if all.is_empty() {
        return Err(Error::Input(format!(
            "--migrations {}: no <version>_<name>.sql files there; pass the folder that holds \
                the migrations (e.g. supabase/migrations)",
            dir.display()
        )));
    }
    Ok(())
}

fn nightly(a: cli::NightlyArgs, command_line: String) -> Result<NightlyPlan> {
    let names: Vec<String> = match &a.suite {
        None => scenario::list().into_iter().map(|l| l.name).collect(),
        Some(file) => std::fs::read_to_string(file)
            .map_err(|source| Error::ReadFile {
                path: file.clone(),
                source,
            })?
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
    };
    if names.is_empty() {
        return Err(Error::Input(
            "the nightly suite is empty: list scenario names or .toml paths, one per line".into(),
        ));
    }
    let schema = schema(&a.migrations)?;
    let mut runs = Vec::new();
    let mut benches = Vec::new();
    for name in names {
        let (origin, text) = scenario::locate(&name)?;
        let scenario = match scenario::load(&origin, &text)? {
            Loaded::Race(s) => s,
            Loaded::IndexBench(b) => {
                benches.push(bench_plan(
                    b,
                    schema.clone(),
                    BenchFlags {
                        scale: a.scale,
                        aa: false,
                        workers: bench_plan::DEFAULT_WORKERS,
                        seed: race_plan::DEFAULT_SEED,
                        as_authenticated: false,
                    },
                    &a.output,
                    &a.database,
                    command_line.clone(),
                )?);
                continue;
            }
            // Nightly tracks performance; tenant isolation is a correctness check of its own.
            Loaded::Isolation(_) => continue,
            // A rollout measures one migration under load, not a performance baseline.
            Loaded::Rollout(_) => continue,
        };
        runs.push(RunPlan {
            faults: Default::default(),
            ledger: false,
            scenario,
            until: Until::Ops(a.ops),
            rate: None,
            mode: RaceMode::Sequential(Strategy::None),
            retries: 0,
            query_mode: QueryMode::Prepared,
            socket: true,
            workers: race_plan::DEFAULT_WORKERS,
            connections: race_plan::DEFAULT_CONNECTIONS,
            threads: 1,
            seed: race_plan::DEFAULT_SEED,
            report_dir: a.output.report_dir.clone(),
            quiet: a.output.quiet,
            schema: schema.clone(),
            database: database(&a.database),
            command_line: command_line.clone(),
            shard: None,
        });
    }
    Ok(NightlyPlan {
        runs,
        benches,
        baseline: a.baseline,
        update_baseline: a.update_baseline,
        threshold: a.threshold,
        report_dir: a.output.report_dir,
        repeat: a.repeat,
    })
}

mod sharded;
use sharded::{prepare, shard, verify};

#[cfg(test)]
mod tests;
