//! Loads an index-bench scenario's generated data with COPY: a generator thread writes COPY
//! text while the server parses the previous chunk, so both cores work.
//!
//! Foreign-key checks are skipped during the load when the role may (superuser:
//! `session_replication_role = replica`, what `pg_restore --disable-triggers` does): the
//! generator makes every reference point at an existing row by construction, and checking a
//! million references one by one would triple the load time without testing anything.

use crate::Stop;
use crate::datagen::TableGen;
use crate::error::{Error, Result};
use crate::pg::quote_ident;
use crate::report::bench::{DataReport, TableLoad};
use bytes::Bytes;
use futures_util::SinkExt;
use std::time::Instant;

use tokio_postgres::Client;

/// Rows per chunk handed from the generator to COPY.
const CHUNK_ROWS: u64 = 4096;

/// Quotes `schema.table` or `table` for SQL.
pub fn qualified(name: &str) -> String {
    name.split('.')
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(".")
}

/// Connections loading tables at once: one per core keeps the server busy while the
/// generator threads write the next chunks.
pub const LANES: usize = 2;

/// COPYs every table (biggest first, over [`LANES`] connections), then VACUUM (ANALYZE)s them.
pub async fn load(
    client: &Client,
    config: &tokio_postgres::Config,
    gens: Vec<TableGen>,
    stop: &Stop,
    line: &(dyn Fn(String) + Sync),
) -> Result<DataReport> {
    let superuser: bool = client
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(Error::db("cannot read the current role"))?
        .get(0);
    let names: Vec<String> = gens.iter().map(|g| g.table.clone()).collect();
    let mut queue: Vec<TableGen> = gens;
    queue.sort_by_key(|g| std::cmp::Reverse(g.rows));
    let queue = std::sync::Mutex::new(std::collections::VecDeque::from(queue));
    let began = Instant::now();
    let lanes = futures_util::future::join_all((0..LANES).map(|_| async {
        let c = crate::pg::connect(config)
            .await
            .map_err(Error::db("cannot open a loading connection"))?;
        if superuser {
            c.batch_execute("SET session_replication_role = replica")
                .await
                .map_err(Error::db("cannot turn off foreign-key checks for the load"))?;
        }
        let mut done = Vec::new();
        loop {
            stop.check(Ok(()))?;
            let next = queue.lock().map(|mut q| q.pop_front()).unwrap_or(None);
            let Some(g) = next else { break };
            let t = Instant::now();
            let table = g.table.clone();
            let rows = copy_table(&c, g).await?;
            let seconds = t.elapsed().as_secs_f64();
            line(format!(
                "  loaded {table:<32} {rows:>9} rows {seconds:>7.2} s"
            ));
            done.push(TableLoad {
                table,
                rows,
                seconds: round3(seconds),
            });
        }
        Ok::<_, Error>(done)
    }))
    .await;
    let seconds = began.elapsed().as_secs_f64();
    let mut tables = Vec::new();
    for lane in lanes {
        tables.extend(lane?);
    }
    tables.sort_by_key(|t| names.iter().position(|n| *n == t.table));
    stop.check(Ok(()))?;
    let v = Instant::now();
    let list = names
        .iter()
        .map(|n| qualified(n))
        .collect::<Vec<_>>()
        .join(", ");
    client
        .batch_execute(&format!("VACUUM (ANALYZE) {list}"))
        .await
        .map_err(Error::db("VACUUM (ANALYZE) after the load failed"))?;
    let rows: u64 = tables.iter().map(|t| t.rows).sum();
    Ok(DataReport {
        rows,
        seconds: round3(seconds),
        rows_per_s: (rows as f64 / seconds.max(1e-9)).round(),
        tables,
        foreign_key_checks: if superuser {
            "skipped (session_replication_role = replica): references exist by construction"
        } else {
            "checked (the role is not a superuser)"
        }
        .into(),
        vacuum_analyze_s: round3(v.elapsed().as_secs_f64()),
    })
}

/// Whether the table may be emptied and loaded frozen in one transaction: it is empty (so
/// nothing a migration seeded is lost) and no other table references it (TRUNCATE would
/// refuse). Frozen rows need no hint-bit writes later, and with `wal_level = minimal` the COPY
/// writes no WAL.
async fn can_freeze(client: &Client, table: &str) -> Result<bool> {
    let q = qualified(table);
    let sql = format!(
        "SELECT NOT EXISTS (SELECT 1 FROM {q}) AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE contype = 'f' AND confrelid = '{}'::regclass AND conrelid <> confrelid)",
        q.replace('\'', "''")
    );
    Ok(client
        .query_one(&sql, &[])
        .await
        .map_err(Error::db(format!("cannot inspect {table}")))?
        .get(0))
}

/// Streams one table: a blocking thread generates chunks into a small channel, this task
/// forwards them to the server.
async fn copy_table(client: &Client, mut g: TableGen) -> Result<u64> {
    let cols = g
        .columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let context = format!("COPY into {} failed", g.table);
    let freeze = can_freeze(client, &g.table).await?;
    if freeze {
        client
            .batch_execute(&format!("BEGIN; TRUNCATE {}", qualified(&g.table)))
            .await
            .map_err(Error::db(context.clone()))?;
    }
    let sql = format!(
        "COPY {} ({cols}) FROM STDIN{}",
        qualified(&g.table),
        if freeze { " (FREEZE)" } else { "" }
    );
    let sink = client
        .copy_in::<_, Bytes>(&sql)
        .await
        .map_err(Error::db(context.clone()))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let producer = tokio::task::spawn_blocking(move || {
        let mut from = 0;
        while from < g.rows {
            let to = (from + CHUNK_ROWS).min(g.rows);
            let mut buf = Vec::with_capacity(((to - from) * 96) as usize);
            g.fill(&mut buf, from, to);
            if tx.blocking_send(Bytes::from(buf)).is_err() {
                return;
            }
            from = to;
        }
    });
    futures_util::pin_mut!(sink);
    while let Some(chunk) = rx.recv().await {
        sink.send(chunk).await.map_err(Error::db(context.clone()))?;
    }
    let _ = producer.await;
    let rows = sink.finish().await.map_err(Error::db(context.clone()))?;
    if freeze {
        client
            .batch_execute("COMMIT")
            .await
            .map_err(Error::db(context))?;
    }
    Ok(rows)
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
