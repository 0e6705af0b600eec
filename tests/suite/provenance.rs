//! Where a report's schema came from: the git commit of the migrations folder and whether it
//! had uncommitted changes, null outside a repository, and the build's own commit for the
//! built-in migrations.

use crate::util::*;

/// `git -C dir args…`, which must succeed; its trimmed stdout.
fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .expect("git for this test");
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

#[test]
fn reports_name_the_git_commit_of_the_migrations_folder() {
    let run_on = |migrations: &std::path::Path| {
        let reports = tempfile::tempdir().unwrap();
        let out = run(&[
            "run",
            "token-race",
            "--ops",
            "200",
            "--quiet",
            "--migrations",
            migrations.to_str().unwrap(),
            "--report-dir",
            reports.path().to_str().unwrap(),
            "--database-url",
            &shared().url,
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        (
            report(reports.path())["migrations"]["git"].clone(),
            stdout(&out),
        )
    };
    // A repository whose migrations live in a subfolder, committed.
    let repo = tempfile::tempdir().unwrap();
    let copied = migrations_with(&[]);
    let dir = repo.path().join("supabase/migrations");
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(copied.path()).unwrap().flatten() {
        std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
    }
    git(repo.path(), &["init", "-q"]);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "schema"]);
    let head = git(repo.path(), &["rev-parse", "HEAD"]);
    let (g, md) = run_on(&dir);
    assert_eq!(g["commit"], head.as_str());
    assert_eq!(g["dirty"], false);
    assert!(md.contains(&format!("commit {}", &head[..12])), "{md}");

    // A change elsewhere in the repository does not make the folder dirty; one inside does.
    std::fs::write(repo.path().join("README"), "elsewhere").unwrap();
    assert_eq!(
        loadtest::pg::provenance::of_dir(&dir).map(|g| g.dirty),
        Some(false)
    );
    let file = std::fs::read_dir(&dir).unwrap().flatten().next().unwrap();
    let mut sql = std::fs::read_to_string(file.path()).unwrap();
    sql.push_str("\n-- an uncommitted edit\n");
    std::fs::write(file.path(), sql).unwrap();
    let (g, md) = run_on(&dir);
    assert_eq!(
        (g["commit"].as_str(), &g["dirty"]),
        (Some(head.as_str()), &serde_json::json!(true))
    );
    assert!(md.contains("with uncommitted changes"), "{md}");

    // Not a repository: null, and the run goes on.
    assert_eq!(loadtest::pg::provenance::of_dir(copied.path()), None);
    let (g, _) = run_on(copied.path());
    assert!(g.is_null(), "{g}");

    // The built-in migrations carry the commit loadtest was built from (this checkout's HEAD),
    // when it was built from a checkout.
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(here) = loadtest::pg::provenance::of_dir(manifest) {
        let built = loadtest::pg::provenance::builtin().expect("build.rs recorded the commit");
        assert_eq!(built.commit, here.commit);
    }
}
