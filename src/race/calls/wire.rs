//! A worker's calls straight on its connection's socket ([`crate::pg::wire`]): the hot case of
//! a load where every connection has one worker (`--workers` ≤ `--connections`) and each call is
//! one autocommit statement or two (an RPC, or the read-modify-write without a transaction).
//! Same statements, same parameters, same failure classes as through tokio-postgres
//! ([`super::failure`]); only the client's cost per call differs.

use super::*;
use crate::pg::wire::{FirstRow, Statement as WireStmt, WireConn, WireError};

/// Statement names on a lent socket: closed and prepared again by each lease.
const RPC: &str = "loadtest_wire_rpc";
const READ: &str = "loadtest_wire_read";
const WRITE: &str = "loadtest_wire_write";

/// What a call runs, as the query mode sends it.
enum Sql {
    /// `prepared`: a statement prepared on the lease under this name.
    Named(&'static str),
    /// `extended`: the SQL as the unnamed statement, every call.
    Unnamed(Arc<str>),
    /// `simple`: the SQL with literals in place of `$n`.
    Literal(Arc<Template>),
}

struct WireStatement {
    sql: Sql,
    types: Arc<[Type]>,
}

enum Shape {
    Rpc(WireStatement),
    ReadModifyWrite {
        read: WireStatement,
        write: WireStatement,
    },
}

/// One worker's connection, lent for the load, with its statements.
pub struct WireCall {
    conn: WireConn,
    shape: Shape,
    row: FirstRow,
    /// The write's values, reused.
    sums: Vec<Num>,
}

impl WireCall {
    /// The path's statements on a lent socket (prepared on it in `prepared` mode). `None` for a
    /// path this does not run (the RPC with fallback: it goes through tokio-postgres).
    pub async fn on(
        conn: WireConn,
        kind: &PathKind,
        mode: QueryMode,
        types: &ParamTypes,
    ) -> Option<Result<WireCall, Failure>> {
        let mut call = WireCall {
            conn,
            shape: Shape::Rpc(WireStatement {
                sql: Sql::Named(RPC),
                types: Arc::from([]),
            }),
            row: FirstRow::default(),
            sums: Vec::new(),
        };
        let shape = match kind {
            PathKind::Rpc { sql } => {
                Shape::Rpc(call.statement(RPC, sql, &types.call, mode).await.ok()?)
            }
            PathKind::ReadModifyWrite { read, write } => Shape::ReadModifyWrite {
                read: match call.statement(READ, read, &types.read, mode).await {
                    Ok(s) => s,
                    Err(f) => return Some(Err(f)),
                },
                write: match call.statement(WRITE, write, &types.call, mode).await {
                    Ok(s) => s,
                    Err(f) => return Some(Err(f)),
                },
            },
            PathKind::RpcWithFallback { .. } => return None,
        };
        call.shape = shape;
        Some(Ok(call))
    }

    async fn statement(
        &mut self,
        name: &'static str,
        sql: &str,
        types: &[Type],
        mode: QueryMode,
    ) -> Result<WireStatement, Failure> {
        let sql = match mode {
            QueryMode::Prepared => {
                self.conn
                    .prepare(name, sql, types)
                    .await
                    .map_err(wire_failure)?;
                Sql::Named(name)
            }
            QueryMode::Extended => Sql::Unnamed(sql.into()),
            QueryMode::Simple => Sql::Literal(Arc::new(Template::parse(sql))),
        };
        Ok(WireStatement {
            sql,
            types: types.into(),
        })
    }

    /// One call, retried up to `retries` times after a serialization failure or deadlock, as
    /// [`Prepared::call`].
    pub async fn call(
        &mut self,
        key: &KeyValue,
        deltas: &[Num],
        read_values: &mut Vec<Decimal>,
        retries: u32,
    ) -> (Result<(), Failure>, u32) {
        let mut attempt = 0;
        loop {
            let result = self.attempt(key, deltas, read_values).await;
            match &result {
                Err(Failure::Refused { class, .. }) if attempt < retries && is_retryable(class) => {
                    attempt += 1;
                }
                _ => return (result, attempt),
            }
        }
    }

    async fn attempt(
        &mut self,
        key: &KeyValue,
        deltas: &[Num],
        read_values: &mut Vec<Decimal>,
    ) -> Result<(), Failure> {
        let WireCall {
            conn,
            shape,
            row,
            sums,
        } = self;
        match shape {
            Shape::Rpc(s) => run(conn, s, key, deltas, None).await.map(drop),
            Shape::ReadModifyWrite { read, write } => {
                read_values.clear();
                run(conn, read, key, &[], Some(row)).await?;
                if row.rows == 0 {
                    return Err(no_row());
                }
                if row.rows > 1 {
                    return Err(Failure::Indeterminate(
                        "the read returned more than one row".into(),
                    ));
                }
                for i in 0..deltas.len() {
                    let text = row.text(i).ok_or_else(|| {
                        Failure::Indeterminate(format!("counter {} is NULL", i + 1))
                    })?;
                    read_values.push(Num::parse(text).map_err(Failure::Indeterminate)?.0);
                }
                sums.clear();
                sums.extend(read_values.iter().zip(deltas).map(|(v, d)| Num(v + d.0)));
                // The write can fail after the read: then nothing was written, a definite
                // failure, unless the connection broke, when it may have been.
                match run(conn, write, key, sums, None).await? {
                    0 => Err(no_row()),
                    _ => Ok(()),
                }
            }
        }
    }
}

/// Runs one statement with `$1` = key and `$2…` = values; returns the command's row count.
async fn run(
    conn: &mut WireConn,
    s: &WireStatement,
    key: &KeyValue,
    values: &[Num],
    row: Option<&mut FirstRow>,
) -> Result<u64, Failure> {
    let r = match &s.sql {
        Sql::Literal(t) => {
            let sql = literal_sql(t, &s.types, key, values)?;
            conn.simple(&sql, row).await
        }
        Sql::Named(name) => {
            conn.execute(WireStmt::Named(name), key_then(key, values), &s.types, row)
                .await
        }
        Sql::Unnamed(sql) => {
            conn.execute(WireStmt::Unnamed(sql), key_then(key, values), &s.types, row)
                .await
        }
    };
    r.map_err(wire_failure)
}

/// A failure as [`super::failure`] classifies the driver's.
fn wire_failure(e: WireError) -> Failure {
    match e {
        WireError::Db { code, message } if ends_the_session(&code) => {
            Failure::Indeterminate(format!("{message} (SQLSTATE {code})"))
        }
        WireError::Db { code, message } => Failure::Refused {
            class: code,
            message,
        },
        WireError::Closed(why) => Failure::Indeterminate(why),
        // Nothing was sent: certainly not applied.
        WireError::Encode(message) => Failure::Refused {
            class: "encode".into(),
            message,
        },
    }
}
