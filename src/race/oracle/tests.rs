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
