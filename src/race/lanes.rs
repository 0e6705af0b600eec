//! Client threads ("lanes"), as pgbench's `-j`: each lane is one thread with its own
//! single-threaded runtime, and a connection's socket, its driver task and every worker calling
//! on it stay on one lane. A call then never crosses threads: its worker and its connection wake
//! each other on the same thread, as in pgbench's own threads.
//!
//! Why not one multi-threaded runtime: with two threads it cost more CPU per call than one
//! (1.05 against 0.88 s for 200,000 calls of `examples/tokio_postgres_floor.rs`, 8 connections,
//! one call in flight each), because a worker and its connection's task land on different
//! threads and every call wakes the other one through the kernel. Two lanes cost 0.77 s for the
//! same calls (README, "Against pgbench").
//!
//! Lane 0 is the runtime that made the lanes (the main thread's); every other lane is a thread
//! of its own, stopped and joined when the [`Lanes`] are dropped. Drop them after the pool whose
//! connections they drive: a connection whose lane stopped is closed.

use deadpool_postgres::{Object, Pool, PoolError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The load's client threads and which one each pooled connection lives on.
pub struct Lanes {
    handles: Vec<Handle>,
    threads: Vec<Lane>,
    /// A connection (the address of its statement cache, which lives as long as it) → its lane.
    homes: Mutex<HashMap<usize, usize>>,
}

/// One extra thread: the sender that stops its runtime, and the thread to join.
struct Lane {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Lanes {
    /// `count` lanes (at least one): the current runtime, and `count - 1` threads.
    pub fn start(count: usize) -> std::io::Result<Lanes> {
        let mut lanes = Lanes {
            handles: vec![Handle::current()],
            threads: Vec::new(),
            homes: Mutex::default(),
        };
        for i in 1..count.max(1) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = rt.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("loadtest-lane-{i}"))
                .spawn(move || {
                    rt.block_on(async {
                        let _ = stopped.await;
                    });
                    // Tasks still parked (a dead connection's) are dropped, not waited for.
                    rt.shutdown_timeout(Duration::from_secs(1));
                })?;
            lanes.handles.push(handle);
            lanes.threads.push(Lane {
                stop: Some(stop),
                thread: Some(thread),
            });
        }
        Ok(lanes)
    }

    pub fn count(&self) -> usize {
        self.handles.len()
    }

    /// The runtime of lane `lane` (modulo the count).
    pub fn handle(&self, lane: usize) -> &Handle {
        &self.handles[lane % self.handles.len()]
    }

    /// Takes a connection out of `pool` from a task on lane `lane`: a connection the pool opens
    /// for it is driven by that lane. Remembers the lane of each connection it hands out.
    pub async fn get(&self, pool: &Pool, lane: usize) -> Result<Object, PoolError> {
        let lane = lane % self.count();
        let conn = if lane == 0 {
            pool.get().await?
        } else {
            let pool = pool.clone();
            self.handle(lane)
                .spawn(async move { pool.get().await })
                .await
                // The lane's runtime is gone: the run is ending.
                .map_err(|_| PoolError::Closed)??
        };
        if let Ok(mut homes) = self.homes.lock() {
            homes.insert(home_key(&conn), lane);
        }
        Ok(conn)
    }

    /// The lane a connection lives on: the one [`Lanes::get`] opened it on, else lane 0.
    pub fn lane_of(&self, conn: &Object) -> usize {
        self.homes
            .lock()
            .ok()
            .and_then(|h| h.get(&home_key(conn)).copied())
            .unwrap_or(0)
    }
}

fn home_key(conn: &Object) -> usize {
    Arc::as_ptr(&conn.statement_cache) as usize
}

impl Drop for Lanes {
    fn drop(&mut self) {
        for lane in &mut self.threads {
            if let Some(stop) = lane.stop.take() {
                let _ = stop.send(());
            }
        }
        for lane in &mut self.threads {
            if let Some(t) = lane.thread.take() {
                let _ = t.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn each_lane_is_a_thread_of_its_own_and_stops_with_the_lanes() {
        let lanes = Lanes::start(3).unwrap();
        assert_eq!(lanes.count(), 3);
        let here = std::thread::current().id();
        let on = |lane: usize| {
            lanes
                .handle(lane)
                .spawn(async { std::thread::current().id() })
        };
        assert_eq!(on(0).await.unwrap(), here, "lane 0 is the caller's runtime");
        let (one, two) = (on(1).await.unwrap(), on(2).await.unwrap());
        assert!(one != here && two != here && one != two);
        assert_eq!(
            on(4).await.unwrap(),
            one,
            "lanes are taken modulo the count"
        );
        let name = lanes
            .handle(2)
            .spawn(async { std::thread::current().name().map(String::from) })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("loadtest-lane-2"));
        // A task parked on lane 1 for good, holding a token.
        let token = Arc::new(());
        let held = token.clone();
        lanes.handle(1).spawn(async move {
            let _held = held;
            std::future::pending::<()>().await;
        });
        let gone = lanes.handle(1).clone();
        drop(lanes);
        // Dropping waited for the thread: its runtime has already dropped the parked task, and
        // runs nothing any more.
        assert_eq!(
            Arc::strong_count(&token),
            1,
            "lane 1's tasks outlived the lanes"
        );
        assert!(gone.spawn(async {}).await.is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn one_lane_is_the_current_runtime_alone() {
        let lanes = Lanes::start(1).unwrap();
        assert_eq!(lanes.count(), 1);
        let here = std::thread::current().id();
        let there = lanes
            .handle(5)
            .spawn(async { std::thread::current().id() })
            .await
            .unwrap();
        assert_eq!(there, here);
    }
}
