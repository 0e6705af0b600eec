//! What the engine is given: the load (how many calls, when, on which keys, with which
//! deltas) and the traits through which it makes each call, knowing no SQL.

use rust_decimal::Decimal;
use std::time::Duration;

/// How much load to apply.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    Ops(u64),
    Elapsed(Duration),
}

/// Where each call's deltas come from.
#[derive(Debug, Clone)]
pub enum Deltas {
    /// Drawn per column uniformly from (low, high) in units of 10^-scale.
    Drawn(Vec<(i64, i64, u32)>),
    /// Every call adds these fixed amounts: lets mixed runs attribute every increment exactly.
    Counting(Vec<Decimal>),
}

/// How the key of each call is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDist {
    /// Every key equally likely.
    Uniform,
    /// The first key takes `share` of the calls; the rest spread uniformly.
    Hot { share: f64 },
    /// Zipf's law with exponent `s` over the keys in order.
    Zipf { s: f64 },
}

/// What to run. The SQL is not here: it comes with the [`Calls`] given to [`run`].
pub struct Load {
    pub until: Until,
    /// Calls per second (open model); `None` for the closed model.
    pub rate: Option<f64>,
    pub workers: usize,
    pub seed: u64,
    /// Mixed into each worker's seed: loads with the same stream draw the same calls.
    pub stream: u64,
    /// How many keys exist (indexes `0..keys`), and how many known-absent keys there are.
    pub keys: u32,
    pub absent: u32,
    pub dist: KeyDist,
    /// Share of calls sent on purpose for keys that do not exist.
    pub absent_share: f64,
    pub deltas: Deltas,
    pub columns: usize,
}

/// The key of one call: an index into the existing keys, or into the absent ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    Existing(u32),
    Absent(u32),
}

/// Why one call failed, as the engine counts it.
#[derive(Debug, Clone)]
pub enum Failure {
    /// The server refused the call, or it found no row: it definitely did not apply. `class` is
    /// the SQLSTATE or a loadtest name (`no_row`).
    Refused { class: String, message: String },
    /// The connection failed mid-call: it may or may not have applied.
    Indeterminate(String),
}

impl Failure {
    /// The class the report counts it under, and its message.
    pub fn class(&self) -> (&str, &str) {
        match self {
            Failure::Refused { class, message } => (class, message),
            Failure::Indeterminate(m) => ("connection", m),
        }
    }
}

/// One worker's way to make calls: its connection (or pool) and its buffers.
pub trait Caller: Send {
    /// Makes one call adding `deltas` to the row of `pick`, retrying as the path allows.
    /// Returns the outcome and the retries it took. A call that reads what it overwrites leaves
    /// the values it read in `read` (the oracle's witnesses). `id` numbers the call within its
    /// load (unique there): what `--ledger` records.
    fn call(
        &mut self,
        id: u64,
        pick: Pick,
        deltas: &[Decimal],
        read: &mut Vec<Decimal>,
    ) -> impl Future<Output = (Result<(), Failure>, u32)> + Send;
}

/// Gives each worker its [`Caller`].
pub trait Calls: Send + Sync + 'static {
    type Caller: Caller + 'static;
    fn caller(&self, worker: usize) -> Self::Caller;
    /// The runtime worker `worker` runs on: the one driving its connection, so that a call
    /// never crosses threads (`race::lanes`). `None`: the current runtime.
    fn runtime(&self, _worker: usize) -> Option<tokio::runtime::Handle> {
        None
    }
    /// Whether each call reads the value it overwrites: then its witness is kept.
    fn has_witnesses(&self) -> bool;
}
