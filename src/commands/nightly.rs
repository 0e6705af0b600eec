//! `loadtest nightly`: the suite, one combined report, compared with the baseline.

use crate::Stop;
use crate::error::{Error, Result, exit};
use crate::plan::NightlyPlan;
use crate::report::{self, Report, Verdict};
use std::time::Instant;

/// `loadtest nightly`: every scenario of the suite, one combined report, compared with the
/// baseline. A run that fails is recorded and the suite goes on; interruption stops it.
pub async fn nightly(plan: NightlyPlan, stop: Stop) -> Result<u8> {
    use crate::report::compare;
    let began = Instant::now();
    let started_at = chrono::Utc::now();
    let mut runs = Vec::new();
    for run in &plan.runs {
        for _ in 0..plan.repeat {
            let (mut report, stamp) = crate::race::execute(run, &stop).await?;
            report::write(&mut report, &plan.report_dir, &stamp)?;
            eprintln!(
                "nightly: {} {} ({:.1} s)",
                report.scenario, report.verdict, report.duration_s
            );
            runs.push(report);
        }
    }
    // Index benchmarks run once whatever --repeat says: each already times hundreds of runs
    // per query, compare judges those samples, and a run takes a minute at scale 1.
    for bench in &plan.benches {
        let (mut report, stamp) = crate::bench::execute(bench, &stop).await?;
        report::write(&mut report, &plan.report_dir, &stamp)?;
        eprintln!(
            "nightly: {} {} ({:.1} s)",
            report.scenario, report.verdict, report.duration_s
        );
        runs.push(report);
    }
    let combined = report::NightlyReport {
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
    let groups = compare::by_scenario(&combined.runs);
    let pooled: Vec<Report> = groups.iter().map(|(_, g)| compare::pool(g)).collect();
    let (bigger, smaller, bmf) = report::trackers(&pooled);
    for (name, value) in [
        ("benchmark-bigger-is-better.json", bigger),
        ("benchmark-smaller-is-better.json", smaller),
        ("bencher-metrics.json", bmf),
    ] {
        let file = plan.report_dir.join(name);
        std::fs::write(&file, serde_json::to_string_pretty(&value).expect("json")).map_err(
            |source| Error::WriteFile {
                path: file.clone(),
                source,
            },
        )?;
    }
    let json = serde_json::to_string_pretty(&combined).expect("report serialises");
    std::fs::write(&path, &json).map_err(|source| Error::WriteFile {
        path: path.clone(),
        source,
    })?;
    let mut code = if combined.verdict.passed() {
        exit::OK
    } else {
        exit::EXPECTATION_FAILED
    };
    if plan.baseline.is_file() {
        let base = report::load_nightly(&plan.baseline)?;
        let base_groups = compare::by_scenario(&base.runs);
        for (scenario, news) in &groups {
            let Some((_, olds)) = base_groups.iter().find(|(s, _)| s == scenario) else {
                println!("{scenario}: not in the baseline");
                continue;
            };
            let (old, new) = (olds[0], news[0]);
            let differences = compare::incomparable(old, new);
            if !differences.is_empty() {
                println!(
                    "{}: not comparable with the baseline ({})",
                    new.scenario,
                    differences.join(", ")
                );
                continue;
            }
            let rows = compare::compare_runs(olds, news, plan.threshold);
            print!("{}", compare::markdown(old, new, &rows, plan.threshold));
            if olds.len() > 1 || news.len() > 1 {
                println!(
                    "\n(means over {} baseline and {} new runs; throughput interval from all \
                        their samples, run by run)\n",
                    olds.len(),
                    news.len()
                );
            }
            // The nightly's contract is one failing code for the job: 1 for a regression as
            // for a failed expectation; the tables above say which.
            for r in rows.iter().filter(|r| r.verdict.is_bad()) {
                eprintln!(
                    "nightly: {}: {} {}",
                    new.scenario,
                    r.metric,
                    r.verdict.name()
                );
                code = exit::EXPECTATION_FAILED;
            }
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
        std::fs::write(&plan.baseline, &json).map_err(|source| Error::WriteFile {
            path: plan.baseline.clone(),
            source,
        })?;
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
