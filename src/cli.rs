//! The command line, as clap derive structs only: doc comments are the help text. Nothing past
//! `plan` sees these types.

use crate::faults::FaultPlan;
use crate::race::plan as race_plan;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d =
        humantime::parse_duration(s).map_err(|e| format!("{e} (expected e.g. 30s, 2m, 500ms)"))?;
    if d.is_zero() {
        return Err("must be longer than 0s".into());
    }
    Ok(d)
}

fn parse_scale(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 1000.0 => Ok(v),
        _ => Err(format!(
            "'{s}' is not a scale: expected a number in (0, 1000], e.g. 0.1 or 2"
        )),
    }
}

/// A whole number in `lo..=hi`, with the range in the message. The flags that take one also
/// allow negative numbers, so `--ops -5` is this error about `--ops` rather than clap's
/// "unexpected argument '-5'".
fn whole(s: &str, lo: u64, hi: u64) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(format!("expected a whole number from {lo} to {hi}")),
    }
}

fn parse_ops(s: &str) -> Result<u64, String> {
    whole(s, 1, 1_000_000_000)
}

fn parse_workers(s: &str) -> Result<u64, String> {
    whole(s, 1, 100_000)
}

fn parse_connections(s: &str) -> Result<u64, String> {
    whole(s, 1, 5_000)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let n = s.trim().trim_end_matches("/s");
    match n.parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 10_000_000.0 => Ok(r),
        _ => Err(format!(
            "'{s}' is not a rate: expected calls per second, e.g. 5000 or 5000/s"
        )),
    }
}

/// Proves, with numbers, that a PostgreSQL (Supabase-style) schema change fixed what it claims:
/// atomic RPCs lose no update under concurrency, the old read-modify-write does.
///
/// Exit codes: 0 every expectation held, 1 a correctness expectation failed, 2 bad usage or
/// input file, 3 environment or database failure, 130/143 interrupted.
#[derive(Debug, Parser)]
#[command(name = "loadtest", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Client threads ("lanes", as pgbench's -j): each drives its share of the connections and
    /// the workers calling on them [default: one per core].
    #[arg(long, global = true, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub threads: Option<u64>,

    /// No progress bar or per-step lines on stderr (results and errors still print); any
    /// command takes it.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

impl Cli {
    /// Hands the global `--quiet` to the subcommand's output settings.
    pub fn spread_quiet(&mut self) {
        match &mut self.command {
            Command::Run(a) | Command::Prepare(a) => a.output.quiet = self.quiet,
            Command::Verify(a) => a.output.quiet = self.quiet,
            Command::Nightly(a) => a.output.quiet = self.quiet,
            Command::Migrate(_) | Command::List | Command::Report(_) => {}
        }
    }

    /// Client threads (lanes) of a load. One per core, so that a client-bound load can use
    /// every core; on a 2-core machine two lanes cost less CPU per call than one with one call
    /// in flight per connection and more with many (README, "Against pgbench").
    pub fn client_threads(&self) -> usize {
        match self.threads {
            Some(n) => n as usize,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario on a scratch database and check every acknowledged update landed.
    Run(RunArgs),
    /// Sharded runs: create the run's database on --database-url, build and seed it, record
    /// the run's settings (--ops is the total over all shards; --workers and --connections are
    /// per shard), and print the run id (the last line of stdout) for `run --shard`.
    Prepare(RunArgs),
    /// Sharded runs: merge every shard's partial report exactly, judge the run once, write the
    /// reports and drop the run's database (unless --keep).
    Verify(VerifyArgs),
    /// Apply a migrations folder to a scratch database: does it apply? One line per file.
    Migrate(MigrateArgs),
    /// List the scenarios `loadtest run NAME` knows.
    List,
    /// Run every scenario (or a suite), write one combined report, compare it with the baseline.
    /// Exit 1 when a metric regresses, an expectation newly fails or a run fails.
    Nightly(NightlyArgs),
    /// Work with saved reports: compare two runs, or render one again.
    #[command(subcommand)]
    Report(ReportCommand),
}

#[derive(Debug, Args)]
pub struct NightlyArgs {
    /// The combined report to compare with (written by --update-baseline).
    #[arg(long, default_value = "reports/baseline.json")]
    pub baseline: PathBuf,

    /// Replace the baseline with this run's combined report.
    #[arg(long)]
    pub update_baseline: bool,

    /// A file listing the scenarios to run, one name or .toml path per line (# comments);
    /// default: every scenario `loadtest list` shows.
    #[arg(long, value_name = "FILE")]
    pub suite: Option<PathBuf>,

    /// Calls per path of every scenario.
    #[arg(long, default_value_t = race_plan::DEFAULT_OPS, allow_negative_numbers = true, value_parser = parse_ops)]
    pub ops: u64,

    /// Smallest slowdown that counts, e.g. 10%.
    #[arg(long, default_value = "10%", value_parser = parse_fraction)]
    pub threshold: f64,

    /// Run every scenario this many times; the comparison pools the runs, so a run that is
    /// fast or slow as a whole (common on a busy machine) is seen as noise.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,

    /// Data scale of the index benchmarks in the suite (1 = about 3 million rows).
    #[arg(long, default_value_t = 1.0, value_parser = parse_scale)]
    pub scale: f64,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub migrations: MigrationArgs,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Compare two runs metric by metric. Exit 4 when throughput or p50 latency regresses beyond the
    /// threshold (outside both runs' own spread), 1 when a correctness expectation that held in
    /// BASE fails in NEW, 0 otherwise.
    Compare {
        base: PathBuf,
        new: PathBuf,
        /// Smallest slowdown that counts, e.g. 10% or 0.1.
        #[arg(long, default_value = "10%", value_parser = parse_fraction)]
        threshold: f64,
        /// Compare even runs with different settings, schema or server version.
        #[arg(long)]
        force: bool,
        /// md: a Markdown table; html: a self-contained page; json: the rows for tools.
        #[arg(long, value_enum, default_value_t = RenderFormat::Md)]
        format: RenderFormat,
    },
    /// Print a saved run again (from its JSON, the source of truth).
    Render {
        run: PathBuf,
        #[arg(long, value_enum, default_value_t = RenderFormat::Md)]
        format: RenderFormat,
    },
}

/// `--strategy`: the names of `scenario::Strategy`, which plan maps them to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// Two statements, no transaction, no lock: the app's old code.
    None,
    /// BEGIN ISOLATION LEVEL READ COMMITTED; read; write; COMMIT.
    ReadCommitted,
    /// BEGIN ISOLATION LEVEL REPEATABLE READ; read; write; COMMIT.
    RepeatableRead,
    /// BEGIN ISOLATION LEVEL SERIALIZABLE; read; write; COMMIT.
    Serializable,
    /// BEGIN; read ... FOR UPDATE; write; COMMIT.
    ForUpdate,
}

/// `--query-mode`: the names of `race::plan::QueryMode`, which plan maps them to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QueryModeArg {
    /// Named prepared statements, prepared once per connection (pgbench -M prepared).
    Prepared,
    /// The unnamed statement with typed parameters, on every call (pgbench -M extended).
    Extended,
    /// The simple query protocol, values as quoted literals (pgbench -M simple).
    Simple,
}

/// `--client`: how calls reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientArg {
    /// A worker that has a connection to itself speaks the protocol on its socket (plaintext
    /// connections, one or two autocommit statements a call); tokio-postgres otherwise.
    Socket,
    /// Always through tokio-postgres (to compare, or to rule loadtest's own protocol code out).
    Driver,
}

/// `--as`: who an index benchmark's timed queries run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AsArg {
    /// The connecting role, the tables' owner: RLS does not apply.
    Owner,
    /// `authenticated` with one seeded user's claims: every policy applies.
    Authenticated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderFormat {
    Md,
    Html,
    Json,
}

/// `--faults`: the spec's own parser says which part is wrong.
fn parse_faults(s: &str) -> Result<FaultPlan, String> {
    s.parse()
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    };
    match v {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "'{s}' is not a threshold: expected a percentage below 100%, e.g. 10%"
        )),
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A scenario name (./scenarios/NAME.toml, else built in) or a path to a .toml file.
    pub scenario: String,

    /// Calls per path [default: 20000].
    #[arg(long, allow_negative_numbers = true, value_parser = parse_ops, conflicts_with = "duration")]
    pub ops: Option<u64>,

    /// Run each path for this long instead of a number of calls (e.g. 30s, 2m).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<std::time::Duration>,

    /// Open model: start calls at this fixed rate (per second, e.g. 5000 or 5000/s) whatever
    /// the server does; latency counts from when each call was due. Default: closed model.
    #[arg(long, allow_negative_numbers = true, value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// How read-modify-write paths run: as written (none), in a transaction at an isolation
    /// level, or locking the row with SELECT ... FOR UPDATE.
    #[arg(long, value_enum, default_value_t = StrategyArg::None)]
    pub strategy: StrategyArg,

    /// Run every read-modify-write path under every strategy and print one table.
    #[arg(long, conflicts_with_all = ["strategy", "mixed"])]
    pub matrix: bool,

    /// Retry a transaction up to N times after a serialization failure (40001) or deadlock (40P01).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub retry: u32,

    /// How calls go over the wire: named prepared statements reused per connection (prepared),
    /// the unnamed statement parsed on every call (extended), or literals in the simple query
    /// protocol (simple). Through a transaction-mode pooler (PgBouncer, Supavisor on 6543), use
    /// extended or simple.
    #[arg(long, value_enum, default_value_t = QueryModeArg::Prepared)]
    pub query_mode: QueryModeArg,

    /// How calls reach the server: on each worker's own socket where it has a connection to
    /// itself (socket), or always through the tokio-postgres driver (driver). Each path's
    /// report says which it was (`client`).
    #[arg(long, value_enum, default_value_t = ClientArg::Socket)]
    pub client: ClientArg,

    /// Run all paths at once on the same rows (a half-upgraded fleet) and attribute every lost
    /// increment to its path.
    #[arg(long)]
    pub mixed: bool,

    /// Inject faults during the load, e.g. kill:200ms,cancel:500ms,timeout:50ms,cut:300ms,
    /// restart:once (restart: scratch cluster only). Calls then end ok, failed or
    /// indeterminate, and the oracle checks the bounds those give.
    #[arg(long, value_name = "SPEC", value_parser = parse_faults)]
    pub faults: Option<FaultPlan>,

    /// Record every call's id in a ledger table in the same transaction, so each indeterminate
    /// call is resolved exactly after the run (committed or not).
    #[arg(long)]
    pub ledger: bool,

    /// Concurrent in-flight calls; for an index benchmark, the concurrent clients of its
    /// throughput phase [default: 256; index benchmarks: 4].
    #[arg(long, allow_negative_numbers = true, value_parser = parse_workers)]
    pub workers: Option<u64>,

    /// Index benchmarks: multiply every table's row count (1 = about 3 million rows).
    #[arg(long, value_parser = parse_scale)]
    pub scale: Option<f64>,

    /// Index benchmarks: A/A calibration. Time the migrated state twice, interleaved, with no
    /// change between: every speedup interval should contain 1.
    #[arg(long)]
    pub aa: bool,

    /// Index benchmarks: run every timed query as this API role, as Supabase's API does (in a
    /// transaction, SET LOCAL ROLE authenticated with a user's JWT claims), so the policies
    /// apply and their price is measured; `owner` (the default) bypasses RLS.
    #[arg(long = "as", value_enum, default_value_t = AsArg::Owner, value_name = "ROLE")]
    pub as_role: AsArg,

    /// Database connections in the pool (the workers share them).
    #[arg(long, default_value_t = race_plan::DEFAULT_CONNECTIONS as u64, allow_negative_numbers = true, value_parser = parse_connections)]
    pub connections: u64,

    /// Seed for keys and deltas: the same seed and workers draw the same calls.
    #[arg(long, default_value_t = race_plan::DEFAULT_SEED)]
    pub seed: u64,

    /// Roll out under live load: migrate up to the migration before VERSION, start the load,
    /// apply VERSION and every later migration while it runs, and report what each statement
    /// cost the load (race and rollout scenarios; a rollout scenario names its default).
    #[arg(long, value_name = "VERSION")]
    pub rollout: Option<String>,

    /// With --rollout: keep the load going this long after the last migration [default: 5s].
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub settle: Option<std::time::Duration>,

    /// Sharded runs: run shard I of N of the prepared run --run-id (settings from its
    /// manifest); writes a partial report to --report-dir for `verify`.
    #[arg(long, value_name = "I/N", requires = "run_id")]
    pub shard: Option<crate::shard::ShardId>,

    /// Sharded runs: the run id `prepare` printed (with `run --shard`), or the id `prepare`
    /// gives the run (default: a random one).
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub migrations: MigrationArgs,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// `loadtest verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The run id `prepare` printed.
    #[arg(long, value_name = "ID", required = true)]
    pub run_id: String,
    /// Every shard's partial report (the JSON files `run --shard` wrote), each shard once.
    #[arg(value_name = "PARTIAL", required = true)]
    pub partials: Vec<PathBuf>,
    /// Judge even with shards missing: the run is then reported incomplete (exit 1), never
    /// passing.
    #[arg(long)]
    pub allow_missing: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub migrations: MigrationArgs,

    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// Where results go and how much is said on the way.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Folder for the reports (JSON, Markdown, HTML).
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,

    /// Set from the global `--quiet`.
    #[arg(skip)]
    pub quiet: bool,
}

/// Which schema to build.
#[derive(Debug, Args)]
pub struct MigrationArgs {
    /// Migrations folder (<version>_<name>.sql files, e.g. a project's supabase/migrations);
    /// default: the app schema built into loadtest.
    #[arg(long, value_name = "DIR")]
    pub migrations: Option<PathBuf>,

    /// Stop after this migration version (the "before" state).
    #[arg(long, value_name = "VERSION")]
    pub until: Option<String>,

    /// What to provide before the migrations: Supabase's roles, auth, storage and extensions
    /// schemas, or nothing.
    #[arg(long, value_enum, default_value_t = CompatArg::Supabase)]
    pub compat: CompatArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompatArg {
    Supabase,
    None,
}

/// Where the scratch database lives.
#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// Use this server instead of a private scratch cluster: loadtest creates a database
    /// loadtest_<run id> there, works only in it and drops it at the end.
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Keep the scratch cluster (or database) and print how to connect with psql.
    #[arg(long)]
    pub keep: bool,

    /// When loadtest runs as root, run the scratch server as this system user.
    #[arg(long, default_value = "postgres", value_name = "NAME")]
    pub pg_user: String,

    /// Folder holding initdb and postgres (default: PATH, pg_config, /usr/lib/postgresql/*/bin).
    #[arg(long, value_name = "DIR")]
    pub pg_bindir: Option<PathBuf>,
}
