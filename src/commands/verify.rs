//! `loadtest verify`: every shard's partial merged and judged once; the usual reports and the
//! exit code of the verdict.

use super::publish;
use crate::Stop;
use crate::error::Result;
use crate::race::sharded::verify::VerifyPlan;

pub async fn verify(plan: VerifyPlan, stop: Stop) -> Result<u8> {
    let (report, stamp) = crate::race::sharded::verify::verify(&plan, &stop).await?;
    let code = publish(report, &plan.report_dir, &stamp)?;
    stop.check(Ok(code))
}
