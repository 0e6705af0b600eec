//! Finds the PostgreSQL server binaries (`initdb`, `postgres`) for the embedded scratch cluster.
//!
//! Search order: `--pg-bindir`, then `PATH`, then `pg_config --bindir`, then the newest
//! `/usr/lib/postgresql/<version>/bin` (Debian and Ubuntu keep the server off `PATH`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The message users see when no server binaries exist and no `--database-url` was given.
pub const INSTALL_HINT: &str = "no PostgreSQL server binaries found (initdb, postgres): install them \
(Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql), pass --pg-bindir DIR, \
or pass --database-url URL to use a running server";

/// Why no server binaries could be used. Who has to act depends on the variant: a wrong
/// `--pg-bindir` is the user's input, an empty machine is the environment.
#[derive(Debug, thiserror::Error)]
pub enum BinariesError {
    /// The folder given with `--pg-bindir` holds no usable `initdb` and `postgres`.
    #[error(
        "--pg-bindir {}: no initdb and postgres executables there (pass the folder that holds \
            both, as printed by `pg_config --bindir`, or leave --pg-bindir out to search for them)",
        dir.display()
    )]
    NotInBindir { dir: PathBuf },
    /// Nothing on `PATH`, from `pg_config`, or under `/usr/lib/postgresql`.
    #[error("{}", INSTALL_HINT)]
    NotInstalled,
}

impl BinariesError {
    /// True when the user fixes it by changing a flag (exit 2), false when PostgreSQL has to be
    /// installed (exit 3).
    pub fn is_input_error(&self) -> bool {
        matches!(self, BinariesError::NotInBindir { .. })
    }
}

/// The server binaries of one PostgreSQL installation.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub bindir: PathBuf,
    /// Output of `postgres --version`, e.g. `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`.
    pub version: String,
}

impl Binaries {
    pub fn initdb(&self) -> PathBuf {
        self.bindir.join("initdb")
    }
    pub fn postgres(&self) -> PathBuf {
        self.bindir.join("postgres")
    }

    /// Locates the binaries, or explains what to install.
    pub fn find(explicit: Option<&Path>) -> Result<Binaries, BinariesError> {
        if let Some(dir) = explicit {
            return Self::in_dir(dir).ok_or_else(|| BinariesError::NotInBindir {
                dir: dir.to_path_buf(),
            });
        }
        candidates()
            .into_iter()
            .find_map(|dir| Self::in_dir(&dir))
            .ok_or(BinariesError::NotInstalled)
    }

    fn in_dir(dir: &Path) -> Option<Binaries> {
        let postgres = dir.join("postgres");
        if !is_executable(&dir.join("initdb")) || !is_executable(&postgres) {
            return None;
        }
        let out = Command::new(&postgres).arg("--version").output().ok()?;
        if !out.status.success() {
            return None;
        }
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        // Resolve symlinks (/usr/local/bin/postgres -> /usr/lib/postgresql/15/bin/postgres) so the
        // server finds its share/ and lib/ folders relative to the real binary.
        let bindir = std::fs::canonicalize(&postgres)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| dir.to_path_buf());
        Some(Binaries { bindir, version })
    }
}

fn candidates() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        dirs.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    dirs.extend(debian_bindirs(Path::new("/usr/lib/postgresql")));
    dirs
}

/// `/usr/lib/postgresql/<version>/bin`, newest version first.
fn debian_bindirs(root: &Path) -> Vec<PathBuf> {
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let key: Option<Vec<u32>> = name.split('.').map(|p| p.parse().ok()).collect();
            key.map(|k| (k, e.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, p)| p).collect()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_debian_version_first() {
        let root = tempfile::tempdir().unwrap();
        for v in ["9.6", "15", "13", "notaversion"] {
            std::fs::create_dir_all(root.path().join(v).join("bin")).unwrap();
        }
        let found = debian_bindirs(root.path());
        let names: Vec<_> = found
            .iter()
            .map(|p| {
                p.parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["15", "13", "9.6"]);
    }

    #[test]
    fn explicit_dir_without_binaries_names_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let err = Binaries::find(Some(dir.path())).unwrap_err();
        assert!(
            matches!(&err, BinariesError::NotInBindir { dir: d } if d == dir.path()),
            "{err:?}"
        );
        assert!(err.is_input_error());
        let msg = err.to_string();
        let named = format!("--pg-bindir {}: ", dir.path().display());
        assert!(msg.starts_with(&named), "{msg}");
        assert!(
            msg.contains("no initdb and postgres executables there"),
            "{msg}"
        );
        assert!(msg.contains("pg_config --bindir"), "{msg}");
    }

    #[test]
    fn nothing_installed_is_the_environment_with_the_install_hint() {
        let err = BinariesError::NotInstalled;
        assert!(!err.is_input_error());
        assert_eq!(err.to_string(), INSTALL_HINT);
    }
}
