//! libpq's conventions for where to connect when no URL says it: the `PG*` environment
//! variables (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`,
//! `PGSSLCERT`, …) and the password file (`PGPASSFILE`, default `~/.pgpass`), as psql reads
//! them. tokio-postgres reads neither, so a team's existing setup would otherwise have to be
//! spelled out again. (`PGSSLCERT`/`PGSSLKEY` also fill in a URL that names no client
//! certificate, as in libpq: see `tls::Requested::with_defaults`.)

use std::path::PathBuf;

/// The variables read, with the connection-string key each becomes.
const VARIABLES: [(&str, &str); 12] = [
    ("PGHOST", "host"),
    ("PGHOSTADDR", "hostaddr"),
    ("PGPORT", "port"),
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGDATABASE", "dbname"),
    ("PGSSLMODE", "sslmode"),
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
    ("PGAPPNAME", "application_name"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
];

/// A `key=value` connection string from the `PG*` variables in `env` (as `std::env::var`
/// gives them), with libpq's defaults: the local socket folder and the login name.
pub fn conninfo_from(env: impl Fn(&str) -> Option<String>) -> String {
    let mut parts = Vec::new();
    for (var, key) in VARIABLES {
        if let Some(v) = env(var).filter(|v| !v.is_empty()) {
            parts.push(format!("{key}={}", quote(&v)));
        }
    }
    if env("PGHOST").is_none_or(|h| h.is_empty()) && env("PGHOSTADDR").is_none_or(|h| h.is_empty())
    {
        let socket = "/var/run/postgresql";
        let host = if std::path::Path::new(socket).is_dir() {
            socket
        } else {
            "localhost"
        };
        parts.push(format!("host={host}"));
    }
    if env("PGUSER").is_none_or(|u| u.is_empty())
        && let Some(login) = env("USER").filter(|u| !u.is_empty())
    {
        parts.push(format!("user={}", quote(&login)));
    }
    parts.join(" ")
}

/// [`conninfo_from`] the process environment.
pub fn conninfo() -> String {
    conninfo_from(|k| std::env::var(k).ok())
}

/// A value as a connection-string literal: as it is when plain, else quoted with `\` and `'`
/// escaped.
fn quote(v: &str) -> String {
    if v.chars()
        .any(|c| c.is_whitespace() || c == '\'' || c == '\\')
    {
        format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
    } else {
        v.to_string()
    }
}

/// The password file libpq would read: `PGPASSFILE`, else `~/.pgpass`.
pub fn passfile() -> Option<PathBuf> {
    match std::env::var_os("PGPASSFILE") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => dirs::home_dir().map(|h| h.join(".pgpass")),
    }
}

/// The password for (host, port, database, user) in a password file's text: the first line
/// whose fields match, `*` matching anything, `\:` and `\\` escaped as libpq reads them.
pub fn password_in(text: &str, host: &str, port: u16, dbname: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_fields(line);
        let [h, p, d, u, password] = fields.as_slice() else {
            continue;
        };
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        if matches(h, host) && matches(p, &port) && matches(d, dbname) && matches(u, user) {
            return Some(password.clone());
        }
    }
    None
}

/// A password-file line's five fields; the password keeps any further `:`.
fn split_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().expect("one field").push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

/// The password for a connection from the password file, if the file exists, is private to
/// its owner (libpq ignores a file others can read) and has a matching line.
pub fn password_for(host: &str, port: u16, dbname: &str, user: &str) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let file = passfile()?;
    let meta = std::fs::metadata(&file).ok()?;
    if meta.permissions().mode() & 0o077 != 0 {
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    password_in(&text, host, port, dbname, user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_becomes_a_connection_string() {
        let env = |k: &str| {
            match k {
                "PGHOST" => Some("db.example.com"),
                "PGPORT" => Some("6543"),
                "PGUSER" => Some("o'brien"),
                "PGSSLMODE" => Some("require"),
                _ => None,
            }
            .map(String::from)
        };
        assert_eq!(
            conninfo_from(env),
            "host=db.example.com port=6543 user='o\\'brien' sslmode=require"
        );
        let login = |k: &str| (k == "USER").then(|| "ana".to_string());
        assert!(conninfo_from(login).ends_with("user=ana"));
    }

    #[test]
    fn the_password_file_matches_like_libpq() {
        let text = "# comment\nother:5432:*:ana:nope\n*:6543:postgres:ana:s\\:cr\\\\et:x\n*:*:*:*:fallback\n";
        assert_eq!(
            password_in(text, "db", 6543, "postgres", "ana").as_deref(),
            Some("s:cr\\et:x")
        );
        assert_eq!(
            password_in(text, "db", 5432, "app", "bob").as_deref(),
            Some("fallback")
        );
        assert_eq!(password_in("a:b:c", "a", 1, "c", "d"), None);
    }
}
