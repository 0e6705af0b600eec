//! `report compare --format html`: the two runs side by side as one self-contained page (no
//! scripts, remote styles or fonts), filled into a tinytemplate from a serialized context.

use super::row::{Row, Side, change_label, summary};
use crate::report::Report;
use serde::Serialize;

const TEMPLATE: &str = include_str!("../templates/compare.html");

#[derive(Serialize)]
struct Context<'a> {
    scenario: &'a str,
    summary: String,
    /// "pass" (no regression) or "fail": the headline's colour.
    outcome: &'static str,
    threshold: String,
    base: Side<'a>,
    new: Side<'a>,
    rows: Vec<RowView<'a>>,
    footer: String,
}

#[derive(Serialize)]
struct RowView<'a> {
    metric: &'a str,
    base: &'a str,
    new: &'a str,
    change: String,
    verdict: &'static str,
    /// CSS class: the verdict with dashes (`no-change`, `newly-failing`, …).
    class: String,
}

/// Renders a comparison as a self-contained HTML page.
pub fn render(base: &Report, new: &Report, rows: &[Row], threshold: f64) -> String {
    let ctx = Context {
        scenario: &base.scenario,
        summary: summary(rows),
        outcome: if rows.iter().any(|r| r.verdict.is_bad()) {
            "fail"
        } else {
            "pass"
        },
        threshold: format!("{:.0}%", threshold * 100.0),
        base: Side::of(base),
        new: Side::of(new),
        rows: rows
            .iter()
            .map(|r| RowView {
                metric: &r.metric,
                base: &r.base,
                new: &r.new,
                change: change_label(r),
                verdict: r.verdict.name(),
                class: r.verdict.name().trim_matches(['(', ')']).replace(' ', "-"),
            })
            .collect(),
        footer: format!(
            "loadtest {} · PostgreSQL {} vs {} · {} workers, {} connections",
            new.tool.version,
            base.database.server_version,
            new.database.server_version,
            new.race().map_or(0, |r| r.settings.workers),
            new.race().map_or(0, |r| r.settings.connections)
        ),
    };
    crate::report::page::fill("compare", TEMPLATE, &ctx)
}
