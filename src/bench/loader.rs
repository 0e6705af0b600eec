//! Loads an index-bench scenario's generated data with COPY: a generator thread writes COPY
//! text while the server parses the previous chunk, so both cores work.
//!
//! Foreign-key checks are skipped during the load when the role may (superuser:
//! `session_replication_role = replica`, what `pg_restore --disable-triggers` does): the
//! generator makes every reference point at an existing row by construction, and checking a
//! million references one by one would triple the load time without testing anything.

use crate::Stop;
use crate::bench::datagen::TableGen;
use crate::error::{Error, Result};
use crate::pg::quote_ident;
use crate::pg::rights::Rights;
use crate::report::bench_model::{DataReport, TableLoad};
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

/// Connections loading at once: one per core keeps the server busy while the generator
/// threads write the next chunks.
pub const LANES: usize = 2;

/// Tables loaded together on one connection. A frozen unit is emptied with one `TRUNCATE` of
/// all its tables and loaded `COPY (FREEZE)` in the same transaction: its tables are empty (so
/// nothing a migration seeded is lost) and every table that references one of them (directly
/// or through another) is in the unit, so TRUNCATE may run. Frozen rows need no hint-bit
/// writes later, and with `wal_level = minimal` the COPY writes no WAL.
struct Unit {
    tables: Vec<TableGen>,
    freeze: bool,
}

impl Unit {
    fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// COPYs every table, then VACUUM (ANALYZE)s them. A superuser loads over [`LANES`]
/// connections, biggest unit first, with foreign-key triggers off; any other role loads on one
/// connection in file order (parents first), with the checks.
pub async fn load(
    client: &Client,
    config: &crate::pg::Endpoint,
    gens: Vec<TableGen>,
    stop: &Stop,
    line: &(dyn Fn(String) + Sync),
) -> Result<DataReport> {
    let rights = Rights::of_current(client)
        .await
        .map_err(Error::db("cannot read the current role"))?;
    let superuser = rights.superuser;
    let names: Vec<String> = gens.iter().map(|g| g.table.clone()).collect();
    let mut units = units(client, gens).await?;
    let lanes = if superuser {
        units.sort_by_key(|u| std::cmp::Reverse(u.rows()));
        LANES
    } else {
        1
    };
    let queue = std::sync::Mutex::new(std::collections::VecDeque::from(units));
    let began = Instant::now();
    let lanes = futures_util::future::join_all((0..lanes).map(|_| async {
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
            let Some(unit) = next else { break };
            done.extend(copy_unit(&c, unit, stop, line).await?);
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
            "skipped (session_replication_role = replica): references exist by construction".into()
        } else {
            format!(
                "checked: the role {} is not a superuser, so the load may not turn them off \
                    (session_replication_role); it loads on one connection, parents first",
                rights.role
            )
        },
        vacuum_analyze_s: round3(v.elapsed().as_secs_f64()),
    })
}

/// Groups the tables into load units: each table with every table that references it,
/// transitively, when all of those are tables of the scenario and empty (a frozen unit); the
/// rest one table each. Units keep the file's order inside.
async fn units(client: &Client, gens: Vec<TableGen>) -> Result<Vec<Unit>> {
    let names: Vec<String> = gens.iter().map(|g| qualified(&g.table)).collect();
    // (referencing, referenced) pairs among all tables, as regclass text.
    let edges: Vec<(String, String)> = client
        .query(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint WHERE \
                contype = 'f' AND conrelid <> confrelid",
            &[],
        )
        .await
        .map_err(Error::db("cannot read foreign keys"))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut regclass = Vec::new();
    let mut empty = Vec::new();
    for n in &names {
        let row = client
            .query_one(
                &format!(
                    "SELECT '{}'::regclass::text, NOT EXISTS (SELECT 1 FROM {n})",
                    n.replace('\'', "''")
                ),
                &[],
            )
            .await
            .map_err(Error::db(format!("cannot inspect {n}")))?;
        regclass.push(row.get::<_, String>(0));
        empty.push(row.get::<_, bool>(1));
    }
    // group[i]: the unit table i joins (union of freezable closures).
    let mut group: Vec<usize> = (0..names.len()).collect();
    fn root(g: &mut [usize], i: usize) -> usize {
        if g[i] == i {
            i
        } else {
            let r = root(g, g[i]);
            g[i] = r;
            r
        }
    }
    let mut freezable = vec![false; names.len()];
    for i in 0..names.len() {
        let mut closure = vec![regclass[i].clone()];
        let mut k = 0;
        while k < closure.len() {
            let t = closure[k].clone();
            for (from, to) in &edges {
                if *to == t && !closure.contains(from) {
                    closure.push(from.clone());
                }
            }
            k += 1;
        }
        let members: Option<Vec<usize>> = closure
            .iter()
            .map(|c| regclass.iter().position(|r| r == c))
            .collect();
        if let Some(members) = members.filter(|m| m.iter().all(|&j| empty[j])) {
            for j in members {
                freezable[j] = true;
                let (a, b) = (root(&mut group, i), root(&mut group, j));
                group[b] = a;
            }
        }
    }
    let mut units: Vec<(usize, Unit)> = Vec::new();
    for (i, g) in gens.into_iter().enumerate() {
        let key = if freezable[i] {
            root(&mut group, i)
        } else {
            usize::MAX - i
        };
        match units.iter_mut().find(|(k, _)| *k == key) {
            Some((_, u)) => u.tables.push(g),
            None => units.push((
                key,
                Unit {
                    tables: vec![g],
                    freeze: freezable[i],
                },
            )),
        }
    }
    Ok(units.into_iter().map(|(_, u)| u).collect())
}

/// Loads one unit on one connection: for a frozen unit, one transaction around a TRUNCATE of
/// all its tables and their COPY (FREEZE)s.
async fn copy_unit(
    c: &Client,
    unit: Unit,
    stop: &Stop,
    line: &(dyn Fn(String) + Sync),
) -> Result<Vec<TableLoad>> {
    let list = unit
        .tables
        .iter()
        .map(|t| qualified(&t.table))
        .collect::<Vec<_>>()
        .join(", ");
    if unit.freeze {
        c.batch_execute(&format!("BEGIN; TRUNCATE {list}"))
            .await
            .map_err(Error::db(format!("cannot empty {list} for a frozen load")))?;
    }
    let mut done = Vec::new();
    for g in unit.tables {
        let t = Instant::now();
        let table = g.table.clone();
        let rows = copy_table(c, g, unit.freeze, stop).await?;
        let seconds = t.elapsed().as_secs_f64();
        line(format!(
            "  loaded {table:<32} {rows:>9} rows {seconds:>7.2} s{}",
            if unit.freeze { " (frozen)" } else { "" }
        ));
        done.push(TableLoad {
            table,
            rows,
            seconds: round3(seconds),
        });
    }
    if unit.freeze {
        c.batch_execute("COMMIT")
            .await
            .map_err(Error::db(format!("COMMIT of the load of {list} failed")))?;
    }
    Ok(done)
}

/// Streams one table: a blocking thread generates chunks into a small channel, this task
/// forwards them to the server.
/// A Ctrl-C is seen between chunks: the COPY is abandoned mid-table (the sink is dropped,
/// the connection closed with the run), not finished first.
async fn copy_table(client: &Client, mut g: TableGen, freeze: bool, stop: &Stop) -> Result<u64> {
    let cols = g
        .columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let context = format!("COPY into {} failed", g.table);
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
        stop.check(Ok(()))?;
        sink.send(chunk).await.map_err(Error::db(context.clone()))?;
    }
    let _ = producer.await;
    let rows = sink.finish().await.map_err(Error::db(context))?;
    Ok(rows)
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}
