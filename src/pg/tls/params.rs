//! What a connection string asks of TLS: libpq's `sslmode`, `sslrootcert`, `sslcert` and
//! `sslkey`, taken out of the string before tokio-postgres sees it (its `Config` only knows
//! disable/prefer/require and no files). Pure, but for [`Requested::with_defaults`], which looks
//! for libpq's default client certificate as libpq does.

use std::path::{Path, PathBuf};

/// libpq's `sslmode` values loadtest supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plaintext only.
    Disable,
    /// Plaintext first; TLS, nothing verified, only when the server refuses a plaintext
    /// connection (28000, as a pg_hba.conf with only `hostssl` lines does).
    Allow,
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
            "allow" => Ok(Mode::Allow),
            "prefer" => Ok(Mode::Prefer),
            "require" => Ok(Mode::Require),
            "verify-ca" => Ok(Mode::VerifyCa),
            "verify-full" => Ok(Mode::VerifyFull),
            other => Err(format!(
                "sslmode={other} is not supported (expected disable, allow, prefer, require, \
                    verify-ca or verify-full)"
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Disable => "disable",
            Mode::Allow => "allow",
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
    /// `sslcert`: the client's certificate chain, a PEM file.
    pub client_cert: Option<String>,
    /// `sslkey`: the client certificate's private key, a PEM file private to its owner.
    pub client_key: Option<String>,
}

impl Requested {
    /// What a connection string without TLS parameters asks for: libpq's `sslmode=prefer`.
    pub fn prefer() -> Requested {
        Requested {
            mode: Mode::Prefer,
            root_cert: None,
            client_cert: None,
            client_key: None,
        }
    }

    /// The client certificate libpq would use when the string names none: `PGSSLCERT` and
    /// `PGSSLKEY` from `env`, else `~/.postgresql/postgresql.crt` (and `.key`) under `home` when
    /// that certificate exists (libpq skips a missing default silently). Not for plaintext.
    pub fn with_defaults(
        mut self,
        env: impl Fn(&str) -> Option<String>,
        home: Option<&Path>,
    ) -> Requested {
        if self.mode == Mode::Disable {
            return self;
        }
        let set = |v: Option<String>| v.filter(|v| !v.is_empty());
        self.client_cert = set(self.client_cert).or_else(|| set(env("PGSSLCERT")));
        self.client_key = set(self.client_key).or_else(|| set(env("PGSSLKEY")));
        let default = |name: &str| home.map(|h| h.join(".postgresql").join(name));
        if self.client_cert.is_none()
            && let Some(cert) = default("postgresql.crt").filter(|c| c.exists())
        {
            self.client_cert = Some(display(cert));
        }
        if self.client_cert.is_some()
            && self.client_key.is_none()
            && let Some(key) = default("postgresql.key")
        {
            self.client_key = Some(display(key));
        }
        self
    }
}

fn display(p: PathBuf) -> String {
    p.display().to_string()
}

/// The URL without `sslmode`/`sslrootcert`/`sslcert`/`sslkey` (for tokio-postgres) and what
/// they asked for. libpq's default `sslmode` is `prefer`. `sslpassword` is refused rather than
/// ignored: an encrypted key cannot be read.
pub fn split(url: &str) -> Result<(String, Requested), String> {
    let is_url = url.starts_with("postgres://") || url.starts_with("postgresql://");
    let (rest, params) = match url.find('?') {
        Some(q) if is_url => split_query(url, q),
        None if is_url => (url.to_string(), Vec::new()),
        _ => split_key_values(url),
    };
    let mut requested = Requested::prefer();
    for (key, value) in params {
        match key.as_str() {
            "sslmode" => requested.mode = Mode::parse(&value)?,
            "sslrootcert" => requested.root_cert = Some(value),
            "sslcert" => requested.client_cert = Some(value),
            "sslkey" => requested.client_key = Some(value),
            _ => {
                return Err(format!(
                    "{key} (an encrypted client key) is not supported: decrypt the key \
                        (openssl pkey -in KEY -out PLAIN_KEY; chmod 600 PLAIN_KEY) and pass \
                        sslkey=PLAIN_KEY"
                ));
            }
        }
    }
    Ok((rest, requested))
}

const TAKEN: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];
const REFUSED: [&str; 1] = ["sslpassword"];

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
    fn unknown_modes_and_key_passwords_are_refused() {
        let e = split("postgres://db/x?sslmode=maybe").unwrap_err();
        assert!(e.starts_with("sslmode=maybe is not supported"), "{e}");
        assert_eq!(
            split("postgres://db/x?sslmode=allow").unwrap().1.mode,
            Mode::Allow
        );
        let e = split("host=db sslkey=/k.pem sslpassword=x").unwrap_err();
        assert!(
            e.starts_with("sslpassword (an encrypted client key)"),
            "{e}"
        );
    }

    #[test]
    fn client_certificates_come_from_the_string_the_environment_or_home() {
        let (rest, r) =
            split("postgresql://u@db/x?sslcert=%2Fc.pem&sslkey=%2Fk.pem&connect_timeout=3")
                .unwrap();
        assert_eq!(rest, "postgresql://u@db/x?connect_timeout=3");
        assert_eq!(
            (r.client_cert.as_deref(), r.client_key.as_deref()),
            (Some("/c.pem"), Some("/k.pem"))
        );
        let env = |k: &str| match k {
            "PGSSLCERT" => Some("/env.crt".to_string()),
            "PGSSLKEY" => Some("/env.key".to_string()),
            _ => None,
        };
        let none = |_: &str| None;
        // The string wins over the environment, the environment over home.
        let r2 = r.clone().with_defaults(env, None);
        assert_eq!(r2.client_cert.as_deref(), Some("/c.pem"));
        let r = Requested::prefer().with_defaults(env, None);
        assert_eq!(
            (r.client_cert.as_deref(), r.client_key.as_deref()),
            (Some("/env.crt"), Some("/env.key"))
        );
        // Home's certificate only when it exists; its key then, even if missing (an error later).
        let home = tempfile::tempdir().unwrap();
        assert_eq!(
            Requested::prefer().with_defaults(none, Some(home.path())),
            Requested::prefer()
        );
        let dir = home.path().join(".postgresql");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("postgresql.crt"), "").unwrap();
        let r = Requested::prefer().with_defaults(none, Some(home.path()));
        assert_eq!(r.client_cert, Some(display(dir.join("postgresql.crt"))));
        assert_eq!(r.client_key, Some(display(dir.join("postgresql.key"))));
        // Plaintext reads no certificate.
        let disable = Requested {
            mode: Mode::Disable,
            ..Requested::prefer()
        };
        assert_eq!(
            disable.clone().with_defaults(env, Some(home.path())),
            disable
        );
    }
}
