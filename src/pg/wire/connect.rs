//! Pooled connections whose socket can be lent ([`super::Detach`]): the pool's `Connect` opens
//! the socket itself and hands it to tokio-postgres (`connect_raw`), and remembers which pooled
//! connection each socket belongs to ([`Wires`]).
//!
//! Only a single host is opened this way (no `target_session_attrs`, no load balancing); any
//! other configuration, or a socket that cannot be opened here, goes through tokio-postgres' own
//! `connect`, so its errors and its failover stay exactly the driver's.

use super::detach::{Detach, Socket};
use deadpool_postgres::{ClientWrapper, StatementCache};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::thread::ThreadId;
use tokio_postgres::config::{Host, LoadBalanceHosts, TargetSessionAttrs};
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, Error};
use tokio_postgres_rustls::MakeRustlsConnect;

/// Which pooled connection can lend its socket, and how.
#[derive(Default)]
pub struct Wires {
    /// A socket opened by `connect`, waiting for the pool's `post_create` hook on the same
    /// thread: the pool runs the two one after the other without yielding in between, so the
    /// thread tells them apart from another connection being opened elsewhere.
    opened: Mutex<HashMap<ThreadId, Detach>>,
    /// A connection (its statement cache, held weakly so the address is never reused while
    /// listed) → its socket's handle.
    by_conn: Mutex<HashMap<usize, (Weak<StatementCache>, Detach)>>,
}

impl Wires {
    /// The pool's `post_create` hook: files the socket just opened on this thread under the
    /// connection it became.
    pub fn created(&self, conn: &ClientWrapper) {
        let Some(detach) = self
            .opened
            .lock()
            .ok()
            .and_then(|mut o| o.remove(&std::thread::current().id()))
        else {
            return;
        };
        if let Ok(mut by) = self.by_conn.lock() {
            by.retain(|_, (weak, _)| weak.strong_count() > 0);
            by.insert(
                key(&conn.statement_cache),
                (Arc::downgrade(&conn.statement_cache), detach),
            );
        }
    }

    /// The handle of a pooled connection's socket, if it was opened here and is not encrypted.
    pub fn of(&self, conn: &ClientWrapper) -> Option<Detach> {
        let by = self.by_conn.lock().ok()?;
        let (weak, d) = by.get(&key(&conn.statement_cache))?;
        (weak.strong_count() > 0 && !d.encrypted()).then(|| d.clone())
    }
}

fn key(cache: &Arc<StatementCache>) -> usize {
    Arc::as_ptr(cache) as usize
}

/// The pool's connector: a socket of our own under tokio-postgres where it can, the driver's
/// own connect otherwise.
pub struct WireConnect {
    pub tls: MakeRustlsConnect,
    pub wires: Arc<Wires>,
}

impl deadpool_postgres::Connect for WireConnect {
    fn connect(
        &self,
        config: &Config,
    ) -> BoxFuture<'_, Result<(Client, tokio::task::JoinHandle<()>), Error>> {
        let config = config.clone();
        Box::pin(async move {
            let mut tls = self.tls.clone();
            if let Some((sock, host)) = open(&config).await {
                let (detach, stream) = Detach::new(sock);
                let Ok(connector) =
                    <MakeRustlsConnect as MakeTlsConnect<super::detach::Stream>>::make_tls_connect(
                        &mut tls, &host,
                    );
                let (client, conn) = config.connect_raw(stream, connector).await?;
                let task = tokio::spawn(async move {
                    let _ = conn.await;
                });
                if let Ok(mut o) = self.wires.opened.lock() {
                    o.insert(std::thread::current().id(), detach);
                }
                return Ok((client, task));
            }
            // Nothing of this thread's may wait for the hook: a socket left by a connect whose
            // pool creation was given up must never be filed under this connection.
            if let Ok(mut o) = self.wires.opened.lock() {
                o.remove(&std::thread::current().id());
            }
            let (client, conn) = config.connect(tls).await?;
            let task = tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok((client, task))
        })
    }
}

/// Opens the socket of a single-host configuration as tokio-postgres would (TCP with
/// `TCP_NODELAY` and its keepalives, or the unix socket `.s.PGSQL.port` in the folder), with
/// the host name TLS checks. `None`: leave it to the driver.
async fn open(config: &Config) -> Option<(Socket, String)> {
    let [host] = config.get_hosts() else {
        return None;
    };
    if config.get_target_session_attrs() != TargetSessionAttrs::Any
        || config.get_load_balance_hosts() != LoadBalanceHosts::Disable
        || config.get_hostaddrs().len() > 1
    {
        return None;
    }
    let port = match config.get_ports() {
        [] => 5432,
        [p] => *p,
        _ => return None,
    };
    let opening = async {
        match host {
            Host::Tcp(name) => {
                let s = match config.get_hostaddrs() {
                    [addr] => tokio::net::TcpStream::connect((*addr, port)).await,
                    _ => tokio::net::TcpStream::connect((name.as_str(), port)).await,
                }
                .ok()?;
                s.set_nodelay(true).ok()?;
                if config.get_keepalives() {
                    let mut ka =
                        socket2::TcpKeepalive::new().with_time(config.get_keepalives_idle());
                    if let Some(i) = config.get_keepalives_interval() {
                        ka = ka.with_interval(i);
                    }
                    if let Some(r) = config.get_keepalives_retries() {
                        ka = ka.with_retries(r);
                    }
                    socket2::SockRef::from(&s).set_tcp_keepalive(&ka).ok()?;
                }
                Some((Socket::Tcp(s), name.clone()))
            }
            Host::Unix(dir) => {
                let path = dir.join(format!(".s.PGSQL.{port}"));
                let s = tokio::net::UnixStream::connect(path).await.ok()?;
                Some((Socket::Unix(s), String::new()))
            }
        }
    };
    match config.get_connect_timeout() {
        // On a timeout the driver tries again, with the same timeout, and says why.
        Some(t) => tokio::time::timeout(*t, opening).await.ok()?,
        None => opening.await,
    }
}
