//! The database a run works in: a database inside a scratch cluster loadtest started, or a
//! database loadtest creates on an external server (`--database-url`).
//!
//! Safety rule: loadtest only ever migrates, resets or drops the database it created in this
//! run, whose name it generated (`loadtest_<run id>`). It never touches the URL's own database
//! beyond connecting to it to issue CREATE/DROP DATABASE.

use super::binaries::Binaries;
use super::cluster::{ClusterOptions, RunAs, ScratchCluster};
use super::template;
use crate::Stop;
use crate::error::{Error, Result};
use std::path::PathBuf;

/// Where a run's database lives.
pub enum Target {
    Embedded {
        cluster: ScratchCluster,
        dbname: String,
    },
    External {
        /// Connection to the server's own database given in the URL (CREATE/DROP DATABASE only),
        /// with the URL's TLS policy, which every connection of the run shares.
        admin: super::Endpoint,
        /// The URL with secrets redacted, for messages and reports.
        redacted_url: String,
        dbname: String,
    },
}

/// A password from the password file (`~/.pgpass`, `PGPASSFILE`) when the connection string
/// gives none, matched on its first host, port, database and user as libpq does.
fn with_passfile(c: &mut tokio_postgres::Config) {
    if c.get_password().is_some() {
        return;
    }
    let host = match c.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        // libpq matches a socket connection as "localhost".
        _ => "localhost".to_string(),
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let user = c.get_user().unwrap_or_default().to_string();
    let dbname = c.get_dbname().unwrap_or(&user).to_string();
    if let Some(p) = super::libpq::password_for(&host, port, &dbname, &user) {
        c.password(p);
    }
}

/// Which kind of target, for the report.
pub fn describe_mode(t: &Target) -> &'static str {
    match t {
        Target::Embedded { .. } => "embedded",
        Target::External { .. } => "external",
    }
}

impl Target {
    /// Starts a scratch cluster; its `postgres` database is the run's own.
    pub fn embedded(opts: &ClusterOptions) -> Result<Target> {
        let cluster = ScratchCluster::start(opts)?;
        Ok(Target::Embedded {
            cluster,
            dbname: "postgres".into(),
        })
    }

    /// Creates `loadtest_<run_id>` on the server at `url`.
    pub async fn external(url: &str, run_id: &str) -> Result<Target> {
        let dbname = format!("loadtest_{run_id}");
        let (admin, redacted_url, client) = admin(url).await?;
        super::rights::Rights::of_current(&client)
            .await
            .map_err(Error::db(format!(
                "cannot read the role's rights on {redacted_url}"
            )))?
            .check_create_database(&redacted_url)?;
        client
            .batch_execute(&format!("CREATE DATABASE {}", super::quote_ident(&dbname)))
            .await
            .map_err(Error::db(format!(
                "cannot create database {dbname} on {redacted_url}"
            )))?;
        Ok(Target::External {
            admin,
            redacted_url,
            dbname,
        })
    }

    /// The run database `dbname` on the server at `url`, which an earlier command of the same
    /// run created (a sharded run's `prepare`): nothing is created here.
    pub async fn attach(url: &str, dbname: &str) -> Result<Target> {
        let (admin, redacted_url, _) = admin(url).await?;
        Ok(Target::External {
            admin,
            redacted_url,
            dbname: dbname.to_string(),
        })
    }

    /// The server's crash-and-restart for `--faults restart:once`: the scratch cluster only
    /// (never a server loadtest did not start).
    pub fn restarter(&self) -> Option<super::cluster::Restarter> {
        match self {
            Target::Embedded { cluster, .. } => Some(cluster.restarter()),
            Target::External { .. } => None,
        }
    }

    pub fn dbname(&self) -> &str {
        match self {
            Target::Embedded { dbname, .. } | Target::External { dbname, .. } => dbname,
        }
    }

    /// Connection settings for the run's own database, TLS included.
    pub fn config(&self) -> super::Endpoint {
        match self {
            Target::Embedded { cluster, dbname } => {
                super::Endpoint::plaintext(cluster.config(dbname))
            }
            Target::External { admin, dbname, .. } => {
                let mut c = admin.clone();
                c.config.dbname(dbname).application_name("loadtest");
                c
            }
        }
    }

    /// Cleans up: stops the cluster or drops the created database, or, with `keep`, leaves them
    /// and returns how to reach them.
    pub async fn close(self, keep: bool) -> Result<Option<String>> {
        match self {
            Target::Embedded { cluster, dbname } => {
                if keep {
                    let psql = cluster.psql_command(&dbname);
                    let stop = cluster.keep();
                    return Ok(Some(format!(
                        "kept the scratch cluster: connect with `{psql}`; stop it with `{stop}`"
                    )));
                }
                drop(cluster);
                Ok(None)
            }
            Target::External {
                admin,
                redacted_url,
                dbname,
            } => {
                if keep {
                    return Ok(Some(format!(
                        "kept database {dbname} on {redacted_url}: connect with `psql` to dbname \
                            {dbname}; drop it with `DROP DATABASE {dbname}`"
                    )));
                }
                let client = super::connect(&admin).await.map_err(Error::db(format!(
                    "cannot reconnect to {redacted_url} to drop {dbname}"
                )))?;
                drop_database(&client, &dbname)
                    .await
                    .map_err(Error::db(format!("cannot drop database {dbname}")))?;
                Ok(None)
            }
        }
    }
}

/// Drops `dbname`, which this run created.
///
/// `WITH (FORCE)` ends any session still in it, but PostgreSQL 15 refuses it to a role without
/// `pg_signal_backend` while an autovacuum worker happens to be in the database (the worker has
/// no role the caller is a member of: SQLSTATE 42501). A plain `DROP DATABASE` stops autovacuum
/// workers itself and waits up to 5 s for them, so on 42501 the drop is retried without FORCE,
/// and while the database is still "being accessed" (55006), again after a pause.
pub async fn drop_database(
    client: &tokio_postgres::Client,
    dbname: &str,
) -> std::result::Result<(), tokio_postgres::Error> {
    use tokio_postgres::error::SqlState;
    let name = super::quote_ident(dbname);
    let forced = client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    let Err(e) = forced else { return Ok(()) };
    if e.code() != Some(&SqlState::INSUFFICIENT_PRIVILEGE) {
        return Err(e);
    }
    let mut attempt = 0;
    loop {
        match client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .await
        {
            Err(e) if e.code() == Some(&SqlState::OBJECT_IN_USE) && attempt < 10 => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            other => return other,
        }
    }
}

/// Connects to the server at `url` (TLS settled, password file read as libpq does): the
/// endpoint of its own database, the URL with secrets redacted, and the connection.
async fn admin(url: &str) -> Result<(super::Endpoint, String, tokio_postgres::Client)> {
    let redacted_url = redact_url(url);
    let (url, requested) = super::tls::split(url)
        .map_err(|m| Error::Input(format!("--database-url {redacted_url}: {m}")))?;
    let mut config: tokio_postgres::Config = url.parse().map_err(|_| {
        Error::Input(format!(
            "--database-url {redacted_url}: not a PostgreSQL connection string (expected \
                    postgres://user:password@host:port/dbname or key=value pairs)"
        ))
    })?;
    with_passfile(&mut config);
    // As libpq: the client certificate from PGSSLCERT/PGSSLKEY or ~/.postgresql/ when the
    // string names none.
    let requested = requested.with_defaults(|k| std::env::var(k).ok(), dirs::home_dir().as_deref());
    let mut tls = super::tls::Connector::new(&requested)
        .map_err(|e| Error::Input(format!("--database-url {redacted_url}: {e}")))?;
    // The first connection also settles sslmode=allow for the rest of the run.
    let client = tls.settle(&config).await.map_err(|e| {
        Error::Environment(format!(
            "cannot connect to --database-url {redacted_url}: {e}{}",
            connect_fix(&e, config.get_password().is_some())
        ))
    })?;
    Ok((super::Endpoint { config, tls }, redacted_url, client))
}

/// Replaces the password in a connection URL or key=value string with `***`.
pub fn redact_url(url: &str) -> String {
    if let Some(rest) = url
        .strip_prefix("postgres://")
        .map(|r| ("postgres://", r))
        .or_else(|| {
            url.strip_prefix("postgresql://")
                .map(|r| ("postgresql://", r))
        })
    {
        let (scheme, rest) = rest;
        // The password may sit in the user info or, as libpq also accepts, in the query.
        let (main, query) = match rest.split_once('?') {
            Some((m, q)) => (m, Some(q)),
            None => (rest, None),
        };
        let main = match main.find('@') {
            Some(at) => match main[..at].find(':') {
                Some(colon) => format!("{}:***{}", &main[..colon], &main[at..]),
                None => main.to_string(),
            },
            None => main.to_string(),
        };
        let query = query.map(|q| {
            q.split('&')
                .map(|kv| {
                    if kv.starts_with("password=") {
                        "password=***"
                    } else {
                        kv
                    }
                })
                .collect::<Vec<_>>()
                .join("&")
        });
        return match query {
            Some(q) => format!("{scheme}{main}?{q}"),
            None => format!("{scheme}{main}"),
        };
    }
    url.split_whitespace()
        .map(|kv| {
            if kv.starts_with("password=") {
                "password=***".to_string()
            } else {
                kv.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where the run's database comes from.
#[derive(Debug, Clone)]
pub struct DatabasePlan {
    pub url: Option<String>,
    pub keep: bool,
    pub pg_user: String,
    pub pg_bindir: Option<PathBuf>,
    /// Extra settings for a scratch cluster (ignored for --database-url).
    pub server_settings: Vec<(String, String)>,
}

/// Opens the run's database: a scratch cluster, or a new database on `--database-url`'s server.
async fn open(db: &DatabasePlan, max_connections: usize, run_id: &str) -> Result<Target> {
    if let Some(url) = &db.url {
        return Target::external(url, run_id).await;
    }
    let binaries = Binaries::find(db.pg_bindir.as_deref())?;
    let run_as = RunAs::resolve(&db.pg_user)?;
    let opts = ClusterOptions {
        binaries,
        run_as,
        max_connections: max_connections as u32 + 10,
        settings: db.server_settings.clone(),
        cache_root: template::cache_root(),
        tie_to_thread: !db.keep,
    };
    // Started on this (the main) thread on purpose: the server's parent-death signal follows
    // the thread that started it.
    Target::embedded(&opts)
}

/// Runs `body` on a fresh target and always closes the target afterwards. With `--keep`, what
/// was kept and how to reach and remove it goes to stderr even under `--quiet`: a server or
/// database left behind must never go unmentioned.
pub async fn with_target<T>(
    db: &DatabasePlan,
    max_connections: usize,
    run_id: &str,
    stop: &Stop,
    body: impl AsyncFnOnce(&Target) -> Result<T>,
) -> Result<T> {
    let target = open(db, max_connections, run_id)
        .await
        .map_err(|e| stop.or(e))?;
    // For the test suite only (`lifecycle.rs`): a bug's panic, once the server is up, must still
    // stop the scratch cluster and remove its folder as the panic unwinds.
    if std::env::var_os("LOADTEST_TEST_PANIC").is_some() {
        panic!("LOADTEST_TEST_PANIC is set");
    }
    let result = match stop.check(Ok(())) {
        Ok(()) => body(&target).await,
        Err(e) => Err(e),
    };
    // A body that returns a result although interrupted (a race's partial report) keeps it;
    // an error after a signal is the signal's doing.
    let result = result.map_err(|e| stop.or(e));
    let keep = db.keep && !stop.token.is_cancelled();
    match target.close(keep).await {
        Ok(Some(how)) => eprintln!("{how}"),
        Ok(None) => {}
        Err(e) => {
            if result.is_ok() {
                return Err(e);
            }
        }
    }
    result
}

/// What would let the first connection succeed, by SQLSTATE (a TLS failure carries its own).
fn connect_fix(e: &super::tls::ConnectError, has_password: bool) -> &'static str {
    use tokio_postgres::error::SqlState;
    if e.tls.is_some() {
        return "";
    }
    match e.source.code() {
        Some(c) if *c == SqlState::INVALID_PASSWORD => {
            "; check the password in the URL (or PGPASSWORD, ~/.pgpass)"
        }
        Some(c) if *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => {
            "; check the user in the URL, or the server's pg_hba.conf rule for it"
        }
        Some(c) if *c == SqlState::INVALID_CATALOG_NAME => {
            "; name a database that exists (e.g. postgres): loadtest creates its own next to it"
        }
        Some(c) if *c == SqlState::TOO_MANY_CONNECTIONS => {
            "; the server is out of connections: retry later or raise max_connections"
        }
        Some(_) => "",
        None => {
            let io = std::error::Error::source(&e.source).is_some_and(|s| s.is::<std::io::Error>());
            match (io, has_password) {
                (true, _) => "; is the server running and listening at that host and port?",
                // Not the network and not the server's word: the driver's own refusal, which
                // without a password is the server asking for one.
                (false, false) => "; put the password in the URL, PGPASSWORD or ~/.pgpass",
                (false, true) => "",
            }
        }
    }
}

/// A short random id naming the run's database and report.
pub fn new_run_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact_url("postgresql://app@db/x"), "postgresql://app@db/x");
        assert_eq!(
            redact_url("host=/tmp user=a password=p dbname=x"),
            "host=/tmp user=a password=*** dbname=x"
        );
        // libpq also takes the password as a query parameter.
        assert_eq!(
            redact_url("postgresql://app@/x?host=/tmp&password=s3cret&sslmode=disable"),
            "postgresql://app@/x?host=/tmp&password=***&sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://app:a@db/x?password=b"),
            "postgres://app:***@db/x?password=***"
        );
    }
}
