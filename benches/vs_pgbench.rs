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
//! Each workload × connection count runs in every query mode of `VS_PGBENCH_MODES` (default
//! `prepared,extended,simple`): pgbench `-M <mode>` against `loadtest run --query-mode <mode>`
//! (named prepared statements / the unnamed statement parsed per call / the simple protocol with
//! literals). rpc-hot at 8 connections and rmw-hot at 64 also get, in each mode, a row with one
//! call in flight per connection (loadtest `--workers` = `--connections`), unless
//! `VS_PGBENCH_WORKERS_PER_CONN` is already 1: there loadtest's p99 compares fairly with
//! pgbench's, which never pipelines, and on the hot row the server sees the same number of
//! calls in flight from both tools (pipelined, loadtest has 4× as many waiting on the lock).
//!
//! d is uniform in 1..=4000 for both tools. Per row the tools alternate (pgbench, loadtest,
//! pgbench, …), `VS_PGBENCH_ROUNDS` times each (default 3); the table shows medians.
//!
//! How to read the table:
//! - `TPS`: pgbench's "tps (without initial connection time)" and loadtest's report
//!   `throughput_ops_s` (acknowledged calls / duration of the load phase; no connection set-up,
//!   no migrations). One pgbench "transaction" = one run of the script = one loadtest call.
//! - `ratio`: round i pairs pgbench run i with the loadtest run right after it, ratio_i =
//!   loadtest TPS_i / pgbench TPS_i (pairing cancels slow drifts of the machine); the column is
//!   the median of the per-round ratios, and `ratio 95% CI` a percentile bootstrap of that median:
//!   10000 resamples (with replacement) of the per-round ratios, fixed seed (splitmix64, seed 1),
//!   the 2.5th and 97.5th percentiles of the resampled medians. It never leaves [min, max] of the
//!   per-round ratios, and with 3 rounds it *is* [min, max] (a resample's median equals the
//!   smallest ratio with probability 7/27 > 2.5%): with few rounds, read it as the observed
//!   range, not as a tight interval. About 1 means loadtest is not the limit; the last line is
//!   the smallest median ratio of all rows.
//! - `p99 µs`: pgbench from its per-transaction log (`--log`), loadtest from its report (issue to
//!   acknowledgement; with workers = connections there is no wait for a pooled connection).
//! - `CPU ms/1k`: user+sys CPU of the client process (from `wait4`'s rusage) per 1000 calls,
//!   the load's own cost: each tool's fixed cost is measured in every round and the median of
//!   the row's set-up runs is subtracted (the footnote shows both). For loadtest that is an
//!   `--ops 1` run (it creates its database, applies the compat layer and the migrations,
//!   seeds, opens and warms its pool); for pgbench a `-t 1` run (it starts and connects its
//!   clients: about 17 ms at 8 clients, 21 ms at 64, on 2026-12-07, which is 0.9–1.0 ms/1k at
//!   20,000 calls). Up to the noise of that subtraction (at 5000 calls a 5 ms error in it is
//!   1 ms/1k: take `VS_PGBENCH_OPS` of 20000 or more to compare CPU closely).
//! - `CPU ratio`: per round, loadtest's CPU per call over pgbench's (paired like TPS), the
//!   median of the rounds and the same bootstrap interval; below 1 loadtest spends less.
//!   pgbench's CPU includes writing its per-transaction log (`--log`, needed for its p99), as
//!   loadtest's includes recording every latency in its histograms and interval log.
//!
//! `target/vs_pgbench.json` (or `$CARGO_TARGET_DIR/vs_pgbench.json`) gets the same rows:
//! `{"rows": [{"workload", "connections", "query_mode", "workers_per_connection", "ratio",
//! "ratio_ci": [low, high], "cpu_ms_per_1k": {"pgbench", "loadtest"}, "cpu_ratio",
//! "cpu_ratio_ci": [low, high], "round_cpu_ratios": [...], "p99_us": {"pgbench",
//! "loadtest"}, "tps": {"pgbench", "loadtest"}, "round_ratios": [...], "ops"}], ...}`, medians
//! as in the table, plus `rounds`, `ci`, `server_version` and `generated_utc` at the top.
//!
//! Knobs (environment): `VS_PGBENCH_MODES` (comma-separated query modes, default
//! `prepared,extended,simple`), `VS_PGBENCH_OPS` = calls per measurement of the hot workloads (default
//! 20000; rpc-spread gets 1.5×; rounded up to a multiple of the connections),
//! `VS_PGBENCH_ROUNDS` (default 3), `VS_PGBENCH_ONLY` (comma-separated workload names, default
//! all), `VS_PGBENCH_THREADS` = loadtest `--threads` (default: loadtest's default, one lane
//! per core), `VS_PGBENCH_WORKERS_PER_CONN` = loadtest `--workers` per
//! connection (default 4, loadtest's own default ratio of 256 workers on 64 connections: loadtest
//! pipelines up to 4 calls on each connection, which the protocol allows and pgbench does not do;
//! set it to 1 for one call in flight per connection, as pgbench has). Same connection count and
//! same calls either way; pipelining trades some per-call latency (p99) for throughput.
//!
//! Known differences that remain: pgbench's rpc-spread computes the user's uuid with md5() on the
//! server (pgbench has no uuid list), loadtest sends the uuid; pgbench's database is vacuumed and
//! its counters reset before each run, loadtest's is fresh each run; pgbench runs `-j 2` threads,
//! loadtest its default client threads (one lane per core, so 2 on a 2-core machine). Progress goes to stderr, the table
//! to stdout; the last two lines are `max CPU ratio loadtest/pgbench: X.XX` and
//! `min ratio loadtest/pgbench: X.XX`.

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

/// The query modes both tools share (pgbench `-M`, loadtest `--query-mode`).
const MODES: [&str; 3] = ["prepared", "extended", "simple"];
const BOOTSTRAP_RESAMPLES: usize = 10_000;
const BOOTSTRAP_SEED: u64 = 1;

/// splitmix64: a fixed, dependency-free generator, so the interval is reproducible.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Percentile bootstrap (95%) of the median of `v`, fixed seed; `[v, v]` for one value.
fn bootstrap_median_ci(v: &[f64]) -> [f64; 2] {
    if v.len() < 2 {
        let x = v.first().copied().unwrap_or(f64::NAN);
        return [x, x];
    }
    let mut state = BOOTSTRAP_SEED;
    let mut medians: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| {
            median(
                (0..v.len())
                    .map(|_| v[(splitmix64(&mut state) % v.len() as u64) as usize])
                    .collect(),
            )
        })
        .collect();
    medians.sort_by(f64::total_cmp);
    let at = |q: f64| medians[((q * (medians.len() - 1) as f64).round()) as usize];
    [at(0.025), at(0.975)]
}

struct Ctx {
    pgbench: PathBuf,
    loadtest: PathBuf,
    socket_dir: PathBuf,
    work: PathBuf,
}

impl Ctx {
    fn url(&self) -> String {
        format!(
            "host={} port=5432 user=postgres dbname=postgres",
            self.socket_dir.display()
        )
    }

    /// One pgbench run, and its whole-process CPU (connection set-up included).
    fn pgbench(
        &self,
        script: &Path,
        mode: &str,
        conns: u32,
        per_client: u64,
    ) -> (Sample, Duration) {
        let logs = self.work.join("pgblog");
        std::fs::create_dir_all(&logs).unwrap();
        let mut cmd = Command::new(&self.pgbench);
        cmd.args(["-n", "-M", mode, "-c", &conns.to_string(), "-j", "2"])
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
        let sample = Sample {
            tps,
            p99_us: percentile(&lat, 0.99),
            // Set once the row's set-up runs are all in.
            cpu_ms_per_1k: f64::NAN,
            lost_pct: None,
            note,
        };
        (sample, run.cpu)
    }

    /// One `loadtest run`; returns its report and its process CPU.
    fn loadtest(
        &self,
        scenario: &Path,
        mode: &str,
        conns: u32,
        workers_per_conn: u64,
        ops: u64,
    ) -> (serde_json::Value, ChildRun) {
        let reports = self.work.join("reports");
        std::fs::create_dir_all(&reports).unwrap();
        let workers = u64::from(conns) * workers_per_conn;
        let mut cmd = Command::new(&self.loadtest);
        cmd.arg("run")
            .arg(scenario)
            .args(["--ops", &ops.to_string()])
            .args(["--connections", &conns.to_string()])
            .args(["--workers", &workers.to_string()])
            .args(["--query-mode", mode]);
        // `VS_PGBENCH_THREADS`: loadtest's `--threads` (default: its own default).
        if let Ok(t) = std::env::var("VS_PGBENCH_THREADS") {
            cmd.args(["--threads", &t]);
        }
        cmd.arg("--quiet")
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
    let modes: Vec<&'static str> = match std::env::var("VS_PGBENCH_MODES") {
        Ok(v) if !v.trim().is_empty() => v
            .split(',')
            .map(|m| {
                let m = m.trim();
                MODES.into_iter().find(|&k| k == m).unwrap_or_else(|| {
                    panic!("VS_PGBENCH_MODES: unknown mode {m:?}, expected one of {MODES:?}")
                })
            })
            .collect(),
        _ => MODES.to_vec(),
    };
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
    };

    struct Row {
        kind: Kind,
        conns: u32,
        mode: &'static str,
        wpc: u64,
        ops: u64,
        pg: Vec<Sample>,
        lt: Vec<Sample>,
        /// loadtest's whole-process CPU of each measured run (set-up included).
        lt_cpu: Vec<Duration>,
        /// The CPU of each round's `--ops 1` run: the set-up alone.
        lt_setup_cpu: Vec<Duration>,
        /// pgbench's whole-process CPU of each measured run (connecting included).
        pg_cpu: Vec<Duration>,
        /// The CPU of each round's `-t 1` run: connecting and one call per client.
        pg_setup_cpu: Vec<Duration>,
    }
    impl Row {
        /// The median CPU of the row's loadtest set-up runs, ms.
        fn setup_cpu_ms(&self) -> f64 {
            median_ms(&self.lt_setup_cpu)
        }
        /// The median CPU of the row's pgbench set-up runs, ms.
        fn pg_setup_cpu_ms(&self) -> f64 {
            median_ms(&self.pg_setup_cpu)
        }
    }
    fn median_ms(runs: &[Duration]) -> f64 {
        median(runs.iter().map(|d| d.as_secs_f64() * 1000.0).collect())
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
            // One call in flight per connection as an extra row where it is cheap and telling.
            let mut wpcs = vec![workers_per_conn];
            let extra = match kind {
                Kind::RpcHot => conns == 8,
                // Pipelining puts 4× the calls in flight on the hot row: more lock waiters on
                // the server, fewer calls/s (13.9k against 15.5k at w/c 1, 2026-12-07). The
                // w/c 1 row is the same load as pgbench's.
                Kind::RmwHot => conns == 64,
                Kind::RpcSpread => false,
            };
            if extra && workers_per_conn != 1 {
                wpcs.push(1);
            }
            for &wpc in &wpcs {
                for &mode in &modes {
                    let tag = format!("{} c={conns} {mode} w/c={wpc}", kind.name());
                    let mut row = Row {
                        kind,
                        conns,
                        mode,
                        wpc,
                        ops,
                        pg: Vec::new(),
                        lt: Vec::new(),
                        lt_cpu: Vec::new(),
                        lt_setup_cpu: Vec::new(),
                        pg_cpu: Vec::new(),
                        pg_setup_cpu: Vec::new(),
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
                        // pgbench's fixed cost (starting, connecting `conns` clients), measured
                        // the same way as loadtest's below, so both CPU columns are the load's
                        // own cost per call.
                        let (_, pg_base) = ctx.pgbench(&script, mode, conns, 1);
                        row.pg_setup_cpu.push(pg_base);
                        let (pg, pg_run) = ctx.pgbench(&script, mode, conns, per_client);
                        row.pg_cpu.push(pg_run);
                        // loadtest's fixed cost (create database, compat, migrations, seed, pool
                        // warm-up, the query-mode probe), measured in every round: the median
                        // of the row's set-up runs is subtracted from each measured run.
                        let (_, base) = ctx.loadtest(&scenario, mode, conns, wpc, 1);
                        row.lt_setup_cpu.push(base.cpu);
                        let (report, run) = ctx.loadtest(&scenario, mode, conns, wpc, ops);
                        row.lt_cpu.push(run.cpu);
                        let path = &report["paths"][0];
                        let ops_ok = num(&path["ops_ok"]);
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
                        let reported_mode = &report["settings"]["query_mode"];
                        if reported_mode.as_str() != Some(mode) {
                            notes.push(format!(
                                "{tag} round {round}: loadtest reports query_mode {reported_mode}"
                            ));
                        }
                        let lt = Sample {
                            tps: num(&path["throughput_ops_s"]),
                            p99_us: num(&path["latency_us"]["p99"]),
                            // Set once the row's set-up runs are all in (below).
                            cpu_ms_per_1k: f64::NAN,
                            lost_pct: (kind == Kind::RmwHot)
                                .then(|| num(&path["lost_updates"]) / ops_ok * 100.0),
                            note,
                        };
                        eprintln!(
                            "{tag} round {round}/{rounds}: pgbench {:.0} tps p99 {:.0} µs, \
                             loadtest {:.0} ops/s p99 {:.0} µs ({:.2} s wall){}",
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
                            notes.push(format!("{tag} round {round}: {n}"));
                        }
                        row.pg.push(pg);
                        row.lt.push(lt);
                    }
                    let setup = row.setup_cpu_ms();
                    for (lt, cpu) in row.lt.iter_mut().zip(&row.lt_cpu) {
                        let load_ms = cpu.as_secs_f64() * 1000.0 - setup;
                        lt.cpu_ms_per_1k = load_ms / (ops as f64 / 1000.0);
                    }
                    let pg_setup = row.pg_setup_cpu_ms();
                    for (pg, cpu) in row.pg.iter_mut().zip(&row.pg_cpu) {
                        let load_ms = cpu.as_secs_f64() * 1000.0 - pg_setup;
                        pg.cpu_ms_per_1k = load_ms / (ops as f64 / 1000.0);
                    }
                    eprintln!(
                        "{tag}: set-up CPU, median of {rounds}: loadtest --ops 1 {setup:.0} ms, \
                         pgbench -t 1 {pg_setup:.0} ms"
                    );
                    rows.push(row);
                }
            }
        }
    }

    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let generated = chrono::Utc::now().format("%Y-%m-%d %H:%M").to_string();
    let mut out = String::new();
    writeln!(
        out,
        "loadtest vs pgbench — {generated} UTC, nproc {nproc}, PostgreSQL {server_version} (scratch cluster, unix socket, fsync off)"
    )
    .unwrap();
    writeln!(
        out,
        "medians of {rounds} alternating rounds; w/c = loadtest --workers per connection; \
         ratio = median of per-round loadtest/pgbench TPS, CI = 95% percentile bootstrap of it \
         (fixed seed; = min–max of the rounds at 3 rounds); \
         CPU = client process user+sys per 1000 calls, minus the median of the tool's set-up \
         runs (loadtest --ops 1, pgbench -t 1; one each per round); CPU ratio = median of per-round loadtest/pgbench \
         CPU, with the same CI"
    )
    .unwrap();
    writeln!(out).unwrap();
    let header = |out: &mut String, cols: [&str; 15]| {
        writeln!(
            out,
            "{:<11} {:>5} {:<8} {:>3} {:>6} {:>11} {:>12} {:>6} {:>11} {:>11} {:>12} {:>11} {:>12} {:>16} {:>7}",
            cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8],
            cols[9], cols[10], cols[11], cols[12], cols[13], cols[14]
        )
        .unwrap();
    };
    header(
        &mut out,
        [
            "workload",
            "conns",
            "mode",
            "w/c",
            "ops",
            "pgbench TPS",
            "loadtest TPS",
            "ratio",
            "ratio 95%CI",
            "pgbench p99",
            "loadtest p99",
            "pgbench CPU",
            "loadtest CPU",
            "CPU ratio 95%CI",
            "lost %",
        ],
    );
    header(
        &mut out,
        [
            "", "", "", "", "", "", "", "", "", "µs", "µs", "ms/1k", "ms/1k", "lt/pg", "",
        ],
    );
    let mut min_ratio = f64::INFINITY;
    let mut max_cpu_ratio = f64::NEG_INFINITY;
    let mut json_rows = Vec::new();
    for r in &rows {
        let med = |v: &[Sample], f: fn(&Sample) -> f64| median(v.iter().map(f).collect());
        let pg_tps = med(&r.pg, |s| s.tps);
        let lt_tps = med(&r.lt, |s| s.tps);
        let round_ratios: Vec<f64> = r.pg.iter().zip(&r.lt).map(|(p, l)| l.tps / p.tps).collect();
        let ratio = median(round_ratios.clone());
        let ci = bootstrap_median_ci(&round_ratios);
        min_ratio = min_ratio.min(ratio);
        let lost_pct =
            (r.kind == Kind::RmwHot).then(|| med(&r.lt, |s| s.lost_pct.unwrap_or(f64::NAN)));
        let lost = lost_pct.map_or_else(|| "-".into(), |p| format!("{p:.1}"));
        let (pg_p99, lt_p99) = (med(&r.pg, |s| s.p99_us), med(&r.lt, |s| s.p99_us));
        let (pg_cpu, lt_cpu) = (
            med(&r.pg, |s| s.cpu_ms_per_1k),
            med(&r.lt, |s| s.cpu_ms_per_1k),
        );
        // Paired like the TPS ratio: round i's loadtest CPU per call over pgbench's.
        let round_cpu_ratios: Vec<f64> =
            r.pg.iter()
                .zip(&r.lt)
                .map(|(p, l)| l.cpu_ms_per_1k / p.cpu_ms_per_1k)
                .collect();
        let cpu_ratio = median(round_cpu_ratios.clone());
        let cpu_ci = bootstrap_median_ci(&round_cpu_ratios);
        max_cpu_ratio = max_cpu_ratio.max(cpu_ratio);
        writeln!(
            out,
            "{:<11} {:>5} {:<8} {:>3} {:>6} {:>11.0} {:>12.0} {:>6.2} {:>11} {:>11.0} {:>12.0} {:>11.1} {:>12.1} {:>16} {:>7}",
            r.kind.name(),
            r.conns,
            r.mode,
            r.wpc,
            r.ops,
            pg_tps,
            lt_tps,
            ratio,
            format!("{:.2}–{:.2}", ci[0], ci[1]),
            pg_p99,
            lt_p99,
            pg_cpu,
            lt_cpu,
            format!("{cpu_ratio:.2} {:.2}–{:.2}", cpu_ci[0], cpu_ci[1]),
            lost
        )
        .unwrap();
        json_rows.push(serde_json::json!({
            "workload": r.kind.name(),
            "connections": r.conns,
            "query_mode": r.mode,
            "workers_per_connection": r.wpc,
            "ops": r.ops,
            "ratio": ratio,
            "ratio_ci": ci,
            "round_ratios": round_ratios,
            "tps": {"pgbench": pg_tps, "loadtest": lt_tps},
            "cpu_ms_per_1k": {"pgbench": pg_cpu, "loadtest": lt_cpu},
            "cpu_ratio": cpu_ratio,
            "cpu_ratio_ci": cpu_ci,
            "round_cpu_ratios": round_cpu_ratios,
            "p99_us": {"pgbench": pg_p99, "loadtest": lt_p99},
            "lost_pct": lost_pct,
            "loadtest_setup_cpu_ms": r.setup_cpu_ms(),
            "pgbench_setup_cpu_ms": r.pg_setup_cpu_ms(),
        }));
    }
    writeln!(out).unwrap();
    writeln!(
        out,
        "set-up CPU subtracted (ms, median of the row's set-up runs, one per round; loadtest \
         --ops 1 / pgbench -t 1): {}",
        rows.iter()
            .map(|r| format!(
                "{} c={} {} w/c={} {:.0}/{:.0}",
                r.kind.name(),
                r.conns,
                r.mode,
                r.wpc,
                r.setup_cpu_ms(),
                r.pg_setup_cpu_ms()
            ))
            .collect::<Vec<_>>()
            .join(", ")
    )
    .unwrap();
    for n in &notes {
        writeln!(out, "note: {n}").unwrap();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let json_path = target.join("vs_pgbench.json");
    let doc = serde_json::json!({
        "generated_utc": generated,
        "server_version": server_version,
        "nproc": nproc,
        "rounds": rounds,
        "ci": format!(
            "95% percentile bootstrap of the median of the per-round ratios, \
             {BOOTSTRAP_RESAMPLES} resamples, splitmix64 seed {BOOTSTRAP_SEED}"
        ),
        "notes": notes,
        "rows": json_rows,
    });
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(
        &json_path,
        serde_json::to_string_pretty(&doc).unwrap() + "\n",
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", json_path.display()));
    eprintln!("vs_pgbench: wrote {}", json_path.display());
    writeln!(out, "wall time {:.0} s", began.elapsed().as_secs_f64()).unwrap();
    writeln!(out, "max CPU ratio loadtest/pgbench: {max_cpu_ratio:.2}").unwrap();
    write!(out, "min ratio loadtest/pgbench: {min_ratio:.2}").unwrap();
    println!("{out}");

    drop(client);
    drop(rt);
    drop(work);
    drop(cluster);
}
