//! Picks the view for a report's kind: a race, an index benchmark or an isolation run.

use super::model::{Body, Report};
use super::{bench_view, html as race_html, isolation_view, markdown as race_markdown};

/// The report as Markdown.
pub fn markdown(r: &Report) -> String {
    match &r.body {
        Body::IndexBench(b) => bench_view::markdown(r, b),
        Body::Isolation(i) => isolation_view::markdown(r, i),
        Body::Race(race) => race_markdown::render(r, race),
    }
}

/// The report as a self-contained HTML page.
pub fn html(r: &Report) -> String {
    match &r.body {
        Body::IndexBench(b) => bench_view::html(r, b),
        Body::Isolation(i) => isolation_view::html(r, i),
        Body::Race(race) => race_html::render(r, race),
    }
}
