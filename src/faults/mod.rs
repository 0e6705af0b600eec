//! Faults injected while a race runs (`--faults`): backends killed or cancelled from a side
//! connection, a statement timeout on the load's connections, TCP links cut by a proxy, the
//! scratch server crashed and restarted. What each call then became (acknowledged, certainly
//! failed, or indeterminate) is the engine's and the oracle's business; here is only the
//! injecting and the counting of what was injected.

pub mod proxy;
pub mod spec;

pub use proxy::{Proxy, Upstream};
pub use spec::{Fault, FaultPlan};

use crate::pg::Endpoint;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_postgres::config::Host;

/// The `application_name` of the load's connections: what `kill` and `cancel` aim at, so the
/// run's own connection (reading totals, resolving the ledger) is never hit.
pub const LOAD_APP: &str = "loadtest-load";

/// A crash and restart of the server, for `restart:once` (the scratch cluster only).
pub trait Restart: Send + Sync {
    /// Stops the server as a crash would (immediate mode, recovery at start) and starts it
    /// again; blocks until it accepts connections.
    fn crash_restart(&self) -> Result<(), String>;
}

impl Restart for crate::pg::cluster::Restarter {
    fn crash_restart(&self) -> Result<(), String> {
        crate::pg::cluster::Restarter::crash_restart(self).map_err(|e| e.to_string())
    }
}

/// What the injector needs: the plan, a way to reach the server beside the load, the proxy the
/// load goes through (for `cut`) and the server's restart (for `restart`).
pub struct FaultEnv {
    pub plan: FaultPlan,
    pub side: Endpoint,
    pub proxy: Option<Arc<Proxy>>,
    pub restart: Option<Arc<dyn Restart>>,
}

/// Faults injected so far, by kind.
pub type Injected = BTreeMap<&'static str, u64>;

/// The running injector of one load; [`Injector::stop`] ends it and says what it injected.
pub struct Injector {
    tasks: JoinSet<()>,
    /// The restart, kept apart: once begun it must finish before the oracle reads the server.
    restart: Option<(tokio::task::JoinHandle<()>, Arc<AtomicBool>)>,
    counts: Arc<Mutex<Injected>>,
}

impl Injector {
    /// Starts one task per timed fault. `restart` fires once, `restart_after` into the load,
    /// when `restart_now` is set (the first load of the run).
    pub fn start(env: &FaultEnv, restart_now: bool, restart_after: Duration) -> Injector {
        let counts: Arc<Mutex<Injected>> = Arc::default();
        let mut tasks = JoinSet::new();
        let mut restart = None;
        for &fault in &env.plan.faults {
            let counts = counts.clone();
            let count = move |n: u64| {
                if let Ok(mut c) = counts.lock() {
                    *c.entry(fault.name()).or_default() += n;
                }
            };
            match fault {
                Fault::Kill(every) => {
                    tasks.spawn(signal_backends(env.side.clone(), every, KILL, count));
                }
                Fault::Cancel(every) => {
                    tasks.spawn(signal_backends(env.side.clone(), every, CANCEL, count));
                }
                Fault::Cut(every) => {
                    if let Some(proxy) = env.proxy.clone() {
                        tasks.spawn(async move {
                            loop {
                                tokio::time::sleep(every).await;
                                if proxy.cut_one() {
                                    count(1);
                                }
                            }
                        });
                    }
                }
                Fault::Restart if restart_now => {
                    if let Some(r) = env.restart.clone() {
                        let begun = Arc::new(AtomicBool::new(false));
                        let flag = begun.clone();
                        let task = tokio::spawn(async move {
                            tokio::time::sleep(restart_after).await;
                            flag.store(true, Ordering::SeqCst);
                            let done = tokio::task::spawn_blocking(move || r.crash_restart()).await;
                            if matches!(done, Ok(Ok(()))) {
                                count(1);
                            }
                        });
                        restart = Some((task, begun));
                    }
                }
                // The timeout is a setting of the load's connections: what it did shows in the
                // calls it ended (57014).
                Fault::Restart | Fault::Timeout(_) => {}
            }
        }
        Injector {
            tasks,
            restart,
            counts,
        }
    }

    /// Stops injecting and returns the counts. A restart that has begun is waited for (the
    /// server must be up again before the oracle reads it); one not yet due is called off.
    pub async fn stop(mut self) -> Injected {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        if let Some((task, begun)) = self.restart.take() {
            if begun.load(Ordering::SeqCst) {
                let _ = task.await;
            } else {
                task.abort();
            }
        }
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

const KILL: &str = "pg_terminate_backend";
const CANCEL: &str = "pg_cancel_backend";

/// Every `every`, signals one random load backend (`pg_terminate_backend` or
/// `pg_cancel_backend`; a cancel only aims at one running a call) from a side connection,
/// reconnecting when the side connection is gone (after a restart).
async fn signal_backends(
    side: Endpoint,
    every: Duration,
    function: &'static str,
    count: impl Fn(u64),
) {
    let active = if function == CANCEL {
        " AND state = 'active'"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {function}(pid) FROM pg_stat_activity WHERE application_name = '{LOAD_APP}' \
         AND datname = current_database() AND pid <> pg_backend_pid(){active} \
         ORDER BY random() LIMIT 1"
    );
    let mut client: Option<tokio_postgres::Client> = None;
    loop {
        tokio::time::sleep(every).await;
        if client.as_ref().is_none_or(|c| c.is_closed()) {
            client = crate::pg::connect(&side).await.ok();
        }
        let Some(c) = &client else { continue };
        if let Ok(Some(row)) = c.query_opt(&sql, &[]).await
            && row.try_get::<_, bool>(0).unwrap_or(false)
        {
            count(1);
        }
    }
}

/// The load's connection settings: tagged with [`LOAD_APP`], with the plan's
/// `statement_timeout`, and through the proxy when one runs.
pub fn load_endpoint(base: &Endpoint, plan: &FaultPlan, proxy_port: Option<u16>) -> Endpoint {
    let mut e = base.clone();
    if let Some(port) = proxy_port {
        e.config = via_proxy(&base.config, port);
    }
    e.config.application_name(LOAD_APP);
    if let Some(t) = plan.timeout() {
        let options = e.config.get_options().unwrap_or_default();
        let with = format!("{options} -c statement_timeout={}", t.as_millis())
            .trim()
            .to_string();
        e.config.options(&with);
    }
    e
}

/// Where the proxy forwards to: the first host and port of `c`.
pub fn upstream_of(c: &tokio_postgres::Config) -> Upstream {
    let port = c.get_ports().first().copied().unwrap_or(5432);
    match (c.get_hostaddrs().first(), c.get_hosts().first()) {
        (Some(addr), _) => Upstream::Tcp(addr.to_string(), port),
        (None, Some(Host::Unix(path))) => Upstream::Unix(path.join(format!(".s.PGSQL.{port}"))),
        (None, Some(Host::Tcp(h))) => Upstream::Tcp(h.clone(), port),
        (None, None) => Upstream::Unix(format!("/var/run/postgresql/.s.PGSQL.{port}").into()),
    }
}

/// `c` with its address replaced by the proxy's: a TCP host keeps its name (TLS checks the
/// certificate against it) and connects to 127.0.0.1 instead.
fn via_proxy(c: &tokio_postgres::Config, port: u16) -> tokio_postgres::Config {
    let mut out = tokio_postgres::Config::new();
    match c.get_hosts().first() {
        Some(Host::Tcp(h)) => {
            out.host(h).hostaddr([127, 0, 0, 1].into());
        }
        _ => {
            out.host("127.0.0.1");
        }
    }
    out.port(port);
    if let Some(u) = c.get_user() {
        out.user(u);
    }
    if let Some(p) = c.get_password() {
        out.password(p);
    }
    if let Some(d) = c.get_dbname() {
        out.dbname(d);
    }
    if let Some(o) = c.get_options() {
        out.options(o);
    }
    if let Some(t) = c.get_connect_timeout() {
        out.connect_timeout(*t);
    }
    out.ssl_mode(c.get_ssl_mode());
    out
}
