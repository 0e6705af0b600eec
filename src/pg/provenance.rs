//! Where a run's migrations came from in git: the commit of the folder and whether it had
//! uncommitted changes, so a report can be traced back to the exact schema source. Best effort
//! by design: no git, not a repository, or a repository git refuses (another owner) all mean
//! "unknown" (null in the report), never an error that stops a run.

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::{Command, Stdio};

/// A folder's state in git.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitState {
    /// `git rev-parse HEAD` of the work tree holding the folder.
    pub commit: String,
    /// Whether `git status --porcelain -- <folder>` listed anything (modified, staged, deleted
    /// or untracked files).
    pub dirty: bool,
}

/// The git state of the folder `dir`: `HEAD` of the work tree it is in, and whether anything
/// under `dir` differs from it (modified, staged, deleted or untracked files).
pub fn of_dir(dir: &Path) -> Option<GitState> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "HEAD"])?;
    let status = git(&["status", "--porcelain", "--", "."])?;
    Some(GitState {
        commit,
        dirty: !status.is_empty(),
    })
}

/// The built-in migrations' state: the commit loadtest was built from, and whether its
/// `migrations/` had uncommitted changes then (captured by build.rs); `None` for a build made
/// outside a git checkout.
pub fn builtin() -> Option<GitState> {
    Some(GitState {
        commit: option_env!("LOADTEST_GIT_COMMIT")?.to_string(),
        dirty: option_env!("LOADTEST_GIT_MIGRATIONS_DIRTY")? == "true",
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_folder_outside_any_repository_has_no_git_state() {
        let dir = tempfile::tempdir().unwrap();
        // /tmp is not inside a work tree on any sane machine; if it were, the state is real.
        if super::of_dir(&std::env::temp_dir()).is_none() {
            assert_eq!(super::of_dir(dir.path()), None);
        }
        assert_eq!(super::of_dir(&dir.path().join("missing")), None);
    }
}
