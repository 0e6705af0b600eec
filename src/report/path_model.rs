//! A race path's part of the report model: what one load measured, counted and concluded
//! (`PathReport` and what it holds). Split from `model` so that neither file grows into a
//! grab-bag; `report` re-exports both.

use crate::scenario::{Expect, Strategy};
use crate::stats::LatencyUs;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Indeterminate calls, resolved by the ledger.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved {
    pub committed: u64,
    pub not_committed: u64,
}

/// How a path reaches the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CallKind {
    Rpc,
    ReadModifyWrite,
    /// The RPC, falling back to the read-modify-write while the function is missing.
    RpcWithFallback,
}

impl CallKind {
    pub fn name(self) -> &'static str {
        match self {
            CallKind::Rpc => "rpc",
            CallKind::ReadModifyWrite => "read-modify-write",
            CallKind::RpcWithFallback => "rpc-with-fallback",
        }
    }
}

/// A path's strategy: `n/a` for an RPC, which has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PathStrategy {
    Rmw(Strategy),
    #[serde(with = "not_applicable")]
    NotApplicable,
}

impl PathStrategy {
    pub fn name(self) -> &'static str {
        match self {
            PathStrategy::Rmw(s) => s.name(),
            PathStrategy::NotApplicable => "n/a",
        }
    }

    /// The strategy of a read-modify-write path, `None` for an RPC.
    pub fn strategy(self) -> Option<Strategy> {
        match self {
            PathStrategy::Rmw(s) => Some(s),
            PathStrategy::NotApplicable => None,
        }
    }
}

/// `"n/a"` and nothing else, for [`PathStrategy::NotApplicable`].
mod not_applicable {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("n/a")
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
        match String::deserialize(d)?.as_str() {
            "n/a" => Ok(()),
            other => Err(serde::de::Error::custom(format!(
                "unknown strategy '{other}'"
            ))),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PathReport {
    /// The path's name, with `@strategy` in a matrix and `@mixed` in a mixed run.
    pub name: String,
    /// The scenario's path name.
    pub path: String,
    pub kind: CallKind,
    /// The read-modify-write strategy ("none", "read-committed", ..., "for-update"); "n/a" for an RPC.
    pub strategy: PathStrategy,
    pub expect: Expect,
    /// Calls acknowledged.
    pub ops_ok: u64,
    /// Calls certainly not applied (refused by the server, rolled back, or never sent).
    pub ops_failed: u64,
    /// Calls whose connection died in flight: applied or not, unknown until the ledger says.
    #[serde(default)]
    pub ops_indeterminate: u64,
    /// With `--ledger`: how the indeterminate calls resolved; null without it.
    #[serde(default)]
    pub indeterminate_resolved: Option<Resolved>,
    /// Transactions tried again after 40001/40P01 (`--retry`).
    pub retries: u64,
    /// Open model: calls that started more than 1 ms after they were due (the server could not
    /// keep up; their latency counts from when they were due).
    pub late_starts: u64,
    /// Open model with --duration: calls due before the end that never started.
    pub not_started: u64,
    pub duration_s: f64,
    pub throughput_ops_s: f64,
    /// Calls/s over each successive 0.25 s of the path (all paths together in a mixed run): the
    /// run's own spread, used by `report compare`.
    #[serde(default)]
    pub throughput_samples: Vec<f64>,
    /// The median latency (µs) of the calls acknowledged in each of those 0.25 s intervals
    /// (intervals without any left out): the spread `report compare` judges p50 by.
    #[serde(default)]
    pub latency_p50_samples: Vec<f64>,
    /// The path's solo latency (µs): of 200 calls made one after another on one connection
    /// once the load is over, nobody else queued, the fastest of each 20; their median. What one
    /// call costs, which the loaded p50 (mostly waiting) shows only in part. Null under faults,
    /// `--ledger`, the open model, in a mixed run and for older reports.
    #[serde(default)]
    pub solo_latency_us: Option<u64>,
    /// The fastest call of each batch of 20: the spread `report compare` judges
    /// `solo_latency_us` by.
    #[serde(default)]
    pub solo_latency_samples: Vec<f64>,
    /// Per acknowledged call, from issue to acknowledgement, including the wait for a pooled
    /// connection (what the application would see).
    pub latency_us: LatencyUs,
    /// The latency distribution at log-spaced percentiles (0, 90, 99, 99.9, … and in between),
    /// as `[percentile, µs]` pairs: the HdrHistogram-style percentile curve.
    #[serde(default)]
    pub latency_percentiles: Vec<[f64; 2]>,
    /// The path's HdrHistogram interval log (`<report>.<path>.hlog`, beside the JSON): latency
    /// of acknowledged calls per second. Null until written, and for older reports.
    #[serde(default)]
    pub hlog: Option<String>,
    /// The per-second histograms behind `hlog`, from the run until `write` saves them.
    #[serde(skip)]
    pub intervals: Option<std::sync::Arc<super::hlog::IntervalLog>>,
    pub counters: Vec<CounterReport>,
    /// Acknowledged increments whose effect is missing.
    pub lost_updates: u64,
    /// True when counted call by call from read-modify-write witnesses; false when it is the
    /// smallest number of calls that explains the missing amount (opaque RPC paths).
    pub lost_updates_exact: bool,
    /// Rows below / above every value their acknowledged calls allow.
    pub rows_short: u64,
    pub rows_over: u64,
    /// Failed calls by SQLSTATE (or `no_row`, `connection`), with the first message.
    pub errors: Vec<ErrorReport>,
    /// Calls sent on purpose for keys that do not exist (when the scenario's absent_share > 0).
    pub absent_keys: Option<AbsentReport>,
    /// Read-modify-write paths: what the witnesses show (null for opaque RPCs).
    pub witnesses: Option<WitnessReport>,
    /// Mixed runs: this exact path's increments erased by a lossy path running beside it.
    pub erased_by_other_paths: Option<u64>,
    /// Read-modify-write calls whose witness was not kept (past the memory cap): when non-zero,
    /// `lost_updates` is a lower bound.
    #[serde(default)]
    pub witnesses_dropped: u64,
    pub expectation_held: bool,
    /// `rpc-with-fallback` paths: calls that went through the RPC, and calls that took the
    /// read-modify-write because the function was missing (42883). Absent for other kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls_via_rpc: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls_via_fallback: Option<u64>,
    /// How the load's calls reached the server (absent where not recorded: mixed fleets,
    /// merged shards, older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<ClientPath>,
}

/// How a load's calls reached the server. Both send the same statements with the same
/// parameters; they differ in the client's CPU per call, and so in what the client adds to the
/// latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientPath {
    /// Each worker had its connection to itself and spoke the protocol on its socket
    /// (`pg::wire`).
    Socket,
    /// Through tokio-postgres: connections shared by several workers (pipelined), calls in a
    /// transaction, TLS, or the RPC with fallback.
    Driver,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AbsentReport {
    pub sent: u64,
    /// Refused by the function, as they should be.
    pub rejected: u64,
    /// Acknowledged although the key does not exist: the function silently did nothing.
    pub accepted: u64,
    pub errors: Vec<ErrorReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WitnessReport {
    /// Per counter column, the deltas of the calls the witnesses show were overwritten.
    #[serde(with = "decimals")]
    pub lost_amount: Vec<Decimal>,
    /// Whether that equals the `missing` the totals show, column by column.
    pub agrees_with_totals: bool,
    /// A few lost updates, as Elle names them: two acknowledged calls on one row that read the
    /// same value and both wrote.
    pub examples: Vec<LostPairReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LostPairReport {
    pub key: String,
    #[serde(with = "decimals")]
    pub read: Vec<Decimal>,
    #[serde(with = "decimals")]
    pub first_delta: Vec<Decimal>,
    #[serde(with = "decimals")]
    pub second_delta: Vec<Decimal>,
}

/// Amounts per counter column, joined by "/", as the reports' sentences and tables show them.
pub fn per_column(values: &[Decimal]) -> String {
    values
        .iter()
        .map(Decimal::to_string)
        .collect::<Vec<_>>()
        .join("/")
}

/// Decimal lists as JSON strings, so they stay exact.
mod decimals {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &[Decimal], s: S) -> Result<S::Ok, S::Error> {
        let text: Vec<String> = v.iter().map(Decimal::to_string).collect();
        text.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Decimal>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| t.parse().map_err(serde::de::Error::custom))
            .collect()
    }
}

/// One counter column; decimals are strings so they stay exact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CounterReport {
    pub column: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub expected: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub actual: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub missing: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub extra: Decimal,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorReport {
    pub sqlstate: String,
    pub count: u64,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn a_call_kind_s_name_is_its_json_name() {
        for k in [
            CallKind::Rpc,
            CallKind::ReadModifyWrite,
            CallKind::RpcWithFallback,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
    }

    #[test]
    fn decimal_lists_round_trip_exactly_as_strings() {
        #[derive(Serialize, Deserialize)]
        struct Amounts(#[serde(with = "decimals")] Vec<Decimal>);
        let v = vec![
            dec!(1.10),
            dec!(-0.000000001),
            dec!(123456789012345678901234.5),
        ];
        let json = serde_json::to_string(&Amounts(v.clone())).unwrap();
        assert_eq!(
            json,
            r#"["1.10","-0.000000001","123456789012345678901234.5"]"#
        );
        let back: Amounts = serde_json::from_str(&json).unwrap();
        assert_eq!(back.0, v);
        assert_eq!(back.0[0].scale(), 2, "the scale is kept");
        assert!(serde_json::from_str::<Amounts>(r#"["1.5x"]"#).is_err());
    }
}
