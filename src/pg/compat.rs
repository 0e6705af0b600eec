//! The Supabase compatibility layer: what Supabase projects' migrations expect a database to
//! have (roles, `auth`, `storage`, `extensions`, default privileges), for plain PostgreSQL.
//!
//! It lives in loadtest, not in any migrations folder, so that any project's
//! `supabase/migrations` applies as it would on Supabase. `--compat none` skips it.
//!
//! Without superuser (hosted servers) the layer still applies: a role with CREATEROLE creates
//! the missing roles (service_role without BYPASSRLS, with a warning); a role without it
//! proceeds when the roles already exist and is refused, before anything is changed, when
//! some are missing.

use super::rights::Rights;

/// The SQL, shipped inside the binary. Idempotent and safe to run concurrently in several
/// databases of one cluster (roles are cluster-wide and are created only when missing).
pub const SQL: &str = include_str!("compat.sql");

/// The cluster-wide roles the SQL creates when missing, in its order.
pub const ROLES: [&str; 13] = [
    "anon",
    "authenticated",
    "service_role",
    "authenticator",
    "supabase_admin",
    "supabase_auth_admin",
    "supabase_storage_admin",
    "supabase_functions_admin",
    "supabase_replication_admin",
    "supabase_read_only_user",
    "supabase_realtime_admin",
    "dashboard_user",
    "pgbouncer",
];

/// The layer could not be applied. A database failure (exit 3); `Failed` keeps the SQLSTATE
/// for callers that classify it.
#[derive(Debug, thiserror::Error)]
pub enum CompatError {
    #[error(
        "the Supabase compatibility layer failed: {} (pass --compat none for a plain \
            PostgreSQL schema)",
        super::describe(source)
    )]
    Failed { source: tokio_postgres::Error },
    #[error(
        "the role {role} may not create roles (CREATEROLE) and the Supabase layer needs {} on \
            this server: ask an admin to create them once (roles are cluster-wide; one loadtest \
            run as a superuser does it), or grant CREATEROLE (`ALTER ROLE {role} CREATEROLE`), \
            or pass --compat none",
        missing.join(", ")
    )]
    MayNotCreateRoles { role: String, missing: Vec<String> },
}

impl From<tokio_postgres::Error> for CompatError {
    fn from(source: tokio_postgres::Error) -> Self {
        CompatError::Failed { source }
    }
}

/// Applies the layer to the database `client` is connected to; returns warnings (one sentence
/// each, without a `warning:` prefix) about what differs from Supabase because the role lacks a right.
pub async fn apply(client: &tokio_postgres::Client) -> Result<Vec<String>, CompatError> {
    let rights = Rights::of_current(client).await?;
    let missing: Vec<String> = client
        .query_one(
            "SELECT coalesce(array_agg(r ORDER BY o), '{}') FROM unnest($1::text[]) WITH \
                ORDINALITY AS t(r, o) WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)",
            &[&&ROLES[..]],
        )
        .await?
        .get(0);
    if !missing.is_empty() && !rights.may_create_roles() {
        return Err(CompatError::MayNotCreateRoles {
            role: rights.role,
            missing,
        });
    }
    client.batch_execute(SQL).await?;
    let bypass: Option<bool> = client
        .query_opt(
            "SELECT rolbypassrls FROM pg_roles WHERE rolname = 'service_role'",
            &[],
        )
        .await?
        .map(|r| r.get(0));
    Ok(warnings(bypass))
}

/// The warnings for the roles as they are after the layer ran.
fn warnings(service_role_bypasses_rls: Option<bool>) -> Vec<String> {
    match service_role_bypasses_rls {
        Some(false) => vec![
            "service_role has no BYPASSRLS on this server (only a superuser may create \
                a role with it): unlike on Supabase, row-level security applies to service_role; \
                a superuser can `ALTER ROLE service_role BYPASSRLS`"
                .to_string(),
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_the_sql_creates_is_in_the_list() {
        for r in ROLES {
            assert!(
                SQL.contains(&format!("('{r}',")),
                "{r} not created by compat.sql"
            );
        }
        let created = SQL
            .lines()
            .filter(|l| l.trim_start().starts_with("('") && l.contains("LOGIN"))
            .count();
        assert_eq!(
            created,
            ROLES.len(),
            "compat.sql creates a role not in ROLES"
        );
    }

    #[test]
    fn a_service_role_without_bypassrls_is_one_warning() {
        assert!(warnings(Some(true)).is_empty());
        assert!(warnings(None).is_empty());
        let w = warnings(Some(false));
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("service_role has no BYPASSRLS"), "{w:?}");
    }

    #[test]
    fn a_role_that_may_not_create_roles_is_told_which_and_the_fix() {
        let e = CompatError::MayNotCreateRoles {
            role: "app".into(),
            missing: vec!["anon".into(), "service_role".into()],
        };
        let msg = e.to_string();
        assert!(
            msg.starts_with(
                "the role app may not create roles (CREATEROLE) and the Supabase layer needs \
                    anon, service_role on this server: ask an admin to create them once"
            ),
            "{msg}"
        );
        assert!(msg.contains("`ALTER ROLE app CREATEROLE`"), "{msg}");
    }
}
