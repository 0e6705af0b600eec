//! Where the shards meet: a barrier in the run's database, and the counter values around each
//! load.
//!
//! Each shard joins once (a second shard with the same index is refused) and holds a
//! session-level advisory lock for as long as it lives. A barrier is a table of arrivals: a
//! shard records its arrival at a stage and waits until every shard has arrived, or has died:
//! a shard that joined and whose lock is gone (its process was killed, its connection closed)
//! will never arrive, and the others do not wait for it. The start time all shards agree on is
//! the moment the last one arrives at the start line. No service besides the database.

use super::ShardId;
use crate::Stop;
use crate::error::{Error, Result};
use rust_decimal::Decimal;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

/// The advisory lock class of shard liveness (the object is the shard's index).
const LOCK_CLASS: i32 = 0x4C54_5348; // "LTSH"
/// How often a waiting shard looks at the arrivals.
const POLL: Duration = Duration::from_millis(20);
/// The stage every shard records when it joins.
const JOINED: &str = "joined";

/// One shard's seat at the meeting point: its own connection, which holds its liveness lock.
pub struct Coordinator {
    client: Client,
    pub shard: ShardId,
    /// How long the start line waits for shards that have not joined yet.
    pub start_wait: Duration,
}

impl Coordinator {
    /// Joins the run as `shard` on its own connection `client`: takes the liveness lock and
    /// records the join. A shard index already taken or already run is refused (exit 2).
    pub async fn join(client: Client, shard: ShardId, start_wait: Duration) -> Result<Coordinator> {
        let locked: bool = client
            .query_one(
                "SELECT pg_try_advisory_lock($1, $2)",
                &[&LOCK_CLASS, &(shard.index as i32)],
            )
            .await
            .map_err(Error::db("cannot take the shard's liveness lock"))?
            .get(0);
        if !locked {
            return Err(Error::Input(format!(
                "--shard {shard}: another process is running this shard of the run right now; \
                 each shard index runs once"
            )));
        }
        let counts: Vec<i32> = client
            .query(
                "SELECT DISTINCT shards FROM loadtest.shard_arrivals WHERE stage = $1",
                &[&JOINED],
            )
            .await
            .map_err(Error::db("cannot read the shard arrivals"))?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if let Some(n) = counts.iter().find(|&&n| n != shard.count as i32) {
            return Err(Error::Input(format!(
                "--shard {shard}: other shards of this run were started as ?/{n}; every shard \
                 of a run takes the same N"
            )));
        }
        let c = Coordinator {
            client,
            shard,
            start_wait,
        };
        c.arrive(JOINED).await.map_err(|e| match e {
            Error::Database { source, .. }
                if source.code() == Some(&SqlState::UNIQUE_VIOLATION) =>
            {
                Error::Input(format!(
                    "--shard {shard}: this shard already ran in this run (a shard runs once; \
                     prepare a new run to run again)"
                ))
            }
            e => e,
        })?;
        Ok(c)
    }

    async fn arrive(&self, stage: &str) -> Result<()> {
        self.client
            .execute(
                "INSERT INTO loadtest.shard_arrivals (stage, shard, shards) VALUES ($1, $2, $3)",
                &[
                    &stage,
                    &(self.shard.index as i32),
                    &(self.shard.count as i32),
                ],
            )
            .await
            .map_err(Error::db(format!("cannot record arrival at {stage}")))?;
        Ok(())
    }

    /// Arrives at `stage` and waits until every shard has arrived there or died; returns the
    /// indexes of the shards that died. Before the first stage (`start`), shards that have not
    /// joined yet are waited for up to `start_wait`.
    pub async fn barrier(&self, stage: &str, stop: &Stop) -> Result<Vec<u32>> {
        self.arrive(stage).await?;
        let began = Instant::now();
        loop {
            let (joined, arrived, alive) = self.look(stage).await?;
            let gone: Vec<u32> = joined
                .iter()
                .filter(|s| !arrived.contains(s) && !alive.contains(s))
                .copied()
                .collect();
            if arrived.len() + gone.len() >= self.shard.count as usize {
                return Ok(gone);
            }
            if joined.len() < self.shard.count as usize && began.elapsed() > self.start_wait {
                let never: Vec<String> = (0..self.shard.count)
                    .filter(|s| !joined.contains(s))
                    .map(|s| s.to_string())
                    .collect();
                return Err(Error::Environment(format!(
                    "shard(s) {} of {} never started within {}s: start every shard \
                     0..{} of the run (the orchestrator's parallelism must be at least N)",
                    never.join(", "),
                    self.shard.count,
                    self.start_wait.as_secs(),
                    self.shard.count - 1
                )));
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.token.cancelled() => return Err(stop.error()),
            }
        }
    }

    /// Who joined, who arrived at `stage`, and who is alive (holds its lock).
    async fn look(&self, stage: &str) -> Result<(BTreeSet<u32>, BTreeSet<u32>, BTreeSet<u32>)> {
        let set = |rows: Vec<tokio_postgres::Row>| -> BTreeSet<u32> {
            rows.iter().map(|r| r.get::<_, i32>(0) as u32).collect()
        };
        let q = "SELECT shard FROM loadtest.shard_arrivals WHERE stage = $1";
        let joined = set(self
            .client
            .query(q, &[&JOINED])
            .await
            .map_err(Error::db("cannot read the shard arrivals"))?);
        let arrived = set(self
            .client
            .query(q, &[&stage])
            .await
            .map_err(Error::db("cannot read the shard arrivals"))?);
        let alive = set(self
            .client
            .query(
                "SELECT objid::int FROM pg_locks WHERE locktype = 'advisory' AND granted \
                 AND classid = $1::int::oid AND objsubid = 2 \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                &[&LOCK_CLASS],
            )
            .await
            .map_err(Error::db("cannot read the shards' liveness locks"))?);
        Ok((joined, arrived, alive))
    }

    /// Records the counter values (per key index) `stage` (`initial`, `final`) of load `label`.
    pub async fn save_values(
        &self,
        label: &str,
        stage: &str,
        values: &[Vec<Decimal>],
    ) -> Result<()> {
        let json = serde_json::to_value(values)
            .map_err(|e| Error::Environment(format!("cannot encode counter values: {e}")))?;
        self.client
            .execute(
                "INSERT INTO loadtest.shard_values VALUES ($1, $2, $3)",
                &[&label, &stage, &json],
            )
            .await
            .map_err(Error::db("cannot record the counter values"))?;
        Ok(())
    }
}

/// The counter values recorded for load `label` at `stage`; `None` when no shard recorded them
/// (shard 0 died before).
pub async fn load_values(
    client: &Client,
    label: &str,
    stage: &str,
) -> Result<Option<Vec<Vec<Decimal>>>> {
    let row = client
        .query_opt(
            "SELECT vals FROM loadtest.shard_values WHERE label = $1 AND stage = $2",
            &[&label, &stage],
        )
        .await
        .map_err(Error::db("cannot read the recorded counter values"))?;
    row.map(|r| {
        serde_json::from_value(r.get(0)).map_err(|e| {
            Error::Environment(format!(
                "recorded counter values of '{label}' unreadable: {e}"
            ))
        })
    })
    .transpose()
}
