//! The bad-input catalogue: every way a user can get the input wrong, in one table. Each case
//! must end with exactly one line on stderr that names the flag, file or value and says what
//! would fix it, the documented exit code (2 input, 3 environment), no report file, nothing left
//! running (no scratch server, no scratch folder) and no load started (no database left on the
//! shared server; a case found before any database I/O never even connects).
//!
//! How "nothing started" is proven, by where a case points the run:
//! - `Tripwire`: `--database-url` names a TCP listener of the test's own that no one should
//!   ever reach, so a case refused while planning is shown not to have connected at all;
//! - `Runner`: the shared server as a role of this test's own (CREATEDB CREATEROLE), so every
//!   database the run created is found by its owner, even with other tests running beside it;
//! - `Own`: the case's own `--database-url` (a URL that does not parse, a closed port, a role
//!   without a right); databases of the test's roles are counted all the same;
//! - `Embedded`: no URL, a scratch cluster would go under `LOADTEST_SCRATCH_DIR`, which must be
//!   empty after, with no server mentioning it.

use crate::suite::roles::{Role, supabase_roles_as_superuser};
use crate::util::*;
use std::path::{Path, PathBuf};

/// Where a case's run is pointed (see the module doc).
#[derive(Clone, Copy, PartialEq)]
enum Target {
    Tripwire,
    Runner,
    Own,
    Embedded,
}

struct Case {
    /// What is wrong, for the failure message.
    what: &'static str,
    args: Vec<String>,
    target: Target,
    code: i32,
    /// Every one of these must be in the line.
    says: Vec<String>,
    /// Runs in a mount namespace where `/usr/lib/postgresql` is an empty tmpfs and `PATH` holds
    /// only `/usr/bin:/bin`: a machine without PostgreSQL.
    without_postgres: bool,
    /// The case passes its own `--report-dir`; this folder must hold only `ballast` after.
    report_dir: Option<PathBuf>,
}

fn case(what: &'static str, args: &[&str], target: Target, code: i32, says: &[&str]) -> Case {
    Case {
        what,
        args: args.iter().map(|s| s.to_string()).collect(),
        target,
        code,
        says: says.iter().map(|s| s.to_string()).collect(),
        without_postgres: false,
        report_dir: None,
    }
}

/// The shipped token race with one edit, written to `dir/<name>.toml`.
fn scenario(dir: &Path, name: &str, edit: impl Fn(String) -> String) -> String {
    let good = include_str!("../../scenarios/token-race.toml").to_string();
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, edit(good)).unwrap();
    file.display().to_string()
}

/// A folder `dir/<name>` holding `files` (name, bytes).
fn folder(dir: &Path, name: &str, files: &[(&str, &[u8])]) -> String {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for (f, bytes) in files {
        std::fs::write(d.join(f), bytes).unwrap();
    }
    d.display().to_string()
}

/// A copy of the repository's migrations plus `extra`, as `dir/<name>`.
fn migrations_plus(dir: &Path, name: &str, extra: (&str, &str)) -> String {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    for e in std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), d.join(e.file_name())).unwrap();
    }
    std::fs::write(d.join(extra.0), extra.1).unwrap();
    d.display().to_string()
}

/// A `local` pg_hba.conf rule asking `role` for its password, put first in the shared server's
/// file (which otherwise trusts local connections) and taken out again when dropped. Only that
/// role's sign-ins change, so the tests running beside it are unaffected.
struct PasswordRule {
    file: PathBuf,
    original: String,
}

impl PasswordRule {
    async fn add(admin: &tokio_postgres::Client, role: &str) -> PasswordRule {
        let file: String = admin.query_one("SHOW hba_file", &[]).await.unwrap().get(0);
        let file = PathBuf::from(file);
        let original = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, format!("local all {role} scram-sha-256\n{original}")).unwrap();
        let rule = PasswordRule { file, original };
        admin
            .batch_execute("SELECT pg_reload_conf()")
            .await
            .unwrap();
        rule
    }
}

impl Drop for PasswordRule {
    fn drop(&mut self) {
        std::fs::write(&self.file, &self.original).unwrap();
        reload_shared_config();
    }
}

/// `SELECT pg_reload_conf()` through psql, so it works in `Drop`.
fn reload_shared_config() {
    let psql = loadtest::pg::binaries::Binaries::find(None)
        .unwrap()
        .bindir
        .join("psql");
    let status = std::process::Command::new(psql)
        .args(["-X", "-q", "-h", shared().socket_dir.to_str().unwrap()])
        .args([
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            "SELECT pg_reload_conf()",
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// A 64 KiB tmpfs, most of it taken by a ballast file, so a report cannot fit; unmounted when
/// dropped, also when the test fails.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "mount a small tmpfs (the tests run as root)"
        );
        let disk = SmallDisk { dir };
        std::fs::write(disk.path().join("ballast"), vec![0u8; 40 * 1024]).unwrap();
        disk
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let ok = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// A local TCP port with nothing listening on it.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Databases owned by `role` on the shared server.
async fn databases_of(admin: &tokio_postgres::Client, role: &str) -> Vec<String> {
    admin
        .query(
            "SELECT d.datname::text FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba \
                WHERE r.rolname = $1",
            &[&role],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_input_is_one_line_with_its_exit_code_and_nothing_started() {
    let admin = connect("postgres").await;
    supabase_roles_as_superuser().await;
    let socket = shared().socket_dir.clone();
    let runner = Role::create(&admin, &socket, "catrun", "CREATEDB CREATEROLE").await;
    let no_createdb = Role::create(&admin, &socket, "catnocdb", "CREATEROLE").await;
    let with_password =
        Role::create(&admin, &socket, "catpw", "CREATEDB PASSWORD 'right-one'").await;
    let _rule = PasswordRule::add(&admin, &with_password.name).await;
    let secret = "not-the-password-7f3a";
    let url = |user: &str, extra: &str| {
        format!(
            "host={} port=5432 user={user} dbname=postgres{extra}",
            socket.display()
        )
    };
    let tripwire = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    tripwire.set_nonblocking(true).unwrap();
    let tripwire_url = format!(
        "postgres://tripwire@127.0.0.1:{}/tripwire",
        tripwire.local_addr().unwrap().port()
    );
    let runner_url = url(&runner.name, "");

    let fx = tempfile::tempdir().unwrap();
    let d = fx.path();
    let syntax = scenario(d, "syntax", |_| "this is = not [valid toml\n".into());
    let missing_key = scenario(d, "missing-key", |s| {
        s.replace("table = \"user_subscriptions\"\n", "")
    });
    let wrong_type = scenario(d, "wrong-type", |s| {
        s.replace("rows = 1000", "rows = \"many\"")
    });
    let unknown_kind = scenario(d, "unknown-kind", |s| {
        s.replace("kind = \"rpc\"", "kind = \"stored-procedure\"")
    });
    let bad_sql = scenario(d, "bad-sql", |s| {
        s.replace(
            "SELECT increment_token_usage($1, $2)",
            "SELEC increment_token_usage($1, $2)",
        )
    });
    let no_function = scenario(d, "no-such-function", |s| {
        s.replace("increment_token_usage($1, $2)", "increment_tokens($1, $2)")
    });
    let arity = scenario(d, "wrong-arity", |s| {
        s.replace(
            "increment_token_usage($1, $2)",
            "increment_token_usage($1, 5)",
        )
    });
    let empty = folder(d, "empty", &[]);
    let misnamed = migrations_plus(
        d,
        "misnamed",
        ("20251118000000_fix_rpc.sql.txt", "SELECT 1;"),
    );
    let duplicate = folder(
        d,
        "duplicate",
        &[("1_a.sql", b"SELECT 1;"), ("1_b.sql", b"SELECT 1;")],
    );
    let not_text = folder(d, "not-text", &[("1_binary.sql", b"\xff\xfe\x00SELECT")]);
    let failing = folder(
        d,
        "failing",
        &[
            ("1_ok.sql", b"CREATE TABLE ok (x int);\n"),
            (
                "2_bad.sql",
                b"CREATE TABLE half (x int);\n\nINSERT INTO no_such_table VALUES (1);\n",
            ),
        ],
    );
    let bindir = folder(d, "empty-bindir", &[]);
    let not_a_folder = d.join("a-file");
    std::fs::write(&not_a_folder, "x").unwrap();
    let under_a_file = not_a_folder.join("reports").display().to_string();
    let disk = SmallDisk::mount();
    let closed = format!("postgres://postgres@127.0.0.1:{}/postgres", closed_port());
    let wrong_password = url(&with_password.name, &format!(" password={secret}"));
    let missing_db = runner_url.replace("dbname=postgres", "dbname=loadtest_no_such_db");
    let no_createdb_url = url(&no_createdb.name, "");

    use Target::*;
    let tr = "token-race";
    let mut cases = vec![
        // A rollout under live load.
        case(
            "unknown --rollout version",
            &["run", tr, "--rollout", "20990101000000"],
            Tripwire,
            2,
            &[
                "--rollout 20990101000000",
                "versions there",
                "20251117000002",
            ],
        ),
        case(
            "--rollout on an index benchmark",
            &["run", "join-bench", "--rollout", "20251117000004"],
            Tripwire,
            2,
            &[
                "--rollout applies to race and rollout scenarios",
                "index benchmark",
            ],
        ),
        case(
            "--settle without --rollout",
            &["run", tr, "--settle", "2s"],
            Tripwire,
            2,
            &["--settle applies with --rollout"],
        ),
        case(
            "--ops with --rollout",
            &["run", "rollout", "--ops", "100"],
            Tripwire,
            2,
            &["--ops does not apply to a rollout"],
        ),
        case(
            "--client with --rollout",
            &["run", "rollout", "--client", "driver"],
            Tripwire,
            2,
            &["--client does not apply to a rollout"],
        ),
        case(
            "--client on an index benchmark",
            &["run", "join-bench", "--client", "driver"],
            Tripwire,
            2,
            &["--client"],
        ),
        case(
            "an unknown --client",
            &["run", tr, "--client", "fast"],
            Tripwire,
            2,
            &["'fast'", "--client"],
        ),
        // The scenario.
        case(
            "unknown scenario",
            &["run", "no-such-scenario"],
            Tripwire,
            2,
            &["unknown scenario 'no-such-scenario'", "loadtest list"],
        ),
        case(
            "TOML syntax error",
            &["run", &syntax],
            Tripwire,
            2,
            &["syntax.toml:1:6"],
        ),
        case(
            "missing key",
            &["run", &missing_key],
            Tripwire,
            2,
            &["missing-key.toml", "missing field `table`"],
        ),
        case(
            "wrong type",
            &["run", &wrong_type],
            Tripwire,
            2,
            &["wrong-type.toml:7:8: invalid type"],
        ),
        case(
            "unknown path kind",
            &["run", &unknown_kind],
            Tripwire,
            2,
            &[
                "unknown-kind.toml",
                "unknown variant `stored-procedure`, expected",
            ],
        ),
        case(
            "SQL that does not parse",
            &["run", &bad_sql],
            Runner,
            2,
            &["bad-sql.toml", "path 'rpc': the SQL does not prepare"],
        ),
        case(
            "SQL naming no function",
            &["run", &no_function],
            Runner,
            2,
            &["no-such-function.toml", "42883"],
        ),
        case(
            "SQL with the wrong arity",
            &["run", &arity],
            Runner,
            2,
            &["wrong-arity.toml", "takes 1 parameters"],
        ),
        // Numbers and units.
        case(
            "--ops 0",
            &["run", tr, "--ops", "0"],
            Tripwire,
            2,
            &["'0' for '--ops", "from 1 to 1000000000"],
        ),
        case(
            "negative --ops",
            &["run", tr, "--ops", "-5"],
            Tripwire,
            2,
            &["'-5' for '--ops", "from 1 to 1000000000"],
        ),
        case(
            "absurd --ops",
            &["run", tr, "--ops", "1e12"],
            Tripwire,
            2,
            &["'1e12' for '--ops", "a whole number"],
        ),
        case(
            "--workers not a number",
            &["run", tr, "--workers", "many"],
            Tripwire,
            2,
            &["'many' for '--workers", "from 1 to 100000"],
        ),
        case(
            "absurd --connections",
            &["run", tr, "--connections", "99999"],
            Tripwire,
            2,
            &["'99999' for '--connections", "from 1 to 5000"],
        ),
        case(
            "--rate in a bad unit",
            &["run", tr, "--rate", "5000/h"],
            Tripwire,
            2,
            &["'5000/h' for '--rate", "e.g. 5000 or 5000/s"],
        ),
        case(
            "negative --rate",
            &["run", tr, "--rate", "-100"],
            Tripwire,
            2,
            &["'-100' for '--rate", "calls per second"],
        ),
        case(
            "--duration without a unit",
            &["run", tr, "--duration", "30"],
            Tripwire,
            2,
            &["'30' for '--duration", "e.g. 30s, 2m, 500ms"],
        ),
        case(
            "--duration in a bad unit",
            &["run", tr, "--duration", "5parsecs"],
            Tripwire,
            2,
            &["'5parsecs' for '--duration", "e.g. 30s, 2m, 500ms"],
        ),
        case(
            "--faults of an unknown kind",
            &["run", tr, "--faults", "explode:1s"],
            Tripwire,
            2,
            &[
                "--faults",
                "'explode' is not a fault kind: expected kill, cancel",
            ],
        ),
        case(
            "--faults with a bad interval",
            &["run", tr, "--faults", "kill:soon"],
            Tripwire,
            2,
            &["--faults", "'soon' is not an interval: expected e.g. 200ms"],
        ),
        case(
            "unknown command",
            &["frobnicate"],
            Tripwire,
            2,
            &["frobnicate", "loadtest --help"],
        ),
        // The database URL and the server behind it.
        case(
            "a URL that does not parse",
            &["run", tr, "--database-url", "postgres://x:y@[bad"],
            Own,
            2,
            &[
                "--database-url postgres://x:***@[bad",
                "expected postgres://user:password@host:port/dbname",
            ],
        ),
        case(
            "a closed port",
            &["run", tr, "--database-url", &closed],
            Own,
            3,
            &[
                &format!("cannot connect to --database-url {closed}"),
                "is the server running and listening at that host and port?",
            ],
        ),
        case(
            "no server at a socket path",
            &[
                "run",
                tr,
                "--database-url",
                "host=/nonexistent port=1 user=x dbname=y",
            ],
            Own,
            3,
            &[
                "cannot connect to --database-url host=/nonexistent",
                "is the server running",
            ],
        ),
        case(
            "a wrong password",
            &["run", tr, "--database-url", &wrong_password],
            Own,
            3,
            &["password=***", "28P01", "check the password in the URL"],
        ),
        case(
            "a database that does not exist",
            &["run", tr, "--database-url", &missing_db],
            Own,
            3,
            &[
                "dbname=loadtest_no_such_db",
                "3D000",
                "name a database that exists",
            ],
        ),
        case(
            "a role that cannot create databases",
            &["run", tr, "--database-url", &no_createdb_url],
            Own,
            3,
            &[
                &format!(
                    "the role {} may not create databases (CREATEDB) on ",
                    no_createdb.name
                ),
                &format!("`ALTER ROLE {} CREATEDB`", no_createdb.name),
            ],
        ),
        case(
            "--connections above the server's limit",
            &["run", tr, "--ops", "100", "--connections", "1000"],
            Runner,
            3,
            &[
                "--connections needs 1000 connections",
                "max_connections 400",
                "lower --connections",
            ],
        ),
        // The migrations folder.
        case(
            "a missing migrations folder",
            &["run", tr, "--migrations", "/no/such/dir"],
            Tripwire,
            2,
            &[
                "--migrations /no/such/dir: no such folder",
                "expected a folder of <version>_<name>.sql files",
            ],
        ),
        case(
            "an empty migrations folder",
            &["run", tr, "--migrations", &empty],
            Tripwire,
            2,
            &[
                &format!("--migrations {empty}: no <version>_<name>.sql files there"),
                "pass the folder that holds the migrations",
            ],
        ),
        case(
            "a migration that is not a .sql file",
            &["run", tr, "--migrations", &misnamed],
            Tripwire,
            2,
            &[
                "20251118000000_fix_rpc.sql.txt is named like a migration but is not a .sql file",
                "rename it",
            ],
        ),
        case(
            "a migration that is not text",
            &["run", tr, "--migrations", &not_text],
            Tripwire,
            2,
            &["1_binary.sql is not UTF-8 text: save it as UTF-8"],
        ),
        case(
            "a duplicate version",
            &["run", tr, "--migrations", &duplicate],
            Tripwire,
            2,
            &[
                "version 1 appears twice (1_a.sql and 1_b.sql)",
                "every file needs its own version",
            ],
        ),
        case(
            "--until an unknown version",
            &["migrate", "--until", "19990101"],
            Tripwire,
            2,
            &["--until 19990101: no migration with that version"],
        ),
        case(
            "a failing statement (run)",
            &["run", tr, "--compat", "none", "--migrations", &failing],
            Runner,
            2,
            &["2_bad.sql failed at line 3: 42P01", "rolled back"],
        ),
        case(
            "a failing statement (migrate)",
            &["migrate", "--compat", "none", "--migrations", &failing],
            Runner,
            2,
            &["2_bad.sql failed at line 3: 42P01"],
        ),
        // PostgreSQL binaries.
        case(
            "--pg-bindir an empty folder",
            &["run", tr, "--pg-bindir", &bindir],
            Embedded,
            2,
            &[
                &format!("--pg-bindir {bindir}: no initdb and postgres executables there"),
                "pg_config --bindir",
            ],
        ),
        case(
            "--pg-bindir a missing folder",
            &["run", tr, "--pg-bindir", "/no/such/dir"],
            Embedded,
            2,
            &["--pg-bindir /no/such/dir"],
        ),
        Case {
            without_postgres: true,
            ..case(
                "no PostgreSQL installed",
                &["run", tr],
                Embedded,
                3,
                &[
                    "no PostgreSQL server binaries found",
                    "apt-get install postgresql",
                    "--database-url",
                ],
            )
        },
        // The report folder.
        Case {
            report_dir: Some("/proc/loadtest-nope".into()),
            ..case(
                "a report folder that cannot be created",
                &["run", tr, "--report-dir", "/proc/loadtest-nope"],
                Tripwire,
                2,
                &[
                    "--report-dir /proc/loadtest-nope: cannot write there",
                    "pass a folder loadtest may create and write to",
                ],
            )
        },
        Case {
            report_dir: Some(under_a_file.clone().into()),
            ..case(
                "a report folder under a file",
                &["run", tr, "--report-dir", &under_a_file],
                Tripwire,
                2,
                &[&format!("--report-dir {under_a_file}: cannot write there")],
            )
        },
        Case {
            report_dir: Some("/proc/loadtest-nope".into()),
            ..case(
                "nightly's report folder",
                &["nightly", "--report-dir", "/proc/loadtest-nope"],
                Tripwire,
                2,
                &["--report-dir /proc/loadtest-nope"],
            )
        },
        // The load runs (that is the point) and the disk fills while the report is written.
        Case {
            report_dir: Some(disk.path().to_path_buf()),
            ..case(
                "a disk that fills while writing the report",
                &[
                    "run",
                    tr,
                    "--ops",
                    "300",
                    "--report-dir",
                    disk.path().to_str().unwrap(),
                ],
                Runner,
                3,
                &[
                    &format!("cannot write {}/token-race-", disk.path().display()),
                    "No space left on device",
                    "free space there, or pass --report-dir on a disk with room",
                ],
            )
        },
    ];
    assert!(cases.len() >= 25, "the issue asks for at least 25 cases");

    let owners = [&runner.name, &no_createdb.name, &with_password.name];
    for c in cases.drain(..) {
        let what = c.what;
        let scratch = tempfile::tempdir().unwrap();
        let reports = tempfile::tempdir().unwrap();
        let mut cmd = if c.without_postgres {
            let mut u = std::process::Command::new("unshare");
            u.args([
                "--mount",
                "sh",
                "-c",
                "mount -t tmpfs none /usr/lib/postgresql && exec \"$0\" \"$@\"",
                env!("CARGO_BIN_EXE_loadtest"),
            ]);
            u.env("PATH", "/usr/bin:/bin").env_remove("DATABASE_URL");
            u
        } else {
            bin()
        };
        cmd.args(&c.args).arg("--quiet");
        cmd.env("LOADTEST_SCRATCH_DIR", scratch.path());
        if c.report_dir.is_none() && c.args[0] != "migrate" {
            cmd.arg("--report-dir").arg(reports.path());
        }
        if !c.args.iter().any(|a| a == "--database-url") {
            match c.target {
                Tripwire => {
                    cmd.args(["--database-url", &tripwire_url]);
                }
                Runner => {
                    cmd.args(["--database-url", &runner_url]);
                }
                Own | Embedded => {}
            }
        }
        let out = cmd.output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(c.code), "{what}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{what}: one line: {err}");
        assert!(err.starts_with("loadtest: "), "{what}: {err}");
        for s in &c.says {
            assert!(err.contains(s.as_str()), "{what}: should say {s:?}: {err}");
        }
        assert!(
            !err.contains("panicked") && !err.contains("internal error"),
            "{what}: {err}"
        );
        assert!(
            !err.contains(secret),
            "{what}: a secret in the output: {err}"
        );
        // No report (the small disk keeps only its ballast).
        let left: Vec<_> = std::fs::read_dir(c.report_dir.as_deref().unwrap_or(reports.path()))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            left.iter().all(|n| n == "ballast"),
            "{what}: files left in the report folder: {left:?}"
        );
        // Nothing left running.
        assert_eq!(
            std::fs::read_dir(scratch.path()).unwrap().count(),
            0,
            "{what}: scratch folder left"
        );
        assert!(
            servers_mentioning(scratch.path().to_str().unwrap()).is_empty(),
            "{what}: a server left running"
        );
        // No load started: nothing reached the tripwire, no database of ours is left.
        match tripwire.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("{what}: the run connected before refusing the input: {other:?}"),
        }
        for role in owners {
            let dbs = databases_of(&admin, role).await;
            assert!(dbs.is_empty(), "{what}: databases left: {dbs:?}");
        }
    }
}
