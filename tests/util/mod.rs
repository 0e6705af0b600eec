//! Test helpers: one scratch PostgreSQL cluster per test binary, a database per test, and
//! running the real `loadtest` binary.
//!
//! The shared cluster is started by loadtest's own `ScratchCluster` on a thread that lives as
//! long as the test process, and stopped (folder removed) by an `atexit` hook when the test
//! binary exits, so a test run leaves no server behind.

#![allow(dead_code)]

pub mod chromium;

use loadtest::pg::binaries::Binaries;
use loadtest::pg::cluster::{ClusterOptions, RunAs, ScratchCluster};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};

pub struct Shared {
    /// `--database-url` value for the cluster's `postgres` database.
    pub url: String,
    pub socket_dir: PathBuf,
}

static SHARED: OnceLock<Shared> = OnceLock::new();
static CLUSTER: Mutex<Option<ScratchCluster>> = Mutex::new(None);

extern "C" fn stop_shared_cluster() {
    if let Ok(mut c) = CLUSTER.lock() {
        c.take();
    }
}

/// The test binary's shared server.
pub fn shared() -> &'static Shared {
    SHARED.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        // The keeper thread never ends, so the server's parent-death signal only fires when the
        // whole test process dies (even by SIGKILL).
        std::thread::spawn(move || {
            let opts = ClusterOptions {
                binaries: Binaries::find(None).expect("PostgreSQL binaries for the tests"),
                run_as: RunAs::resolve("postgres").expect("a postgres system user"),
                max_connections: 400,
                settings: Vec::new(),
                cache_root: loadtest::pg::template::cache_root(),
                tie_to_thread: true,
            };
            let cluster = ScratchCluster::start(&opts).expect("shared test cluster starts");
            let socket_dir = cluster.path().to_path_buf();
            *CLUSTER.lock().unwrap() = Some(cluster);
            unsafe { libc::atexit(stop_shared_cluster) };
            tx.send(socket_dir).unwrap();
            loop {
                std::thread::park();
            }
        });
        let socket_dir = rx.recv().expect("shared cluster started");
        Shared {
            url: format!(
                "host={} port=5432 user=postgres dbname=postgres",
                socket_dir.display()
            ),
            socket_dir,
        }
    })
}

/// Connection settings for database `db` on the shared server.
pub fn config(db: &str) -> tokio_postgres::Config {
    let mut c = tokio_postgres::Config::new();
    c.host_path(&shared().socket_dir)
        .port(5432)
        .user("postgres")
        .dbname(db);
    c
}

pub async fn connect(db: &str) -> tokio_postgres::Client {
    loadtest::pg::connect(&loadtest::pg::Endpoint::plaintext(config(db)))
        .await
        .expect("connect to the shared test server")
}

/// The name of the running test's own database: `t_`, the test's function name, and a short
/// hash of its full path (two tests of one name in different modules never share a database),
/// as a valid identifier of at most 63 bytes.
///
/// libtest runs each test on a thread named after its path (`suite::lint::some_test`), so this
/// must be called on the test's own thread: in the test fn, or in the future that
/// `#[tokio::test]` drives (`block_on` runs it on that thread), not in a spawned task.
pub fn test_db_name() -> String {
    let thread = std::thread::current();
    let test = thread
        .name()
        .filter(|n| *n != "main" && !n.starts_with("tokio-"))
        .unwrap_or_else(|| {
            panic!(
                "test_db_name() on thread {:?}: call it on the test's own thread",
                thread.name()
            )
        });
    db_name_for(test)
}

fn db_name_for(test_path: &str) -> String {
    let function = test_path.rsplit("::").next().unwrap_or(test_path);
    let readable: String = function
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .take(52)
        .collect();
    // FNV-1a: stable across Rust versions, so a later run finds a failed run's database.
    let hash = test_path.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("t_{readable}_{hash:08x}")
}

/// A fresh database named after the running test ([`test_db_name`]), dropped first if a failed
/// earlier run left it. It is not dropped at the end: the shared cluster goes with the test
/// binary.
pub async fn fresh_db() -> tokio_postgres::Client {
    let name = test_db_name();
    let admin = connect("postgres").await;
    for sql in [
        format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"),
        format!("CREATE DATABASE \"{name}\""),
    ] {
        admin.batch_execute(&sql).await.unwrap();
    }
    connect(&name).await
}

/// The release-or-debug `loadtest` binary cargo built for these tests.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_loadtest"));
    c.env_remove("DATABASE_URL");
    c
}

pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run loadtest")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// The newest JSON report in `dir`, parsed.
pub fn report(dir: &Path) -> serde_json::Value {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let f = files.last().expect("a JSON report");
    serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap()
}

/// The database a `--keep` run on the shared server left, named on its stderr (`kept database
/// loadtest_… on …`).
pub fn kept_db(stderr: &str) -> String {
    let at = stderr
        .find("kept database ")
        .unwrap_or_else(|| panic!("no kept database named: {stderr}"));
    stderr[at + "kept database ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Drops a database a test kept on the shared server.
pub async fn drop_db(name: &str) {
    connect("postgres")
        .await
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .unwrap();
}

/// Latency percentiles of a report path must be ordered: p50 ≤ p90 ≤ p99 ≤ p99.9 ≤ max, the
/// first above zero.
pub fn assert_latency_ordered(path: &serde_json::Value) {
    let l = &path["latency_us"];
    let v: Vec<u64> = ["p50", "p90", "p99", "p999", "max"]
        .iter()
        .map(|k| {
            l[k].as_u64()
                .unwrap_or_else(|| panic!("latency_us.{k}: {l}"))
        })
        .collect();
    assert!(v[0] > 0, "{}: {l}", path["name"]);
    assert!(v.windows(2).all(|w| w[0] <= w[1]), "{}: {l}", path["name"]);
    assert!(path["throughput_ops_s"].as_f64().unwrap() > 0.0);
}

/// `loadtest run SCENARIO --quiet` on the shared server with a fresh report folder, plus
/// `extra`; returns (exit code, stderr, the JSON report if one was written).
pub fn run_scenario(
    scenario: &str,
    extra: &[&str],
) -> (Option<i32>, String, Option<serde_json::Value>) {
    let reports = tempfile::tempdir().unwrap();
    let dir = reports.path().to_str().unwrap().to_string();
    let mut args = vec!["run", scenario, "--quiet", "--database-url", &shared().url];
    args.extend(["--report-dir", &dir]);
    args.extend(extra);
    let out = run(&args);
    let has_report = std::fs::read_dir(reports.path()).unwrap().count() > 0;
    (
        out.status.code(),
        stderr(&out),
        has_report.then(|| report(reports.path())),
    )
}

pub fn path<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["paths"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no path {name} in report"))
}

/// A folder with copies of the repository's migrations plus `extra` files (name, sql).
pub fn migrations_with(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    for (name, sql) in extra {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    dir
}

/// The shipped join-bench with shorter timing budgets, written to `dir`, plus `edit`.
pub fn quick_bench(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = include_str!("../../scenarios/join-bench.toml")
        .replace("min_runs = 20", "min_runs = 10")
        .replace("max_runs = 500", "max_runs = 60")
        .replace("time_per_query = \"500ms\"", "time_per_query = \"50ms\"")
        .replace("throughput_time = \"500ms\"", "throughput_time = \"50ms\"");
    let file = dir.join("join-bench.toml");
    std::fs::write(&file, edit(text)).unwrap();
    file
}

/// postgres server processes whose command line mentions `needle`.
pub fn servers_mentioning(needle: &str) -> Vec<String> {
    let out = Command::new("ps")
        .args(["-eo", "pid,args"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("postgres") && l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// What a run interrupted by a signal left: its exit code, stderr, how long it took to stop, and
/// its scratch and report folders.
pub struct Interrupted {
    pub code: Option<i32>,
    pub stderr: String,
    pub stopped_after: std::time::Duration,
    pub scratch: tempfile::TempDir,
    pub reports: tempfile::TempDir,
}

/// Starts `loadtest <args> --report-dir <new folder>` on a scratch cluster of its own, waits
/// until its stderr shows `ready` and then `settle` longer, sends SIGINT to its process group (as
/// a terminal's Ctrl-C does) and waits for the exit.
pub fn interrupt(args: &[&str], ready: &str, settle: std::time::Duration) -> Interrupted {
    use nix::sys::signal::Signal::SIGINT;
    signal_run(args, ready, settle, &[(SIGINT, std::time::Duration::ZERO)])
}

/// As [`interrupt`], sending each of `signals` to the process group after its delay (the first
/// `settle` after a stderr line contained `ready` — or, with an empty `ready`, after the
/// scratch server started — each next one that long after loadtest acknowledged the first on
/// stderr). Panics if the run
/// ended, or `ready` never showed, before the signal: then the test would prove nothing.
pub fn signal_run(
    args: &[&str],
    ready: &str,
    settle: std::time::Duration,
    signals: &[(nix::sys::signal::Signal, std::time::Duration)],
) -> Interrupted {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};
    let scratch = tempfile::tempdir().unwrap();
    let reports = tempfile::tempdir().unwrap();
    let mut child = bin()
        .args(args)
        .arg("--report-dir")
        .arg(reports.path())
        .env("LOADTEST_SCRATCH_DIR", scratch.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    // stderr is read line by line on a thread (a full pipe would block the child); each line
    // goes to the channel, the whole text to the join handle.
    let pipe = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    if ready.is_empty() {
        while servers_mentioning(scratch.path().to_str().unwrap()).is_empty()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    } else {
        let mut seen = false;
        while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if line.contains(ready) {
                seen = true;
                break;
            }
        }
        if !seen {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(-(child.id() as i32)),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = child.wait();
            panic!(
                "loadtest {args:?} never printed {ready:?}: {}",
                reader.join().unwrap()
            );
        }
    }
    std::thread::sleep(settle);
    assert!(
        child.try_wait().unwrap().is_none(),
        "loadtest {args:?} ended before the signal: give it more work"
    );
    let group = nix::unistd::Pid::from_raw(-(child.id() as i32));
    let signalled = Instant::now();
    for (n, &(signal, after)) in signals.iter().enumerate() {
        if n > 0 {
            // Signals of one kind sent before the process handled the first merge into one:
            // the next is sent once loadtest said it saw the first.
            while let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) {
                if line.contains("received: stopping") {
                    break;
                }
            }
        }
        std::thread::sleep(after);
        let _ = nix::sys::signal::kill(group, signal);
    }
    let status = child.wait().unwrap();
    let stopped_after = signalled.elapsed();
    let stderr = reader.join().unwrap();
    Interrupted {
        code: status.code(),
        stderr,
        stopped_after,
        scratch,
        reports,
    }
}

impl Interrupted {
    /// Exit 130, and no scratch folder or server left behind; any report is whole.
    pub fn assert_clean(&self) {
        self.assert_clean_with(130);
    }

    /// Exit `code`, no scratch folder or server left behind, and every file in the report
    /// folder whole: no temporary file, every JSON parses. Returns the JSON reports.
    pub fn assert_clean_with(&self, code: i32) -> Vec<serde_json::Value> {
        assert_eq!(self.code, Some(code), "{}", self.stderr);
        assert!(self.stderr.contains("interrupted"), "{}", self.stderr);
        let scratch = self.scratch.path();
        assert_eq!(
            std::fs::read_dir(scratch).unwrap().count(),
            0,
            "scratch folder left"
        );
        assert!(
            servers_mentioning(scratch.to_str().unwrap()).is_empty(),
            "server left running"
        );
        let mut reports = Vec::new();
        for f in std::fs::read_dir(self.reports.path()).unwrap() {
            let path = f.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            assert!(!name.starts_with('.'), "temporary file left: {name}");
            if name.ends_with(".json") {
                let text = std::fs::read_to_string(&path).unwrap();
                let json: serde_json::Value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{name} is not whole JSON: {e}"));
                reports.push(json);
            }
        }
        reports
    }
}

#[cfg(test)]
mod tests {
    use super::db_name_for;

    #[test]
    fn database_names_are_identifiers_of_at_most_63_bytes_and_differ_by_module() {
        let long =
            "suite::migrations::a_failing_migration_is_rolled_back_and_named_by_file_and_line";
        let name = db_name_for(long);
        assert!(name.len() <= 63, "{name}");
        assert!(
            name.starts_with("t_a_failing_migration_is_rolled_back"),
            "{name}"
        );
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{name}"
        );
        assert_ne!(db_name_for("suite::a::same"), db_name_for("suite::b::same"));
        assert_eq!(db_name_for("suite::a::same"), db_name_for("suite::a::same"));
    }
}
