//! loadtest vs pgbench: the same calls, on the same server, through both tools.
//!
//! Why: loadtest's numbers (ops/s, p99) are only worth quoting if the tool itself is not the
//! bottleneck. pgbench is PostgreSQL's own C load generator, the reference for "what this server
//! can do with this many connections". If loadtest reaches about pgbench's rate on the same work,
//! its figures describe the database; if it falls well below, they describe loadtest.
//!
//!     cargo bench --bench vs_pgbench
//!
//! One scratch cluster (loadtest's own `ScratchCluster`, unix socket, fsync off) serves both
//! tools. pgbench works in a database `bench` migrated and seeded like `token-race` (1000 users);
//! loadtest gets a generated one-path scenario and `--database-url` to the same server, so it
//! creates, migrates, seeds and drops its own database per run. Workloads, each at 8 and 64
//! connections:
//!
//! - `rpc-hot`: `SELECT increment_token_usage(<hot user>, d)`, every call on one row;
//! - `rpc-spread`: the same RPC on a uniformly drawn user of the 1000;
//! - `rmw-hot`: `SELECT used_tokens …` then `UPDATE … SET used_tokens = <read + d>` on the hot
//!   row, two statements, no transaction (the lossy fallback; loadtest's lost-update count is
//!   shown as "lost %").
//!
//! d is uniform in 1..=4000 for both tools. Per row the tools alternate (pgbench, loadtest,
//! pgbench, …), `VS_PGBENCH_ROUNDS` times each (default 3); the table shows medians.
//!
//! How to read the table:
//! - `TPS`: pgbench's "tps (without initial connection time)" and loadtest's report
//!   `throughput_ops_s` (acknowledged calls / duration of the load phase; no connection set-up,
//!   no migrations). One pgbench "transaction" = one run of the script = one loadtest call.
//! - `ratio` = loadtest TPS / pgbench TPS. About 1 means loadtest is not the limit; the last line
//!   is the smallest ratio of all rows.
//! - `p99 µs`: pgbench from its per-transaction log (`--log`), loadtest from its report (issue to
//!   acknowledgement; with workers = connections there is no wait for a pooled connection).
//! - `CPU ms/1k`: user+sys CPU of the client process (from `wait4`'s rusage) per 1000 calls.
//!   For loadtest the process also creates its database, applies the compat layer and the
//!   migrations and seeds; that set-up is measured separately per row with `--ops 1` and
//!   subtracted (the footnote shows it), so the column is the load phase's cost only,
//!   up to the noise of that subtraction.
//!
//! Knobs (environment): `VS_PGBENCH_OPS` = calls per measurement of the hot workloads (default
//! 20000; rpc-spread gets 1.5×; rounded up to a multiple of the connections),
//! `VS_PGBENCH_ROUNDS` (default 3), `VS_PGBENCH_ONLY` (comma-separated workload names, default
//! all), `VS_PGBENCH_WORKERS_PER_CONN` = loadtest `--workers` per
//! connection (default 4, loadtest's own default ratio of 256 workers on 64 connections: loadtest
//! pipelines up to 4 calls on each connection, which the protocol allows and pgbench does not do;
//! set it to 1 for one call in flight per connection, as pgbench has). Same connection count and
//! same calls either way; pipelining trades some per-call latency (p99) for throughput.
//!
//! Known differences that remain: pgbench's rpc-spread computes the user's uuid with md5() on the
//! server (pgbench has no uuid list), loadtest sends the uuid; pgbench's database is vacuumed and
//! its counters reset before each run, loadtest's is fresh each run; pgbench runs `-j 2` threads,
//! loadtest its default tokio runtime (one thread per core). Progress goes to stderr, the table
//! to stdout; the last line is `min ratio loadtest/pgbench: X.XX`.

use loadtest::pg::binaries::Binaries;
use loadtest::pg::cluster::{ClusterOptions, RunAs, ScratchCluster};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// token-race's seed (scenarios/token-race.toml), shared by both tools.
const SETUP_SQL: &str = r#"
INSERT INTO auth.users (id, email)
SELECT md5('loadtest-user-' || current_setting('loadtest.seed') || '-' || g)::uuid,
       'user' || g || '@example.test'
FROM generate_series(1, current_setting('loadtest.rows')::int) AS g;

INSERT INTO user_subscriptions (user_id, plan, status, total_tokens, used_tokens)
SELECT id, 'pro', 'active', 1000000000, 0 FROM auth.users;
"#;
const ROWS: u32 = 1000;
const CONNECTIONS: [u32; 2] = [8, 64];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    RpcHot,
    RpcSpread,
    RmwHot,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::RpcHot => "rpc-hot",
            Kind::RpcSpread => "rpc-spread",
            Kind::RmwHot => "rmw-hot",
        }
    }

    fn pgbench_script(self, hot: &str) -> String {
        match self {
            Kind::RpcHot => {
                format!("\\set d random(1, 4000)\nSELECT increment_token_usage('{hot}', :d);\n")
            }
            Kind::RpcSpread => "\\set k random(1, 1000)\n\\set d random(1, 4000)\n\
                 SELECT increment_token_usage(md5('loadtest-user-1-' || :k)::uuid, :d);\n"
                .to_string(),
            // The new value is computed in the client, as loadtest's write ($2 = read + delta)
            // and the app's old code do.
            Kind::RmwHot => format!(
                "\\set d random(1, 4000)\n\
                 SELECT used_tokens FROM user_subscriptions WHERE user_id = '{hot}' \\gset\n\
                 \\set nv :used_tokens + :d\n\
                 UPDATE user_subscriptions SET used_tokens = :nv, updated_at = now() WHERE user_id = '{hot}';\n"
            ),
        }
    }

    fn scenario_toml(self) -> String {
        let keys = match self {
            Kind::RpcHot | Kind::RmwHot => "choice = \"hot\"\nhot_share = 1.0\n",
            Kind::RpcSpread => "choice = \"uniform\"\n",
        };
        let path = match self {
            Kind::RpcHot | Kind::RpcSpread => {
                "name = \"rpc\"\nkind = \"rpc\"\nsql = \"SELECT increment_token_usage($1, $2)\"\nexpect = \"exact\"\n"
            }
            Kind::RmwHot => {
                "name = \"fallback\"\nkind = \"read-modify-write\"\n\
                 read = \"SELECT used_tokens FROM user_subscriptions WHERE user_id = $1\"\n\
                 write = \"UPDATE user_subscriptions SET used_tokens = $2, updated_at = now() WHERE user_id = $1\"\n\
                 expect = \"lossy\"\n"
            }
        };
        format!(
            "description = \"vs_pgbench {name}\"\n\n[setup]\nrows = {ROWS}\nsql = \"\"\"{SETUP_SQL}\"\"\"\n\n\
             [counters]\ntable = \"user_subscriptions\"\nkey = \"user_id\"\n\n\
             [[counters.columns]]\nname = \"used_tokens\"\ntype = \"integer\"\ndelta = {{ min = 1, max = 4000 }}\n\n\
             [keys]\n{keys}\n[[paths]]\n{path}",
            name = self.name()
        )
    }
}

fn env_num(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .unwrap_or_else(|| panic!("{name}={v}: expected a positive integer")),
        Err(_) => default,
    }
}

/// One finished child process: exit code, wall time and its own user+sys CPU.
struct ChildRun {
    code: i32,
    wall: Duration,
    cpu: Duration,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to completion with stdout/stderr in files under `dir`, and reaps it with `wait4`
/// so the rusage is exactly that child's (and its reaped descendants').
fn run_child(mut cmd: Command, dir: &Path) -> ChildRun {
    let out_path = dir.join("child.out");
    let err_path = dir.join("child.err");
    cmd.stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap());
    let t0 = Instant::now();
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: plain syscall on our own child; `ru` is a valid out-pointer.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        assert!(
            r == -1 && err.kind() == std::io::ErrorKind::Interrupted,
            "wait4: {err}"
        );
    }
    let wall = t0.elapsed();
    drop(child); // already reaped; dropping a Child neither waits nor kills
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    let run = ChildRun {
        code,
        wall,
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    };
    let _ = std::fs::remove_file(out_path);
    let _ = std::fs::remove_file(err_path);
    run
}

struct Sample {
    tps: f64,
    p99_us: f64,
    cpu_ms_per_1k: f64,
    lost_pct: Option<f64>,
    note: Option<String>,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

struct Ctx {
    pgbench: PathBuf,
    loadtest: PathBuf,
    socket_dir: PathBuf,
    work: PathBuf,
    workers_per_conn: u64,
}

impl Ctx {
    fn url(&self) -> String {
        format!(
            "host={} port=5432 user=postgres dbname=postgres",
            self.socket_dir.display()
        )
    }

    fn pgbench(&self, script: &Path, conns: u32, per_client: u64) -> Sample {
        let logs = self.work.join("pgblog");
        std::fs::create_dir_all(&logs).unwrap();
        let mut cmd = Command::new(&self.pgbench);
        cmd.args(["-n", "-M", "prepared", "-c", &conns.to_string(), "-j", "2"])
            .args(["-t", &per_client.to_string(), "-f"])
            .arg(script)
            .arg("-h")
            .arg(&self.socket_dir)
            .args(["-p", "5432", "-U", "postgres", "--log"])
            .arg(format!("--log-prefix={}", logs.join("pgb").display()))
            .arg("bench")
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE")
            .env_remove("PGOPTIONS");
        let run = run_child(cmd, &self.work);
        assert!(
            run.code == 0,
            "pgbench exited with {}:\n{}\n{}",
            run.code,
            run.stdout,
            run.stderr
        );
        let tps: f64 = run
            .stdout
            .lines()
            .find(|l| l.starts_with("tps = ") && l.contains("without initial connection"))
            .and_then(|l| l["tps = ".len()..].split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no tps line in pgbench output:\n{}", run.stdout));
        let expected = u64::from(conns) * per_client;
        let processed = run
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
            .and_then(|v| v.split('/').next())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let mut lat = Vec::with_capacity(expected as usize);
        for e in std::fs::read_dir(&logs).unwrap().flatten() {
            let text = std::fs::read_to_string(e.path()).unwrap();
            lat.extend(
                text.lines()
                    .filter_map(|l| l.split_whitespace().nth(2)?.parse::<f64>().ok()),
            );
        }
        std::fs::remove_dir_all(&logs).unwrap();
        lat.sort_by(f64::total_cmp);
        let note = (processed != expected || lat.len() as u64 != expected).then(|| {
            format!(
                "pgbench processed {processed} of {expected}, {} latencies logged",
                lat.len()
            )
        });
        Sample {
            tps,
            p99_us: percentile(&lat, 0.99),
            cpu_ms_per_1k: run.cpu.as_secs_f64() * 1000.0 / (expected as f64 / 1000.0),
            lost_pct: None,
            note,
        }
    }

    /// One `loadtest run`; returns its report and its process CPU.
    fn loadtest(&self, scenario: &Path, conns: u32, ops: u64) -> (serde_json::Value, ChildRun) {
        let reports = self.work.join("reports");
        std::fs::create_dir_all(&reports).unwrap();
        let workers = u64::from(conns) * self.workers_per_conn;
        let mut cmd = Command::new(&self.loadtest);
        cmd.arg("run")
            .arg(scenario)
            .args(["--ops", &ops.to_string()])
            .args(["--connections", &conns.to_string()])
            .args(["--workers", &workers.to_string()])
            .arg("--quiet")
            .arg("--report-dir")
            .arg(&reports)
            .args(["--database-url", &self.url()])
            .env_remove("DATABASE_URL");
        let run = run_child(cmd, &self.work);
        assert!(
            run.code == 0 || run.code == 1,
            "loadtest exited with {}:\n{}",
            run.code,
            run.stderr
        );
        let mut files: Vec<PathBuf> = std::fs::read_dir(&reports)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        let f = files.last().expect("loadtest wrote a JSON report");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap();
        std::fs::remove_dir_all(&reports).unwrap();
        (report, run)
    }
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(f64::NAN)
}

fn main() {
    let began = Instant::now();
    let rounds = env_num("VS_PGBENCH_ROUNDS", 3) as usize;
    let hot_ops = env_num("VS_PGBENCH_OPS", 20_000);
    let workers_per_conn = env_num("VS_PGBENCH_WORKERS_PER_CONN", 4);
    let binaries = Binaries::find(None).expect("PostgreSQL binaries");
    let pgbench = binaries.bindir.join("pgbench");
    assert!(pgbench.is_file(), "no pgbench at {}", pgbench.display());

    let cluster = ScratchCluster::start(&ClusterOptions {
        binaries: binaries.clone(),
        run_as: RunAs::resolve("postgres").expect("a postgres system user"),
        max_connections: 200,
        settings: vec![],
        cache_root: loadtest::pg::template::cache_root(),
        tie_to_thread: true,
    })
    .expect("scratch cluster starts");
    eprintln!(
        "vs_pgbench: scratch cluster at {}",
        cluster.path().display()
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (client, server_version, hot) = rt.block_on(async {
        let admin = loadtest::pg::connect(&loadtest::pg::Endpoint::plaintext(
            cluster.config("postgres"),
        ))
        .await
        .unwrap();
        admin.batch_execute("CREATE DATABASE bench").await.unwrap();
        let client =
            loadtest::pg::connect(&loadtest::pg::Endpoint::plaintext(cluster.config("bench")))
                .await
                .unwrap();
        loadtest::pg::compat::apply(&client).await.unwrap();
        let migrations = loadtest::pg::migrate::load_builtin().unwrap();
        loadtest::pg::migrate::apply(&client, &migrations, |_| {})
            .await
            .unwrap();
        client
            .batch_execute(&format!(
                "SELECT set_config('loadtest.rows', '{ROWS}', false);\n\
                 SELECT set_config('loadtest.seed', '1', false);\n{SETUP_SQL}\nANALYZE;"
            ))
            .await
            .unwrap();
        let version: String = client
            .query_one("SELECT current_setting('server_version')", &[])
            .await
            .unwrap()
            .get(0);
        let hot: String = client
            .query_one(
                "SELECT user_id::text FROM user_subscriptions ORDER BY user_id LIMIT 1",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        (client, version, hot)
    });
    eprintln!("vs_pgbench: PostgreSQL {server_version}, hot user {hot}");

    let work = tempfile::Builder::new()
        .prefix("vs-pgbench-")
        .tempdir()
        .unwrap();
    let ctx = Ctx {
        pgbench,
        loadtest: PathBuf::from(env!("CARGO_BIN_EXE_loadtest")),
        socket_dir: cluster.path().to_path_buf(),
        work: work.path().to_path_buf(),
        workers_per_conn,
    };

    struct Row {
        kind: Kind,
        conns: u32,
        ops: u64,
        pg: Vec<Sample>,
        lt: Vec<Sample>,
        lt_setup_cpu_ms: f64,
    }
    let mut rows = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    // `VS_PGBENCH_ONLY=rpc-hot,rmw-hot` runs only those workloads (for quick experiments).
    let only = std::env::var("VS_PGBENCH_ONLY").unwrap_or_default();
    for kind in [Kind::RpcHot, Kind::RpcSpread, Kind::RmwHot] {
        if !only.is_empty() && !only.split(',').any(|k| k.trim() == kind.name()) {
            continue;
        }
        let script = work.path().join(format!("{}.sql", kind.name()));
        std::fs::write(&script, kind.pgbench_script(&hot)).unwrap();
        let scenario = work.path().join(format!("{}.toml", kind.name()));
        std::fs::write(&scenario, kind.scenario_toml()).unwrap();
        let base_ops = if kind == Kind::RpcSpread {
            hot_ops * 3 / 2
        } else {
            hot_ops
        };
        for conns in CONNECTIONS {
            let per_client = base_ops.div_ceil(u64::from(conns));
            let ops = per_client * u64::from(conns);
            // loadtest's fixed cost: create database, compat, migrations, seed, pool warm-up.
            let (_, base) = ctx.loadtest(&scenario, conns, 1);
            let setup_cpu = base.cpu;
            eprintln!(
                "{} c={conns}: loadtest --ops 1 baseline: {:.0} ms CPU, {:.2} s wall",
                kind.name(),
                setup_cpu.as_secs_f64() * 1000.0,
                base.wall.as_secs_f64()
            );
            let mut row = Row {
                kind,
                conns,
                ops,
                pg: Vec::new(),
                lt: Vec::new(),
                lt_setup_cpu_ms: setup_cpu.as_secs_f64() * 1000.0,
            };
            for round in 1..=rounds {
                rt.block_on(async {
                    // Two calls: VACUUM cannot run in the implicit transaction of a batch.
                    client
                        .batch_execute("UPDATE user_subscriptions SET used_tokens = 0")
                        .await?;
                    client
                        .batch_execute("VACUUM ANALYZE user_subscriptions")
                        .await
                })
                .unwrap();
                let pg = ctx.pgbench(&script, conns, per_client);
                let (report, run) = ctx.loadtest(&scenario, conns, ops);
                let path = &report["paths"][0];
                let ops_ok = num(&path["ops_ok"]);
                let load_cpu = run.cpu.saturating_sub(setup_cpu);
                let mut note = None;
                if num(&path["ops_failed"]) != 0.0 || ops_ok != ops as f64 {
                    note = Some(format!(
                        "loadtest ops_ok {ops_ok} ops_failed {} of {ops}",
                        path["ops_failed"]
                    ));
                }
                if run.code != 0 {
                    note = Some(format!(
                        "loadtest verdict {} (exit {}): {}",
                        report["verdict"], run.code, report["failures"]
                    ));
                }
                let lt = Sample {
                    tps: num(&path["throughput_ops_s"]),
                    p99_us: num(&path["latency_us"]["p99"]),
                    cpu_ms_per_1k: load_cpu.as_secs_f64() * 1000.0 / (ops as f64 / 1000.0),
                    lost_pct: (kind == Kind::RmwHot)
                        .then(|| num(&path["lost_updates"]) / ops_ok * 100.0),
                    note,
                };
                eprintln!(
                    "{} c={conns} round {round}/{rounds}: pgbench {:.0} tps p99 {:.0} µs, \
                     loadtest {:.0} ops/s p99 {:.0} µs ({:.2} s wall){}",
                    kind.name(),
                    pg.tps,
                    pg.p99_us,
                    lt.tps,
                    lt.p99_us,
                    run.wall.as_secs_f64(),
                    lt.lost_pct
                        .map(|p| format!(", lost {p:.1}%"))
                        .unwrap_or_default()
                );
                for n in [&pg.note, &lt.note].into_iter().flatten() {
                    notes.push(format!("{} c={conns} round {round}: {n}", kind.name()));
                }
                row.pg.push(pg);
                row.lt.push(lt);
            }
            rows.push(row);
        }
    }

    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut out = String::new();
    writeln!(
        out,
        "loadtest vs pgbench — {} UTC, nproc {nproc}, PostgreSQL {server_version} (scratch cluster, unix socket, fsync off)",
        chrono::Utc::now().format("%Y-%m-%d %H:%M")
    )
    .unwrap();
    writeln!(
        out,
        "medians of {rounds} alternating rounds; loadtest --workers = {workers_per_conn} × conns; \
         CPU = client process user+sys per 1000 calls (loadtest: minus its --ops 1 set-up run)"
    )
    .unwrap();
    writeln!(out).unwrap();
    writeln!(
        out,
        "{:<11} {:>5} {:>6} {:>11} {:>12} {:>6} {:>11} {:>12} {:>11} {:>12} {:>7}",
        "workload",
        "conns",
        "ops",
        "pgbench TPS",
        "loadtest TPS",
        "ratio",
        "pgbench p99",
        "loadtest p99",
        "pgbench CPU",
        "loadtest CPU",
        "lost %"
    )
    .unwrap();
    writeln!(
        out,
        "{:<11} {:>5} {:>6} {:>11} {:>12} {:>6} {:>11} {:>12} {:>11} {:>12} {:>7}",
        "", "", "", "", "", "", "µs", "µs", "ms/1k", "ms/1k", ""
    )
    .unwrap();
    let mut min_ratio = f64::INFINITY;
    for r in &rows {
        let med = |v: &[Sample], f: fn(&Sample) -> f64| median(v.iter().map(f).collect());
        let pg_tps = med(&r.pg, |s| s.tps);
        let lt_tps = med(&r.lt, |s| s.tps);
        let ratio = lt_tps / pg_tps;
        min_ratio = min_ratio.min(ratio);
        let lost = if r.kind == Kind::RmwHot {
            format!("{:.1}", med(&r.lt, |s| s.lost_pct.unwrap_or(f64::NAN)))
        } else {
            "-".into()
        };
        writeln!(
            out,
            "{:<11} {:>5} {:>6} {:>11.0} {:>12.0} {:>6.2} {:>11.0} {:>12.0} {:>11.1} {:>12.1} {:>7}",
            r.kind.name(),
            r.conns,
            r.ops,
            pg_tps,
            lt_tps,
            ratio,
            med(&r.pg, |s| s.p99_us),
            med(&r.lt, |s| s.p99_us),
            med(&r.pg, |s| s.cpu_ms_per_1k),
            med(&r.lt, |s| s.cpu_ms_per_1k),
            lost
        )
        .unwrap();
    }
    writeln!(out).unwrap();
    writeln!(
        out,
        "loadtest set-up CPU subtracted (ms, --ops 1 run per row): {}",
        rows.iter()
            .map(|r| format!("{} c={} {:.0}", r.kind.name(), r.conns, r.lt_setup_cpu_ms))
            .collect::<Vec<_>>()
            .join(", ")
    )
    .unwrap();
    for n in &notes {
        writeln!(out, "note: {n}").unwrap();
    }
    writeln!(out, "wall time {:.0} s", began.elapsed().as_secs_f64()).unwrap();
    write!(out, "min ratio loadtest/pgbench: {min_ratio:.2}").unwrap();
    println!("{out}");

    drop(client);
    drop(rt);
    drop(work);
    drop(cluster);
}
