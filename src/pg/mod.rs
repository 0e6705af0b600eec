//! Everything that talks to PostgreSQL as a server: finding its binaries, starting a scratch
//! cluster, using an external server (over TLS: `tls`), the migration runner and the Supabase
//! compatibility layer.
//!
//! The SQL of the race paths lives in `race::calls`; this module only provides databases to run it on.

pub mod actor;
pub mod binaries;
pub mod cluster;
pub mod compat;
pub mod libpq;
pub mod lint;
pub mod migrate;
pub mod provenance;
pub mod rights;
pub mod schema;
pub mod server;
pub mod split;
pub mod target;
pub mod template;
pub mod tls;
pub mod wire;

use tokio_postgres::error::SqlState;

/// Serialization failure (40001): a transaction that may simply be tried again.
pub const SERIALIZATION_FAILURE: SqlState = SqlState::T_R_SERIALIZATION_FAILURE;
/// Deadlock detected (40P01): a transaction that may simply be tried again.
pub const DEADLOCK: SqlState = SqlState::T_R_DEADLOCK_DETECTED;
/// The SQLSTATEs after which a transaction may simply be tried again (`--retry`).
pub const RETRYABLE: [SqlState; 2] = [SERIALIZATION_FAILURE, DEADLOCK];

/// One line describing a database error: SQLSTATE and server message when the server sent one,
/// the driver's own text otherwise (connection refused, closed, ...). Never a Debug dump.
pub fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(hint) = db.hint() {
                s.push_str("; hint: ");
                s.push_str(hint);
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                src = inner.source();
            }
            s
        }
    }
}

/// Quotes an SQL identifier (table or column name from a scenario file).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Where and how to connect: the driver's settings and the run's TLS connector, decided once
/// (from `--database-url`, or plaintext for the scratch cluster's unix socket).
#[derive(Clone)]
pub struct Endpoint {
    pub config: tokio_postgres::Config,
    pub tls: tls::Connector,
}

impl Endpoint {
    /// A connection without TLS.
    pub fn plaintext(config: tokio_postgres::Config) -> Endpoint {
        Endpoint {
            config,
            tls: tls::Connector::plaintext(),
        }
    }

    /// The driver's settings with the TLS mode applied, and the driver's TLS connector: for a
    /// connection pool.
    pub fn for_pool(
        &self,
    ) -> (
        tokio_postgres::Config,
        tokio_postgres_rustls::MakeRustlsConnect,
    ) {
        let mut config = self.config.clone();
        self.tls.apply(&mut config);
        (config, self.tls.make())
    }
}

/// Connects one client and drives its connection on the runtime.
pub async fn connect(endpoint: &Endpoint) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    endpoint
        .tls
        .connect(&endpoint.config)
        .await
        .map_err(|e| e.source)
}
