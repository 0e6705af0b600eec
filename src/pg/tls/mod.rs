//! TLS for `--database-url`, with libpq's `sslmode` meanings, decided once from the URL.
//!
//! tokio-postgres only knows disable/prefer/require and verifies nothing itself, so loadtest
//! takes `sslmode`, `sslrootcert`, `sslcert` and `sslkey` out of the URL ([`split`]), hands the
//! rest to the driver, and builds one rustls configuration that says how much of the server's
//! certificate is checked and which client certificate to show. Every connection of a run (the
//! admin one, the run's clients, the pool) uses that one [`Connector`]. A handshake that fails
//! becomes a [`TlsFailure`]: one sentence naming what failed and what fixes it.
//!
//! `sslmode=allow` is the one mode decided by the server: plaintext first, TLS only when the
//! server refuses plaintext. The first connection decides ([`Connector::settle`]) and the rest
//! of the run, the pool included, follows it.

mod client;
mod error;
mod params;
mod verify;

pub use error::SetupError;
pub use params::{Mode, Requested, Verified, split};

use rustls::CertificateError;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_postgres::Socket;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres_rustls::MakeRustlsConnect;
use verify::{file_roots, provider, system_roots, unverified, verifying};

/// How every connection of a run does TLS: the mode and the one rustls configuration.
#[derive(Clone)]
pub struct Connector {
    mode: Mode,
    verified: Verified,
    rustls: MakeRustlsConnect,
    /// Whether a client certificate is configured (sent when the server asks for one).
    client_cert: bool,
    /// `sslmode=allow` only: the server refused plaintext, so connections go straight to TLS.
    allow_needs_tls: bool,
}

impl Connector {
    /// No TLS: the scratch cluster's unix socket, or `sslmode=disable`.
    pub fn plaintext() -> Connector {
        let config = unverified(provider(), None).expect("no client certificate to check");
        Connector {
            mode: Mode::Disable,
            verified: Verified::None,
            rustls: MakeRustlsConnect::new(config),
            client_cert: false,
            allow_needs_tls: false,
        }
    }

    /// The connector for what a URL asked for; reads `sslrootcert` (or the system roots) and
    /// the client certificate and key now, so a bad file is reported before any connection.
    pub fn new(requested: &Requested) -> Result<Connector, SetupError> {
        let provider = provider();
        let roots = match (requested.mode, requested.root_cert.as_deref()) {
            (Mode::Disable | Mode::Allow | Mode::Prefer, _) | (Mode::Require, None) => None,
            (_, Some("system")) | (_, None) => Some(system_roots()?),
            (_, Some(file)) => Some(file_roots(Path::new(file))?),
        };
        let identity = match requested.mode {
            Mode::Disable => None,
            _ => client::identity(
                requested.client_cert.as_deref(),
                requested.client_key.as_deref(),
            )?,
        };
        let id = identity.as_ref();
        let (verified, config) = match (requested.mode, roots) {
            (Mode::VerifyFull, Some(roots)) => (
                Verified::Full,
                verifying(provider, roots, Verified::Full, id)?,
            ),
            (_, Some(roots)) => (Verified::Ca, verifying(provider, roots, Verified::Ca, id)?),
            (_, None) => (Verified::None, unverified(provider, id)?),
        };
        Ok(Connector {
            mode: requested.mode,
            verified,
            rustls: MakeRustlsConnect::new(config),
            client_cert: identity.is_some(),
            allow_needs_tls: false,
        })
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// What a TLS connection made by this connector has checked.
    pub fn verified(&self) -> Verified {
        self.verified
    }

    /// Whether a client certificate is configured.
    pub fn client_cert(&self) -> bool {
        self.client_cert
    }

    /// Sets the driver's own `sslmode`. As libpq, unix sockets never use TLS.
    pub fn apply(&self, config: &mut tokio_postgres::Config) {
        let unix_only = !config.get_hosts().is_empty()
            && config
                .get_hosts()
                .iter()
                .all(|h| !matches!(h, Host::Tcp(_)));
        config.ssl_mode(match self.mode {
            _ if unix_only => SslMode::Disable,
            Mode::Disable => SslMode::Disable,
            Mode::Allow if self.allow_needs_tls => SslMode::Require,
            Mode::Allow => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        });
    }

    /// The driver's TLS connector, for a connection pool.
    pub fn make(&self) -> MakeRustlsConnect {
        self.rustls.clone()
    }

    /// Connects the run's first client and, for `sslmode=allow`, keeps what it found: when the
    /// server refused plaintext, every later connection (the pool's too) starts with TLS.
    pub async fn settle(
        &mut self,
        config: &tokio_postgres::Config,
    ) -> Result<tokio_postgres::Client, ConnectError> {
        let (client, needs_tls) = self.connect_allowing(config).await?;
        self.allow_needs_tls |= needs_tls;
        Ok(client)
    }

    /// Connects one client, driving its connection on the runtime; a failure caused by TLS is
    /// explained as a [`TlsFailure`].
    pub async fn connect(
        &self,
        config: &tokio_postgres::Config,
    ) -> Result<tokio_postgres::Client, ConnectError> {
        Ok(self.connect_allowing(config).await?.0)
    }

    /// As libpq's `allow`: a plaintext connection the server refuses by its pg_hba.conf (28000)
    /// is tried again with TLS. When the server offers no TLS either, the first refusal is the
    /// one that explains. Other modes connect once. Also says whether TLS was needed.
    async fn connect_allowing(
        &self,
        config: &tokio_postgres::Config,
    ) -> Result<(tokio_postgres::Client, bool), ConnectError> {
        let first = self.connect_once(config).await;
        match first {
            Err(e)
                if self.mode == Mode::Allow
                    && !self.allow_needs_tls
                    && e.source.code() == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION) =>
            {
                let tls = Connector {
                    allow_needs_tls: true,
                    ..self.clone()
                };
                match tls.connect_once(config).await {
                    Ok(client) => Ok((client, true)),
                    Err(ConnectError {
                        tls: Some(TlsFailure::NotOffered(_)),
                        ..
                    }) => Err(e),
                    Err(other) => Err(other),
                }
            }
            other => other.map(|c| (c, false)),
        }
    }

    async fn connect_once(
        &self,
        config: &tokio_postgres::Config,
    ) -> Result<tokio_postgres::Client, ConnectError> {
        let mut config = config.clone();
        self.apply(&mut config);
        let watch = Watch {
            inner: self.rustls.clone(),
            socket: Arc::new(AtomicBool::new(false)),
            handshake: Arc::new(AtomicBool::new(false)),
        };
        let (socket, handshake) = (watch.socket.clone(), watch.handshake.clone());
        match config.connect(watch).await {
            Ok((client, connection)) => {
                tokio::spawn(async move {
                    // The connection ends with an error only when the client is already seeing it.
                    let _ = connection.await;
                });
                Ok(client)
            }
            Err(source) => {
                let refused = socket.load(Ordering::SeqCst)
                    && !handshake.load(Ordering::SeqCst)
                    && config.get_ssl_mode() == SslMode::Require
                    && source.as_db_error().is_none()
                    && !in_chain::<std::io::Error>(&source);
                let refused_without_cert = handshake.load(Ordering::SeqCst)
                    && !self.client_cert
                    && source.code() == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION);
                let tls = if refused {
                    Some(TlsFailure::NotOffered(self.mode))
                } else if refused_without_cert {
                    Some(TlsFailure::NoClientCert(super::describe(&source)))
                } else {
                    rustls_error(&source).map(|e| TlsFailure::from_rustls(e, self.mode))
                };
                Err(ConnectError { source, tls })
            }
        }
    }
}

/// A failed connection: the driver's error and, when TLS caused it, what to do about it.
#[derive(Debug)]
pub struct ConnectError {
    pub source: tokio_postgres::Error,
    pub tls: Option<TlsFailure>,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.tls {
            Some(t) => write!(f, "{t}"),
            None => write!(f, "{}", super::describe(&self.source)),
        }
    }
}

/// Why a TLS connection failed, as one sentence with its fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsFailure {
    #[error(
        "the server does not accept TLS (sslmode={}): turn ssl on in the server, or use \
            sslmode=prefer or disable", .0.name()
    )]
    NotOffered(Mode),
    #[error(
        "the server's certificate is not valid for {host} (it names {names}): connect by a name \
            in the certificate, or use sslmode=verify-ca"
    )]
    WrongName { host: String, names: String },
    #[error(
        "the server's certificate is not signed by a trusted CA (sslmode={}): pass \
            sslrootcert=<the CA's PEM file>, or use sslmode=require to skip the check", .0.name()
    )]
    UnknownIssuer(Mode),
    #[error("the server's certificate has expired or is not yet valid (sslmode={})", .0.name())]
    Expired(Mode),
    /// pg_hba.conf refused a TLS connection that showed no client certificate: the server's
    /// own words, and the fix should its line be a `cert` one.
    #[error(
        "{0}: if the server signs in by client certificate, pass sslcert=<the certificate's PEM \
            file>&sslkey=<its key's PEM file> (or set PGSSLCERT and PGSSLKEY)"
    )]
    NoClientCert(String),
    #[error("the TLS handshake failed (sslmode={}): {error}", .mode.name())]
    Handshake { mode: Mode, error: rustls::Error },
}

impl TlsFailure {
    fn from_rustls(e: &rustls::Error, mode: Mode) -> TlsFailure {
        match e {
            rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                expected,
                presented,
            }) => TlsFailure::WrongName {
                host: expected.to_str().into_owned(),
                names: names_in(presented),
            },
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                TlsFailure::UnknownIssuer(mode)
            }
            rustls::Error::InvalidCertificate(
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. },
            ) => TlsFailure::Expired(mode),
            other => TlsFailure::Handshake {
                mode,
                error: other.clone(),
            },
        }
    }
}

/// The certificate's host names from webpki's `presented` list, which holds each name's
/// Debug form (`DnsName("localhost")`, `IpAddress(10.0.0.1)`); other kinds are left out.
fn names_in(presented: &[String]) -> String {
    let names: Vec<&str> = presented
        .iter()
        .filter_map(|p| {
            p.strip_prefix("DnsName(")
                .or_else(|| p.strip_prefix("IpAddress("))
        })
        .map(|p| p.trim_end_matches(')').trim_matches('"'))
        .collect();
    if names.is_empty() {
        "no host name".to_string()
    } else {
        names.join(", ")
    }
}

fn in_chain<E: std::error::Error + 'static>(e: &tokio_postgres::Error) -> bool {
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        if inner.is::<E>() {
            return true;
        }
        src = inner.source();
    }
    false
}

/// The rustls error inside a driver error. tokio-rustls wraps it in an `io::Error`, whose
/// `source()` skips it, so each `io::Error` is opened by hand.
fn rustls_error(e: &tokio_postgres::Error) -> Option<&rustls::Error> {
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        if let Some(r) = inner.downcast_ref::<rustls::Error>() {
            return Some(r);
        }
        if let Some(r) = inner
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|i| i.downcast_ref::<rustls::Error>())
        {
            return Some(r);
        }
        src = inner.source();
    }
    None
}

/// The driver's TLS connector, noting whether the socket opened and whether the server agreed
/// to TLS: a required handshake that never started means the server refused TLS.
struct Watch {
    inner: MakeRustlsConnect,
    socket: Arc<AtomicBool>,
    handshake: Arc<AtomicBool>,
}

type Inner = <MakeRustlsConnect as MakeTlsConnect<Socket>>::TlsConnect;

struct WatchedHandshake {
    inner: Inner,
    handshake: Arc<AtomicBool>,
}

impl MakeTlsConnect<Socket> for Watch {
    type Stream = <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream;
    type TlsConnect = WatchedHandshake;
    type Error = std::convert::Infallible;

    fn make_tls_connect(&mut self, hostname: &str) -> Result<WatchedHandshake, Self::Error> {
        self.socket.store(true, Ordering::SeqCst);
        let inner = MakeTlsConnect::<Socket>::make_tls_connect(&mut self.inner, hostname)?;
        Ok(WatchedHandshake {
            inner,
            handshake: self.handshake.clone(),
        })
    }
}

impl TlsConnect<Socket> for WatchedHandshake {
    type Stream = <Inner as TlsConnect<Socket>>::Stream;
    type Error = <Inner as TlsConnect<Socket>>::Error;
    type Future = <Inner as TlsConnect<Socket>>::Future;

    fn connect(self, stream: Socket) -> Self::Future {
        self.handshake.store(true, Ordering::SeqCst);
        self.inner.connect(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn require_verifies_only_with_a_root_certificate() {
        let plain = Requested {
            mode: Mode::Require,
            ..Requested::prefer()
        };
        assert_eq!(Connector::new(&plain).unwrap().verified(), Verified::None);
        let missing = Requested {
            mode: Mode::Require,
            root_cert: Some("/nonexistent/ca.pem".into()),
            ..Requested::prefer()
        };
        let e = Connector::new(&missing).err().unwrap().to_string();
        assert!(
            e.starts_with("sslrootcert /nonexistent/ca.pem: cannot read it"),
            "{e}"
        );
    }

    #[test]
    fn certificate_names_read_as_written() {
        let presented = [
            "DnsName(\"localhost\")".to_string(),
            "IpAddress(10.0.0.1)".to_string(),
            "DirectoryName".to_string(),
        ];
        assert_eq!(names_in(&presented), "localhost, 10.0.0.1");
        assert_eq!(names_in(&[]), "no host name");
    }

    #[test]
    fn unix_sockets_never_use_tls() {
        let mut c: tokio_postgres::Config = "host=/tmp dbname=x".parse().unwrap();
        let r = Requested {
            mode: Mode::Require,
            ..Requested::prefer()
        };
        Connector::new(&r).unwrap().apply(&mut c);
        assert_eq!(c.get_ssl_mode(), SslMode::Disable);
    }

    #[test]
    fn allow_starts_plaintext_until_settled_on_tls() {
        let r = Requested {
            mode: Mode::Allow,
            root_cert: Some("/never/read.pem".into()),
            ..Requested::prefer()
        };
        let mut tls = Connector::new(&r).unwrap();
        assert_eq!(tls.verified(), Verified::None);
        let mut c: tokio_postgres::Config = "host=db dbname=x".parse().unwrap();
        tls.apply(&mut c);
        assert_eq!(c.get_ssl_mode(), SslMode::Disable);
        tls.allow_needs_tls = true;
        tls.apply(&mut c);
        assert_eq!(c.get_ssl_mode(), SslMode::Require);
    }

    #[test]
    fn plaintext_reads_no_client_certificate() {
        let r = Requested {
            mode: Mode::Disable,
            client_cert: Some("/nonexistent/client.crt".into()),
            client_key: Some("/nonexistent/client.key".into()),
            ..Requested::prefer()
        };
        assert!(!Connector::new(&r).unwrap().client_cert());
        let r = Requested {
            mode: Mode::Require,
            ..r
        };
        let e = Connector::new(&r).err().unwrap().to_string();
        assert!(
            e.starts_with("sslcert /nonexistent/client.crt: cannot read it"),
            "{e}"
        );
    }
}
