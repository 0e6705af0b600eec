//! From static findings and attempts to the verdict: every leaked attempt marks the findings it
//! went through as exploited (or becomes a finding of its own when no lint explains it), the
//! scenario's accepted findings are marked with their reason, and a leak through a finding that
//! is not accepted fails the run. Pure.

use super::catalog::Catalog;
use crate::report::isolation_model::{Attempt, Finding, Outcome, OwnRowLoad};
use crate::scenario::isolation::Accepted;

/// Whether a leaked attempt went through a finding of this kind on its object.
fn exploits(kind: &str, a: &Attempt) -> bool {
    let table_action = matches!(
        a.action.as_str(),
        "select" | "update" | "delete" | "insert-as-victim" | "insert-under-victim-parent"
    );
    match kind {
        "unchecked-security-definer" | "rpc-leak" => a.action == "rpc-victim-ids",
        "negative-amount" => a.action == "rpc-negative-own",
        "anon-access" => {
            a.actor == "anon" && (a.action == "select" || a.action == "rpc-victim-ids")
        }
        "security-definer-view" => a.action == "select",
        "rls-disabled" | "always-true-policy" | "policy-leak" => table_action,
        _ => false,
    }
}

/// The SQL command an attempt's action runs.
fn command(action: &str) -> &'static str {
    match action {
        "update" => "UPDATE",
        "delete" => "DELETE",
        a if a.starts_with("insert") => "INSERT",
        _ => "SELECT",
    }
}

/// A finding for a leak no lint explains.
fn runtime_finding(cat: &Catalog, a: &Attempt) -> Finding {
    let (kind, severity, cause) = match a.action.as_str() {
        "rpc-victim-ids" => (
            "rpc-leak",
            "high",
            "called with another user's ids, it changes that user's rows".to_string(),
        ),
        "rpc-negative-own" => (
            "negative-amount",
            "medium",
            "accepts a negative amount: a user can lower their own counters".to_string(),
        ),
        action => {
            let cmd = command(action);
            let role = if a.actor == "anon" {
                "anon"
            } else {
                "authenticated"
            };
            let names: Vec<String> = cat
                .policies_of(&a.object)
                .filter(|p| p.permissive && p.governs(cmd) && p.applies_to(role))
                .map(|p| format!("\"{}\"", p.name))
                .collect();
            let through = if names.is_empty() {
                "no policy names the command, yet rows got through".to_string()
            } else {
                format!(
                    "permissive {cmd} polic{} {}",
                    if names.len() == 1 { "y" } else { "ies" },
                    names.join(", ")
                )
            };
            (
                "policy-leak",
                "high",
                format!("{through} let {role} {} another user's rows", verb(action)),
            )
        }
    };
    Finding {
        object: a.object.clone(),
        kind: kind.into(),
        severity: severity.into(),
        cause,
        exploited: true,
        accepted: false,
        reason: None,
    }
}

fn verb(action: &str) -> &'static str {
    match action {
        "select" => "read",
        "update" => "change",
        "delete" => "delete",
        "insert-as-victim" => "insert rows owned by",
        _ => "insert rows under",
    }
}

fn rank(severity: &str) -> u8 {
    match severity {
        "high" => 0,
        "medium" => 1,
        "low" => 2,
        _ => 3,
    }
}

/// The judged findings, the run's failures and warnings.
pub fn judge(
    cat: &Catalog,
    mut findings: Vec<Finding>,
    attempts: &[Attempt],
    accepted: &[Accepted],
    load: &OwnRowLoad,
) -> (Vec<Finding>, Vec<String>, Vec<String>) {
    for a in attempts.iter().filter(|a| a.outcome == Outcome::Leaked) {
        let mut hit = false;
        for f in findings.iter_mut().filter(|f| f.object == a.object) {
            if exploits(&f.kind, a) {
                f.exploited = true;
                hit = true;
            }
        }
        if !hit {
            findings.push(runtime_finding(cat, a));
        }
    }
    for f in &mut findings {
        if let Some(acc) = accepted.iter().find(|x| x.covers(&f.object, &f.kind)) {
            f.accepted = true;
            f.reason = Some(acc.reason.clone());
        }
    }
    findings.sort_by(|a, b| {
        (!a.exploited, rank(&a.severity), &a.object, &a.kind).cmp(&(
            !b.exploited,
            rank(&b.severity),
            &b.object,
            &b.kind,
        ))
    });
    let mut failures = Vec::new();
    for f in findings.iter().filter(|f| f.exploited && !f.accepted) {
        let example = attempts
            .iter()
            .find(|a| a.outcome == Outcome::Leaked && a.object == f.object && exploits(&f.kind, a));
        failures.push(format!(
            "new leak: {} ({}): {}{}",
            f.object,
            f.kind,
            f.cause,
            example.map_or(String::new(), |a| format!(
                "; e.g. {} {} against {}: {}",
                a.actor, a.action, a.victim, a.detail
            ))
        ));
    }
    if load.calls_failed > 0 {
        let first = load.errors.first().map_or(String::new(), |e| {
            format!(" (first: {} {})", e.sqlstate, e.message)
        });
        failures.push(format!(
            "{} of {} own-row calls failed during the attempts{first}",
            load.calls_failed,
            load.calls_failed + load.calls_ok
        ));
    }
    let mut warnings = Vec::new();
    for acc in accepted {
        if !findings.iter().any(|f| acc.covers(&f.object, &f.kind)) {
            warnings.push(format!(
                "[[accept]] {}{} matches no finding: remove it from the scenario file",
                acc.object,
                acc.kind
                    .as_deref()
                    .map_or(String::new(), |k| format!(" ({k})"))
            ));
        }
    }
    (findings, failures, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaked(actor: &str, action: &str, object: &str) -> Attempt {
        Attempt {
            actor: actor.into(),
            victim: "B".into(),
            action: action.into(),
            object: object.into(),
            outcome: Outcome::Leaked,
            detail: "1 row(s) of other users seen".into(),
        }
    }

    fn load() -> OwnRowLoad {
        OwnRowLoad {
            workers: 1,
            calls_ok: 10,
            calls_failed: 0,
            duration_s: 1.0,
            throughput_ops_s: 10.0,
            errors: Vec::new(),
        }
    }

    #[test]
    fn an_unexplained_leak_is_a_new_finding_and_fails() {
        let attempts = [leaked("A", "select", "public.t")];
        let (f, failures, _) = judge(&Catalog::default(), Vec::new(), &attempts, &[], &load());
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].kind.as_str(), f[0].exploited), ("policy-leak", true));
        assert!(
            failures[0].starts_with("new leak: public.t (policy-leak)"),
            "{failures:?}"
        );
    }

    #[test]
    fn an_accepted_exploited_finding_passes_and_a_stale_acceptance_warns() {
        let lint = Finding {
            object: "public.f(uuid)".into(),
            kind: "unchecked-security-definer".into(),
            severity: "high".into(),
            cause: "c".into(),
            exploited: false,
            accepted: false,
            reason: None,
        };
        let acc = [
            Accepted {
                object: "public.f(uuid)".into(),
                kind: None,
                reason: "known".into(),
            },
            Accepted {
                object: "public.gone".into(),
                kind: None,
                reason: "old".into(),
            },
        ];
        let attempts = [leaked("A", "rpc-victim-ids", "public.f(uuid)")];
        let (f, failures, warnings) =
            judge(&Catalog::default(), vec![lint], &attempts, &acc, &load());
        assert!(f[0].exploited && f[0].accepted);
        assert_eq!(f[0].reason.as_deref(), Some("known"));
        assert!(failures.is_empty(), "{failures:?}");
        assert_eq!(warnings.len(), 1);
    }
}
