//! The scenario's insert writers: each worker sends its statement again and again on a
//! connection of its own (tagged as load, so the sampler sees it blocked), `$1` the call's
//! number, until told to stop. What they measure is whether writes kept going while the
//! migrations ran: calls, failures, the slowest insert, and inserts/s per 0.25 s.

use crate::error::{Error, Result};
use crate::pg::{self, Endpoint};
use crate::race::engine::SAMPLE_EVERY;
use crate::report::rollout_model::WriteReport;
use crate::scenario::rollout::WriteSpec;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// One writer's workers, running.
pub struct Running {
    name: String,
    workers: Vec<tokio::task::JoinHandle<Tally>>,
    sampler: tokio::task::JoinHandle<Vec<f64>>,
    stop: CancellationToken,
}

#[derive(Default)]
struct Tally {
    ok: u64,
    failed: u64,
    longest_us: u64,
}

/// Connects `workers` connections for `spec` (checking its statement prepares) and starts
/// them; fails before any load when the statement is wrong.
pub async fn start(
    endpoint: &Endpoint,
    spec: &WriteSpec,
    workers: usize,
    origin: &str,
) -> Result<Running> {
    let stop = CancellationToken::new();
    let done = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::with_capacity(workers);
    for w in 0..workers {
        let client = pg::connect(endpoint)
            .await
            .map_err(Error::db("cannot connect the writers"))?;
        let stmt = client.prepare(&spec.sql).await.map_err(|e| {
            Error::Input(format!(
                "{origin}: writes '{}': the SQL does not prepare: {} (it takes at most $1, the \
                    call's number, a bigint)",
                spec.name,
                pg::describe(&e)
            ))
        })?;
        let takes_number = !stmt.params().is_empty();
        let (stop, done) = (stop.clone(), done.clone());
        handles.push(tokio::spawn(async move {
            let mut t = Tally::default();
            let mut i = w as i64;
            while !stop.is_cancelled() {
                let began = Instant::now();
                let r = match takes_number {
                    true => client.execute(&stmt, &[&i]).await,
                    false => client.execute(&stmt, &[]).await,
                };
                i += workers as i64;
                done.fetch_add(1, Ordering::Relaxed);
                match r {
                    Ok(_) => {
                        t.ok += 1;
                        t.longest_us = t.longest_us.max(began.elapsed().as_micros() as u64);
                    }
                    Err(_) => t.failed += 1,
                }
            }
            t
        }));
    }
    let sampler = {
        let (stop, done) = (stop.clone(), done.clone());
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut last = 0;
            let mut tick =
                tokio::time::interval_at((Instant::now() + SAMPLE_EVERY).into(), SAMPLE_EVERY);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => return samples,
                }
                let now = done.load(Ordering::Relaxed);
                samples.push(((now - last) as f64 / SAMPLE_EVERY.as_secs_f64()).round());
                last = now;
            }
        })
    };
    Ok(Running {
        name: spec.name.clone(),
        workers: handles,
        sampler,
        stop,
    })
}

impl Running {
    /// Stops the workers (each finishes its statement in flight) and reports.
    pub async fn finish(self) -> WriteReport {
        self.stop.cancel();
        let mut total = Tally::default();
        for h in self.workers {
            if let Ok(t) = h.await {
                total.ok += t.ok;
                total.failed += t.failed;
                total.longest_us = total.longest_us.max(t.longest_us);
            }
        }
        WriteReport {
            name: self.name,
            calls_ok: total.ok,
            calls_failed: total.failed,
            longest_ms: (total.longest_us as f64 / 100.0).round() / 10.0,
            throughput_samples: self.sampler.await.unwrap_or_default(),
        }
    }

    /// Stops the workers without a report (the run failed).
    pub fn abort(self) {
        self.stop.cancel();
    }
}
