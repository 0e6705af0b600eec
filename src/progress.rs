//! Progress on stderr: indicatif bars while a path runs, hidden when stderr is not a terminal
//! or with --quiet; and the per-step lines (one per migration), hidden with --quiet.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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

    /// A bar following `done` up to `total`, redrawn ten times a second; finished on drop.
    pub fn bar(&self, label: &str, total: u64, done: Arc<AtomicU64>) -> BarGuard {
        if !self.bars {
            return BarGuard {
                bar: None,
                ticker: None,
            };
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>10} [{bar:30}] {pos}/{len} calls  {msg}  eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        let b = bar.clone();
        let ticker = tokio::spawn(async move {
            let began = std::time::Instant::now();
            loop {
                let n = done.load(Ordering::Relaxed);
                b.set_position(n);
                b.set_message(format!(
                    "{:.0} calls/s",
                    n as f64 / began.elapsed().as_secs_f64().max(1e-3)
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
