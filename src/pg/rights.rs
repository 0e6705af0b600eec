//! What the role loadtest connects as may do on the server. Hosted services (Supabase, RDS,
//! Neon) give a role with CREATEDB and often CREATEROLE, never superuser; loadtest checks the
//! rights a step needs before the step, so a missing one is one sentence naming the right and
//! the fix rather than a permission error half way through.

/// The role may not run `CREATE DATABASE`, which every external run needs first.
#[derive(Debug, thiserror::Error)]
#[error(
    "the role {role} may not create databases (CREATEDB) on {server}: loadtest creates its own \
     database loadtest_<run id> there and drops it at the end; grant it with \
     `ALTER ROLE {role} CREATEDB` or connect as a role that has it"
)]
pub struct NoCreateDb {
    pub role: String,
    pub server: String,
}

/// The connecting role's attributes (`pg_roles` of `current_user`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rights {
    pub role: String,
    pub superuser: bool,
    pub createdb: bool,
    pub createrole: bool,
}

impl Rights {
    /// Reads the current role's attributes.
    pub async fn of_current(
        client: &tokio_postgres::Client,
    ) -> Result<Rights, tokio_postgres::Error> {
        let row = client
            .query_one(
                "SELECT rolname::text, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles \
                    WHERE rolname = current_user",
                &[],
            )
            .await?;
        Ok(Rights {
            role: row.get(0),
            superuser: row.get(1),
            createdb: row.get(2),
            createrole: row.get(3),
        })
    }

    /// Whether the role may run `CREATE DATABASE`.
    pub fn may_create_databases(&self) -> bool {
        self.superuser || self.createdb
    }

    /// Whether the role may run `CREATE ROLE` (without SUPERUSER, REPLICATION or BYPASSRLS).
    pub fn may_create_roles(&self) -> bool {
        self.superuser || self.createrole
    }

    /// Refuses a role without CREATEDB before loadtest creates anything on `server`.
    pub fn check_create_database(&self, server: &str) -> Result<(), NoCreateDb> {
        if self.may_create_databases() {
            return Ok(());
        }
        Err(NoCreateDb {
            role: self.role.clone(),
            server: server.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Rights;

    fn rights(superuser: bool, createdb: bool, createrole: bool) -> Rights {
        Rights {
            role: "app".into(),
            superuser,
            createdb,
            createrole,
        }
    }

    #[test]
    fn a_superuser_may_do_everything_without_the_attributes() {
        let r = rights(true, false, false);
        assert!(r.may_create_databases() && r.may_create_roles());
        assert!(r.check_create_database("x").is_ok());
    }

    #[test]
    fn a_role_without_createdb_is_told_the_right_and_the_fix() {
        let e = rights(false, false, true)
            .check_create_database("host=db user=app")
            .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("the role app may not create databases (CREATEDB) on host=db user=app"),
            "{msg}"
        );
        assert!(msg.contains("`ALTER ROLE app CREATEDB`"), "{msg}");
    }
}
