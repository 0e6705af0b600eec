//! How a run learns it must stop (SIGINT, SIGTERM): a token passed explicitly, no global state.
//! Once stopped, every outcome becomes "interrupted", so teardown errors never reach the user.
//! The first signal lets a run finish its calls in flight (bounded) and write a partial report;
//! a second one abandons them and skips the report: cleanup only.

use crate::error::{Error, Result, Signal};
use std::sync::{Arc, OnceLock};
use tokio_util::sync::CancellationToken;

/// How a run learns it must stop (SIGINT, SIGTERM), passed explicitly: no global state.
#[derive(Clone, Default)]
pub struct Stop {
    /// The first signal: stop starting work, finish what is in flight, report, clean up.
    pub token: CancellationToken,
    /// A second signal: abandon what is in flight and clean up at once, no report.
    pub now: CancellationToken,
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
                while stream.recv().await.is_some() {
                    if s.token.is_cancelled() {
                        s.now.cancel();
                    } else {
                        s.trigger(which);
                        // Said at once, even under --quiet: the user (or a script) knows the
                        // signal was seen, and that a second one stops without waiting.
                        eprintln!(
                            "loadtest: {} received: stopping (send it again to stop at once)",
                            which.name()
                        );
                    }
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

    /// The signal that stopped the run (SIGINT when triggered without one).
    pub fn signal(&self) -> Signal {
        self.signal.get().copied().unwrap_or(Signal::Interrupt)
    }

    /// The error a stopped run returns.
    pub fn error(&self) -> Error {
        Error::Interrupted(self.signal())
    }

    /// Whether a second signal asked to tear down at once.
    pub fn at_once(&self) -> bool {
        self.now.is_cancelled()
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
