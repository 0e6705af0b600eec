//! What the report records about the server a run used: version and the settings that change
//! what the numbers mean.

use super::target::Target;
use crate::error::{Error, Result};
use crate::report;
use std::collections::BTreeMap;

pub async fn server_version(client: &tokio_postgres::Client) -> Result<String> {
    let row = client
        .query_typed("SELECT current_setting('server_version')", &[])
        .await
        .map_err(Error::db("cannot read the server version"))?;
    Ok(row.first().map(|r| r.get(0)).unwrap_or_default())
}

pub async fn database_info(
    client: &tokio_postgres::Client,
    target: &Target,
) -> Result<report::Database> {
    let names = [
        "max_connections",
        "shared_buffers",
        "fsync",
        "synchronous_commit",
        "full_page_writes",
        "default_transaction_isolation",
        "wal_level",
        "max_parallel_workers_per_gather",
        "work_mem",
        "maintenance_work_mem",
        "synchronize_seqscans",
        "jit",
    ];
    let rows = client
        .query_typed(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY($1)",
            &[(&&names[..], tokio_postgres::types::Type::TEXT_ARRAY)],
        )
        .await
        .map_err(Error::db("cannot read server settings"))?;
    let settings: BTreeMap<String, String> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let (start_s, from_template) = match target {
        Target::Embedded { cluster, .. } => (
            Some((cluster.info.duration.as_secs_f64() * 1000.0).round() / 1000.0),
            Some(cluster.info.from_template),
        ),
        Target::External { .. } => (None, None),
    };
    Ok(report::Database {
        mode: super::target::describe_mode(target).to_string(),
        server_version: server_version(client).await?,
        settings,
        start_s,
        from_template,
        tls: tls_info(client, target).await?,
    })
}

/// Whether `wanted` more connections fit on the server now: `max_connections`, less the slots
/// reserved for superusers (when this role is not one), less the connections already in use.
/// Checked before any load, so a run never starts only to fail on its 101st connection.
pub async fn check_capacity(
    client: &tokio_postgres::Client,
    wanted: usize,
    flag: &str,
) -> Result<()> {
    let rows = client
        .query_typed(
            "SELECT current_setting('max_connections')::int, \
                    current_setting('superuser_reserved_connections')::int, \
                    (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int, \
                    (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
            &[],
        )
        .await
        .map_err(Error::db("cannot read the server's connection limits"))?;
    let Some(row) = rows.first() else {
        return Ok(());
    };
    let (max, reserved, in_use, superuser): (i32, i32, i32, Option<bool>) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let reserved = if superuser.unwrap_or(false) {
        0
    } else {
        reserved
    };
    let free = (max - reserved - in_use).max(0) as usize;
    if wanted > free {
        return Err(Error::Environment(format!(
            "{flag} needs {wanted} connections but the server has {free} free \
             (max_connections {max}, {reserved} reserved for superusers, {in_use} in use): \
             lower {flag} to at most {free}, or raise max_connections"
        )));
    }
    Ok(())
}

/// The connection's TLS from the server's own view (`pg_stat_ssl` is readable by any role);
/// `None` when the connection is plaintext.
async fn tls_info(client: &tokio_postgres::Client, target: &Target) -> Result<Option<report::Tls>> {
    let rows = client
        .query_typed(
            "SELECT version, cipher, client_dn IS NOT NULL FROM pg_stat_ssl \
             WHERE pid = pg_backend_pid() AND ssl",
            &[],
        )
        .await
        .map_err(Error::db(
            "cannot read the connection's TLS from pg_stat_ssl",
        ))?;
    Ok(rows.first().map(|r| report::Tls {
        version: r.get::<_, Option<String>>(0).unwrap_or_default(),
        cipher: r.get::<_, Option<String>>(1).unwrap_or_default(),
        verified: target.config().tls.verified().name().to_string(),
        client_cert: r.get(2),
    }))
}
