//! TLS for `--database-url`, by libpq's `sslmode`: against a scratch server of this file's own
//! that listens on loopback TCP with a certificate for `localhost` only (made at test time by
//! the `openssl` CLI, signed by a throwaway CA), and one on loopback without TLS. Both servers
//! and the certificate folder go when the test binary exits.

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
            // PostgreSQL wants its key owned by the server's user and private to it.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(d.join("server.key"), PermissionsExt::from_mode(0o600))
                .unwrap();
            if let Some(r) = run_as {
                for p in [d.to_path_buf(), d.join("server.key"), d.join("server.pem")] {
                    std::os::unix::fs::chown(p, Some(r.uid), Some(r.gid)).unwrap();
                }
            }
            let path = d.to_path_buf();
            KEPT.lock().unwrap().1 = Some(dir);
            path
        })
        .clone()
}

/// Starts a scratch cluster on 127.0.0.1 at a free port, with TLS on or off.
fn start(tls: bool) -> TcpServer {
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
        let settings = [
            ("listen_addresses", "127.0.0.1".to_string()),
            ("port", port.to_string()),
            ("ssl", if tls { "on" } else { "off" }.to_string()),
            ("ssl_cert_file", file("server.pem")),
            ("ssl_key_file", file("server.key")),
        ];
        let opts = ClusterOptions {
            binaries: Binaries::find(None).expect("PostgreSQL binaries for the tests"),
            run_as,
            max_connections: 200,
            settings: settings.map(|(k, v)| (k.to_string(), v)).to_vec(),
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

/// `loadtest run token-race --ops 1000` on `url`: exit code, stderr, the JSON report if any.
fn race(url: &str) -> (Option<i32>, String, Option<serde_json::Value>) {
    let reports = tempfile::tempdir().unwrap();
    let out = run(&[
        "run",
        "token-race",
        "--ops",
        "1000",
        "--quiet",
        "--database-url",
        url,
        "--report-dir",
        reports.path().to_str().unwrap(),
    ]);
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
