//! The HTML report in a real browser: a small run's page loads in headless Chromium with both
//! charts drawn as SVG and nothing on the console, and so does its comparison page. The check proves itself first on a page with
//! a deliberate console error, so a broken detector fails the test instead of passing it.

use crate::util::chromium;
use crate::util::*;

/// The markup from `id="{id}"` to the next `</div>` of a dumped DOM (the charts are the only
/// content of their div and contain no div; a table ends with the page).
fn chart<'a>(dom: &'a str, id: &str) -> &'a str {
    let at = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element with id {id} in the page:\n{dom}"));
    let rest = &dom[at..];
    &rest[..rest.find("</div>").unwrap_or(rest.len())]
}

#[test]
fn the_html_report_renders_its_charts_in_chromium_without_console_errors() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.html");
    std::fs::write(
        &broken,
        "<!DOCTYPE html><html><body><svg id=\"x\"></svg>\
         <script>console.error('deliberate error')</script></body></html>",
    )
    .unwrap();
    let page = chromium::open(&broken);
    assert!(
        page.console.iter().any(|l| l.contains("deliberate error")),
        "the console check missed a deliberate console.error: {:?}",
        page.console
    );
    assert!(page.dom.contains("<svg"), "{}", page.dom);

    let reports = dir.path().join("reports");
    let out = run(&[
        "run",
        "token-race",
        "--ops",
        "500",
        "--quiet",
        "--report-dir",
        reports.to_str().unwrap(),
        "--database-url",
        &shared().url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = std::fs::read_dir(&reports)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "html"))
        .expect("an HTML report next to the JSON");
    let page = chromium::open(&html);
    assert!(
        page.console.is_empty(),
        "console messages on the report page: {:?}",
        page.console
    );
    assert!(page.dom.contains("token-race"), "{}", page.dom);
    for id in ["latency-chart", "throughput-chart"] {
        let svg = chart(&page.dom, id);
        assert!(svg.contains("<svg"), "{id} has no <svg>: {svg}");
        assert!(
            svg.contains("<polyline") || svg.contains("<path"),
            "{id} draws no line: {svg}"
        );
        assert!(svg.contains("rpc"), "{id} has no legend for rpc: {svg}");
    }

    // The comparison page, too: the run against itself, side by side.
    let json = html.with_extension("json");
    let json = json.to_str().unwrap();
    let out = run(&["report", "compare", json, json, "--format", "html"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let compare = dir.path().join("compare.html");
    std::fs::write(&compare, &out.stdout).unwrap();
    let page = chromium::open(&compare);
    assert!(page.console.is_empty(), "{:?}", page.console);
    assert!(
        chart(&page.dom, "comparison").contains("rpc throughput ops/s"),
        "{}",
        page.dom
    );
}
