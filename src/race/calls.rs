//! The SQL of each path: preparing its statements, issuing one call, classifying failures by
//! SQLSTATE; and [`PgCalls`], which gives the engine a caller per worker over a pool or over
//! connections shared by several workers. No scheduling, no metrics.

use super::engine::{self, Caller, Failure, Pick};
use super::values::{KeyValue, Num};
use crate::scenario::{PathKind, Strategy};
use rust_decimal::Decimal;
use std::sync::Arc;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Statement};

/// A failure as the engine counts it: the server's refusal (SQLSTATE) is certain, a broken
/// connection leaves the call's outcome unknown.
fn failure(e: tokio_postgres::Error) -> Failure {
    match e.as_db_error() {
        Some(db) => Failure::Refused {
            class: db.code().code().to_string(),
            message: db.message().to_string(),
        },
        None => Failure::Indeterminate(crate::pg::describe(&e)),
    }
}

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

/// A path's statements, prepared on one connection, with the strategy it runs under.
pub enum Prepared {
    Rpc(Statement),
    ReadModifyWrite {
        read: Statement,
        write: Statement,
        strategy: Strategy,
    },
}

impl Prepared {
    /// Prepares (and, through deadpool's statement cache, reuses) a path's statements.
    pub async fn on(
        client: &deadpool_postgres::Client,
        kind: &PathKind,
        strategy: Strategy,
    ) -> Result<Prepared, tokio_postgres::Error> {
        Ok(match kind {
            PathKind::Rpc { sql } => Prepared::Rpc(client.prepare_cached(sql).await?),
            PathKind::ReadModifyWrite { read, write } => Prepared::ReadModifyWrite {
                read: match strategy {
                    Strategy::ForUpdate => {
                        client
                            .prepare_cached(&format!(
                                "{} FOR UPDATE",
                                read.trim_end().trim_end_matches(';')
                            ))
                            .await?
                    }
                    _ => client.prepare_cached(read).await?,
                },
                write: client.prepare_cached(write).await?,
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
    ) -> (Result<(), Failure>, u32) {
        let mut attempt = 0;
        loop {
            let result = self.attempt(client, key, deltas, read_values).await;
            match &result {
                Err(Failure::Refused { class, .. }) if attempt < retries && is_retryable(class) => {
                    attempt += 1;
                }
                _ => return (result, attempt),
            }
        }
    }

    async fn attempt(
        &self,
        client: &impl GenericClient,
        key: &KeyValue,
        deltas: &[Num],
        read_values: &mut Vec<Decimal>,
    ) -> Result<(), Failure> {
        match self {
            Prepared::Rpc(stmt) => {
                let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(1 + deltas.len());
                params.push(key);
                params.extend(deltas.iter().map(|d| d as &(dyn ToSql + Sync)));
                client.query(stmt, &params).await.map_err(failure)?;
                Ok(())
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
    read: &Statement,
    write: &Statement,
    key: &KeyValue,
    deltas: &[Num],
    read_values: &mut Vec<Decimal>,
) -> Result<(), Failure> {
    let row = client
        .query_opt(read, &[key])
        .await
        .map_err(failure)?
        .ok_or_else(no_row)?;
    read_values.clear();
    let mut new_values: Vec<Num> = Vec::with_capacity(deltas.len());
    for (i, d) in deltas.iter().enumerate() {
        let Num(v) = row
            .try_get::<_, Num>(i)
            .map_err(|e| Failure::Indeterminate(e.to_string()))?;
        read_values.push(v);
        new_values.push(Num(v + d.0));
    }
    // The write can fail after the read: then nothing was written, a definite failure, unless
    // the connection broke, when it may have been.
    match client.execute_raw(write, key_then(key, &new_values)).await {
        Ok(0) => Err(no_row()),
        Ok(_) => Ok(()),
        Err(e) => Err(failure(e)),
    }
}

/// A load's calls over PostgreSQL: every worker gets a [`PgCaller`] on a pool, or on one of the
/// connections shared by several workers.
pub struct PgCalls {
    via: Via,
    kind: PathKind,
    strategy: Strategy,
    retries: u32,
    keys: Arc<Vec<KeyValue>>,
    absent: Arc<Vec<KeyValue>>,
    columns: usize,
}

/// A connection with the load's statements prepared on it, shared by several workers.
struct SharedConn {
    client: deadpool_postgres::Object,
    prepared: Prepared,
}

/// How workers reach the database.
enum Via {
    /// Check a connection out of the pool for every call: calls that run a transaction need
    /// the connection to themselves.
    Pool(deadpool_postgres::Pool),
    /// Connections shared by several workers: their calls are pipelined on them, which is how
    /// `workers` calls can be in flight over fewer `connections`.
    Shared(Vec<Arc<SharedConn>>),
}

/// What a [`PgCalls`] needs to know about one load.
pub struct PathCalls {
    pub kind: PathKind,
    pub strategy: Strategy,
    pub retries: u32,
    pub keys: Arc<Vec<KeyValue>>,
    pub absent: Arc<Vec<KeyValue>>,
    pub columns: usize,
    /// Connections this load may hold at once, and its workers.
    pub connections: usize,
    pub workers: usize,
}

impl PgCalls {
    /// Calls that are single autocommit statements (an RPC, or the app's two-statement
    /// read-modify-write) share `connections` connections taken from the pool, with the
    /// statements prepared once on each; transactions (or a pool that cannot give them) check
    /// a connection out per call.
    pub async fn new(pool: &deadpool_postgres::Pool, p: PathCalls) -> PgCalls {
        let via = match shared_connections(pool, &p).await {
            Some(conns) => Via::Shared(conns),
            None => Via::Pool(pool.clone()),
        };
        PgCalls {
            via,
            kind: p.kind,
            strategy: p.strategy,
            retries: p.retries,
            keys: p.keys,
            absent: p.absent,
            columns: p.columns,
        }
    }
}

async fn shared_connections(
    pool: &deadpool_postgres::Pool,
    p: &PathCalls,
) -> Option<Vec<Arc<SharedConn>>> {
    if p.strategy != Strategy::None || p.connections == 0 {
        return None;
    }
    let mut conns = Vec::with_capacity(p.connections);
    for _ in 0..p.connections.min(p.workers) {
        let client = pool.get().await.ok()?;
        let prepared = Prepared::on(&client, &p.kind, p.strategy).await.ok()?;
        conns.push(Arc::new(SharedConn { client, prepared }));
    }
    Some(conns)
}

impl engine::Calls for PgCalls {
    type Caller = PgCaller;

    fn caller(&self, worker: usize) -> PgCaller {
        PgCaller {
            via: match &self.via {
                Via::Shared(conns) => WorkerVia::Shared(conns[worker % conns.len()].clone()),
                Via::Pool(pool) => WorkerVia::Pool(pool.clone()),
            },
            kind: self.kind.clone(),
            strategy: self.strategy,
            retries: self.retries,
            keys: self.keys.clone(),
            absent: self.absent.clone(),
            nums: vec![Num(Decimal::ZERO); self.columns],
        }
    }

    fn has_witnesses(&self) -> bool {
        matches!(self.kind, PathKind::ReadModifyWrite { .. })
    }
}

/// One worker's connection: its own share of a shared one, or the pool.
enum WorkerVia {
    Pool(deadpool_postgres::Pool),
    Shared(Arc<SharedConn>),
}

/// One worker's caller: the connection it uses and a buffer for the encoded deltas.
pub struct PgCaller {
    via: WorkerVia,
    kind: PathKind,
    strategy: Strategy,
    retries: u32,
    keys: Arc<Vec<KeyValue>>,
    absent: Arc<Vec<KeyValue>>,
    nums: Vec<Num>,
}

impl Caller for PgCaller {
    async fn call(
        &mut self,
        pick: Pick,
        deltas: &[Decimal],
        read: &mut Vec<Decimal>,
    ) -> (Result<(), Failure>, u32) {
        for (n, d) in self.nums.iter_mut().zip(deltas) {
            *n = Num(*d);
        }
        let key = match pick {
            Pick::Existing(k) => &self.keys[k as usize],
            Pick::Absent(k) => &self.absent[k as usize],
        };
        let pool = match &self.via {
            WorkerVia::Shared(c) => {
                return c
                    .prepared
                    .call(&**c.client, key, &self.nums, read, self.retries)
                    .await;
            }
            WorkerVia::Pool(pool) => pool,
        };
        let client = match pool.get().await {
            Ok(c) => c,
            Err(e) => {
                let f = Failure::Indeterminate(format!("no connection from the pool: {e}"));
                return (Err(f), 0);
            }
        };
        let prepared = match Prepared::on(&client, &self.kind, self.strategy).await {
            Ok(p) => p,
            Err(e) => {
                let class = e.code().map_or("prepare", |c| c.code()).to_string();
                let message = crate::pg::describe(&e);
                return (Err(Failure::Refused { class, message }), 0);
            }
        };
        prepared
            .call(&**client, key, &self.nums, read, self.retries)
            .await
    }
}
