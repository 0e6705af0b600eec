//! The SQL of each path: preparing a scenario's statements, checking them against the schema,
//! issuing one call, and reading the counters the oracle compares. No scheduling, no metrics.

use crate::error::{Error, Result};
use crate::pg::quote_ident;
use crate::scenario::{PathKind, PathSpec, Scenario, Strategy};
use bytes::BytesMut;
use rust_decimal::Decimal;
use std::collections::HashMap;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, GenericClient, Statement};

/// A key exactly as the server sent it (binary format), sent back verbatim: any key type works
/// (uuid, bigint, text, ...) without loadtest knowing it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyValue {
    ty: Type,
    raw: Vec<u8>,
}

impl KeyValue {
    /// The key as a person reads it (uuid, number or text; hex for anything else).
    pub fn display(&self) -> String {
        let parsed = match self.ty {
            Type::UUID => uuid::Uuid::from_slice(&self.raw)
                .map(|u| u.to_string())
                .ok(),
            Type::INT2 => i16::from_sql(&self.ty, &self.raw)
                .ok()
                .map(|v| v.to_string()),
            Type::INT4 => i32::from_sql(&self.ty, &self.raw)
                .ok()
                .map(|v| v.to_string()),
            Type::INT8 => i64::from_sql(&self.ty, &self.raw)
                .ok()
                .map(|v| v.to_string()),
            Type::TEXT | Type::VARCHAR => String::from_utf8(self.raw.clone()).ok(),
            _ => None,
        };
        parsed.unwrap_or_else(|| hex::encode(&self.raw))
    }

    /// `n` keys of the same type as `existing` that are not among them, for calls that must be
    /// refused. Deterministic in `seed`.
    pub fn absent(existing: &[KeyValue], n: usize, seed: u64) -> Result<Vec<KeyValue>, String> {
        use rand::{Rng, SeedableRng};
        let Some(first) = existing.first() else {
            return Ok(Vec::new());
        };
        let taken: std::collections::HashSet<&KeyValue> = existing.iter().collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0xAB5E_4700);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let raw = match first.ty {
                Type::UUID => uuid::Builder::from_random_bytes(rng.random())
                    .into_uuid()
                    .as_bytes()
                    .to_vec(),
                Type::INT2 => (-rng.random_range(1..i16::MAX)).to_be_bytes().to_vec(),
                Type::INT4 => (-rng.random_range(1..i32::MAX)).to_be_bytes().to_vec(),
                Type::INT8 => (-rng.random_range(1..i64::MAX)).to_be_bytes().to_vec(),
                Type::TEXT | Type::VARCHAR => {
                    format!("absent-{:016x}", rng.random::<u64>()).into_bytes()
                }
                ref other => {
                    return Err(format!(
                        "absent_share needs a uuid, integer or text key, not {other}"
                    ));
                }
            };
            let k = KeyValue {
                ty: first.ty.clone(),
                raw,
            };
            if !taken.contains(&k) {
                out.push(k);
            }
        }
        Ok(out)
    }
}

impl<'a> FromSql<'a> for KeyValue {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(KeyValue {
            ty: ty.clone(),
            raw: raw.to_vec(),
        })
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

impl ToSql for KeyValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        if *ty != self.ty {
            return Err(format!("key of type {} sent where {} is expected", self.ty, ty).into());
        }
        out.extend_from_slice(&self.raw);
        Ok(IsNull::No)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

/// An exact counter value, encoded as whatever integer or numeric type the server asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Num(pub Decimal);

const EXACT_TYPES: [Type; 4] = [Type::INT2, Type::INT4, Type::INT8, Type::NUMERIC];

impl ToSql for Num {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let overflow = || format!("{} does not fit in {ty}", self.0);
        match *ty {
            Type::INT2 => i16::try_from(self.0)
                .map_err(|_| overflow())?
                .to_sql(ty, out),
            Type::INT4 => i32::try_from(self.0)
                .map_err(|_| overflow())?
                .to_sql(ty, out),
            Type::INT8 => i64::try_from(self.0)
                .map_err(|_| overflow())?
                .to_sql(ty, out),
            _ => self.0.to_sql(ty, out),
        }
    }
    fn accepts(ty: &Type) -> bool {
        EXACT_TYPES.contains(ty)
    }
    to_sql_checked!();
}

impl<'a> FromSql<'a> for Num {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Num(match *ty {
            Type::INT2 => Decimal::from(i16::from_sql(ty, raw)?),
            Type::INT4 => Decimal::from(i32::from_sql(ty, raw)?),
            Type::INT8 => Decimal::from(i64::from_sql(ty, raw)?),
            _ => Decimal::from_sql(ty, raw)?,
        }))
    }
    fn accepts(ty: &Type) -> bool {
        EXACT_TYPES.contains(ty)
    }
}

/// Why one call failed.
#[derive(Debug, Clone)]
pub enum OpError {
    /// The server refused the call: it definitely did not apply.
    Db { sqlstate: String, message: String },
    /// The key's row was not there (the read found nothing, or the write updated nothing).
    NoRow,
    /// The connection failed mid-call: it may or may not have applied.
    Indeterminate(String),
}

impl OpError {
    fn from_pg(e: tokio_postgres::Error) -> OpError {
        match e.as_db_error() {
            Some(db) => OpError::Db {
                sqlstate: db.code().code().to_string(),
                message: db.message().to_string(),
            },
            None => OpError::Indeterminate(crate::pg::describe(&e)),
        }
    }

    /// The class the report counts it under: the SQLSTATE, or a loadtest name.
    pub fn class(&self) -> (&str, &str) {
        match self {
            OpError::Db { sqlstate, message } => (sqlstate, message),
            OpError::NoRow => ("no_row", "the key's row was not found"),
            OpError::Indeterminate(m) => ("connection", m),
        }
    }
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

/// SQLSTATEs after which a read-modify-write transaction may simply be tried again.
const RETRYABLE: [&str; 2] = ["40001", "40P01"];

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
    ) -> (Result<(), OpError>, u32) {
        let mut attempt = 0;
        loop {
            let result = self.attempt(client, key, deltas, read_values).await;
            match &result {
                Err(OpError::Db { sqlstate, .. })
                    if attempt < retries && RETRYABLE.contains(&sqlstate.as_str()) =>
                {
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
    ) -> Result<(), OpError> {
        match self {
            Prepared::Rpc(stmt) => {
                let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(1 + deltas.len());
                params.push(key);
                params.extend(deltas.iter().map(|d| d as &(dyn ToSql + Sync)));
                client
                    .query(stmt, &params)
                    .await
                    .map_err(OpError::from_pg)?;
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
                client
                    .batch_execute(begin)
                    .await
                    .map_err(OpError::from_pg)?;
                let result =
                    match read_then_write(client, read, write, key, deltas, read_values).await {
                        Ok(()) => client
                            .batch_execute("COMMIT")
                            .await
                            .map_err(OpError::from_pg),
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
) -> Result<(), OpError> {
    let row = client
        .query_opt(read, &[key])
        .await
        .map_err(OpError::from_pg)?
        .ok_or(OpError::NoRow)?;
    read_values.clear();
    let mut new_values: Vec<Num> = Vec::with_capacity(deltas.len());
    for (i, d) in deltas.iter().enumerate() {
        let Num(v) = row
            .try_get::<_, Num>(i)
            .map_err(|e| OpError::Indeterminate(e.to_string()))?;
        read_values.push(v);
        new_values.push(Num(v + d.0));
    }
    // The write can fail after the read: then nothing was written, a definite failure, unless
    // the connection broke, when it may have been.
    match client.execute_raw(write, key_then(key, &new_values)).await {
        Ok(0) => Err(OpError::NoRow),
        Ok(_) => Ok(()),
        Err(e) => Err(OpError::from_pg(e)),
    }
}

/// Checks a path's SQL against the migrated schema before any load: it must parse, and take and
/// return what the scenario says. Errors name the file, line and column of the path.
pub async fn check_path(client: &Client, scenario: &Scenario, path: &PathSpec) -> Result<()> {
    let n = scenario.counters.columns.len();
    let here = scenario.position(path.at);
    let bad = |what: String| Error::Input(format!("{here}: path '{}': {what}", path.name));
    let prepare = |sql: String| async move {
        client.prepare(&sql).await.map_err(|e| {
            bad(format!(
                "the SQL does not prepare: {}",
                crate::pg::describe(&e)
            ))
        })
    };
    let check_params = |stmt: &Statement, role: &str| -> Result<()> {
        let params = stmt.params();
        if params.len() != 1 + n {
            return Err(bad(format!(
                "{role} takes {} parameters, but the scenario passes {} ($1 = key, then one per counter column)",
                params.len(),
                1 + n
            )));
        }
        for (i, ty) in params.iter().enumerate().skip(1) {
            if !EXACT_TYPES.contains(ty) {
                return Err(bad(format!(
                    "{role} parameter ${} is {ty}; counters must be integer or numeric so the oracle stays exact",
                    i + 1
                )));
            }
        }
        Ok(())
    };
    match &path.kind {
        PathKind::Rpc { sql } => {
            let stmt = prepare(sql.clone()).await?;
            check_params(&stmt, "sql")?;
        }
        PathKind::ReadModifyWrite { read, write } => {
            let r = prepare(read.clone()).await?;
            if r.params().len() != 1 {
                return Err(bad(format!(
                    "read takes {} parameters; it must take only the key ($1)",
                    r.params().len()
                )));
            }
            if r.columns().len() != n
                || r.columns().iter().any(|c| !EXACT_TYPES.contains(c.type_()))
            {
                return Err(bad(format!(
                    "read must return the {n} counter column(s) in order, as integer or numeric"
                )));
            }
            let w = prepare(write.clone()).await?;
            check_params(&w, "write")?;
        }
    }
    Ok(())
}

/// Statements over the scenario's counter table.
pub struct CounterTable {
    select_all: String,
    reset: String,
}

impl CounterTable {
    pub fn new(scenario: &Scenario) -> CounterTable {
        let c = &scenario.counters;
        let table = c
            .table
            .split('.')
            .map(quote_ident)
            .collect::<Vec<_>>()
            .join(".");
        let cols: Vec<String> = c.columns.iter().map(|x| quote_ident(&x.name)).collect();
        let key = quote_ident(&c.key);
        CounterTable {
            select_all: format!(
                "SELECT {key}, {} FROM {table} ORDER BY {key}",
                cols.join(", ")
            ),
            reset: format!(
                "UPDATE {table} SET {}",
                cols.iter()
                    .map(|c| format!("{c} = 0"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Every key, in key order. The first is the hot row.
    pub async fn keys(&self, client: &Client) -> Result<Vec<KeyValue>> {
        let rows = client
            .query(&self.select_all, &[])
            .await
            .map_err(Error::db("cannot read the counter table's keys"))?;
        rows.iter()
            .map(|r| r.try_get::<_, KeyValue>(0))
            .collect::<Result<_, _>>()
            .map_err(Error::db("cannot read the counter table's keys"))
    }

    /// Sets every counter to zero, so each path starts from a known state.
    pub async fn reset(&self, client: &Client) -> Result<()> {
        client
            .execute(&self.reset, &[])
            .await
            .map(drop)
            .map_err(Error::db("cannot reset the counters"))
    }

    /// The counters of every key, by key.
    pub async fn read(
        &self,
        client: &Client,
        columns: usize,
    ) -> Result<HashMap<KeyValue, Vec<Decimal>>> {
        let rows = client
            .query(&self.select_all, &[])
            .await
            .map_err(Error::db("cannot read the counters"))?;
        let mut out = HashMap::with_capacity(rows.len());
        for r in rows {
            let key: KeyValue = r.try_get(0).map_err(Error::db("cannot read a key"))?;
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                let v: Option<Num> = r.try_get(1 + i).map_err(|e| {
                    Error::Input(format!(
                        "counter column {} is not integer or numeric: {e}",
                        i + 1
                    ))
                })?;
                values.push(v.map_or(Decimal::ZERO, |n| n.0));
            }
            out.insert(key, values);
        }
        Ok(out)
    }
}

/// Runs the scenario's setup SQL with `loadtest.rows` and `loadtest.seed` set for it.
pub async fn setup(client: &Client, scenario: &Scenario, seed: u64) -> Result<()> {
    let here = &scenario.origin;
    client
        .query(
            "SELECT set_config('loadtest.rows', $1, false), set_config('loadtest.seed', $2, false)",
            &[&scenario.setup.rows.to_string(), &seed.to_string()],
        )
        .await
        .map_err(Error::db("cannot pass settings to the setup SQL"))?;
    client
        .batch_execute(&scenario.setup.sql)
        .await
        .map_err(|e| match e.as_db_error() {
            Some(_) => Error::Input(format!(
                "{here}: setup.sql failed: {}",
                crate::pg::describe(&e)
            )),
            None => Error::Database {
                context: "setup.sql".into(),
                source: e,
            },
        })?;
    client
        .batch_execute("ANALYZE")
        .await
        .map_err(Error::db("cannot ANALYZE after setup"))
}
