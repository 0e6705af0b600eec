//! `loadtest verify`: the partials of every shard merged exactly and judged once, as one run.
//!
//! Refused before anything is judged (exit 2): a partial that is not one, of another run or
//! manifest, a shard given twice, or a shard missing without `--allow-missing`. With it, the
//! run is reported incomplete, a failure (exit 1): the missing shard's calls are unaccounted
//! (it may have been killed mid-call), so the run can never pass.

use super::convert;
use super::{apply, open_run};
use crate::Stop;
use crate::error::{Error, Result};
use crate::pg::schema::SchemaPlan;
use crate::pg::target::DatabasePlan;
use crate::race::plan::{RaceMode, RunPlan};
use crate::race::run::{Judge, MIXED, Ran, path_label, strategies};
use crate::race::table::CounterTable;
use crate::report::{self, PathReport, Report, Verdict};
use crate::scenario::{self, Loaded};
use crate::shard::barrier::load_values;
use crate::shard::manifest::Manifest;
use crate::shard::merge;
use crate::shard::partial::{Load, Partial};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

/// `verify`'s validated plan.
pub struct VerifyPlan {
    pub run_id: String,
    pub partials: Vec<PathBuf>,
    pub allow_missing: bool,
    /// The server (`--database-url`) and `--keep`.
    pub database: DatabasePlan,
    pub report_dir: PathBuf,
    pub quiet: bool,
    pub command_line: String,
}

/// Merges and judges; returns the report and the stamp naming its files. Drops the run's
/// database unless `--keep` (and only when its manifest says loadtest created it).
pub async fn verify(plan: &VerifyPlan, stop: &Stop) -> Result<(Report, String)> {
    let began = Instant::now();
    let partials: Vec<(PathBuf, Partial)> = plan
        .partials
        .iter()
        .map(|p| Partial::read(p).map(|x| (p.clone(), x)))
        .collect::<Result<_>>()?;
    let url = plan
        .database
        .url
        .as_deref()
        .ok_or_else(|| Error::Input(super::NEEDS_URL.into()))?;
    let (target, client) = open_run(url, &plan.run_id).await?;
    let manifest = Manifest::read(&client, &plan.run_id).await?;
    let coverage = merge::check(
        &partials,
        &plan.run_id,
        &manifest.checksum(),
        plan.allow_missing,
    )?;
    let run = run_plan(&manifest, plan)?;
    let keys = CounterTable::new(&run.scenario).keys(&client).await?;
    let started_at = partials
        .iter()
        .filter_map(|(_, p)| chrono::DateTime::parse_from_rfc3339(&p.started_at).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .min()
        .unwrap_or_else(chrono::Utc::now);
    let interrupted: Vec<String> = partials
        .iter()
        .filter(|(_, p)| !p.complete)
        .map(|(path, p)| {
            format!(
                "shard {} was interrupted ({}): its last load is cut short",
                p.id(),
                path.display()
            )
        })
        .collect();
    let present: Vec<Partial> = partials.into_iter().map(|(_, p)| p).collect();
    let merged: BTreeMap<String, Load> = merge::loads(present)
        .map_err(|m| Error::Input(format!("the partials do not merge: {m}")))?
        .into_iter()
        .map(|l| (l.label.clone(), l))
        .collect();
    let columns = run.scenario.counters.columns.len();
    let judge = Judge {
        plan: &run,
        keys: &keys,
        faults: false,
    };
    let mut incomplete: Vec<String> = Vec::new();
    let mut paths: Vec<PathReport> = Vec::new();
    let outcome = |label: &str| -> Result<Option<_>> {
        merged
            .get(label)
            .map(|l| convert::to_outcome(l, columns))
            .transpose()
            .map_err(|m| Error::Input(format!("load '{label}' of the partials: {m}")))
    };
    match run.mode {
        RaceMode::Mixed(_) => {
            let mut outcomes = Vec::new();
            for spec in &run.scenario.paths {
                match outcome(&format!("{}@mixed", spec.name))? {
                    Some((o, _)) => outcomes.push(o),
                    None => incomplete.push(format!("no shard reported path '{}'", spec.name)),
                }
            }
            let fin = load_values(&client, MIXED, "final").await?;
            match fin {
                Some(fin) if outcomes.len() == run.scenario.paths.len() => {
                    paths = judge.mixed(outcomes, &fin)
                }
                _ => incomplete.push("the counters after the mixed load were not recorded".into()),
            }
        }
        RaceMode::Sequential(_) | RaceMode::Matrix => {
            for spec in &run.scenario.paths {
                for strategy in strategies(spec, &run) {
                    let label = path_label(spec, strategy, &run);
                    let initial = load_values(&client, &label, "initial").await?;
                    let fin = load_values(&client, &label, "final").await?;
                    match (outcome(&label)?, initial, fin) {
                        (Some((outcome, resolved)), Some(initial), Some(final_values)) => {
                            let ran = Ran {
                                label,
                                initial,
                                outcome,
                                resolved,
                                final_values,
                                ways: None,
                                solo: None,
                                socket: None,
                            };
                            paths.push(judge.path(spec, strategy, ran));
                        }
                        _ => incomplete.push(format!(
                            "path '{label}' did not finish on every shard (no partial has it, \
                             or its counters were not recorded)"
                        )),
                    }
                }
            }
        }
    }
    let database: report::Database = serde_json::from_value(manifest.database_info.clone())
        .map_err(|e| Error::Input(format!("the run manifest's database record: {e}")))?;
    let mut report = super::super::assemble(
        &run,
        &plan.run_id,
        started_at,
        began,
        (paths, None),
        Vec::new(),
        database,
    );
    if let Ok(m) = serde_json::from_value(manifest.migrations.clone()) {
        report.migrations = m;
    }
    if let Some(race) = report.race_mut() {
        race.settings.shards = Some(coverage.shards);
        // Each shard's machine ran its own client threads.
        race.settings.client_threads = None;
    }
    report.duration_s = merged
        .values()
        .map(|l| l.elapsed_s)
        .sum::<f64>()
        .max(report.duration_s);
    for s in &coverage.missing {
        incomplete.push(format!(
            "shard {s}/{} has no partial (--allow-missing): its calls are unaccounted",
            coverage.shards
        ));
    }
    incomplete.extend(interrupted);
    if !incomplete.is_empty() {
        report.failures.push(format!(
            "incomplete run: {}; a run missing a shard's calls cannot pass",
            incomplete.join("; ")
        ));
        report.verdict = Verdict::of(&report.failures);
    }
    drop(client);
    // Only a database this run's prepare created is dropped, and only once judged.
    let keep = plan.database.keep || !manifest.created_by_loadtest;
    if !manifest.created_by_loadtest {
        report.warnings.push(format!(
            "database {} was kept: its manifest does not say loadtest created it",
            manifest.database
        ));
    }
    let stamp = started_at.format("%Y%m%dT%H%M%SZ").to_string();
    match target.close(keep).await? {
        Some(how) if !plan.quiet => eprintln!("{how}"),
        _ => {}
    }
    stop.check(Ok((report, stamp)))
}

/// The run's plan as the manifest records it, for the judge.
fn run_plan(m: &Manifest, v: &VerifyPlan) -> Result<RunPlan> {
    let scenario = match scenario::load(&m.scenario_origin, &m.scenario_text)? {
        Loaded::Race(s) => s,
        _ => {
            return Err(Error::Input(format!(
                "run {}: the manifest's scenario is not a race",
                m.run_id
            )));
        }
    };
    let field = |k: &str| {
        m.migrations
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let mut plan = RunPlan {
        scenario,
        faults: Default::default(),
        ledger: false,
        until: crate::race::engine::Until::Ops(m.settings.ops),
        rate: None,
        mode: RaceMode::Sequential(crate::scenario::Strategy::None),
        retries: 0,
        query_mode: Default::default(),
        socket: true,
        workers: 1,
        connections: 1,
        threads: 1,
        seed: 0,
        report_dir: v.report_dir.clone(),
        quiet: v.quiet,
        schema: SchemaPlan {
            source: field("source"),
            compat: field("compat") == "supabase",
            migrations: Vec::new(),
            skipped: Vec::new(),
            git: None,
        },
        database: v.database.clone(),
        command_line: v.command_line.clone(),
        shard: None,
    };
    apply(&mut plan, &m.settings, None)?;
    Ok(plan)
}
