//! Why a TLS setting cannot be used, each naming the parameter and the file: read before any
//! connection, so the user fixes the URL or the file (exit 2).

use std::path::PathBuf;

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
    #[error("sslcert {}: cannot read it: {reason}", path.display())]
    ClientCert { path: PathBuf, reason: String },
    #[error("sslcert {}: holds no PEM certificate", path.display())]
    NoClientCert { path: PathBuf },
    #[error("sslkey {}: cannot read it: {reason}", path.display())]
    ClientKey { path: PathBuf, reason: String },
    #[error("sslkey {}: holds no PEM private key (expected PKCS#8, PKCS#1 or SEC1)", path.display())]
    NoKey { path: PathBuf },
    #[error(
        "sslkey {0}: the key is encrypted, and loadtest takes no sslpassword: decrypt it \
            (openssl pkey -in {0} -out PLAIN_KEY; chmod 600 PLAIN_KEY) and pass sslkey=PLAIN_KEY",
        path.display()
    )]
    EncryptedKey { path: PathBuf },
    #[error(
        "sslkey {0}: private key file has group or world access; permissions should be u=rw \
            (0600) or less: chmod 600 {0}",
        path.display()
    )]
    KeyAccess { path: PathBuf },
    #[error(
        "sslkey {} is given without a client certificate: pass sslcert=<its certificate's PEM \
            file> (or set PGSSLCERT)",
        key.display()
    )]
    KeyWithoutCert { key: PathBuf },
    #[error(
        "sslcert {}: certificate present, but not private key file: pass sslkey=<its key's PEM \
            file> (or set PGSSLKEY)",
        cert.display()
    )]
    CertWithoutKey { cert: PathBuf },
    #[error("sslcert {} and sslkey {} do not go together: {reason}", cert.display(), key.display())]
    ClientAuth {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
}
