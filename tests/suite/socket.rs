//! Workers that have a connection to themselves speak the protocol on its socket
//! (`loadtest::pg::wire`): the same calls and verdicts in every query mode, the socket given back
//! to tokio-postgres afterwards with its session intact, and a call dropped halfway read off
//! before the next one.

use crate::util::*;
use loadtest::pg::wire::{FirstRow, Statement, WireConn, WireConnect, WireError, Wires};
use std::sync::Arc;
use tokio_postgres::types::{ToSql, Type};

#[test]
fn a_worker_per_connection_calls_on_its_socket_in_every_query_mode() {
    for mode in ["prepared", "extended", "simple"] {
        let (code, err, r) = run_scenario(
            "token-race",
            &[
                "--ops",
                "3000",
                "--workers",
                "4",
                "--connections",
                "4",
                "--query-mode",
                mode,
            ],
        );
        assert_eq!(code, Some(0), "{mode}: {err}");
        let r = r.unwrap();
        super::schema::assert_valid("a report with calls on the socket", &r);
        let (rpc, fallback) = (path(&r, "rpc"), path(&r, "fallback"));
        for p in [rpc, fallback] {
            assert_eq!(p["client"], "socket", "{mode}: {}", p["name"]);
            assert_eq!(p["ops_ok"], 3000, "{mode}: {}", p["name"]);
        }
        assert_eq!(rpc["lost_updates"], 0, "{mode}");
        assert_eq!(rpc["counters"][0]["missing"], "0", "{mode}");
        // The fallback's losses are proven by what each call read (its witnesses), exactly.
        let lost = fallback["lost_updates"].as_u64().unwrap();
        assert!(lost > 0, "{mode}: the fallback lost nothing");
        assert_eq!(fallback["lost_updates_exact"], true, "{mode}");
        assert_ne!(fallback["counters"][0]["missing"], "0", "{mode}");
    }
    // `--client driver`: a connection per worker, and still tokio-postgres, with the same verdict.
    let (code, err, r) = run_scenario(
        "token-race",
        &[
            "--ops",
            "2000",
            "--workers",
            "4",
            "--connections",
            "4",
            "--client",
            "driver",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    assert_eq!(path(&r, "rpc")["client"], "driver");
    assert_eq!(path(&r, "fallback")["client"], "driver");
    assert_eq!(path(&r, "rpc")["lost_updates"], 0);
    // More workers than connections: they share them, pipelined, through tokio-postgres.
    let (code, err, r) = run_scenario(
        "token-race",
        &["--ops", "2000", "--workers", "8", "--connections", "2"],
    );
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    assert_eq!(path(&r, "rpc")["client"], "driver");
    assert_eq!(path(&r, "rpc")["lost_updates"], 0);
}

/// A pool whose connections can lend their sockets, on the test's database.
fn pool(db: &str, wires: &Arc<Wires>) -> deadpool_postgres::Pool {
    let connect = WireConnect {
        tls: loadtest::pg::tls::Connector::plaintext().make(),
        wires: wires.clone(),
    };
    let mgr = deadpool_postgres::Manager::from_connect(
        config(db),
        connect,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    let wires = wires.clone();
    deadpool_postgres::Pool::builder(mgr)
        .max_size(2)
        .post_create(deadpool_postgres::Hook::sync_fn(move |c, _| {
            wires.created(c);
            Ok(())
        }))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "current_thread")]
async fn a_lent_socket_speaks_for_its_session_and_goes_back_to_the_driver() {
    let _db = fresh_db().await;
    let db = test_db_name();
    let wires = Arc::new(Wires::default());
    let pool = pool(&db, &wires);
    let conn = pool.get().await.unwrap();
    let detach = wires
        .of(&conn)
        .expect("the pool's connection can lend its socket");
    let lease = detach.lease().expect("a plaintext socket");
    assert!(detach.lease().is_none(), "a socket is lent once at a time");
    let mut w = WireConn::new(lease);

    w.prepare("plus_one", "SELECT $1 + 1", &[Type::INT4])
        .await
        .unwrap();
    let mut row = FirstRow::default();
    let params: [&(dyn ToSql + Sync); 1] = [&41i32];
    let n = w
        .execute(
            Statement::Named("plus_one"),
            params,
            &[Type::INT4],
            Some(&mut row),
        )
        .await
        .unwrap();
    assert_eq!((n, row.rows, row.text(0)), (1, 1, Some("42")));

    // A refusal is the server's SQLSTATE, and the session carries on.
    let e = w
        .execute(
            Statement::Unnamed("SELECT 1 / $1"),
            [&0i32 as _],
            &[Type::INT4],
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, WireError::Db { code, .. } if code == "22012"),
        "{e:?}"
    );
    let n = w
        .simple("SELECT 1 UNION ALL SELECT NULL", Some(&mut row))
        .await
        .unwrap();
    assert_eq!((n, row.rows, row.text(0)), (2, 2, Some("1")));

    // A call dropped halfway: its answer is read off before the next call's.
    let slow = w.simple("SELECT 'slow' FROM pg_sleep(0.3)", None);
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(50), slow)
            .await
            .is_err()
    );
    w.simple("SELECT 'next'", Some(&mut row)).await.unwrap();
    assert_eq!(row.text(0), Some("next"));

    // Dropped halfway again, and then the whole lease: the socket goes back to the driver once
    // the answer is read, and the driver's session is the one the lease spoke on.
    let slow = w.simple("SELECT pg_sleep(0.3)", None);
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(50), slow)
            .await
            .is_err()
    );
    drop(w);
    let prepared: i64 = conn
        .query_one(
            "SELECT count(*) FROM pg_prepared_statements WHERE name = 'plus_one'",
            &[],
        )
        .await
        .expect("the driver has its socket back")
        .get(0);
    assert_eq!(prepared, 1);
    assert!(!conn.is_closed());
    // And it can be lent again.
    let mut again = WireConn::new(detach.lease().expect("given back"));
    again.simple("SELECT 1", None).await.unwrap();
}
