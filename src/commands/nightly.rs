//! `loadtest nightly`: the suite, one combined report, compared with the baseline.
//!
//! Steps, each a function: run the suite (races `--repeat` times, index benchmarks once), write
//! the combined report and the benchmark-tracker files, compare with the baseline, and store
//! this night as the baseline when asked. One failing code for the job: 1 for a failed run as
//! for a regression; stdout says which.

use crate::Stop;
use crate::error::{Error, Result, exit};
use crate::plan::NightlyPlan;
use crate::report::{self, NightlyReport, Report, Verdict, compare};
use std::path::Path;
use std::time::Instant;

/// `loadtest nightly`: every scenario of the suite, one combined report, compared with the
/// baseline. A run that fails is recorded and the suite goes on; interruption stops it.
pub async fn nightly(plan: NightlyPlan, stop: Stop) -> Result<u8> {
    let began = Instant::now();
    let started_at = chrono::Utc::now();
    let runs = run_suite(&plan, &stop).await?;
    let combined = NightlyReport {
        schema_version: report::SCHEMA_VERSION,
        kind: "nightly".into(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        duration_s: (began.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        verdict: Verdict::all(runs.iter().map(|r| r.verdict)),
        runs,
    };
    let path = plan.report_dir.join(format!(
        "nightly-{}.json",
        started_at.format("%Y%m%dT%H%M%SZ")
    ));
    write_trackers(&combined, &plan.report_dir)?;
    let json = serde_json::to_string_pretty(&combined).expect("report serialises");
    write(&path, &json)?;
    let mut code = if combined.verdict.passed() {
        exit::OK
    } else {
        exit::EXPECTATION_FAILED
    };
    if plan.baseline.is_file() {
        let base = report::load_nightly(&plan.baseline)?;
        if !compare_with_baseline(&base, &combined, plan.threshold) {
            code = exit::EXPECTATION_FAILED;
        }
    } else if !plan.update_baseline {
        println!(
            "no baseline at {} yet: pass --update-baseline to make this run the baseline",
            plan.baseline.display()
        );
    }
    if plan.update_baseline {
        if let Some(dir) = plan.baseline.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::WriteFile {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        write(&plan.baseline, &json)?;
        println!("baseline updated: {}", plan.baseline.display());
    }
    println!(
        "nightly: {} run(s), {}, in {:.1} s; combined report {}",
        combined.runs.len(),
        combined.verdict,
        combined.duration_s,
        path.display()
    );
    Ok(code)
}

/// Every race of the suite `--repeat` times, then every index benchmark once; each run's own
/// files are written as it ends.
async fn run_suite(plan: &NightlyPlan, stop: &Stop) -> Result<Vec<Report>> {
    let mut runs = Vec::new();
    for run in &plan.runs {
        for _ in 0..plan.repeat {
            let (report, stamp) = crate::race::execute(run, stop).await?;
            runs.push(keep(report, &plan.report_dir, &stamp)?);
        }
    }
    // Index benchmarks run once whatever --repeat says: each already times hundreds of runs
    // per query, compare judges those samples, and a run takes a minute at scale 1.
    for bench in &plan.benches {
        let (report, stamp) = crate::bench::execute(bench, stop).await?;
        runs.push(keep(report, &plan.report_dir, &stamp)?);
    }
    Ok(runs)
}

/// Writes one run's files and says how it went on stderr.
fn keep(mut report: Report, dir: &Path, stamp: &str) -> Result<Report> {
    report::write(&mut report, dir, stamp)?;
    eprintln!(
        "nightly: {} {} ({:.1} s)",
        report.scenario, report.verdict, report.duration_s
    );
    Ok(report)
}

/// The benchmark-tracker files, one value per scenario (repeated runs pooled).
fn write_trackers(combined: &NightlyReport, dir: &Path) -> Result<()> {
    let groups = compare::by_scenario(&combined.runs);
    let pooled: Vec<Report> = groups.iter().map(|(_, g)| compare::pool(g)).collect();
    let (bigger, smaller, bmf) = report::trackers(&pooled);
    for (name, value) in [
        ("benchmark-bigger-is-better.json", bigger),
        ("benchmark-smaller-is-better.json", smaller),
        ("bencher-metrics.json", bmf),
    ] {
        write(
            &dir.join(name),
            &serde_json::to_string_pretty(&value).expect("json"),
        )?;
    }
    Ok(())
}

/// Prints each scenario's comparison with the baseline; false when a metric regressed or an
/// expectation newly fails (each named on stderr).
fn compare_with_baseline(base: &NightlyReport, new: &NightlyReport, threshold: f64) -> bool {
    let mut ok = true;
    let base_groups = compare::by_scenario(&base.runs);
    for (scenario, news) in &compare::by_scenario(&new.runs) {
        let Some((_, olds)) = base_groups.iter().find(|(s, _)| s == scenario) else {
            println!("{scenario}: not in the baseline");
            continue;
        };
        let (old, new) = (olds[0], news[0]);
        let differences = compare::incomparable(old, new);
        if !differences.is_empty() {
            // A night that cannot be judged must not pass as if it had been: fail the job and
            // say what would make it comparable (the same settings, or a new baseline).
            println!(
                "{}: not comparable with the baseline ({})",
                new.scenario,
                differences.join(", ")
            );
            eprintln!(
                "nightly: {}: not comparable with the baseline ({}): run with the baseline's \
                 settings, or make this night the baseline with --update-baseline",
                new.scenario,
                differences.join(", ")
            );
            ok = false;
            continue;
        }
        if let Some(change) = compare::schema_change(old, new) {
            eprintln!("nightly: {}: {change}; judging its metrics", new.scenario);
        }
        let rows = compare::compare_runs(olds, news, threshold);
        print!("{}", compare::markdown(old, new, &rows, threshold));
        if olds.len() > 1 || news.len() > 1 {
            println!(
                "\n(means over {} baseline and {} new runs; throughput interval from all their \
                 samples, run by run)\n",
                olds.len(),
                news.len()
            );
        }
        for r in rows.iter().filter(|r| r.verdict.is_bad()) {
            eprintln!(
                "nightly: {}: {} {}",
                new.scenario,
                r.metric,
                r.verdict.name()
            );
            ok = false;
        }
    }
    ok
}

/// The combined report and the tracker files, whole or not at all.
fn write(path: &Path, text: &str) -> Result<()> {
    crate::report::write_whole(path, text.as_bytes())
}
