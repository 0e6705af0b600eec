//! The column generators of an index-bench table (`[tables.columns]`): the typed [`Gen`] the
//! data generator runs, and its parsing from the raw TOML with one message per mistake.

use rust_decimal::Decimal;
use serde::Deserialize;
use std::time::Duration;

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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGen {
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

/// Exactly one kind key per column; `dist`, `s`, `null_share` and `weights` only with theirs.
pub(super) fn generator(g: RawGen, this: usize, names: &[String]) -> Result<Gen, String> {
    check_keys(&g)?;
    if let Some(s) = g.seq {
        return match s.as_str() {
            "uuid" => Ok(Gen::SeqUuid),
            "int" => Ok(Gen::SeqInt),
            other => Err(format!("seq = \"{other}\": expected \"uuid\" or \"int\"")),
        };
    }
    if let Some(r) = g.reference {
        return reference(&r, g.dist.as_deref(), g.s, g.null_share, this, names);
    }
    if let Some(values) = g.one_of {
        return one_of(values, g.weights);
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
        return numeric(&lo, &hi);
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

/// Exactly one kind key, and the modifiers (`dist`, `s`, `null_share`, `weights`) only with theirs.
fn check_keys(g: &RawGen) -> Result<(), String> {
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
    Ok(())
}

/// `ref`: a table listed no later than this one, with how parents are picked and how many are NULL.
fn reference(
    r: &str,
    dist: Option<&str>,
    s: Option<f64>,
    null_share: Option<f64>,
    this: usize,
    names: &[String],
) -> Result<Gen, String> {
    let Some(table) = names.iter().position(|n| *n == r) else {
        return Err(format!("ref = \"{r}\" names no table of this file"));
    };
    if table > this {
        return Err(format!(
            "ref = \"{r}\": list {r} before the tables that refer to it (tables load in file order)"
        ));
    }
    let dist = distribution(dist, s)?;
    let null_share = null_share.unwrap_or(0.0);
    if !(0.0..1.0).contains(&null_share) {
        return Err(format!("null_share must be in [0, 1), not {null_share}"));
    }
    if table == this && dist != Dist::Uniform {
        return Err(
            "a reference to the table itself picks an earlier row uniformly; leave out dist".into(),
        );
    }
    Ok(Gen::Ref {
        table,
        dist,
        null_share,
    })
}

/// A reference's `dist` and its exponent `s`: uniform when left out.
fn distribution(dist: Option<&str>, s: Option<f64>) -> Result<Dist, String> {
    match (dist, s) {
        (None | Some("uniform"), None) => Ok(Dist::Uniform),
        (Some("each"), None) => Ok(Dist::Each),
        (Some("zipf"), Some(s)) if s > 0.0 && s <= 10.0 => Ok(Dist::Zipf(s)),
        (Some("zipf"), Some(s)) => Err(format!("s must be in (0, 10], not {s}")),
        (Some("zipf"), None) => Err("dist = \"zipf\" needs s, the exponent (e.g. 1.0)".into()),
        (_, Some(_)) => Err("s applies to dist = \"zipf\" only".into()),
        (Some(other), None) => Err(format!(
            "dist = \"{other}\": expected \"uniform\", \"zipf\" or \"each\""
        )),
    }
}

/// `one_of`: at least one value, and one positive weight per value (all 1 when left out).
fn one_of(values: Vec<String>, weights: Option<Vec<u64>>) -> Result<Gen, String> {
    if values.is_empty() {
        return Err("one_of needs at least one value".into());
    }
    let weights = weights.unwrap_or_else(|| vec![1; values.len()]);
    if weights.len() != values.len() || weights.iter().sum::<u64>() == 0 {
        return Err(format!(
            "weights needs one positive number per value ({} values, {} weights)",
            values.len(),
            weights.len()
        ));
    }
    Ok(Gen::OneOf { values, weights })
}

/// `numeric`: two decimal bounds written as strings, ordered, at most 12 decimal places.
fn numeric(lo: &str, hi: &str) -> Result<Gen, String> {
    let p = |s: &str| {
        s.trim()
            .parse::<Decimal>()
            .map_err(|_| format!("'{s}' is not a decimal number"))
    };
    let (min, max) = (p(lo)?, p(hi)?);
    if min > max || min.scale().max(max.scale()) > 12 {
        return Err(format!(
            "numeric = [\"{lo}\", \"{hi}\"]: the bounds must be ordered, with at most 12 decimal \
                places"
        ));
    }
    Ok(Gen::Numeric { min, max })
}
