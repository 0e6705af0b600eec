//! loadtest: proves, with numbers, that a PostgreSQL (Supabase-style) schema change fixed what
//! it claims — atomic RPCs lose no update under concurrency, the old read-modify-write does.
//!
//! `main` parses the command line and calls [`run`]; tests call it in process too.

pub mod app;
pub mod cli;
pub mod datagen;
pub mod engine;
pub mod error;
pub mod hlog;
pub mod index_bench;
pub mod loader;
pub mod oracle;
pub mod pg;
pub mod plan;
pub mod progress;
pub mod provenance;
pub mod querybench;
pub mod race;
pub mod report;
pub mod scenario;
pub mod stats;
pub mod workload;

/// The migrations and scenarios compiled in by build.rs.
mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
}

pub use error::{Error, Result, Signal};
use std::sync::{Arc, OnceLock};
use tokio_util::sync::CancellationToken;

/// How a run learns it must stop (SIGINT, SIGTERM), passed explicitly: no global state.
#[derive(Clone, Default)]
pub struct Stop {
    pub token: CancellationToken,
    signal: Arc<OnceLock<Signal>>,
}

impl Stop {
    /// Listens for SIGINT and SIGTERM on the current runtime.
    pub fn listen() -> std::io::Result<Stop> {
        use tokio::signal::unix::{SignalKind, signal};
        let stop = Stop::default();
        for (kind, which) in [
            (SignalKind::interrupt(), Signal::Interrupt),
            (SignalKind::terminate(), Signal::Terminate),
        ] {
            let mut stream = signal(kind)?;
            let s = stop.clone();
            tokio::spawn(async move {
                if stream.recv().await.is_some() {
                    s.trigger(which);
                }
            });
        }
        Ok(stop)
    }

    /// Asks the run to stop as if `which` had arrived.
    pub fn trigger(&self, which: Signal) {
        let _ = self.signal.set(which);
        self.token.cancel();
    }

    /// The error a stopped run returns.
    pub fn error(&self) -> Error {
        Error::Interrupted(self.signal.get().copied().unwrap_or(Signal::Interrupt))
    }

    /// Once stopped, any outcome becomes "interrupted": errors caused by the teardown (a
    /// connection closed under a query) are not the user's problem.
    pub fn check<T>(&self, r: Result<T>) -> Result<T> {
        if self.token.is_cancelled() {
            Err(self.error())
        } else {
            r
        }
    }

    /// `e`, or "interrupted" if the run was stopped.
    pub fn or(&self, e: Error) -> Error {
        if self.token.is_cancelled() {
            self.error()
        } else {
            e
        }
    }
}

/// Runs one command line; returns the exit code, or an error whose `exit_code` to use.
pub async fn run(cli: cli::Cli, command_line: String, stop: Stop) -> Result<u8> {
    match plan::Plan::resolve(cli, command_line)? {
        plan::Plan::List => Ok(app::list()),
        plan::Plan::Migrate(p) => app::migrate(p, stop).await,
        plan::Plan::Run(p) => app::run(*p, stop).await,
        plan::Plan::Bench(p) => app::bench(*p, stop).await,
        plan::Plan::Report(c) => app::report(c),
        plan::Plan::Nightly(p) => app::nightly(p, stop).await,
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
