//! The plans of a sharded run: `prepare` (the run's settings, recorded once), `run --shard`
//! (one shard's share, every setting from the manifest) and `verify` (the partials to merge).

use super::*;

/// A race scenario for a sharded command; an index benchmark or isolation scenario is refused.
fn sharded_race(a: &cli::RunArgs, command: &str) -> Result<(Scenario, String)> {
    if a.database.database_url.is_none() {
        return Err(Error::Input(format!(
            "{command}: {}",
            crate::race::sharded::NEEDS_URL
        )));
    }
    for (given, flag, why) in [
        (
            a.faults.is_some(),
            "--faults",
            "faults are injected by one process into its own load",
        ),
        (
            a.duration.is_some(),
            "--duration",
            "a sharded run splits --ops exactly over the shards",
        ),
        (
            a.rollout.is_some(),
            "--rollout",
            "a rollout applies its migrations once, while one load runs",
        ),
    ] {
        if given {
            return Err(Error::Input(format!(
                "{flag} does not apply to a sharded run ({why}): drop it"
            )));
        }
    }
    let (origin, text) = scenario::locate(&a.scenario)?;
    match scenario::load(&origin, &text)? {
        Loaded::Race(s) => Ok((s, text)),
        Loaded::IndexBench(b) => Err(Error::Input(format!(
            "{} is an index benchmark: it needs no sharding (it times single queries and a few              clients against one server, far below what one machine can drive); run it with              `loadtest run {}`",
            b.name, a.scenario
        ))),
        Loaded::Isolation(i) => Err(Error::Input(format!(
            "{} is an rls-isolation scenario: it needs no sharding; run it with `loadtest run {}`",
            i.name, a.scenario
        ))),
        Loaded::Rollout(r) => Err(Error::Input(format!(
            "{} is a rollout scenario: its migrations are applied once, while one load runs; \
             run it with `loadtest run {}`",
            r.name, a.scenario
        ))),
    }
}

/// `prepare SCENARIO --database-url URL [--run-id ID]` and the run's settings.
pub(super) fn prepare(a: cli::RunArgs, command_line: String) -> Result<PreparePlan> {
    if a.shard.is_some() {
        return Err(Error::Input(
            "--shard belongs to `loadtest run`, not prepare: prepare once, then run each shard"
                .into(),
        ));
    }
    let (scenario, text) = sharded_race(&a, "prepare")?;
    let run_id = match &a.run_id {
        Some(id) => {
            crate::shard::check_run_id(id)?;
            id.clone()
        }
        None => crate::pg::target::new_run_id(),
    };
    let run = race(a, scenario, command_line)?;
    Ok(PreparePlan {
        run,
        run_id,
        scenario_sha256: crate::shard::manifest::sha256(&text),
        scenario_text: text,
    })
}

/// `run SCENARIO --shard I/N --run-id ID`: the flags given explicitly are kept, to be checked
/// against the manifest once it is read.
pub(super) fn shard(a: cli::RunArgs, command_line: String) -> Result<RunPlan> {
    let (Some(id), Some(run_id)) = (a.shard, a.run_id.clone()) else {
        return Err(Error::Input(
            "--run-id without --shard: a shard is run as `loadtest run SCENARIO --run-id ID              --shard I/N`"
                .into(),
        ));
    };
    crate::shard::check_run_id(&run_id)?;
    writable(&a.output.report_dir)?;
    let (scenario, text) = sharded_race(&a, "run --shard")?;
    let mut explicit: Vec<(&'static str, String)> = Vec::new();
    let mut given = |on: bool, flag: &'static str, value: String| {
        if on {
            explicit.push((flag, value));
        }
    };
    given(
        a.ops.is_some(),
        "--ops",
        a.ops.unwrap_or_default().to_string(),
    );
    given(
        a.workers.is_some(),
        "--workers",
        a.workers.unwrap_or_default().to_string(),
    );
    given(
        a.connections != race_plan::DEFAULT_CONNECTIONS as u64,
        "--connections",
        a.connections.to_string(),
    );
    given(
        a.seed != race_plan::DEFAULT_SEED,
        "--seed",
        a.seed.to_string(),
    );
    given(
        a.strategy != cli::StrategyArg::None,
        "--strategy",
        strategy(a.strategy).name().to_string(),
    );
    given(a.matrix, "--matrix", "true".into());
    given(a.mixed, "--mixed", "true".into());
    given(a.retry > 0, "--retry", a.retry.to_string());
    given(
        a.query_mode != cli::QueryModeArg::Prepared,
        "--query-mode",
        format!("{:?}", a.query_mode).to_lowercase(),
    );
    given(a.ledger, "--ledger", "true".into());
    given(
        a.rate.is_some(),
        "--rate",
        a.rate.unwrap_or_default().to_string(),
    );
    let mut plan = race(a, scenario, command_line)?;
    plan.shard = Some(race_plan::ShardRun {
        id,
        run_id,
        total_ops: 0,
        scenario_sha256: crate::shard::manifest::sha256(&text),
        explicit,
    });
    Ok(plan)
}

/// `verify --run-id ID PARTIAL...`.
pub(super) fn verify(a: cli::VerifyArgs, command_line: String) -> Result<VerifyPlan> {
    crate::shard::check_run_id(&a.run_id)?;
    if a.database.database_url.is_none() {
        return Err(Error::Input(format!(
            "verify: {}",
            crate::race::sharded::NEEDS_URL
        )));
    }
    writable(&a.output.report_dir)?;
    Ok(VerifyPlan {
        run_id: a.run_id,
        partials: a.partials,
        allow_missing: a.allow_missing,
        database: database(&a.database),
        report_dir: a.output.report_dir,
        quiet: a.output.quiet,
        command_line,
    })
}
