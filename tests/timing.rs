//! The timing test binary (`cargo test --test timing`): the tests whose verdict rests on the
//! machine keeping its pace — nights of the same code that must compare as no change, and
//! planted slowdowns that must be flagged. Cargo runs test binaries one after another, so these
//! never share the machine with the rest of the suite (`cli`): beside its parallel tests, one
//! night of the same code took 6.0 s where the nights before it took 1.4 s, and the comparator
//! rightly called that a regression. Here they also run one at a time ([`alone`]), each on its
//! own database of this binary's scratch server.

mod util;

use std::path::Path;
use util::*;

/// Held for the whole of each test: one timing test at a time.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ONE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The token race's pace on this machine now, from a probe run of 5000 calls: the rpc path's
/// calls/s, and how many calls it makes in about `seconds` (at least 1500).
struct Pace {
    rate: f64,
    ops: u64,
}

fn pace(seconds: f64, migrations: &tempfile::TempDir) -> Pace {
    let m = migrations.path().to_str().unwrap();
    let (code, err, r) = run_scenario("token-race", &["--ops", "5000", "--migrations", m]);
    assert_eq!(code, Some(0), "{err}");
    let rate = path(&r.unwrap(), "rpc")["throughput_ops_s"]
        .as_f64()
        .unwrap();
    let ops = ((rate * seconds / 100.0).round() as u64 * 100).max(1500);
    eprintln!("rpc at {rate:.0} calls/s: --ops {ops}");
    Pace { rate, ops }
}

/// A migration that makes the token RPC about `factor` times as slow at `rate` calls/s: it
/// sleeps while holding the row's lock, and 80% of token-race's calls go to one hot row, whose
/// calls then run one after another (at most 1 / sleep of them a second).
fn slow_rpc(factor: f64, rate: f64) -> String {
    let sleep = factor / (0.8 * rate);
    format!(
        "CREATE OR REPLACE FUNCTION public.increment_token_usage(p_user_id uuid, p_tokens_used integer)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  UPDATE public.user_subscriptions SET used_tokens = used_tokens + p_tokens_used, updated_at = now()
  WHERE user_id = p_user_id;
  PERFORM pg_sleep({sleep:.6});
END $$;
"
    )
}

/// A token-race nightly job in a folder of its own: a suite of `token-race`, a migrations folder
/// a test can add to, one baseline, and `--ops` sized by [`pace`].
struct Nights {
    dir: tempfile::TempDir,
    migrations: tempfile::TempDir,
    pace: Pace,
}

impl Nights {
    fn new(seconds: f64) -> Nights {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("suite.txt"), "token-race\n").unwrap();
        let migrations = migrations_with(&[]);
        let pace = pace(seconds, &migrations);
        Nights {
            dir,
            migrations,
            pace,
        }
    }

    /// `loadtest nightly` on the shared server, its reports in the folder `name`, plus `extra`.
    fn night(&self, name: &str, extra: &[&str]) -> std::process::Output {
        let at = |f: &str| self.dir.path().join(f).to_str().unwrap().to_string();
        let (suite, reports, baseline) = (at("suite.txt"), at(name), at("baseline.json"));
        let ops = self.pace.ops.to_string();
        let mut args = vec!["nightly", "--suite", &suite, "--ops", &ops, "--quiet"];
        args.extend(["--migrations", self.migrations.path().to_str().unwrap()]);
        args.extend(["--report-dir", &reports, "--baseline", &baseline]);
        args.extend(["--database-url", &shared().url]);
        args.extend(extra);
        run(&args)
    }

    /// Adds a migration that makes the token RPC about `factor` times as slow.
    fn slow_rpc(&self, factor: f64) {
        let file = self.migrations.path().join("29991231000000_slow_rpc.sql");
        std::fs::write(file, slow_rpc(factor, self.pace.rate)).unwrap();
    }
}

/// Issue 5's calibration, with real runs: ten comparisons of the same code at the same settings
/// (each nightly of three repeats against the previous one as baseline) raise an alarm at most
/// once, and the comparator is proven able to flag: a night whose RPC holds the hot row's lock
/// long enough to run about 4 times as slow must fail (a sleep of 5 / rate seconds: 2 ms at the
/// 2500 calls/s of the machine it was calibrated on, 0.25 ms at 20,000). Every comparison is
/// read from stdout: it really compared (no "not comparable" night that also exits 0), and the
/// rpc rows carry the bootstrap's interval (at least three 0.25 s throughput samples over the
/// three runs). The
/// alarm rate was calibrated at runs of about 0.75 s (`--ops 1500` on a machine at load 15–19;
/// at 3000 the narrower intervals raised 2 alarms in 10): a probe run sizes `--ops` to keep the
/// runs that long, since on a quiet machine 1500 calls took under 0.25 s and left a night with
/// no sample to judge by (CI, stop 17).
#[test]
fn the_same_code_compares_as_no_change_in_at_least_9_of_10_tries_and_a_slowdown_fails() {
    let _alone = alone();
    let nights = Nights::new(0.9);
    let nightly = |k: usize, extra: &[&str]| nights.night(&format!("r{k}"), extra);
    // The rpc's throughput and p50 rows were judged with an interval.
    let compared = |out: &std::process::Output| {
        let so = stdout(out);
        assert!(!so.contains("not comparable"), "{so}");
        for metric in ["| rpc throughput ops/s |", "| rpc p50 µs |"] {
            let row = so
                .lines()
                .find(|l| l.starts_with(metric))
                .unwrap_or_else(|| panic!("no {metric} row: {so}"));
            assert!(row.contains("95% CI"), "not judged by the bootstrap: {row}");
        }
    };
    let out = nightly(0, &["--update-baseline", "--repeat", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut alarms = Vec::new();
    for k in 1..=10 {
        let out = nightly(k, &["--update-baseline", "--repeat", "3"]);
        match out.status.code() {
            Some(0) => {}
            Some(1) => alarms.push(stderr(&out)),
            other => panic!("nightly exit {other:?}: {}", stderr(&out)),
        }
        compared(&out);
    }
    assert!(
        alarms.len() <= 1,
        "{} alarms in 10: {alarms:?}",
        alarms.len()
    );
    nights.slow_rpc(4.0);
    let out = nightly(11, &["--repeat", "2"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    compared(&out);
    assert!(
        stderr(&out).contains("rpc throughput ops/s regression"),
        "{}",
        stderr(&out)
    );
}

/// Three nights of the nightly job's own commands: the first makes the baseline, the second
/// passes against it, the third, whose new migration makes the token RPC about 8 times as slow
/// (it sleeps while holding the hot row's lock), fails with exit 1 and names the metric and the
/// schema change instead of skipping the comparison as "not comparable".
#[test]
fn three_nights_the_third_with_a_slower_rpc_migration_fails() {
    let _alone = alone();
    // Runs of about a second: at a fixed 3000 calls a fast machine's runs lasted under 0.5 s,
    // too few 0.25 s samples for the baseline's throughput to be judged at all. A night of the
    // same code can be twice as slow as the last on a shared machine; the planted slowdown is
    // about eight times, so a generous threshold and two runs a night keep the gate sharp and
    // the test honest.
    let nights = Nights::new(1.0);
    let night = |n: &str, extra: &[&str]| {
        let mut a = vec!["--threshold", "60%", "--repeat", "2"];
        a.extend(extra);
        nights.night(n, &a)
    };
    let first = night("n1", &["--update-baseline"]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let second = night("n2", &[]);
    assert_eq!(second.status.code(), Some(0), "{}", stderr(&second));
    assert!(
        stdout(&second).contains("| rpc throughput ops/s |"),
        "the second night was compared: {}",
        stdout(&second)
    );
    nights.slow_rpc(8.0);
    let third = night("n3", &[]);
    let (so, se) = (stdout(&third), stderr(&third));
    assert_eq!(third.status.code(), Some(1), "{so}\n{se}");
    assert!(
        se.contains("rpc throughput ops/s regression"),
        "the metric is named: {se}\n{so}"
    );
    assert!(
        se.contains("rpc solo p50 µs regression"),
        "one call alone is slower too: {se}"
    );
    assert!(
        so.contains("| fallback solo p50 µs |") && !se.contains("fallback solo p50 µs regression"),
        "the unchanged path's own cost is compared and not flagged: {so}\n{se}"
    );
    assert!(
        se.contains("the schema changed: 29991231000000_slow_rpc.sql added"),
        "the change is named: {se}"
    );
    assert!(!so.contains("not comparable"), "{so}");
}

/// The `failures` of every JSON report in `dir`: why a bench that should pass did not.
fn failures_in(dir: &std::path::Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        if let Ok(r) = serde_json::from_str::<serde_json::Value>(&text) {
            out.push_str(&format!("\n{}: {}", e.path().display(), r["failures"]));
        }
    }
    out
}

#[test]
fn nightly_runs_the_bench_and_compare_judges_query_medians() {
    let _alone = alone();
    let dir = tempfile::tempdir().unwrap();
    let file = quick_bench(dir.path(), |t| t);
    let suite = dir.path().join("suite.txt");
    std::fs::write(&suite, format!("{}\n", file.display())).unwrap();
    let reports = dir.path().join("reports");
    let baseline = dir.path().join("baseline.json");
    let nightly = |extra: &[&str]| {
        let mut args = vec![
            "nightly",
            "--suite",
            suite.to_str().unwrap(),
            "--scale",
            "0.005",
            "--quiet",
            "--report-dir",
            reports.to_str().unwrap(),
            "--baseline",
            baseline.to_str().unwrap(),
            "--database-url",
            &shared().url,
        ];
        args.extend(extra);
        run(&args)
    };
    // A passing night that writes the baseline (the bench's own verdict must pass).
    let update_baseline = || {
        let out = nightly(&["--update-baseline"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            stderr(&out),
            failures_in(&reports)
        );
    };
    update_baseline();
    // A baseline where one query was twenty times as fast (as an index lost would make it):
    // the nightly reports the regression and exits 1. One query, because queries are judged
    // relative to their own run's pace; twenty times, because at this tiny scale one query's
    // relative time differs by up to about 3x between two real runs.
    let mut fast: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    let q = &mut fast["runs"][0]["queries"][0];
    let fast_samples: Vec<f64> = q["samples_after_ms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() / 20.0)
        .collect();
    q["samples_after_ms"] = serde_json::json!(fast_samples);
    std::fs::write(&baseline, fast.to_string()).unwrap();
    let out = nightly(&[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(
            "workflow-with-nodes after median ms (judged relative to its run) regression"
        ),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(&reports).unwrap();
    std::fs::remove_file(&baseline).unwrap();
    update_baseline();
    let smaller: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(reports.join("benchmark-smaller-is-better.json")).unwrap(),
    )
    .unwrap();
    assert!(
        smaller
            .to_string()
            .contains("join-bench/workflow-with-nodes after median"),
        "{smaller}"
    );

    // The run's own JSON: compared with itself, with a copy whose after-times doubled, and with
    // a copy whose plan no longer uses its index.
    let json = std::fs::read_dir(&reports)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("join-bench-")
                && p.extension().is_some_and(|e| e == "json")
        })
        .unwrap();
    let compare = |new: &Path| {
        run(&[
            "report",
            "compare",
            json.to_str().unwrap(),
            new.to_str().unwrap(),
        ])
    };
    let out = compare(&json);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // The run's HTML page in a real browser: the before/after chart is drawn, nothing on the
    // console.
    let page = util::chromium::open(&json.with_extension("html"));
    assert!(page.console.is_empty(), "{:?}", page.console);
    let at = page
        .dom
        .find("id=\"bench-chart\"")
        .expect("the bench chart's div");
    let chart = &page.dom[at..];
    let chart = &chart[..chart.find("</div>").unwrap()];
    assert!(chart.contains("<svg") && chart.contains("<rect"), "{chart}");
    assert!(page.dom.contains("workflow-with-nodes"));
    assert!(
        stdout(&out).contains("workflow-with-nodes after median ms"),
        "{}",
        stdout(&out)
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // One query three times slower than in its base run, the rest unchanged: a regression.
    let mut slow = r.clone();
    let q = &mut slow["queries"][0];
    let tripled: Vec<f64> = q["samples_after_ms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() * 3.0)
        .collect();
    q["samples_after_ms"] = serde_json::json!(tripled);
    q["after_ms"] = serde_json::json!(q["after_ms"].as_f64().unwrap() * 3.0);
    let slow_path = dir.path().join("slow.json");
    std::fs::write(&slow_path, slow.to_string()).unwrap();
    let out = compare(&slow_path);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("workflow-with-nodes after median ms (judged relative to its run) ")
            && stdout(&out).contains("**regression**"),
        "{}",
        stdout(&out)
    );
    let mut unused = r.clone();
    unused["queries"][0]["uses_index"] = serde_json::json!(false);
    let unused_path = dir.path().join("unused.json");
    std::fs::write(&unused_path, unused.to_string()).unwrap();
    let out = compare(&unused_path);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let mut rescaled = r;
    rescaled["index_bench"]["scale"] = serde_json::json!(2.0);
    let rescaled_path = dir.path().join("rescaled.json");
    std::fs::write(&rescaled_path, rescaled.to_string()).unwrap();
    let out = compare(&rescaled_path);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("scale"), "{}", stderr(&out));
}
