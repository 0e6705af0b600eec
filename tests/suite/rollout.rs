//! A rollout under live load: migrations applied while the load runs. The app's
//! `rpc-with-fallback` path switches from the fallback to the RPC when 20251117000002 lands, and
//! its losses fall only before the switch; a plain CREATE INDEX under insert load blocks the
//! inserts and fails a tight `max_write_stall`, the CONCURRENTLY variant of the same index does
//! not.

use crate::util::*;
use serde_json::Value;
use std::path::Path;

/// The shipped token race with its two paths replaced by the app's real one.
fn token_app(dir: &Path) -> String {
    let race = include_str!("../../scenarios/token-race.toml");
    let cut = race.find("[[paths]]").unwrap();
    let text = format!(
        "{}[[paths]]
name = \"app\"
kind = \"rpc-with-fallback\"
sql = \"SELECT increment_token_usage($1, $2)\"
read = \"SELECT used_tokens FROM user_subscriptions WHERE user_id = $1\"
write = \"UPDATE user_subscriptions SET used_tokens = $2, updated_at = now() WHERE user_id = $1\"
expect = \"lossy\"
",
        &race[..cut]
    );
    let file = dir.join("token-app.toml");
    std::fs::write(&file, text).unwrap();
    file.display().to_string()
}

#[test]
fn the_fallback_runs_until_the_rpc_lands_and_loses_only_before_the_switch() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = token_app(dir.path());
    let (code, err, r) = run_scenario(
        &scenario,
        &[
            "--rollout",
            "20251117000002",
            "--settle",
            "1s",
            "--workers",
            "8",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let r = r.expect("a report");
    super::schema::assert_valid("rollout of 20251117000002", &r);
    let app = path(&r, "app");
    assert_eq!(app["kind"], "rpc-with-fallback");
    let (via_rpc, via_fallback) = (
        app["calls_via_rpc"].as_u64().unwrap(),
        app["calls_via_fallback"].as_u64().unwrap(),
    );
    assert!(
        via_fallback > 0,
        "no call took the fallback before the RPC existed"
    );
    assert!(via_rpc > 0, "no call went through the RPC once it existed");
    assert_eq!(via_rpc + via_fallback, app["ops_ok"].as_u64().unwrap());
    let ro = &r["rollout"];
    let losses = &ro["losses"][0];
    assert_eq!(losses["path"], "app");
    // After the last migration only the RPC runs, and it loses nothing.
    assert_eq!(losses["calls_via_fallback_during_settle"], 0);
    assert_eq!(losses["lost_during_settle"], 0);
    assert_eq!(losses["missing_during_settle"][0], "0");
    // Whatever the run lost, it lost while the fallback could run.
    assert_eq!(losses["lost_during_rollout"], app["lost_updates"]);
    assert_eq!(
        losses["missing_during_rollout"][0],
        app["counters"][0]["missing"]
    );
    // The rollout went through the runner: every file recorded, 000002 first under load.
    assert_eq!(ro["migrations"][0]["version"], "20251117000002");
    assert_eq!(r["migrations"]["files"].as_array().unwrap().len(), 5);
    assert!(
        ro["statements"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["version"] == "20251117000002" && s["duration_ms"].as_f64().unwrap() > 0.0)
    );
}

/// A table under insert load and a migration that indexes it, `index` being its statement.
fn index_rollout(dir: &Path, index: &str) -> (Option<i32>, String, Option<Value>) {
    let migrations = dir.join("migrations");
    std::fs::create_dir_all(&migrations).unwrap();
    std::fs::write(
        migrations.join("1_items.sql"),
        "CREATE TABLE items (id bigserial PRIMARY KEY, v int NOT NULL, note text NOT NULL);\n",
    )
    .unwrap();
    std::fs::write(migrations.join("2_index.sql"), format!("{index}\n")).unwrap();
    let scenario = dir.join("index-rollout.toml");
    std::fs::write(
        &scenario,
        r#"kind = "rollout"
rollout = "2"
load_before = "500ms"
settle = "500ms"
max_write_stall = "50ms"
[data]
scale = "400,000 items"
rows = 400000
sql = "INSERT INTO items (v, note) SELECT g % 1000, md5(g::text) FROM generate_series(1, current_setting('loadtest.rows')::int) AS g"
[[writes]]
name = "items"
sql = "INSERT INTO items (v, note) VALUES ($1::bigint % 1000, md5($1::text))"
workers = 2
"#,
    )
    .unwrap();
    run_scenario(
        scenario.to_str().unwrap(),
        &[
            "--migrations",
            migrations.to_str().unwrap(),
            "--compat",
            "none",
        ],
    )
}

fn statement_of(r: &Value) -> &Value {
    let st = r["rollout"]["statements"].as_array().unwrap();
    st.iter()
        .find(|s| s["version"] == "2")
        .expect("the index statement")
}

#[test]
fn a_plain_index_build_blocks_inserts_and_fails_a_tight_stall_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err, r) = index_rollout(dir.path(), "CREATE INDEX items_note ON items (note, v);");
    let r = r.expect("a report");
    assert_eq!(code, Some(1), "{err}");
    super::schema::assert_valid("plain index rollout", &r);
    let s = statement_of(&r);
    assert_eq!(s["line"], 1);
    assert_eq!(s["lock"], "ShareLock");
    assert!(s["blocked_calls"].as_u64().unwrap() > 0, "{s}");
    assert!(s["longest_block_ms"].as_f64().unwrap() > 50.0, "{s}");
    let failures = r["failures"].to_string();
    assert!(failures.contains("rollout: 2:1"), "{failures}");
    assert!(failures.contains("CREATE INDEX CONCURRENTLY"), "{failures}");
    let writes = &r["rollout"]["writes"][0];
    assert!(writes["calls_ok"].as_u64().unwrap() > 0);
    assert_eq!(writes["calls_failed"], 0);
}

#[test]
fn the_concurrently_variant_runs_outside_a_transaction_and_passes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err, r) = index_rollout(
        dir.path(),
        "CREATE INDEX CONCURRENTLY items_note ON items (note, v);",
    );
    let r = r.expect("a report");
    assert_eq!(code, Some(0), "{err}\n{}", r["failures"]);
    assert_eq!(r["rollout"]["migrations"][0]["outside_transaction"], true);
    let s = statement_of(&r);
    assert_eq!(s["lock"], "ShareUpdateExclusiveLock", "{s}");
    assert!(s["longest_block_ms"].as_f64().unwrap() <= 50.0, "{s}");
    assert!(r["rollout"]["writes"][0]["calls_ok"].as_u64().unwrap() > 0);
}
