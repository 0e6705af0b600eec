//! TLS for `--database-url`, by libpq's `sslmode`: against scratch servers of this file's own
//! that listen on loopback TCP with a certificate for `localhost` only (made at test time by
//! the `openssl` CLI, signed by a throwaway CA): one that also takes plaintext, one that takes
//! only TLS (`hostssl` lines), one that signs in by client certificate (`hostssl … cert`), and
//! one without TLS. The servers and the certificate folder go when the test binary exits.

use crate::util::*;
use loadtest::pg::binaries::Binaries;
use loadtest::pg::cluster::{ClusterOptions, RunAs, ScratchCluster};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// A server on 127.0.0.1, and the CA that signed its certificate.
struct TcpServer {
    port: u16,
    ca: PathBuf,
}

static WITH_TLS: OnceLock<TcpServer> = OnceLock::new();
static WITHOUT_TLS: OnceLock<TcpServer> = OnceLock::new();
static TLS_ONLY: OnceLock<TcpServer> = OnceLock::new();
static CERT_AUTH: OnceLock<TcpServer> = OnceLock::new();
static CERTS: OnceLock<PathBuf> = OnceLock::new();
static KEPT: Mutex<(Vec<ScratchCluster>, Option<tempfile::TempDir>)> =
    Mutex::new((Vec::new(), None));

extern "C" fn stop_servers() {
    if let Ok(mut kept) = KEPT.lock() {
        kept.0.clear();
        kept.1.take();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI");
    assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
}

/// A CA and a server certificate for DNS:localhost, readable by the server's user.
fn certificates(run_as: &Option<RunAs>) -> PathBuf {
    CERTS
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let d = dir.path();
            let ec = [
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
            ];
            let mut ca = vec![
                "req",
                "-x509",
                "-days",
                "2",
                "-subj",
                "/CN=loadtest test CA",
            ];
            ca.extend(ec);
            ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
            ca.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
            ca.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
            openssl(d, &ca);
            let mut csr = vec!["req", "-subj", "/CN=localhost"];
            csr.extend(ec);
            csr.extend(["-keyout", "server.key", "-out", "server.csr"]);
            openssl(d, &csr);
            std::fs::write(
                d.join("server.ext"),
                "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n\
                 extendedKeyUsage=serverAuth\n",
            )
            .unwrap();
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    "server.csr",
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-extfile",
                    "server.ext",
                    "-out",
                    "server.pem",
                ],
            );
            client_certificates(d);
            // PostgreSQL wants its key owned by the server's user and private to it.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(d.join("server.key"), PermissionsExt::from_mode(0o600))
                .unwrap();
            std::fs::write(
                d.join("tls-only.hba"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
            )
            .unwrap();
            std::fs::write(
                d.join("cert.hba"),
                "local all all trust\nhostssl all all 127.0.0.1/32 cert\n",
            )
            .unwrap();
            if let Some(r) = run_as {
                let shared = [
                    "server.key",
                    "server.pem",
                    "ca.pem",
                    "tls-only.hba",
                    "cert.hba",
                ];
                for p in std::iter::once(d.to_path_buf()).chain(shared.map(|f| d.join(f))) {
                    std::os::unix::fs::chown(p, Some(r.uid), Some(r.gid)).unwrap();
                }
            }
            let path = d.to_path_buf();
            KEPT.lock().unwrap().1 = Some(dir);
            path
        })
        .clone()
}

/// Client certificates for the role `postgres`, signed by the CA: `client.pem` with a PKCS#8
/// EC key (`client.key`) and the same key as SEC1 (`client-sec1.key`); `rsa.pem` with a PKCS#1
/// RSA key (`rsa.key`). Every key is private to its owner, as libpq wants.
fn client_certificates(d: &Path) {
    std::fs::write(
        d.join("client.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    let sign = |csr: &str, out: &str| {
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-days",
                "2",
                "-extfile",
                "client.ext",
                "-out",
                out,
            ],
        )
    };
    openssl(
        d,
        &[
            "req",
            "-subj",
            "/CN=postgres",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "client.key",
            "-out",
            "client.csr",
        ],
    );
    sign("client.csr", "client.pem");
    openssl(d, &["ec", "-in", "client.key", "-out", "client-sec1.key"]);
    openssl(d, &["genrsa", "-traditional", "-out", "rsa.key", "2048"]);
    openssl(
        d,
        &[
            "req",
            "-new",
            "-subj",
            "/CN=postgres",
            "-key",
            "rsa.key",
            "-out",
            "rsa.csr",
        ],
    );
    sign("rsa.csr", "rsa.pem");
    for key in ["client.key", "client-sec1.key", "rsa.key"] {
        let text = std::fs::read_to_string(d.join(key)).unwrap();
        let label = match key {
            "client.key" => "-----BEGIN PRIVATE KEY-----",
            "client-sec1.key" => "-----BEGIN EC PRIVATE KEY-----",
            _ => "-----BEGIN RSA PRIVATE KEY-----",
        };
        assert!(text.starts_with(label), "{key}: {text}");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join(key), PermissionsExt::from_mode(0o600)).unwrap();
    }
}

/// How a test server takes connections over TCP.
#[derive(Clone, Copy)]
enum Hba {
    /// initdb's: plaintext or TLS.
    Any,
    /// Only `hostssl` lines: plaintext is refused (28000).
    TlsOnly,
    /// `hostssl … cert`: a client certificate signed by the CA names the role.
    Cert,
}

/// Starts a scratch cluster on 127.0.0.1 at a free port, with TLS on or off.
fn start(tls: bool) -> TcpServer {
    start_with(tls, Hba::Any)
}

fn start_with(tls: bool, hba: Hba) -> TcpServer {
    let run_as = RunAs::resolve("postgres").expect("a postgres system user");
    let certs = certificates(&run_as);
    let ca = certs.join("ca.pem");
    let (tx, rx) = std::sync::mpsc::channel();
    // As in util::shared: the keeper thread never ends, so the server's parent-death signal
    // only fires when the whole test process dies.
    std::thread::spawn(move || {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let file = |name: &str| certs.join(name).display().to_string();
        let mut settings = vec![
            ("listen_addresses", "127.0.0.1".to_string()),
            ("port", port.to_string()),
            ("ssl", if tls { "on" } else { "off" }.to_string()),
            ("ssl_cert_file", file("server.pem")),
            ("ssl_key_file", file("server.key")),
        ];
        match hba {
            Hba::Any => {}
            Hba::TlsOnly => settings.push(("hba_file", file("tls-only.hba"))),
            Hba::Cert => {
                settings.push(("hba_file", file("cert.hba")));
                settings.push(("ssl_ca_file", file("ca.pem")));
            }
        }
        let opts = ClusterOptions {
            binaries: Binaries::find(None).expect("PostgreSQL binaries for the tests"),
            run_as,
            max_connections: 200,
            settings: settings
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            cache_root: loadtest::pg::template::cache_root(),
            tie_to_thread: true,
        };
        let cluster = ScratchCluster::start(&opts).expect("the TLS test cluster starts");
        {
            let mut kept = KEPT.lock().unwrap();
            if kept.0.is_empty() {
                unsafe { libc::atexit(stop_servers) };
            }
            kept.0.push(cluster);
        }
        tx.send(port).unwrap();
        loop {
            std::thread::park();
        }
    });
    let port = rx.recv().expect("the TLS test cluster started");
    TcpServer { port, ca }
}

fn with_tls() -> &'static TcpServer {
    WITH_TLS.get_or_init(|| start(true))
}

fn without_tls() -> &'static TcpServer {
    WITHOUT_TLS.get_or_init(|| start(false))
}

fn tls_only() -> &'static TcpServer {
    TLS_ONLY.get_or_init(|| start_with(true, Hba::TlsOnly))
}

fn cert_auth() -> &'static TcpServer {
    CERT_AUTH.get_or_init(|| start_with(true, Hba::Cert))
}

/// `loadtest run token-race --ops 1000` on `url`: exit code, stderr, the JSON report if any.
fn race(url: &str) -> (Option<i32>, String, Option<serde_json::Value>) {
    race_with(url, "1000", &[])
}

/// `loadtest run token-race --ops OPS` on `url` with `env` set, and no client certificate
/// unless `env` gives one: `HOME` is an empty folder unless `env` sets it, and `PGSSLCERT` and
/// `PGSSLKEY` are unset.
fn race_with(
    url: &str,
    ops: &str,
    env: &[(&str, &Path)],
) -> (Option<i32>, String, Option<serde_json::Value>) {
    let reports = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.env_remove("PGSSLCERT")
        .env_remove("PGSSLKEY")
        .env("HOME", home.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd
        .args([
            "run",
            "token-race",
            "--ops",
            ops,
            // A connection per worker: a plaintext session's socket is then lent to its worker
            // (`client: socket`), an encrypted one's never.
            "--workers",
            "4",
            "--connections",
            "4",
            "--quiet",
            "--database-url",
            url,
        ])
        .args(["--report-dir", reports.path().to_str().unwrap()])
        .output()
        .expect("run loadtest");
    let has_report = std::fs::read_dir(reports.path()).unwrap().count() > 0;
    (
        out.status.code(),
        stderr(&out),
        has_report.then(|| report(reports.path())),
    )
}

#[test]
fn require_encrypts_without_checking_the_certificate() {
    let s = with_tls();
    let url = format!(
        "postgresql://postgres@localhost:{}/postgres?sslmode=require",
        s.port
    );
    let (code, err, r) = race(&url);
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    super::schema::assert_valid("a report over TLS", &r);
    let tls = &r["database"]["tls"];
    assert!(tls["version"].as_str().unwrap().starts_with("TLS"), "{tls}");
    assert!(!tls["cipher"].as_str().unwrap().is_empty(), "{tls}");
    assert_eq!(tls["verified"], "none");
    for p in r["paths"].as_array().unwrap() {
        assert_eq!(p["client"], "driver", "an encrypted socket was lent: {p}");
    }
}

/// `sslmode=prefer` on a server without TLS: the driver asked, the server said no, and the
/// plaintext sockets are lent to the workers.
#[test]
fn prefer_on_a_server_without_tls_lends_the_plaintext_sockets() {
    let s = without_tls();
    let url = format!(
        "postgresql://postgres@localhost:{}/postgres?sslmode=prefer",
        s.port
    );
    let (code, err, r) = race(&url);
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    assert!(r["database"]["tls"].is_null());
    for p in r["paths"].as_array().unwrap() {
        assert_eq!(p["client"], "socket", "{p}");
    }
    assert_eq!(path(&r, "rpc")["lost_updates"], 0);
    assert!(path(&r, "fallback")["lost_updates"].as_u64().unwrap() > 0);
}

#[test]
fn verify_full_checks_the_chain_and_the_host_name() {
    let s = with_tls();
    let url = format!(
        "postgresql://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
        s.port,
        s.ca.display()
    );
    let (code, err, r) = race(&url);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(r.unwrap()["database"]["tls"]["verified"], "full");
}

#[test]
fn verify_full_refuses_a_host_the_certificate_does_not_name() {
    let s = with_tls();
    let url = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=verify-full sslrootcert={}",
        s.port,
        s.ca.display()
    );
    let (code, err, r) = race(&url);
    assert_eq!(code, Some(3), "{err}");
    assert!(r.is_none());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains(
            "the server's certificate is not valid for 127.0.0.1 (it names localhost): connect \
             by a name in the certificate, or use sslmode=verify-ca"
        ),
        "{err}"
    );
}

#[test]
fn verify_ca_checks_the_chain_but_not_the_host_name() {
    let s = with_tls();
    let url = format!(
        "postgresql://postgres@127.0.0.1:{}/postgres?sslmode=verify-ca&sslrootcert={}",
        s.port,
        s.ca.display()
    );
    let (code, err, r) = race(&url);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(r.unwrap()["database"]["tls"]["verified"], "ca");
    // Without the CA the system roots do not know it.
    let url = format!(
        "postgresql://postgres@localhost:{}/postgres?sslmode=verify-ca",
        s.port
    );
    let (code, err, _) = race(&url);
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("not signed by a trusted CA") || err.contains("no system root"),
        "{err}"
    );
}

#[test]
fn require_fails_on_a_server_without_tls() {
    let s = without_tls();
    let url = format!(
        "postgresql://postgres@localhost:{}/postgres?sslmode=require",
        s.port
    );
    let (code, err, _) = race(&url);
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("the server does not accept TLS (sslmode=require)"),
        "{err}"
    );
}

#[test]
fn disable_stays_plaintext_and_the_report_says_so() {
    let s = with_tls();
    let url = format!(
        "postgresql://postgres@localhost:{}/postgres?sslmode=disable",
        s.port
    );
    let (code, err, r) = race(&url);
    assert_eq!(code, Some(0), "{err}");
    assert!(r.unwrap()["database"]["tls"].is_null());
}

/// A file of the certificate folder.
fn file(name: &str) -> PathBuf {
    certificates(&RunAs::resolve("postgres").expect("a postgres system user")).join(name)
}

/// verify-full to the client-certificate server as `postgres`, with `extra` query parameters.
fn cert_url(extra: &str) -> String {
    let s = cert_auth();
    format!(
        "postgresql://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}{extra}",
        s.port,
        s.ca.display()
    )
}

#[test]
fn a_client_certificate_signs_in_where_the_server_demands_one() {
    let url = cert_url(&format!(
        "&sslcert={}&sslkey={}",
        file("client.pem").display(),
        file("client.key").display()
    ));
    let (code, err, r) = race_with(&url, "300", &[]);
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    super::schema::assert_valid("a report with a client certificate", &r);
    assert_eq!(r["verdict"], "pass");
    let tls = &r["database"]["tls"];
    assert_eq!(tls["verified"], "full", "{tls}");
    assert_eq!(tls["client_cert"], true, "{tls}");

    // Without one, the server refuses: one line, exit 3, no report.
    let (code, err, r) = race_with(&cert_url(""), "300", &[]);
    assert_eq!(code, Some(3), "{err}");
    assert!(r.is_none());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains(
            "connection requires a valid client certificate (SQLSTATE 28000): if the server \
             signs in by client certificate, pass sslcert="
        ),
        "{err}"
    );
}

#[test]
fn the_client_certificate_comes_from_the_environment_or_home_as_in_libpq() {
    // PGSSLCERT and PGSSLKEY, the key in SEC1 form.
    let (code, err, r) = race_with(
        &cert_url(""),
        "300",
        &[
            ("PGSSLCERT", &file("client.pem")),
            ("PGSSLKEY", &file("client-sec1.key")),
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(r.unwrap()["database"]["tls"]["client_cert"], true);

    // ~/.postgresql/postgresql.crt and .key, an RSA certificate with a PKCS#1 key.
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(".postgresql");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(file("rsa.pem"), dir.join("postgresql.crt")).unwrap();
    std::fs::copy(file("rsa.key"), dir.join("postgresql.key")).unwrap();
    let (code, err, r) = race_with(&cert_url(""), "300", &[("HOME", home.path())]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(r.unwrap()["database"]["tls"]["client_cert"], true);

    // The same home, but a server that asks for no certificate: none is sent.
    let s = with_tls();
    let url = format!(
        "postgresql://postgres@localhost:{}/postgres?sslmode=require",
        s.port
    );
    let (code, err, r) = race_with(&url, "300", &[("HOME", home.path())]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(r.unwrap()["database"]["tls"]["client_cert"], false);
}

#[test]
fn unusable_client_certificate_files_are_named_before_connecting() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let open_key = dir.path().join("open.key");
    std::fs::copy(file("client.key"), &open_key).unwrap();
    std::fs::set_permissions(&open_key, PermissionsExt::from_mode(0o644)).unwrap();
    let missing = dir.path().join("missing.pem");
    let cases = [
        (
            file("client.pem"),
            open_key.clone(),
            format!(
                "sslkey {}: private key file has group or world access; permissions should be \
                 u=rw (0600) or less: chmod 600 {}",
                open_key.display(),
                open_key.display()
            ),
        ),
        (
            missing.clone(),
            file("client.key"),
            format!("sslcert {}: cannot read it:", missing.display()),
        ),
        (
            file("client.pem"),
            file("rsa.key"),
            format!(
                "sslcert {} and sslkey {} do not go together: the key is not the certificate's",
                file("client.pem").display(),
                file("rsa.key").display()
            ),
        ),
    ];
    for (cert, key, expected) in cases {
        let url = cert_url(&format!(
            "&sslcert={}&sslkey={}",
            cert.display(),
            key.display()
        ));
        let (code, err, r) = race_with(&url, "300", &[]);
        assert_eq!(code, Some(2), "{err}");
        assert!(r.is_none());
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(&expected), "expected {expected}\n got {err}");
    }
}

#[test]
fn allow_uses_tls_only_when_the_server_refuses_plaintext() {
    let url = |port: u16| format!("postgresql://postgres@localhost:{port}/postgres?sslmode=allow");
    // Only hostssl lines: the plaintext attempt gets 28000, the second one is encrypted.
    let (code, err, r) = race_with(&url(tls_only().port), "300", &[]);
    assert_eq!(code, Some(0), "{err}");
    let r = r.unwrap();
    super::schema::assert_valid("a report with sslmode=allow", &r);
    let tls = &r["database"]["tls"];
    assert!(tls["version"].as_str().unwrap().starts_with("TLS"), "{tls}");
    assert_eq!(tls["verified"], "none");
    // A server that takes plaintext gets plaintext, TLS or not.
    for s in [with_tls(), without_tls()] {
        let (code, err, r) = race_with(&url(s.port), "300", &[]);
        assert_eq!(code, Some(0), "{err}");
        assert!(r.unwrap()["database"]["tls"].is_null());
    }
    // Where TLS is refused too (the server wants a client certificate), that is the one line.
    let (code, err, _) = race_with(&url(cert_auth().port), "300", &[]);
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
