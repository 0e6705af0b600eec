//! The initdb'd template cache: initdb is most of a scratch cluster's start-up cost, so the first
//! run per server version keeps a pristine copy of its fresh data folder in the user's cache
//! folder, and later runs copy it instead of running initdb again.
//!
//! The cache is an optimisation only: any failure to read or write it falls back to initdb.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Bump when the initdb arguments or the layout of a cached template change.
const TEMPLATE_FORMAT: &str = "1";

/// The arguments every template is made with (besides `-D`).
pub const INITDB_ARGS: &[&str] = &[
    "-U",
    "postgres",
    "-A",
    "trust",
    "-E",
    "UTF8",
    "--locale=C",
    "--no-sync",
    "--no-instructions",
];

/// The cache root: `LOADTEST_CACHE_DIR`, else `<user cache dir>/loadtest`.
pub fn cache_root() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LOADTEST_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    dirs::cache_dir().map(|d| d.join("loadtest"))
}

/// Where the template for this server version and these initdb arguments lives.
pub fn template_dir(root: &Path, bindir: &Path, version: &str) -> PathBuf {
    let mut h = Sha256::new();
    for part in [TEMPLATE_FORMAT, &bindir.to_string_lossy(), version]
        .into_iter()
        .chain(INITDB_ARGS.iter().copied())
    {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = hex::encode(h.finalize());
    root.join("templates").join(&digest[..16]).join("data")
}

/// Stores a freshly initdb'd data folder as the template, atomically (rename), so concurrent runs
/// never see half a template. Returns quietly when another run stored it first.
pub fn store(fresh: &Path, template: &Path) -> std::io::Result<()> {
    let slot = template.parent().expect("template path has a parent");
    let templates = slot.parent().expect("slot has a parent");
    std::fs::create_dir_all(templates)?;
    let staging = tempfile::Builder::new()
        .prefix(".staging-")
        .tempdir_in(templates)?;
    copy_tree(fresh, &staging.path().join("data"), None)?;
    match std::fs::rename(staging.path(), slot) {
        Ok(()) => {
            // The staging folder now *is* the slot; don't let TempDir delete it.
            let _ = staging.keep();
            Ok(())
        }
        Err(_) if template.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Copies a folder tree, giving every copy to `owner` (uid, gid) when set (loadtest runs as root
/// and the server as another user). Data files are copied with `std::fs::copy`, which uses
/// `copy_file_range` and so reflinks on filesystems that can.
pub fn copy_tree(from: &Path, to: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    use std::os::unix::fs::{PermissionsExt, chown};
    std::fs::create_dir(to)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700))?;
    if let Some((uid, gid)) = owner {
        chown(to, Some(uid), Some(gid))?;
    }
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let dest = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &dest, owner)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &dest)?;
            if let Some((uid, gid)) = owner {
                std::os::unix::fs::lchown(&dest, Some(uid), Some(gid))?;
            }
        } else {
            std::fs::copy(entry.path(), &dest)?;
            if let Some((uid, gid)) = owner {
                chown(&dest, Some(uid), Some(gid))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_key_depends_on_version() {
        let root = Path::new("/cache");
        let a = template_dir(root, Path::new("/bin"), "postgres (PostgreSQL) 15.1");
        let b = template_dir(root, Path::new("/bin"), "postgres (PostgreSQL) 16.0");
        assert_ne!(a, b);
        assert_eq!(
            a,
            template_dir(root, Path::new("/bin"), "postgres (PostgreSQL) 15.1")
        );
    }

    #[test]
    fn store_is_atomic_and_idempotent() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("base")).unwrap();
        std::fs::write(src.path().join("base/1"), b"x").unwrap();
        std::fs::write(src.path().join("PG_VERSION"), b"15\n").unwrap();
        let cache = tempfile::tempdir().unwrap();
        let t = template_dir(cache.path(), Path::new("/bin"), "v");
        store(src.path(), &t).unwrap();
        store(src.path(), &t).unwrap();
        assert_eq!(std::fs::read(t.join("base/1")).unwrap(), b"x");
        let leftovers = std::fs::read_dir(cache.path().join("templates"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".staging")
            })
            .count();
        assert_eq!(leftovers, 0);
    }
}
