//! The client CPU floor of tokio-postgres on vs_pgbench's rpc-hot workload: `connections`
//! tasks spread over THREADS threads (default 1), each thread with its own current-thread
//! runtime (as loadtest's lanes), each task with its own connection and one call in flight,
//! calling `SELECT increment_token_usage($1, $2)` as a named prepared statement on the first
//! row of `user_subscriptions`, with nothing else per call. It prints its own CPU (user + sys,
//! `getrusage`) per 1000 calls, connection set-up included.
//!
//! Why: at one call in flight per connection loadtest's client CPU per call is above pgbench's
//! (README, "Against pgbench"). Run beside loadtest on the same server, this separates what
//! tokio-postgres itself costs from what loadtest adds per call. Take the slope over two sizes
//! to cancel the set-up:
//!
//!     cargo run --release --example tokio_postgres_floor -- "host=/tmp port=5432 user=postgres dbname=postgres" 8 50000
//!     cargo run --release --example tokio_postgres_floor -- "host=/tmp port=5432 user=postgres dbname=postgres" 8 200000
//!
//! A fourth argument sets the threads (`... 8 200000 2`: two threads of 4 connections each).
//! With `FLOOR_WIRE=1` (unix-socket hosts only) each task borrows its connection's socket and
//! calls on it with `loadtest::pg::wire`, as loadtest's workers do when each has a connection to
//! itself: the floor of that path.
//!
//! The database needs the token race's schema and rows (for example the `postgres` database of
//! a scratch cluster kept with `loadtest run scripts/cpu-per-call/rpc-hot.toml --ops 10 --keep`).
//! Every call adds 1..=4000 to one `integer` counter: reset it between long series
//! (`UPDATE user_subscriptions SET used_tokens = 0`) before it overflows.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use loadtest::pg::wire;

fn cpu_ms() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
    ms(ru.ru_utime) + ms(ru.ru_stime)
}

fn main() {
    let usage = "usage: tokio_postgres_floor CONNINFO CONNECTIONS CALLS [THREADS]";
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (conninfo, conns, calls, threads) = match args.as_slice() {
        [c, n, k] => (c, n, k, "1"),
        [c, n, k, t] => (c, n, k, t.as_str()),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let (Ok(conns), Ok(calls), Ok(threads)) = (
        conns.parse::<usize>(),
        calls.parse::<usize>(),
        threads.parse::<usize>(),
    ) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    if threads == 0 || conns % threads != 0 {
        eprintln!("{usage} (THREADS must divide CONNECTIONS)");
        std::process::exit(2);
    }
    let per_conn = calls / conns;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| share(conninfo, conns / threads, per_conn));
        }
    });
    let made = per_conn * conns;
    let cpu = cpu_ms();
    println!(
        "{made} calls on {conns} connections, {threads} thread(s): {cpu:.1} ms CPU, {:.2} ms/1k calls (set-up included)",
        cpu / (made as f64 / 1000.0)
    );
}

/// One thread's connections on a current-thread runtime, `calls` calls each.
fn share(conninfo: &str, conns: usize, calls: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async move {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..conns {
            let conninfo = conninfo.to_string();
            set.spawn(async move {
                let config: tokio_postgres::Config = conninfo.parse().expect("a conninfo");
                let wire = std::env::var_os("FLOOR_WIRE").is_some();
                let (client, detach) = if wire {
                    let tokio_postgres::config::Host::Unix(dir) = &config.get_hosts()[0] else {
                        panic!("FLOOR_WIRE needs a unix socket host");
                    };
                    let port = config.get_ports().first().copied().unwrap_or(5432);
                    let s = tokio::net::UnixStream::connect(dir.join(format!(".s.PGSQL.{port}")))
                        .await
                        .expect("connect");
                    let (detach, stream) = wire::Detach::new(wire::Socket::Unix(s));
                    let (client, conn) = config
                        .connect_raw(stream, tokio_postgres::NoTls)
                        .await
                        .expect("connect");
                    tokio::spawn(conn);
                    (client, Some(detach))
                } else {
                    let (client, conn) = config
                        .connect(tokio_postgres::NoTls)
                        .await
                        .expect("connect");
                    tokio::spawn(conn);
                    (client, None)
                };
                let user: uuid::Uuid = client
                    .query_one(
                        "SELECT user_id FROM user_subscriptions ORDER BY user_id LIMIT 1",
                        &[],
                    )
                    .await
                    .expect("a user")
                    .get(0);
                let stmt = client
                    .prepare("SELECT increment_token_usage($1, $2)")
                    .await
                    .expect("prepare");
                if let Some(detach) = detach {
                    let types = stmt.params().to_vec();
                    let mut w = wire::WireConn::new(detach.lease().expect("a plain socket"));
                    w.prepare("floor", "SELECT increment_token_usage($1, $2)", &types)
                        .await
                        .expect("prepare");
                    for i in 0..calls {
                        let d = (i % 4000) as i32 + 1;
                        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&user, &d];
                        w.execute(wire::Statement::Named("floor"), params, &types, None)
                            .await
                            .expect("a call");
                    }
                    return;
                }
                for i in 0..calls {
                    let d = (i % 4000) as i32 + 1;
                    client.execute(&stmt, &[&user, &d]).await.expect("a call");
                }
            });
        }
        while let Some(r) = set.join_next().await {
            r.expect("a connection's task");
        }
    });
}
