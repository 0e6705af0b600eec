//! A private, throwaway PostgreSQL cluster: an RAII handle whose `Drop` stops the server and
//! deletes its folder (the pgtemp pattern).
//!
//! Why it looks the way it does:
//! - the server listens only on a unix socket inside its own temp folder: no port clash, no
//!   network exposure, and about 30% more throughput than loopback TCP;
//! - it runs in its own process group, so a terminal's Ctrl-C reaches loadtest only, which then
//!   stops the server in order instead of having it die under the running workload;
//! - as a last resort against `kill -9` of loadtest, the server gets SIGINT when the thread that
//!   started it dies (`PR_SET_PDEATHSIG`), and the next run sweeps folders whose owner is gone;
//! - PostgreSQL refuses to run as root, so when loadtest is root the server runs as another
//!   system user (default `postgres`) who owns the folder.

use super::binaries::Binaries;
use super::template;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The fixed port number; it only names the socket file, since the server listens on no TCP port.
pub const PORT: u16 = 5432;
const SUPERUSER: &str = "postgres";
const OWNER_MARKER: &str = "loadtest.pid";
const KEEP_MARKER: &str = "loadtest.keep";
const LOG: &str = "postgres.log";

/// The system user the server runs as when loadtest runs as root.
#[derive(Debug, Clone)]
pub struct RunAs {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl RunAs {
    /// Resolves who the server runs as: nobody else unless loadtest is root, then `user`.
    pub fn resolve(user: &str) -> Result<Option<RunAs>, RunAsError> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(None);
        }
        match nix::unistd::User::from_name(user) {
            Ok(Some(u)) => Ok(Some(RunAs {
                name: user.to_string(),
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
            })),
            Ok(None) => Err(RunAsError::NoSuchUser {
                user: user.to_string(),
            }),
            Err(source) => Err(RunAsError::Lookup {
                user: user.to_string(),
                source,
            }),
        }
    }
}

/// Why loadtest, running as root, has nobody to run the server as. The machine's user database
/// has to change (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum RunAsError {
    #[error(
        "loadtest runs as root and PostgreSQL refuses to run as root, but there is no system \
            user '{user}' to run it as: create one (useradd --system {user}) or pass --pg-user NAME"
    )]
    NoSuchUser { user: String },
    #[error(
        "loadtest runs as root and PostgreSQL refuses to run as root, but looking up the system \
            user '{user}' to run it as failed: {source}"
    )]
    Lookup {
        user: String,
        source: nix::errno::Errno,
    },
}

/// How to start a scratch cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub binaries: Binaries,
    pub run_as: Option<RunAs>,
    pub max_connections: u32,
    /// Extra `-c name=value` server settings.
    pub settings: Vec<(String, String)>,
    /// Where initdb'd templates are cached; `None` disables the cache.
    pub cache_root: Option<PathBuf>,
    /// Stop the server when the starting thread dies. Off for `--keep`, whose server outlives us.
    pub tie_to_thread: bool,
}

/// How the start went, for the README's cold/warm figures and the report.
#[derive(Debug, Clone, Copy)]
pub struct StartInfo {
    pub from_template: bool,
    pub duration: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot prepare the scratch cluster folder {}: {source}", path.display())]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("initdb failed: {0}")]
    Initdb(String),
    #[error("cannot start {}: {source}", path.display())]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the scratch PostgreSQL server did not start: {0}")]
    Start(String),
}

/// A running scratch cluster. Dropping it stops the server and removes its folder unless kept.
pub struct ScratchCluster {
    /// The postmaster; shared with the [`Restarter`], which replaces it after a crash.
    child: Arc<Mutex<Option<Child>>>,
    /// How it was started, for a restart.
    opts: ClusterOptions,
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    run_as: Option<RunAs>,
    pg_ctl: PathBuf,
    pub info: StartInfo,
}

impl ScratchCluster {
    /// initdb (or copy the cached template), start the server and wait until it accepts
    /// connections. Blocking: call it from the thread that should own the server.
    pub fn start(opts: &ClusterOptions) -> Result<ScratchCluster, ClusterError> {
        let began = Instant::now();
        let root = scratch_root();
        sweep_orphans(&root);
        let dir = tempfile::Builder::new()
            .prefix("loadtest-")
            .tempdir_in(&root)
            .map_err(|source| ClusterError::Folder { path: root, source })?;
        let path = dir.path().to_path_buf();
        let folder_err = |source| ClusterError::Folder {
            path: path.clone(),
            source,
        };
        std::fs::write(path.join(OWNER_MARKER), std::process::id().to_string())
            .map_err(folder_err)?;
        let owner = opts.run_as.as_ref().map(|r| (r.uid, r.gid));
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).map_err(folder_err)?;
        }
        let data = path.join("data");
        let template = opts.cache_root.as_ref().map(|root| {
            template::template_dir(root, &opts.binaries.bindir, &opts.binaries.version)
        });
        let from_template = match &template {
            Some(t) if t.join("PG_VERSION").is_file() => {
                template::copy_tree(t, &data, owner).is_ok()
            }
            _ => false,
        };
        if !from_template {
            if data.exists() {
                let _ = std::fs::remove_dir_all(&data);
            }
            initdb(opts, &data)?;
            if let Some(t) = &template {
                // Best effort: a read-only cache only costs the next run an initdb.
                let _ = template::store(&data, t);
            }
        }
        let mut cluster = ScratchCluster {
            child: Arc::default(),
            opts: opts.clone(),
            dir: Some(dir),
            path,
            run_as: opts.run_as.clone(),
            pg_ctl: opts.binaries.bindir.join("pg_ctl"),
            info: StartInfo {
                from_template,
                duration: Duration::ZERO,
            },
        };
        let child = spawn(&cluster.path, opts, cluster.run_as.as_ref())?;
        *lock(&cluster.child) = Some(child);
        wait_ready(&cluster.path, &cluster.child)?;
        cluster.info.duration = began.elapsed();
        Ok(cluster)
    }

    /// The folder holding the data directory, the socket and the server log.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn log_path(&self) -> PathBuf {
        self.path.join(LOG)
    }

    /// The server's crash-and-restart, for `--faults restart:once`.
    pub fn restarter(&self) -> Restarter {
        let mut opts = self.opts.clone();
        // The restarted server is started from whichever thread restarts it, which may end
        // before the run does: it is stopped by this handle's Drop instead.
        opts.tie_to_thread = false;
        Restarter {
            child: self.child.clone(),
            path: self.path.clone(),
            opts,
        }
    }

    /// Connection settings for a database of this cluster (over the unix socket).
    pub fn config(&self, dbname: &str) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host_path(&self.path)
            .port(PORT)
            .user(SUPERUSER)
            .dbname(dbname)
            .application_name("loadtest");
        c
    }

    /// The psql command line that connects to this cluster.
    pub fn psql_command(&self, dbname: &str) -> String {
        format!(
            "psql -h {} -p {PORT} -U {SUPERUSER} -d {dbname}",
            self.path.display()
        )
    }

    /// Leaves the server running and its folder in place; returns how to stop it.
    pub fn keep(mut self) -> String {
        let _ = std::fs::write(self.path.join(KEEP_MARKER), b"kept by --keep\n");
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
        *lock(&self.child) = None;
        let stop = format!(
            "{} -D {} stop && rm -rf {}",
            self.pg_ctl.display(),
            self.path.join("data").display(),
            self.path.display()
        );
        match &self.run_as {
            Some(r) => format!("su {} -c '{stop}'", r.name),
            None => stop,
        }
    }

    /// Fast shutdown (SIGINT), escalating to SIGKILL after 10 s; then the folder goes.
    fn stop(&mut self) {
        if let Some(child) = lock(&self.child).take() {
            end(child, nix::sys::signal::Signal::SIGINT);
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

/// Sends `signal` to the postmaster and waits for it to exit, escalating to SIGKILL of its
/// whole process group (backends included) after 10 s.
fn end(mut child: Child, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let _ = nix::sys::signal::kill(pid, signal);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => break,
            Ok(None) if Instant::now() > deadline => {
                let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// The slot's lock; a panic while it was held leaves a child handle that is still right.
fn lock(slot: &Mutex<Option<Child>>) -> std::sync::MutexGuard<'_, Option<Child>> {
    slot.lock().unwrap_or_else(|e| e.into_inner())
}

/// The last lines of the server log, for an error message.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path.join(LOG)).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join(" | ");
    if tail.is_empty() {
        "(the server log is empty)".into()
    } else {
        tail
    }
}

/// Crashes and restarts a scratch cluster's server (`--faults restart:once`), sharing the
/// cluster's postmaster slot so that the cluster's Drop stops the new one.
pub struct Restarter {
    child: Arc<Mutex<Option<Child>>>,
    path: PathBuf,
    opts: ClusterOptions,
}

impl Restarter {
    /// Immediate-mode stop (SIGQUIT: no checkpoint, crash recovery at the next start, as after
    /// a power cut), then a start; blocks until the server accepts connections again.
    pub fn crash_restart(&self) -> Result<(), ClusterError> {
        let mut slot = lock(&self.child);
        let Some(old) = slot.take() else {
            return Err(ClusterError::Start("the server is not running".into()));
        };
        end(old, nix::sys::signal::Signal::SIGQUIT);
        // The old postmaster is gone: its pid file, if it left one, would pass for "ready".
        let _ = std::fs::remove_file(self.path.join("data").join("postmaster.pid"));
        // The crashed postmaster leaves its pid file; the new one checks that pid is gone.
        *slot = Some(spawn(&self.path, &self.opts, self.opts.run_as.as_ref())?);
        drop(slot);
        wait_ready(&self.path, &self.child)
    }
}

impl Drop for ScratchCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn(
    path: &Path,
    opts: &ClusterOptions,
    run_as: Option<&RunAs>,
) -> Result<Child, ClusterError> {
    use std::os::unix::process::CommandExt;
    let log = std::fs::File::create(path.join(LOG)).map_err(|source| ClusterError::Folder {
        path: path.join(LOG),
        source,
    })?;
    let mut cmd = Command::new(opts.binaries.postgres());
    cmd.arg("-D")
        .arg(path.join("data"))
        .arg("-k")
        .arg(path)
        .arg("-p")
        .arg(PORT.to_string());
    let fixed = [
        ("listen_addresses", String::new()),
        ("fsync", "off".into()),
        ("synchronous_commit", "off".into()),
        ("full_page_writes", "off".into()),
        ("max_connections", opts.max_connections.to_string()),
        ("logging_collector", "off".into()),
    ];
    let extra = opts.settings.iter().map(|(k, v)| (k.as_str(), v.clone()));
    for (k, v) in fixed.into_iter().chain(extra) {
        cmd.arg("-c").arg(format!("{k}={v}"));
    }
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|source| ClusterError::Folder {
            path: path.join(LOG),
            source,
        })?)
        .stderr(log)
        .env("LC_ALL", "C")
        .process_group(0);
    if let Some(r) = run_as {
        cmd.uid(r.uid).gid(r.gid);
    }
    if opts.tie_to_thread {
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let child = cmd.spawn().map_err(|source| ClusterError::Spawn {
        path: opts.binaries.postgres(),
        source,
    })?;
    Ok(child)
}

/// Waits for `postmaster.pid` to say `ready` (PostgreSQL 10+ writes the state on line 8).
fn wait_ready(path: &Path, slot: &Mutex<Option<Child>>) -> Result<(), ClusterError> {
    let pidfile = path.join("data").join("postmaster.pid");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(&pidfile)
            && text.lines().nth(7).map(str::trim) == Some("ready")
        {
            return Ok(());
        }
        let mut child = lock(slot);
        if let Some(c) = child.as_mut()
            && let Ok(Some(status)) = c.try_wait()
        {
            *child = None;
            return Err(ClusterError::Start(format!(
                "postgres exited with {status}: {}",
                log_tail(path)
            )));
        }
        if Instant::now() > deadline {
            return Err(ClusterError::Start(format!(
                "not ready after 60 s: {}",
                log_tail(path)
            )));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn initdb(opts: &ClusterOptions, data: &Path) -> Result<(), ClusterError> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(opts.binaries.initdb());
    cmd.arg("-D")
        .arg(data)
        .args(template::INITDB_ARGS)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    if let Some(r) = &opts.run_as {
        cmd.uid(r.uid).gid(r.gid);
    }
    let out = cmd.output().map_err(|source| ClusterError::Spawn {
        path: opts.binaries.initdb(),
        source,
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(ClusterError::Initdb(format!(
            "{} ({})",
            last.trim(),
            out.status
        )));
    }
    Ok(())
}

/// Where scratch clusters live: `LOADTEST_SCRATCH_DIR`, else `/dev/shm` when it is a writable
/// RAM disk (initdb there takes half the time it takes on disk here, and the data is throwaway),
/// else the system temp folder.
pub fn scratch_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("LOADTEST_SCRATCH_DIR") {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    if nix::unistd::access(
        shm,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    )
    .is_ok()
    {
        return shm.to_path_buf();
    }
    std::env::temp_dir()
}

/// Removes scratch folders left by runs that were killed with SIGKILL: folders with our owner
/// marker whose owner process and server are both gone, and that were not kept on purpose.
pub fn sweep_orphans(tmp: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_name().to_string_lossy().starts_with("loadtest-")
            || path.join(KEEP_MARKER).exists()
        {
            continue;
        }
        let Some(owner) = read_pid(&path.join(OWNER_MARKER)) else {
            continue;
        };
        let server = read_pid(&path.join("data").join("postmaster.pid"));
        if !alive(owner) && !server.is_some_and(alive) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

fn alive(pid: i32) -> bool {
    // Signal 0 checks existence; EPERM means it exists but belongs to someone else.
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(e) => e == nix::errno::Errno::EPERM,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_removes_only_orphans() {
        let tmp = tempfile::tempdir().unwrap();
        let orphan = tmp.path().join("loadtest-orphan");
        let live = tmp.path().join("loadtest-live");
        let kept = tmp.path().join("loadtest-kept");
        let foreign = tmp.path().join("loadtest-foreign");
        for d in [&orphan, &live, &kept, &foreign] {
            std::fs::create_dir(d).unwrap();
        }
        // pid 0x7ffffff0 does not exist on any normal system
        std::fs::write(orphan.join(OWNER_MARKER), "2147483632").unwrap();
        std::fs::write(live.join(OWNER_MARKER), std::process::id().to_string()).unwrap();
        std::fs::write(kept.join(OWNER_MARKER), "2147483632").unwrap();
        std::fs::write(kept.join(KEEP_MARKER), "").unwrap();
        sweep_orphans(tmp.path());
        assert!(!orphan.exists());
        assert!(live.exists() && kept.exists() && foreign.exists());
    }

    #[test]
    fn a_missing_system_user_is_named_with_the_fix() {
        let msg = RunAsError::NoSuchUser {
            user: "pgrunner".into(),
        }
        .to_string();
        assert!(msg.contains("no system user 'pgrunner'"), "{msg}");
        assert!(msg.contains("useradd --system pgrunner"), "{msg}");
        assert!(msg.contains("--pg-user NAME"), "{msg}");
    }
}
