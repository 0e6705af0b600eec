//! The tenant-isolation kind of scenario (`kind = "rls-isolation"`): which schemas the API
//! exposes, how many users attack each other, the setup that seeds them, the own-row calls run
//! meanwhile, and the findings accepted with a reason. Pure: TOML in, a validated
//! [`IsolationScenario`] or a `file:line:col` error out.

use super::name_of;
use super::parse::{ScenarioError, Source};
use serde::Deserialize;
use toml::Spanned;

/// A validated isolation scenario.
#[derive(Debug, Clone)]
pub struct IsolationScenario {
    pub name: String,
    pub origin: String,
    pub description: String,
    /// Schemas the API exposes (PostgREST's `db_schemas`): what an attacker can reach.
    pub exposed_schemas: Vec<String>,
    /// Users who attack each other (A → B, B → C, …, last → A).
    pub attackers: u32,
    /// Users who only run own-row calls while the attempts go on.
    pub load_users: u32,
    /// Seeds the users and their rows; reads `current_setting('loadtest.users')`.
    pub setup_sql: String,
    pub load: LoadSpec,
    /// Colliding task creation on the workforce tables; `None` without a `[workforce]` table.
    pub workforce: Option<WorkforceSpec>,
    pub accepted: Vec<Accepted>,
}

/// The workforce concurrency check: `workers` connections, each acting as the execution's
/// owner, create the same `task_ids` task ids in the first execution of each of the first
/// `executions` load users at once, so every id collides `workers` times; each created task is
/// then completed (or, every fourth, failed) with an increment of the execution's counter.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkforceSpec {
    pub executions: u32,
    pub task_ids: u32,
    pub workers: usize,
}

/// The own-row calls run concurrently with the attempts.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub calls: u64,
    pub workers: usize,
    /// `$1` is the acting user's id.
    pub statements: Vec<String>,
}

/// A finding that is known and accepted, with the reason a reviewer reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    /// e.g. `public.increment_token_usage(uuid,integer)` or `public.blog_comments`.
    pub object: String,
    /// Only this kind of finding on the object; every kind when `None`.
    pub kind: Option<String>,
    pub reason: String,
}

impl Accepted {
    /// Whether this entry accepts a finding of `kind` on `object`.
    pub fn covers(&self, object: &str, kind: &str) -> bool {
        self.object == object && self.kind.as_deref().is_none_or(|k| k == kind)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    isolation: RawIsolation,
    setup: RawSetup,
    load: Option<Spanned<RawLoad>>,
    workforce: Option<Spanned<RawWorkforce>>,
    #[serde(default)]
    accept: Vec<Spanned<RawAccept>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIsolation {
    #[serde(default = "default_schemas")]
    exposed_schemas: Vec<String>,
    #[serde(default = "default_attackers")]
    attackers: Spanned<i64>,
    #[serde(default)]
    load_users: Option<Spanned<i64>>,
}

impl Default for RawIsolation {
    fn default() -> Self {
        RawIsolation {
            exposed_schemas: default_schemas(),
            attackers: default_attackers(),
            load_users: None,
        }
    }
}

fn default_schemas() -> Vec<String> {
    vec!["public".into()]
}

fn default_attackers() -> Spanned<i64> {
    Spanned::new(0..0, 2)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSetup {
    sql: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoad {
    calls: Option<u64>,
    workers: Option<Spanned<i64>>,
    statements: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkforce {
    executions: Option<Spanned<i64>>,
    task_ids: Option<Spanned<i64>>,
    workers: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccept {
    object: Spanned<String>,
    kind: Option<String>,
    reason: Option<String>,
}

/// Parses and validates one isolation scenario file.
pub fn parse(origin: &str, text: &str) -> Result<IsolationScenario, ScenarioError> {
    let src = Source { origin, text };
    let raw: Raw = src.toml()?;
    let attackers = *raw.isolation.attackers.get_ref();
    if !(2..=26).contains(&attackers) {
        return Err(src.err(
            raw.isolation.attackers.span(),
            format!("isolation.attackers must be between 2 and 26, not {attackers}"),
        ));
    }
    let load_users = match &raw.isolation.load_users {
        None => 4,
        Some(n) if (0..=1000).contains(n.get_ref()) => *n.get_ref(),
        Some(n) => {
            return Err(src.err(
                n.span(),
                format!(
                    "isolation.load_users must be between 0 and 1000, not {}",
                    n.get_ref()
                ),
            ));
        }
    };
    if raw.isolation.exposed_schemas.is_empty() {
        return Err(src.at(
            None,
            "isolation.exposed_schemas is empty: list the schemas the API exposes, e.g. \
             [\"public\"]"
                .into(),
        ));
    }
    let load = match raw.load {
        None => LoadSpec {
            calls: 0,
            workers: 1,
            statements: Vec::new(),
        },
        Some(l) => {
            let span = l.span();
            let l = l.into_inner();
            let workers = match &l.workers {
                None => 8,
                Some(w) if (1..=256).contains(w.get_ref()) => *w.get_ref() as usize,
                Some(w) => {
                    return Err(src.err(
                        w.span(),
                        format!(
                            "load.workers must be between 1 and 256, not {}",
                            w.get_ref()
                        ),
                    ));
                }
            };
            if l.statements.is_empty() {
                return Err(src.err(
                    span,
                    "load.statements is empty: give own-row statements ($1 = the user's id) or \
                     drop [load]"
                        .into(),
                ));
            }
            LoadSpec {
                calls: l.calls.unwrap_or(2000),
                workers,
                statements: l.statements,
            }
        }
    };
    let workforce = match raw.workforce {
        None => None,
        Some(w) => {
            let section = w.span();
            let w = w.into_inner();
            let bounded = |v: &Option<Spanned<i64>>, key: &str, lo: i64, hi: i64, dflt: i64| match v
            {
                None => Ok(dflt),
                Some(n) if (lo..=hi).contains(n.get_ref()) => Ok(*n.get_ref()),
                Some(n) => Err(src.err(
                    n.span(),
                    format!(
                        "workforce.{key} must be between {lo} and {hi}, not {}",
                        n.get_ref()
                    ),
                )),
            };
            let spec = WorkforceSpec {
                executions: bounded(&w.executions, "executions", 1, 100, 2)? as u32,
                task_ids: bounded(&w.task_ids, "task_ids", 1, 10_000, 100)? as u32,
                workers: bounded(&w.workers, "workers", 2, 64, 8)? as usize,
            };
            if spec.executions > load_users as u32 {
                return Err(src.err(
                    w.executions.as_ref().map_or(section, |n| n.span()),
                    format!(
                        "workforce.executions ({}) needs as many load users; isolation.load_users \
                         is {load_users}",
                        spec.executions
                    ),
                ));
            }
            Some(spec)
        }
    };
    let mut accepted = Vec::new();
    for a in raw.accept {
        let span = a.span();
        let a = a.into_inner();
        let reason = a.reason.unwrap_or_default();
        if reason.trim().is_empty() {
            return Err(src.err(
                span,
                format!(
                    "[[accept]] of {}: a reason is required (why this finding is known and \
                     acceptable)",
                    a.object.get_ref()
                ),
            ));
        }
        accepted.push(Accepted {
            object: a.object.into_inner(),
            kind: a.kind,
            reason: reason.trim().to_string(),
        });
    }
    Ok(IsolationScenario {
        name: name_of(origin),
        origin: origin.to_string(),
        description: raw.description,
        exposed_schemas: raw.isolation.exposed_schemas,
        attackers: attackers as u32,
        load_users: load_users as u32,
        setup_sql: raw.setup.sql,
        load,
        workforce,
        accepted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = "kind = \"rls-isolation\"\n[setup]\nsql = \"SELECT 1\"\n";

    #[test]
    fn defaults_fill_a_minimal_file() {
        let s = parse("x.toml", MIN).unwrap();
        assert_eq!(s.exposed_schemas, ["public"]);
        assert_eq!((s.attackers, s.load_users), (2, 4));
        assert!(s.load.statements.is_empty());
    }

    #[test]
    fn an_accepted_finding_needs_a_reason() {
        let text = format!("{MIN}[[accept]]\nobject = \"public.t\"\n");
        let e = parse("x.toml", &text).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("x.toml:4:1: [[accept]] of public.t: a reason"),
            "{e}"
        );
    }

    #[test]
    fn accepted_kind_narrows_the_match() {
        let a = Accepted {
            object: "public.t".into(),
            kind: Some("policy-leak".into()),
            reason: "r".into(),
        };
        assert!(a.covers("public.t", "policy-leak"));
        assert!(!a.covers("public.t", "always-true-policy"));
        assert!(!a.covers("public.u", "policy-leak"));
    }

    #[test]
    fn the_shipped_file_parses() {
        let s = parse(
            "rls.toml",
            include_str!("../../scenarios/rls-isolation.toml"),
        )
        .unwrap();
        assert!(s.accepted.iter().all(|a| !a.reason.is_empty()));
        assert_eq!(s.load.workers, 16);
        assert!(s.workforce.is_some());
    }

    #[test]
    fn workforce_defaults_and_bounds() {
        let s = parse("x.toml", &format!("{MIN}[workforce]\n")).unwrap();
        assert_eq!(
            s.workforce,
            Some(WorkforceSpec {
                executions: 2,
                task_ids: 100,
                workers: 8
            })
        );
        assert!(parse("x.toml", MIN).unwrap().workforce.is_none());
        let e = parse("x.toml", &format!("{MIN}[workforce]\nworkers = 1\n")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("x.toml:5:11: workforce.workers must be between 2 and 64, not 1"),
            "{e}"
        );
    }
}
