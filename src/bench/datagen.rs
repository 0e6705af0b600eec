//! The index benchmark's data generator: rows of an index-bench scenario's tables as COPY text,
//! deterministic in (seed, scale). Pure: no database; `loader` streams what this writes.
//!
//! Ids are computed, not looked up: a `seq` column's value for row n is a function of (table,
//! n), so a reference to a parent is a random parent index formatted the same way, and child
//! tables need no round trip to learn their parents' ids.

use crate::scenario::bench::{BenchScenario, Dist, Gen, TableSpec};
use rand::{Rng, SeedableRng, rngs::SmallRng};
use rand_distr::Distribution;
use rust_decimal::Decimal;
use std::io::Write;

/// 2025-11-17 00:00:00 UTC, the migration's date: every generated time lies before it, so the
/// same seed gives the same data on any day.
const ANCHOR_UNIX_S: i64 = 1_763_337_600;

/// Knuth's multiplicative constant (a prime): spreads Zipf ranks over the parents so the
/// busiest parents are not simply the first ids.
const SPREAD: u128 = 2_654_435_761;

/// Row count of a table at a scale (at least one row).
pub fn scaled_rows(rows: u64, scale: f64) -> u64 {
    ((rows as f64 * scale).round() as u64).max(1)
}

/// How a table's rows are identified, for tables that refer to it.
#[derive(Debug, Clone, Copy)]
enum Ids {
    Uuid(u32),
    Int,
}

#[derive(Debug, Clone, Copy)]
struct Parent {
    rows: u64,
    ids: Ids,
}

impl Parent {
    fn write_id(&self, out: &mut Vec<u8>, n: u64) {
        match self.ids {
            Ids::Uuid(tag) => {
                let _ = write!(out, "{tag:08x}-0000-4000-8000-{n:012x}");
            }
            Ids::Int => {
                let _ = write!(out, "{}", n + 1);
            }
        }
    }
}

/// A column's generator, prepared for speed.
enum Col {
    Id(Parent),
    Ref {
        parent: Parent,
        own: bool,
        pick: Pick,
        null_share: f64,
    },
    OneOf {
        values: Vec<String>,
        cumulative: Vec<u64>,
    },
    Format(Vec<String>),
    Int(i64, i64),
    Numeric {
        lo: i64,
        hi: i64,
        scale: u32,
    },
    Time(i64),
    Bool(f64),
    Value(String),
}

enum Pick {
    Uniform,
    Zipf(rand_distr::Zipf<f64>),
    Each,
}

/// Writes one table's rows as COPY text.
pub struct TableGen {
    pub table: String,
    pub columns: Vec<String>,
    pub rows: u64,
    cols: Vec<Col>,
    rng: SmallRng,
}

impl TableGen {
    /// Generators for every table of the scenario, in load order.
    pub fn all(s: &BenchScenario, scale: f64, seed: u64) -> Vec<TableGen> {
        let parents: Vec<Parent> = s
            .tables
            .iter()
            .map(|t| Parent {
                rows: scaled_rows(t.rows, scale),
                ids: if t.columns.iter().any(|(_, g)| *g == Gen::SeqUuid) {
                    Ids::Uuid(tag(&t.name))
                } else {
                    Ids::Int
                },
            })
            .collect();
        s.tables
            .iter()
            .enumerate()
            .map(|(i, t)| TableGen::new(t, i, &parents, seed))
            .collect()
    }

    fn new(t: &TableSpec, index: usize, parents: &[Parent], seed: u64) -> TableGen {
        let cols = t
            .columns
            .iter()
            .map(|(_, g)| match g {
                Gen::SeqUuid | Gen::SeqInt => Col::Id(parents[index]),
                Gen::Ref {
                    table,
                    dist,
                    null_share,
                } => {
                    let parent = parents[*table];
                    let pick = match dist {
                        Dist::Uniform => Pick::Uniform,
                        Dist::Each => Pick::Each,
                        Dist::Zipf(s) => rand_distr::Zipf::new(parent.rows as f64, *s)
                            .map(Pick::Zipf)
                            .unwrap_or(Pick::Uniform),
                    };
                    Col::Ref {
                        parent,
                        own: *table == index,
                        pick,
                        null_share: *null_share,
                    }
                }
                Gen::OneOf { values, weights } => Col::OneOf {
                    values: values.iter().map(|v| escape(v)).collect(),
                    cumulative: weights
                        .iter()
                        .scan(0u64, |acc, w| {
                            *acc += w;
                            Some(*acc)
                        })
                        .collect(),
                },
                Gen::Format(f) => Col::Format(f.split("{n}").map(escape).collect()),
                Gen::Int(lo, hi) => Col::Int(*lo, *hi),
                Gen::Numeric { min, max } => {
                    let scale = min.scale().max(max.scale());
                    let units = |d: &Decimal| {
                        let mut d = *d;
                        d.rescale(scale);
                        i64::try_from(d.mantissa()).unwrap_or(0)
                    };
                    Col::Numeric {
                        lo: units(min),
                        hi: units(max),
                        scale,
                    }
                }
                Gen::Time(d) => Col::Time(d.as_micros().min(i64::MAX as u128) as i64),
                Gen::Bool(p) => Col::Bool(*p),
                Gen::Value(v) => Col::Value(escape(v)),
            })
            .collect();
        TableGen {
            table: t.name.clone(),
            columns: t.columns.iter().map(|(c, _)| c.clone()).collect(),
            rows: parents[index].rows,
            cols,
            rng: SmallRng::seed_from_u64(seed ^ u64::from(tag(&t.name)).rotate_left(32)),
        }
    }

    /// Appends rows `from..to` (0-based) to `out`, one COPY text line each. Rows must be
    /// asked for in order: the random stream is sequential.
    pub fn fill(&mut self, out: &mut Vec<u8>, from: u64, to: u64) {
        for n in from..to {
            for (i, col) in self.cols.iter().enumerate() {
                if i > 0 {
                    out.push(b'\t');
                }
                write_value(col, n, &mut self.rng, out);
            }
            out.push(b'\n');
        }
    }
}

fn write_value(col: &Col, n: u64, rng: &mut SmallRng, out: &mut Vec<u8>) {
    match col {
        Col::Id(p) => p.write_id(out, n),
        Col::Ref {
            parent,
            own,
            pick,
            null_share,
        } => {
            let null = *null_share > 0.0 && rng.random::<f64>() < *null_share;
            if *own {
                // An earlier row of the same table, so the reference exists when it lands.
                if null || n == 0 {
                    out.extend_from_slice(b"\\N");
                } else {
                    parent.write_id(out, rng.random_range(0..n));
                }
                return;
            }
            if null {
                out.extend_from_slice(b"\\N");
                return;
            }
            let k = match pick {
                Pick::Uniform => rng.random_range(0..parent.rows),
                Pick::Each => n % parent.rows,
                Pick::Zipf(z) => {
                    let rank = (z.sample(rng) as u64).clamp(1, parent.rows) - 1;
                    spread(rank, parent.rows)
                }
            };
            parent.write_id(out, k);
        }
        Col::OneOf { values, cumulative } => {
            let total = *cumulative.last().unwrap_or(&1);
            let u = rng.random_range(0..total);
            let i = cumulative.partition_point(|c| *c <= u);
            out.extend_from_slice(values[i.min(values.len() - 1)].as_bytes());
        }
        Col::Format(pieces) => {
            for (i, p) in pieces.iter().enumerate() {
                if i > 0 {
                    let _ = write!(out, "{}", n + 1);
                }
                out.extend_from_slice(p.as_bytes());
            }
        }
        Col::Int(lo, hi) => {
            let _ = write!(out, "{}", rng.random_range(*lo..=*hi));
        }
        Col::Numeric { lo, hi, scale } => {
            let _ = write!(out, "{}", Decimal::new(rng.random_range(*lo..=*hi), *scale));
        }
        Col::Time(span_us) => {
            let back = if *span_us > 0 {
                rng.random_range(0..*span_us)
            } else {
                0
            };
            write_timestamp(out, ANCHOR_UNIX_S * 1_000_000 - back);
        }
        Col::Bool(p) => out.push(if rng.random::<f64>() < *p { b't' } else { b'f' }),
        Col::Value(v) => out.extend_from_slice(v.as_bytes()),
    }
}

/// `YYYY-MM-DD HH:MM:SS.ffffff+00` of microseconds since 1970 (UTC, years 0..9999): a hand
/// formatter because chrono's general one was most of the generator's time.
fn write_timestamp(out: &mut Vec<u8>, micros: i64) {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let digits = |out: &mut Vec<u8>, v: i64, n: u32, after: u8| {
        for i in (0..n).rev() {
            out.push(b'0' + ((v / 10i64.pow(i)) % 10) as u8);
        }
        out.push(after);
    };
    digits(out, y, 4, b'-');
    digits(out, m, 2, b'-');
    digits(out, d, 2, b' ');
    digits(out, sod / 3600, 2, b':');
    digits(out, sod / 60 % 60, 2, b':');
    digits(out, sod % 60, 2, b'.');
    digits(out, frac, 6, b'+');
    out.extend_from_slice(b"00");
}

/// Maps a Zipf rank to a parent index, a bijection on 0..n when n is not a multiple of the
/// prime `SPREAD`.
fn spread(rank: u64, n: u64) -> u64 {
    if u128::from(n) % SPREAD == 0 {
        return rank;
    }
    ((u128::from(rank) * SPREAD) % u128::from(n)) as u64
}

/// A stable 32-bit tag of a table name (FNV-1a), the first group of its uuids.
fn tag(name: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// COPY text escaping: backslash, tab, newline and carriage return.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario() -> BenchScenario {
        crate::scenario::bench::parse(
            "t.toml",
            r#"
kind = "index-bench"
[bench]
migration = "1"
[[tables]]
name = "p"
rows = 100
columns.id = { seq = "uuid" }
[[tables]]
name = "c"
rows = 1000
columns.id = { seq = "int" }
columns.p = { ref = "p", dist = "zipf", s = 1.0 }
columns.up = { ref = "c", null_share = 0.5 }
columns.amount = { numeric = ["-1.50", "2.25"] }
columns.label = { format = "a\tb {n}" }
[[queries]]
name = "q"
index = "i"
sql = "SELECT 1"
params = "SELECT 1"
"#,
        )
        .unwrap()
    }

    fn rows_of(g: &mut TableGen) -> Vec<String> {
        let mut out = Vec::new();
        g.fill(&mut out, 0, g.rows);
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    #[test]
    fn same_seed_same_rows_and_references_exist() {
        let s = scenario();
        let mut a = TableGen::all(&s, 1.0, 7);
        let mut b = TableGen::all(&s, 1.0, 7);
        let parents = rows_of(&mut a[0]);
        assert_eq!(parents.len(), 100);
        let children = rows_of(&mut a[1]);
        assert_eq!(children, rows_of(&mut b[1]));
        assert_ne!(children, rows_of(&mut TableGen::all(&s, 1.0, 8)[1]));
        let mut per_parent = std::collections::HashMap::new();
        for (n, line) in children.iter().enumerate() {
            let f: Vec<&str> = line.split('\t').collect();
            // columns sorted by name: amount, id, label(2 fields: "a\tb" escaped), p, up
            let amount: Decimal = f[0].parse().unwrap();
            assert!(amount >= Decimal::new(-150, 2) && amount <= Decimal::new(225, 2));
            assert_eq!(f[1], (n + 1).to_string());
            assert_eq!(f[2], format!("a\\tb {}", n + 1));
            assert!(parents.contains(&f[3].to_string()), "{}", f[3]);
            if f[4] != "\\N" {
                assert!(
                    f[4].parse::<usize>().unwrap() <= n,
                    "self reference to a later row"
                );
            }
            *per_parent.entry(f[3]).or_insert(0) += 1;
        }
        let most = per_parent.values().max().unwrap();
        assert!(
            *most > 100,
            "zipf skew: the busiest parent has {most} of 1000"
        );
    }

    #[test]
    fn timestamps_match_chrono() {
        for micros in [
            0i64,
            1_763_337_600_000_000 - 1,
            951_782_400_123_456,
            1_709_164_799_999_999,
        ] {
            let mut out = Vec::new();
            write_timestamp(&mut out, micros);
            let want = chrono::DateTime::from_timestamp_micros(micros).unwrap();
            assert_eq!(
                String::from_utf8(out).unwrap(),
                want.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()
            );
        }
    }

    #[test]
    fn spread_is_a_bijection() {
        let mut seen: Vec<u64> = (0..1000).map(|r| spread(r, 1000)).collect();
        seen.sort();
        assert_eq!(seen, (0..1000).collect::<Vec<_>>());
        assert_eq!(scaled_rows(1000, 0.001), 1);
    }
}

#[cfg(test)]
mod speed {
    #[test]
    #[ignore]
    fn generator_rows_per_second() {
        let (_, text) = crate::scenario::BUILTIN
            .iter()
            .find(|(n, _)| *n == "join-bench")
            .unwrap();
        let s = crate::scenario::bench::parse("b", text).unwrap();
        for mut g in super::TableGen::all(&s, 1.0, 1) {
            let t = std::time::Instant::now();
            let mut buf = Vec::new();
            let mut from = 0;
            while from < g.rows {
                buf.clear();
                let to = (from + 4096).min(g.rows);
                g.fill(&mut buf, from, to);
                from = to;
            }
            eprintln!(
                "{:<28} {:>8} rows {:>6.3} s",
                g.table,
                g.rows,
                t.elapsed().as_secs_f64()
            );
        }
    }
}
