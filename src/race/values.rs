//! The values a call sends: keys exactly as the server sent them, and exact counter values
//! encoded as whatever integer or numeric type the server asks for; for the simple query
//! protocol, the same values written as SQL literals into the scenario's SQL, and counters read
//! back from text. Pure apart from the wire types.

use crate::error::Result;
use crate::pg::quote_ident;
use bytes::BytesMut;
use rust_decimal::Decimal;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

/// A key exactly as the server sent it (binary format), sent back verbatim: any key type works
/// (uuid, bigint, text, ...) without loadtest knowing it.
#[derive(Debug, Clone)]
pub struct KeyValue {
    ty: Type,
    raw: Vec<u8>,
    /// Its SQL literal for `--query-mode simple`, written on first use and kept (with the type
    /// it was cast to): formatting and quoting a key on every call cost the simple mode about
    /// a tenth of its client CPU per call.
    literal: std::sync::OnceLock<(Type, String)>,
}

impl KeyValue {
    fn new(ty: Type, raw: Vec<u8>) -> KeyValue {
        KeyValue {
            ty,
            raw,
            literal: std::sync::OnceLock::new(),
        }
    }
}

impl PartialEq for KeyValue {
    fn eq(&self, other: &KeyValue) -> bool {
        self.ty == other.ty && self.raw == other.raw
    }
}

impl Eq for KeyValue {}

impl std::hash::Hash for KeyValue {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.ty.hash(state);
        self.raw.hash(state);
    }
}

impl KeyValue {
    /// The key as a person reads it (uuid, number or text; hex for anything else).
    pub fn display(&self) -> String {
        let parsed = match self.ty {
            Type::UUID => uuid::Uuid::from_slice(&self.raw)
                .map(|u| u.to_string())
                .ok(),
            Type::INT2 => i16::from_sql(&self.ty, &self.raw)
                .ok()
                .map(|v| v.to_string()),
            Type::INT4 => i32::from_sql(&self.ty, &self.raw)
                .ok()
                .map(|v| v.to_string()),
            Type::INT8 => i64::from_sql(&self.ty, &self.raw)
                .ok()
                .map(|v| v.to_string()),
            Type::TEXT | Type::VARCHAR => String::from_utf8(self.raw.clone()).ok(),
            _ => None,
        };
        parsed.unwrap_or_else(|| hex::encode(&self.raw))
    }

    /// [`KeyValue::literal`], written once per key and type and then reused.
    pub fn cached_literal(&self, ty: &Type) -> Result<std::borrow::Cow<'_, str>, String> {
        use std::borrow::Cow;
        if let Some((t, lit)) = self.literal.get() {
            if t == ty {
                return Ok(Cow::Borrowed(lit));
            }
            return self.literal(ty).map(Cow::Owned);
        }
        let lit = self.literal(ty)?;
        let (t, kept) = self.literal.get_or_init(|| (ty.clone(), lit.clone()));
        Ok(if t == ty {
            Cow::Borrowed(kept)
        } else {
            Cow::Owned(lit)
        })
    }

    /// The key as an SQL literal cast to `ty`, the type the statement takes it as: a uuid or
    /// text key quoted (`'...'::uuid`), an integer key as a plain number.
    pub fn literal(&self, ty: &Type) -> Result<String, String> {
        let text = |v: Option<String>| {
            v.ok_or_else(|| {
                format!(
                    "the {} key {} is not valid",
                    self.ty,
                    hex::encode(&self.raw)
                )
            })
        };
        Ok(match self.ty {
            Type::INT2 | Type::INT4 | Type::INT8 => number_literal(&text(self.number())?, ty),
            Type::UUID | Type::TEXT | Type::VARCHAR => {
                format!(
                    "{}::{}",
                    text_literal(&text(Some(self.display()))?),
                    type_name(ty)
                )
            }
            ref other => {
                return Err(format!(
                    "--query-mode simple needs a uuid, integer or text key, not {other}: use \
                        --query-mode extended"
                ));
            }
        })
    }

    fn number(&self) -> Option<String> {
        match self.ty {
            Type::INT2 => i16::from_sql(&self.ty, &self.raw)
                .ok()
                .map(|v| v.to_string()),
            Type::INT4 => i32::from_sql(&self.ty, &self.raw)
                .ok()
                .map(|v| v.to_string()),
            Type::INT8 => i64::from_sql(&self.ty, &self.raw)
                .ok()
                .map(|v| v.to_string()),
            _ => None,
        }
    }

    /// `n` keys of the same type as `existing` that are not among them, for calls that must be
    /// refused. Deterministic in `seed`.
    pub fn absent(existing: &[KeyValue], n: usize, seed: u64) -> Result<Vec<KeyValue>, String> {
        use rand::{Rng, SeedableRng};
        let Some(first) = existing.first() else {
            return Ok(Vec::new());
        };
        let taken: std::collections::HashSet<&KeyValue> = existing.iter().collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ 0xAB5E_4700);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let raw = match first.ty {
                Type::UUID => uuid::Builder::from_random_bytes(rng.random())
                    .into_uuid()
                    .as_bytes()
                    .to_vec(),
                Type::INT2 => (-rng.random_range(1..i16::MAX)).to_be_bytes().to_vec(),
                Type::INT4 => (-rng.random_range(1..i32::MAX)).to_be_bytes().to_vec(),
                Type::INT8 => (-rng.random_range(1..i64::MAX)).to_be_bytes().to_vec(),
                Type::TEXT | Type::VARCHAR => {
                    format!("absent-{:016x}", rng.random::<u64>()).into_bytes()
                }
                ref other => {
                    return Err(format!(
                        "absent_share needs a uuid, integer or text key, not {other}"
                    ));
                }
            };
            let k = KeyValue::new(first.ty.clone(), raw);
            if !taken.contains(&k) {
                out.push(k);
            }
        }
        Ok(out)
    }
}

impl<'a> FromSql<'a> for KeyValue {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(KeyValue::new(ty.clone(), raw.to_vec()))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

impl ToSql for KeyValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        if *ty != self.ty {
            return Err(format!("key of type {} sent where {} is expected", self.ty, ty).into());
        }
        out.extend_from_slice(&self.raw);
        Ok(IsNull::No)
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

/// An exact counter value, encoded as whatever integer or numeric type the server asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Num(pub Decimal);

pub const EXACT_TYPES: [Type; 4] = [Type::INT2, Type::INT4, Type::INT8, Type::NUMERIC];

impl ToSql for Num {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let overflow = || format!("{} does not fit in {ty}", self.0);
        match *ty {
            Type::INT2 => i16::try_from(self.0)
                .map_err(|_| overflow())?
                .to_sql(ty, out),
            Type::INT4 => i32::try_from(self.0)
                .map_err(|_| overflow())?
                .to_sql(ty, out),
            Type::INT8 => i64::try_from(self.0)
                .map_err(|_| overflow())?
                .to_sql(ty, out),
            _ => self.0.to_sql(ty, out),
        }
    }
    fn accepts(ty: &Type) -> bool {
        EXACT_TYPES.contains(ty)
    }
    to_sql_checked!();
}

impl Num {
    /// The value as a plain numeric literal cast to `ty` (`5::int4`, `(-1.50)::numeric`).
    pub fn literal(&self, ty: &Type) -> String {
        number_literal(&self.0.to_string(), ty)
    }

    /// A counter the simple query protocol returned as text, exactly: a value that does not
    /// fit a decimal exactly is an error, never rounded.
    pub fn parse(text: &str) -> Result<Num, String> {
        Decimal::from_str_exact(text.trim())
            .map(Num)
            .map_err(|e| format!("counter value '{text}' is not an exact decimal: {e}"))
    }
}

/// A number, parenthesized when negative so that `x - $1` never becomes the comment `x --5`.
fn number_literal(n: &str, ty: &Type) -> String {
    if n.starts_with('-') {
        format!("({n})::{}", type_name(ty))
    } else {
        format!("{n}::{}", type_name(ty))
    }
}

/// A string as a quoted SQL literal: quotes doubled; with a backslash, an escape string
/// (`E'...'`) with the backslash doubled too, so it reads the same whatever
/// `standard_conforming_strings` is.
pub fn text_literal(s: &str) -> String {
    if s.contains('\\') {
        format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

/// The name to cast to: built-in types by name, others schema-qualified and quoted.
fn type_name(ty: &Type) -> std::borrow::Cow<'_, str> {
    match ty.schema() {
        "pg_catalog" => ty.name().into(),
        schema => format!("{}.{}", quote_ident(schema), quote_ident(ty.name())).into(),
    }
}

/// The scenario's SQL with `$1..$n` replaced by `literals` (`$1` = the first). A placeholder is
/// read whole (`$10` is the tenth, never `$1` then `0`), and nothing inside a quoted string, a
/// quoted identifier, a dollar-quoted body or a comment is touched. A `$n` past the literals is
/// left as it is, for the server to refuse.
pub fn bind_literals(sql: &str, literals: &[String]) -> String {
    Template::parse(sql).bind(literals)
}

/// A statement's SQL split once at its placeholders, so that `--query-mode simple` writes each
/// call's SQL in one pass instead of scanning the text for `$n` on every call.
#[derive(Debug)]
pub struct Template {
    sql: String,
    pieces: Vec<Piece>,
}

/// A run of SQL text, or the placeholder `$k+1` (its text kept for a `$n` past the literals).
#[derive(Debug)]
enum Piece {
    Text(std::ops::Range<usize>),
    Param(usize, std::ops::Range<usize>),
}

impl Template {
    /// Finds the placeholders of `sql` as [`bind_literals`] reads them.
    pub fn parse(sql: &str) -> Template {
        let b = sql.as_bytes();
        let mut pieces = Vec::new();
        let mut text = 0;
        let mut i = 0;
        let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
        while i < b.len() {
            i = match b[i] {
                b'\'' => {
                    // E'...' lets a backslash escape the next character, quote included.
                    let escapes =
                        i > 0 && matches!(b[i - 1], b'E' | b'e') && (i < 2 || !ident(b[i - 2]));
                    skip_quoted(b, i, b'\'', escapes)
                }
                b'"' => skip_quoted(b, i, b'"', false),
                b'-' if b.get(i + 1) == Some(&b'-') => b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |p| i + p + 1),
                b'/' if b.get(i + 1) == Some(&b'*') => skip_block_comment(b, i),
                b'$' if i > 0 && ident(b[i - 1]) => i + 1,
                b'$' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                    let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
                    let end = i + 1 + digits;
                    let n: Option<usize> = sql[i + 1..end].parse().ok();
                    if let Some(k) = n.and_then(|n| n.checked_sub(1)) {
                        // Every boundary is an ASCII byte (or the end): whole characters.
                        if text < i {
                            pieces.push(Piece::Text(text..i));
                        }
                        pieces.push(Piece::Param(k, i..end));
                        text = end;
                    }
                    end
                }
                b'$' => skip_dollar_quoted(b, i),
                _ => i + 1,
            };
        }
        if text < b.len() {
            pieces.push(Piece::Text(text..b.len()));
        }
        Template {
            sql: sql.to_string(),
            pieces,
        }
    }

    /// The SQL with `$k+1` = `literals[k]`.
    pub fn bind<S: AsRef<str>>(&self, literals: &[S]) -> String {
        let mut out = String::with_capacity(
            self.sql.len() + literals.iter().map(|l| l.as_ref().len()).sum::<usize>(),
        );
        for piece in &self.pieces {
            match piece {
                Piece::Text(r) => out.push_str(&self.sql[r.clone()]),
                Piece::Param(k, r) => match literals.get(*k) {
                    Some(lit) => out.push_str(lit.as_ref()),
                    None => out.push_str(&self.sql[r.clone()]),
                },
            }
        }
        out
    }
}

/// The end of a string or identifier opened by `quote` at `i`; a doubled quote stays inside.
fn skip_quoted(b: &[u8], i: usize, quote: u8, escapes: bool) -> usize {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' if escapes => j += 2,
            c if c == quote && b.get(j + 1) == Some(&quote) => j += 2,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

/// The end of a `/* ... */` comment at `i` (PostgreSQL's nest).
fn skip_block_comment(b: &[u8], i: usize) -> usize {
    let (mut depth, mut j) = (0usize, i);
    while j < b.len() {
        if b[j..].starts_with(b"/*") {
            depth += 1;
            j += 2;
        } else if b[j..].starts_with(b"*/") {
            depth -= 1;
            j += 2;
            if depth == 0 {
                return j;
            }
        } else {
            j += 1;
        }
    }
    b.len()
}

/// The end of a dollar-quoted body (`$tag$ ... $tag$`) opened at `i`, or just past a lone `$`.
fn skip_dollar_quoted(b: &[u8], i: usize) -> usize {
    let tag_len = b[i + 1..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c >= 0x80)
        .count();
    if b.get(i + 1 + tag_len) != Some(&b'$') {
        return i + 1;
    }
    let tag = &b[i..i + tag_len + 2];
    let body = i + tag.len();
    b[body..]
        .windows(tag.len())
        .position(|w| w == tag)
        .map_or(b.len(), |p| body + p + tag.len())
}

impl<'a> FromSql<'a> for Num {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Num(match *ty {
            Type::INT2 => Decimal::from(i16::from_sql(ty, raw)?),
            Type::INT4 => Decimal::from(i32::from_sql(ty, raw)?),
            Type::INT8 => Decimal::from(i64::from_sql(ty, raw)?),
            _ => Decimal::from_sql(ty, raw)?,
        }))
    }
    fn accepts(ty: &Type) -> bool {
        EXACT_TYPES.contains(ty)
    }
}

/// The parameter types of a path's statements, as the server described them when the path was
/// checked: what the extended and simple query modes send without preparing anything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamTypes {
    /// The RPC's, or the read-modify-write's write: the key, then one per counter column.
    pub call: Vec<Type>,
    /// The read-modify-write's read: the key.
    pub read: Vec<Type>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lits(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_keys_literal_is_kept_for_its_type_and_written_afresh_for_another() {
        let key = KeyValue::new(Type::TEXT, b"it's".to_vec());
        let first = key.cached_literal(&Type::TEXT).unwrap();
        assert_eq!(first, "'it''s'::text");
        let again = key.cached_literal(&Type::TEXT).unwrap();
        assert!(matches!(again, std::borrow::Cow::Borrowed(_)), "reused");
        assert_eq!(again, "'it''s'::text");
        let other = key.cached_literal(&Type::VARCHAR).unwrap();
        assert_eq!(other, "'it''s'::varchar");
        assert_eq!(key.cached_literal(&Type::TEXT).unwrap(), "'it''s'::text");
        let int = KeyValue::new(Type::INT4, (-7i32).to_be_bytes().to_vec());
        assert_eq!(int.cached_literal(&Type::INT8).unwrap(), "(-7)::int8");
        assert_eq!(
            int,
            KeyValue::new(Type::INT4, (-7i32).to_be_bytes().to_vec())
        );
    }

    #[test]
    fn text_literals_double_quotes_and_escape_backslashes() {
        assert_eq!(text_literal("plain"), "'plain'");
        assert_eq!(text_literal("it's"), "'it''s'");
        assert_eq!(text_literal("''"), "''''''");
        assert_eq!(text_literal(r"C:\dir\"), r"E'C:\\dir\\'");
        assert_eq!(
            text_literal(r"\'; DROP TABLE x; --"),
            r"E'\\''; DROP TABLE x; --'"
        );
        assert_eq!(text_literal(""), "''");
    }

    #[test]
    fn numbers_are_plain_literals_and_negatives_are_parenthesized() {
        let n = |s: &str| Num(s.parse::<Decimal>().unwrap());
        assert_eq!(n("5").literal(&Type::INT4), "5::int4");
        assert_eq!(n("-5").literal(&Type::INT8), "(-5)::int8");
        assert_eq!(n("-0.50").literal(&Type::NUMERIC), "(-0.50)::numeric");
        let long = "79228162514264337593543950335";
        assert_eq!(n(long).literal(&Type::NUMERIC), format!("{long}::numeric"));
        let tiny = "-0.0000000000000000000000000001";
        assert_eq!(
            n(tiny).literal(&Type::NUMERIC),
            format!("({tiny})::numeric")
        );
        // `x - $1` with a negative value must not turn into a comment.
        let sql = bind_literals("SELECT 10 - $1", &[n("-3").literal(&Type::INT4)]);
        assert_eq!(sql, "SELECT 10 - (-3)::int4");
    }

    #[test]
    fn counters_read_back_from_text_exactly() {
        assert_eq!(Num::parse("42").unwrap().0, Decimal::from(42));
        assert_eq!(Num::parse("-1.50").unwrap().0, Decimal::new(-150, 2));
        let long = "79228162514264337593543950335";
        assert_eq!(Num::parse(long).unwrap().0.to_string(), long);
        assert!(Num::parse("792281625142643375935439503350").is_err());
        assert!(Num::parse("0.12345678901234567890123456789").is_err());
        assert!(Num::parse("NaN").is_err());
    }

    #[test]
    fn keys_are_cast_to_the_statement_s_type() {
        let key = |ty: Type, raw: &[u8]| KeyValue::new(ty, raw.to_vec());
        let u = uuid::Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let k = key(Type::UUID, u.as_bytes());
        assert_eq!(
            k.literal(&Type::UUID).unwrap(),
            "'01234567-89ab-cdef-0123-456789abcdef'::uuid"
        );
        let k = key(Type::INT8, &(-7i64).to_be_bytes());
        assert_eq!(k.literal(&Type::INT8).unwrap(), "(-7)::int8");
        let k = key(Type::TEXT, br"o'neil\");
        assert_eq!(k.literal(&Type::TEXT).unwrap(), r"E'o''neil\\'::text");
        let k = key(Type::BYTEA, b"\x00");
        assert!(k.literal(&Type::BYTEA).unwrap_err().contains("extended"));
    }

    #[test]
    fn placeholders_are_read_whole_and_replaced_once() {
        let l = lits(&["A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K"]);
        assert_eq!(bind_literals("f($1, $10, $11)", &l), "f(A, J, K)");
        assert_eq!(bind_literals("f($1,$2)", &lits(&["$2", "x"])), "f($2,x)");
        assert_eq!(bind_literals("f($3)", &lits(&["a"])), "f($3)");
        assert_eq!(bind_literals("f($0)", &lits(&["a"])), "f($0)");
        assert_eq!(
            bind_literals("SELECT $1;", &lits(&["'it''s'"])),
            "SELECT 'it''s';"
        );
    }

    #[test]
    fn nothing_quoted_or_commented_is_replaced() {
        let l = lits(&["X", "Y"]);
        for (sql, want) in [
            ("SELECT '$1', $1", "SELECT '$1', X"),
            ("SELECT 'a''$1', $2", "SELECT 'a''$1', Y"),
            (r"SELECT E'\'$1', $1", r"SELECT E'\'$1', X"),
            (r"SELECT '\', $1", r"SELECT '\', X"),
            (r#"SELECT "$1", $1"#, r#"SELECT "$1", X"#),
            ("SELECT $1 -- $2\n, $2", "SELECT X -- $2\n, Y"),
            (
                "SELECT /* $1 /* $2 */ $1 */ $2",
                "SELECT /* $1 /* $2 */ $1 */ Y",
            ),
            ("SELECT $$ $1 $$, $1", "SELECT $$ $1 $$, X"),
            ("SELECT $q$ $1 $$ $q$, $2", "SELECT $q$ $1 $$ $q$, Y"),
            ("SELECT a$1, $1", "SELECT a$1, X"),
            ("SELECT 'unterminated $1", "SELECT 'unterminated $1"),
            ("SELECT 'é', $1, 'ü'", "SELECT 'é', X, 'ü'"),
        ] {
            assert_eq!(bind_literals(sql, &l), want, "{sql}");
        }
    }
}
