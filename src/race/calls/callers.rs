//! [`PgCalls`]: the engine's callers over PostgreSQL, one per worker, on a pool or on
//! connections shared by several workers (and on the lane that drives each connection).

use super::wire::WireCall;
use super::*;
use crate::pg::wire::{WireConn, Wires};
use crate::race::engine::{self, Caller, Pick};
use crate::race::lanes::Lanes;

/// A load's calls over PostgreSQL: every worker gets a [`PgCaller`] on a pool, or on one of the
/// connections shared by several workers.
pub struct PgCalls {
    via: Via,
    kind: PathKind,
    mode: QueryMode,
    types: Arc<ParamTypes>,
    strategy: Strategy,
    retries: u32,
    keys: Arc<Vec<KeyValue>>,
    absent: Arc<Vec<KeyValue>>,
    columns: usize,
    ledger: Option<i32>,
    ways: Arc<Ways>,
    /// The client threads, when the load has more than one.
    lanes: Option<Arc<Lanes>>,
}

/// A connection with the load's statements prepared on it, shared by several workers.
struct SharedConn {
    client: deadpool_postgres::Object,
    prepared: Prepared,
    /// The lane driving it: its workers run there.
    lane: usize,
    /// Its socket, lent to its one worker for the load (`pg::wire`), until that worker takes it.
    wire: std::sync::Mutex<Option<WireCall>>,
}

/// How workers reach the database.
enum Via {
    /// Check a connection out of the pool for every call: calls that run a transaction need
    /// the connection to themselves.
    Pool(deadpool_postgres::Pool),
    /// Connections shared by several workers: their calls are pipelined on them, which is how
    /// `workers` calls can be in flight over fewer `connections`.
    Shared(Vec<Arc<SharedConn>>),
}

/// What a [`PgCalls`] needs to know about one load.
pub struct PathCalls {
    pub kind: PathKind,
    pub mode: QueryMode,
    pub types: Arc<ParamTypes>,
    pub strategy: Strategy,
    pub retries: u32,
    pub keys: Arc<Vec<KeyValue>>,
    pub absent: Arc<Vec<KeyValue>>,
    pub columns: usize,
    /// Connections this load may hold at once, and its workers.
    pub connections: usize,
    pub workers: usize,
    /// The load's number in the ledger (`--ledger`): each call then runs in a transaction.
    pub ledger: Option<i32>,
    /// Faults are injected: every call checks a connection out of the pool, so one that a
    /// fault broke is replaced instead of failing every call that shares it.
    pub faults: bool,
    /// Where a `rpc-with-fallback` path counts which way its calls went.
    pub ways: Arc<Ways>,
    /// The client threads (`--threads`) the pool's connections were opened on.
    pub lanes: Option<Arc<Lanes>>,
    /// The pool's connections whose socket can be lent to a worker that has one to itself.
    pub wires: Option<Arc<Wires>>,
}

impl PgCalls {
    /// Calls that are single autocommit statements (an RPC, or the app's two-statement
    /// read-modify-write) share `connections` connections taken from the pool, with the
    /// statements prepared once on each; transactions (or a pool that cannot give them) check
    /// a connection out per call.
    pub async fn new(pool: &deadpool_postgres::Pool, p: PathCalls) -> PgCalls {
        match shared_connections(pool, &p).await {
            Some(conns) => PgCalls::via(Via::Shared(conns), p),
            None => PgCalls::pooled(pool, p),
        }
    }

    /// Calls that check a connection out of the pool for every call (a rollout: each call then
    /// waits on a lock on its own backend, as the app's would).
    pub fn pooled(pool: &deadpool_postgres::Pool, p: PathCalls) -> PgCalls {
        // Each call may check out a connection of any lane: its workers stay on this thread.
        let p = PathCalls { lanes: None, ..p };
        PgCalls::via(Via::Pool(pool.clone()), p)
    }

    /// Whether the load's workers will call on their own sockets (`pg::wire`): ask before the
    /// load starts, while no worker has taken its socket yet.
    pub fn on_socket(&self) -> bool {
        match &self.via {
            Via::Shared(conns) => conns
                .iter()
                .all(|c| c.wire.lock().is_ok_and(|w| w.is_some())),
            Via::Pool(_) => false,
        }
    }

    fn via(via: Via, p: PathCalls) -> PgCalls {
        PgCalls {
            via,
            kind: p.kind,
            mode: p.mode,
            types: p.types,
            strategy: p.strategy,
            retries: p.retries,
            keys: p.keys,
            absent: p.absent,
            columns: p.columns,
            ledger: p.ledger,
            ways: p.ways,
            lanes: p.lanes,
        }
    }
}

async fn shared_connections(
    pool: &deadpool_postgres::Pool,
    p: &PathCalls,
) -> Option<Vec<Arc<SharedConn>>> {
    if p.strategy != Strategy::None || p.connections == 0 || p.ledger.is_some() || p.faults {
        return None;
    }
    let mut conns = Vec::with_capacity(p.connections);
    for _ in 0..p.connections.min(p.workers) {
        let client = pool.get().await.ok()?;
        let prepared = Prepared::on(&client, &p.kind, p.strategy, p.mode, &p.types, &p.ways)
            .await
            .ok()?;
        let lane = p.lanes.as_ref().map_or(0, |l| l.lane_of(&client));
        let wire = match p.workers <= p.connections {
            true => lend(&client, p).await,
            false => None,
        };
        conns.push(Arc::new(SharedConn {
            client,
            prepared,
            lane,
            wire: std::sync::Mutex::new(wire),
        }));
    }
    // One way for the whole load, so that its report can say which: if any socket could not be
    // lent, all go back to the driver.
    let lent = |c: &Arc<SharedConn>| c.wire.lock().is_ok_and(|w| w.is_some());
    if !conns.iter().all(lent) {
        for c in &conns {
            if let Ok(mut w) = c.wire.lock() {
                w.take();
            }
        }
    }
    Some(conns)
}

/// The connection's socket with the path's statements on it, for a worker that has the
/// connection to itself: `None` (the calls go through tokio-postgres) when the socket cannot be
/// lent (encrypted, or not opened by `pg::wire`), for the RPC with fallback, or when preparing
/// on it fails. Runs on the connection's lane, where its socket is registered.
async fn lend(client: &deadpool_postgres::Object, p: &PathCalls) -> Option<WireCall> {
    let lease = p.wires.as_ref()?.of(client)?.lease()?;
    let (kind, mode, types) = (p.kind.clone(), p.mode, p.types.clone());
    let on = async move { WireCall::on(WireConn::new(lease), &kind, mode, &types).await };
    let made = match p.lanes.as_ref().filter(|l| l.count() > 1) {
        Some(lanes) => {
            let lane = lanes.lane_of(client);
            lanes.handle(lane).spawn(on).await.ok()?
        }
        None => on.await,
    };
    made?.ok()
}

impl engine::Calls for PgCalls {
    type Caller = PgCaller;

    fn caller(&self, worker: usize) -> PgCaller {
        let wire = match &self.via {
            Via::Shared(conns) => conns[worker % conns.len()]
                .wire
                .lock()
                .ok()
                .and_then(|mut w| w.take()),
            Via::Pool(_) => None,
        };
        PgCaller {
            wire,
            via: match &self.via {
                Via::Shared(conns) => WorkerVia::Shared(conns[worker % conns.len()].clone()),
                Via::Pool(pool) => WorkerVia::Pool(pool.clone()),
            },
            kind: self.kind.clone(),
            mode: self.mode,
            types: self.types.clone(),
            strategy: self.strategy,
            retries: self.retries,
            keys: self.keys.clone(),
            absent: self.absent.clone(),
            nums: vec![Num(Decimal::ZERO); self.columns],
            ledger: self.ledger,
            ways: self.ways.clone(),
        }
    }

    fn has_witnesses(&self) -> bool {
        matches!(self.kind, PathKind::ReadModifyWrite { .. })
    }

    fn runtime(&self, worker: usize) -> Option<tokio::runtime::Handle> {
        let lanes = self.lanes.as_ref().filter(|l| l.count() > 1)?;
        match &self.via {
            Via::Shared(conns) => Some(lanes.handle(conns[worker % conns.len()].lane).clone()),
            Via::Pool(_) => None,
        }
    }
}

/// One worker's connection: its own share of a shared one, or the pool.
enum WorkerVia {
    Pool(deadpool_postgres::Pool),
    Shared(Arc<SharedConn>),
}

/// One worker's caller: the connection it uses and a buffer for the encoded deltas.
pub struct PgCaller {
    /// The connection's socket, when this worker has it to itself.
    wire: Option<WireCall>,
    via: WorkerVia,
    kind: PathKind,
    mode: QueryMode,
    types: Arc<ParamTypes>,
    strategy: Strategy,
    retries: u32,
    keys: Arc<Vec<KeyValue>>,
    absent: Arc<Vec<KeyValue>>,
    nums: Vec<Num>,
    ledger: Option<i32>,
    ways: Arc<Ways>,
}

impl Caller for PgCaller {
    async fn call(
        &mut self,
        id: u64,
        pick: Pick,
        deltas: &[Decimal],
        read: &mut Vec<Decimal>,
    ) -> (Result<(), Failure>, u32) {
        for (n, d) in self.nums.iter_mut().zip(deltas) {
            *n = Num(*d);
        }
        let key = match pick {
            Pick::Existing(k) => &self.keys[k as usize],
            Pick::Absent(k) => &self.absent[k as usize],
        };
        if let Some(w) = &mut self.wire {
            return w.call(key, &self.nums, read, self.retries).await;
        }
        let pool = match &self.via {
            // An RPC that is not retried, the hot case: its statement at once. Through
            // `Prepared::call` the call's future nests two async layers more, about 1.5% of
            // the client's CPU per call (perf, rpc-hot, one call in flight).
            WorkerVia::Shared(c) => {
                return match (&c.prepared, self.retries) {
                    (Prepared::Rpc(stmt), 0) => (stmt.run(&**c.client, key, &self.nums).await, 0),
                    _ => {
                        c.prepared
                            .call(&**c.client, key, &self.nums, read, self.retries, None)
                            .await
                    }
                };
            }
            WorkerVia::Pool(pool) => pool,
        };
        let client = match pool.get().await {
            Ok(c) => c,
            // Never sent: certainly not applied.
            Err(e) => {
                let why = match &e {
                    deadpool_postgres::PoolError::Backend(e) => crate::pg::describe(e),
                    other => other.to_string(),
                };
                let f = Failure::Refused {
                    class: NO_CONNECTION.into(),
                    message: format!("no connection from the pool: {why}"),
                };
                return (Err(f), 0);
            }
        };
        let prepared = match Prepared::on(
            &client,
            &self.kind,
            self.strategy,
            self.mode,
            &self.types,
            &self.ways,
        )
        .await
        {
            Ok(p) => p,
            Err(e) => {
                // Nothing was sent yet: certainly not applied. A connection that died
                // under it is the connection's failure, not the statement's.
                let code = e.code().map(|c| c.code());
                let class = match code {
                    _ if e.is_closed() => NO_CONNECTION,
                    Some(c) if ends_the_session(c) => NO_CONNECTION,
                    Some(c) => c,
                    None => "prepare",
                };
                let message = crate::pg::describe(&e);
                return (
                    Err(Failure::Refused {
                        class: class.into(),
                        message,
                    }),
                    0,
                );
            }
        };
        let ledger = self.ledger.map(|load| Ledger { load, id });
        prepared
            .call(&**client, key, &self.nums, read, self.retries, ledger)
            .await
    }
}
