//! loadtest: proves, with numbers, that a PostgreSQL (Supabase-style) schema change fixed what
//! it claims — atomic RPCs lose no update under concurrency, the old read-modify-write does.
//!
//! `main` parses the command line and calls [`run`]; tests call it in process too.

pub mod bench;
pub mod cli;
pub mod commands;
pub mod error;
pub mod faults;
pub mod isolation;
pub mod pg;
pub mod plan;
pub mod progress;
pub mod race;
pub mod report;
pub mod rollout;
pub mod scenario;
pub mod shard;
pub mod stats;
pub mod stop;

/// The migrations and scenarios compiled in by build.rs.
mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
}

pub use error::{Error, Result, Signal};
pub use stop::Stop;

/// Runs one command line; returns the exit code, or an error whose `exit_code` to use.
pub async fn run(cli: cli::Cli, command_line: String, stop: Stop) -> Result<u8> {
    match plan::Plan::resolve(cli, command_line)? {
        plan::Plan::List => Ok(commands::list::list()),
        plan::Plan::Migrate(p) => commands::migrate::migrate(p, stop).await,
        plan::Plan::Run(p) => commands::run::run(*p, stop).await,
        plan::Plan::Prepare(p) => commands::prepare::prepare(*p, stop).await,
        plan::Plan::Shard(p) => commands::run::shard(*p, stop).await,
        plan::Plan::Verify(p) => commands::verify::verify(p, stop).await,
        plan::Plan::Bench(p) => commands::run::bench(*p, stop).await,
        plan::Plan::Isolation(p) => commands::run::isolation(*p, stop).await,
        plan::Plan::Rollout(p) => commands::run::rollout(*p, stop).await,
        plan::Plan::Report(c) => commands::report::report(c),
        plan::Plan::Nightly(p) => commands::nightly::nightly(p, stop).await,
    }
}

/// The command line as typed, with the value of `--database-url` redacted.
pub fn redacted_command_line(args: impl IntoIterator<Item = String>) -> String {
    let mut out = Vec::new();
    let mut next_is_url = false;
    for a in args {
        if next_is_url {
            out.push(pg::target::redact_url(&a));
            next_is_url = false;
        } else if let Some(v) = a.strip_prefix("--database-url=") {
            out.push(format!("--database-url={}", pg::target::redact_url(v)));
        } else {
            next_is_url = a == "--database-url";
            out.push(a);
        }
    }
    out.join(" ")
}
