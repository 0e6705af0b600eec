//! Times an index-bench scenario's queries in one schema state: sampled parameters, warm-up,
//! timed runs, the `EXPLAIN (ANALYZE, BUFFERS)` plan of a representative run, and throughput
//! under concurrent clients. Knows no statistics beyond collecting samples (`stats` judges).

use crate::Stop;
use crate::error::{Error, Result};
use crate::pg::actor::Actor;
use crate::race::values::KeyValue;
use crate::scenario::bench::{BenchSettings, QuerySpec};
use rand::{Rng, SeedableRng, rngs::SmallRng};
use std::time::{Duration, Instant};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Statement};

/// Sampled parameter rows per query.
const SAMPLE: i64 = 256;

/// Session settings every benchmark connection gets. Without an index, a repeated query scans
/// the whole table; with `synchronize_seqscans` on, a `LIMIT` scan resumes where the previous
/// one stopped and looks fast. JIT compiles big scans in tens of milliseconds that an app's
/// short queries never pay, and would inflate the "before" times.
pub const SESSION_OPTIONS: &str = "-c synchronize_seqscans=off -c jit=off";

/// One parameter row: `None` is SQL NULL.
pub type ParamRow = Vec<Option<KeyValue>>;

/// A query ready to run: its statement and the parameter rows to draw from.
pub struct Ready<'a> {
    pub spec: &'a QuerySpec,
    pub rows: Vec<ParamRow>,
    /// A first parameter that matches nothing, when its type allows making one.
    pub missing: Option<KeyValue>,
    /// Who every run of the query runs as (`--as`): the owner, or a user in a transaction of
    /// its own, as Supabase's API runs it.
    pub actor: Actor,
}

/// Which parameters one run used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    Row(usize),
    /// Row 0 with the first parameter replaced by the value that matches nothing.
    Missing,
}

impl Ready<'_> {
    pub fn params(&self, pick: Pick) -> ParamRow {
        match pick {
            Pick::Row(i) => self.rows[i].clone(),
            Pick::Missing => {
                let mut r = self.rows[0].clone();
                r[0] = self.missing.clone();
                r
            }
        }
    }

    /// The parameters of a pick, as a person reads them.
    pub fn display(&self, pick: Pick) -> Vec<String> {
        self.params(pick)
            .iter()
            .map(|v| v.as_ref().map_or("NULL".to_string(), |k| k.display()))
            .collect()
    }

    /// The same sequence of picks for every state of one query, from the run seed.
    pub fn picker(&self, seed: u64) -> impl FnMut() -> Pick + '_ {
        let mut rng = SmallRng::seed_from_u64(seed ^ hash(&self.spec.name));
        let share = if self.missing.is_some() {
            self.spec.missing_share
        } else {
            0.0
        };
        move || {
            if share > 0.0 && rng.random::<f64>() < share {
                Pick::Missing
            } else {
                Pick::Row(rng.random_range(0..self.rows.len()))
            }
        }
    }
}

fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A user's SQL that the server refused: the user fixes the scenario file (exit 2).
fn refused(origin: &str, q: &QuerySpec, what: &str) -> impl FnOnce(tokio_postgres::Error) -> Error {
    let at = format!("{origin}:{}:{}: query '{}': {what}", q.at.0, q.at.1, q.name);
    move |e| Error::Input(format!("{at}: {}", crate::pg::describe(&e)))
}

/// Samples the parameter rows and checks the query against the schema: it must parse, name
/// existing tables, and take exactly the params query's columns with their types.
pub async fn prepare<'a>(
    client: &Client,
    origin: &str,
    q: &'a QuerySpec,
    seed: u64,
) -> Result<Ready<'a>> {
    let stmt = client
        .prepare(&q.sql)
        .await
        .map_err(refused(origin, q, "sql is not valid here"))?;
    client
        .execute(
            "SELECT setseed($1)",
            &[&(((seed % 1999) as f64 / 1000.0) - 0.999)],
        )
        .await
        .map_err(Error::db("cannot seed the parameter sample"))?;
    let sample = format!(
        "SELECT * FROM ({}) AS loadtest_params ORDER BY random() LIMIT {SAMPLE}",
        q.params.trim().trim_end_matches(';')
    );
    let rows =
        client
            .query(&sample, &[])
            .await
            .map_err(refused(origin, q, "params is not valid here"))?;
    let at = format!("{origin}:{}:{}: query '{}'", q.at.0, q.at.1, q.name);
    if rows.is_empty() {
        return Err(Error::Input(format!(
            "{at}: params returned no rows: the data set has nothing to look up"
        )));
    }
    let want = stmt.params();
    let got = rows[0].columns();
    if want.len() != got.len() {
        return Err(Error::Input(format!(
            "{at}: sql takes {} parameter(s) but params returns {} column(s)",
            want.len(),
            got.len()
        )));
    }
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        if w != g.type_() {
            return Err(Error::Input(format!(
                "{at}: ${} is {w} but params column {} is {}: cast it in params (e.g. ::{w})",
                i + 1,
                i + 1,
                g.type_()
            )));
        }
    }
    let rows: Vec<ParamRow> = rows
        .iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.get::<_, Option<KeyValue>>(i))
                .collect()
        })
        .collect();
    let firsts: Vec<KeyValue> = rows
        .iter()
        .filter_map(|r| r.first().cloned().flatten())
        .collect();
    let missing = if want.is_empty() || q.missing_share == 0.0 {
        None
    } else {
        KeyValue::absent(&firsts, 1, seed)
            .ok()
            .and_then(|v| v.into_iter().next())
    };
    Ok(Ready {
        spec: q,
        rows,
        missing,
        actor: Actor::Owner,
    })
}

/// Runs a query once; returns the milliseconds and the rows it returned (or changed).
pub async fn run_once(
    client: &Client,
    stmt: &Statement,
    ready: &Ready<'_>,
    pick: Pick,
) -> std::result::Result<(f64, u64), tokio_postgres::Error> {
    let params = ready.params(pick);
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    // As a user, the transaction and its claims are set up before the clock starts: the API
    // pays them once per request whatever the query, the policies are what is measured.
    let begin = ready.actor.begin();
    let in_tx = ready.spec.rollback || begin.is_some();
    if in_tx {
        client
            .batch_execute(begin.as_deref().unwrap_or("BEGIN"))
            .await?;
    }
    let t = Instant::now();
    let r = if ready.spec.rollback {
        client.execute(stmt, &refs).await
    } else {
        client
            .query(stmt, &refs)
            .await
            .map(|rows| rows.len() as u64)
    };
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    if in_tx {
        let end = if ready.spec.rollback {
            "ROLLBACK"
        } else {
            "COMMIT"
        };
        if r.is_err() {
            client.batch_execute("ROLLBACK").await?;
        } else {
            client.batch_execute(end).await?;
        }
    }
    Ok((ms, r?))
}

/// The timed runs of one query in one state (or two interleaved sides of the same state, for
/// an A/A calibration).
#[derive(Debug, Clone, Default)]
pub struct Timing {
    pub ms: Vec<f64>,
    pub picks: Vec<Option<Pick>>,
    pub rows: Vec<u64>,
}

/// Warm-up, then timed runs of every query in round-robin, one run of each query per round,
/// until each has both `min_runs` and `time_per_query` of its own run time (or `max_runs`).
/// Interleaving spreads each query's runs over the whole phase, so a slow or fast moment of the
/// machine lands on all queries alike and shows in each one's spread instead of shifting one
/// query's median. With `sides = 2` every pick is run twice in a row, alternating which side is
/// timed first (A/A). Returns, per query, one [`Timing`] per side.
pub async fn time(
    client: &Client,
    readies: &[Ready<'_>],
    s: &BenchSettings,
    seed: u64,
    sides: usize,
    stop: &Stop,
) -> Result<Vec<Vec<Timing>>> {
    let ctx = |r: &Ready<'_>| format!("query '{}' failed", r.spec.name);
    let mut stmts = Vec::with_capacity(readies.len());
    let mut pickers: Vec<Box<dyn FnMut() -> Pick + Send + '_>> = Vec::new();
    for r in readies {
        stmts.push(
            client
                .prepare(&r.spec.sql)
                .await
                .map_err(Error::db(ctx(r)))?,
        );
        pickers.push(Box::new(r.picker(seed)));
    }
    for (i, r) in readies.iter().enumerate() {
        for _ in 0..s.warmup {
            let p = pickers[i]();
            run_once(client, &stmts[i], r, p)
                .await
                .map_err(Error::db(ctx(r)))?;
        }
    }
    let mut out = vec![vec![Timing::default(); sides]; readies.len()];
    let mut spent = vec![Duration::ZERO; readies.len()];
    let mut runs = vec![0u32; readies.len()];
    loop {
        let mut any = false;
        for (i, r) in readies.iter().enumerate() {
            let n = runs[i];
            if n >= s.max_runs || (n >= s.min_runs && spent[i] >= s.time_per_query) {
                continue;
            }
            any = true;
            stop.check(Ok(()))?;
            let p = pickers[i]();
            let began = Instant::now();
            for k in 0..sides {
                let side = (k + n as usize) % sides;
                let (ms, rows) = run_once(client, &stmts[i], r, p)
                    .await
                    .map_err(Error::db(ctx(r)))?;
                out[i][side].ms.push(ms);
                out[i][side].picks.push(Some(p));
                out[i][side].rows.push(rows);
            }
            spent[i] += began.elapsed();
            runs[i] += 1;
        }
        if !any {
            return Ok(out);
        }
    }
}

/// The pick of a typical run: the one whose result size is the median among the timed runs
/// that matched something.
pub fn representative(t: &Timing) -> Pick {
    let mut v: Vec<(u64, Pick)> = t
        .rows
        .iter()
        .zip(&t.picks)
        .filter_map(|(r, p)| match p {
            Some(Pick::Row(i)) => Some((*r, Pick::Row(*i))),
            _ => None,
        })
        .collect();
    v.sort_by_key(|(r, _)| *r);
    v.get(v.len() / 2).map_or(Pick::Row(0), |(_, p)| *p)
}

/// The `EXPLAIN (ANALYZE, BUFFERS)` of one run: the top plan nodes, the indexes used, the text.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub nodes: Vec<String>,
    pub indexes: Vec<String>,
    pub text: String,
}

pub async fn explain(client: &Client, ready: &Ready<'_>, pick: Pick) -> Result<Plan> {
    let ctx = || format!("EXPLAIN of query '{}' failed", ready.spec.name);
    let params = ready.params(pick);
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let json_sql = format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {}", ready.spec.sql);
    let text_sql = format!("EXPLAIN (ANALYZE, BUFFERS) {}", ready.spec.sql);
    let begin = ready.actor.begin();
    let in_tx = ready.spec.rollback || begin.is_some();
    if in_tx {
        client
            .batch_execute(begin.as_deref().unwrap_or("BEGIN"))
            .await
            .map_err(Error::db(ctx()))?;
    }
    let json = client.query_one(&json_sql, &refs).await;
    let text = client.query(&text_sql, &refs).await;
    if in_tx {
        client
            .batch_execute("ROLLBACK")
            .await
            .map_err(Error::db(ctx()))?;
    }
    let json: serde_json::Value = json.map_err(Error::db(ctx()))?.get(0);
    let text: Vec<String> = text
        .map_err(Error::db(ctx()))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut plan = Plan {
        text: text.join("\n"),
        ..Plan::default()
    };
    if let Some(root) = json.get(0).and_then(|p| p.get("Plan")) {
        walk(root, &mut plan);
    }
    Ok(plan)
}

/// Pre-order over the plan tree: "Node Type [using index] [on relation alias]".
fn walk(node: &serde_json::Value, plan: &mut Plan) {
    let s = |k: &str| node.get(k).and_then(|v| v.as_str());
    let mut label = s("Node Type").unwrap_or("?").to_string();
    if let Some(i) = s("Index Name") {
        label.push_str(&format!(" using {i}"));
        if !plan.indexes.iter().any(|x| x == i) {
            plan.indexes.push(i.to_string());
        }
    }
    if let Some(r) = s("Relation Name") {
        label.push_str(&format!(" on {r}"));
        if let Some(a) = s("Alias").filter(|a| *a != r) {
            label.push_str(&format!(" {a}"));
        }
    }
    plan.nodes.push(label);
    if let Some(children) = node.get("Plans").and_then(|p| p.as_array()) {
        for c in children {
            walk(c, plan);
        }
    }
}

/// The throughput phase's clients, one connection each, opened once per run.
pub async fn connect_workers(config: &crate::pg::Endpoint, workers: usize) -> Result<Vec<Client>> {
    let mut out = Vec::with_capacity(workers);
    for _ in 0..workers {
        out.push(
            crate::pg::connect(config)
                .await
                .map_err(Error::db("cannot open a benchmark connection (--workers)"))?,
        );
    }
    Ok(out)
}

/// Queries per second with `workers` clients, each on its own connection, for `time`.
pub async fn throughput(
    workers: &[Client],
    ready: &Ready<'_>,
    time: Duration,
    seed: u64,
) -> Result<f64> {
    let ctx = || format!("query '{}' failed under concurrent load", ready.spec.name);
    let mut clients = Vec::with_capacity(workers.len());
    for c in workers {
        let stmt = c.prepare(&ready.spec.sql).await.map_err(Error::db(ctx()))?;
        clients.push((c, stmt));
    }
    let deadline = Instant::now() + time;
    let began = Instant::now();
    let counts = futures_util::future::join_all(clients.iter().enumerate().map(
        |(w, (c, stmt))| async move {
            let mut pick = ready.picker(seed.wrapping_add(w as u64 + 1));
            let mut n = 0u64;
            while Instant::now() < deadline {
                run_once(c, stmt, ready, pick()).await?;
                n += 1;
            }
            Ok::<u64, tokio_postgres::Error>(n)
        },
    ))
    .await;
    let elapsed = began.elapsed().as_secs_f64();
    let mut total = 0;
    for c in counts {
        total += c.map_err(Error::db(ctx()))?;
    }
    Ok((total as f64 / elapsed * 10.0).round() / 10.0)
}
