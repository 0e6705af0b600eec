//! A connection's socket that tokio-postgres drives, and that a worker can borrow for the
//! length of a load ([`Detach::lease`]): while it is lent, the driver's task waits (its reads and
//! writes are pending) and the worker speaks the protocol on the socket itself; given back, the
//! driver is woken and carries on as if nothing happened. The session is left as the driver
//! expects it (idle, after ReadyForQuery), or, when that cannot be made sure, the connection is
//! closed for both.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A TCP or unix-domain socket to the server.
pub enum Socket {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Socket::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_flush(cx),
            Socket::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Socket::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// The SSLRequest packet: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 4, 210, 22, 47];
/// The content type of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

#[derive(Default)]
struct Slot {
    /// The socket, when the driver has it; `None` while it is lent.
    sock: Option<Socket>,
    /// The driver's task, waiting for the socket to come back.
    waker: Option<Waker>,
    /// The socket was lost while lent: the driver sees the connection as closed.
    dead: bool,
    /// The driver asked for TLS and has not had the answer yet.
    asked_tls: bool,
    /// The session is encrypted: the socket carries TLS records, never lent.
    encrypted: bool,
    /// Bytes written so far (only the first few are looked at, for the SSLRequest).
    written: usize,
}

/// The stream tokio-postgres is given in place of the socket.
pub struct Stream(Arc<Mutex<Slot>>);

/// The handle that lends a connection's socket out ([`Detach::lease`]).
#[derive(Clone)]
pub struct Detach(Arc<Mutex<Slot>>);

impl Detach {
    /// A socket to give tokio-postgres (the [`Stream`]), and the handle that lends it.
    pub fn new(sock: Socket) -> (Detach, Stream) {
        let slot = Arc::new(Mutex::new(Slot {
            sock: Some(sock),
            ..Slot::default()
        }));
        (Detach(slot.clone()), Stream(slot))
    }

    /// Takes the socket from the driver: `None` if it is already lent, lost, or carries TLS.
    /// Only take it while the connection is idle and nobody else uses its client (a pooled
    /// connection checked out for the load).
    pub fn lease(&self) -> Option<Lease> {
        let mut slot = self.0.lock().ok()?;
        if slot.encrypted || slot.asked_tls || slot.dead {
            return None;
        }
        let sock = slot.sock.take()?;
        Some(Lease {
            detach: self.clone(),
            sock: Some(sock),
        })
    }

    /// Whether the session is encrypted (its socket is never lent).
    pub fn encrypted(&self) -> bool {
        self.0.lock().map(|s| s.encrypted).unwrap_or(true)
    }

    fn give_back(&self, sock: Option<Socket>) {
        let Ok(mut slot) = self.0.lock() else { return };
        match sock {
            Some(s) => slot.sock = Some(s),
            None => slot.dead = true,
        }
        if let Some(w) = slot.waker.take() {
            w.wake();
        }
    }
}

/// A lent socket. Dropped, it goes back to the driver ([`Lease::restore`] first if the
/// session is not idle).
pub struct Lease {
    detach: Detach,
    sock: Option<Socket>,
}

impl Lease {
    pub fn socket(&mut self) -> &mut Socket {
        self.sock
            .as_mut()
            .expect("a lease holds its socket until dropped")
    }

    /// The session cannot be left idle (an answer was lost halfway): the connection is closed
    /// for the driver too when the lease ends.
    pub fn lose(&mut self) {
        self.sock = None;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.detach.give_back(self.sock.take());
    }
}

impl Stream {
    /// Runs `f` on the socket when the driver has it; parks the driver while it is lent.
    fn with<T>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Slot, Pin<&mut Socket>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let Ok(mut guard) = self.0.lock() else {
            return Poll::Ready(Err(io::Error::other("the socket's lock is poisoned")));
        };
        let slot = &mut *guard;
        if slot.dead {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the connection was lost while lent to a worker",
            )));
        }
        match slot.sock.take() {
            Some(mut sock) => {
                let r = f(slot, Pin::new(&mut sock), cx);
                slot.sock = Some(sock);
                r
            }
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.with(cx, |slot, sock, cx| {
            let before = buf.filled().len();
            let r = sock.poll_read(cx, buf);
            if slot.asked_tls && buf.filled().len() > before {
                // The server's one-byte answer to the SSLRequest: 'S' starts TLS.
                slot.encrypted = buf.filled()[before] == b'S';
                slot.asked_tls = false;
            }
            r
        })
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.with(cx, |slot, sock, cx| {
            if slot.written == 0 && buf.starts_with(&SSL_REQUEST) {
                slot.asked_tls = true;
            }
            // A TLS handshake record first (`sslnegotiation=direct`): encrypted from the start.
            // A protocol message never starts so: its first byte is that of a length.
            if slot.written == 0 && buf.first() == Some(&TLS_HANDSHAKE) {
                slot.encrypted = true;
            }
            let r = sock.poll_write(cx, buf);
            if let Poll::Ready(Ok(n)) = r {
                slot.written = slot.written.saturating_add(n);
            }
            r
        })
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(cx, |_, sock, cx| sock.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.with(cx, |_, sock, cx| sock.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A socket pair: the end the driver would get, and the server's end.
    fn pair() -> (Detach, Stream, tokio::net::UnixStream) {
        let (ours, server) = tokio::net::UnixStream::pair().unwrap();
        let (d, s) = Detach::new(Socket::Unix(ours));
        (d, s, server)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_session_the_server_encrypts_is_never_lent() {
        let (d, mut s, mut server) = pair();
        s.write_all(&SSL_REQUEST).await.unwrap();
        server.write_all(b"S").await.unwrap();
        let mut answer = [0u8; 1];
        s.read_exact(&mut answer).await.unwrap();
        assert!(d.encrypted());
        assert!(d.lease().is_none());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_refused_tls_request_leaves_a_plaintext_socket_to_lend() {
        let (d, mut s, mut server) = pair();
        s.write_all(&SSL_REQUEST).await.unwrap();
        assert!(d.lease().is_none(), "not before the server answered");
        let mut request = [0u8; 8];
        server.read_exact(&mut request).await.unwrap();
        assert_eq!(request, SSL_REQUEST);
        server.write_all(b"N").await.unwrap();
        let mut answer = [0u8; 1];
        s.read_exact(&mut answer).await.unwrap();
        assert!(!d.encrypted());
        let mut lease = d.lease().expect("a plaintext socket");
        // Lent: the socket is the lease's, and the driver's stream waits for it.
        lease.socket().write_all(b"x").await.unwrap();
        let mut got = [0u8; 1];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"x");
        let parked = tokio::time::timeout(std::time::Duration::from_millis(20), s.write_all(b"y"));
        assert!(parked.await.is_err(), "the driver wrote on a lent socket");
        drop(lease);
        s.write_all(b"z").await.unwrap();
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"z");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn direct_tls_is_encrypted_from_its_first_byte_and_a_lost_socket_closes_the_driver() {
        let (d, mut s, _server) = pair();
        s.write_all(&[TLS_HANDSHAKE, 3, 1]).await.unwrap();
        assert!(d.lease().is_none());

        let (d, mut s, _server) = pair();
        let mut lease = d.lease().unwrap();
        lease.lose();
        drop(lease);
        let e = s.write_all(b"x").await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionAborted);
    }
}
