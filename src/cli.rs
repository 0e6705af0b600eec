//! The command line, as clap derive structs only: doc comments are the help text. Nothing past
//! `plan` sees these types.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

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
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario on a scratch database and check every acknowledged update landed.
    Run(RunArgs),
    /// Apply a migrations folder to a scratch database: does it apply? One line per file.
    Migrate(MigrateArgs),
    /// List the scenarios `loadtest run NAME` knows.
    List,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A scenario name (./scenarios/NAME.toml, else built in) or a path to a .toml file.
    pub scenario: String,

    /// Calls per path.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub ops: u64,

    /// Concurrent in-flight calls.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub workers: u64,

    /// Database connections in the pool (the workers share them).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=5_000))]
    pub connections: u64,

    /// Seed for keys and deltas: the same seed and workers draw the same calls.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Folder for the JSON and Markdown reports.
    #[arg(long, default_value = "reports")]
    pub report_dir: PathBuf,

    /// No progress bar or per-migration lines on stderr.
    #[arg(long, short)]
    pub quiet: bool,

    #[command(flatten)]
    pub migrations: MigrationArgs,

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
