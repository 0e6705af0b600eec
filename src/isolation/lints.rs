//! Static findings on the migrated schema, the security lints of Supabase's database advisors
//! (splinter) that tenant isolation depends on, computed from the catalog alone. Whether each
//! one is exploitable is decided at run time by the attempts (`judge`). Pure.

use super::catalog::{Catalog, Function, Policy};
use crate::report::isolation_model::Finding;

fn finding(object: &str, kind: &str, severity: &str, cause: String) -> Finding {
    Finding {
        object: object.to_string(),
        kind: kind.to_string(),
        severity: severity.to_string(),
        cause,
        exploited: false,
        accepted: false,
        reason: None,
    }
}

/// Whether SQL text calls `auth.uid()` (or reads the JWT's `sub`), in any spelling the
/// deparser or an author uses.
pub fn checks_caller(sql: &str) -> bool {
    let s: String = sql.to_lowercase().split_whitespace().collect();
    s.contains("auth.uid()") || s.contains("auth.jwt()") || s.contains("request.jwt.claim")
}

/// Every static finding, in a stable order.
pub fn lint(c: &Catalog) -> Vec<Finding> {
    let mut out = Vec::new();
    for r in &c.relations {
        let api = r.anon.select || r.authenticated.select;
        if r.view && !r.security_invoker && api {
            out.push(finding(
                &r.name,
                "security-definer-view",
                "high",
                "view runs with its owner's rights (no security_invoker): the RLS of the \
                 tables under it does not apply to the caller"
                    .into(),
            ));
        }
        if !r.view && !r.rls && (r.anon.any() || r.authenticated.any()) {
            out.push(finding(
                &r.name,
                "rls-disabled",
                "high",
                "table in an exposed schema without row level security: every row is open to \
                 the API roles' grants"
                    .into(),
            ));
        }
        if r.view || !r.rls {
            continue;
        }
        let policies: Vec<&Policy> = c.policies_of(&r.name).collect();
        for p in &policies {
            let open = |e: &Option<String>| e.as_deref().is_some_and(|x| x.trim() == "true");
            if p.permissive && (open(&p.using) || open(&p.check)) {
                let clause = if open(&p.using) {
                    "USING"
                } else {
                    "WITH CHECK"
                };
                out.push(finding(
                    &r.name,
                    "always-true-policy",
                    "medium",
                    format!(
                        "policy \"{}\" ({}) is {clause} (true): every row passes",
                        p.name, p.cmd
                    ),
                ));
            }
        }
        if r.anon.select {
            let loose: Vec<&str> = policies
                .iter()
                .filter(|p| p.permissive && p.governs("SELECT") && p.applies_to("anon"))
                .filter(|p| !p.using.as_deref().is_some_and(checks_caller))
                .map(|p| p.name.as_str())
                .collect();
            if !loose.is_empty() {
                out.push(finding(
                    &r.name,
                    "anon-access",
                    "medium",
                    format!(
                        "anon may SELECT and policy {} does not depend on the caller: rows are \
                         readable without a login",
                        quoted(&loose)
                    ),
                ));
            }
        }
        let per_row: Vec<&str> = policies
            .iter()
            .filter(|p| {
                [&p.using, &p.check]
                    .iter()
                    .any(|e| e.as_deref().is_some_and(uid_per_row))
            })
            .map(|p| p.name.as_str())
            .collect();
        if !per_row.is_empty() {
            out.push(finding(
                &r.name,
                "auth-uid-per-row",
                "performance",
                format!(
                    "policy {} calls auth.uid() once per row; (select auth.uid()) is evaluated \
                     once per query",
                    quoted(&per_row)
                ),
            ));
        }
    }
    for f in &c.functions {
        lint_function(f, &mut out);
    }
    out
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `auth.uid()` outside a scalar sub-select, as the deparser prints policies: `( SELECT
/// auth.uid() AS uid)` is evaluated once (an InitPlan), a bare `auth.uid()` once per row.
pub fn uid_per_row(expr: &str) -> bool {
    let s: String = expr.to_lowercase().split_whitespace().collect();
    let all = s.matches("auth.uid()").count();
    let wrapped = s.matches("(selectauth.uid()").count();
    all > wrapped
}

fn lint_function(f: &Function, out: &mut Vec<Finding>) {
    // Trigger functions too (splinter's function_search_path_mutable flags them): a trigger
    // runs with the search_path of whoever fired it.
    if !f.fixed_search_path {
        out.push(finding(
            &f.name,
            "mutable-search-path",
            if f.security_definer { "medium" } else { "low" },
            "no fixed search_path (SET search_path): the caller's search_path decides which \
             objects its unqualified names mean"
                .into(),
        ));
    }
    // Nobody calls a trigger function with ids of their choosing.
    if f.returns == "trigger" || f.returns == "event_trigger" {
        return;
    }
    let callable = f.anon || f.authenticated;
    if f.security_definer && callable {
        let ids: Vec<&str> = f
            .arg_types
            .iter()
            .zip(
                f.arg_names
                    .iter()
                    .map(String::as_str)
                    .chain(std::iter::repeat("")),
            )
            .filter(|(t, _)| *t == "uuid")
            .map(|(_, n)| n)
            .collect();
        if !ids.is_empty() && !checks_caller(&f.source) {
            out.push(finding(
                &f.name,
                "unchecked-security-definer",
                "high",
                format!(
                    "SECURITY DEFINER (runs as its owner, RLS off), executable by {}, takes {} \
                     uuid and never compares it with auth.uid()",
                    grantees(f),
                    ids.iter()
                        .map(|n| if n.is_empty() { "an unnamed" } else { n })
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if f.anon {
            out.push(finding(
                &f.name,
                "anon-access",
                "medium",
                "anon may EXECUTE this SECURITY DEFINER function: it runs without a login".into(),
            ));
        }
    }
}

fn grantees(f: &Function) -> &'static str {
    match (f.anon, f.authenticated) {
        (true, true) => "anon and authenticated",
        (true, false) => "anon",
        _ => "authenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_uid_is_evaluated_once() {
        assert!(uid_per_row("(auth.uid() = user_id)"));
        assert!(!uid_per_row("(( SELECT auth.uid() AS uid) = user_id)"));
        assert!(uid_per_row(
            "(( SELECT auth.uid() AS uid) = a) OR (auth.uid() = b)"
        ));
        assert!(!uid_per_row("(published_at IS NOT NULL)"));
    }

    #[test]
    fn a_checked_function_is_not_flagged() {
        let f = Function {
            name: "public.f(uuid,integer)".into(),
            sql: "public.f".into(),
            security_definer: true,
            fixed_search_path: true,
            arg_names: vec!["p_user_id".into(), "n".into()],
            arg_types: vec!["uuid".into(), "integer".into()],
            returns: "void".into(),
            source: "BEGIN UPDATE t SET n = n + 1 WHERE user_id = p_user_id; END".into(),
            anon: false,
            authenticated: true,
        };
        let mut out = Vec::new();
        lint_function(&f, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, "unchecked-security-definer");
        assert!(out[0].cause.contains("p_user_id"));
        let checked = Function {
            source: "BEGIN IF p_user_id <> auth.uid() THEN RAISE 'no'; END IF; END".into(),
            ..f
        };
        let mut out = Vec::new();
        lint_function(&checked, &mut out);
        assert!(out.is_empty(), "{out:?}");
    }
}
