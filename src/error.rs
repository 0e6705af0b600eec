//! The one error type that crosses module boundaries, and the exit code each kind of failure maps to.
//!
//! Modules keep their own typed errors (scenarios, migrations, binaries, clusters, the
//! compatibility layer); they all convert into [`Error`], whose variants are grouped by *who has
//! to act*: the user fixing input (exit 2), the environment or database (exit 3), or an
//! interruption (130/143). `exit_code` decides by variant, never by where the error was raised.
//! `main` prints the message as one line and returns the code; nothing here ever exits the process.

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

impl Signal {
    /// "SIGINT" or "SIGTERM".
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
        }
    }
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
    /// A scenario file is wrong at a line and column: the user fixes the file.
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
    /// A migration file failed or was refused: the user fixes the migration.
    #[error(transparent)]
    Migration(#[from] crate::pg::migrate::MigrateError),
    /// No PostgreSQL server binaries: a wrong `--pg-bindir` (input) or none installed.
    #[error(transparent)]
    Binaries(#[from] crate::pg::binaries::BinariesError),
    /// Running as root with no system user to run the server as.
    #[error(transparent)]
    RunAs(#[from] crate::pg::cluster::RunAsError),
    /// The scratch cluster could not be prepared or would not start.
    #[error(transparent)]
    Cluster(#[from] crate::pg::cluster::ClusterError),
    /// The connecting role lacks a right an external run needs (CREATEDB).
    #[error(transparent)]
    Rights(#[from] crate::pg::rights::NoCreateDb),
    /// The Supabase compatibility layer failed in the database.
    #[error(transparent)]
    Compat(#[from] crate::pg::compat::CompatError),
    /// PostgreSQL is missing, would not start, or the machine refused something.
    #[error("{0}")]
    Environment(String),
    /// The database failed while loadtest was talking to it.
    #[error("{context}: {}", crate::pg::describe(source))]
    Database {
        context: String,
        source: tokio_postgres::Error,
    },
    /// A report could not be written (what was half written is removed).
    #[error("cannot write {}: {source}{}", path.display(), write_fix(source))]
    WriteFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// SIGINT or SIGTERM arrived; everything was cleaned up.
    #[error("interrupted; the scratch database was cleaned up")]
    Interrupted(Signal),
}

/// What would let a report be written, by the kind of the write error.
fn write_fix(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => {
            "; nothing was kept: free space there, or pass --report-dir on a disk with room"
        }
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
            "; pass a --report-dir loadtest may write to"
        }
        _ => "",
    }
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Input(_) | Error::ReadFile { .. } | Error::Scenario(_) => exit::USAGE,
            Error::Migration(e) if e.is_input_error() => exit::USAGE,
            Error::Migration(_) => exit::ENVIRONMENT,
            Error::Binaries(e) if e.is_input_error() => exit::USAGE,
            Error::Binaries(_) => exit::ENVIRONMENT,
            Error::RunAs(_)
            | Error::Cluster(_)
            | Error::Compat(_)
            | Error::Rights(_)
            | Error::Environment(_)
            | Error::Database { .. }
            | Error::WriteFile { .. } => exit::ENVIRONMENT,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::binaries::{BinariesError, INSTALL_HINT};
    use crate::pg::cluster::{ClusterError, RunAsError};
    use crate::pg::compat::CompatError;
    use crate::scenario::ScenarioError;

    #[test]
    fn a_scenario_error_is_bad_input_and_keeps_its_location() {
        let e = Error::from(ScenarioError {
            origin: "bad.toml".into(),
            line: 1,
            col: 6,
            message: "key with no value, expected `=`".into(),
        });
        assert_eq!(e.exit_code(), exit::USAGE);
        assert_eq!(
            e.to_string(),
            "bad.toml:1:6: key with no value, expected `=`"
        );
    }

    #[test]
    fn a_wrong_pg_bindir_is_bad_input_naming_the_flag_and_folder() {
        let e = Error::from(BinariesError::NotInBindir {
            dir: PathBuf::from("/no/such/dir"),
        });
        assert_eq!(e.exit_code(), exit::USAGE);
        let msg = e.to_string();
        assert!(
            msg.starts_with("--pg-bindir /no/such/dir: no initdb and postgres executables there"),
            "{msg}"
        );
    }

    #[test]
    fn no_binaries_anywhere_is_the_environment() {
        let e = Error::from(BinariesError::NotInstalled);
        assert_eq!(e.exit_code(), exit::ENVIRONMENT);
        assert_eq!(e.to_string(), INSTALL_HINT);
    }

    #[test]
    fn a_missing_system_user_is_the_environment() {
        let e = Error::from(RunAsError::NoSuchUser {
            user: "postgres".into(),
        });
        assert_eq!(e.exit_code(), exit::ENVIRONMENT);
        let e = Error::from(RunAsError::Lookup {
            user: "postgres".into(),
            source: nix::errno::Errno::EIO,
        });
        assert_eq!(e.exit_code(), exit::ENVIRONMENT);
        assert!(e.to_string().contains("'postgres'"), "{e}");
    }

    #[test]
    fn a_cluster_that_will_not_start_is_the_environment() {
        let e = Error::from(ClusterError::Start("postgres exited with 1".into()));
        assert_eq!(e.exit_code(), exit::ENVIRONMENT);
        assert_eq!(
            e.to_string(),
            "the scratch PostgreSQL server did not start: postgres exited with 1"
        );
    }

    #[test]
    fn a_failed_compat_layer_is_a_database_failure() {
        // tokio-postgres has no public constructor for its error; a bad connection string
        // yields one.
        let source = "postgres://[bad"
            .parse::<tokio_postgres::Config>()
            .unwrap_err();
        let e = Error::from(CompatError::Failed { source });
        assert_eq!(e.exit_code(), exit::ENVIRONMENT);
        let msg = e.to_string();
        assert!(
            msg.starts_with("the Supabase compatibility layer failed: "),
            "{msg}"
        );
        assert!(
            msg.ends_with("(pass --compat none for a plain PostgreSQL schema)"),
            "{msg}"
        );
    }

    #[test]
    fn a_role_without_createdb_is_an_environment_failure() {
        let e = Error::from(crate::pg::rights::NoCreateDb {
            role: "app".into(),
            server: "host=db".into(),
        });
        assert_eq!(e.exit_code(), exit::ENVIRONMENT);
        assert!(e.to_string().contains("`ALTER ROLE app CREATEDB`"));
    }
}
