//! The rollout section of a race's Markdown and HTML views: the migrations applied under load,
//! what each statement cost the load, the writers, and where the losses fell; and the marks
//! the throughput chart draws for each migration.

use super::charts::{Mark, throughput_chart_marked};
use super::model::RaceBody;
use super::rollout_model::RolloutReport;
use serde::Serialize;
use std::fmt::Write;

/// The rollout's tables, in Markdown.
pub fn markdown(s: &mut String, r: &RolloutReport) {
    let _ = writeln!(
        s,
        "\n## Rollout of {} under load\n\nData: {}. Load for {:.1} s before the first \
            migration, {:.1} s after the last{}.\n",
        r.version,
        r.data,
        r.load_before_s,
        r.settle_s,
        r.max_write_stall_ms
            .map(|m| format!("; max_write_stall {m:.0} ms"))
            .unwrap_or_default()
    );
    s.push_str("| migration | started s | ended s | transaction |\n|---|---:|---:|---|\n");
    for m in &r.migrations {
        let _ = writeln!(
            s,
            "| {}_{} | {:.3} | {:.3} | {} |",
            m.version,
            m.name,
            m.started_s,
            m.ended_s,
            if m.outside_transaction {
                "none (autocommit)"
            } else {
                "one"
            }
        );
    }
    s.push_str(
        "\n| statement | duration ms | lock | blocked calls | longest block ms |\n\
         |---|---:|---|---:|---:|\n",
    );
    for st in &r.statements {
        let _ = writeln!(
            s,
            "| {}:{} `{}` | {:.1} | {} | {} | {:.0} |",
            st.version,
            st.line,
            st.text.replace('|', "\\|"),
            st.duration_ms,
            st.lock,
            st.blocked_calls,
            st.longest_block_ms
        );
    }
    if !r.writes.is_empty() {
        s.push_str("\n| writer | inserts ok | failed | slowest ms |\n|---|---:|---:|---:|\n");
        for w in &r.writes {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1} |",
                w.name, w.calls_ok, w.calls_failed, w.longest_ms
            );
        }
    }
    if !r.losses.is_empty() {
        s.push_str(
            "\n| path | lost while the fallback could run | lost after the switch | fallback calls after |\n\
             |---|---:|---:|---:|\n",
        );
        for l in &r.losses {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                l.path,
                l.lost_during_rollout,
                l.lost_during_settle,
                l.calls_via_fallback_during_settle
            );
        }
    }
}

/// One statement's row in the HTML table.
#[derive(Serialize)]
pub struct StatementRow {
    at: String,
    text: String,
    duration: String,
    lock: String,
    blocked: u64,
    longest: String,
}

/// One path's losses in the HTML table.
#[derive(Serialize)]
pub struct LossRow {
    path: String,
    during: u64,
    after: u64,
}

/// What the HTML template shows of a rollout.
#[derive(Serialize)]
pub struct Html {
    version: String,
    data: String,
    statements: Vec<StatementRow>,
    losses: Vec<LossRow>,
}

pub fn html(r: &RolloutReport) -> Html {
    Html {
        version: r.version.clone(),
        data: r.data.clone(),
        statements: r
            .statements
            .iter()
            .map(|st| StatementRow {
                at: format!("{}:{}", st.version, st.line),
                text: st.text.clone(),
                duration: format!("{:.1}", st.duration_ms),
                lock: st.lock.clone(),
                blocked: st.blocked_calls,
                longest: format!("{:.0}", st.longest_block_ms),
            })
            .collect(),
        losses: r
            .losses
            .iter()
            .map(|l| LossRow {
                path: l.path.clone(),
                during: l.lost_during_rollout,
                after: l.lost_during_settle,
            })
            .collect(),
    }
}

/// The throughput chart of a rollout: every path and writer, each migration a marked band.
pub fn throughput_chart(race: &RaceBody, r: &RolloutReport) -> String {
    let mut series: Vec<(String, &[f64])> = race
        .paths
        .iter()
        .map(|p| (p.name.clone(), p.throughput_samples.as_slice()))
        .collect();
    series.extend(
        r.writes
            .iter()
            .map(|w| (w.name.clone(), w.throughput_samples.as_slice())),
    );
    let marks: Vec<Mark> = r
        .migrations
        .iter()
        .map(|m| Mark {
            label: m.version.clone(),
            start_s: m.started_s,
            end_s: m.ended_s,
        })
        .collect();
    throughput_chart_marked(&series, &marks)
}
