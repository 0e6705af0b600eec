//! Who a statement runs as: the connecting role (the table owner, for whom RLS never applies),
//! a logged-in user, or `anon`. A user and `anon` are set up exactly as Supabase's API
//! (PostgREST) does for a request: inside a transaction, `SET LOCAL ROLE` and the request's JWT
//! claims as transaction-local settings, both the `request.jwt.claims` JSON document and the
//! legacy `request.jwt.claim.sub`, so `auth.uid()` returns the user's id whichever one a
//! project's `auth.uid()` reads.

use uuid::Uuid;

/// The identity a statement runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The connecting role, no transaction of its own: RLS does not apply to the table owner.
    Owner,
    /// `authenticated` with the user's claims: `auth.uid()` is the id.
    User(Uuid),
    /// `anon` with no claims: `auth.uid()` is null.
    Anon,
}

impl Actor {
    /// The statements that open a transaction as this actor (one simple-query batch, one round
    /// trip); `None` for the owner, who needs none.
    pub fn begin(&self) -> Option<String> {
        self.enter().map(|s| format!("BEGIN; {s}"))
    }

    /// Inside an open transaction, the statements that switch to this actor until it ends (or
    /// `RESET ROLE`); `None` for the owner.
    pub fn enter(&self) -> Option<String> {
        match self {
            Actor::Owner => None,
            Actor::User(id) => {
                let claims = serde_json::json!({
                    "sub": id.to_string(),
                    "role": "authenticated",
                    "aud": "authenticated",
                })
                .to_string();
                Some(format!(
                    "SET LOCAL ROLE authenticated; \
                     SELECT set_config('request.jwt.claims', {}, true), \
                     set_config('request.jwt.claim.sub', '{id}', true), \
                     set_config('request.jwt.claim.role', 'authenticated', true)",
                    literal(&claims)
                ))
            }
            Actor::Anon => Some(
                "SET LOCAL ROLE anon; \
                 SELECT set_config('request.jwt.claims', '{\"role\":\"anon\"}', true), \
                 set_config('request.jwt.claim.sub', '', true), \
                 set_config('request.jwt.claim.role', 'anon', true)"
                    .to_string(),
            ),
        }
    }

    /// The database role the actor's statements run as ("owner" for the connecting role).
    pub fn role(&self) -> &'static str {
        match self {
            Actor::Owner => "owner",
            Actor::User(_) => "authenticated",
            Actor::Anon => "anon",
        }
    }
}

/// A string as an SQL literal (standard_conforming_strings: only quotes are doubled).
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_the_role_and_both_claim_settings() {
        let id = Uuid::nil();
        let sql = Actor::User(id).begin().unwrap();
        assert!(sql.starts_with("BEGIN; SET LOCAL ROLE authenticated;"));
        assert!(sql.contains(&format!("\"sub\":\"{id}\"")));
        assert!(sql.contains(&format!("'request.jwt.claim.sub', '{id}', true")));
        assert!(Actor::Anon.begin().unwrap().contains("SET LOCAL ROLE anon"));
        assert_eq!(Actor::Owner.begin(), None);
    }
}
