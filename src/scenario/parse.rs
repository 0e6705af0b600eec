//! TOML → [`Scenario`], with every error as `file:line:col: what was expected`.
//!
//! Two stages, as ripgrep does with flags: serde reads the file into raw structs that keep their
//! spans (`toml::Spanned`), then one function per section (setup, counters, keys, paths) checks
//! what serde cannot and builds its part of the model.

use super::*;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::ops::Range;
use toml::Spanned;

/// A scenario file that cannot be used, located to its line and column.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{origin}:{line}:{col}: {message}")]
pub struct ScenarioError {
    pub origin: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl ScenarioError {
    /// The error at a byte offset of the file's text.
    pub(crate) fn at(origin: &str, text: &str, offset: usize, message: String) -> ScenarioError {
        let (line, col) = line_col(text, offset);
        ScenarioError {
            origin: origin.to_string(),
            line,
            col,
            message,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    /// "race" or absent; `load` sends "index-bench" files elsewhere.
    #[allow(dead_code)]
    kind: Option<String>,
    #[serde(default)]
    description: String,
    setup: RawSetup,
    counters: RawCounters,
    keys: Option<Spanned<RawKeys>>,
    paths: Spanned<Vec<Spanned<RawPath>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSetup {
    rows: Spanned<i64>,
    sql: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCounters {
    table: String,
    key: String,
    columns: Spanned<Vec<Spanned<RawColumn>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: String,
    #[serde(rename = "type")]
    ty: ColumnType,
    delta: RawDelta,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelta {
    min: Spanned<Number>,
    max: Spanned<Number>,
}

/// A number as written: integers bare, decimals as strings so they stay exact.
#[derive(Deserialize)]
#[serde(untagged)]
enum Number {
    Int(i64),
    Text(String),
    Float(f64),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeys {
    choice: Spanned<KeyKind>,
    hot_share: Option<Spanned<f64>>,
    zipf_s: Option<Spanned<f64>>,
    absent_share: Option<Spanned<f64>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum KeyKind {
    Hot,
    Uniform,
    Zipf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPath {
    name: Spanned<String>,
    kind: Spanned<RawKind>,
    sql: Option<Spanned<String>>,
    read: Option<Spanned<String>>,
    write: Option<Spanned<String>>,
    expect: Expect,
}

#[derive(Deserialize, Clone, Copy)]
enum RawKind {
    #[serde(rename = "rpc")]
    Rpc,
    #[serde(rename = "read-modify-write")]
    ReadModifyWrite,
    #[serde(rename = "rpc-with-fallback")]
    RpcWithFallback,
}

/// Parses and validates one scenario file.
pub fn parse(origin: &str, text: &str) -> Result<Scenario, ScenarioError> {
    let src = Source { origin, text };
    let raw: RawScenario = src.toml()?;
    let rows = setup_rows(src, &raw.setup.rows)?;
    let columns = columns(src, raw.counters.columns)?;
    let keys = match raw.keys {
        None => Keys {
            choice: KeyChoice::Uniform,
            absent_share: 0.0,
        },
        Some(k) => keys(src, k)?,
    };
    let paths = paths(src, raw.paths)?;
    Ok(Scenario {
        name: name_of(origin),
        origin: origin.to_string(),
        description: raw.description,
        setup: Setup {
            rows,
            sql: raw.setup.sql,
        },
        counters: Counters {
            table: raw.counters.table,
            key: raw.counters.key,
            columns,
        },
        keys,
        paths,
    })
}

/// The file being parsed, so that any span of it becomes a located [`ScenarioError`].
#[derive(Clone, Copy)]
pub(crate) struct Source<'a> {
    pub origin: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    /// The error at the start of a span, or at the top of the file when there is none.
    pub(crate) fn at(self, span: Option<Range<usize>>, message: String) -> ScenarioError {
        ScenarioError::at(self.origin, self.text, span.map_or(0, |s| s.start), message)
    }

    /// The error at the start of a span.
    pub(crate) fn err(self, span: Range<usize>, message: String) -> ScenarioError {
        self.at(Some(span), message)
    }

    /// The raw structs serde reads, or the syntax or shape error where TOML found it.
    pub(crate) fn toml<T: DeserializeOwned>(self) -> Result<T, ScenarioError> {
        toml::from_str(self.text).map_err(|e| self.at(e.span(), e.message().trim().to_string()))
    }
}

/// `setup.rows`: how many keys to seed, within what one run can hold.
fn setup_rows(src: Source, rows: &Spanned<i64>) -> Result<u32, ScenarioError> {
    let n = *rows.get_ref();
    if !(1..=10_000_000).contains(&n) {
        return Err(src.err(
            rows.span(),
            format!("setup.rows must be between 1 and 10000000, not {n}"),
        ));
    }
    Ok(n as u32)
}

/// `counters.columns`: at least one, no name twice, each with a valid delta range.
fn columns(
    src: Source,
    raw: Spanned<Vec<Spanned<RawColumn>>>,
) -> Result<Vec<Column>, ScenarioError> {
    let columns_span = raw.span();
    let mut columns: Vec<Column> = Vec::new();
    for c in raw.into_inner() {
        let span = c.span();
        let c = c.into_inner();
        if columns.iter().any(|x| x.name == c.name) {
            return Err(src.err(span, format!("counter column '{}' is listed twice", c.name)));
        }
        let delta = delta(src, &c.delta, c.ty)?;
        columns.push(Column {
            name: c.name,
            ty: c.ty,
            delta,
        });
    }
    if columns.is_empty() {
        return Err(src.err(
            columns_span,
            "counters.columns needs at least one column".into(),
        ));
    }
    Ok(columns)
}

/// A column's `delta`: exact bounds of the column's type, ordered, at most 12 decimal places.
fn delta(src: Source, d: &RawDelta, ty: ColumnType) -> Result<DeltaRange, ScenarioError> {
    let min = number(&d.min, ty).map_err(|m| src.err(d.min.span(), m))?;
    let max = number(&d.max, ty).map_err(|m| src.err(d.max.span(), m))?;
    if min > max {
        return Err(src.err(
            d.min.span(),
            format!("delta.min ({min}) is larger than delta.max ({max})"),
        ));
    }
    let scale = min.scale().max(max.scale());
    if scale > 12 {
        return Err(src.err(
            d.min.span(),
            "deltas may have at most 12 decimal places".into(),
        ));
    }
    Ok(DeltaRange { min, max, scale })
}

/// The `[keys]` table: how rows are drawn, and the share of calls for absent keys.
fn keys(src: Source, k: Spanned<RawKeys>) -> Result<Keys, ScenarioError> {
    let span = k.span();
    let k = k.into_inner();
    let choice = key_choice(src, &k, span)?;
    let absent_share = match &k.absent_share {
        None => 0.0,
        Some(a) => {
            let v = *a.get_ref();
            if !(0.0..1.0).contains(&v) {
                return Err(src.err(a.span(), format!("absent_share must be in [0, 1), not {v}")));
            }
            v
        }
    };
    Ok(Keys {
        choice,
        absent_share,
    })
}

/// `choice` with its parameter: only the parameter of the chosen kind, present and in range.
fn key_choice(src: Source, k: &RawKeys, span: Range<usize>) -> Result<KeyChoice, ScenarioError> {
    let kind = *k.choice.get_ref();
    for (field, value, wanted) in [
        ("hot_share", &k.hot_share, KeyKind::Hot),
        ("zipf_s", &k.zipf_s, KeyKind::Zipf),
    ] {
        if let Some(v) = value
            && kind != wanted
        {
            return Err(src.err(
                v.span(),
                format!("{field} does not apply to this key choice"),
            ));
        }
    }
    Ok(match kind {
        KeyKind::Uniform => KeyChoice::Uniform,
        KeyKind::Hot => {
            let s = k.hot_share.as_ref().ok_or_else(|| {
                src.err(
                    span.clone(),
                    "choice = \"hot\" \
                needs hot_share (the fraction of calls on the hot row, e.g. 0.8)"
                        .into(),
                )
            })?;
            let v = *s.get_ref();
            if !(v > 0.0 && v <= 1.0) {
                return Err(src.err(s.span(), format!("hot_share must be in (0, 1], not {v}")));
            }
            KeyChoice::Hot { share: v }
        }
        KeyKind::Zipf => {
            let s = k.zipf_s.as_ref().ok_or_else(|| {
                src.err(
                    span.clone(),
                    "choice = \"zipf\" needs zipf_s (the exponent, e.g. 1.1)".into(),
                )
            })?;
            let v = *s.get_ref();
            if !(v > 0.0 && v <= 10.0) {
                return Err(src.err(s.span(), format!("zipf_s must be in (0, 10], not {v}")));
            }
            KeyChoice::Zipf { s: v }
        }
    })
}

/// `[[paths]]`: at least one, each uniquely named, with the statements its kind takes.
fn paths(src: Source, raw: Spanned<Vec<Spanned<RawPath>>>) -> Result<Vec<PathSpec>, ScenarioError> {
    let paths_span = raw.span();
    let mut paths: Vec<PathSpec> = Vec::new();
    for p in raw.into_inner() {
        let span = p.span();
        let p = p.into_inner();
        let name = p.name.get_ref().clone();
        check_name("path", &name, paths.iter().map(|x| x.name.as_str()))
            .map_err(|m| src.err(p.name.span(), m))?;
        let expect = p.expect;
        let kind = match *p.kind.get_ref() {
            RawKind::Rpc => rpc(src, p, &name, span.clone())?,
            RawKind::ReadModifyWrite => read_modify_write(src, p, &name, span.clone())?,
            RawKind::RpcWithFallback => rpc_with_fallback(src, p, &name, span.clone())?,
        };
        paths.push(PathSpec {
            name,
            kind,
            expect,
            at: line_col(src.text, span.start),
        });
    }
    if paths.is_empty() {
        return Err(src.err(
            paths_span,
            "a scenario needs at least one [[paths]] entry".into(),
        ));
    }
    Ok(paths)
}

/// A `kind = "rpc"` path: one statement in `sql`, no `read` or `write`.
fn rpc(src: Source, p: RawPath, name: &str, span: Range<usize>) -> Result<PathKind, ScenarioError> {
    if let Some(extra) = p.read.as_ref().or(p.write.as_ref()) {
        return Err(src.err(
            extra.span(),
            "kind = \"rpc\" takes one statement in `sql`, not read/write".into(),
        ));
    }
    let sql = p.sql.ok_or_else(|| {
        src.err(
            span,
            format!(
                "path '{name}' (kind = \"rpc\") needs `sql`, e.g. sql = \"SELECT my_rpc($1, $2)\""
            ),
        )
    })?;
    Ok(PathKind::Rpc {
        sql: nonempty(src, sql)?,
    })
}

/// A `kind = "read-modify-write"` path: `read` and `write`, no `sql`.
fn read_modify_write(
    src: Source,
    p: RawPath,
    name: &str,
    span: Range<usize>,
) -> Result<PathKind, ScenarioError> {
    if let Some(extra) = &p.sql {
        return Err(src.err(
            extra.span(),
            "kind = \"read-modify-write\" takes `read` and `write`, not `sql`".into(),
        ));
    }
    let read = p.read.ok_or_else(|| {
        src.err(
            span.clone(),
            format!(
                "path '{name}' (kind = \
        \"read-modify-write\") needs `read`, a SELECT of the counter columns by key ($1)"
            ),
        )
    })?;
    let write = p.write.ok_or_else(|| {
        src.err(
            span,
            format!(
                "path '{name}' (kind = \
        \"read-modify-write\") needs `write`, an UPDATE setting the new values ($2, …) by key \
        ($1)"
            ),
        )
    })?;
    Ok(PathKind::ReadModifyWrite {
        read: nonempty(src, read)?,
        write: nonempty(src, write)?,
    })
}

/// A `kind = "rpc-with-fallback"` path: the RPC in `sql`, and the `read` and `write` the app
/// falls back to while the function does not exist.
fn rpc_with_fallback(
    src: Source,
    p: RawPath,
    name: &str,
    span: Range<usize>,
) -> Result<PathKind, ScenarioError> {
    let missing = |what: &str| {
        src.err(
            span.clone(),
            format!(
                "path '{name}' (kind = \"rpc-with-fallback\") needs `{what}`: `sql` calls the \
                    RPC, `read` and `write` are the read-modify-write it falls back to"
            ),
        )
    };
    let sql = p.sql.ok_or_else(|| missing("sql"))?;
    let read = p.read.ok_or_else(|| missing("read"))?;
    let write = p.write.ok_or_else(|| missing("write"))?;
    Ok(PathKind::RpcWithFallback {
        sql: nonempty(src, sql)?,
        read: nonempty(src, read)?,
        write: nonempty(src, write)?,
    })
}

/// A statement's text, refused when blank.
fn nonempty(src: Source, s: Spanned<String>) -> Result<String, ScenarioError> {
    if s.get_ref().trim().is_empty() {
        return Err(src.err(s.span(), "SQL must not be empty".into()));
    }
    Ok(s.into_inner())
}

fn number(n: &Spanned<Number>, ty: ColumnType) -> Result<Decimal, String> {
    let d = match n.get_ref() {
        Number::Int(i) => Decimal::from(*i),
        Number::Text(s) => s
            .trim()
            .parse::<Decimal>()
            .map_err(|_| format!("'{s}' is not a decimal number"))?,
        Number::Float(f) => {
            return Err(format!(
                "write decimal deltas as strings (\"{f}\") so they stay exact; floats are not \
                    accepted"
            ));
        }
    };
    if ty == ColumnType::Integer && d.scale() > 0 && d.fract() != Decimal::ZERO {
        return Err(format!(
            "{d} is not a whole number, but the column's type is integer"
        ));
    }
    Ok(if ty == ColumnType::Integer {
        d.trunc()
    } else {
        d
    })
}

/// A path's or query's name: letters, digits, '-' or '_', and not taken yet.
pub(crate) fn check_name<'a>(
    what: &str,
    name: &str,
    mut taken: impl Iterator<Item = &'a str>,
) -> Result<(), String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "{what} name '{name}' must be letters, digits, '-' or '_'"
        ));
    }
    if taken.any(|x| x == name) {
        return Err(format!("{what} name '{name}' is used twice"));
    }
    Ok(())
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
description = "d"
[setup]
rows = 10
sql = "SELECT 1"
[counters]
table = "t"
key = "id"
[[counters.columns]]
name = "n"
type = "integer"
delta = { min = 1, max = 5 }
[[counters.columns]]
name = "cost"
type = "numeric"
delta = { min = "0.0001", max = "0.5" }
[keys]
choice = "hot"
hot_share = 0.8
[[paths]]
name = "rpc"
kind = "rpc"
sql = "SELECT f($1, $2, $3)"
expect = "exact"
[[paths]]
name = "fallback"
kind = "read-modify-write"
read = "SELECT n, cost FROM t WHERE id = $1"
write = "UPDATE t SET n = $2, cost = $3 WHERE id = $1"
expect = "lossy"
"#;

    fn error_of(text: &str) -> ScenarioError {
        parse("s.toml", text).unwrap_err()
    }

    #[test]
    fn a_good_file_parses() {
        let s = parse("dir/s.toml", GOOD).unwrap();
        assert_eq!(s.name, "s");
        assert_eq!(s.columns_len(), 2);
        assert_eq!(s.counters.columns[1].delta.scale, 4);
        assert_eq!(s.counters.columns[1].delta.units(), (1, 5000));
        assert_eq!(s.keys.choice, KeyChoice::Hot { share: 0.8 });
        assert!(matches!(s.paths[1].kind, PathKind::ReadModifyWrite { .. }));
        assert_eq!(s.paths[0].at.0, 20);
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let e = error_of("this is = not [valid toml\n");
        assert_eq!((e.line, e.col), (1, 6), "{e}");
    }

    #[test]
    fn missing_key_is_named() {
        let e = error_of(&GOOD.replace("table = \"t\"\n", ""));
        assert!(e.message.contains("table"), "{e}");
    }

    #[test]
    fn wrong_type_is_located() {
        let e = error_of(&GOOD.replace("rows = 10", "rows = \"ten\""));
        assert_eq!(e.line, 4, "{e}");
    }

    #[test]
    fn unknown_path_kind_lists_the_choices() {
        let e = error_of(&GOOD.replace("kind = \"rpc\"", "kind = \"magic\""));
        assert!(e.message.contains("read-modify-write"), "{e}");
        assert_eq!(e.line, 22, "{e}");
    }

    #[test]
    fn zipf_and_absent_keys_parse_and_are_checked() {
        let zipf = GOOD.replace(
            "choice = \"hot\"\nhot_share = 0.8",
            "choice = \"zipf\"\nzipf_s = 1.1\nabsent_share = 0.05",
        );
        let s = parse("s.toml", &zipf).unwrap();
        assert_eq!(
            s.keys,
            Keys {
                choice: KeyChoice::Zipf { s: 1.1 },
                absent_share: 0.05
            }
        );
        let e = error_of(&GOOD.replace("hot_share = 0.8", "hot_share = 0.8\nzipf_s = 2.0"));
        assert!(e.message.contains("zipf_s does not apply"), "{e}");
        let e = error_of(&zipf.replace("absent_share = 0.05", "absent_share = 1.5"));
        assert!(e.message.contains("absent_share"), "{e}");
    }

    #[test]
    fn float_deltas_are_refused_for_exactness() {
        let e = error_of(&GOOD.replace("min = \"0.0001\"", "min = 0.0001"));
        assert!(e.message.contains("strings"), "{e}");
    }

    #[test]
    fn rmw_without_write_is_refused() {
        let e = error_of(&GOOD.replace(
            "write = \"UPDATE t SET n = $2, cost = $3 WHERE id = $1\"\n",
            "",
        ));
        assert!(e.message.contains("needs `write`"), "{e}");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = error_of(&GOOD.replace("expect = \"exact\"", "expect = \"exact\"\nexpected = 1"));
        assert!(e.message.contains("expected"), "{e}");
    }

    #[test]
    fn builtin_scenarios_parse() {
        for (name, text) in BUILTIN {
            load(&format!("builtin:{name}"), text).unwrap();
        }
    }

    impl Scenario {
        fn columns_len(&self) -> usize {
            self.counters.columns.len()
        }
    }
}
