//! The run manifest: what `prepare` decided once (scenario and its checksum, settings, seed,
//! migrations fingerprint) and recorded in a loadtest-owned table of the run's database, so
//! every shard runs the same thing and `verify` judges it as one run.
//!
//! It also records that loadtest created the database in this run: `verify` drops a database
//! only when its manifest says so, never one it finds without that mark.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

/// The schema and tables loadtest keeps in the run's database (never in the schema under test).
pub const DDL: &str = "CREATE SCHEMA IF NOT EXISTS loadtest;
    CREATE TABLE IF NOT EXISTS loadtest.shard_manifest
        (run_id text PRIMARY KEY, manifest jsonb NOT NULL, created_by_loadtest boolean NOT NULL);
    CREATE TABLE IF NOT EXISTS loadtest.shard_arrivals
        (stage text NOT NULL, shard integer NOT NULL, shards integer NOT NULL,
         at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (stage, shard));
    CREATE TABLE IF NOT EXISTS loadtest.shard_values
        (label text NOT NULL, stage text NOT NULL, vals jsonb NOT NULL, PRIMARY KEY (label, stage));";

/// The settings every shard takes from the manifest. `ops` is the total over all shards;
/// `workers` and `connections` are per shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub ops: u64,
    pub workers: usize,
    pub connections: usize,
    pub seed: u64,
    /// `sequential`, `matrix` or `mixed`.
    pub mode: String,
    /// The read-modify-write strategy's name.
    pub strategy: String,
    pub retry: u32,
    pub query_mode: String,
    pub ledger: bool,
    /// Calls per second over all shards (open model), if any.
    pub rate: Option<f64>,
}

/// What `prepare` recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub run_id: String,
    /// The database the run lives in (`loadtest_<run id>`).
    pub database: String,
    /// Always true when written by `prepare`: the mark `verify` needs before it drops anything.
    pub created_by_loadtest: bool,
    /// RFC 3339, UTC.
    pub prepared_at: String,
    pub scenario: String,
    pub scenario_origin: String,
    /// The scenario file as prepared, so `verify` judges it without the file.
    pub scenario_text: String,
    pub scenario_sha256: String,
    pub settings: Settings,
    /// `migrate::fingerprint` of the migrations applied.
    pub migrations_fingerprint: String,
    /// The report's `migrations` and `database` objects as `prepare` saw them.
    pub migrations: serde_json::Value,
    pub database_info: serde_json::Value,
}

/// SHA-256 of some text, as hex.
pub fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl Manifest {
    /// The checksum every partial carries: two partials of the same run agree on it.
    pub fn checksum(&self) -> String {
        sha256(&serde_json::to_string(self).unwrap_or_default())
    }

    /// Records the manifest (and the tables the shards meet in).
    pub async fn record(&self, client: &Client) -> Result<()> {
        client
            .batch_execute(DDL)
            .await
            .map_err(Error::db("cannot create loadtest's shard tables"))?;
        let json = serde_json::to_value(self)
            .map_err(|e| Error::Environment(format!("cannot encode the run manifest: {e}")))?;
        client
            .execute(
                "INSERT INTO loadtest.shard_manifest VALUES ($1, $2, $3)",
                &[&self.run_id, &json, &self.created_by_loadtest],
            )
            .await
            .map_err(Error::db("cannot record the run manifest"))?;
        Ok(())
    }

    /// The manifest of `run_id` in the run's database; a database without one is refused (it
    /// was not prepared by loadtest, or not for this run).
    pub async fn read(client: &Client, run_id: &str) -> Result<Manifest> {
        let missing = || {
            Error::Input(format!(
                "--run-id {run_id}: database loadtest_{run_id} holds no run manifest; run \
                 `loadtest prepare SCENARIO --database-url URL` first and pass the id it prints"
            ))
        };
        let row = client
            .query_opt(
                "SELECT manifest, created_by_loadtest FROM loadtest.shard_manifest \
                 WHERE run_id = $1",
                &[&run_id],
            )
            .await
            .map_err(|_| missing())?
            .ok_or_else(missing)?;
        let json: serde_json::Value = row.get(0);
        let mut m: Manifest = serde_json::from_value(json).map_err(|e| {
            Error::Input(format!(
                "--run-id {run_id}: the run manifest cannot be read by this loadtest ({e}); \
                 use the same loadtest version for prepare, run and verify"
            ))
        })?;
        // The column, not the JSON, is what `verify` trusts before dropping.
        m.created_by_loadtest &= row.get::<_, bool>(1);
        Ok(m)
    }
}
