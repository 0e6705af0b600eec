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

use rust_decimal::Decimal;
use std::collections::HashMap;

/// A path's read-modify-write history (its witnesses), as the oracle asks about a row that fell
/// short. Implemented over the witnesses spilled to disk (`race::witnesses`), so the oracle
/// stays pure and memory does not grow with the run.
pub trait History {
    /// Follows the row's history backwards from its final value: the call that wrote the final
    /// value, the call that wrote what that one read, ... down to the initial value. The calls
    /// on this chain survived; every other acknowledged call that added something was
    /// overwritten. Returns how many were, and the sum of their deltas; `None` when no chain
    /// reaches the initial value (another writer, or a call of unknown outcome, took part).
    fn lost_by_chain(
        &mut self,
        key: u32,
        initial: &[Decimal],
        final_values: &[Decimal],
    ) -> Option<(u64, Vec<Decimal>)>;

    /// Up to `most` pairs of acknowledged calls on the row that read the same value.
    fn same_read_pairs(&mut self, key: u32, most: usize) -> Vec<LostPair>;
}

/// Per-row sums of the counter columns and call counts, stored flat (one slot per row touched),
/// so each of hundreds of workers can own one without a heap allocation per row.
#[derive(Debug, Clone, Default)]
pub struct RowSums {
    columns: usize,
    /// Row index → slot, hashed with foldhash: SipHash's DoS resistance buys nothing for
    /// loadtest's own row numbers and cost about 0.3% of the client's CPU per call.
    slot: HashMap<u32, u32, foldhash::fast::FixedState>,
    values: Vec<Decimal>,
    calls: Vec<u64>,
}

impl RowSums {
    pub fn new(columns: usize) -> RowSums {
        RowSums {
            columns,
            ..RowSums::default()
        }
    }

    fn slot(&mut self, key: u32) -> usize {
        let next = self.calls.len() as u32;
        let s = *self.slot.entry(key).or_insert(next) as usize;
        if s == self.calls.len() {
            self.calls.push(0);
            self.values
                .extend(std::iter::repeat_n(Decimal::ZERO, self.columns));
        }
        s
    }

    /// Adds `calls` calls carrying `deltas` in total to row `key`.
    pub fn add(&mut self, key: u32, deltas: &[Decimal], calls: u64) {
        let s = self.slot(key);
        self.calls[s] += calls;
        add_into(
            &mut self.values[s * self.columns..(s + 1) * self.columns],
            deltas,
        );
    }

    pub fn get(&self, key: u32) -> Option<&[Decimal]> {
        self.slot
            .get(&key)
            .map(|&s| &self.values[s as usize * self.columns..(s as usize + 1) * self.columns])
    }

    pub fn calls(&self, key: u32) -> u64 {
        self.slot.get(&key).map_or(0, |&s| self.calls[s as usize])
    }

    /// Every row touched: (key, calls, per-column sums), in no particular order.
    pub fn rows(&self) -> impl Iterator<Item = (u32, u64, &[Decimal])> + '_ {
        self.slot.iter().map(|(&key, &s)| {
            let s = s as usize;
            (
                key,
                self.calls[s],
                &self.values[s * self.columns..(s + 1) * self.columns],
            )
        })
    }

    pub fn merge(&mut self, other: &RowSums) {
        if self.columns == 0 {
            self.columns = other.columns;
        }
        for (&key, &s) in &other.slot {
            let s = s as usize;
            self.add(
                key,
                &other.values[s * other.columns..(s + 1) * other.columns],
                other.calls[s],
            );
        }
    }
}

/// The oracle's input for one path.
pub struct Observed<'a> {
    pub columns: usize,
    pub keys: usize,
    /// Counter values before the path ran, per key index.
    pub initial: &'a [Vec<Decimal>],
    /// Counter values after, per key index.
    pub final_values: &'a [Vec<Decimal>],
    pub acked: &'a RowSums,
    pub unknown_pos: &'a RowSums,
    pub unknown_neg: &'a RowSums,
    /// The largest delta per column (for the lower bound on lost calls).
    pub max_delta: &'a [Decimal],
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
    /// Per column, the sum of the deltas of the calls the witnesses show were overwritten;
    /// `None` without witnesses. It must equal `missing`: a cross-check of the two methods.
    pub lost_amount_from_witnesses: Option<Vec<Decimal>>,
    /// A few lost updates as Elle names them: two acknowledged calls on the same row that read
    /// the same value, and both wrote.
    pub examples: Vec<LostPair>,
}

/// Two committed read-modify-writes of one row that read the same value: one erased the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostPair {
    pub key: u32,
    pub read: Vec<Decimal>,
    pub first_delta: Vec<Decimal>,
    pub second_delta: Vec<Decimal>,
}

/// How many examples of lost updates a verdict keeps.
const EXAMPLES: usize = 3;

impl Verdict {
    pub fn is_exact(&self) -> bool {
        self.rows_short == 0 && self.rows_over == 0
    }
}

/// Judges every row; `history` (read-modify-write paths whose every witness was kept) makes the
/// lost-update count exact, without it the count is a lower bound.
pub fn check(o: &Observed, mut history: Option<&mut dyn History>) -> Verdict {
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
    let has_witnesses = history.is_some();
    let (mut rows_short, mut rows_over, mut lost, mut exact) = (0, 0, 0u64, has_witnesses);
    let mut lost_amount = has_witnesses.then(|| vec![Decimal::ZERO; o.columns]);
    let mut examples = Vec::new();
    for k in 0..o.keys {
        let key = k as u32;
        let acked = o.acked.get(key).unwrap_or(&zero);
        let up = o.unknown_pos.get(key).unwrap_or(&zero);
        let down = o.unknown_neg.get(key).unwrap_or(&zero);
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
        if let Some(h) = history.as_deref_mut()
            && examples.len() < EXAMPLES
        {
            examples.extend(h.same_read_pairs(key, EXAMPLES - examples.len()));
        }
        let chain = history
            .as_deref_mut()
            .and_then(|h| h.lost_by_chain(key, init, fin));
        match chain {
            Some((n, amount)) => {
                lost += n;
                if let Some(total) = lost_amount.as_mut() {
                    add_into(total, &amount);
                }
            }
            None => {
                exact = false;
                lost_amount = None;
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
        lost_amount_from_witnesses: lost_amount,
        examples,
    }
}

fn add_into(acc: &mut [Decimal], v: &[Decimal]) {
    for (a, b) in acc.iter_mut().zip(v) {
        *a += *b;
    }
}

/// Mixed runs: every call of path *j* adds `unit_j` (powers of a base larger than any path's
/// call count on one row), so a row's final value, written in that base, says exactly how many
/// of each path's increments survived. Returns, per path, (acknowledged, surviving) calls summed
/// over rows, from each row's acknowledged call counts and final value.
pub fn attribute(
    acked_calls: &[&RowSums],
    base: u64,
    final_first_column: &[Decimal],
) -> Vec<Attribution> {
    let mut out = vec![Attribution::default(); acked_calls.len()];
    let base = Decimal::from(base);
    for (k, fin) in final_first_column.iter().enumerate() {
        let mut rest = fin.trunc();
        for (j, calls) in acked_calls.iter().enumerate() {
            let digit = u64::try_from(rest % base).unwrap_or(0);
            rest = (rest / base).trunc();
            let acked = calls.calls(k as u32);
            let a = &mut out[j];
            a.acked += acked;
            a.surviving += digit.min(acked);
            a.rows_short += u64::from(digit < acked);
            a.rows_over += u64::from(digit > acked);
            a.over += digit.saturating_sub(acked);
        }
    }
    out
}

/// One path's share of a mixed run, summed over rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attribution {
    /// Calls acknowledged.
    pub acked: u64,
    /// Of those, the increments still in the rows.
    pub surviving: u64,
    pub rows_short: u64,
    /// Rows holding more of this path's increments than it made (applied twice).
    pub rows_over: u64,
    pub over: u64,
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

    #[test]
    fn every_row_touched_is_listed_once_with_its_calls_and_sums() {
        let mut r = RowSums::new(2);
        r.add(7, &[Decimal::ONE, Decimal::TWO], 1);
        r.add(3, &[Decimal::TEN, Decimal::ZERO], 2);
        r.add(7, &[Decimal::ONE, Decimal::ONE], 1);
        let mut rows: Vec<(u32, u64, Vec<Decimal>)> =
            r.rows().map(|(k, c, s)| (k, c, s.to_vec())).collect();
        rows.sort_by_key(|(k, _, _)| *k);
        assert_eq!(
            rows,
            vec![
                (3, 2, vec![Decimal::TEN, Decimal::ZERO]),
                (7, 2, vec![Decimal::TWO, Decimal::from(3)]),
            ]
        );
    }

    /// One row from 0, calls adding `deltas`, judged without witnesses (an opaque path).
    fn run(deltas: &[i64], final_value: i64) -> Verdict {
        let mut acked = RowSums::new(1);
        let sum: Decimal = deltas.iter().copied().map(Decimal::from).sum();
        acked.add(0, &[sum], deltas.len() as u64);
        check(
            &Observed {
                columns: 1,
                keys: 1,
                initial: &[vec![Decimal::ZERO]],
                final_values: &[vec![Decimal::from(final_value)]],
                acked: &acked,
                unknown_pos: &RowSums::new(1),
                unknown_neg: &RowSums::new(1),
                max_delta: &[dec!(10)],
            },
            None,
        )
    }

    #[test]
    fn mixed_runs_attribute_every_increment() {
        // base 100: path 0 adds 1, path 1 adds 100. Row 0 kept 3 of path 0's 5 calls and 2 of
        // path 1's 2; row 1 kept everything.
        let mut a = RowSums::new(1);
        a.add(0, &[dec!(5)], 5);
        a.add(1, &[dec!(1)], 1);
        let mut b = RowSums::new(1);
        b.add(0, &[dec!(200)], 2);
        let got = attribute(&[&a, &b], 100, &[dec!(203), dec!(1)]);
        let pairs: Vec<(u64, u64)> = got.iter().map(|a| (a.acked, a.surviving)).collect();
        assert_eq!(pairs, vec![(6, 4), (2, 2)]);
        assert_eq!(got[0].rows_short, 1);
    }

    #[test]
    fn row_sums_merge_by_row() {
        let mut a = RowSums::new(2);
        a.add(7, &[dec!(1), dec!(0.5)], 1);
        let mut b = RowSums::new(2);
        b.add(7, &[dec!(2), dec!(0.25)], 1);
        b.add(3, &[dec!(1), dec!(1)], 1);
        a.merge(&b);
        assert_eq!(a.get(7), Some(&[dec!(3), dec!(0.75)][..]));
        assert_eq!(a.calls(7), 2);
        assert_eq!(a.calls(3), 1);
        assert_eq!(a.get(9), None);
    }

    #[test]
    fn without_witnesses_the_count_is_a_lower_bound() {
        let v = run(&[3, 4, 5], 3);
        assert_eq!(v.columns[0].missing, dec!(9));
        assert_eq!(v.lost_updates, 1); // ceil(9 / 10)
        assert!(!v.lost_updates_exact);
    }

    #[test]
    fn a_total_above_the_sum_is_an_increment_applied_twice() {
        let v = run(&[3], 6);
        assert_eq!(v.rows_over, 1);
        assert_eq!(v.columns[0].extra, dec!(3));
        assert!(!v.is_exact());
    }

    #[test]
    fn unknown_outcomes_widen_the_interval() {
        let mut acked = RowSums::new(1);
        acked.add(0, &[dec!(5)], 1);
        let mut up = RowSums::new(1);
        up.add(0, &[dec!(2)], 1);
        let mut down = RowSums::new(1);
        down.add(0, &[dec!(-1)], 1);
        // Acknowledged 5, one call of unknown outcome that may have added 2 and one that may
        // have taken 1: anything in [4, 7] is explained; one step outside either end is not.
        for (fin, short, over) in [
            (dec!(3.9999), 1, 0),
            (dec!(4), 0, 0),
            (dec!(5), 0, 0),
            (dec!(7), 0, 0),
            (dec!(7.0001), 0, 1),
        ] {
            let v = check(
                &Observed {
                    columns: 1,
                    keys: 1,
                    initial: &[vec![Decimal::ZERO]],
                    final_values: &[vec![fin]],
                    acked: &acked,
                    unknown_pos: &up,
                    unknown_neg: &down,
                    max_delta: &[dec!(2)],
                },
                None,
            );
            assert_eq!((v.rows_short, v.rows_over), (short, over), "final {fin}");
            assert_eq!(v.is_exact(), short + over == 0, "final {fin}");
            assert_eq!(v.columns[0].expected, dec!(5), "final {fin}");
            assert_eq!(v.columns[0].missing, (dec!(4) - fin).max(Decimal::ZERO));
            assert_eq!(v.columns[0].extra, (fin - dec!(7)).max(Decimal::ZERO));
        }
    }

    #[test]
    fn losses_and_excesses_in_different_rows_do_not_cancel() {
        let mut acked = RowSums::new(1);
        acked.add(0, &[dec!(5)], 1);
        acked.add(1, &[dec!(5)], 1);
        let v = check(
            &Observed {
                columns: 1,
                keys: 2,
                initial: &[vec![Decimal::ZERO], vec![Decimal::ZERO]],
                final_values: &[vec![dec!(3)], vec![dec!(7)]],
                acked: &acked,
                unknown_pos: &RowSums::new(1),
                unknown_neg: &RowSums::new(1),
                max_delta: &[dec!(5)],
            },
            None,
        );
        assert_eq!(v.columns[0].expected, v.columns[0].actual);
        assert_eq!((v.rows_short, v.rows_over), (1, 1));
        assert_eq!(v.columns[0].missing, dec!(2));
        assert_eq!(v.columns[0].extra, dec!(2));
    }

    #[test]
    fn exact_decimals_with_four_places() {
        let mut acked = RowSums::new(1);
        acked.add(0, &[dec!(0.0001) + dec!(0.0002)], 1);
        let v = check(
            &Observed {
                columns: 1,
                keys: 1,
                initial: &[vec![Decimal::ZERO]],
                final_values: &[vec![dec!(0.000300)]],
                acked: &acked,
                unknown_pos: &RowSums::new(1),
                unknown_neg: &RowSums::new(1),
                max_delta: &[dec!(0.0002)],
            },
            None,
        );
        assert!(v.is_exact());
    }

    /// What a history answers for a row: calls lost and their amount, or no chain.
    type Chain = Option<(u64, Vec<Decimal>)>;

    /// A history answering from a fixed table, recording what the oracle asked.
    struct Fixed {
        chains: HashMap<u32, Chain>,
        pairs: usize,
        asked: Vec<(u32, Vec<Decimal>, Vec<Decimal>)>,
        asked_pairs: Vec<(u32, usize)>,
    }

    impl History for Fixed {
        fn lost_by_chain(
            &mut self,
            key: u32,
            initial: &[Decimal],
            final_values: &[Decimal],
        ) -> Option<(u64, Vec<Decimal>)> {
            self.asked
                .push((key, initial.to_vec(), final_values.to_vec()));
            self.chains.get(&key).cloned().flatten()
        }

        fn same_read_pairs(&mut self, key: u32, most: usize) -> Vec<LostPair> {
            self.asked_pairs.push((key, most));
            (0..self.pairs.min(most))
                .map(|i| LostPair {
                    key,
                    read: vec![Decimal::from(i)],
                    first_delta: vec![],
                    second_delta: vec![],
                })
                .collect()
        }
    }

    fn fixed(chains: &[(u32, Chain)], pairs: usize) -> Fixed {
        Fixed {
            chains: chains.iter().cloned().collect(),
            pairs,
            asked: vec![],
            asked_pairs: vec![],
        }
    }

    /// Three rows of two columns, from (10, 1): row 0 kept everything, rows 1 and 2 fell short.
    fn three_rows(history: Option<&mut dyn History>) -> Verdict {
        let mut acked = RowSums::new(2);
        acked.add(0, &[dec!(6), dec!(0.5)], 2);
        acked.add(1, &[dec!(9), dec!(3)], 3);
        acked.add(2, &[dec!(4), dec!(2)], 2);
        let init = vec![dec!(10), dec!(1)];
        check(
            &Observed {
                columns: 2,
                keys: 3,
                initial: &[init.clone(), init.clone(), init],
                final_values: &[
                    vec![dec!(16), dec!(1.5)],
                    vec![dec!(13), dec!(4)],
                    vec![dec!(14), dec!(1)],
                ],
                acked: &acked,
                unknown_pos: &RowSums::new(2),
                unknown_neg: &RowSums::new(2),
                max_delta: &[dec!(3), dec!(0.5)],
            },
            history,
        )
    }

    #[test]
    fn totals_are_summed_per_column_over_rows() {
        let v = three_rows(None);
        assert_eq!(
            v.columns,
            vec![
                ColumnVerdict {
                    expected: dec!(49),
                    actual: dec!(43),
                    missing: dec!(6),
                    extra: dec!(0),
                },
                ColumnVerdict {
                    expected: dec!(8.5),
                    actual: dec!(6.5),
                    missing: dec!(2),
                    extra: dec!(0),
                },
            ]
        );
        assert_eq!((v.rows_short, v.rows_over), (2, 0));
        // Row 1: 6 short in a column of at most 3 per call -> 2 calls (ceil(6/3) over ceil(0/0.5)).
        // Row 2: column 1 short by 2 at 0.5 per call -> 4 calls. Lower bound 2 + 4.
        assert_eq!(v.lost_updates, 6);
        assert!(!v.lost_updates_exact);
        assert_eq!(v.lost_amount_from_witnesses, None);
        assert!(v.examples.is_empty());
    }

    #[test]
    fn witnesses_make_the_count_exact_and_sum_the_lost_amounts() {
        let mut h = fixed(
            &[
                (1, Some((2, vec![dec!(6), dec!(0)]))),
                (2, Some((3, vec![dec!(0), dec!(2)]))),
            ],
            2,
        );
        let v = three_rows(Some(&mut h));
        assert_eq!(v.lost_updates, 5);
        assert!(v.lost_updates_exact);
        assert_eq!(v.lost_amount_from_witnesses, Some(vec![dec!(6), dec!(2)]));
        // Only rows that fell short are asked about, with their own initial and final values.
        let keys: Vec<u32> = h.asked.iter().map(|a| a.0).collect();
        assert_eq!(keys, vec![1, 2]);
        assert_eq!(h.asked[0].1, vec![dec!(10), dec!(1)]);
        assert_eq!(h.asked[0].2, vec![dec!(13), dec!(4)]);
        // Examples stop at three: two from row 1, then only one more asked of row 2.
        assert_eq!(h.asked_pairs, vec![(1, 3), (2, 1)]);
        assert_eq!(v.examples.len(), 3);
        assert_eq!(
            v.examples.iter().map(|e| e.key).collect::<Vec<_>>(),
            vec![1, 1, 2]
        );
        // Once three examples are in, the history is not asked again (it reads the disk).
        let mut full = fixed(&[(1, Some((2, vec![dec!(6), dec!(0)]))), (2, None)], 3);
        let v = three_rows(Some(&mut full));
        assert_eq!(full.asked_pairs, vec![(1, 3)]);
        assert_eq!(v.examples.len(), 3);
    }

    #[test]
    fn a_row_no_chain_explains_turns_the_count_into_a_lower_bound() {
        let mut h = fixed(&[(1, Some((2, vec![dec!(6), dec!(0)]))), (2, None)], 0);
        let v = three_rows(Some(&mut h));
        // Row 1 exact (2), row 2 bounded (ceil(2 / 0.5) = 4).
        assert_eq!(v.lost_updates, 6);
        assert!(!v.lost_updates_exact);
        assert_eq!(v.lost_amount_from_witnesses, None);
        assert!(v.examples.is_empty());
    }

    #[test]
    fn no_shortfall_asks_the_history_nothing() {
        let mut h = fixed(&[], 3);
        let v = run_with(&[5], 5, Some(&mut h));
        assert!(v.is_exact());
        assert!(v.lost_updates_exact);
        assert_eq!(v.lost_updates, 0);
        assert_eq!(v.lost_amount_from_witnesses, Some(vec![Decimal::ZERO]));
        assert!(h.asked.is_empty() && h.asked_pairs.is_empty());
    }

    fn run_with(deltas: &[i64], final_value: i64, h: Option<&mut dyn History>) -> Verdict {
        let mut acked = RowSums::new(1);
        let sum: Decimal = deltas.iter().copied().map(Decimal::from).sum();
        acked.add(0, &[sum], deltas.len() as u64);
        check(
            &Observed {
                columns: 1,
                keys: 1,
                initial: &[vec![Decimal::ZERO]],
                final_values: &[vec![Decimal::from(final_value)]],
                acked: &acked,
                unknown_pos: &RowSums::new(1),
                unknown_neg: &RowSums::new(1),
                max_delta: &[dec!(10)],
            },
            h,
        )
    }

    #[test]
    fn the_lower_bound_rounds_up_and_takes_the_worst_column() {
        assert_eq!(lower_bound(&[dec!(21), dec!(0)], &[dec!(10), dec!(1)]), 3);
        assert_eq!(lower_bound(&[dec!(20), dec!(0)], &[dec!(10), dec!(1)]), 2);
        assert_eq!(lower_bound(&[dec!(5), dec!(3)], &[dec!(10), dec!(1)]), 3);
        // A column with no shortfall, or no known maximum, says nothing; still at least one.
        assert_eq!(lower_bound(&[dec!(0), dec!(0)], &[dec!(10), dec!(1)]), 1);
        assert_eq!(lower_bound(&[dec!(50)], &[dec!(0)]), 1);
        assert_eq!(lower_bound(&[dec!(50)], &[dec!(-5)]), 1);
        assert_eq!(lower_bound(&[dec!(0.5)], &[dec!(10)]), 1);
    }

    #[test]
    fn attribution_counts_rows_over_and_ignores_fractions() {
        // base 10: path 0 adds 1, path 1 adds 10. Row 0: path 0 acked 2 but 4 survive (over by
        // 2), path 1 acked 3 and 1 survives. Row 1: exactly as acknowledged, plus a fraction.
        let mut a = RowSums::new(1);
        a.add(0, &[dec!(2)], 2);
        a.add(1, &[dec!(1)], 1);
        let mut b = RowSums::new(1);
        b.add(0, &[dec!(30)], 3);
        b.add(1, &[dec!(20)], 2);
        let got = attribute(&[&a, &b], 10, &[dec!(14), dec!(21.9)]);
        assert_eq!(
            got[0],
            Attribution {
                acked: 3,
                surviving: 3,
                rows_short: 0,
                rows_over: 1,
                over: 2,
            }
        );
        assert_eq!(
            got[1],
            Attribution {
                acked: 5,
                surviving: 3,
                rows_short: 1,
                rows_over: 0,
                over: 0,
            }
        );
    }

    #[test]
    fn row_sums_keep_rows_apart_and_count_calls() {
        let mut a = RowSums::new(2);
        a.add(5, &[dec!(1), dec!(2)], 1);
        a.add(9, &[dec!(10), dec!(20)], 2);
        a.add(5, &[dec!(3), dec!(4)], 3);
        assert_eq!(a.get(5), Some(&[dec!(4), dec!(6)][..]));
        assert_eq!(a.get(9), Some(&[dec!(10), dec!(20)][..]));
        assert_eq!((a.calls(5), a.calls(9), a.calls(1)), (4, 2, 0));
        // A default (column-less) accumulator takes its width from the first merge.
        let mut m = RowSums::default();
        m.merge(&a);
        assert_eq!(m.get(9), Some(&[dec!(10), dec!(20)][..]));
        assert_eq!(m.calls(5), 4);
    }
}
