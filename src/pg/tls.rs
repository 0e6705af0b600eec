//! TLS for `--database-url`, with libpq's `sslmode` meanings, decided once from the URL.
//!
//! tokio-postgres only knows disable/prefer/require and verifies nothing itself, so loadtest
//! takes `sslmode` and `sslrootcert` out of the URL ([`split`]), hands the rest to the driver,
//! and builds one rustls configuration that says how much of the server's certificate is
//! checked. Every connection of a run (the admin one, the run's clients, the pool) uses that
//! one [`Connector`]. A handshake that fails becomes a [`TlsFailure`]: one sentence naming what
//! failed and what fixes it.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_postgres::Socket;
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode` values loadtest supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plaintext only.
    Disable,
    /// TLS when the server offers it, nothing verified; plaintext otherwise.
    Prefer,
    /// TLS or fail; nothing verified unless `sslrootcert` is given (then as `VerifyCa`).
    Require,
    /// TLS, the chain checked against `sslrootcert` or the system roots; any host name.
    VerifyCa,
    /// TLS, the chain and the host name checked.
    VerifyFull,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s {
            "disable" => Ok(Mode::Disable),
            "prefer" => Ok(Mode::Prefer),
            "require" => Ok(Mode::Require),
            "verify-ca" => Ok(Mode::VerifyCa),
            "verify-full" => Ok(Mode::VerifyFull),
            other => Err(format!(
                "sslmode={other} is not supported (expected disable, prefer, require, verify-ca \
                    or verify-full)"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Disable => "disable",
            Mode::Prefer => "prefer",
            Mode::Require => "require",
            Mode::VerifyCa => "verify-ca",
            Mode::VerifyFull => "verify-full",
        }
    }
}

/// How much of the server's certificate a connection checks; the report's `database.tls.verified`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    None,
    Ca,
    Full,
}

impl Verified {
    pub fn name(self) -> &'static str {
        match self {
            Verified::None => "none",
            Verified::Ca => "ca",
            Verified::Full => "full",
        }
    }
}

/// The TLS settings a URL asked for, before any file is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    pub mode: Mode,
    /// `sslrootcert`: a PEM file, or `system` for the system roots.
    pub root_cert: Option<String>,
}

/// The URL without `sslmode`/`sslrootcert` (for tokio-postgres) and what they asked for.
/// libpq's default `sslmode` is `prefer`. Client certificates are refused rather than ignored.
pub fn split(url: &str) -> Result<(String, Requested), String> {
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let (rest, params) = match url.find('?') {
        Some(q) if is_url => split_query(url, q),
        None if is_url => (url.to_string(), Vec::new()),
        _ => split_key_values(url),
    };
    let mut requested = Requested {
        mode: Mode::Prefer,
        root_cert: None,
    };
    for (key, value) in params {
        match key.as_str() {
            "sslmode" => requested.mode = Mode::parse(&value)?,
            "sslrootcert" => requested.root_cert = Some(value),
            _ => {
                return Err(format!(
                    "{key} (a client certificate) is not supported: the server must accept \
                        the connection without one"
                ));
            }
        }
    }
    Ok((rest, requested))
}

const TAKEN: [&str; 2] = ["sslmode", "sslrootcert"];
const REFUSED: [&str; 3] = ["sslcert", "sslkey", "sslpassword"];

/// URL form: the query after `?` at byte `q`, `key=value` pairs joined by `&`.
fn split_query(url: &str, q: usize) -> (String, Vec<(String, String)>) {
    let mut kept = Vec::new();
    let mut taken = Vec::new();
    for pair in url[q + 1..].split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if TAKEN.contains(&key) || REFUSED.contains(&key) {
            taken.push((key.to_string(), percent_decode(value)));
        } else {
            kept.push(pair);
        }
    }
    let mut rest = url[..q].to_string();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    (rest, taken)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// key=value form: pairs separated by spaces, values optionally in single quotes with
/// backslash escapes, spaces allowed around `=` (as libpq reads them).
fn split_key_values(s: &str) -> (String, Vec<(String, String)>) {
    let chars: Vec<char> = s.chars().collect();
    let mut kept: Vec<String> = Vec::new();
    let mut taken = Vec::new();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= chars.len() {
            break;
        }
        let start = i;
        while i < chars.len() && chars[i] != '=' && !chars[i].is_whitespace() {
            i += 1;
        }
        let key: String = chars[start..i].iter().collect();
        skip_ws(&mut i);
        if i < chars.len() && chars[i] == '=' {
            i += 1;
            skip_ws(&mut i);
        }
        let mut value = String::new();
        let quoted = i < chars.len() && chars[i] == '\'';
        if quoted {
            i += 1;
        }
        while i < chars.len() {
            let c = chars[i];
            if (quoted && c == '\'') || (!quoted && c.is_whitespace()) {
                break;
            }
            if c == '\\' && i + 1 < chars.len() {
                i += 1;
            }
            value.push(chars[i]);
            i += 1;
        }
        if quoted {
            i += 1;
        }
        let raw: String = chars[start..i.min(chars.len())].iter().collect();
        if TAKEN.contains(&key.as_str()) || REFUSED.contains(&key.as_str()) {
            taken.push((key, value));
        } else {
            kept.push(raw);
        }
    }
    (kept.join(" "), taken)
}

/// A TLS setting that cannot be used: the user fixes the URL or the file (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("sslrootcert {}: cannot read it: {reason}", path.display())]
    RootCert { path: PathBuf, reason: String },
    #[error("sslrootcert {}: holds no PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("no system root certificates found: pass sslrootcert=<the CA's PEM file>")]
    NoSystemRoots,
    #[error("cannot set up TLS: {0}")]
    Rustls(String),
}

/// How every connection of a run does TLS: the mode and the one rustls configuration.
#[derive(Clone)]
pub struct Connector {
    mode: Mode,
    verified: Verified,
    rustls: MakeRustlsConnect,
}

impl Connector {
    /// No TLS: the scratch cluster's unix socket, or `sslmode=disable`.
    pub fn plaintext() -> Connector {
        Connector {
            mode: Mode::Disable,
            verified: Verified::None,
            rustls: MakeRustlsConnect::new(unverified(provider())),
        }
    }

    /// The connector for what a URL asked for; reads `sslrootcert` (or the system roots) now,
    /// so a bad file is reported before any connection.
    pub fn new(requested: &Requested) -> Result<Connector, SetupError> {
        let provider = provider();
        let roots = match (requested.mode, requested.root_cert.as_deref()) {
            (Mode::Disable | Mode::Prefer, _) | (Mode::Require, None) => None,
            (_, Some("system")) | (_, None) => Some(system_roots()?),
            (_, Some(file)) => Some(file_roots(Path::new(file))?),
        };
        let (verified, config) = match (requested.mode, roots) {
            (Mode::VerifyFull, Some(roots)) => {
                (Verified::Full, verifying(provider, roots, Verified::Full)?)
            }
            (_, Some(roots)) => (Verified::Ca, verifying(provider, roots, Verified::Ca)?),
            (_, None) => (Verified::None, unverified(provider)),
        };
        Ok(Connector {
            mode: requested.mode,
            verified,
            rustls: MakeRustlsConnect::new(config),
        })
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// What a TLS connection made by this connector has checked.
    pub fn verified(&self) -> Verified {
        self.verified
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
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        });
    }

    /// The driver's TLS connector, for a connection pool.
    pub fn make(&self) -> MakeRustlsConnect {
        self.rustls.clone()
    }

    /// Connects one client, driving its connection on the runtime; a failure caused by TLS is
    /// explained as a [`TlsFailure`].
    pub async fn connect(
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
                let tls = if refused {
                    Some(TlsFailure::NotOffered(self.mode))
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

/// ring, passed explicitly rather than installed as the process default.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn builder(
    provider: Arc<CryptoProvider>,
) -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
}

fn unverified(provider: Arc<CryptoProvider>) -> ClientConfig {
    let algorithms = provider.signature_verification_algorithms;
    builder(provider)
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Unverified(algorithms)))
        .with_no_client_auth()
}

fn verifying(
    provider: Arc<CryptoProvider>,
    roots: RootCertStore,
    verified: Verified,
) -> Result<ClientConfig, SetupError> {
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| SetupError::Rustls(e.to_string()))?;
    let b = builder(provider);
    Ok(match verified {
        Verified::Full => b.with_webpki_verifier(webpki).with_no_client_auth(),
        _ => b
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyName(webpki)))
            .with_no_client_auth(),
    })
}

fn file_roots(path: &Path) -> Result<RootCertStore, SetupError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| SetupError::RootCert {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(SetupError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(roots)
}

fn system_roots() -> Result<RootCertStore, SetupError> {
    let mut roots = RootCertStore::empty();
    let (added, _) =
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if added == 0 {
        return Err(SetupError::NoSystemRoots);
    }
    Ok(roots)
}

/// prefer/require without a CA: any certificate, but the handshake's signatures are still
/// checked, so the session is encrypted to whoever holds the certificate's key.
#[derive(Debug)]
struct Unverified(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// verify-ca: the full webpki check, except that a certificate for another name is accepted.
/// webpki checks the name only after the chain, so that error means the chain was good.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_loses_its_ssl_parameters_and_keeps_the_rest() {
        let (rest, r) = split(
            "postgresql://u:p@db:5432/x?sslmode=verify-full&application_name=a&sslrootcert=%2Ftmp%2Fca.pem",
        )
        .unwrap();
        assert_eq!(rest, "postgresql://u:p@db:5432/x?application_name=a");
        assert_eq!(r.mode, Mode::VerifyFull);
        assert_eq!(r.root_cert.as_deref(), Some("/tmp/ca.pem"));
        let (rest, r) = split("postgres://db/x?sslmode=disable").unwrap();
        assert_eq!(rest, "postgres://db/x");
        assert_eq!(r.mode, Mode::Disable);
    }

    #[test]
    fn libpq_defaults_to_prefer() {
        let (rest, r) = split("postgres://db/x").unwrap();
        assert_eq!(rest, "postgres://db/x");
        assert_eq!(r.mode, Mode::Prefer);
        assert_eq!(r.root_cert, None);
    }

    #[test]
    fn key_value_strings_lose_their_ssl_parameters() {
        let (rest, r) = split(
            "host=db sslmode = 'verify-ca' password='a b\\'c' sslrootcert='/my ca.pem' dbname=x",
        )
        .unwrap();
        assert_eq!(rest, "host=db password='a b\\'c' dbname=x");
        assert_eq!(r.mode, Mode::VerifyCa);
        assert_eq!(r.root_cert.as_deref(), Some("/my ca.pem"));
        assert!(rest.parse::<tokio_postgres::Config>().is_ok());
    }

    #[test]
    fn unknown_modes_and_client_certificates_are_refused() {
        let e = split("postgres://db/x?sslmode=allow").unwrap_err();
        assert!(e.starts_with("sslmode=allow is not supported"), "{e}");
        let e = split("host=db sslcert=/c.pem").unwrap_err();
        assert!(e.starts_with("sslcert (a client certificate)"), "{e}");
    }

    #[test]
    fn require_verifies_only_with_a_root_certificate() {
        let plain = Requested {
            mode: Mode::Require,
            root_cert: None,
        };
        assert_eq!(Connector::new(&plain).unwrap().verified(), Verified::None);
        let missing = Requested {
            mode: Mode::Require,
            root_cert: Some("/nonexistent/ca.pem".into()),
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
            root_cert: None,
        };
        Connector::new(&r).unwrap().apply(&mut c);
        assert_eq!(c.get_ssl_mode(), SslMode::Disable);
    }
}
