//! The index-benchmark kind of scenario (`kind = "index-bench"`): the data to generate, the
//! migration under test and the queries to time before and after it. Pure: TOML in, a
//! validated [`BenchScenario`] or a `file:line:col` error out.

use super::parse::{ScenarioError, check_name, line_col};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;
use toml::Spanned;

/// A validated index-benchmark scenario.
#[derive(Debug, Clone)]
pub struct BenchScenario {
    pub name: String,
    pub origin: String,
    pub description: String,
    pub settings: BenchSettings,
    /// In load order; every `ref` points at a table listed earlier or at its own table.
    pub tables: Vec<TableSpec>,
    pub queries: Vec<QuerySpec>,
}

#[derive(Debug, Clone)]
pub struct BenchSettings {
    /// The version of the migration under test: the "before" state is every migration older
    /// than it, the "after" state is that file applied on top.
    pub migration: String,
    pub warmup: u32,
    pub min_runs: u32,
    pub max_runs: u32,
    pub time_per_query: Duration,
    pub throughput_time: Duration,
    pub confidence: f64,
    pub missing_share: f64,
}

/// One table to fill, `rows` at scale 1.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub name: String,
    pub rows: u64,
    pub columns: Vec<(String, Gen)>,
}

/// How one column's values are made. Every generator is deterministic in (seed, table, row).
#[derive(Debug, Clone, PartialEq)]
pub enum Gen {
    /// Row n's id: a uuid ordered by n (the way UUIDv7 ids are ordered by time).
    SeqUuid,
    /// Row n's id: n + 1.
    SeqInt,
    /// The id of a row of `table` (an index into `tables`), or NULL with `null_share`.
    Ref {
        table: usize,
        dist: Dist,
        null_share: f64,
    },
    /// One of the values, weighted.
    OneOf {
        values: Vec<String>,
        weights: Vec<u64>,
    },
    /// Text with `{n}` replaced by the row number (1-based).
    Format(String),
    Int(i64, i64),
    /// Uniform in [min, max] in steps of 10^-scale: exact decimals.
    Numeric {
        min: Decimal,
        max: Decimal,
    },
    /// A timestamp within this long before 2025-11-17 00:00 UTC.
    Time(Duration),
    /// true with this probability.
    Bool(f64),
    /// The same text in every row.
    Value(String),
}

/// Which parent row a reference picks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Dist {
    Uniform,
    /// Zipf(s) over the parents: a few get most children, most get a few.
    Zipf(f64),
    /// Row n → parent n (modulo the parent count): one child per parent.
    Each,
}

/// One query to time.
#[derive(Debug, Clone)]
pub struct QuerySpec {
    pub name: String,
    /// The index of the migration that the after-plan must use.
    pub index: String,
    pub sql: String,
    /// A query whose rows are sampled as ($1, $2, ...).
    pub params: String,
    /// Run inside a transaction that is rolled back (for DELETE/UPDATE).
    pub rollback: bool,
    pub missing_share: f64,
    /// Line and column of the query's table in the file.
    pub at: (usize, usize),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBench {
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    description: String,
    bench: RawSettings,
    tables: Spanned<Vec<Spanned<RawTable>>>,
    queries: Spanned<Vec<Spanned<RawQuery>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    migration: Spanned<String>,
    warmup: Option<u32>,
    min_runs: Option<Spanned<u32>>,
    max_runs: Option<Spanned<u32>>,
    time_per_query: Option<Spanned<String>>,
    throughput_time: Option<Spanned<String>>,
    confidence: Option<Spanned<f64>>,
    missing_share: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    name: Spanned<String>,
    rows: Spanned<i64>,
    columns: BTreeMap<String, Spanned<RawGen>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGen {
    seq: Option<String>,
    #[serde(rename = "ref")]
    reference: Option<String>,
    dist: Option<String>,
    s: Option<f64>,
    null_share: Option<f64>,
    one_of: Option<Vec<String>>,
    weights: Option<Vec<u64>>,
    format: Option<String>,
    int: Option<[i64; 2]>,
    numeric: Option<[String; 2]>,
    time: Option<String>,
    bool: Option<f64>,
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    name: Spanned<String>,
    index: Spanned<String>,
    sql: Spanned<String>,
    params: Spanned<String>,
    #[serde(default)]
    rollback: bool,
    missing_share: Option<Spanned<f64>>,
}

/// Parses and validates an index-benchmark file.
pub fn parse(origin: &str, text: &str) -> Result<BenchScenario, ScenarioError> {
    let at = |span: Option<Range<usize>>, message: String| {
        ScenarioError::at(origin, text, span.map_or(0, |s| s.start), message)
    };
    let raw: RawBench =
        toml::from_str(text).map_err(|e| at(e.span(), e.message().trim().to_string()))?;
    let err = |span: Range<usize>, message: String| at(Some(span), message);

    let b = raw.bench;
    let version = b.migration.get_ref().trim().to_string();
    if version.is_empty() || !version.chars().all(|c| c.is_ascii_digit()) {
        return Err(err(
            b.migration.span(),
            format!(
                "bench.migration must be a migration version (digits, e.g. 20251117000004), not '{version}'"
            ),
        ));
    }
    let min_runs = spanned_or(&b.min_runs, 20);
    let max_runs = spanned_or(&b.max_runs, 500);
    if min_runs < 3 || max_runs < min_runs {
        let span = b
            .min_runs
            .as_ref()
            .or(b.max_runs.as_ref())
            .map(|s| s.span());
        return Err(at(
            span,
            format!(
                "bench.min_runs must be at least 3 and at most max_runs (got {min_runs} and {max_runs})"
            ),
        ));
    }
    let duration = |v: &Option<Spanned<String>>, default: Duration| match v {
        None => Ok(default),
        Some(s) => humantime::parse_duration(s.get_ref()).map_err(|e| {
            err(
                s.span(),
                format!(
                    "'{}' is not a duration ({e}); expected e.g. 500ms or 2s",
                    s.get_ref()
                ),
            )
        }),
    };
    let time_per_query = duration(&b.time_per_query, Duration::from_millis(500))?;
    let throughput_time = duration(&b.throughput_time, Duration::from_millis(500))?;
    let confidence = spanned_or(&b.confidence, 0.95);
    if !(0.5..1.0).contains(&confidence) {
        let span = b.confidence.as_ref().map(|s| s.span());
        return Err(at(
            span,
            format!("bench.confidence must be in [0.5, 1), e.g. 0.95, not {confidence}"),
        ));
    }
    let missing_share = share(&b.missing_share, 0.0, &err)?;

    let tables_span = raw.tables.span();
    let raw_tables = raw.tables.into_inner();
    let names: Vec<String> = raw_tables
        .iter()
        .map(|t| t.get_ref().name.get_ref().clone())
        .collect();
    let mut tables: Vec<TableSpec> = Vec::new();
    for (ti, t) in raw_tables.into_iter().enumerate() {
        let t = t.into_inner();
        let name = t.name.get_ref().clone();
        if names[..ti].contains(&name) {
            return Err(err(
                t.name.span(),
                format!("table '{name}' is listed twice"),
            ));
        }
        let rows = *t.rows.get_ref();
        if !(1..=1_000_000_000).contains(&rows) {
            return Err(err(
                t.rows.span(),
                format!("rows must be between 1 and 1000000000, not {rows}"),
            ));
        }
        if t.columns.is_empty() {
            return Err(err(
                t.name.span(),
                format!("table '{name}' needs at least one column generator"),
            ));
        }
        let mut columns = Vec::new();
        for (col, g) in t.columns {
            let span = g.span();
            let generator = generator(g.into_inner(), ti, &names)
                .map_err(|m| err(span, format!("{name}.{col}: {m}")))?;
            columns.push((col, generator));
        }
        tables.push(TableSpec {
            name,
            rows: rows as u64,
            columns,
        });
    }
    if tables.is_empty() {
        return Err(err(
            tables_span,
            "an index bench needs at least one [[tables]] entry".into(),
        ));
    }
    for (ti, t) in tables.iter().enumerate() {
        for (col, g) in &t.columns {
            if let Gen::Ref { table, .. } = g
                && !tables[*table]
                    .columns
                    .iter()
                    .any(|(_, g)| matches!(g, Gen::SeqUuid | Gen::SeqInt))
            {
                return Err(at(
                    None,
                    format!(
                        "{}.{col} refers to {}, which has no `seq` column to refer to",
                        tables[ti].name, tables[*table].name
                    ),
                ));
            }
        }
    }

    let queries_span = raw.queries.span();
    let mut queries: Vec<QuerySpec> = Vec::new();
    for q in raw.queries.into_inner() {
        let span = q.span();
        let q = q.into_inner();
        let name = q.name.get_ref().clone();
        check_name("query", &name, queries.iter().map(|x| x.name.as_str()))
            .map_err(|m| err(q.name.span(), m))?;
        for s in [&q.sql, &q.params, &q.index] {
            if s.get_ref().trim().is_empty() {
                return Err(err(s.span(), "must not be empty".into()));
            }
        }
        queries.push(QuerySpec {
            name,
            index: q.index.into_inner().trim().to_string(),
            sql: q.sql.into_inner(),
            params: q.params.into_inner(),
            rollback: q.rollback,
            missing_share: share(&q.missing_share, missing_share, &err)?,
            at: line_col(text, span.start),
        });
    }
    if queries.is_empty() {
        return Err(err(
            queries_span,
            "an index bench needs at least one [[queries]] entry".into(),
        ));
    }

    Ok(BenchScenario {
        name: super::name_of(origin),
        origin: origin.to_string(),
        description: raw.description,
        settings: BenchSettings {
            migration: version,
            warmup: b.warmup.unwrap_or(3),
            min_runs,
            max_runs,
            time_per_query,
            throughput_time,
            confidence,
            missing_share,
        },
        tables,
        queries,
    })
}

fn spanned_or<T: Copy>(v: &Option<Spanned<T>>, default: T) -> T {
    v.as_ref().map_or(default, |s| *s.get_ref())
}

fn share(
    v: &Option<Spanned<f64>>,
    default: f64,
    err: &impl Fn(Range<usize>, String) -> ScenarioError,
) -> Result<f64, ScenarioError> {
    match v {
        None => Ok(default),
        Some(s) if (0.0..1.0).contains(s.get_ref()) => Ok(*s.get_ref()),
        Some(s) => Err(err(
            s.span(),
            format!("missing_share must be in [0, 1), not {}", s.get_ref()),
        )),
    }
}

/// Exactly one kind key per column; `dist`, `s`, `null_share` and `weights` only with theirs.
fn generator(g: RawGen, this: usize, names: &[String]) -> Result<Gen, String> {
    let kinds = [
        g.seq.is_some(),
        g.reference.is_some(),
        g.one_of.is_some(),
        g.format.is_some(),
        g.int.is_some(),
        g.numeric.is_some(),
        g.time.is_some(),
        g.bool.is_some(),
        g.value.is_some(),
    ];
    const EXPECTED: &str = "one of seq, ref, one_of, format, int, numeric, time, bool, value";
    match kinds.iter().filter(|k| **k).count() {
        1 => {}
        0 => return Err(format!("no generator: expected {EXPECTED}")),
        _ => {
            return Err(format!(
                "more than one generator: expected exactly {EXPECTED}"
            ));
        }
    }
    if g.reference.is_none() && (g.dist.is_some() || g.s.is_some() || g.null_share.is_some()) {
        return Err("dist, s and null_share apply to `ref` only".into());
    }
    if g.one_of.is_none() && g.weights.is_some() {
        return Err("weights apply to `one_of` only".into());
    }
    if let Some(s) = g.seq {
        return match s.as_str() {
            "uuid" => Ok(Gen::SeqUuid),
            "int" => Ok(Gen::SeqInt),
            other => Err(format!("seq = \"{other}\": expected \"uuid\" or \"int\"")),
        };
    }
    if let Some(r) = g.reference {
        let Some(table) = names.iter().position(|n| *n == r) else {
            return Err(format!("ref = \"{r}\" names no table of this file"));
        };
        if table > this {
            return Err(format!(
                "ref = \"{r}\": list {r} before the tables that refer to it (tables load in file order)"
            ));
        }
        let dist = match (g.dist.as_deref(), g.s) {
            (None | Some("uniform"), None) => Dist::Uniform,
            (Some("each"), None) => Dist::Each,
            (Some("zipf"), Some(s)) if s > 0.0 && s <= 10.0 => Dist::Zipf(s),
            (Some("zipf"), Some(s)) => return Err(format!("s must be in (0, 10], not {s}")),
            (Some("zipf"), None) => {
                return Err("dist = \"zipf\" needs s, the exponent (e.g. 1.0)".into());
            }
            (_, Some(_)) => return Err("s applies to dist = \"zipf\" only".into()),
            (Some(other), None) => {
                return Err(format!(
                    "dist = \"{other}\": expected \"uniform\", \"zipf\" or \"each\""
                ));
            }
        };
        let null_share = g.null_share.unwrap_or(0.0);
        if !(0.0..1.0).contains(&null_share) {
            return Err(format!("null_share must be in [0, 1), not {null_share}"));
        }
        if table == this && dist != Dist::Uniform {
            return Err(
                "a reference to the table itself picks an earlier row uniformly; leave out dist"
                    .into(),
            );
        }
        return Ok(Gen::Ref {
            table,
            dist,
            null_share,
        });
    }
    if let Some(values) = g.one_of {
        if values.is_empty() {
            return Err("one_of needs at least one value".into());
        }
        let weights = g.weights.unwrap_or_else(|| vec![1; values.len()]);
        if weights.len() != values.len() || weights.iter().sum::<u64>() == 0 {
            return Err(format!(
                "weights needs one positive number per value ({} values, {} weights)",
                values.len(),
                weights.len()
            ));
        }
        return Ok(Gen::OneOf { values, weights });
    }
    if let Some(f) = g.format {
        return Ok(Gen::Format(f));
    }
    if let Some([lo, hi]) = g.int {
        if lo > hi {
            return Err(format!("int = [{lo}, {hi}]: the first bound is larger"));
        }
        return Ok(Gen::Int(lo, hi));
    }
    if let Some([lo, hi]) = g.numeric {
        let p = |s: &str| {
            s.trim()
                .parse::<Decimal>()
                .map_err(|_| format!("'{s}' is not a decimal number"))
        };
        let (min, max) = (p(&lo)?, p(&hi)?);
        if min > max || min.scale().max(max.scale()) > 12 {
            return Err(format!(
                "numeric = [\"{lo}\", \"{hi}\"]: the bounds must be ordered, with at most 12 decimal places"
            ));
        }
        return Ok(Gen::Numeric { min, max });
    }
    if let Some(t) = g.time {
        let d = humantime::parse_duration(&t)
            .map_err(|e| format!("time = \"{t}\": {e}; expected a span such as 365d"))?;
        return Ok(Gen::Time(d));
    }
    if let Some(p) = g.bool {
        if !(0.0..=1.0).contains(&p) {
            return Err(format!(
                "bool = {p}: expected the share of true values, in [0, 1]"
            ));
        }
        return Ok(Gen::Bool(p));
    }
    Ok(Gen::Value(g.value.unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
kind = "index-bench"
[bench]
migration = "20251117000004"
[[tables]]
name = "parent"
rows = 10
columns.id = { seq = "uuid" }
[[tables]]
name = "child"
rows = 100
columns.parent_id = { ref = "parent", dist = "zipf", s = 1.0 }
columns.kind = { one_of = ["a", "b"], weights = [9, 1] }
[[queries]]
name = "children"
index = "idx_child_parent"
sql = "SELECT * FROM child WHERE parent_id = $1"
params = "SELECT id FROM parent"
"#;

    #[test]
    fn a_good_file_parses() {
        let s = parse("b.toml", GOOD).unwrap();
        assert_eq!(s.tables.len(), 2);
        assert_eq!(s.tables[1].columns[1].0, "parent_id");
        assert_eq!(
            s.tables[1].columns[1].1,
            Gen::Ref {
                table: 0,
                dist: Dist::Zipf(1.0),
                null_share: 0.0
            }
        );
        assert_eq!(s.settings.min_runs, 20);
        assert_eq!(s.queries[0].at.0, 14);
    }

    #[test]
    fn bad_generators_are_located_and_explained() {
        let e = parse(
            "b.toml",
            &GOOD.replace("dist = \"zipf\", s = 1.0", "dist = \"zipf\""),
        )
        .unwrap_err();
        assert_eq!(e.line, 12, "{e}");
        assert!(e.message.contains("needs s"), "{e}");
        let e = parse(
            "b.toml",
            &GOOD.replace("ref = \"parent\"", "ref = \"nope\""),
        )
        .unwrap_err();
        assert!(e.message.contains("names no table"), "{e}");
        let e = parse(
            "b.toml",
            &GOOD.replace("{ seq = \"uuid\" }", "{ seq = \"uuid\", int = [1, 2] }"),
        )
        .unwrap_err();
        assert!(e.message.contains("more than one generator"), "{e}");
    }

    #[test]
    fn an_unknown_kind_is_refused_with_the_choices() {
        let e = super::super::load("b.toml", &GOOD.replace("\"index-bench\"", "\"magic\""))
            .unwrap_err();
        assert_eq!((e.line, e.col), (2, 8), "{e}");
        assert!(e.message.contains("index-bench"), "{e}");
    }

    #[test]
    fn a_query_without_sql_is_refused() {
        let e = parse(
            "b.toml",
            &GOOD.replace("sql = \"SELECT * FROM child WHERE parent_id = $1\"\n", ""),
        )
        .unwrap_err();
        assert!(e.message.contains("sql"), "{e}");
    }

    #[test]
    fn the_builtin_join_bench_parses() {
        let (_, text) = super::super::BUILTIN
            .iter()
            .find(|(n, _)| *n == "join-bench")
            .unwrap();
        let s = parse("builtin:join-bench", text).unwrap();
        assert!(s.queries.len() >= 8);
    }
}
