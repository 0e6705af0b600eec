//! The report's JSON is pinned by `report.schema.json` (JSON Schema 2020-12, at the repository
//! root): the shipped example and fresh reports of every kind — a race run sequentially, in a
//! matrix, mixed and in the open model, an index benchmark, a nightly combined report — match
//! it, and a report with a renamed key, an unknown verdict or an inexact counter does not.

use crate::util::*;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::OnceLock;

/// The schema, compiled once per test binary, with `format` (`date-time`) checked too.
fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("report.schema.json");
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
            .expect("report.schema.json is JSON");
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|e| panic!("report.schema.json is not a valid schema: {e}"))
    })
}

/// Every way `report` breaks the schema, as `instance path: message` (cut short: a message
/// can quote a whole report).
fn violations(report: &Value) -> Vec<String> {
    validator()
        .iter_errors(report)
        .map(|e| {
            let message: String = e.to_string().chars().take(400).collect();
            format!("{}: {message}", e.instance_path())
        })
        .collect()
}

pub(super) fn assert_valid(what: &str, report: &Value) {
    let found = violations(report);
    assert!(
        found.is_empty(),
        "{what} does not match report.schema.json:\n{}",
        found.join("\n")
    );
}

/// Asserts that `report` breaks the schema at `instance_path`.
fn assert_invalid_at(what: &str, report: &Value, instance_path: &str) {
    let found = violations(report);
    assert!(
        found
            .iter()
            .any(|v| v.starts_with(&format!("{instance_path}: "))),
        "{what}: expected a violation at {instance_path}, found {found:?}"
    );
}

fn example() -> Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/example-token-race.json");
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

/// Runs a scenario on the shared server; its report, which must match the schema.
fn valid_run(scenario: &str, extra: &[&str]) -> Value {
    let (code, err, report) = run_scenario(scenario, extra);
    // Exit 1 (an expectation failed) still writes a full report; the shape is what counts here.
    assert!(matches!(code, Some(0 | 1)), "{scenario} {extra:?}: {err}");
    let report = report.expect("a JSON report");
    assert_valid(&format!("{scenario} {extra:?}"), &report);
    report
}

#[test]
fn the_shipped_example_report_matches_the_schema() {
    assert_valid("reports/example-token-race.json", &example());
}

#[test]
fn a_token_race_report_matches_the_schema() {
    let r = valid_run("token-race", &["--ops", "2000"]);
    assert_eq!(r["settings"]["mode"], "sequential");
    assert!(
        r["paths"][0]["hlog"].is_string(),
        "the optional keys are there"
    );
}

#[test]
fn a_mixed_participant_stats_report_matches_the_schema() {
    let r = valid_run("participant-stats-race", &["--ops", "2000", "--mixed"]);
    assert_eq!(r["settings"]["mode"], "mixed");
    assert!(r["paths"][0]["absent_keys"].is_object());
}

#[test]
fn a_matrix_report_matches_the_schema() {
    let r = valid_run(
        "token-race",
        &[
            "--ops",
            "300",
            "--matrix",
            "--retry",
            "10000",
            "--workers",
            "16",
            "--connections",
            "8",
        ],
    );
    assert_eq!(r["settings"]["mode"], "matrix");
    assert!(r["paths"].as_array().unwrap().len() > 2);
}

#[test]
fn an_open_model_report_matches_the_schema() {
    let r = valid_run("token-race", &["--rate", "2000", "--duration", "500ms"]);
    assert_eq!(r["settings"]["load_model"], "open");
    assert!(r["settings"]["ops"].is_null());
}

/// A nightly of a race and a small index benchmark: the combined report and each run's own
/// report (the benchmark's with its `queries`, `index_bench`, … keys) match the schema.
#[test]
fn nightly_and_index_bench_reports_match_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let bench = quick_bench(dir.path(), |t| t);
    let suite = dir.path().join("suite.txt");
    std::fs::write(&suite, format!("token-race\n{}\n", bench.display())).unwrap();
    let reports = dir.path().join("reports");
    let baseline = dir.path().join("baseline.json");
    let out = run(&[
        "nightly",
        "--suite",
        suite.to_str().unwrap(),
        "--ops",
        "1500",
        "--scale",
        "0.01",
        "--quiet",
        "--report-dir",
        reports.to_str().unwrap(),
        "--baseline",
        baseline.to_str().unwrap(),
        "--database-url",
        &shared().url,
    ]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let mut files: Vec<_> = std::fs::read_dir(&reports)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".json"))
        .filter(|n| !n.starts_with("benchmark-") && !n.starts_with("bencher-"))
        .collect();
    files.sort();
    let (mut nightly, mut runs) = (0, Vec::new());
    for name in &files {
        let r: Value =
            serde_json::from_str(&std::fs::read_to_string(reports.join(name)).unwrap()).unwrap();
        assert_valid(name, &r);
        if name.starts_with("nightly-") {
            assert_eq!(r["kind"], "nightly");
            assert_eq!(r["runs"].as_array().unwrap().len(), 2, "{name}");
            nightly += 1;
        } else {
            runs.push(r);
        }
    }
    assert_eq!(nightly, 1, "{files:?}");
    assert_eq!(runs.len(), 2, "{files:?}");
    let bench = runs
        .iter()
        .find(|r| r["scenario"] == "join-bench")
        .expect("the join-bench report");
    assert!(bench["index_bench"].is_object() && !bench["queries"].as_array().unwrap().is_empty());
    // Schema 2: an index benchmark has no race settings or paths; one with them is refused.
    assert!(bench.get("settings").is_none() && bench.get("paths").is_none());
    let race = runs.iter().find(|r| r["scenario"] == "token-race").unwrap();
    let mut mixed = bench.clone();
    mixed["settings"] = race["settings"].clone();
    assert!(
        !violations(&mixed).is_empty(),
        "an index benchmark with a race's settings passed the schema"
    );
}

/// The schema has teeth: renamed keys, closed sets and exact decimals are enforced, in run
/// reports and inside a nightly's runs.
#[test]
fn a_renamed_key_an_unknown_verdict_or_an_inexact_counter_fails_validation() {
    let mut r = example();
    r["verdict"] = json!("passed");
    assert_invalid_at("verdict \"passed\"", &r, "/verdict");

    let mut r = example();
    let path = r["paths"][0].as_object_mut().unwrap();
    let lost = path.remove("lost_updates").unwrap();
    path.insert("lost_update".into(), lost);
    assert_invalid_at("paths[0].lost_updates renamed", &r, "/paths/0");

    let mut r = example();
    let settings = r["settings"].as_object_mut().unwrap();
    let parameter = settings.remove("key_parameter").unwrap();
    settings.insert("hot_share".into(), parameter);
    assert_invalid_at("settings.hot_share for key_parameter", &r, "/settings");

    let mut r = example();
    r["paths"][0]["counters"][0]["missing"] = json!(0);
    assert_invalid_at(
        "a counter as a JSON number",
        &r,
        "/paths/0/counters/0/missing",
    );
    r["paths"][0]["counters"][0]["missing"] = json!("1e3");
    assert_invalid_at(
        "a counter in exponent notation",
        &r,
        "/paths/0/counters/0/missing",
    );

    let mut r = example();
    r["paths"][1]["strategy"] = json!("optimistic");
    assert_invalid_at("an unknown strategy", &r, "/paths/1/strategy");

    let mut bad = example();
    bad["verdict"] = json!("passed");
    let nightly = json!({
        "schema_version": 2,
        "kind": "nightly",
        "started_at": "2026-11-25T15:06:23Z",
        "duration_s": 6.5,
        "verdict": "pass",
        "runs": [example(), bad],
    });
    assert_invalid_at("a nightly with a bad run", &nightly, "/runs/1/verdict");
    let mut good = nightly.clone();
    good["runs"].as_array_mut().unwrap().pop();
    assert_valid("a nightly of the example", &good);
}
