//! The command line itself: `list` shows the scenarios and `--quiet` is global (bad input of
//! every kind is the catalogue, `catalogue.rs`).

use crate::util::*;

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
