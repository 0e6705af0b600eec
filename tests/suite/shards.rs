//! Sharded runs on one machine: `prepare`, N shard processes at once on loopback against the
//! shared server, `verify`. The merged verdict equals a single run's with the same total calls,
//! the histograms' counts equal the shards' acknowledged calls, the rpc path is exact and the
//! fallback lossy; a shard killed with SIGKILL is refused (exit 2) or, with --allow-missing,
//! reported incomplete (exit 1), never passing; contradictions and bad input are exit 2.

use crate::util::*;
use loadtest::shard::partial::{Partial, decode_histogram};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

/// `prepare token-race` on the shared server with `extra` settings; returns the run id.
fn prepare(extra: &[&str]) -> String {
    let mut args = vec![
        "prepare",
        "token-race",
        "-q",
        "--database-url",
        &shared().url,
    ];
    args.extend(extra);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "prepare: {}", stderr(&out));
    let id = stdout(&out)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    assert!(!id.is_empty(), "prepare printed no run id");
    id
}

/// Shard `i` of `n` of run `id`, started (not waited for), writing into `dir`.
fn start_shard(id: &str, i: u32, n: u32, dir: &Path) -> Child {
    bin()
        .args(["run", "token-race", "-q", "--database-url", &shared().url])
        .args(["--run-id", id, "--shard", &format!("{i}/{n}")])
        .args(["--report-dir", dir.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start a shard")
}

/// Every JSON file in `dir`.
fn partials_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    v.sort();
    v
}

fn verify(id: &str, partials: &[PathBuf], report_dir: &Path, extra: &[&str]) -> Output {
    bin()
        .args([
            "verify",
            "-q",
            "--database-url",
            &shared().url,
            "--run-id",
            id,
        ])
        .args(["--report-dir", report_dir.to_str().unwrap()])
        .args(extra)
        .args(partials)
        .output()
        .expect("run verify")
}

/// Whether the server still has the run's database.
async fn database_exists(id: &str) -> bool {
    let admin = connect("postgres").await;
    let n: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&format!("loadtest_{id}")],
        )
        .await
        .unwrap()
        .get(0);
    n > 0
}

/// prepare + N shards at once + verify; returns the merged report and the partials.
async fn sharded_run(n: u32, settings: &[&str]) -> (serde_json::Value, Vec<Partial>) {
    let id = prepare(settings);
    let parts = tempfile::tempdir().unwrap();
    let shards: Vec<Child> = (0..n)
        .map(|i| start_shard(&id, i, n, parts.path()))
        .collect();
    for (i, s) in shards.into_iter().enumerate() {
        let out = s.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "shard {i}: {}", stderr(&out));
        assert!(stdout(&out).starts_with("partial: "), "{}", stdout(&out));
    }
    let files = partials_in(parts.path());
    assert_eq!(files.len(), n as usize);
    let reports = tempfile::tempdir().unwrap();
    let out = verify(&id, &files, reports.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "verify: {}", stderr(&out));
    assert!(
        !database_exists(&id).await,
        "verify left the run's database behind"
    );
    let hlogs = std::fs::read_dir(reports.path())
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "hlog"))
        .count();
    assert!(hlogs >= 2, "one .hlog per path, got {hlogs}");
    let partials = files.iter().map(|f| Partial::read(f).unwrap()).collect();
    (report(reports.path()), partials)
}

/// Per path: (name, expectation held, ops ok).
fn verdicts(r: &serde_json::Value) -> Vec<(String, bool, u64)> {
    r["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["expectation_held"].as_bool().unwrap(),
                p["ops_ok"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_two_and_four_shards_merge_to_the_verdict_of_one_run() {
    let settings = ["--ops", "3000", "--workers", "16", "--connections", "8"];
    let (code, err, single) = run_scenario("token-race", &settings);
    assert_eq!(code, Some(0), "single run: {err}");
    let single = single.unwrap();
    for n in [1u32, 2, 4] {
        let (merged, partials) = sharded_run(n, &settings).await;
        assert_eq!(merged["verdict"], single["verdict"], "{n} shards");
        assert_eq!(verdicts(&merged), verdicts(&single), "{n} shards");
        assert_eq!(merged["settings"]["shards"], n);
        assert_eq!(merged["settings"]["ops"], 3000);
        let rpc = path(&merged, "rpc");
        let fallback = path(&merged, "fallback");
        assert_eq!(rpc["ops_ok"], 3000, "{n} shards: every call counted once");
        assert_eq!(rpc["lost_updates"], 0);
        assert_eq!(rpc["counters"][0]["missing"], "0");
        assert!(fallback["lost_updates"].as_u64().unwrap() > 0, "{n} shards");
        // The witnesses of all shards prove each lost update, and agree with the totals.
        assert_eq!(fallback["lost_updates_exact"], true, "{n} shards");
        assert_eq!(fallback["witnesses"]["agrees_with_totals"], true);
        // Shard 0 draws the run's own stream: one shard makes exactly the single run's calls.
        if n == 1 {
            assert_eq!(
                rpc["counters"][0]["expected"],
                path(&single, "rpc")["counters"][0]["expected"]
            );
        }
        // Histograms add without loss: per path, the shards' histogram counts are their
        // acknowledged calls, and they add up to the merged count.
        for label in ["rpc", "fallback"] {
            let mut count = 0;
            for p in &partials {
                let l = p.loads.iter().find(|l| l.label == label).unwrap();
                let h = decode_histogram(&l.histogram).unwrap();
                assert_eq!(h.len(), l.ops_ok, "{n} shards, {label}");
                count += h.len();
            }
            assert_eq!(count, path(&merged, label)["ops_ok"].as_u64().unwrap());
        }
        let shares: Vec<u64> = partials.iter().map(|p| p.loads[0].ops_ok).collect();
        assert_eq!(shares.iter().sum::<u64>(), 3000, "{n} shards: {shares:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mixed_and_strategy_runs_shard_too() {
    let (merged, _) = sharded_run(
        2,
        &[
            "--ops",
            "1500",
            "--workers",
            "16",
            "--connections",
            "8",
            "--mixed",
        ],
    )
    .await;
    assert_eq!(merged["verdict"], "pass", "{merged:#}");
    assert_eq!(merged["settings"]["mode"], "mixed");
    let fallback = path(&merged, "fallback@mixed");
    assert_eq!(fallback["ops_ok"], 1500);
    assert!(fallback["lost_updates"].as_u64().unwrap() > 0);
    assert_eq!(path(&merged, "rpc@mixed")["ops_ok"], 1500);

    let (merged, _) = sharded_run(
        2,
        &[
            "--ops",
            "1000",
            "--workers",
            "8",
            "--connections",
            "8",
            "--strategy",
            "for-update",
        ],
    )
    .await;
    assert_eq!(merged["verdict"], "pass", "{merged:#}");
    let locked = path(&merged, "fallback@for-update");
    assert_eq!(locked["lost_updates"], 0);
    assert_eq!(locked["ops_ok"], 1000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_shard_is_refused_and_never_passes() {
    let id = prepare(&["--ops", "16000", "--workers", "8", "--connections", "4"]);
    let parts = tempfile::tempdir().unwrap();
    let survivor = start_shard(&id, 0, 2, parts.path());
    let mut victim = start_shard(&id, 1, 2, parts.path());
    // Kill shard 1 once both are past the start line of the first load.
    let run_db = connect(&format!("loadtest_{id}")).await;
    let began = Instant::now();
    loop {
        let n: i64 = run_db
            .query_one(
                "SELECT count(*) FROM loadtest.shard_arrivals WHERE stage = 'rpc:start'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n == 2 {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "shards never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    victim.wait().unwrap();
    drop(run_db);
    // The survivor does not wait for the dead shard: it finishes and writes its partial.
    let out = survivor.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "survivor: {}", stderr(&out));
    let files = partials_in(parts.path());
    assert_eq!(files.len(), 1, "only the survivor wrote a partial");
    let partial = Partial::read(&files[0]).unwrap();
    assert!(partial.saw_gone.contains(&1), "{:?}", partial.saw_gone);

    let reports = tempfile::tempdir().unwrap();
    let out = verify(&id, &files, reports.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("shard 1/2 missing") && err.contains("--allow-missing"),
        "{err}"
    );

    let twice = [files[0].clone(), files[0].clone()];
    let out = verify(&id, &twice, reports.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("given twice"), "{}", stderr(&out));
    assert!(database_exists(&id).await, "a refused verify keeps the run");

    let out = verify(&id, &files, reports.path(), &["--allow-missing"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = report(reports.path());
    assert_eq!(r["verdict"], "fail");
    let failures = r["failures"].to_string();
    assert!(
        failures.contains("incomplete run") && failures.contains("shard 1/2 has no partial"),
        "{failures}"
    );
    assert!(!database_exists(&id).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn contradictions_and_bad_input_are_refused_before_any_load() {
    let url = shared().url.clone();
    let id = prepare(&["--ops", "200", "--workers", "4", "--connections", "4"]);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let shard = |extra: &[&str]| {
        let mut a = vec![
            "run",
            "token-race",
            "-q",
            "--database-url",
            &url,
            "--run-id",
            &id,
        ];
        a.extend(["--report-dir", d]);
        a.extend(extra);
        run(&a)
    };
    let cases: Vec<(Output, &str)> = vec![
        (
            shard(&["--shard", "0/2", "--ops", "999"]),
            "--ops 999 contradicts",
        ),
        (
            shard(&["--shard", "0/2", "--mixed"]),
            "--mixed true contradicts",
        ),
        (shard(&["--shard", "2/2"]), "'2/2' is not a shard"),
        (
            shard(&["--shard", "0/2", "--duration", "5s"]),
            "--duration does not apply",
        ),
        (
            run(&["run", "token-race", "--run-id", &id, "--shard", "0/2"]),
            "--database-url",
        ),
        (
            run(&[
                "run",
                "participant-stats-race",
                "--database-url",
                &url,
                "--run-id",
                &id,
                "--shard",
                "0/2",
                "--report-dir",
                d,
            ]),
            "not the file prepared",
        ),
        (
            run(&["prepare", "join-bench", "--database-url", &url]),
            "needs no sharding",
        ),
        (
            run(&[
                "verify",
                "--database-url",
                &url,
                "--run-id",
                "nosuchrun",
                "Cargo.toml",
            ]),
            "not a loadtest partial",
        ),
        (
            run(&[
                "prepare",
                "token-race",
                "--database-url",
                &url,
                "--run-id",
                "Bad-Id",
            ]),
            "--run-id 'Bad-Id'",
        ),
    ];
    for (out, want) in cases {
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{want}: {err}");
        assert!(err.contains(want), "want {want:?} in {err:?}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // A run id with no database: exit 2, naming prepare.
    let p = std::env::temp_dir().join(format!("{}.json", test_db_name()));
    std::fs::write(&p, "{}").unwrap();
    let out = run(&[
        "verify",
        "--database-url",
        &url,
        "--run-id",
        "nosuchrun",
        p.to_str().unwrap(),
    ]);
    std::fs::remove_file(&p).unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // The refusals left no partial, and the run is still there for a real verify's cleanup.
    assert!(partials_in(dir.path()).is_empty());
    let admin = connect("postgres").await;
    admin
        .batch_execute(&format!("DROP DATABASE loadtest_{id} WITH (FORCE)"))
        .await
        .unwrap();
}
