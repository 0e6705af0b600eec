//! A comparison's rows: one metric with its change and verdict, and how every format labels
//! them (the summary line, the change, each run's side).

use crate::report::model::Report;
use serde::Serialize;

/// One compared metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub metric: String,
    pub base: String,
    pub new: String,
    /// Percent change, new vs base.
    pub change_pct: Option<f64>,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    NoChange,
    Improvement,
    Regression,
    /// A correctness expectation that held in the base fails now.
    NewlyFailing,
    /// Shown for information: nothing to judge it by.
    NotJudged,
}

impl Verdict {
    /// A time's verdict from the interval of its new/base ratio: a regression when all of it
    /// lies above `1 + up`, an improvement when all of it lies below `down`. Every timed row
    /// (latencies, solo calls, the index bench's queries) is judged by this one rule.
    pub fn of_slowdown([lo, hi]: [f64; 2], up: f64, down: f64) -> Verdict {
        if lo > 1.0 + up {
            Verdict::Regression
        } else if hi < down {
            Verdict::Improvement
        } else {
            Verdict::NoChange
        }
    }

    /// The verdict in words, as every format shows it.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::NoChange => "no change",
            Verdict::Improvement => "improvement",
            Verdict::Regression => "regression",
            Verdict::NewlyFailing => "newly failing",
            Verdict::NotJudged => "(not judged)",
        }
    }

    /// Whether this verdict fails a comparison (exit 4 or 1).
    pub fn is_bad(self) -> bool {
        matches!(self, Verdict::Regression | Verdict::NewlyFailing)
    }

    pub fn label(self) -> String {
        if self.is_bad() {
            format!("**{}**", self.name())
        } else {
            self.name().to_string()
        }
    }
}

/// "no regression" or "N regression(s)": the comparison's headline.
pub fn summary(rows: &[Row]) -> String {
    match rows.iter().filter(|r| r.verdict.is_bad()).count() {
        0 => "no regression".to_string(),
        n => format!("{n} regression(s)"),
    }
}

/// A row's change as shown: `+3.2%`, or empty when the base is zero or it is not a number.
pub fn change_label(r: &Row) -> String {
    r.change_pct.map_or(String::new(), |c| format!("{c:+.1}%"))
}

/// One side of a comparison, as the JSON and HTML views name it.
#[derive(Serialize)]
pub struct Side<'a> {
    pub run_id: &'a str,
    pub started_at: &'a str,
    pub verdict: &'a str,
    pub scenario: &'a str,
}

impl<'a> Side<'a> {
    pub fn of(r: &'a Report) -> Side<'a> {
        Side {
            run_id: &r.run_id,
            started_at: &r.started_at,
            verdict: r.verdict.name(),
            scenario: &r.scenario,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Verdict;

    #[test]
    fn a_slowdown_is_judged_only_when_the_whole_interval_is_past_the_threshold() {
        let v = |lo, hi| Verdict::of_slowdown([lo, hi], 0.25, 0.5);
        assert_eq!(v(1.26, 2.0), Verdict::Regression);
        assert_eq!(
            v(1.25, 2.0),
            Verdict::NoChange,
            "at the threshold: not past it"
        );
        assert_eq!(v(0.1, 0.49), Verdict::Improvement);
        assert_eq!(
            v(0.1, 0.5),
            Verdict::NoChange,
            "at the threshold: not past it"
        );
        assert_eq!(v(0.4, 1.3), Verdict::NoChange);
        assert_eq!(v(1.0, 1.0), Verdict::NoChange);
    }
}
