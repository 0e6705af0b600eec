//! The fault proxy: a TCP listener on loopback that loadtest puts between the load's
//! connections and the server, and that can cut one of the links it carries mid-call, the way
//! Jepsen and toxiproxy cut links. A cut closes both sides at once, so the server may have
//! committed a call whose answer never reaches the client: the indeterminate outcome.

use rand::Rng;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::task::AbortHandle;

/// Where the proxy forwards to.
#[derive(Debug, Clone)]
pub enum Upstream {
    Tcp(String, u16),
    Unix(PathBuf),
}

/// A running proxy; dropping it stops the listener and closes every link.
pub struct Proxy {
    port: u16,
    links: Arc<Mutex<HashMap<u64, AbortHandle>>>,
    listener: AbortHandle,
}

impl Proxy {
    /// Listens on 127.0.0.1 on a port the system picks.
    pub async fn start(upstream: Upstream) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let links: Arc<Mutex<HashMap<u64, AbortHandle>>> = Arc::default();
        let kept = links.clone();
        let next = AtomicU64::new(0);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let id = next.fetch_add(1, Ordering::Relaxed);
                let up = upstream.clone();
                let gone = kept.clone();
                let link = tokio::spawn(async move {
                    let _ = carry(client, &up).await;
                    if let Ok(mut l) = gone.lock() {
                        l.remove(&id);
                    }
                });
                if let Ok(mut l) = kept.lock() {
                    l.insert(id, link.abort_handle());
                }
            }
        });
        Ok(Proxy {
            port,
            links,
            listener: accept.abort_handle(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes one link chosen at random, both sides at once; false when none is open.
    pub fn cut_one(&self) -> bool {
        let Ok(mut links) = self.links.lock() else {
            return false;
        };
        if links.is_empty() {
            return false;
        }
        let k = rand::rng().random_range(0..links.len());
        let Some(&id) = links.keys().nth(k) else {
            return false;
        };
        if let Some(h) = links.remove(&id) {
            // Aborting the task drops both sockets: the client sees the link reset.
            h.abort();
        }
        true
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.listener.abort();
        if let Ok(mut links) = self.links.lock() {
            for (_, h) in links.drain() {
                h.abort();
            }
        }
    }
}

/// Copies bytes both ways until either side closes.
async fn carry(mut client: TcpStream, up: &Upstream) -> std::io::Result<()> {
    let _ = client.set_nodelay(true);
    match up {
        Upstream::Tcp(host, port) => {
            let mut server = TcpStream::connect((host.as_str(), *port)).await?;
            let _ = server.set_nodelay(true);
            tokio::io::copy_bidirectional(&mut client, &mut server).await?;
        }
        Upstream::Unix(path) => {
            let mut server = UnixStream::connect(path).await?;
            tokio::io::copy_bidirectional(&mut client, &mut server).await?;
        }
    }
    Ok(())
}
