//! Safety on a server loadtest does not own (`--database-url`): a run creates and drops only
//! its own database and leaves the URL's database byte for byte as it was (an unreachable server
//! or a server short of connections is in the catalogue, `catalogue.rs`).

use crate::util::*;

/// pg_dump of a database, to compare it byte for byte (minus pg_dump's per-run random
/// `\restrict` key).
fn dump(db: &str) -> String {
    let bindir = loadtest::pg::binaries::Binaries::find(None).unwrap().bindir;
    let out = std::process::Command::new(bindir.join("pg_dump"))
        .args([
            "-h",
            shared().socket_dir.to_str().unwrap(),
            "-U",
            "postgres",
            "-d",
            db,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_external_run_creates_and_drops_only_its_own_database() {
    let db = test_db_name();
    let bystander = fresh_db().await;
    bystander
        .batch_execute("CREATE TABLE user_subscriptions (user_id uuid, used_tokens int); INSERT INTO user_subscriptions VALUES (gen_random_uuid(), 7);")
        .await
        .unwrap();
    drop(bystander);
    let admin = connect("postgres").await;
    let before = dump(&db);
    assert!(
        before.contains("COPY public.user_subscriptions"),
        "{before}"
    );
    let reports = tempfile::tempdir().unwrap();
    let url = shared()
        .url
        .replace("dbname=postgres", &format!("dbname={db}"));
    let out = run(&[
        "run",
        "token-race",
        "--ops",
        "2000",
        "--quiet",
        "--database-url",
        &url,
        "--report-dir",
        reports.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(reports.path());
    assert_eq!(r["database"]["mode"], "external");
    // Other tests run on this server at the same time, so look for this run's database by name.
    let own = format!("loadtest_{}", r["run_id"].as_str().unwrap());
    let left: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&own],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the run's own database {own} must be gone");
    assert_eq!(dump(&db), before, "the URL's database must be untouched");
}

/// `--database-url ''` connects where psql would: the `PG*` environment (here the test
/// cluster's socket), and the run is an external one (its own database, dropped after).
#[test]
fn an_empty_database_url_takes_the_pg_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "run",
            "token-race",
            "--ops",
            "500",
            "--quiet",
            "--database-url",
            "",
        ])
        .arg("--report-dir")
        .arg(dir.path())
        .env("PGHOST", &shared().socket_dir)
        .env("PGPORT", "5432")
        .env("PGUSER", "postgres")
        .env("PGDATABASE", "postgres")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let r = report(dir.path());
    assert_eq!(r["database"]["mode"], "external");
    assert!(!r["command_line"].as_str().unwrap().contains("PGHOST"));
}
