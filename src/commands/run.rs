//! `loadtest run`: one race or one index benchmark, then its files and its exit code.

use super::publish;
use crate::Stop;
use crate::bench::plan::BenchPlan;
use crate::error::Result;
use crate::race::plan::RunPlan;

/// `loadtest run`.
/// Interrupted: the partial report is written and the exit code is the signal's (130/143), also
/// when the signal came while the report was being written.
pub async fn run(plan: RunPlan, stop: Stop) -> Result<u8> {
    let (report, stamp) = crate::race::execute(&plan, &stop).await?;
    let code = publish(report, &plan.report_dir, &stamp)?;
    stop.check(Ok(code))
}

/// `loadtest run --shard I/N --run-id ID`: one shard's loads; prints where its partial report
/// is. It does not judge: exit 0 unless it could not run.
pub async fn shard(plan: RunPlan, stop: Stop) -> Result<u8> {
    let path = crate::race::sharded::run_shard(plan, &stop).await?;
    println!("partial: {}", path.display());
    Ok(crate::error::exit::OK)
}

/// `loadtest run` of an index benchmark.
pub async fn bench(plan: BenchPlan, stop: Stop) -> Result<u8> {
    let (report, stamp) = crate::bench::execute(&plan, &stop).await?;
    let code = publish(report, &plan.report_dir, &stamp)?;
    stop.check(Ok(code))
}

/// `loadtest run --rollout` (or a rollout scenario): exit 1 when a statement stalled writes
/// past `max_write_stall`, or the RPC lost increments after the switch.
pub async fn rollout(plan: crate::rollout::plan::RolloutPlan, stop: Stop) -> Result<u8> {
    let (report, stamp) = crate::rollout::execute(&plan, &stop).await?;
    let code = publish(report, &plan.report_dir, &stamp)?;
    stop.check(Ok(code))
}

/// `loadtest run` of a tenant-isolation scenario.
pub async fn isolation(plan: crate::isolation::plan::IsolationPlan, stop: Stop) -> Result<u8> {
    let (report, stamp) = crate::isolation::execute(&plan, &stop).await?;
    publish(report, &plan.report_dir, &stamp)
}
