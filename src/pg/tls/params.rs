//! What a connection string asks of TLS: libpq's `sslmode` and `sslrootcert`, taken out of the
//! string before tokio-postgres sees it (its `Config` only knows disable/prefer/require). Pure.

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
}
