//! `kind = "rollout"` scenario files: the app's traffic (counter paths, as in a race, usually
//! `rpc-with-fallback`) and insert writers, on data of a stated scale, while migrations are
//! applied under them. Pure.
//!
//! Each `[[traffic]]` table is a race scenario without its `[setup]` (`counters`, `keys`,
//! `paths`), parsed by the race parser; the file's one `[data]` section seeds every table.

use super::parse::{ScenarioError, Source};
use super::{Scenario, Setup, name_of};
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

/// A validated rollout scenario.
#[derive(Debug, Clone)]
pub struct RolloutScenario {
    pub name: String,
    pub origin: String,
    pub description: String,
    /// The first migration to apply under load, unless `--rollout` names another.
    pub version: Option<String>,
    pub settle: Option<Duration>,
    /// How long the load runs before the first migration starts.
    pub load_before: Option<Duration>,
    /// A statement that makes the load's calls wait longer than this fails the verdict.
    pub max_write_stall: Option<Duration>,
    /// Workers per counter path and per writer, unless the writer says otherwise.
    pub workers: Option<usize>,
    /// The data: what the scale is, in words, and the SQL that makes it.
    pub data: Data,
    pub traffic: Vec<Scenario>,
    pub writes: Vec<WriteSpec>,
}

#[derive(Debug, Clone)]
pub struct Data {
    pub scale: String,
    pub setup: Setup,
}

/// An insert writer: one statement, `$1` the call's number (bigint), sent again and again.
#[derive(Debug, Clone)]
pub struct WriteSpec {
    pub name: String,
    pub sql: String,
    pub workers: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRollout {
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    description: String,
    rollout: Option<String>,
    settle: Option<Spanned<String>>,
    load_before: Option<Spanned<String>>,
    max_write_stall: Option<Spanned<String>>,
    workers: Option<Spanned<i64>>,
    data: RawData,
    #[serde(default)]
    traffic: Vec<Spanned<toml::Table>>,
    #[serde(default)]
    writes: Vec<Spanned<RawWrite>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    scale: String,
    rows: Spanned<i64>,
    sql: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWrite {
    name: String,
    sql: Spanned<String>,
    workers: Option<Spanned<i64>>,
}

/// Parses and validates a `kind = "rollout"` file.
pub fn parse(origin: &str, text: &str) -> Result<RolloutScenario, ScenarioError> {
    let src = Source { origin, text };
    let raw: RawRollout = src.toml()?;
    let duration = |d: &Option<Spanned<String>>, key: &str| -> Result<_, ScenarioError> {
        d.as_ref()
            .map(|s| {
                humantime::parse_duration(s.get_ref().trim()).map_err(|e| {
                    src.err(
                        s.span(),
                        format!("{key} = \"{}\": {e} (expected e.g. 5s, 500ms)", s.get_ref()),
                    )
                })
            })
            .transpose()
    };
    let workers = |w: &Option<Spanned<i64>>| -> Result<Option<usize>, ScenarioError> {
        match w {
            None => Ok(None),
            Some(w) if (1..=256).contains(w.get_ref()) => Ok(Some(*w.get_ref() as usize)),
            Some(w) => Err(src.err(
                w.span(),
                format!("workers must be between 1 and 256, not {}", w.get_ref()),
            )),
        }
    };
    let rows = *raw.data.rows.get_ref();
    if !(1..=100_000_000).contains(&rows) {
        return Err(src.err(
            raw.data.rows.span(),
            format!("data.rows must be between 1 and 100000000, not {rows}"),
        ));
    }
    let setup = Setup {
        rows: rows as u32,
        sql: raw.data.sql,
    };
    let mut traffic = Vec::new();
    for (i, t) in raw.traffic.into_iter().enumerate() {
        let span = t.span();
        let mut table = t.into_inner();
        table.insert(
            "setup".into(),
            toml::Value::Table(toml::Table::from_iter([
                ("rows".to_string(), toml::Value::Integer(1)),
                ("sql".to_string(), toml::Value::String(String::new())),
            ])),
        );
        let inner = toml::to_string(&table).map_err(|e| src.err(span.clone(), e.to_string()))?;
        let mut s =
            super::parse(&format!("{origin} [[traffic]] #{}", i + 1), &inner).map_err(|e| {
                src.err(
                    span.clone(),
                    format!("[[traffic]] #{}: {}", i + 1, e.message),
                )
            })?;
        s.origin = origin.to_string();
        s.setup = setup.clone();
        traffic.push(s);
    }
    let mut writes: Vec<WriteSpec> = Vec::new();
    for w in raw.writes {
        let span = w.span();
        let w = w.into_inner();
        if writes.iter().any(|x| x.name == w.name)
            || traffic
                .iter()
                .any(|t| t.paths.iter().any(|p| p.name == w.name))
        {
            return Err(src.err(span, format!("the name '{}' is used twice", w.name)));
        }
        if w.sql.get_ref().trim().is_empty() {
            return Err(src.err(w.sql.span(), "SQL must not be empty".into()));
        }
        writes.push(WriteSpec {
            name: w.name,
            sql: w.sql.into_inner(),
            workers: workers(&w.workers)?,
        });
    }
    if traffic.is_empty() && writes.is_empty() {
        return Err(src.at(
            None,
            "a rollout scenario needs load: at least one [[traffic]] or [[writes]] entry".into(),
        ));
    }
    Ok(RolloutScenario {
        name: name_of(origin),
        origin: origin.to_string(),
        description: raw.description,
        version: raw.rollout,
        settle: duration(&raw.settle, "settle")?,
        load_before: duration(&raw.load_before, "load_before")?,
        max_write_stall: duration(&raw.max_write_stall, "max_write_stall")?,
        workers: workers(&raw.workers)?,
        data: Data {
            scale: raw.data.scale,
            setup,
        },
        traffic,
        writes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
kind = "rollout"
rollout = "2"
max_write_stall = "50ms"
[data]
scale = "10 rows"
rows = 10
sql = "SELECT 1"
[[traffic]]
[traffic.counters]
table = "t"
key = "id"
[[traffic.counters.columns]]
name = "n"
type = "integer"
delta = { min = 1, max = 2 }
[[traffic.paths]]
name = "app"
kind = "rpc-with-fallback"
sql = "SELECT inc($1, $2)"
read = "SELECT n FROM t WHERE id = $1"
write = "UPDATE t SET n = $2 WHERE id = $1"
expect = "lossy"
[[writes]]
name = "inserts"
sql = "INSERT INTO t (id) VALUES ($1)"
"#;

    #[test]
    fn traffic_is_a_race_without_setup() {
        let r = parse("r.toml", GOOD).unwrap();
        assert_eq!(r.traffic.len(), 1);
        assert_eq!(r.traffic[0].paths[0].kind.label(), "rpc-with-fallback");
        assert_eq!(r.traffic[0].setup.rows, 10);
        assert_eq!(r.max_write_stall, Some(Duration::from_millis(50)));
        assert_eq!(r.writes[0].name, "inserts");
    }

    #[test]
    fn a_bad_stall_names_its_line() {
        let e = parse("r.toml", &GOOD.replace("\"50ms\"", "\"soon\"")).unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("max_write_stall"), "{e}");
    }

    #[test]
    fn a_bad_traffic_path_is_named() {
        let e = parse(
            "r.toml",
            &GOOD.replace("read = \"SELECT n", "reed = \"SELECT n"),
        )
        .unwrap_err();
        assert!(e.message.contains("[[traffic]] #1"), "{e}");
    }
}
