//! `loadtest migrate`: apply a migrations folder to a scratch database, one line per file, and
//! list the foreign keys still without a supporting index.

use crate::Stop;
use crate::error::{Error, Result, exit};
use crate::pg::{self, schema, server, target};
use crate::plan::MigratePlan;
use std::time::Instant;

/// `loadtest migrate`: results (applied files, unindexed foreign keys, the summary) on stdout,
/// warnings about skipped files on stderr.
pub async fn migrate(plan: MigratePlan, stop: Stop) -> Result<u8> {
    let run_id = target::new_run_id();
    target::with_target(&plan.database, 2, &run_id, &stop, async |target| {
        apply(&plan, target).await
    })
    .await
}

async fn apply(plan: &MigratePlan, target: &target::Target) -> Result<u8> {
    let began = Instant::now();
    let client = pg::connect(&target.config())
        .await
        .map_err(Error::db("cannot connect to the scratch database"))?;
    let version = server::server_version(&client).await?;
    if !plan.quiet {
        for w in plan.schema.skip_warnings() {
            eprintln!("{w}");
        }
    }
    let built = schema::build_schema(&client, &plan.schema, |l| println!("{l}")).await?;
    if !plan.quiet {
        for w in &built.warnings {
            eprintln!("warning: {w}");
        }
    }
    let applied = built.applied;
    let unindexed = pg::lint::unindexed_foreign_keys(&client)
        .await
        .map_err(Error::db("cannot read the foreign keys from the catalog"))?;
    for fk in &unindexed {
        let partial = fk
            .partial_index_not_counted
            .as_ref()
            .map(|p| format!(" (partial index {p} does not serve its lookups)"))
            .unwrap_or_default();
        println!(
            "  unindexed foreign key {}({}) → {}{partial}",
            fk.table,
            fk.columns.join(", "),
            fk.references
        );
    }
    let compat = if plan.schema.compat {
        ", Supabase compatibility"
    } else {
        ""
    };
    println!(
        "{} migration(s) from {} applied in {:.0} ms on PostgreSQL {version} ({}{compat}); \
         {} foreign key(s) without a supporting index",
        applied.len(),
        plan.schema.source,
        began.elapsed().as_secs_f64() * 1000.0,
        target::describe_mode(target),
        unindexed.len()
    );
    Ok(exit::OK)
}
