//! `--faults SPEC`: which faults a race injects and how often, parsed before anything starts.
//!
//! The spec is a comma-separated list of `kind:when`, e.g. `kill:200ms,cut:300ms,restart:once`:
//! `kill`, `cancel` and `cut` take an interval (each fires once per interval), `timeout` the
//! `statement_timeout` given to the load's connections, `restart` only `once`.

use std::time::Duration;

/// One kind of fault, with its timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `pg_terminate_backend` of a random load connection, every interval.
    Kill(Duration),
    /// `pg_cancel_backend` of a random load connection running a call, every interval.
    Cancel(Duration),
    /// A `statement_timeout` on every load connection.
    Timeout(Duration),
    /// An immediate-mode stop of the scratch server (a crash, with recovery) and a start, once.
    Restart,
    /// Closing a random load connection's TCP link mid-call, every interval, through the proxy.
    Cut(Duration),
}

impl Fault {
    /// The name the report counts it under.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill(_) => "kill",
            Fault::Cancel(_) => "cancel",
            Fault::Timeout(_) => "timeout",
            Fault::Restart => "restart",
            Fault::Cut(_) => "cut",
        }
    }
}

/// The faults of a run, at most one of each kind, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    pub faults: Vec<Fault>,
}

/// Shortest interval accepted: a fault every millisecond would be a denial of service, not a
/// test of the accounting.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

impl FaultPlan {
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }

    pub fn has(&self, name: &str) -> bool {
        self.faults.iter().any(|f| f.name() == name)
    }

    pub fn timeout(&self) -> Option<Duration> {
        self.faults.iter().find_map(|f| match f {
            Fault::Timeout(d) => Some(*d),
            _ => None,
        })
    }

    /// The spec as given, normalised (`kill:200ms,restart:once`), for the report.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .faults
            .iter()
            .map(|f| match f {
                Fault::Restart => "restart:once".to_string(),
                Fault::Kill(d) | Fault::Cancel(d) | Fault::Timeout(d) | Fault::Cut(d) => {
                    format!("{}:{}ms", f.name(), d.as_millis())
                }
            })
            .collect();
        parts.join(",")
    }
}

impl std::str::FromStr for FaultPlan {
    type Err = String;

    /// The error says which part is wrong and what would fix it.
    fn from_str(spec: &str) -> Result<FaultPlan, String> {
        let mut faults: Vec<Fault> = Vec::new();
        for part in spec.split(',').map(str::trim) {
            let (kind, when) = part.split_once(':').ok_or_else(|| {
                format!("'{part}' is not a fault: expected KIND:WHEN, e.g. kill:200ms")
            })?;
            let interval = || parse_interval(kind, when);
            let fault = match kind {
                "kill" => Fault::Kill(interval()?),
                "cancel" => Fault::Cancel(interval()?),
                "timeout" => Fault::Timeout(interval()?),
                "cut" => Fault::Cut(interval()?),
                "restart" if when == "once" => Fault::Restart,
                "restart" => {
                    return Err(format!(
                        "'{part}': restart takes only 'once' (restart:once)"
                    ));
                }
                _ => {
                    return Err(format!(
                        "'{kind}' is not a fault kind: expected kill, cancel, timeout, restart or cut"
                    ));
                }
            };
            if faults.iter().any(|f| f.name() == fault.name()) {
                return Err(format!(
                    "'{kind}' is given twice: give each fault kind once"
                ));
            }
            faults.push(fault);
        }
        Ok(FaultPlan { faults })
    }
}

/// `200ms`, `1.5s`: an interval of at least [`MIN_INTERVAL`].
fn parse_interval(kind: &str, when: &str) -> Result<Duration, String> {
    let bad =
        || format!("'{kind}:{when}': '{when}' is not an interval: expected e.g. 200ms or 1.5s");
    let d = humantime::parse_duration(when).map_err(|_| bad())?;
    if d < MIN_INTERVAL {
        return Err(format!(
            "'{kind}:{when}': the interval is below {} ms: faults that often would only \
             measure the fault",
            MIN_INTERVAL.as_millis()
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_parses_in_order_and_describes_itself() {
        let p: FaultPlan = "kill:200ms,cancel:0.5s,timeout:50ms,restart:once,cut:300ms"
            .parse()
            .unwrap();
        assert_eq!(
            p.faults,
            [
                Fault::Kill(Duration::from_millis(200)),
                Fault::Cancel(Duration::from_millis(500)),
                Fault::Timeout(Duration::from_millis(50)),
                Fault::Restart,
                Fault::Cut(Duration::from_millis(300)),
            ]
        );
        assert_eq!(
            p.describe(),
            "kill:200ms,cancel:500ms,timeout:50ms,restart:once,cut:300ms"
        );
        assert_eq!(p.timeout(), Some(Duration::from_millis(50)));
    }

    #[test]
    fn bad_specs_name_the_part_and_the_fix() {
        for (spec, says) in [
            ("explode:1s", "not a fault kind"),
            ("kill", "expected KIND:WHEN"),
            ("kill:fast", "not an interval"),
            ("kill:1ms", "below 10 ms"),
            ("restart:twice", "only 'once'"),
            ("kill:1s,kill:2s", "given twice"),
            ("", "not a fault"),
        ] {
            let e = spec.parse::<FaultPlan>().unwrap_err();
            assert!(e.contains(says), "{spec}: {e}");
        }
    }
}
