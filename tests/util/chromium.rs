//! Opens a page in headless Chromium and returns what the browser made of it: the DOM after
//! load and every console message. Used to check that the HTML report really renders, which
//! string checks on the file cannot tell.
//!
//! Chromium runs in its own process group with a throwaway profile; the whole group is killed
//! when the page is dumped (or after a timeout), so no browser process outlives the call.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longer than a cold start on a loaded 2-core machine (about 1.5 s when idle).
const TIMEOUT: Duration = Duration::from_secs(60);

/// What Chromium saw.
pub struct Page {
    /// The serialized DOM after the load event (`--dump-dom`).
    pub dom: String,
    /// Console messages (log, warn, error, uncaught exceptions), one line each as Chromium
    /// logged them. Chromium logs every level as `INFO:CONSOLE:<line>]`, so levels cannot be
    /// told apart: a page without scripts should have none at all.
    pub console: Vec<String>,
}

/// The Chromium binary: `$CHROMIUM`, else `chromium`, `chromium-browser` or `google-chrome` on
/// PATH. Panics with what to install when there is none: CI installs it (`.ci/run`), and a
/// silently skipped browser check would prove nothing.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "Chromium is needed to check the HTML report and was not found on PATH \
         (apt-get install chromium, as .ci/run does; or set CHROMIUM=/path/to/chromium)"
    );
}

/// Loads `file` in headless Chromium and returns its DOM and console messages.
pub fn open(file: &Path) -> Page {
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", file.canonicalize().unwrap().display());
    let mut child = Command::new(binary())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-extensions",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start Chromium ({}): {e}", binary().display()));
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let began = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if began.elapsed() > TIMEOUT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Helpers (GPU, renderer, zygote) share the group: take them all down, finished or not.
    let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait();
    let (dom, log) = (out.join().unwrap(), err.join().unwrap());
    let status = status.unwrap_or_else(|| {
        panic!(
            "Chromium did not finish loading {url} within {TIMEOUT:?}; killed it. stderr:\n{log}"
        )
    });
    assert!(
        status.success(),
        "Chromium failed on {url}: {status}\n{log}"
    );
    assert!(
        !dom.trim().is_empty(),
        "Chromium dumped no DOM for {url}:\n{log}"
    );
    let profile_name = profile.path().to_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_mentioning(&profile_name).is_empty() {
        assert!(
            Instant::now() < deadline,
            "Chromium processes outlived the page: {:?}",
            processes_mentioning(&profile_name)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Page {
        dom,
        console: console_lines(&log),
    }
}

/// The console messages in Chromium's stderr: `[pid:tid:time:INFO:CONSOLE:12] "msg", source:
/// file:///… (12)` in current versions, `INFO:CONSOLE(12)]` in older ones.
pub fn console_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(":CONSOLE:") || l.contains(":CONSOLE("))
        .map(str::to_string)
        .collect()
}

fn processes_mentioning(needle: &str) -> Vec<String> {
    let out = Command::new("ps")
        .args(["-eo", "pid,args"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}
