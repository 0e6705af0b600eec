//! What each migration statement cost the load, seen from a side connection: every ~10 ms it
//! lists the load's backends (application_name `loadtest-load`) waiting on a lock the
//! migration's backend holds (`pg_blocking_pids`), and the table locks that backend holds.
//! The migration runner tells it, through [`migrate::Watcher`], which statement is running and
//! which locks the statement left held.
//!
//! A blocked call is counted once per (backend, wait start): the same call seen in many samples
//! is one call. It is charged to the statement of the running file that first took a lock on
//! the table it waits for (in a transaction, a lock is held until COMMIT, so a write blocked
//! by the first CREATE INDEX on a table stays blocked through the statements after it), or to
//! the statement running when no such statement is known.

use crate::faults::LOAD_APP;
use crate::pg::migrate::{self, Migration};
use crate::pg::split::Statement;
use crate::report::rollout_model::{RolloutMigration, StatementCost};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How often the side connection looks.
pub const EVERY: Duration = Duration::from_millis(10);

/// PostgreSQL's table lock modes, weakest first.
const MODES: [&str; 8] = [
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
];

fn strength(mode: &str) -> usize {
    MODES.iter().position(|m| *m == mode).map_or(0, |i| i + 1)
}

/// The stronger of two modes.
fn stronger(a: Option<String>, b: &str) -> Option<String> {
    match a {
        Some(a) if strength(&a) >= strength(b) => Some(a),
        _ => Some(b.to_string()),
    }
}

/// One statement as the sampler saw it.
struct Seen {
    version: String,
    line: usize,
    text: String,
    started: Instant,
    ended: Option<Instant>,
    lock: Option<String>,
    /// (backend pid, wait start in epoch ms) → longest wait seen, ms.
    blocked: HashMap<(i32, i64), f64>,
}

#[derive(Default)]
struct State {
    statements: Vec<Seen>,
    current: Option<usize>,
    /// Table → the statement of the running file that first held a lock on it.
    first_locked: HashMap<String, usize>,
    /// Locks the running file's session held after its previous statement.
    held: BTreeSet<(String, String)>,
    migrations: Vec<(String, String, Instant, Option<Instant>, bool)>,
}

/// The runner's side of the sampler, and what it gathered.
#[derive(Clone)]
pub struct Watch {
    state: Arc<Mutex<State>>,
    t0: Instant,
}

impl Watch {
    /// A watch whose times count from `t0`, the start of the load.
    pub fn new(t0: Instant) -> Watch {
        Watch {
            state: Arc::default(),
            t0,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> Option<T> {
        self.state.lock().ok().map(|mut s| f(&mut s))
    }

    /// The migrations (timed from `t0`) and every statement's cost.
    pub fn results(&self) -> (Vec<RolloutMigration>, Vec<StatementCost>) {
        let secs = |t: Instant| {
            (t.saturating_duration_since(self.t0).as_secs_f64() * 1000.0).round() / 1000.0
        };
        self.with(|s| {
            let migrations = s
                .migrations
                .iter()
                .map(|(version, name, a, b, outside)| RolloutMigration {
                    version: version.clone(),
                    name: name.clone(),
                    started_s: secs(*a),
                    ended_s: secs(b.unwrap_or(*a)),
                    outside_transaction: *outside,
                })
                .collect();
            let statements = s
                .statements
                .iter()
                .map(|st| StatementCost {
                    version: st.version.clone(),
                    line: st.line,
                    text: st.text.clone(),
                    duration_ms: st.ended.map_or(0.0, |e| {
                        (e.saturating_duration_since(st.started).as_secs_f64() * 1e4).round() / 10.0
                    }),
                    lock: st.lock.clone().unwrap_or_else(|| "none".into()),
                    blocked_calls: st.blocked.len() as u64,
                    longest_block_ms: st.blocked.values().fold(0.0f64, |a, b| a.max(*b)).round(),
                })
                .collect();
            (migrations, statements)
        })
        .unwrap_or_default()
    }

    /// One sample: load backends blocked by the migration (pid, wait start, waited ms, table),
    /// and the table locks the migration holds now.
    fn sample(&self, blocked: &[(i32, i64, f64, String)], held: &[(String, String)]) {
        self.with(|s| {
            let Some(cur) = s.current else { return };
            for (rel, mode) in held {
                let owner = *s.first_locked.entry(rel.clone()).or_insert(cur);
                // In autocommit a statement's locks are gone once it ends: what is seen now is
                // the running statement's.
                if owner == cur || s.held.is_empty() {
                    let st = &mut s.statements[cur];
                    st.lock = stronger(st.lock.take(), mode);
                }
            }
            for (pid, since, waited, rel) in blocked {
                let to = s.first_locked.get(rel).copied().unwrap_or(cur);
                let e = s.statements[to]
                    .blocked
                    .entry((*pid, *since))
                    .or_insert(0.0);
                *e = e.max(*waited);
            }
        });
    }
}

impl migrate::Watcher for Watch {
    fn file(&self, m: &Migration, outside_transaction: bool) {
        self.with(|s| {
            s.first_locked.clear();
            s.held.clear();
            s.migrations.push((
                m.version.clone(),
                m.name.clone(),
                Instant::now(),
                None,
                outside_transaction,
            ));
        });
    }

    fn started(&self, m: &Migration, st: &Statement) {
        let text: String = st
            .text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(90)
            .collect();
        self.with(|s| {
            s.statements.push(Seen {
                version: m.version.clone(),
                line: st.line,
                text,
                started: Instant::now(),
                ended: None,
                lock: None,
                blocked: HashMap::new(),
            });
            s.current = Some(s.statements.len() - 1);
        });
    }

    fn ended(&self, locks: Vec<(String, String)>) {
        let now = Instant::now();
        self.with(|s| {
            let Some(cur) = s.current else { return };
            let words: BTreeSet<String> = s.statements[cur]
                .text
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .map(str::to_lowercase)
                .collect();
            let mut lock = s.statements[cur].lock.take();
            for (rel, mode) in &locks {
                let new = !s.held.contains(&(rel.clone(), mode.clone()));
                // Taken by this statement, or already held on a table it names (a second
                // CREATE INDEX on the same table in one transaction).
                if new || words.contains(&rel.to_lowercase()) {
                    lock = stronger(lock, mode);
                }
                if new {
                    s.first_locked.entry(rel.clone()).or_insert(cur);
                }
            }
            s.held = locks.into_iter().collect();
            let st = &mut s.statements[cur];
            st.lock = lock;
            st.ended = Some(now);
        });
    }

    fn file_done(&self) {
        self.with(|s| {
            if let Some(m) = s.migrations.last_mut() {
                m.3 = Some(Instant::now());
            }
        });
    }
}

/// The load's backends waiting on the migration's backend ($1), with their wait start (epoch
/// ms), how long they have waited and the table they wait for.
const BLOCKED: &str = "SELECT a.pid, (extract(epoch FROM l.waitstart) * 1000)::bigint, \
    (extract(epoch FROM clock_timestamp() - l.waitstart) * 1000)::float8, \
    coalesce(c.relname, '') \
    FROM pg_stat_activity a \
    JOIN pg_locks l ON l.pid = a.pid AND NOT l.granted AND l.waitstart IS NOT NULL \
    LEFT JOIN pg_class c ON c.oid = l.relation \
    WHERE a.application_name = $2 AND $1::int = ANY(pg_blocking_pids(a.pid))";

/// The table locks the migration's backend ($1) holds, as the runner reads its own
/// ([`migrate::OWN_LOCKS`]).
fn held_query() -> String {
    migrate::OWN_LOCKS.replace("pg_backend_pid()", "$1")
}

/// Samples until `stop` fires, on `side` (a connection of its own, not counted as load).
pub async fn run(side: tokio_postgres::Client, pid: i32, watch: Watch, stop: CancellationToken) {
    let (Ok(blocked_q), Ok(held_q)) = (
        side.prepare(BLOCKED).await,
        side.prepare(&held_query()).await,
    ) else {
        return;
    };
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        let blocked = side.query(&blocked_q, &[&pid, &LOAD_APP]).await;
        let held = side.query(&held_q, &[&pid]).await;
        let (Ok(blocked), Ok(held)) = (blocked, held) else {
            continue;
        };
        let blocked: Vec<(i32, i64, f64, String)> = blocked
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        let held: Vec<(String, String)> = held.iter().map(|r| (r.get(0), r.get(1))).collect();
        watch.sample(&blocked, &held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use migrate::Watcher;

    fn migration() -> Migration {
        Migration {
            version: "4".into(),
            name: "idx".into(),
            file_name: "4_idx.sql".into(),
            origin: "o".into(),
            sql: String::new(),
            checksum: String::new(),
        }
    }

    fn stmt(line: usize, text: &str) -> Statement {
        Statement {
            text: text.into(),
            line,
        }
    }

    #[test]
    fn a_wait_is_charged_to_the_statement_that_first_locked_the_table() {
        let w = Watch::new(Instant::now());
        let m = migration();
        w.file(&m, false);
        w.started(&m, &stmt(1, "CREATE INDEX a ON t (x)"));
        w.ended(vec![("t".into(), "ShareLock".into())]);
        w.started(&m, &stmt(3, "CREATE INDEX b ON t (y)"));
        // The same call seen twice, and another one: two calls, charged to line 1.
        w.sample(
            &[(7, 100, 30.0, "t".into())],
            &[("t".into(), "ShareLock".into())],
        );
        w.sample(
            &[(7, 100, 45.0, "t".into()), (8, 120, 5.0, "t".into())],
            &[("t".into(), "ShareLock".into())],
        );
        w.ended(vec![("t".into(), "ShareLock".into())]);
        w.file_done();
        let (migs, st) = w.results();
        assert_eq!(migs.len(), 1);
        assert_eq!(
            (st[0].line, st[0].blocked_calls, st[0].longest_block_ms),
            (1, 2, 45.0)
        );
        assert_eq!(st[0].lock, "ShareLock");
        assert_eq!((st[1].blocked_calls, st[1].lock.as_str()), (0, "ShareLock"));
    }

    #[test]
    fn modes_are_ordered() {
        assert_eq!(
            stronger(Some("ShareLock".into()), "RowExclusiveLock").as_deref(),
            Some("ShareLock")
        );
        assert_eq!(
            stronger(Some("ShareLock".into()), "AccessExclusiveLock").as_deref(),
            Some("AccessExclusiveLock")
        );
    }
}
