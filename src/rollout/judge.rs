//! The rollout's verdicts: a statement that made the load's calls wait longer than the
//! scenario's `max_write_stall`, named by version and line with the remedy that fits it; and
//! increments lost after the switch, when only the RPC should have run. Pure.

use crate::report::rollout_model::{PhaseLosses, StatementCost};
use std::time::Duration;

/// What to do about a statement that stalled writes, from what it is.
pub fn remedy(text: &str) -> &'static str {
    let words: Vec<String> = text
        .split_whitespace()
        .take(4)
        .map(str::to_uppercase)
        .collect();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let is_index = w(0) == "CREATE" && (w(1) == "INDEX" || (w(1) == "UNIQUE" && w(2) == "INDEX"));
    if is_index && !words.iter().any(|x| x == "CONCURRENTLY") {
        "build it with CREATE INDEX CONCURRENTLY, in a migration file of its own that runs \
            outside a transaction (no BEGIN; Supabase's CLI then applies it alone)"
    } else if matches!(w(0), "UPDATE" | "DELETE" | "INSERT") {
        "batch it: a few thousand rows per statement, each batch in its own transaction"
    } else {
        "set a lock_timeout before it (SET lock_timeout = '500ms') and retry the migration when \
            it gives up (55P03), so it never queues writes behind it for long"
    }
}

/// One failure per statement whose longest block exceeded `limit`.
pub fn stalls(statements: &[StatementCost], limit: Duration) -> Vec<String> {
    let limit_ms = limit.as_secs_f64() * 1000.0;
    statements
        .iter()
        .filter(|s| s.longest_block_ms > limit_ms)
        .map(|s| {
            format!(
                "rollout: {}:{} ({}) held {} and stalled {} of the load's calls, the longest for \
                    {:.0} ms, over max_write_stall = {}: {}",
                s.version,
                s.line,
                s.text,
                s.lock,
                s.blocked_calls,
                s.longest_block_ms,
                humantime::format_duration(limit),
                remedy(&s.text)
            )
        })
        .collect()
}

/// One failure per path that lost increments during the settle period (only the RPC ran).
pub fn settle_losses(losses: &[PhaseLosses]) -> Vec<String> {
    losses
        .iter()
        .filter(|l| l.lost_during_settle > 0)
        .map(|l| {
            format!(
                "rollout: path '{}' lost {} increment(s) after the last migration, when no call \
                    took the fallback ({} did): the RPC itself loses updates",
                l.path, l.lost_during_settle, l.calls_via_fallback_during_settle
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(text: &str, longest: f64) -> StatementCost {
        StatementCost {
            version: "20251117000004".into(),
            line: 40,
            text: text.into(),
            duration_ms: 900.0,
            lock: "ShareLock".into(),
            blocked_calls: 12,
            longest_block_ms: longest,
        }
    }

    #[test]
    fn a_plain_index_build_over_the_limit_names_its_line_and_concurrently() {
        let f = stalls(
            &[
                cost("CREATE INDEX IF NOT EXISTS i ON t (x)", 800.0),
                cost("ANALYZE t", 10.0),
            ],
            Duration::from_millis(500),
        );
        assert_eq!(f.len(), 1);
        assert!(f[0].contains("20251117000004:40"), "{}", f[0]);
        assert!(f[0].contains("CREATE INDEX CONCURRENTLY"), "{}", f[0]);
    }

    #[test]
    fn remedies_fit_the_statement() {
        assert!(remedy("ALTER TABLE t ADD COLUMN c int").contains("lock_timeout"));
        assert!(remedy("update t set x = 1").contains("batch"));
        assert!(remedy("CREATE INDEX CONCURRENTLY i ON t (x)").contains("lock_timeout"));
        assert!(remedy("CREATE UNIQUE INDEX i ON t (x)").contains("CONCURRENTLY"));
    }
}
