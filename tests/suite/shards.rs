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
        crate::suite::schema::assert_valid(&format!("{n}-shard report"), &merged);
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
    crate::suite::schema::assert_valid("sharded mixed report", &merged);
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

/// Runs `kubernetes-validate --strict` (schema-aware, offline: it bundles the Kubernetes
/// schemas; `.ci/run` installs it from PyPI) on a file; fails saying how to install it.
fn kubernetes_validate(file: &Path) -> Output {
    std::process::Command::new("kubernetes-validate")
        .args(["--strict", "--quiet"])
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "kubernetes-validate not runnable ({e}): python3 -m pip install \
                 kubernetes-validate (.ci/run installs it)"
            )
        })
}

/// A YAML file (all its documents) as JSON, through PyYAML (kubernetes-validate's own).
fn yaml_docs(file: &Path) -> Vec<serde_json::Value> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import json,sys,yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        ])
        .arg(file)
        .output()
        .expect("python3 with PyYAML");
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The N of `--shard .../N` in a command line.
fn shard_count(command: &str) -> u64 {
    let at = command
        .find("--shard")
        .expect("--shard in the shard command");
    let rest = &command[at..];
    let n: String = rest[rest.find('/').unwrap() + 1..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    n.parse().unwrap()
}

#[test]
fn the_kubernetes_example_is_a_valid_indexed_job_flow() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes/sharded-run.yaml");
    let out = kubernetes_validate(&file);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // The validator is real: a broken copy fails it.
    let broken = tempfile::NamedTempFile::new().unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        broken.path(),
        text.replace("completions: 4", "completions: four"),
    )
    .unwrap();
    assert!(!kubernetes_validate(broken.path()).status.success());

    let docs = yaml_docs(&file);
    let job = |name: &str| {
        docs.iter()
            .find(|d| d["kind"] == "Job" && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no Job {name}"))
    };
    let shards = job("loadtest-shards");
    let spec = &shards["spec"];
    assert_eq!(spec["completionMode"], "Indexed");
    let n = spec["completions"].as_u64().unwrap();
    assert_eq!(spec["parallelism"], n, "every shard must run at once");
    let c = &spec["template"]["spec"]["containers"][0];
    let command = c["command"].to_string();
    assert!(command.contains("$JOB_COMPLETION_INDEX/"), "{command}");
    assert_eq!(shard_count(&command), n);
    assert!(
        command.contains("--report-dir \\\"/partials/$RUN_ID\\\""),
        "{command}"
    );
    let prepare = job("loadtest-prepare")["spec"]["template"]["spec"]["containers"][0].to_string();
    assert!(prepare.contains("\"prepare\"") && prepare.contains("$(RUN_ID)"));
    let verify = &job("loadtest-verify")["spec"]["template"]["spec"];
    let vc = verify["containers"][0]["command"].to_string();
    assert!(vc.contains("loadtest verify") && vc.contains("/partials/$RUN_ID/partial-*.json"));
    // Shards and verify share one volume, and one RUN_ID.
    let claim =
        |s: &serde_json::Value| s["volumes"][0]["persistentVolumeClaim"]["claimName"].clone();
    assert_eq!(claim(&spec["template"]["spec"]), claim(verify));
    let run_id = |s: &serde_json::Value| s["containers"][0]["env"][0].clone();
    assert_eq!(run_id(&spec["template"]["spec"]), run_id(verify));
    assert_eq!(
        run_id(&job("loadtest-prepare")["spec"]["template"]["spec"]),
        run_id(verify)
    );
}

#[test]
fn the_github_actions_example_runs_a_matrix_then_verify() {
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/github-actions/sharded-loadtest.yml");
    let doc = &yaml_docs(&file)[0];
    let jobs = &doc["jobs"];
    let shards = &jobs["shards"];
    assert_eq!(shards["needs"], "prepare");
    let matrix: Vec<u64> = shards["strategy"]["matrix"]["shard"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let run = shards["steps"].to_string();
    let n = shard_count(&run);
    assert_eq!(
        matrix,
        (0..n).collect::<Vec<_>>(),
        "one matrix entry per shard"
    );
    assert!(run.contains("--shard \\\"${{ matrix.shard }}/"), "{run}");
    let verify = &jobs["verify"];
    assert!(verify["needs"].to_string().contains("shards"));
    assert!(verify["steps"].to_string().contains("loadtest verify"));
    assert!(jobs["prepare"]["outputs"]["run_id"].is_string());
}

/// The merge's cost: 64 partials of a run of 1,000,000 calls per path, made from a real
/// two-shard run of 15,625 calls per shard per path, replicated as shards 0..63 of 64; then
/// `verify` is timed and its peak RSS read (the oracle finds the rows short of the replicated
/// sums, so the verdict is a failure: only the cost is measured). Ignored: run it with
/// `cargo test --release --test cli merge_cost -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn merge_cost_of_64_partials_of_a_million_calls() {
    let id = prepare(&["--ops", "31250", "--workers", "64", "--connections", "16"]);
    let real = tempfile::tempdir().unwrap();
    let shards: Vec<Child> = (0..2)
        .map(|i| start_shard(&id, i, 2, real.path()))
        .collect();
    for s in shards {
        let out = s.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let sources: Vec<serde_json::Value> = partials_in(real.path())
        .iter()
        .map(|f| serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap())
        .collect();
    let many = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut bytes = 0;
    for i in 0..64u32 {
        let mut p = sources[(i % 2) as usize].clone();
        p["shard"] = i.into();
        p["shards"] = 64.into();
        let f = many.path().join(format!("partial-{i}.json"));
        let text = serde_json::to_vec(&p).unwrap();
        bytes += text.len();
        std::fs::write(&f, text).unwrap();
        files.push(f);
    }
    let reports = tempfile::tempdir().unwrap();
    let began = Instant::now();
    // LOADTEST_BIN=target/release/loadtest times the release build from a debug test binary.
    let mut child = std::env::var_os("LOADTEST_BIN")
        .map_or_else(bin, std::process::Command::new)
        .args([
            "verify",
            "-q",
            "--database-url",
            &shared().url,
            "--run-id",
            &id,
        ])
        .args(["--report-dir", reports.path().to_str().unwrap()])
        .args(&files)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // VmHWM only grows: its last reading before the exit is the peak (to within 5 ms).
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    while child.try_wait().unwrap().is_none() {
        if let Ok(s) = std::fs::read_to_string(&status)
            && let Some(l) = s.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kb = l.split_whitespace().nth(1).and_then(|v| v.parse().ok());
            peak_kb = peak_kb.max(kb.unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = began.elapsed();
    let out = child.wait_with_output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let r = report(reports.path());
    assert_eq!(path(&r, "rpc")["ops_ok"], 1_000_000);
    assert_eq!(path(&r, "fallback")["ops_ok"], 1_000_000);
    println!(
        "merge cost: 64 partials ({:.1} MB of JSON), 1,000,000 calls per path: verify took \
         {:.2} s, peak RSS {:.0} MB",
        bytes as f64 / 1e6,
        took.as_secs_f64(),
        peak_kb as f64 / 1024.0
    );
}
