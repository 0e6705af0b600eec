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
mod tests;
