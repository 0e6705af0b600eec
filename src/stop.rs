//! How a run learns it must stop (SIGINT, SIGTERM): a token passed explicitly, no global state.
//! Once stopped, every outcome becomes "interrupted", so teardown errors never reach the user.

use crate::error::{Error, Result, Signal};
use std::sync::{Arc, OnceLock};
use tokio_util::sync::CancellationToken;

/// How a run learns it must stop (SIGINT, SIGTERM), passed explicitly: no global state.
#[derive(Clone, Default)]
pub struct Stop {
    pub token: CancellationToken,
    signal: Arc<OnceLock<Signal>>,
}

impl Stop {
    /// Listens for SIGINT and SIGTERM on the current runtime.
    pub fn listen() -> std::io::Result<Stop> {
        use tokio::signal::unix::{SignalKind, signal};
        let stop = Stop::default();
        for (kind, which) in [
            (SignalKind::interrupt(), Signal::Interrupt),
            (SignalKind::terminate(), Signal::Terminate),
        ] {
            let mut stream = signal(kind)?;
            let s = stop.clone();
            tokio::spawn(async move {
                if stream.recv().await.is_some() {
                    s.trigger(which);
                }
            });
        }
        Ok(stop)
    }

    /// Asks the run to stop as if `which` had arrived.
    pub fn trigger(&self, which: Signal) {
        let _ = self.signal.set(which);
        self.token.cancel();
    }

    /// The error a stopped run returns.
    pub fn error(&self) -> Error {
        Error::Interrupted(self.signal.get().copied().unwrap_or(Signal::Interrupt))
    }

    /// Once stopped, any outcome becomes "interrupted": errors caused by the teardown (a
    /// connection closed under a query) are not the user's problem.
    pub fn check<T>(&self, r: Result<T>) -> Result<T> {
        if self.token.is_cancelled() {
            Err(self.error())
        } else {
            r
        }
    }

    /// `e`, or "interrupted" if the run was stopped.
    pub fn or(&self, e: Error) -> Error {
        if self.token.is_cancelled() {
            self.error()
        } else {
            e
        }
    }
}
