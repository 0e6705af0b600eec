//! `loadtest prepare`: the sharded run's database, built, seeded and described by its manifest;
//! prints the run id last on stdout, for the orchestrator to hand to every shard.

use crate::Stop;
use crate::error::{Result, exit};
use crate::plan::PreparePlan;

pub async fn prepare(p: PreparePlan, stop: Stop) -> Result<u8> {
    crate::race::sharded::prepare(
        &p.run,
        &p.run_id,
        &p.scenario_text,
        &p.scenario_sha256,
        &stop,
    )
    .await?;
    if !p.run.quiet {
        eprintln!(
            "prepared run {id}: start each shard with `loadtest run {s} --database-url URL \
             --run-id {id} --shard I/N`, then `loadtest verify --database-url URL --run-id {id} \
             PARTIAL...`",
            id = p.run_id,
            s = p.run.scenario.origin
        );
    }
    println!("{}", p.run_id);
    Ok(exit::OK)
}
