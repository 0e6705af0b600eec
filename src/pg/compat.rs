//! The Supabase compatibility layer: what Supabase projects' migrations expect a database to
//! have (roles, `auth`, `storage`, `extensions`, default privileges), for plain PostgreSQL.
//!
//! It lives in loadtest, not in any migrations folder, so that any project's
//! `supabase/migrations` applies as it would on Supabase. `--compat none` skips it.

/// The SQL, shipped inside the binary. Idempotent and safe to run concurrently in several
/// databases of one cluster (roles are cluster-wide and are created only when missing).
pub const SQL: &str = include_str!("compat.sql");

/// The layer's SQL failed in the database. A database failure (exit 3); `source` keeps the
/// SQLSTATE for callers that classify it.
#[derive(Debug, thiserror::Error)]
#[error(
    "the Supabase compatibility layer failed: {} (pass --compat none for a plain PostgreSQL \
        schema)",
    super::describe(source)
)]
pub struct CompatError {
    pub source: tokio_postgres::Error,
}

/// Applies the layer to the database `client` is connected to.
pub async fn apply(client: &tokio_postgres::Client) -> Result<(), CompatError> {
    client
        .batch_execute(SQL)
        .await
        .map_err(|source| CompatError { source })
}
