//! Query modes and poolers: through a real PgBouncer in transaction mode (the way Supabase's
//! pooler on 6543 works), the default `prepared` mode stops before the load with exit 3 and
//! names `--query-mode`; `extended` and `simple` run the token race correctly; a session-mode
//! PgBouncer keeps named statements. Directly on the server, both other modes run the matrix
//! and serializable transactions with retries.

use crate::util::*;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PGBOUNCER: &str = "/usr/sbin/pgbouncer";

/// A PgBouncer in front of the shared test server, on a free port of 127.0.0.1. Dropping it
/// stops it (SIGTERM, then SIGKILL if it lingers) and removes its folder, even when a test fails.
struct Bouncer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Bouncer {
    fn start(pool_mode: &str) -> Bouncer {
        Bouncer::with_pool(pool_mode, 20)
    }

    /// A PgBouncer with `pool_size` server connections per database and user.
    fn with_pool(pool_mode: &str, pool_size: usize) -> Bouncer {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let auth = dir.path().join("users.txt");
        std::fs::write(&auth, "\"postgres\" \"\"\n").unwrap();
        let ini = dir.path().join("pgbouncer.ini");
        std::fs::write(
            &ini,
            format!(
                "[databases]\n\
                 * = host={socket} port=5432\n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir =\n\
                 auth_type = trust\n\
                 auth_file = {auth}\n\
                 pool_mode = {pool_mode}\n\
                 default_pool_size = {pool_size}\n\
                 max_client_conn = 500\n\
                 ignore_startup_parameters = extra_float_digits,options\n\
                 logfile = {log}\n",
                socket = shared().socket_dir.display(),
                auth = auth.display(),
                log = dir.path().join("pgbouncer.log").display(),
            ),
        )
        .unwrap();
        let mut cmd = Command::new(PGBOUNCER);
        cmd.arg(&ini).stdout(Stdio::null()).stderr(Stdio::null());
        // PgBouncer refuses to run as root: run it as the server's own user.
        if let Some(r) = loadtest::pg::cluster::RunAs::resolve("postgres").unwrap() {
            std::os::unix::fs::chown(dir.path(), Some(r.uid), Some(r.gid)).unwrap();
            cmd.uid(r.uid).gid(r.gid);
        }
        let child = cmd.spawn().expect("start pgbouncer");
        let mut b = Bouncer { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Ok(Some(status)) = b.child.try_wait() {
                panic!("pgbouncer exited with {status}: {}", b.log());
            }
            assert!(
                Instant::now() < deadline,
                "pgbouncer did not listen: {}",
                b.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        b
    }

    fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `loadtest run token-race --quiet --database-url URL` plus `extra`, with a fresh report
/// folder: (exit code, stderr, the JSON report if one was written).
fn token_race(url: &str, extra: &[&str]) -> (Option<i32>, String, Option<serde_json::Value>) {
    let reports = tempfile::tempdir().unwrap();
    let mut args = vec!["run", "token-race", "--quiet", "--database-url", url];
    args.extend(["--report-dir", reports.path().to_str().unwrap()]);
    args.extend(extra);
    let out = run(&args);
    let has_report = std::fs::read_dir(reports.path()).unwrap().count() > 0;
    (
        out.status.code(),
        stderr(&out),
        has_report.then(|| report(reports.path())),
    )
}

fn assert_token_race_passed(r: &serde_json::Value, mode: &str) {
    assert_eq!(r["settings"]["query_mode"], mode);
    assert_eq!(r["verdict"], "pass");
    let rpc = path(r, "rpc");
    assert_eq!(rpc["ops_failed"], 0, "{rpc}");
    assert_eq!(rpc["lost_updates"], 0);
    assert_eq!(rpc["counters"][0]["missing"], "0");
    let fallback = path(r, "fallback");
    assert!(fallback["lost_updates"].as_u64().unwrap() > 0, "{fallback}");
    assert_eq!(fallback["lost_updates_exact"], true);
}

#[test]
fn a_transaction_pooler_stops_the_default_mode_before_the_load() {
    let bouncer = Bouncer::start("transaction");
    // The check must be deterministic, not lucky: every run finds the pooler.
    for attempt in 0..3 {
        let (code, err, report) = token_race(&bouncer.url(), &["--ops", "3000"]);
        assert_eq!(code, Some(3), "attempt {attempt}: {err}");
        assert!(err.contains("--query-mode extended or simple"), "{err}");
        assert!(
            err.contains("named prepared statements do not survive"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(report.is_none(), "no report before the load");
    }
}

#[test]
fn extended_and_simple_modes_run_through_a_transaction_pooler() {
    let bouncer = Bouncer::start("transaction");
    for mode in ["extended", "simple"] {
        let (code, err, report) =
            token_race(&bouncer.url(), &["--ops", "3000", "--query-mode", mode]);
        assert_eq!(code, Some(0), "{mode}: {err}\n{}", bouncer.log());
        assert_token_race_passed(&report.expect("a report"), mode);
        // A connection per worker: each speaks on its own socket, through the pooler.
        let (code, err, report) = token_race(
            &bouncer.url(),
            &[
                "--ops",
                "2000",
                "--query-mode",
                mode,
                "--workers",
                "4",
                "--connections",
                "4",
            ],
        );
        assert_eq!(code, Some(0), "{mode}: {err}\n{}", bouncer.log());
        let r = report.expect("a report");
        assert_token_race_passed(&r, mode);
        assert_eq!(path(&r, "rpc")["client"], "socket", "{mode}");
        assert_eq!(path(&r, "fallback")["client"], "socket", "{mode}");
    }
}

#[test]
fn a_session_pooler_keeps_named_statements() {
    let bouncer = Bouncer::start("session");
    // In session mode every client connection holds a server: no more than the pool's 20.
    let (code, err, report) = token_race(&bouncer.url(), &["--ops", "3000", "--connections", "16"]);
    assert_eq!(code, Some(0), "{err}\n{}", bouncer.log());
    assert_token_race_passed(&report.expect("a report"), "prepared");
    // Named statements prepared on the lent sockets survive too.
    let (code, err, report) = token_race(
        &bouncer.url(),
        &["--ops", "2000", "--workers", "8", "--connections", "8"],
    );
    assert_eq!(code, Some(0), "{err}\n{}", bouncer.log());
    let r = report.expect("a report");
    assert_token_race_passed(&r, "prepared");
    assert_eq!(path(&r, "rpc")["client"], "socket");
}

#[test]
fn a_session_pooler_smaller_than_the_connections_stops_before_the_load() {
    let bouncer = Bouncer::with_pool("session", 4);
    let began = Instant::now();
    let (code, err, report) = token_race(&bouncer.url(), &["--ops", "300", "--connections", "8"]);
    assert_eq!(code, Some(3), "{err}\n{}", bouncer.log());
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    // The run's own connection holds one of the 4 servers: 3 are left for the load.
    assert!(
        err.contains(
            "only 3 of the 8 connections (--connections 8) got a server within 5 s, as through a \
             session-mode pooler whose pool is smaller: pass --connections 3, or raise the \
             pooler's pool size"
        ),
        "{err}"
    );
    assert!(report.is_none(), "no report before the load");
    // Found in seconds, not after PgBouncer's two-minute query_wait_timeout.
    assert!(
        began.elapsed() < Duration::from_secs(60),
        "{:?}",
        began.elapsed()
    );
    // The number it names works.
    let (code, err, report) = token_race(&bouncer.url(), &["--ops", "300", "--connections", "3"]);
    assert_eq!(code, Some(0), "{err}\n{}", bouncer.log());
    assert_token_race_passed(&report.expect("a report"), "prepared");
}

#[test]
fn extended_and_simple_modes_run_the_matrix_and_retried_transactions_directly() {
    let url = &shared().url;
    let (code, err, report) = token_race(
        url,
        &["--ops", "2000", "--query-mode", "simple", "--matrix"],
    );
    assert_eq!(code, Some(0), "{err}");
    let r = report.unwrap();
    assert_eq!(r["settings"]["query_mode"], "simple");
    assert_eq!(r["settings"]["mode"], "matrix");
    for name in ["fallback@for-update", "fallback@serializable"] {
        assert_eq!(path(&r, name)["lost_updates"], 0, "{name}");
    }
    for args in [
        ["--query-mode", "extended", "--strategy", "serializable"],
        ["--query-mode", "simple", "--strategy", "serializable"],
    ] {
        let mut extra = vec!["--ops", "2000", "--retry", "3"];
        extra.extend(args);
        let (code, err, report) = token_race(url, &extra);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        let r = report.unwrap();
        assert_eq!(r["settings"]["query_mode"], args[1]);
        let fallback = path(&r, "fallback@serializable");
        assert_eq!(fallback["lost_updates"], 0);
        assert_eq!(
            fallback["witnesses"]["agrees_with_totals"], true,
            "{fallback}"
        );
    }
}

/// The pooler's folder is its own; nothing of it outlives the guard.
#[test]
fn the_bouncer_guard_stops_pgbouncer() {
    let bouncer = Bouncer::start("transaction");
    let (pid, dir) = (bouncer.child.id(), bouncer.dir.path().to_path_buf());
    drop(bouncer);
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid));
    assert!(!dir.exists());
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
}
