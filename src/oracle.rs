//! The correctness oracle: what each row should hold after a path ran, against what it holds.
//! Pure and exact: every sum is a `Decimal`, nothing is estimated.
//!
//! Per row and column, the acknowledged deltas give the expected value; calls whose outcome is
//! unknown (the connection broke mid-call) widen it into an interval. A row below its interval
//! lost increments; a row above it applied one twice. Rows are checked one by one, so a loss in
//! one row can never hide behind an excess in another.
//!
//! Counting lost *calls* (not just lost amounts) needs witnesses: a read-modify-write call reads
//! value R and writes R + D, so the row's surviving history is the chain of writes leading from
//! its final value back to its initial one; every acknowledged call off that chain was lost.
//! For an opaque call (an RPC) only the amounts are visible, and the count reported is the
//! smallest number of calls that could explain the shortfall, marked as a lower bound.

use crate::engine::Witness;
use rust_decimal::Decimal;
use std::collections::HashMap;

/// The oracle's input for one path.
pub struct Observed<'a> {
    pub columns: usize,
    pub keys: usize,
    /// Counter values before the path ran, per key index.
    pub initial: &'a [Vec<Decimal>],
    /// Counter values after, per key index.
    pub final_values: &'a [Vec<Decimal>],
    pub acked: &'a HashMap<u32, Vec<Decimal>>,
    pub unknown_pos: &'a HashMap<u32, Vec<Decimal>>,
    pub unknown_neg: &'a HashMap<u32, Vec<Decimal>>,
    /// Read-modify-write witnesses; empty for opaque paths.
    pub witnesses: &'a [Witness],
    /// The largest delta per column (for the lower bound on lost calls).
    pub max_delta: &'a [Decimal],
    pub has_witnesses: bool,
}

/// Totals for one counter column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnVerdict {
    /// Sum over rows of initial + acknowledged deltas.
    pub expected: Decimal,
    /// Sum over rows of the final values.
    pub actual: Decimal,
    /// Sum over rows of how far each row fell short of its lowest possible value.
    pub missing: Decimal,
    /// Sum over rows of how far each row exceeded its highest possible value.
    pub extra: Decimal,
}

/// The oracle's answer for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub columns: Vec<ColumnVerdict>,
    pub rows_short: u64,
    pub rows_over: u64,
    /// Acknowledged calls whose effect is missing.
    pub lost_updates: u64,
    /// Whether `lost_updates` is an exact count (witnesses) or a lower bound.
    pub lost_updates_exact: bool,
}

impl Verdict {
    pub fn is_exact(&self) -> bool {
        self.rows_short == 0 && self.rows_over == 0
    }
}

pub fn check(o: &Observed) -> Verdict {
    let zero = vec![Decimal::ZERO; o.columns];
    let mut columns = vec![
        ColumnVerdict {
            expected: Decimal::ZERO,
            actual: Decimal::ZERO,
            missing: Decimal::ZERO,
            extra: Decimal::ZERO,
        };
        o.columns
    ];
    let mut by_key: HashMap<u32, Vec<&Witness>> = HashMap::new();
    for w in o.witnesses {
        by_key.entry(w.key).or_default().push(w);
    }
    let (mut rows_short, mut rows_over, mut lost, mut exact) = (0, 0, 0u64, o.has_witnesses);
    for k in 0..o.keys {
        let key = k as u32;
        let acked = o.acked.get(&key).unwrap_or(&zero);
        let up = o.unknown_pos.get(&key).unwrap_or(&zero);
        let down = o.unknown_neg.get(&key).unwrap_or(&zero);
        let (init, fin) = (&o.initial[k], &o.final_values[k]);
        let mut short_by: Vec<Decimal> = vec![Decimal::ZERO; o.columns];
        let (mut short, mut over) = (false, false);
        for c in 0..o.columns {
            let expected = init[c] + acked[c];
            let (low, high) = (expected + down[c], expected + up[c]);
            let col = &mut columns[c];
            col.expected += expected;
            col.actual += fin[c];
            if fin[c] < low {
                short = true;
                short_by[c] = low - fin[c];
                col.missing += low - fin[c];
            } else if fin[c] > high {
                over = true;
                col.extra += fin[c] - high;
            }
        }
        rows_short += u64::from(short);
        rows_over += u64::from(over);
        if !short {
            continue;
        }
        let counted = if o.has_witnesses {
            by_key.get(&key).and_then(|ws| lost_by_chain(ws, init, fin))
        } else {
            None
        };
        match counted {
            Some(n) => lost += n,
            None => {
                exact = false;
                lost += lower_bound(&short_by, o.max_delta);
            }
        }
    }
    Verdict {
        columns,
        rows_short,
        rows_over,
        lost_updates: lost,
        lost_updates_exact: exact,
    }
}

/// Follows the row's history backwards from its final value: the call that wrote the final
/// value, the call that wrote what that one read, ... down to the initial value. The calls on
/// this chain survived; every other acknowledged, non-zero call was overwritten. `None` when no
/// chain reaches the initial value (another writer, or a call of unknown outcome, took part).
fn lost_by_chain(ws: &[&Witness], initial: &[Decimal], final_values: &[Decimal]) -> Option<u64> {
    let effective: Vec<&&Witness> = ws
        .iter()
        .filter(|w| w.delta.iter().any(|d| !d.is_zero()))
        .collect();
    let mut by_written: HashMap<Vec<Decimal>, Vec<usize>> = HashMap::new();
    for (i, w) in effective.iter().enumerate() {
        let written: Vec<Decimal> = w.read.iter().zip(&w.delta).map(|(r, d)| r + d).collect();
        by_written.entry(normalise(&written)).or_default().push(i);
    }
    let target = normalise(initial);
    let mut current = normalise(final_values);
    let mut survived = 0u64;
    while current != target {
        let i = by_written.get_mut(&current)?.pop()?;
        survived += 1;
        current = normalise(&effective[i].read);
    }
    Some(effective.len() as u64 - survived)
}

/// Decimals compare equal across scales (1.50 == 1.5) but hash differently; normalise for maps.
fn normalise(v: &[Decimal]) -> Vec<Decimal> {
    v.iter().map(|d| d.normalize()).collect()
}

/// The fewest calls that could account for the shortfall: each call adds at most `max_delta`.
fn lower_bound(short_by: &[Decimal], max_delta: &[Decimal]) -> u64 {
    short_by
        .iter()
        .zip(max_delta)
        .filter(|(s, m)| !s.is_zero() && **m > Decimal::ZERO)
        .map(|(s, m)| u64::try_from((s / m).ceil()).unwrap_or(u64::MAX))
        .max()
        .unwrap_or(1)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn w(key: u32, read: i64, delta: i64) -> Witness {
        Witness {
            key,
            read: vec![Decimal::from(read)],
            delta: vec![Decimal::from(delta)],
        }
    }

    fn run(witnesses: &[Witness], final_value: i64, has_witnesses: bool) -> Verdict {
        let mut acked = HashMap::new();
        let sum: Decimal = witnesses.iter().map(|w| w.delta[0]).sum();
        acked.insert(0u32, vec![sum]);
        check(&Observed {
            columns: 1,
            keys: 1,
            initial: &[vec![Decimal::ZERO]],
            final_values: &[vec![Decimal::from(final_value)]],
            acked: &acked,
            unknown_pos: &HashMap::new(),
            unknown_neg: &HashMap::new(),
            witnesses,
            max_delta: &[dec!(10)],
            has_witnesses,
        })
    }

    #[test]
    fn serial_history_loses_nothing() {
        let v = run(&[w(0, 0, 3), w(0, 3, 4), w(0, 7, 5)], 12, true);
        assert!(v.is_exact());
        assert_eq!(v.lost_updates, 0);
        assert_eq!(v.columns[0].missing, Decimal::ZERO);
    }

    #[test]
    fn two_calls_reading_the_same_value_lose_one() {
        // both read 3; the second write (3+5) erased the first (3+4)
        let v = run(&[w(0, 0, 3), w(0, 3, 4), w(0, 3, 5)], 8, true);
        assert_eq!(v.columns[0].missing, dec!(4));
        assert_eq!(v.lost_updates, 1);
        assert!(v.lost_updates_exact);
    }

    #[test]
    fn without_witnesses_the_count_is_a_lower_bound() {
        let v = run(&[w(0, 0, 3), w(0, 3, 4), w(0, 3, 5)], 3, false);
        assert_eq!(v.columns[0].missing, dec!(9));
        assert_eq!(v.lost_updates, 1); // ceil(9 / 10)
        assert!(!v.lost_updates_exact);
    }

    #[test]
    fn a_total_above_the_sum_is_an_increment_applied_twice() {
        let v = run(&[w(0, 0, 3)], 6, false);
        assert_eq!(v.rows_over, 1);
        assert_eq!(v.columns[0].extra, dec!(3));
        assert!(!v.is_exact());
    }

    #[test]
    fn unknown_outcomes_widen_the_interval() {
        let mut acked = HashMap::new();
        acked.insert(0u32, vec![dec!(5)]);
        let mut up = HashMap::new();
        up.insert(0u32, vec![dec!(2)]);
        for fin in [5, 7] {
            let v = check(&Observed {
                columns: 1,
                keys: 1,
                initial: &[vec![Decimal::ZERO]],
                final_values: &[vec![Decimal::from(fin)]],
                acked: &acked,
                unknown_pos: &up,
                unknown_neg: &HashMap::new(),
                witnesses: &[],
                max_delta: &[dec!(2)],
                has_witnesses: false,
            });
            assert!(v.is_exact(), "final {fin}");
        }
    }

    #[test]
    fn losses_and_excesses_in_different_rows_do_not_cancel() {
        let mut acked = HashMap::new();
        acked.insert(0u32, vec![dec!(5)]);
        acked.insert(1u32, vec![dec!(5)]);
        let v = check(&Observed {
            columns: 1,
            keys: 2,
            initial: &[vec![Decimal::ZERO], vec![Decimal::ZERO]],
            final_values: &[vec![dec!(3)], vec![dec!(7)]],
            acked: &acked,
            unknown_pos: &HashMap::new(),
            unknown_neg: &HashMap::new(),
            witnesses: &[],
            max_delta: &[dec!(5)],
            has_witnesses: false,
        });
        assert_eq!(v.columns[0].expected, v.columns[0].actual);
        assert_eq!((v.rows_short, v.rows_over), (1, 1));
        assert_eq!(v.columns[0].missing, dec!(2));
        assert_eq!(v.columns[0].extra, dec!(2));
    }

    #[test]
    fn exact_decimals_with_four_places() {
        let mut acked = HashMap::new();
        acked.insert(0u32, vec![dec!(0.0001) + dec!(0.0002)]);
        let v = check(&Observed {
            columns: 1,
            keys: 1,
            initial: &[vec![Decimal::ZERO]],
            final_values: &[vec![dec!(0.000300)]],
            acked: &acked,
            unknown_pos: &HashMap::new(),
            unknown_neg: &HashMap::new(),
            witnesses: &[],
            max_delta: &[dec!(0.0002)],
            has_witnesses: false,
        });
        assert!(v.is_exact());
    }
}
