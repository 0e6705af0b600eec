//! `loadtest run rls-isolation` (any `kind = "rls-isolation"` scenario): the schema's tenant
//! isolation tested the way an attacker would. Migrate, seed users, read the exposed part of
//! the catalog, lint it statically, then act as each user (and as `anon`) exactly as Supabase's
//! API does and go after another user's rows through every table, view and function, while the
//! other users run ordinary own-row calls concurrently. A leak through a finding the scenario
//! does not accept fails the run.
//!
//! - `catalog`: what is exposed and who owns which row; `lints`: static findings (pure);
//! - `attempts`: the cross-tenant attempts; `load`: the concurrent own-row calls;
//! - `workforce`: colliding task creation and counter increments on the workforce tables,
//!   concurrently with the rest;
//! - `judge`: findings × attempts × accepted → verdict (pure).

pub mod attempts;
pub mod catalog;
pub mod judge;
pub mod lints;
pub mod load;
pub mod plan;
pub mod workforce;

use crate::Stop;
use crate::error::{Error, Result};
use crate::pg::actor::Actor;
use crate::pg::{self, schema, server, target};
use crate::progress::Progress;
use crate::report::isolation_model::{IsolationBody, IsolationSettings, Outcome, UserLabel};
use crate::report::{self, Body, Report};
use attempts::Pair;
use plan::IsolationPlan;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use uuid::Uuid;

/// Runs the scenario and returns its report and the UTC timestamp naming its files.
pub async fn execute(plan: &IsolationPlan, stop: &Stop) -> Result<(Report, String)> {
    let run_id = target::new_run_id();
    let started_at = chrono::Utc::now();
    let began = Instant::now();
    let progress = Progress::new(plan.quiet);
    let s = &plan.scenario;
    let workforce_workers = s.workforce.as_ref().map_or(0, |w| w.workers);
    let report = target::with_target(
        &plan.database,
        s.load.workers + workforce_workers + 2,
        &run_id,
        stop,
        async |target| {
            let client = pg::connect(&target.config())
                .await
                .map_err(Error::db("cannot connect to the scratch database"))?;
            server::check_capacity(
                &client,
                s.load.workers + workforce_workers + 1,
                "load.workers + workforce.workers",
            )
            .await?;
            for w in plan.schema.skip_warnings() {
                progress.line(&w);
            }
            let built = schema::build_schema(&client, &plan.schema, |l| progress.line(&l)).await?;
            stop.check(Ok(()))?;
            let (attackers, load_users) = seed(&client, plan).await?;
            let cat = catalog::read(&client, &s.exposed_schemas).await?;
            let static_findings = lints::lint(&cat);
            progress.line(&format!(
                "catalog: {} tables and views, {} functions, {} policies in {}; {} static \
                 findings",
                cat.relations.len(),
                cat.functions.len(),
                cat.policies.len(),
                s.exposed_schemas.join(", "),
                static_findings.len()
            ));
            let pairs = pairs(&attackers);
            let clients = load::connect(&target.config(), &s.load, &s.origin).await?;
            let wf = match &s.workforce {
                Some(spec) => Some((
                    workforce::prepare(&client, &target.config(), spec, &load_users, &s.origin)
                        .await?,
                    spec,
                )),
                None => None,
            };
            let done = AtomicBool::new(false);
            let attack = async {
                let r = attempts::run(&client, &cat, &pairs, stop).await;
                done.store(true, Ordering::Relaxed);
                r
            };
            let own_load = async {
                if clients.is_empty() || load_users.is_empty() {
                    done.store(true, Ordering::Relaxed);
                    load::run(&[], &s.load, &[], &done).await
                } else {
                    load::run(&clients, &s.load, &load_users, &done).await
                }
            };
            let colliding = async {
                match &wf {
                    Some((p, spec)) => Some(workforce::execute(p, spec).await),
                    None => None,
                }
            };
            let (tried, own, wf_result) = tokio::join!(attack, own_load, colliding);
            let (tried, mut warnings) = tried?;
            let (wf_report, wf_failures) = match wf_result {
                Some(r) => {
                    let (w, f) = r?;
                    progress.line(&format!(
                        "workforce: {} task inserts, {} duplicates rejected (23505), {} stored, \
                         {} duplicates stored; completed_tasks {}/{}, failed_tasks {}/{} \
                         (actual/expected)",
                        w.task_inserts,
                        w.duplicates_rejected,
                        w.stored,
                        w.duplicates_stored,
                        w.completed_tasks.actual,
                        w.completed_tasks.expected,
                        w.failed_tasks.actual,
                        w.failed_tasks.expected
                    ));
                    (Some(w), f)
                }
                None => (None, Vec::new()),
            };
            let leaked = tried
                .iter()
                .filter(|a| a.outcome == Outcome::Leaked)
                .count();
            progress.line(&format!(
                "{} attempts, {leaked} leaked; own-row load: {} ok, {} failed",
                tried.len(),
                own.calls_ok,
                own.calls_failed
            ));
            let (findings, mut failures, more) =
                judge::judge(&cat, static_findings, &tried, &s.accepted, &own);
            failures.extend(wf_failures);
            warnings.extend(more);
            if own.calls_ok + own.calls_failed == 0 {
                warnings.push(
                    "no own-row load ran (no [load] statements or no load users): a policy that \
                     holds only when idle would not show"
                        .into(),
                );
            }
            warnings.splice(0..0, built.warnings);
            let body = Body::Isolation(IsolationBody {
                isolation: IsolationSettings {
                    exposed_schemas: s.exposed_schemas.clone(),
                    users: attackers
                        .iter()
                        .map(|(l, id)| UserLabel {
                            label: l.clone(),
                            id: id.to_string(),
                        })
                        .collect(),
                    load_users: load_users.len() as u32,
                    seed: plan.seed,
                },
                findings,
                attempts: tried,
                load: own,
                workforce: wf_report,
            });
            let run = report::Run {
                scenario: &s.name,
                scenario_origin: &s.origin,
                description: &s.description,
                run_id: &run_id,
                started_at,
                began,
                command_line: &plan.command_line,
            };
            let findings = report::Findings {
                database: server::database_info(&client, target).await?,
                migrations: report::Migrations::of(&plan.schema, &built.applied),
                failures,
                warnings,
            };
            Ok(Report::new(run, body, findings))
        },
    )
    .await?;
    Ok((report, started_at.format("%Y%m%dT%H%M%SZ").to_string()))
}

/// Runs the scenario's setup and reads the users it made, in order of email: the attackers
/// first ("A", "B", …), then the load users.
async fn seed(
    client: &tokio_postgres::Client,
    plan: &IsolationPlan,
) -> Result<(Vec<(String, Uuid)>, Vec<Uuid>)> {
    let s = &plan.scenario;
    let total = s.attackers + s.load_users;
    client
        .execute(
            "SELECT set_config('loadtest.users', $1, false), set_config('loadtest.seed', $2, \
             false)",
            &[&total.to_string(), &plan.seed.to_string()],
        )
        .await
        .map_err(Error::db("cannot set loadtest.users"))?;
    client.batch_execute(&s.setup_sql).await.map_err(|e| {
        Error::Input(format!(
            "{}: setup.sql failed: {}",
            s.origin,
            pg::describe(&e)
        ))
    })?;
    let ids: Vec<Uuid> = client
        .query("SELECT id FROM auth.users ORDER BY email, id", &[])
        .await
        .map_err(Error::db("cannot read the seeded users"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if ids.len() < s.attackers as usize {
        return Err(Error::Input(format!(
            "{}: setup.sql left {} user(s) in auth.users; isolation.attackers needs {}",
            s.origin,
            ids.len(),
            s.attackers
        )));
    }
    let attackers = ids[..s.attackers as usize]
        .iter()
        .enumerate()
        .map(|(i, id)| (((b'A' + i as u8) as char).to_string(), *id))
        .collect();
    let load = ids[s.attackers as usize..]
        .iter()
        .take(s.load_users as usize)
        .copied()
        .collect();
    Ok((attackers, load))
}

/// Each attacker against the next one (the last against the first), and anon against the
/// first.
fn pairs(attackers: &[(String, Uuid)]) -> Vec<Pair> {
    let n = attackers.len();
    let mut out: Vec<Pair> = (0..n)
        .map(|i| {
            let (al, a) = &attackers[i];
            let (vl, v) = &attackers[(i + 1) % n];
            Pair {
                actor: Actor::User(*a),
                actor_label: al.clone(),
                victim: *v,
                victim_label: vl.clone(),
            }
        })
        .collect();
    if let Some((vl, v)) = attackers.first() {
        out.push(Pair {
            actor: Actor::Anon,
            actor_label: "anon".into(),
            victim: *v,
            victim_label: vl.clone(),
        });
    }
    out
}
