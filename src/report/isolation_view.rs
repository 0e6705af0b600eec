//! An isolation run as Markdown and as a self-contained HTML page: the findings first (what is
//! open, why, whether an attempt got through, whether it is accepted), then every attempt, then
//! the own-row load. Renders the model only.

use super::isolation_model::{IsolationBody, Outcome, Workforce};
use super::model::Report;
use super::page::{fill, header};
use serde::Serialize;
use std::fmt::Write;

const TEMPLATE: &str = include_str!("templates/isolation.html");

/// Markdown table cells may not hold `|` or line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn summary(i: &IsolationBody) -> String {
    let leaked = i
        .attempts
        .iter()
        .filter(|a| a.outcome == Outcome::Leaked)
        .count();
    let users: Vec<String> = i
        .isolation
        .users
        .iter()
        .map(|u| format!("{} = {}", u.label, u.id))
        .collect();
    format!(
        "{} attempts, {} leaked; {} findings ({} exploited, {} of those not accepted). Users: {}; \
         anon. Own-row load: {} calls ok, {} failed ({} workers, {} load users, {:.0} calls/s).",
        i.attempts.len(),
        leaked,
        i.findings.len(),
        i.findings.iter().filter(|f| f.exploited).count(),
        i.findings
            .iter()
            .filter(|f| f.exploited && !f.accepted)
            .count(),
        users.join(", "),
        i.load.calls_ok,
        i.load.calls_failed,
        i.load.workers,
        i.isolation.load_users,
        i.load.throughput_ops_s
    )
}

/// The workforce concurrency check in one sentence, when it ran.
fn workforce_line(w: &Workforce) -> String {
    format!(
        "Workforce: {} workers created {} task ids in {} executions each, as the owners: {} task \
         inserts, {} duplicates rejected (23505), {} stored, {} duplicates stored; \
         completed_tasks {} (expected {}), failed_tasks {} (expected {}); {} other errors; {:.1} s.",
        w.workers,
        w.task_ids,
        w.executions,
        w.task_inserts,
        w.duplicates_rejected,
        w.stored,
        w.duplicates_stored,
        w.completed_tasks.actual,
        w.completed_tasks.expected,
        w.failed_tasks.actual,
        w.failed_tasks.expected,
        w.errors.iter().map(|e| e.count).sum::<u64>(),
        w.duration_s
    )
}

/// The report as Markdown.
pub fn markdown(r: &Report, i: &IsolationBody) -> String {
    let mut s = header(r);
    let _ = writeln!(s, "{}\n", summary(i));
    if let Some(w) = &i.workforce {
        let _ = writeln!(s, "{}\n", workforce_line(w));
    }
    let _ = writeln!(
        s,
        "## Findings\n\n| object | kind | severity | exploited | accepted | cause |\n\
         |---|---|---|---|---|---|"
    );
    for f in &i.findings {
        let accepted = match (&f.reason, f.accepted) {
            (Some(r), true) => format!("yes: {}", cell(r)),
            _ => yes(f.accepted).to_string(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&f.object),
            f.kind,
            f.severity,
            if f.exploited { "**yes**" } else { "no" },
            accepted,
            cell(&f.cause)
        );
    }
    let _ = writeln!(
        s,
        "\n## Attempts\n\n| actor | victim | action | object | outcome | detail |\n\
         |---|---|---|---|---|---|"
    );
    for a in &i.attempts {
        let outcome = match a.outcome {
            Outcome::Leaked => "**leaked**",
            Outcome::Blocked => "blocked",
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            a.actor,
            a.victim,
            a.action,
            cell(&a.object),
            outcome,
            cell(&a.detail)
        );
    }
    for e in &i.load.errors {
        let _ = writeln!(
            s,
            "\nown-row load error {}: {} × {}",
            e.sqlstate, e.count, e.message
        );
    }
    for e in i.workforce.iter().flat_map(|w| &w.errors) {
        let _ = writeln!(
            s,
            "\nworkforce error {}: {} × {}",
            e.sqlstate, e.count, e.message
        );
    }
    let _ = writeln!(
        s,
        "\n---\nloadtest {} · run {} at {} · PostgreSQL {} ({}) · migrations {} ({})",
        r.tool.version,
        r.run_id,
        r.started_at,
        r.database.server_version,
        r.database.mode,
        r.migrations.source,
        &r.migrations.fingerprint[..r.migrations.fingerprint.len().min(12)]
    );
    let _ = writeln!(s, "{}", super::page::command_line(r));
    s
}

#[derive(Serialize)]
struct Context<'a> {
    scenario: &'a str,
    description: &'a str,
    verdict: &'a str,
    verdict_label: &'a str,
    failures: &'a [String],
    warnings: &'a [String],
    summary: String,
    /// Empty when the check did not run.
    workforce: String,
    findings: Vec<FindingRow>,
    attempts: Vec<AttemptRow>,
    footer: String,
}

#[derive(Serialize)]
struct FindingRow {
    object: String,
    kind: String,
    severity: String,
    exploited: &'static str,
    accepted: String,
    cause: String,
    class: &'static str,
}

#[derive(Serialize)]
struct AttemptRow {
    actor: String,
    victim: String,
    action: String,
    object: String,
    outcome: &'static str,
    detail: String,
}

/// The report as a self-contained HTML page.
pub fn html(r: &Report, i: &IsolationBody) -> String {
    let ctx = Context {
        scenario: &r.scenario,
        description: &r.description,
        verdict: r.verdict.name(),
        verdict_label: r.verdict.label(),
        failures: &r.failures,
        warnings: &r.warnings,
        summary: summary(i),
        workforce: i.workforce.as_ref().map_or(String::new(), workforce_line),
        findings: i
            .findings
            .iter()
            .map(|f| FindingRow {
                object: f.object.clone(),
                kind: f.kind.clone(),
                severity: f.severity.clone(),
                exploited: yes(f.exploited),
                accepted: match (&f.reason, f.accepted) {
                    (Some(r), true) => format!("yes: {r}"),
                    _ => yes(f.accepted).to_string(),
                },
                cause: f.cause.clone(),
                class: if f.exploited && !f.accepted {
                    "leak"
                } else {
                    ""
                },
            })
            .collect(),
        attempts: i
            .attempts
            .iter()
            .map(|a| AttemptRow {
                actor: a.actor.clone(),
                victim: a.victim.clone(),
                action: a.action.clone(),
                object: a.object.clone(),
                outcome: a.outcome.name(),
                detail: a.detail.clone(),
            })
            .collect(),
        footer: format!(
            "loadtest {} · run {} at {} · PostgreSQL {} ({}) · {}",
            r.tool.version,
            r.run_id,
            r.started_at,
            r.database.server_version,
            r.database.mode,
            super::page::command_line(r)
        ),
    };
    fill("isolation", TEMPLATE, &ctx)
}
