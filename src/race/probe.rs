//! Before the load: proof that the run's query mode works through this connection. A
//! transaction-mode pooler (PgBouncer, Supavisor on 6543) gives each transaction whichever
//! server connection is free, so a named prepared statement made in one transaction is missing
//! (26000) in the next; the load would then blame the path for the connection. Found here, it
//! stops the run before anything is timed, with the flag that fixes it.
//!
//! A session-mode pooler (PgBouncer `pool_mode = session`, Supavisor on 5432) instead gives each
//! client a server for as long as it is connected, and accepts more clients than it has servers:
//! the extra ones log in, then wait on their first statement until the pooler gives up (08P01,
//! two minutes later by PgBouncer's default). So every connection must first answer a statement.

use super::calls::NAMED_STATEMENTS_LOST;
use super::plan::QueryMode;
use crate::error::{Error, Result};
use futures_util::StreamExt;
use futures_util::future::join_all;
use futures_util::stream::FuturesUnordered;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;

/// Rounds of the concurrent check: in each, half the connections run their own statement while
/// the other half hold a server in a short transaction, then they swap.
const ROUNDS: usize = 4;
/// How long the first connection waits for a server before the holder lets its one go (a
/// pooler with a single server connection keeps every statement, and must not deadlock here).
const HOLD: Duration = Duration::from_millis(200);

/// How long the connections may go without one more of them answering before the rest are
/// taken to be waiting for a server that will not come. Progress resets it, so a pooler that
/// opens its servers slowly but steadily is waited for.
const STALL: Duration = Duration::from_secs(5);

/// Proves every one of `conns` (the load's pooled connections, all held) gets a server, then
/// that `mode` works on each.
pub async fn query_mode_works(conns: &[deadpool_postgres::Object], mode: QueryMode) -> Result<()> {
    every_connection_answers(conns, STALL).await?;
    match mode {
        QueryMode::Prepared => named_statements_survive(conns).await,
        QueryMode::Extended => {
            let runs = conns
                .iter()
                .map(|c| async move { c.query_typed("SELECT $1", &[(&1i32, Type::INT4)]).await });
            first_error(join_all(runs).await, "extended")
        }
        QueryMode::Simple => {
            let runs = conns.iter().map(|c| c.simple_query("SELECT 1"));
            first_error(join_all(runs).await, "simple")
        }
    }
}

/// Runs `SELECT 1` on every connection at once. Directly on a server each answers at once;
/// through a session-mode pooler whose pool is smaller than `conns`, the ones without a server
/// wait: when `stall` passes with no further answer, the run stops, naming how many did get one.
async fn every_connection_answers(
    conns: &[deadpool_postgres::Object],
    stall: Duration,
) -> Result<()> {
    let mut pending: FuturesUnordered<_> =
        conns.iter().map(|c| c.simple_query("SELECT 1")).collect();
    let mut answered = 0;
    loop {
        match tokio::time::timeout(stall, pending.next()).await {
            Ok(None) => return Ok(()),
            Ok(Some(Ok(_))) => answered += 1,
            Ok(Some(Err(source))) => {
                return Err(Error::Database {
                    context: "cannot run a statement on every connection (--connections)".into(),
                    source,
                });
            }
            Err(_) => return Err(Error::Environment(starved(answered, conns.len(), stall))),
        }
    }
}

/// The sentence for connections that never got a server: the numbers and both fixes.
fn starved(answered: usize, wanted: usize, stall: Duration) -> String {
    let raise = "raise the pooler's pool size (PgBouncer default_pool_size; the run's own \
        connection holds one server too)";
    let fix = match answered {
        0 => raise.to_string(),
        n => format!("pass --connections {n}, or {raise}"),
    };
    format!(
        "only {answered} of the {wanted} connections (--connections {wanted}) got a server \
            within {} s, as through a session-mode pooler whose pool is smaller: {fix}",
        stall.as_secs()
    )
}

fn first_error<T>(results: Vec<Result<T, tokio_postgres::Error>>, mode: &str) -> Result<()> {
    match results.into_iter().find_map(|r| r.err()) {
        Some(source) => Err(Error::Database {
            context: format!("--query-mode {mode} does not work on this connection"),
            source,
        }),
        None => Ok(()),
    }
}

/// Each connection prepares its own statement (`PREPARE`, so the names are loadtest's own and
/// never collide with the driver's), then runs it from later transactions while other
/// connections hold servers. Through a transaction-mode pooler with more than one server
/// connection, some run lands on a server that never saw its statement: 26000.
///
/// First, deterministically for a LIFO pooler (PgBouncer's default): A prepares (on server X,
/// released), B begins a transaction (taking X back), A runs its statement (on another server).
async fn named_statements_survive(conns: &[deadpool_postgres::Object]) -> Result<()> {
    if conns.len() < 2 {
        // One connection is one server at a time: its statements stay where they were made.
        return Ok(());
    }
    let tag: u32 = rand::random();
    let names: Vec<String> = (0..conns.len())
        .map(|i| format!("loadtest_probe_{tag:08x}_{i}"))
        .collect();
    let result = probe(conns, &names).await;
    // Tidy up on a direct connection; through a pooler some land elsewhere, harmlessly (the
    // names are unique to this run).
    let drops = conns
        .iter()
        .zip(&names)
        .map(|(c, n)| async move { c.batch_execute(&format!("DEALLOCATE {n}")).await });
    join_all(drops).await;
    result
}

async fn probe(conns: &[deadpool_postgres::Object], names: &[String]) -> Result<()> {
    let (a, b) = (&conns[0], &conns[1]);
    let execute = |i: usize| format!("EXECUTE {}", names[i]);
    for (c, n) in conns.iter().zip(names) {
        c.batch_execute(&format!("PREPARE {n} AS SELECT 1"))
            .await
            .map_err(Error::db(
                "cannot prepare a statement to check the connection",
            ))?;
    }
    b.batch_execute("BEGIN").await.map_err(Error::db(
        "cannot begin a transaction to check the connection",
    ))?;
    let sql = execute(0);
    let mut first = std::pin::pin!(a.batch_execute(&sql));
    let early = tokio::time::timeout(HOLD, &mut first).await;
    b.batch_execute("COMMIT").await.map_err(Error::db(
        "cannot end the transaction that checks the connection",
    ))?;
    let first = match early {
        Ok(r) => r,
        Err(_) => first.await,
    };
    lost(first)?;
    for round in 0..ROUNDS {
        let calls = conns.iter().enumerate().map(|(i, c)| {
            let sql = execute(i);
            async move {
                if (i + round) % 2 == 0 {
                    for _ in 0..3 {
                        c.batch_execute(&sql).await?;
                    }
                    Ok(())
                } else {
                    c.batch_execute("BEGIN; SELECT pg_sleep(0.005); COMMIT")
                        .await
                }
            }
        });
        for r in join_all(calls).await {
            lost(r)?;
        }
    }
    Ok(())
}

/// A run of a statement: 26000 is the pooler; anything else is a database failure.
fn lost(r: Result<(), tokio_postgres::Error>) -> Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some(&SqlState::INVALID_SQL_STATEMENT_NAME) => {
            Err(Error::Environment(NAMED_STATEMENTS_LOST.into()))
        }
        Err(source) => Err(Error::Database {
            context: "cannot check that named prepared statements survive on this connection"
                .into(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starved_connections_name_the_numbers_and_the_fix() {
        let m = starved(3, 8, STALL);
        assert!(
            m.starts_with("only 3 of the 8 connections (--connections 8) got a server within 5 s"),
            "{m}"
        );
        assert!(m.contains("pass --connections 3, or raise"), "{m}");
        let m = starved(0, 8, STALL);
        assert!(!m.contains("pass --connections"), "{m}");
        assert!(m.contains("raise the pooler's pool size"), "{m}");
    }
}
