//! The migration runner: applies a folder of `<version>_<name>.sql` files the way the Supabase CLI
//! would — the same files, in the same order — each in its own transaction, with a record table
//! of what was applied (version, name, checksum, applied_at, duration).
//!
//! A file that manages its own transaction (its own BEGIN/COMMIT) runs as written instead of
//! inside ours. A file that builds or drops an index `CONCURRENTLY` cannot run in a transaction
//! at all: its statements run one by one in autocommit, and a failure midway leaves the ones
//! before it applied (the error says so, and names the line to resume from). Files are split into statements first so a failure is named by file and line even
//! when PostgreSQL gives no position.

use super::split::{self, Statement};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_postgres::Client;

/// The migration files compiled into the binary (this repository's `migrations/`).
pub const BUILTIN: &[(&str, &str)] = crate::builtin::MIGRATIONS;

/// The table recording applied migrations, in loadtest's own schema.
const RECORD_DDL: &str = "CREATE SCHEMA IF NOT EXISTS loadtest;
CREATE TABLE IF NOT EXISTS loadtest.schema_migrations (
    version     text PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    duration_ms double precision NOT NULL
);";

/// One migration file, read and normalised (BOM stripped, CRLF turned into LF).
#[derive(Debug, Clone)]
pub struct Migration {
    pub version: String,
    pub name: String,
    pub file_name: String,
    /// Where it came from, for messages: the file's path, or `builtin:<file>`.
    pub origin: String,
    pub sql: String,
    /// SHA-256 of the normalised text, hex.
    pub checksum: String,
}

/// What happened to one file.
#[derive(Debug, Clone)]
pub struct Applied {
    pub version: String,
    pub name: String,
    pub file_name: String,
    pub checksum: String,
    pub duration: Duration,
    /// Already recorded with the same checksum, so not applied again.
    pub already_applied: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("cannot read migrations folder {}: {source}", dir.display())]
    ReadDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read migration {}: {source}", path.display())]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("migration {origin} is not UTF-8 text: save it as UTF-8")]
    NotUtf8 { origin: String },
    #[error(
        "{dir}: migration version {version} appears twice ({first} and {second}); every file \
            needs its own version"
    )]
    DuplicateVersion {
        dir: String,
        version: String,
        first: String,
        second: String,
    },
    #[error(
        "--until {version}: no migration with that version in {dir} (versions there: {available})"
    )]
    UnknownUntil {
        version: String,
        dir: String,
        available: String,
    },
    #[error(
        "migration {version} was applied but its file changed since ({origin}: checksum {was} \
            then, {now} now); restore the file or add a new migration"
    )]
    ChecksumChanged {
        version: String,
        origin: String,
        was: String,
        now: String,
    },
    #[error(
        "migration {origin} failed at line {line}: {sqlstate} {message}{extra}; its changes were \
            rolled back"
    )]
    Failed {
        origin: String,
        line: usize,
        sqlstate: String,
        message: String,
        /// `; detail: ...; hint: ...` when the server gave them.
        extra: String,
    },
    #[error(
        "migration {origin} failed at line {line}: {sqlstate} {message}{extra}; it runs outside a \
            transaction (CONCURRENTLY), so the statements before line {line} stay applied: drop \
            any INVALID index the failed build left (DROP INDEX CONCURRENTLY), fix the file and \
            run it again (IF NOT EXISTS skips what is already there)"
    )]
    FailedOutsideTransaction {
        origin: String,
        line: usize,
        sqlstate: String,
        message: String,
        extra: String,
    },
    #[error("migration {origin}: lost the database connection: {reason}")]
    Connection { origin: String, reason: String },
    #[error("cannot keep the migration record: {0}")]
    Record(String),
}

impl MigrateError {
    /// Whether the user fixes this in their files (exit 2) rather than in the environment (3).
    pub fn is_input_error(&self) -> bool {
        match self {
            MigrateError::Failed { sqlstate, .. }
            | MigrateError::FailedOutsideTransaction { sqlstate, .. } => {
                // connection, resources, operator intervention, system errors: not the file's fault
                !["08", "53", "57", "58", "XX"]
                    .iter()
                    .any(|class| sqlstate.starts_with(class))
            }
            MigrateError::Connection { .. } | MigrateError::Record(_) => false,
            _ => true,
        }
    }
}

/// Reads a folder the way the Supabase CLI does: files named `<digits>_<name>.sql`, ordered by
/// file name; anything else is returned in the second list to be warned about.
pub fn load_dir(dir: &Path) -> Result<(Vec<Migration>, Vec<String>), MigrateError> {
    let entries = std::fs::read_dir(dir).map_err(|source| MigrateError::ReadDir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| MigrateError::ReadDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let file_name = entry.file_name().to_string_lossy().to_string();
        if !entry.path().is_file() {
            continue;
        }
        if parse_name(&file_name).is_none() {
            skipped.push(file_name);
            continue;
        }
        let bytes = std::fs::read(entry.path()).map_err(|source| MigrateError::ReadFile {
            path: entry.path(),
            source,
        })?;
        files.push((file_name, entry.path().display().to_string(), bytes));
    }
    skipped.sort();
    let migrations = build(&dir.display().to_string(), files)?;
    Ok((migrations, skipped))
}

/// The migrations compiled into the binary.
pub fn load_builtin() -> Result<Vec<Migration>, MigrateError> {
    build(
        "builtin migrations",
        BUILTIN
            .iter()
            .map(|(name, sql)| {
                (
                    name.to_string(),
                    format!("builtin:{name}"),
                    sql.as_bytes().to_vec(),
                )
            })
            .collect(),
    )
}

fn build(
    dir: &str,
    mut files: Vec<(String, String, Vec<u8>)>,
) -> Result<Vec<Migration>, MigrateError> {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<Migration> = Vec::with_capacity(files.len());
    for (file_name, origin, bytes) in files {
        let (version, name) = parse_name(&file_name).expect("filtered by caller");
        if let Some(prev) = out.iter().find(|m| m.version == version) {
            return Err(MigrateError::DuplicateVersion {
                dir: dir.to_string(),
                version,
                first: prev.file_name.clone(),
                second: file_name,
            });
        }
        let text = String::from_utf8(bytes).map_err(|_| MigrateError::NotUtf8 {
            origin: origin.clone(),
        })?;
        let sql = normalise(&text);
        let checksum = hex::encode(Sha256::digest(sql.as_bytes()));
        out.push(Migration {
            version,
            name,
            file_name,
            origin,
            sql,
            checksum,
        });
    }
    Ok(out)
}

/// `20251117000002_add_rpc.sql` → ("20251117000002", "add_rpc").
pub fn parse_name(file_name: &str) -> Option<(String, String)> {
    let stem = file_name.strip_suffix(".sql")?;
    let (version, name) = stem.split_once('_')?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((version.to_string(), name.to_string()))
}

fn normalise(text: &str) -> String {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .replace("\r\n", "\n")
}

/// The files up to and including `until` (all of them without it).
pub fn select<'a>(
    all: &'a [Migration],
    until: Option<&str>,
    dir: &str,
) -> Result<&'a [Migration], MigrateError> {
    match until {
        None => Ok(all),
        Some(v) => match all.iter().position(|m| m.version == v) {
            Some(i) => Ok(&all[..=i]),
            None => Err(MigrateError::UnknownUntil {
                version: v.to_string(),
                dir: dir.to_string(),
                available: match (all.first(), all.last()) {
                    (Some(a), Some(b)) => format!("{} … {}", a.version, b.version),
                    _ => "none".into(),
                },
            }),
        },
    }
}

/// A fingerprint of a list of migrations (their versions and checksums), for reports.
pub fn fingerprint(migrations: &[Migration]) -> String {
    let mut h = Sha256::new();
    for m in migrations {
        h.update(m.version.as_bytes());
        h.update([0]);
        h.update(m.checksum.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// Someone watching a migration's statements as they run: the rollout's lock sampler.
pub trait Watcher: Send + Sync {
    /// A file starts: whether it runs outside a transaction.
    fn file(&self, m: &Migration, outside_transaction: bool);
    /// A statement is sent.
    fn started(&self, m: &Migration, s: &Statement);
    /// The statement returned; `locks` are the table locks this session holds now
    /// (relation, mode), read on the same connection.
    fn ended(&self, locks: Vec<(String, String)>);
    /// The file is done (committed, or failed).
    fn file_done(&self);
}

/// The table locks the migration's own session holds on the schema's tables (in a
/// transaction, every lock taken so far is still held: the difference after a statement is
/// what that statement took). Not the system catalogs, not loadtest's own record table, not
/// the index a statement is building (its lock blocks nobody).
pub const OWN_LOCKS: &str = "SELECT c.relname::text, l.mode FROM pg_locks l \
    JOIN pg_class c ON c.oid = l.relation \
    WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted \
    AND c.relkind IN ('r', 'p', 'm') \
    AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace) \
    AND c.relnamespace::regnamespace::text <> 'loadtest'";

/// Whether a file must run outside a transaction: it builds, drops or reindexes CONCURRENTLY.
pub fn needs_autocommit(statements: &[Statement]) -> bool {
    statements.iter().any(|s| {
        let words = split::first_words(&s.text, 4);
        matches!(
            words.first().map(String::as_str),
            Some("CREATE" | "DROP" | "REINDEX")
        ) && words.iter().any(|w| w == "CONCURRENTLY")
    })
}

/// Applies `migrations` in order, skipping those already recorded with the same checksum.
/// `each` is called after every file (for one line of output per file).
pub async fn apply(
    client: &Client,
    migrations: &[Migration],
    each: impl FnMut(&Applied),
) -> Result<Vec<Applied>, MigrateError> {
    apply_watched(client, migrations, each, None).await
}

/// [`apply`], telling `watcher` about every file and statement as it runs.
pub async fn apply_watched(
    client: &Client,
    migrations: &[Migration],
    mut each: impl FnMut(&Applied),
    watcher: Option<&dyn Watcher>,
) -> Result<Vec<Applied>, MigrateError> {
    client
        .batch_execute(RECORD_DDL)
        .await
        .map_err(|e| MigrateError::Record(super::describe(&e)))?;
    let recorded: std::collections::HashMap<String, String> = client
        .query(
            "SELECT version, checksum FROM loadtest.schema_migrations",
            &[],
        )
        .await
        .map_err(|e| MigrateError::Record(super::describe(&e)))?
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut done = Vec::with_capacity(migrations.len());
    for m in migrations {
        let applied = match recorded.get(&m.version) {
            Some(was) if *was == m.checksum => Applied {
                version: m.version.clone(),
                name: m.name.clone(),
                file_name: m.file_name.clone(),
                checksum: m.checksum.clone(),
                duration: Duration::ZERO,
                already_applied: true,
            },
            Some(was) => {
                return Err(MigrateError::ChecksumChanged {
                    version: m.version.clone(),
                    origin: m.origin.clone(),
                    was: was[..12.min(was.len())].to_string(),
                    now: m.checksum[..12].to_string(),
                });
            }
            None => apply_one(client, m, watcher).await?,
        };
        each(&applied);
        done.push(applied);
    }
    Ok(done)
}

async fn apply_one(
    client: &Client,
    m: &Migration,
    watcher: Option<&dyn Watcher>,
) -> Result<Applied, MigrateError> {
    let statements = split::split(&m.sql);
    let autocommit = needs_autocommit(&statements);
    let manages_own = autocommit
        || statements.iter().any(|s| {
            matches!(
                s.first_word().as_str(),
                "BEGIN" | "START" | "COMMIT" | "END" | "ROLLBACK" | "ABORT"
            )
        });
    if let Some(w) = watcher {
        w.file(m, autocommit);
    }
    let result = run_file(client, m, &statements, manages_own, autocommit, watcher).await;
    if let Some(w) = watcher {
        w.file_done();
    }
    result
}

async fn run_file(
    client: &Client,
    m: &Migration,
    statements: &[Statement],
    manages_own: bool,
    autocommit: bool,
    watcher: Option<&dyn Watcher>,
) -> Result<Applied, MigrateError> {
    let began = Instant::now();
    if !manages_own {
        exec(client, m, "BEGIN", 1).await?;
    }
    for s in statements {
        if let Some(w) = watcher {
            w.started(m, s);
        }
        if let Err(e) = run_statement(client, m, s).await {
            // Undo whatever transaction is open: ours, or the file's own.
            let _ = client.batch_execute("ROLLBACK").await;
            if let Some(w) = watcher {
                w.ended(Vec::new());
            }
            return Err(match e {
                MigrateError::Failed {
                    origin,
                    line,
                    sqlstate,
                    message,
                    extra,
                } if autocommit => MigrateError::FailedOutsideTransaction {
                    origin,
                    line,
                    sqlstate,
                    message,
                    extra,
                },
                e => e,
            });
        }
        if let Some(w) = watcher {
            let locks = match client.query(OWN_LOCKS, &[]).await {
                Ok(rows) => rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
                Err(_) => Vec::new(),
            };
            w.ended(locks);
        }
    }
    let duration = began.elapsed();
    let record = client
        .execute(
            "INSERT INTO loadtest.schema_migrations (version, name, checksum, duration_ms) \
                VALUES ($1, $2, $3, $4)",
            &[
                &m.version,
                &m.name,
                &m.checksum,
                &(duration.as_secs_f64() * 1000.0),
            ],
        )
        .await;
    if let Err(e) = record {
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(MigrateError::Record(super::describe(&e)));
    }
    if !manages_own {
        exec(client, m, "COMMIT", statements.last().map_or(1, |s| s.line)).await?;
    }
    Ok(Applied {
        version: m.version.clone(),
        name: m.name.clone(),
        file_name: m.file_name.clone(),
        checksum: m.checksum.clone(),
        duration,
        already_applied: false,
    })
}

async fn run_statement(client: &Client, m: &Migration, s: &Statement) -> Result<(), MigrateError> {
    client
        .batch_execute(&s.text)
        .await
        .map_err(|e| failure(m, s.line, &s.text, &e))
}

async fn exec(client: &Client, m: &Migration, sql: &str, line: usize) -> Result<(), MigrateError> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| failure(m, line, sql, &e))
}

fn failure(m: &Migration, line: usize, text: &str, e: &tokio_postgres::Error) -> MigrateError {
    let Some(db) = e.as_db_error() else {
        return MigrateError::Connection {
            origin: m.origin.clone(),
            reason: super::describe(e),
        };
    };
    let line = match db.position() {
        Some(tokio_postgres::error::ErrorPosition::Original(p)) => {
            split::line_of_position(text, line, *p as usize)
        }
        _ => line,
    };
    let mut extra = String::new();
    if let Some(d) = db.detail() {
        extra.push_str("; detail: ");
        extra.push_str(d);
    }
    if let Some(h) = db.hint() {
        extra.push_str("; hint: ");
        extra.push_str(h);
    }
    if let Some(w) = db.where_() {
        extra.push_str("; where: ");
        extra.push_str(&w.replace('\n', " / "));
    }
    MigrateError::Failed {
        origin: m.origin.clone(),
        line,
        sqlstate: db.code().code().to_string(),
        message: db.message().to_string(),
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supabase_file_names() {
        assert_eq!(
            parse_name("20251117000002_add_rpc.sql"),
            Some(("20251117000002".into(), "add_rpc".into()))
        );
        assert_eq!(parse_name("1_x.sql"), Some(("1".into(), "x".into())));
        for bad in [
            "README.md",
            "abc_x.sql",
            "_x.sql",
            "20251117.sql",
            "2025_x.SQL",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn bom_and_crlf_are_normalised_and_checksummed_alike() {
        let a = build(
            "d",
            vec![(
                "1_a.sql".into(),
                "o".into(),
                b"\xef\xbb\xbfSELECT 1;\r\n".to_vec(),
            )],
        )
        .unwrap();
        let b = build(
            "d",
            vec![("1_a.sql".into(), "o".into(), b"SELECT 1;\n".to_vec())],
        )
        .unwrap();
        assert_eq!(a[0].sql, "SELECT 1;\n");
        assert_eq!(a[0].checksum, b[0].checksum);
    }

    #[test]
    fn duplicate_versions_are_refused() {
        let err = build(
            "d",
            vec![
                ("1_a.sql".into(), "o".into(), b"".to_vec()),
                ("1_b.sql".into(), "o".into(), b"".to_vec()),
            ],
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("appears twice (1_a.sql and 1_b.sql)"),
            "{err}"
        );
    }

    #[test]
    fn until_selects_a_prefix_or_names_the_versions() {
        let all = build(
            "d",
            vec![
                ("2_b.sql".into(), "o".into(), b"".to_vec()),
                ("1_a.sql".into(), "o".into(), b"".to_vec()),
                ("3_c.sql".into(), "o".into(), b"".to_vec()),
            ],
        )
        .unwrap();
        assert_eq!(select(&all, Some("2"), "d").unwrap().len(), 2);
        let err = select(&all, Some("9"), "d").unwrap_err().to_string();
        assert!(err.contains("1 … 3"), "{err}");
    }

    #[test]
    fn builtin_migrations_include_the_seed() {
        let all = load_builtin().unwrap();
        for v in [
            "20251117000001",
            "20251117000002",
            "20251117000003",
            "20251117000004",
        ] {
            assert!(all.iter().any(|m| m.version == v), "missing {v}");
        }
    }

    fn file(name: &str, sql: &[u8]) -> (String, String, Vec<u8>) {
        (name.into(), format!("dir/{name}"), sql.to_vec())
    }

    #[test]
    fn the_checksum_is_the_sha256_of_the_normalised_text() {
        let m = build("d", vec![file("7_x.sql", b"SELECT 1;\r\n")]).unwrap();
        assert_eq!(
            m[0].checksum,
            "b4e0497804e46e0a0b0b8c31975b062152d551bac49c3c2e80932567b4085dcd"
        );
        assert_eq!(
            (
                m[0].version.as_str(),
                m[0].name.as_str(),
                m[0].origin.as_str()
            ),
            ("7", "x", "dir/7_x.sql")
        );
        // A BOM counts only at the start, a lone CR is kept: other bytes, another checksum.
        assert_eq!(normalise("a\u{feff}b\rc\r\n"), "a\u{feff}b\rc\n");
        let other = build("d", vec![file("7_x.sql", b"SELECT 1;\r")]).unwrap();
        assert_ne!(other[0].checksum, m[0].checksum);
        let err = build("d", vec![file("7_x.sql", b"\xff\xfe")]).unwrap_err();
        assert!(matches!(err, MigrateError::NotUtf8 { ref origin } if origin == "dir/7_x.sql"));
    }

    #[test]
    fn the_fingerprint_covers_versions_and_checksums_in_order() {
        let m = |v: &str, c: &str| Migration {
            version: v.into(),
            name: String::new(),
            file_name: String::new(),
            origin: String::new(),
            sql: String::new(),
            checksum: c.into(),
        };
        let (a, b) = (m("1", &"a".repeat(64)), m("2", &"b".repeat(64)));
        assert_eq!(
            fingerprint(&[a.clone(), b.clone()]),
            "7dcb33013c550b4b38ce616b6f8d6945d0ceb6bd16c53f7fa58f9b19ce68c716"
        );
        assert_ne!(fingerprint(&[b, a]), fingerprint(&[]));
        assert_eq!(
            fingerprint(&[]),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // The separators keep a version from running into its checksum.
        assert_ne!(fingerprint(&[m("1", "23")]), fingerprint(&[m("12", "3")]));
    }

    #[test]
    fn files_are_ordered_by_name_and_until_cuts_after_its_version() {
        let all = build(
            "d",
            vec![
                file("2_b.sql", b""),
                file("10_c.sql", b""),
                file("1_a.sql", b""),
            ],
        )
        .unwrap();
        let names: Vec<&str> = all.iter().map(|m| m.file_name.as_str()).collect();
        assert_eq!(names, ["10_c.sql", "1_a.sql", "2_b.sql"]);
        assert_eq!(select(&all, None, "d").unwrap().len(), 3);
        assert_eq!(select(&all, Some("10"), "d").unwrap().len(), 1);
        assert_eq!(select(&all, Some("2"), "d").unwrap().len(), 3);
        let err = select(&[], Some("2"), "d").unwrap_err().to_string();
        assert!(err.contains("none"), "{err}");
        assert_eq!(parse_name("1_.sql"), Some(("1".into(), String::new())));
        assert_eq!(parse_name("1_a_b.sql"), Some(("1".into(), "a_b".into())));
        assert_eq!(parse_name("1x_a.sql"), None);
    }
}
