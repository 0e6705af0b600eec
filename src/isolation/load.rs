//! The own-row load that runs while the attempts go on: load users, each acting as itself the
//! way the API does, call the scenario's statements on their own rows. A policy that holds only
//! when the database is idle, or one that blocks a user's own rows, shows here: every call must
//! succeed. Workers own their counts; they are merged at the end.

use crate::error::{Error, Result};
use crate::pg::{self, Endpoint, actor::Actor};
use crate::report::isolation_model::{LoadError, OwnRowLoad};
use crate::scenario::isolation::LoadSpec;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;
use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

/// What one worker counted.
#[derive(Default)]
struct Counts {
    ok: u64,
    failed: u64,
    /// SQLSTATE → (count, first message).
    errors: BTreeMap<String, (u64, String)>,
}

/// Opens the workers' connections and checks each statement against the schema, before any
/// attempt runs.
pub async fn connect(
    endpoint: &Endpoint,
    spec: &LoadSpec,
    origin: &str,
) -> Result<Vec<tokio_postgres::Client>> {
    let mut clients = Vec::new();
    if spec.statements.is_empty() {
        return Ok(clients);
    }
    for _ in 0..spec.workers {
        clients.push(
            pg::connect(endpoint)
                .await
                .map_err(Error::db("cannot open an own-row load connection"))?,
        );
    }
    for (i, sql) in spec.statements.iter().enumerate() {
        let stmt = clients[0].prepare(sql).await.map_err(|e| {
            Error::Input(format!(
                "{origin}: load.statements[{i}] is not valid here: {}",
                pg::describe(&e)
            ))
        })?;
        if stmt.params().len() > 1 || stmt.params().first().is_some_and(|t| !param_ok(t)) {
            return Err(Error::Input(format!(
                "{origin}: load.statements[{i}] must take at most $1, the user's id (uuid or text)"
            )));
        }
    }
    Ok(clients)
}

fn param_ok(t: &Type) -> bool {
    *t == Type::UUID || *t == Type::TEXT || *t == Type::VARCHAR
}

/// Runs own-row calls until `calls` are done and `attempts_done` is set, whichever is later.
pub async fn run(
    clients: &[tokio_postgres::Client],
    spec: &LoadSpec,
    users: &[Uuid],
    attempts_done: &AtomicBool,
) -> OwnRowLoad {
    let began = Instant::now();
    let issued = AtomicU64::new(0);
    let work = clients.iter().enumerate().map(|(w, client)| {
        let issued = &issued;
        async move {
            let mut counts = Counts::default();
            let mut stmts = Vec::new();
            for sql in &spec.statements {
                match client.prepare(sql).await {
                    Ok(s) => stmts.push(s),
                    Err(e) => {
                        note(&mut counts, &e);
                        return counts;
                    }
                }
            }
            loop {
                let i = issued.fetch_add(1, Ordering::Relaxed);
                if i >= spec.calls && attempts_done.load(Ordering::Relaxed) {
                    return counts;
                }
                let user = users[(i as usize + w) % users.len()];
                let stmt = &stmts[i as usize % stmts.len()];
                match call(client, stmt, user).await {
                    Ok(()) => counts.ok += 1,
                    Err(e) => {
                        let _ = client.batch_execute("ROLLBACK").await;
                        note(&mut counts, &e);
                        if e.is_closed() {
                            return counts;
                        }
                    }
                }
            }
        }
    });
    let all = futures_util::future::join_all(work).await;
    let secs = began.elapsed().as_secs_f64();
    let mut total = Counts::default();
    for c in all {
        total.ok += c.ok;
        total.failed += c.failed;
        for (k, (n, m)) in c.errors {
            let e = total.errors.entry(k).or_insert((0, m));
            e.0 += n;
        }
    }
    OwnRowLoad {
        workers: clients.len(),
        calls_ok: total.ok,
        calls_failed: total.failed,
        duration_s: (secs * 1000.0).round() / 1000.0,
        throughput_ops_s: if secs > 0.0 {
            (total.ok as f64 / secs * 10.0).round() / 10.0
        } else {
            0.0
        },
        errors: total
            .errors
            .into_iter()
            .map(|(sqlstate, (count, message))| LoadError {
                sqlstate,
                count,
                message,
            })
            .collect(),
    }
}

fn note(c: &mut Counts, e: &tokio_postgres::Error) {
    c.failed += 1;
    let code = e
        .code()
        .map_or("connection".to_string(), |s| s.code().to_string());
    c.errors.entry(code).or_insert((0, pg::describe(e))).0 += 1;
}

/// One own-row call: a transaction as the user, the statement, COMMIT.
async fn call(
    client: &tokio_postgres::Client,
    stmt: &tokio_postgres::Statement,
    user: Uuid,
) -> std::result::Result<(), tokio_postgres::Error> {
    let begin = Actor::User(user).begin().unwrap_or_default();
    client.batch_execute(&begin).await?;
    let text = user.to_string();
    let params: Vec<&(dyn ToSql + Sync)> = match stmt.params().first() {
        None => Vec::new(),
        Some(t) if *t == Type::UUID => vec![&user],
        Some(_) => vec![&text],
    };
    client.query(stmt, &params).await?;
    client.batch_execute("COMMIT").await
}
