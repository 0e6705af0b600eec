//! Progress on stderr: indicatif bars while a path runs, hidden when stderr is not a terminal
//! or with --quiet; and the per-step lines (one per migration, and "<path>: load started" when
//! there is no bar), hidden with --quiet.

use crate::race::engine::Live;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[derive(Clone, Copy)]
pub struct Progress {
    quiet: bool,
    bars: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress {
            quiet,
            bars: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// One diagnostic line on stderr, unless quiet.
    pub fn line(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }

    /// A bar following the live counters: calls done of `total` (or seconds of `duration`),
    /// calls/s, p99 so far and errors; redrawn ten times a second and cleared on drop.
    pub fn bar(
        &self,
        label: &str,
        total: u64,
        live: Arc<Live>,
        duration: Option<Duration>,
    ) -> BarGuard {
        if !self.bars {
            // Without a bar (stderr is not a terminal), one line says the load began: what a
            // log reader, or a test waiting to interrupt a load, can see.
            self.line(&format!("{label}: load started"));
            return BarGuard {
                bar: None,
                ticker: None,
            };
        }
        let len = match duration {
            Some(d) => d.as_millis() as u64,
            None => total,
        };
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{prefix:>18} [{bar:30}] {msg}  eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        let b = bar.clone();
        let ticker = tokio::spawn(async move {
            let began = std::time::Instant::now();
            loop {
                let n = live.done.load(Ordering::Relaxed);
                let secs = began.elapsed().as_secs_f64().max(1e-3);
                b.set_position(match duration {
                    Some(_) => began.elapsed().as_millis() as u64,
                    None => n,
                });
                let p99 = live
                    .latency_us
                    .lock()
                    .map(|h| h.value_at_quantile(0.99))
                    .unwrap_or(0);
                b.set_message(format!(
                    "{n} calls  {:.0}/s  p99 {:.1} ms  {} errors",
                    n as f64 / secs,
                    p99 as f64 / 1000.0,
                    live.failed.load(Ordering::Relaxed)
                ));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        BarGuard {
            bar: Some(bar),
            ticker: Some(ticker),
        }
    }
}

pub struct BarGuard {
    bar: Option<ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for BarGuard {
    fn drop(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
