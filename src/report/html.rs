//! The HTML view: one self-contained file (no external scripts, styles or fonts) with charts
//! drawn by plotters as inline SVG, filled into a tinytemplate from a serialized context; the
//! template never sees the database and the report is never concatenated by hand.

use super::charts::{latency_chart, throughput_chart};
use super::model::{RaceBody, Report};
use super::page::fill;
use serde::Serialize;

const TEMPLATE: &str = include_str!("templates/report.html");

#[derive(Serialize)]
struct Context<'a> {
    scenario: &'a str,
    description: &'a str,
    verdict: &'a str,
    verdict_label: &'static str,
    failures: &'a [String],
    warnings: &'a [String],
    paths: Vec<PathRow>,
    counters: Vec<CounterRow>,
    latency_svg: String,
    throughput_svg: String,
    footer: String,
    /// A rollout's statements and losses; null for other races.
    rollout: Option<super::rollout_view::Html>,
}

#[derive(Serialize)]
struct PathRow {
    name: String,
    kind: String,
    expect: String,
    held: &'static str,
    ops_ok: u64,
    ops_failed: u64,
    throughput: String,
    p50: u64,
    p99: u64,
    max: u64,
    lost: String,
}

#[derive(Serialize)]
struct CounterRow {
    path: String,
    column: String,
    expected: String,
    actual: String,
    missing: String,
    extra: String,
}

/// Renders a race as a self-contained HTML page.
pub fn render(r: &Report, race: &RaceBody) -> String {
    let ctx = Context {
        scenario: &r.scenario,
        description: &r.description,
        verdict: r.verdict.name(),
        verdict_label: r.verdict.label(),
        failures: &r.failures,
        warnings: &r.warnings,
        paths: race
            .paths
            .iter()
            .map(|p| PathRow {
                name: p.name.clone(),
                kind: p.kind.name().to_string(),
                expect: p.expect.name().to_string(),
                held: if p.expectation_held { "yes" } else { "NO" },
                ops_ok: p.ops_ok,
                ops_failed: p.ops_failed,
                throughput: format!("{:.0}", p.throughput_ops_s),
                p50: p.latency_us.p50,
                p99: p.latency_us.p99,
                max: p.latency_us.max,
                lost: if p.lost_updates_exact || p.lost_updates == 0 {
                    p.lost_updates.to_string()
                } else {
                    format!("≥ {}", p.lost_updates)
                },
            })
            .collect(),
        counters: race
            .paths
            .iter()
            .flat_map(|p| {
                p.counters.iter().map(move |c| CounterRow {
                    path: p.name.clone(),
                    column: c.column.clone(),
                    expected: c.expected.to_string(),
                    actual: c.actual.to_string(),
                    missing: c.missing.to_string(),
                    extra: c.extra.to_string(),
                })
            })
            .collect(),
        latency_svg: latency_chart(&race.paths),
        throughput_svg: match &race.rollout {
            Some(ro) => super::rollout_view::throughput_chart(race, ro),
            None => throughput_chart(&race.paths),
        },
        rollout: race.rollout.as_ref().map(super::rollout_view::html),
        footer: format!(
            "loadtest {} · run {} at {} · PostgreSQL {} ({}) · {} workers, {} connections, seed {}",
            r.tool.version,
            r.run_id,
            r.started_at,
            r.database.server_version,
            r.database.mode,
            race.settings.workers,
            race.settings.connections,
            race.settings.seed
        ) + " · "
            + &super::page::command_line(r),
    };
    fill("report", TEMPLATE, &ctx)
}

#[cfg(test)]
mod tests {
    /// Everything in a page that a browser would fetch from elsewhere: a URL other than the SVG
    /// namespace name (an identifier, never fetched), a stylesheet link, an `@import`, a `src`.
    fn external_references(page: &str) -> Vec<String> {
        let page = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        let mut found = Vec::new();
        for needle in ["http://", "https://", "<link", "@import", " src=", "url("] {
            for (at, _) in page.match_indices(needle) {
                found.push(page[at..page.len().min(at + 40)].to_string());
            }
        }
        found
    }

    #[test]
    fn the_page_is_self_contained_with_two_charts() {
        let r: crate::report::model::Report =
            serde_json::from_str(include_str!("../../reports/example-token-race.json")).unwrap();
        let html = super::render(&r, r.race().unwrap());
        assert_eq!(html.matches("<svg").count(), 2);
        assert!(
            html.contains("<polyline") || html.contains("<path"),
            "charts have lines"
        );
        assert!(!html.contains("<script"));
        assert_eq!(external_references(&html), Vec::<String>::new());
        // The check itself can fail: each kind of outside reference is found.
        for outside in [
            "<img src=\"https://cdn.example/x.png\">",
            "<link rel=\"stylesheet\" href=\"style.css\">",
            "<style>@import url(http://fonts.example/f.css);</style>",
            "<svg xmlns=\"http://www.w3.org/2000/svg\"><image href=\"http://x/y.png\"/></svg>",
        ] {
            let page = html.replace("</body>", &format!("{outside}</body>"));
            assert!(!external_references(&page).is_empty(), "{outside}");
        }
        assert!(html.contains("token-race — <span class=\"pass\">PASS</span>"));
    }
}
