//! The index-benchmark kind of scenario (`kind = "index-bench"`): the data to generate, the
//! migration under test and the queries to time before and after it. Pure: TOML in, a
//! validated [`BenchScenario`] or a `file:line:col` error out.

pub use super::generators::{Dist, Gen};
use super::generators::{RawGen, generator};
use super::parse::{ScenarioError, Source, check_name, line_col};
use serde::Deserialize;
use std::collections::BTreeMap;
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
    let src = Source { origin, text };
    let raw: RawBench = src.toml()?;
    let settings = settings(src, raw.bench)?;
    let tables = tables(src, raw.tables)?;
    let queries = queries(src, raw.queries, settings.missing_share)?;
    Ok(BenchScenario {
        name: super::name_of(origin),
        origin: origin.to_string(),
        description: raw.description,
        settings,
        tables,
        queries,
    })
}

/// The `[bench]` table, with the defaults for what it leaves out.
fn settings(src: Source, b: RawSettings) -> Result<BenchSettings, ScenarioError> {
    let migration = migration_version(src, &b.migration)?;
    let (min_runs, max_runs) = runs(src, &b)?;
    let time_per_query = duration(src, &b.time_per_query, Duration::from_millis(500))?;
    let throughput_time = duration(src, &b.throughput_time, Duration::from_millis(500))?;
    let confidence = spanned_or(&b.confidence, 0.95);
    if !(0.5..1.0).contains(&confidence) {
        let span = b.confidence.as_ref().map(|s| s.span());
        return Err(src.at(
            span,
            format!("bench.confidence must be in [0.5, 1), e.g. 0.95, not {confidence}"),
        ));
    }
    let missing_share = share(src, &b.missing_share, 0.0)?;
    Ok(BenchSettings {
        migration,
        warmup: b.warmup.unwrap_or(3),
        min_runs,
        max_runs,
        time_per_query,
        throughput_time,
        confidence,
        missing_share,
    })
}

/// `bench.migration`: a version, all digits, as migration files are named.
fn migration_version(src: Source, migration: &Spanned<String>) -> Result<String, ScenarioError> {
    let version = migration.get_ref().trim().to_string();
    if version.is_empty() || !version.chars().all(|c| c.is_ascii_digit()) {
        return Err(src.err(
            migration.span(),
            format!(
                "bench.migration must be a migration version (digits, e.g. 20251117000004), not \
                    '{version}'"
            ),
        ));
    }
    Ok(version)
}

/// `bench.min_runs` and `bench.max_runs`: enough runs for an interval, and in order.
fn runs(src: Source, b: &RawSettings) -> Result<(u32, u32), ScenarioError> {
    let min_runs = spanned_or(&b.min_runs, 20);
    let max_runs = spanned_or(&b.max_runs, 500);
    if min_runs < 3 || max_runs < min_runs {
        let span = b
            .min_runs
            .as_ref()
            .or(b.max_runs.as_ref())
            .map(|s| s.span());
        return Err(src.at(
            span,
            format!(
                "bench.min_runs must be at least 3 and at most max_runs (got {min_runs} and \
                    {max_runs})"
            ),
        ));
    }
    Ok((min_runs, max_runs))
}

/// A duration setting written the humantime way ("500ms", "2s"), or its default.
fn duration(
    src: Source,
    v: &Option<Spanned<String>>,
    default: Duration,
) -> Result<Duration, ScenarioError> {
    match v {
        None => Ok(default),
        Some(s) => humantime::parse_duration(s.get_ref()).map_err(|e| {
            src.err(
                s.span(),
                format!(
                    "'{}' is not a duration ({e}); expected e.g. 500ms or 2s",
                    s.get_ref()
                ),
            )
        }),
    }
}

/// `[[tables]]`: at least one, in load order, every reference pointing at a `seq` column.
fn tables(
    src: Source,
    raw: Spanned<Vec<Spanned<RawTable>>>,
) -> Result<Vec<TableSpec>, ScenarioError> {
    let tables_span = raw.span();
    let raw_tables = raw.into_inner();
    let names: Vec<String> = raw_tables
        .iter()
        .map(|t| t.get_ref().name.get_ref().clone())
        .collect();
    let mut tables: Vec<TableSpec> = Vec::new();
    for (ti, t) in raw_tables.into_iter().enumerate() {
        tables.push(table(src, t.into_inner(), ti, &names)?);
    }
    if tables.is_empty() {
        return Err(src.err(
            tables_span,
            "an index bench needs at least one [[tables]] entry".into(),
        ));
    }
    check_references(src, &tables)?;
    Ok(tables)
}

/// One table: a name not used before it, a row count, and a generator per column.
fn table(
    src: Source,
    t: RawTable,
    ti: usize,
    names: &[String],
) -> Result<TableSpec, ScenarioError> {
    let name = t.name.get_ref().clone();
    if names[..ti].contains(&name) {
        return Err(src.err(t.name.span(), format!("table '{name}' is listed twice")));
    }
    let rows = *t.rows.get_ref();
    if !(1..=1_000_000_000).contains(&rows) {
        return Err(src.err(
            t.rows.span(),
            format!("rows must be between 1 and 1000000000, not {rows}"),
        ));
    }
    if t.columns.is_empty() {
        return Err(src.err(
            t.name.span(),
            format!("table '{name}' needs at least one column generator"),
        ));
    }
    let mut columns = Vec::new();
    for (col, g) in t.columns {
        let span = g.span();
        let generator = generator(g.into_inner(), ti, names)
            .map_err(|m| src.err(span, format!("{name}.{col}: {m}")))?;
        columns.push((col, generator));
    }
    Ok(TableSpec {
        name,
        rows: rows as u64,
        columns,
    })
}

/// Every `ref` must name a table with a `seq` column: the ids it refers to.
fn check_references(src: Source, tables: &[TableSpec]) -> Result<(), ScenarioError> {
    for t in tables {
        for (col, g) in &t.columns {
            if let Gen::Ref { table, .. } = g
                && !tables[*table]
                    .columns
                    .iter()
                    .any(|(_, g)| matches!(g, Gen::SeqUuid | Gen::SeqInt))
            {
                return Err(src.at(
                    None,
                    format!(
                        "{}.{col} refers to {}, which has no `seq` column to refer to",
                        t.name, tables[*table].name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `[[queries]]`: at least one, each uniquely named with non-empty SQL, parameters and index.
fn queries(
    src: Source,
    raw: Spanned<Vec<Spanned<RawQuery>>>,
    missing_share: f64,
) -> Result<Vec<QuerySpec>, ScenarioError> {
    let queries_span = raw.span();
    let mut queries: Vec<QuerySpec> = Vec::new();
    for q in raw.into_inner() {
        let span = q.span();
        let q = q.into_inner();
        let name = q.name.get_ref().clone();
        check_name("query", &name, queries.iter().map(|x| x.name.as_str()))
            .map_err(|m| src.err(q.name.span(), m))?;
        for s in [&q.sql, &q.params, &q.index] {
            if s.get_ref().trim().is_empty() {
                return Err(src.err(s.span(), "must not be empty".into()));
            }
        }
        queries.push(QuerySpec {
            name,
            index: q.index.into_inner().trim().to_string(),
            sql: q.sql.into_inner(),
            params: q.params.into_inner(),
            rollback: q.rollback,
            missing_share: share(src, &q.missing_share, missing_share)?,
            at: line_col(src.text, span.start),
        });
    }
    if queries.is_empty() {
        return Err(src.err(
            queries_span,
            "an index bench needs at least one [[queries]] entry".into(),
        ));
    }
    Ok(queries)
}

/// An optional setting's value, or its default.
fn spanned_or<T: Copy>(v: &Option<Spanned<T>>, default: T) -> T {
    v.as_ref().map_or(default, |s| *s.get_ref())
}

/// A `missing_share`: in [0, 1), or the default when left out.
fn share(src: Source, v: &Option<Spanned<f64>>, default: f64) -> Result<f64, ScenarioError> {
    match v {
        None => Ok(default),
        Some(s) if (0.0..1.0).contains(s.get_ref()) => Ok(*s.get_ref()),
        Some(s) => Err(src.err(
            s.span(),
            format!("missing_share must be in [0, 1), not {}", s.get_ref()),
        )),
    }
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
