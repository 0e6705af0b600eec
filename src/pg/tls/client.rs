//! The client certificate (`sslcert`, `sslkey`): a PEM chain and its private key, read once
//! before any connection so a bad file is one line naming it. The key file is held to libpq's
//! rule — private to its owner (or, owned by root, readable by a group at most) — because a key
//! others can read is no longer a secret, and a setup psql refuses should not work here.

use super::error::SetupError;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};

/// A certificate chain and the key that goes with it, for rustls' client authentication.
#[derive(Debug)]
pub(super) struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

/// Reads `cert` and `key`. A key without a certificate is a mistake rather than something to
/// ignore: it would not be sent.
pub(super) fn identity(
    cert: Option<&str>,
    key: Option<&str>,
) -> Result<Option<Identity>, SetupError> {
    let (cert, key) = match (cert, key) {
        (None, None) => return Ok(None),
        (None, Some(key)) => {
            return Err(SetupError::KeyWithoutCert {
                key: PathBuf::from(key),
            });
        }
        (Some(cert), None) => {
            return Err(SetupError::CertWithoutKey {
                cert: PathBuf::from(cert),
            });
        }
        (Some(c), Some(k)) => (Path::new(c), Path::new(k)),
    };
    let chain = read(cert)
        .and_then(|bytes| {
            CertificateDer::pem_slice_iter(&bytes)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())
        })
        .map_err(|reason| SetupError::ClientCert {
            path: cert.to_path_buf(),
            reason,
        })?;
    if chain.is_empty() {
        return Err(SetupError::NoClientCert {
            path: cert.to_path_buf(),
        });
    }
    Ok(Some(Identity {
        chain,
        key: private_key(key)?,
        cert_path: cert.to_path_buf(),
        key_path: key.to_path_buf(),
    }))
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| e.to_string())
}

/// The key: a regular file with libpq's permissions, holding a PKCS#8, PKCS#1 or SEC1 key.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, SetupError> {
    use std::os::unix::fs::MetadataExt;
    let unreadable = |reason: String| SetupError::ClientKey {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
    if !meta.is_file() {
        return Err(unreadable("not a regular file".into()));
    }
    if !private_enough(meta.mode(), meta.uid()) {
        return Err(SetupError::KeyAccess {
            path: path.to_path_buf(),
        });
    }
    let bytes = read(path).map_err(unreadable)?;
    match PrivateKeyDer::from_pem_slice(&bytes) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) if encrypted(&bytes) => Err(SetupError::EncryptedKey {
            path: path.to_path_buf(),
        }),
        Err(pem::Error::NoItemsFound) => Err(SetupError::NoKey {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(unreadable(e.to_string())),
    }
}

/// libpq's rule: owned by root, `u=rw,g=r` (0640) or less; otherwise `u=rw` (0600) or less.
fn private_enough(mode: u32, owner: u32) -> bool {
    if owner == 0 {
        mode & 0o137 == 0
    } else {
        mode & 0o077 == 0
    }
}

/// A passphrase-protected key: PKCS#8's `ENCRYPTED PRIVATE KEY`, or OpenSSL's traditional form
/// with a `Proc-Type: 4,ENCRYPTED` header.
fn encrypted(pem: &[u8]) -> bool {
    let text = String::from_utf8_lossy(pem);
    text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || text.contains("Proc-Type: 4,ENCRYPTED")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn key_permissions_follow_libpq() {
        assert!(private_enough(0o100600, 1000));
        assert!(private_enough(0o100400, 1000));
        assert!(!private_enough(0o100640, 1000));
        assert!(!private_enough(0o100604, 1000));
        assert!(private_enough(0o100640, 0));
        assert!(!private_enough(0o100660, 0));
        assert!(!private_enough(0o100644, 0));
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str, mode: u32| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, PermissionsExt::from_mode(mode)).unwrap();
            p.display().to_string()
        };
        let empty = file("empty.pem", "", 0o600);
        let open = file("open.key", "", 0o644);
        let locked = file(
            "locked.key",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
            0o600,
        );
        let missing = dir.path().join("missing.pem").display().to_string();
        let err = |c: Option<&str>, k: Option<&str>| identity(c, k).unwrap_err().to_string();

        assert_eq!(
            err(Some(&missing), Some(&empty)),
            format!("sslcert {missing}: cannot read it: No such file or directory (os error 2)")
        );
        assert_eq!(
            err(Some(&empty), Some(&empty)),
            format!("sslcert {empty}: holds no PEM certificate")
        );
        assert!(
            err(None, Some(&empty)).starts_with(&format!("sslkey {empty} is given without")),
            "{}",
            err(None, Some(&empty))
        );
        assert!(identity(None, None).unwrap().is_none());
        let no_key = private_key(Path::new(&empty)).unwrap_err().to_string();
        assert!(no_key.contains("holds no PEM private key"), "{no_key}");
        let e = private_key(Path::new(&open)).unwrap_err().to_string();
        assert!(
            e.contains("private key file has group or world access; permissions should be u=rw (0600) or less"),
            "{e}"
        );
        let e = private_key(Path::new(&locked)).unwrap_err().to_string();
        assert!(e.contains("is encrypted"), "{e}");
    }
}
