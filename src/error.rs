//! The one error type that crosses module boundaries, and the exit code each kind of failure maps to.
//!
//! Modules keep their own typed errors (migrations, scenarios, clusters); they all convert into
//! [`Error`], whose variants are grouped by *who has to act*: the user fixing input (exit 2), the
//! environment or database (exit 3), or an interruption (130/143). `main` prints the message as one
//! line and returns the code; nothing here ever exits the process.

use std::path::PathBuf;

/// Exit codes, as documented in the README.
pub mod exit {
    /// Every expectation held.
    pub const OK: u8 = 0;
    /// A correctness expectation failed.
    pub const EXPECTATION_FAILED: u8 = 1;
    /// Bad usage or a bad input file.
    pub const USAGE: u8 = 2;
    /// Environment or database failure.
    pub const ENVIRONMENT: u8 = 3;
    /// Reserved for a performance regression found by `report compare`.
    pub const REGRESSION: u8 = 4;
    /// Interrupted by SIGINT (128 + 2).
    pub const SIGINT: u8 = 130;
    /// Interrupted by SIGTERM (128 + 15).
    pub const SIGTERM: u8 = 143;
}

/// Which signal stopped the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A flag, scenario file or migrations folder is wrong: the user fixes their input.
    #[error("{0}")]
    Input(String),
    /// An input file could not be read.
    #[error("{}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A migration file failed or was refused: the user fixes the migration.
    #[error(transparent)]
    Migration(#[from] crate::pg::migrate::MigrateError),
    /// PostgreSQL is missing, would not start, or the machine refused something.
    #[error("{0}")]
    Environment(String),
    /// The database failed while loadtest was talking to it.
    #[error("{context}: {}", crate::pg::describe(source))]
    Database {
        context: String,
        source: tokio_postgres::Error,
    },
    /// A report could not be written.
    #[error("cannot write {}: {source}", path.display())]
    WriteFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// SIGINT or SIGTERM arrived; everything was cleaned up.
    #[error("interrupted; the scratch database was cleaned up")]
    Interrupted(Signal),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Input(_) | Error::ReadFile { .. } => exit::USAGE,
            Error::Migration(e) if e.is_input_error() => exit::USAGE,
            Error::Migration(_) => exit::ENVIRONMENT,
            Error::Environment(_) | Error::Database { .. } | Error::WriteFile { .. } => {
                exit::ENVIRONMENT
            }
            Error::Interrupted(Signal::Interrupt) => exit::SIGINT,
            Error::Interrupted(Signal::Terminate) => exit::SIGTERM,
        }
    }

    /// Wraps a database error with what loadtest was doing.
    pub fn db(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> Error {
        let context = context.into();
        move |source| Error::Database { context, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
