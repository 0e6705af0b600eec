//! Picks the view for a report's kind: a race or an index benchmark.

use super::model::Report;
use super::{bench_view, html as race_html, markdown as race_markdown};

/// The report as Markdown.
pub fn markdown(r: &Report) -> String {
    match r.index_bench {
        Some(_) => bench_view::markdown(r),
        None => race_markdown::render(r),
    }
}

/// The report as a self-contained HTML page.
pub fn html(r: &Report) -> String {
    match r.index_bench {
        Some(_) => bench_view::html(r),
        None => race_html::render(r),
    }
}
