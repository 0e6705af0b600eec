//! The scenario's counter table (keys, reset, read) and its setup SQL, and the check of each
//! path's SQL against the migrated schema before any load.

use super::values::{EXACT_TYPES, KeyValue, Num, ParamTypes};
use crate::error::{Error, Result};
use crate::pg::quote_ident;
use crate::scenario::{PathKind, PathSpec, Scenario};
use rust_decimal::Decimal;
use std::collections::HashMap;
use tokio_postgres::{Client, Statement};

/// Checks a path's SQL against the migrated schema before any load: it must parse, and take and
/// return what the scenario says. Errors name the file, line and column of the path. Returns the
/// parameter types the server described, which the extended and simple query modes send.
pub async fn check_path(
    client: &Client,
    scenario: &Scenario,
    path: &PathSpec,
) -> Result<ParamTypes> {
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
                "{role} takes {} parameters, but the scenario passes {} ($1 = key, then one per \
                    counter column)",
                params.len(),
                1 + n
            )));
        }
        for (i, ty) in params.iter().enumerate().skip(1) {
            if !EXACT_TYPES.contains(ty) {
                return Err(bad(format!(
                    "{role} parameter ${} is {ty}; counters must be integer or numeric so the \
                        oracle stays exact",
                    i + 1
                )));
            }
        }
        Ok(())
    };
    Ok(match &path.kind {
        PathKind::Rpc { sql } => {
            let stmt = prepare(sql.clone()).await?;
            check_params(&stmt, "sql")?;
            ParamTypes {
                call: stmt.params().to_vec(),
                read: Vec::new(),
            }
        }
        PathKind::ReadModifyWrite { read, write }
        | PathKind::RpcWithFallback { read, write, .. } => {
            if let PathKind::RpcWithFallback { sql, .. } = &path.kind {
                // The RPC may not exist yet (that is the point of a rollout): checked only when
                // it does; its calls are sent with the write's parameter types.
                if let Ok(stmt) = client.prepare(sql).await {
                    check_params(&stmt, "sql")?;
                }
            }
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
            ParamTypes {
                call: w.params().to_vec(),
                read: r.params().to_vec(),
            }
        }
    })
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
            .query_typed(&self.select_all, &[])
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
            .batch_execute(&self.reset)
            .await
            .map_err(Error::db("cannot reset the counters"))
    }

    /// The counters of every key, by key.
    pub async fn read(
        &self,
        client: &Client,
        columns: usize,
    ) -> Result<HashMap<KeyValue, Vec<Decimal>>> {
        let rows = client
            .query_typed(&self.select_all, &[])
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
    run_setup(client, &scenario.origin, &scenario.setup, seed).await
}

/// Runs setup SQL from `here` (a scenario file) with `loadtest.rows` and `loadtest.seed` set.
pub async fn run_setup(
    client: &Client,
    here: &str,
    setup: &crate::scenario::Setup,
    seed: u64,
) -> Result<()> {
    // One simple-query message: the settings and the setup run on one server connection even
    // through a transaction pooler (both values are numbers, nothing to quote).
    let sql = format!(
        "SELECT set_config('loadtest.rows', '{}', false), set_config('loadtest.seed', '{seed}', \
         false);\n{}",
        setup.rows, setup.sql
    );
    client
        .batch_execute(&sql)
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
