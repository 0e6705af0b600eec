//! The command line itself: `list` shows the scenarios, and bad input of every kind is one line
//! on stderr and exit 2.

use crate::util::*;

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "this is = not [valid toml\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", "no-such-scenario"],
            "unknown scenario 'no-such-scenario'",
        ),
        (vec!["run", bad.to_str().unwrap()], "bad.toml:1:6"),
        (vec!["run", "token-race", "--ops", "0"], "--ops"),
        (vec!["run", "token-race", "--workers", "many"], "--workers"),
        (
            vec!["run", "token-race", "--migrations", "/no/such/dir"],
            "--migrations /no/such/dir",
        ),
        (
            vec!["run", "token-race", "--pg-bindir", "/no/such/dir"],
            "--pg-bindir",
        ),
        (
            vec!["run", "token-race", "--database-url", "postgres://x:y@[bad"],
            "--database-url",
        ),
        (vec!["frobnicate"], "frobnicate"),
        // Found before any server starts or any call is made.
        (
            vec!["run", "token-race", "--report-dir", "/proc/loadtest-nope"],
            "--report-dir /proc/loadtest-nope",
        ),
        (
            vec!["nightly", "--report-dir", "/proc/loadtest-nope"],
            "--report-dir /proc/loadtest-nope",
        ),
    ];
    for (args, needle) in cases {
        let out = run(&args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
            "{err}"
        );
    }
}

#[test]
fn list_shows_the_token_race() {
    let out = run(&["list"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("token-race"));
}

/// `--quiet` is global: every command takes it, before or after the subcommand.
#[test]
fn quiet_is_taken_by_every_command() {
    for args in [
        vec!["migrate", "--quiet", "--database-url", &shared().url],
        vec!["--quiet", "migrate", "--database-url", &shared().url],
        vec!["list", "--quiet"],
        vec!["-q", "list"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).is_empty(), "{args:?}: {}", stderr(&out));
    }
}
