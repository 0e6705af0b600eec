//! Compiles this repository's `migrations/` and `scenarios/` into the binary, so `loadtest run
//! token-race` works from any folder after `cargo install`, and records the git commit they
//! come from when there is one.

use std::fmt::Write;
use std::path::Path;

fn main() {
    // The manifest folder of *this* build, read when the script runs: `env!` would freeze the
    // folder the script was compiled in, and a build script reused from another copy of the tree
    // (cargo-mutants' scratch copies share the target folder's fingerprints) then embeds nothing.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = Path::new(&manifest);
    let mut out = String::new();
    for (konst, dir, ext) in [
        ("MIGRATIONS", "migrations", "sql"),
        ("SCENARIOS", "scenarios", "toml"),
    ] {
        println!("cargo:rerun-if-changed={dir}");
        // A binary without its migrations or scenarios is broken: fail the build, loudly.
        let mut files: Vec<_> = std::fs::read_dir(root.join(dir))
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.join(dir).display()))
            .flatten()
            .map(|e| e.path())
            .collect();
        files.retain(|p| p.extension().is_some_and(|e| e == ext));
        files.sort();
        writeln!(out, "pub const {konst}: &[(&str, &str)] = &[").unwrap();
        for p in files {
            let name = p.file_name().unwrap().to_string_lossy();
            let key = if ext == "toml" {
                name.trim_end_matches(".toml").to_string()
            } else {
                name.to_string()
            };
            writeln!(
                out,
                "    ({key:?}, include_str!({:?})),",
                p.display().to_string()
            )
            .unwrap();
        }
        writeln!(out, "];").unwrap();
    }
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("builtin.rs");
    std::fs::write(dest, out).unwrap();
    git_provenance(root);
}

/// Records the commit this build comes from, and whether `migrations/` differed from it, as
/// `LOADTEST_GIT_COMMIT` / `LOADTEST_GIT_MIGRATIONS_DIRTY`: the report of a run on the built-in
/// migrations names them. Outside a git checkout (a crates.io tarball, no git installed) nothing
/// is set and the report says null: never a build failure.
fn git_provenance(root: &Path) {
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let Some(commit) = git(&["rev-parse", "HEAD"]) else {
        return;
    };
    let Some(status) = git(&["status", "--porcelain", "--", "migrations"]) else {
        return;
    };
    println!("cargo:rustc-env=LOADTEST_GIT_COMMIT={commit}");
    println!(
        "cargo:rustc-env=LOADTEST_GIT_MIGRATIONS_DIRTY={}",
        !status.is_empty()
    );
    // Rebuild when HEAD moves (checkout, commit): HEAD itself, the branch it points to, and
    // packed refs. `migrations` is watched above.
    // Only existing files: cargo treats a missing one as always changed.
    let paths = |args: &[&str]| git(args).map(|p| root.join(p)).filter(|p| p.exists());
    if let Some(head) = paths(&["rev-parse", "--git-path", "HEAD"]) {
        println!("cargo:rerun-if-changed={}", head.display());
    }
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"])
        && let Some(reference) = paths(&["rev-parse", "--git-path", &branch])
    {
        println!("cargo:rerun-if-changed={}", reference.display());
    }
    if let Some(packed) = paths(&["rev-parse", "--git-path", "packed-refs"]) {
        println!("cargo:rerun-if-changed={}", packed.display());
    }
}
