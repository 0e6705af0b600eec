use super::*;
use clap::Parser;

fn resolve(args: &[&str]) -> Plan {
    let cli = cli::Cli::try_parse_from(std::iter::once("loadtest").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    Plan::resolve(cli, String::new()).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[test]
fn threads_reach_every_plan_that_runs_a_load() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let url = "postgresql://someone@db.example.test/app";
    let t = ["--threads", "3", "--report-dir", d];
    let with = |args: &[&'static str]| -> Vec<&str> { args.iter().copied().chain(t).collect() };
    match resolve(&with(&["run", "token-race"])) {
        Plan::Run(p) => assert_eq!(p.threads, 3),
        _ => panic!("run: not a race plan"),
    }
    match resolve(&with(&["prepare", "token-race", "--database-url", url])) {
        Plan::Prepare(p) => assert_eq!(p.run.threads, 3),
        _ => panic!("prepare: not a prepare plan"),
    }
    let shard = ["run", "token-race", "--run-id", "abc123", "--shard", "1/2"];
    match resolve(&with(&[&shard[..], &["--database-url", url]].concat())) {
        Plan::Shard(p) => assert_eq!(p.threads, 3),
        _ => panic!("run --shard: not a shard plan"),
    }
    match resolve(&with(&["nightly"])) {
        Plan::Nightly(n) => {
            assert!(!n.runs.is_empty());
            assert!(n.runs.iter().all(|r| r.threads == 3));
        }
        _ => panic!("nightly: not a nightly plan"),
    }
    // Without --threads: one lane per core.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match resolve(&["run", "token-race", "--report-dir", d]) {
        Plan::Run(p) => assert_eq!(p.threads, cores),
        _ => panic!("run: not a race plan"),
    }
}

#[test]
fn a_shard_records_exactly_the_settings_its_command_line_gave() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let base = [
        "run",
        "token-race",
        "--run-id",
        "abc123",
        "--shard",
        "0/2",
        "--database-url",
        "postgresql://someone@db.example.test/app",
        "--report-dir",
        d,
    ];
    let explicit = |extra: &[&str]| match resolve(&[&base[..], extra].concat()) {
        Plan::Shard(p) => p.shard.unwrap().explicit,
        _ => panic!("not a shard plan"),
    };
    // Defaults are not settings the shard gave: the manifest's stand.
    assert_eq!(explicit(&[]), []);
    let given = explicit(&[
        "--connections",
        "5",
        "--seed",
        "9",
        "--strategy",
        "serializable",
        "--retry",
        "2",
        "--query-mode",
        "extended",
    ]);
    let flags: Vec<&str> = given.iter().map(|(f, _)| *f).collect();
    assert_eq!(
        flags,
        [
            "--connections",
            "--seed",
            "--strategy",
            "--retry",
            "--query-mode"
        ]
    );
    assert_eq!(given[0].1, "5");
    assert_eq!(given[4].1, "extended");
}
