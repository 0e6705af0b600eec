//! The SQL of each path: its statements in the run's query mode (named prepared statements, the
//! unnamed statement with typed parameters, or literals over the simple query protocol),
//! issuing one call, classifying failures by SQLSTATE; and (`callers`) [`PgCalls`], which gives
//! the engine a caller per worker over a pool or over connections shared by several workers. No
//! scheduling, no metrics.

use super::engine::Failure;
use super::plan::QueryMode;
use super::values::{KeyValue, Num, ParamTypes, Template};
use crate::scenario::{PathKind, Strategy};
use rust_decimal::Decimal;
use std::sync::Arc;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{GenericClient, SimpleQueryMessage, Statement};

/// A failure as the engine counts it: the server's refusal of the statement (SQLSTATE) is
/// certain; a broken connection, or the server ending the session (class 08, 57P01–57P03:
/// it may have committed just before), leaves the call's outcome unknown.
fn failure(e: tokio_postgres::Error) -> Failure {
    match e.as_db_error() {
        Some(db) if ends_the_session(db.code().code()) => {
            Failure::Indeterminate(format!("{} (SQLSTATE {})", db.message(), db.code().code()))
        }
        Some(db) => Failure::Refused {
            class: db.code().code().to_string(),
            message: db.message().to_string(),
        },
        None => Failure::Indeterminate(crate::pg::describe(&e)),
    }
}

/// SQLSTATEs that end the session rather than the statement.
fn ends_the_session(class: &str) -> bool {
    class.starts_with("08") || matches!(class, "57P01" | "57P02" | "57P03")
}

/// The class of a call that never reached the server: no connection could be had.
pub const NO_CONNECTION: &str = "no_connection";

/// The key's row was not there (the read found nothing, or the write updated nothing).
fn no_row() -> Failure {
    Failure::Refused {
        class: "no_row".into(),
        message: "the key's row was not found".into(),
    }
}

/// Whether a failure class (a SQLSTATE) is one a read-modify-write transaction may simply try
/// again ([`crate::pg::RETRYABLE`]).
pub fn is_retryable(class: &str) -> bool {
    crate::pg::RETRYABLE.iter().any(|s| s.code() == class)
}

/// Whether a failure class is the connection's fault rather than the call's: a named prepared
/// statement gone (26000, what a transaction-mode pooler does to them), a connection exception
/// (class 08) or the server ending the session (57P01). Such failures say nothing about the path.
pub fn is_connection_fault(class: &str) -> bool {
    class == SqlState::INVALID_SQL_STATEMENT_NAME.code()
        || class.starts_with("08")
        || class == SqlState::ADMIN_SHUTDOWN.code()
        || class == NO_CONNECTION
        || class == "connection"
}

/// Whether a certain failure is what an injected fault does to a call: a cancel or a
/// statement timeout (57014), or no connection to be had (after a kill, a cut, a restart).
/// Indeterminate calls are not failures at all: they are counted apart.
/// Under `--faults` these say nothing about the function under test.
pub fn is_injected_failure(class: &str) -> bool {
    class == SqlState::QUERY_CANCELED.code() || class == NO_CONNECTION
}

/// The ledger (`--ledger`): one row per committed call, in a schema of loadtest's own inside the
/// run's database, never in the schema under test.
pub const LEDGER_TABLE: &str = "loadtest.loadtest_ledger";

/// The SQL that creates the ledger.
pub const LEDGER_DDL: &str = "CREATE SCHEMA IF NOT EXISTS loadtest; \
    CREATE TABLE IF NOT EXISTS loadtest.loadtest_ledger \
    (load integer NOT NULL, id bigint NOT NULL, PRIMARY KEY (load, id))";

/// Where one call is recorded: its load's number and its id there.
#[derive(Debug, Clone, Copy)]
pub struct Ledger {
    pub load: i32,
    pub id: u64,
}

/// What to do when named prepared statements are lost between transactions.
pub const NAMED_STATEMENTS_LOST: &str = "named prepared statements do not survive on this \
    connection (a transaction-mode pooler such as PgBouncer or Supavisor on 6543?): pass \
    --query-mode extended or simple, or use the pooler's session port";

/// A path's statements on one connection, as the query mode sends them, with the strategy it
/// runs under.
pub enum Prepared {
    Rpc(Stmt),
    /// The app's code: the RPC, and the read-modify-write it falls back to on 42883. The RPC is
    /// never a named statement: it cannot be prepared while the function is missing, and each
    /// call must see the function the moment a migration creates it.
    RpcWithFallback {
        rpc: Stmt,
        read: Stmt,
        write: Stmt,
        ways: Arc<Ways>,
    },
    ReadModifyWrite {
        read: Stmt,
        write: Stmt,
        strategy: Strategy,
    },
}

/// Which way the calls of a `rpc-with-fallback` path went, counted as they end.
#[derive(Debug, Default)]
pub struct Ways {
    pub via_rpc: std::sync::atomic::AtomicU64,
    pub via_fallback: std::sync::atomic::AtomicU64,
}

impl Ways {
    /// (calls via the RPC, calls via the fallback) so far.
    pub fn counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.via_rpc.load(Relaxed), self.via_fallback.load(Relaxed))
    }
}

/// SQLSTATE 42883: the function does not exist (yet).
fn is_undefined_function(f: &Failure) -> bool {
    matches!(f, Failure::Refused { class, .. } if class == SqlState::UNDEFINED_FUNCTION.code())
}

/// One statement as the query mode sends it.
pub enum Stmt {
    /// `prepared`: a named statement prepared on this connection, bound and executed by name.
    Named(Statement),
    /// `extended`: the SQL parsed as the unnamed statement with these parameter types, bound
    /// and executed in the same round trip, on every call.
    Typed { sql: Arc<str>, types: Arc<[Type]> },
    /// `simple`: the SQL with its `$n` replaced by literals cast to these types, sent with the
    /// simple query protocol; results come back as text.
    Literal {
        sql: Arc<Template>,
        types: Arc<[Type]>,
    },
}

impl Stmt {
    async fn on(
        client: &deadpool_postgres::Client,
        sql: &str,
        types: &[Type],
        mode: QueryMode,
    ) -> Result<Stmt, tokio_postgres::Error> {
        Ok(match mode {
            QueryMode::Prepared => Stmt::Named(client.prepare_cached(sql).await?),
            QueryMode::Extended => Stmt::Typed {
                sql: sql.into(),
                types: types.into(),
            },
            QueryMode::Simple => Stmt::Literal {
                sql: Arc::new(Template::parse(sql)),
                types: types.into(),
            },
        })
    }

    /// Runs the statement with `$1` = key and `$2…` = values, for an RPC, whose row count
    /// means nothing. In `simple` mode the result rows are skipped as they arrive
    /// (`batch_execute`) instead of being collected as text rows and thrown away.
    async fn run(
        &self,
        client: &impl GenericClient,
        key: &KeyValue,
        values: &[Num],
    ) -> Result<(), Failure> {
        match self {
            Stmt::Literal { sql, types } => client
                .batch_execute(&literal_sql(sql, types, key, values)?)
                .await
                .map_err(failure),
            // Straight to tokio-postgres, not through `execute`: one async layer less per call.
            Stmt::Named(stmt) => client
                .execute_raw(stmt, key_then(key, values))
                .await
                .map(drop)
                .map_err(failure),
            Stmt::Typed { sql, types } => {
                let params: Vec<(&(dyn ToSql + Sync), Type)> =
                    key_then(key, values).zip(types.iter().cloned()).collect();
                client
                    .execute_typed(sql, &params)
                    .await
                    .map(drop)
                    .map_err(failure)
            }
        }
    }

    /// Runs the statement with `$1` = key and `$2…` = values; returns the rows it affected.
    async fn execute(
        &self,
        client: &impl GenericClient,
        key: &KeyValue,
        values: &[Num],
    ) -> Result<u64, Failure> {
        match self {
            Stmt::Named(stmt) => client
                .execute_raw(stmt, key_then(key, values))
                .await
                .map_err(failure),
            Stmt::Typed { sql, types } => {
                let params: Vec<(&(dyn ToSql + Sync), Type)> =
                    key_then(key, values).zip(types.iter().cloned()).collect();
                client.execute_typed(sql, &params).await.map_err(failure)
            }
            Stmt::Literal { sql, types } => {
                let messages = client
                    .simple_query(&literal_sql(sql, types, key, values)?)
                    .await
                    .map_err(failure)?;
                Ok(messages
                    .iter()
                    .filter_map(|m| match m {
                        SimpleQueryMessage::CommandComplete(n) => Some(*n),
                        _ => None,
                    })
                    .next_back()
                    .unwrap_or(0))
            }
        }
    }

    /// Runs the read with `$1` = key and leaves its one row's `columns` counters in `out`;
    /// false when the key's row was not found.
    async fn read(
        &self,
        client: &impl GenericClient,
        key: &KeyValue,
        columns: usize,
        out: &mut Vec<Decimal>,
    ) -> Result<bool, Failure> {
        let indeterminate = |e: String| Failure::Indeterminate(e);
        out.clear();
        let rows = match self {
            Stmt::Named(stmt) => client.query_opt(stmt, &[key]).await.map_err(failure)?,
            Stmt::Typed { sql, types } => {
                let ty = types.first().cloned().unwrap_or(Type::UNKNOWN);
                let rows = client
                    .query_typed(sql, &[(key as &(dyn ToSql + Sync), ty)])
                    .await
                    .map_err(failure)?;
                if rows.len() > 1 {
                    return Err(indeterminate("the read returned more than one row".into()));
                }
                rows.into_iter().next()
            }
            Stmt::Literal { sql, types } => {
                let messages = client
                    .simple_query(&literal_sql(sql, types, key, &[])?)
                    .await
                    .map_err(failure)?;
                let mut rows = messages.iter().filter_map(|m| match m {
                    SimpleQueryMessage::Row(r) => Some(r),
                    _ => None,
                });
                let Some(row) = rows.next() else {
                    return Ok(false);
                };
                if rows.next().is_some() {
                    return Err(indeterminate("the read returned more than one row".into()));
                }
                for i in 0..columns {
                    let text = row
                        .try_get(i)
                        .map_err(|e| indeterminate(e.to_string()))?
                        .ok_or_else(|| indeterminate(format!("counter {} is NULL", i + 1)))?;
                    out.push(Num::parse(text).map_err(indeterminate)?.0);
                }
                return Ok(true);
            }
        };
        let Some(row) = rows else {
            return Ok(false);
        };
        for i in 0..columns {
            let Num(v) = row
                .try_get::<_, Num>(i)
                .map_err(|e| indeterminate(e.to_string()))?;
            out.push(v);
        }
        Ok(true)
    }
}

/// The simple query protocol's SQL of one call: `$1` = the key, `$2…` = the values, as literals
/// of the statement's parameter types.
fn literal_sql(
    sql: &Template,
    types: &[Type],
    key: &KeyValue,
    values: &[Num],
) -> Result<String, Failure> {
    let ty = |i: usize| types.get(i).cloned().unwrap_or(Type::NUMERIC);
    let mut literals = Vec::with_capacity(1 + values.len());
    literals.push(
        key.cached_literal(&ty(0))
            .map_err(|message| Failure::Refused {
                class: "key_literal".into(),
                message,
            })?,
    );
    literals.extend(
        values
            .iter()
            .enumerate()
            .map(|(i, v)| std::borrow::Cow::Owned(v.literal(&ty(i + 1)))),
    );
    Ok(sql.bind(&literals))
}

impl Prepared {
    /// A path's statements as `mode` sends them: prepared (and, through deadpool's statement
    /// cache, reused) on this connection, or only remembered with their parameter types.
    pub async fn on(
        client: &deadpool_postgres::Client,
        kind: &PathKind,
        strategy: Strategy,
        mode: QueryMode,
        types: &ParamTypes,
        ways: &Arc<Ways>,
    ) -> Result<Prepared, tokio_postgres::Error> {
        Ok(match kind {
            PathKind::RpcWithFallback { sql, read, write } => {
                let rpc_mode = match mode {
                    QueryMode::Simple => QueryMode::Simple,
                    QueryMode::Prepared | QueryMode::Extended => QueryMode::Extended,
                };
                Prepared::RpcWithFallback {
                    rpc: Stmt::on(client, sql, &types.call, rpc_mode).await?,
                    read: Stmt::on(client, read, &types.read, mode).await?,
                    write: Stmt::on(client, write, &types.call, mode).await?,
                    ways: ways.clone(),
                }
            }
            PathKind::Rpc { sql } => Prepared::Rpc(Stmt::on(client, sql, &types.call, mode).await?),
            PathKind::ReadModifyWrite { read, write } => Prepared::ReadModifyWrite {
                read: match strategy {
                    Strategy::ForUpdate => {
                        let sql = format!("{} FOR UPDATE", read.trim_end().trim_end_matches(';'));
                        Stmt::on(client, &sql, &types.read, mode).await?
                    }
                    _ => Stmt::on(client, read, &types.read, mode).await?,
                },
                write: Stmt::on(client, write, &types.call, mode).await?,
                strategy,
            },
        })
    }

    /// One call, retried up to `retries` times after a serialization failure or deadlock.
    /// Returns the outcome and how many retries it took. For a read-modify-write, the values
    /// the successful attempt read are left in `read_values`: they are the witnesses that let
    /// the oracle count lost updates exactly.
    pub async fn call(
        &self,
        client: &impl GenericClient,
        key: &KeyValue,
        deltas: &[Num],
        read_values: &mut Vec<Decimal>,
        retries: u32,
        ledger: Option<Ledger>,
    ) -> (Result<(), Failure>, u32) {
        let mut attempt = 0;
        loop {
            let result = match ledger {
                None => self.attempt(client, key, deltas, read_values).await,
                Some(l) => self.recorded(client, key, deltas, read_values, l).await,
            };
            match &result {
                Err(Failure::Refused { class, .. }) if attempt < retries && is_retryable(class) => {
                    attempt += 1;
                }
                _ => return (result, attempt),
            }
        }
    }

    /// One attempt in a transaction that also records the call's id in the ledger, so that
    /// whether it committed can be read back when its answer is lost.
    async fn recorded(
        &self,
        client: &impl GenericClient,
        key: &KeyValue,
        deltas: &[Num],
        read_values: &mut Vec<Decimal>,
        ledger: Ledger,
    ) -> Result<(), Failure> {
        let begin = match self {
            Prepared::ReadModifyWrite { strategy, .. } => strategy.begin().unwrap_or("BEGIN"),
            Prepared::Rpc(_) | Prepared::RpcWithFallback { .. } => "BEGIN",
        };
        client.batch_execute(begin).await.map_err(failure)?;
        let work = match self {
            Prepared::Rpc(stmt) => stmt.run(client, key, deltas).await,
            Prepared::RpcWithFallback { .. } => {
                self.with_fallback(client, key, deltas, read_values, true)
                    .await
            }
            Prepared::ReadModifyWrite { read, write, .. } => {
                read_then_write(client, read, write, key, deltas, read_values).await
            }
        };
        // Integers only: nothing to quote. One round trip, so the record and the commit go
        // together.
        let result = match work {
            Ok(()) => client
                .batch_execute(&format!(
                    "INSERT INTO {LEDGER_TABLE} (load, id) VALUES ({}, {}); COMMIT",
                    ledger.load, ledger.id
                ))
                .await
                .map_err(failure),
            Err(e) => Err(e),
        };
        if matches!(result, Err(Failure::Refused { .. })) {
            let _ = client.batch_execute("ROLLBACK").await;
        }
        result
    }

    async fn attempt(
        &self,
        client: &impl GenericClient,
        key: &KeyValue,
        deltas: &[Num],
        read_values: &mut Vec<Decimal>,
    ) -> Result<(), Failure> {
        match self {
            Prepared::Rpc(stmt) => stmt.run(client, key, deltas).await,
            Prepared::RpcWithFallback { .. } => {
                self.with_fallback(client, key, deltas, read_values, false)
                    .await
            }
            Prepared::ReadModifyWrite {
                read,
                write,
                strategy,
            } => {
                let Some(begin) = strategy.begin() else {
                    return read_then_write(client, read, write, key, deltas, read_values).await;
                };
                client.batch_execute(begin).await.map_err(failure)?;
                let result =
                    match read_then_write(client, read, write, key, deltas, read_values).await {
                        Ok(()) => client.batch_execute("COMMIT").await.map_err(failure),
                        Err(e) => Err(e),
                    };
                if result.is_err() {
                    // Harmless when COMMIT already ended the transaction.
                    let _ = client.batch_execute("ROLLBACK").await;
                }
                result
            }
        }
    }
}

impl Prepared {
    /// The app's call: the RPC; on 42883 the read-modify-write instead. Inside a transaction
    /// (`--ledger`) the RPC runs under a savepoint, so its refusal does not abort the fallback.
    async fn with_fallback(
        &self,
        client: &impl GenericClient,
        key: &KeyValue,
        deltas: &[Num],
        read_values: &mut Vec<Decimal>,
        in_transaction: bool,
    ) -> Result<(), Failure> {
        use std::sync::atomic::Ordering::Relaxed;
        let Prepared::RpcWithFallback {
            rpc,
            read,
            write,
            ways,
        } = self
        else {
            return Ok(());
        };
        if in_transaction {
            client
                .batch_execute("SAVEPOINT loadtest_rpc")
                .await
                .map_err(failure)?;
        }
        match rpc.run(client, key, deltas).await {
            Err(f) if is_undefined_function(&f) => {
                if in_transaction {
                    client
                        .batch_execute("ROLLBACK TO SAVEPOINT loadtest_rpc")
                        .await
                        .map_err(failure)?;
                }
                ways.via_fallback.fetch_add(1, Relaxed);
                read_then_write(client, read, write, key, deltas, read_values).await
            }
            r => {
                ways.via_rpc.fetch_add(1, Relaxed);
                r
            }
        }
    }
}

/// `$1` = key, `$2…` = values, as an exact-size iterator (what `execute_raw` takes), so
/// binding allocates nothing.
fn key_then<'a>(
    key: &'a KeyValue,
    values: &'a [Num],
) -> impl ExactSizeIterator<Item = &'a (dyn ToSql + Sync)> {
    (0..values.len() + 1).map(move |i| match i {
        0 => key as &(dyn ToSql + Sync),
        _ => &values[i - 1] as &(dyn ToSql + Sync),
    })
}

/// The app's old code: read the counters, add the deltas in the client, write the sums back.
async fn read_then_write(
    client: &impl GenericClient,
    read: &Stmt,
    write: &Stmt,
    key: &KeyValue,
    deltas: &[Num],
    read_values: &mut Vec<Decimal>,
) -> Result<(), Failure> {
    if !read.read(client, key, deltas.len(), read_values).await? {
        return Err(no_row());
    }
    let new_values: Vec<Num> = read_values
        .iter()
        .zip(deltas)
        .map(|(v, d)| Num(v + d.0))
        .collect();
    // The write can fail after the read: then nothing was written, a definite failure, unless
    // the connection broke, when it may have been.
    match write.execute(client, key, &new_values).await {
        Ok(0) => Err(no_row()),
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    }
}

mod callers;
mod wire;
pub use callers::{PathCalls, PgCaller, PgCalls};
