//! The witnesses on disk against the oracle: chains, examples, the external sort.

use super::*;
use crate::race::oracle::{self, History, Observed, RowSums, Verdict};
use rust_decimal_macros::dec;

/// Spills `(key, read, delta)` witnesses of one column and sorts them.
fn sorted(witnesses: &[(u32, i64, i64)]) -> Sorted {
    let spill = Spill::new(1);
    let mut sink = spill.sink();
    for &(key, read, delta) in witnesses {
        sink.push(key, &[Decimal::from(read)], &[Decimal::from(delta)]);
    }
    assert_eq!(sink.finish(), 0);
    spill.finish().unwrap()
}

/// One row from 0 whose calls are `witnesses`, ending at `final_value`, judged with them.
fn run(witnesses: &[(u32, i64, i64)], final_value: i64) -> Verdict {
    let mut acked = RowSums::new(1);
    for &(key, _, delta) in witnesses {
        acked.add(key, &[Decimal::from(delta)], 1);
    }
    let mut history = sorted(witnesses);
    oracle::check(
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
        Some(&mut history),
    )
}

#[test]
fn witnesses_name_pairs_and_agree_with_the_totals() {
    let v = run(&[(0, 0, 3), (0, 3, 4), (0, 3, 5)], 8);
    assert_eq!(v.examples.len(), 1);
    assert_eq!(v.examples[0].read, vec![dec!(3)]);
    assert_eq!(
        v.lost_amount_from_witnesses,
        Some(vec![v.columns[0].missing])
    );
}

#[test]
fn serial_history_loses_nothing() {
    let v = run(&[(0, 0, 3), (0, 3, 4), (0, 7, 5)], 12);
    assert!(v.is_exact());
    assert_eq!(v.lost_updates, 0);
    assert_eq!(v.columns[0].missing, Decimal::ZERO);
}

#[test]
fn two_calls_reading_the_same_value_lose_one() {
    // both read 3; the second write (3+5) erased the first (3+4)
    let v = run(&[(0, 0, 3), (0, 3, 4), (0, 3, 5)], 8);
    assert_eq!(v.columns[0].missing, dec!(4));
    assert_eq!(v.lost_updates, 1);
    assert!(v.lost_updates_exact);
}

#[test]
fn a_collision_takes_the_writer_that_read_the_latest_value() {
    // History 0 → 3 → 7 → 10. A lost call read 0 and also wrote 7 (0 + 7): taking it at 7
    // would skip 3 and count two losses instead of one.
    let v = run(&[(0, 0, 3), (0, 0, 7), (0, 3, 4), (0, 7, 3)], 10);
    assert_eq!(v.lost_updates, 1);
    assert_eq!(v.lost_amount_from_witnesses, Some(vec![dec!(7)]));
    assert!(v.lost_updates_exact);
}

#[test]
fn no_chain_from_the_final_value_is_a_lower_bound() {
    // -1 was written by no witness: another writer took part.
    let v = run(&[(0, 0, 3), (0, 3, 4)], -1);
    assert!(!v.lost_updates_exact);
    assert_eq!(v.lost_amount_from_witnesses, None);
}

#[test]
fn zero_deltas_leave_no_witness() {
    let s = sorted(&[(0, 5, 0), (1, 5, 2)]);
    assert_eq!(s.len(), 1);
}

#[test]
fn equal_values_of_other_scales_chain() {
    // 1.50 read, 1.5 written: the same value.
    let spill = Spill::new(1);
    let mut sink = spill.sink();
    sink.push(0, &[dec!(0)], &[dec!(1.50)]);
    sink.push(0, &[dec!(1.5)], &[dec!(2.25)]);
    sink.finish();
    let mut s = spill.finish().unwrap();
    assert_eq!(
        s.lost_by_chain(0, &[dec!(0.0)], &[dec!(3.750)]),
        Some((0, vec![Decimal::ZERO]))
    );
}

#[test]
fn many_runs_merge_and_every_chain_resolves() {
    // Enough records for many sorted runs and two merge passes (the unit tests' chunks are
    // small): 8 rows, each a serial history of 1,000 calls plus one lost call every 7th step
    // (it read the same value as the survivor).
    let rows = 8u32;
    let steps = 1_000i64;
    let mut witnesses = Vec::new();
    let mut expected_lost = 0;
    for step in 0..steps {
        for key in 0..rows {
            let read = step * 10 + i64::from(key);
            let delta = 10;
            witnesses.push((key, read, delta));
            if step % 7 == 0 {
                witnesses.push((key, read, 3));
                expected_lost += 1;
            }
        }
    }
    let spill = Spill::new(1);
    let mut sinks: Vec<Sink> = (0..4).map(|_| spill.sink()).collect();
    for (i, &(key, read, delta)) in witnesses.iter().enumerate() {
        sinks[i % 4].push(key, &[Decimal::from(read)], &[Decimal::from(delta)]);
    }
    for s in sinks {
        assert_eq!(s.finish(), 0);
    }
    assert_eq!(spill.records(), witnesses.len() as u64);
    let mut s = spill.finish().unwrap();
    let runs = witnesses.len() * Layout { columns: 1 }.size() / sort::CHUNK_BYTES;
    assert!(runs > sort::FAN_IN, "{runs} runs");
    let mut lost = 0;
    for key in 0..rows {
        let init = Decimal::from(key);
        let fin = Decimal::from(steps * 10 + i64::from(key));
        let (n, amount) = s.lost_by_chain(key, &[init], &[fin]).expect("a chain");
        assert_eq!(amount, vec![Decimal::from(3 * n)]);
        lost += n;
    }
    assert_eq!(lost, expected_lost);
    assert_eq!(s.same_read_pairs(0, 3).len(), 3);
}

#[test]
fn a_witness_of_the_wrong_width_is_dropped_and_counted() {
    let spill = Spill::new(2);
    let mut sink = spill.sink();
    sink.push(0, &[dec!(1)], &[dec!(1), dec!(1)]);
    sink.push(0, &[dec!(1), dec!(1)], &[dec!(1)]);
    sink.push(0, &[dec!(1), dec!(1)], &[dec!(0), dec!(2)]);
    sink.push(0, &[dec!(1), dec!(1)], &[dec!(0), dec!(0)]);
    assert_eq!(sink.finish(), 2);
    assert_eq!(spill.records(), 1);
    let s = spill.finish().unwrap();
    assert_eq!(s.len(), 1);
    assert!(!s.is_empty());
    assert_eq!(format!("{s:?}"), "Sorted { rows: 1 }");
}

#[test]
fn records_lay_out_row_written_read() {
    let l = Layout { columns: 2 };
    assert_eq!(l.size(), 68);
    let mut rec = 0x0102_0304u32.to_be_bytes().to_vec();
    for v in [dec!(5), dec!(7.5), dec!(2), dec!(0.5)] {
        put(&mut rec, v);
    }
    assert_eq!(l.key(&rec), 0x0102_0304);
    assert_eq!(decimals(l.written(&rec)), [dec!(5), dec!(7.5)]);
    assert_eq!(decimals(l.read(&rec)), [dec!(2), dec!(0.5)]);
    assert_eq!(delta(l, &rec), [dec!(3), dec!(7)]);
}

#[test]
fn an_empty_spill_sorts_to_nothing_and_a_row_without_witnesses_chains_only_to_itself() {
    let spill = Spill::new(1);
    assert_eq!(spill.sink().finish(), 0);
    let mut s = spill.finish().unwrap();
    assert!(s.is_empty());
    assert_eq!(
        s.lost_by_chain(4, &[dec!(2)], &[dec!(2.0)]),
        Some((0, vec![Decimal::ZERO]))
    );
    assert_eq!(s.lost_by_chain(4, &[dec!(2)], &[dec!(3)]), None);
    assert!(s.same_read_pairs(4, 3).is_empty());
}

#[test]
fn examples_stop_at_three_a_row_and_name_both_deltas() {
    // Five calls read 0 on row 1, one on row 2: row 1 gives three pairs, row 2 none.
    let mut s = sorted(&[
        (1, 0, 1),
        (1, 0, 2),
        (1, 0, 3),
        (1, 0, 4),
        (1, 0, 5),
        (2, 0, 9),
    ]);
    let pairs = s.same_read_pairs(1, 5);
    assert_eq!(pairs.len(), 3);
    assert!(pairs.iter().all(|p| p.key == 1 && p.read == [dec!(0)]));
    assert_eq!(pairs[0].first_delta, [dec!(1)]);
    let seconds: Vec<Decimal> = pairs.iter().map(|p| p.second_delta[0]).collect();
    assert_eq!(seconds, [dec!(2), dec!(3), dec!(4)]);
    assert_eq!(s.same_read_pairs(1, 2).len(), 2);
    assert!(s.same_read_pairs(2, 3).is_empty());
    // Row 1 ended at 5 (the last writer): the four others were lost, 1 + 2 + 3 + 4.
    assert_eq!(
        s.lost_by_chain(1, &[dec!(0)], &[dec!(5)]),
        Some((4, vec![dec!(10)]))
    );
}

#[test]
fn two_columns_chain_on_both_and_sum_the_lost_per_column() {
    let spill = Spill::new(2);
    let mut sink = spill.sink();
    // (0,0) → (1,10) → (3,30); a lost call also read (1,10) and added (5,0).
    sink.push(0, &[dec!(0), dec!(0)], &[dec!(1), dec!(10)]);
    sink.push(0, &[dec!(1), dec!(10)], &[dec!(2), dec!(20)]);
    sink.push(0, &[dec!(1), dec!(10)], &[dec!(5), dec!(0)]);
    assert_eq!(sink.finish(), 0);
    let mut s = spill.finish().unwrap();
    assert_eq!(s.len(), 3);
    assert_eq!(
        s.lost_by_chain(0, &[dec!(0), dec!(0)], &[dec!(3), dec!(30)]),
        Some((1, vec![dec!(5), dec!(0)]))
    );
    // A final value that matches one column of a write but not the other has no chain.
    assert_eq!(
        s.lost_by_chain(0, &[dec!(0), dec!(0)], &[dec!(3), dec!(31)]),
        None
    );
}

#[test]
fn a_full_buffer_is_appended_before_the_end() {
    let spill = Spill::new(1);
    let mut sink = spill.sink();
    let per = Layout { columns: 1 }.size();
    let n = FLUSH_AT / per + 1;
    for i in 0..n {
        sink.push(0, &[Decimal::from(i)], &[dec!(1)]);
    }
    // The buffer reached FLUSH_AT on the last push: everything is in the file already.
    assert_eq!(spill.records(), n as u64);
    sink.push(0, &[Decimal::from(n)], &[dec!(1)]);
    assert_eq!(spill.records(), n as u64);
    assert_eq!(sink.finish(), 0);
    assert_eq!(spill.records(), n as u64 + 1);
}

#[test]
fn witnesses_are_counted_as_dropped_once_the_file_is_gone() {
    let spill = Spill::new(1);
    *spill.file.lock().unwrap() = None;
    let mut sink = spill.sink();
    for i in 0..5 {
        sink.push(1, &[Decimal::from(i)], &[Decimal::ONE]);
    }
    assert_eq!(sink.finish(), 5);
    assert_eq!(spill.records(), 0);
    assert!(spill.finish().is_err());
}

/// The spill file of `n` one-column records on `rows` rows, each row a serial history.
fn spilled(n: i64, rows: u32) -> (std::fs::File, u64) {
    let spill = Spill::new(1);
    let mut sink = spill.sink();
    for i in 0..n {
        let key = (i % i64::from(rows)) as u32;
        sink.push(key, &[Decimal::from(i / i64::from(rows))], &[Decimal::ONE]);
    }
    assert_eq!(sink.finish(), 0);
    let records = spill.records();
    (spill.file.lock().unwrap().take().unwrap(), records)
}

/// How sorting `n` records on 5 rows goes in chunks of 100 records, at most 4 runs a merge.
fn shape_of(n: i64) -> (sort::Shape, Sorted) {
    let layout = Layout { columns: 1 };
    let (file, records) = spilled(n, 5);
    let mut shape = sort::Shape::default();
    let sorted = sort::sort_in(file, records, layout, 100 * layout.size(), 4, &mut shape).unwrap();
    (shape, sorted)
}

#[test]
fn the_sort_keeps_to_its_chunk_and_fan_in_bounds() {
    let shape = |runs, merges, widest_merge| sort::Shape {
        runs,
        merges,
        widest_merge,
    };
    // 1,000 records: 10 runs; 4 merged → 7 runs, 4 merged → 4 runs, then the last merge of 4.
    let (got, mut s) = shape_of(1_000);
    assert_eq!(got, shape(10, 3, 4));
    // Sorted all the same: each row a serial history of 200 calls from 0 to 200.
    for key in 0..5 {
        let (lost, _) = s
            .lost_by_chain(key, &[Decimal::ZERO], &[Decimal::from(200)])
            .expect("a chain");
        assert_eq!(lost, 0);
    }
    // One chunk: one run, nothing to merge. No records: no run, no merge.
    assert_eq!(shape_of(50).0, shape(1, 0, 0));
    assert_eq!(shape_of(0).0, shape(0, 0, 0));
    // Exactly the fan-in: one merge of all of them.
    assert_eq!(shape_of(400).0, shape(4, 1, 4));
}

#[test]
fn all_gives_every_witness_back_by_row_and_value_written() {
    let mut s = sorted(&[(2, 10, 5), (1, 0, 3), (2, 0, 10), (1, 3, 4)]);
    let d = |v: i64| vec![Decimal::from(v)];
    assert_eq!(
        s.all(),
        Some(vec![
            (1, d(0), d(3)),
            (1, d(3), d(4)),
            (2, d(0), d(10)),
            (2, d(10), d(5)),
        ])
    );
    assert_eq!(sorted(&[]).all(), Some(vec![]));
}

#[test]
fn a_chain_that_passes_a_value_twice_takes_each_writer_once() {
    // Serial: 100 → 0 → 5 → 0 → 5 → 10. From 10 back: 5 (two writers), 0 (two writers), 5
    // again: the writer already taken must not be taken twice, or the chain never ends.
    let mut s = sorted(&[(1, 100, -100), (1, 0, 5), (1, 5, -5), (1, 0, 5), (1, 5, 5)]);
    let (lost, amount) = s
        .lost_by_chain(1, &[Decimal::from(100)], &[Decimal::from(10)])
        .expect("a chain");
    assert_eq!((lost, amount), (0, vec![Decimal::ZERO]));
}

#[test]
fn a_writer_taken_once_is_not_taken_again_wherever_it_sits_in_the_row() {
    // Serial: 100 → 5 → 3 → 5 → 0 → 5 → 10, every writer of 5 a different call: (100, −95),
    // (3, +2) and (0, +5). From 10 back the chain meets 5 three times; the closest writer (+2)
    // must be taken at the first visit only. The writers sit after the row's first record, so a
    // used-bit set or tested at the wrong position (`1 >> bit`) takes (3, +2) again, and the
    // chain outgrows its row: no chain.
    let calls = [
        (1, 100, -95),
        (1, 5, -2),
        (1, 3, 2),
        (1, 5, -5),
        (1, 0, 5),
        (1, 5, 5),
    ];
    let mut s = sorted(&calls);
    let (lost, amount) = s
        .lost_by_chain(1, &[Decimal::from(100)], &[Decimal::from(10)])
        .expect("a chain");
    assert_eq!((lost, amount), (0, vec![Decimal::ZERO]));
}
