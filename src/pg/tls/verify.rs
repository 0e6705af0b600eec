//! The rustls side of a TLS policy: the roots (an `sslrootcert` file or the system's), a
//! certificate verifier per level of checking, and the client certificate when there is one, on
//! ring passed explicitly rather than installed as the process default.

use super::client::Identity;
use super::error::SetupError;
use super::params::Verified;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::Arc;

/// ring, passed explicitly rather than installed as the process default.
pub(super) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn builder(
    provider: Arc<CryptoProvider>,
) -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
}

pub(super) fn unverified(
    provider: Arc<CryptoProvider>,
    client: Option<&Identity>,
) -> Result<ClientConfig, SetupError> {
    let algorithms = provider.signature_verification_algorithms;
    let b = builder(provider)
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Unverified(algorithms)));
    with_client(b, client)
}

pub(super) fn verifying(
    provider: Arc<CryptoProvider>,
    roots: RootCertStore,
    verified: Verified,
    client: Option<&Identity>,
) -> Result<ClientConfig, SetupError> {
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| SetupError::Rustls(e.to_string()))?;
    let b = builder(provider);
    let b = match verified {
        Verified::Full => b.with_webpki_verifier(webpki),
        _ => b
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyName(webpki))),
    };
    with_client(b, client)
}

/// The last step: the client certificate, sent when the server asks for one (PostgreSQL asks
/// when it has an `ssl_ca_file`), or none. rustls checks here that the key is the
/// certificate's.
fn with_client(
    b: rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>,
    client: Option<&Identity>,
) -> Result<ClientConfig, SetupError> {
    match client {
        None => Ok(b.with_no_client_auth()),
        Some(id) => b
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .map_err(|e| SetupError::ClientAuth {
                cert: id.cert_path.clone(),
                key: id.key_path.clone(),
                reason: match e {
                    rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                        "the key is not the certificate's".to_string()
                    }
                    other => other.to_string(),
                },
            }),
    }
}

pub(super) fn file_roots(path: &Path) -> Result<RootCertStore, SetupError> {
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

pub(super) fn system_roots() -> Result<RootCertStore, SetupError> {
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
