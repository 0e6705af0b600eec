//! The schema a run builds: the compatibility layer, then the migrations, one line per file.

use super::migrate::{self, Migration};
use super::provenance::GitState;
use crate::error::Result;

/// The schema to build, already read from disk.
#[derive(Debug, Clone)]
pub struct SchemaPlan {
    /// "builtin" or the folder.
    pub source: String,
    pub compat: bool,
    /// The files to apply (already cut at --until).
    pub migrations: Vec<Migration>,
    pub skipped: Vec<String>,
    /// The migrations' git commit and dirtiness, when known.
    pub git: Option<GitState>,
}

impl SchemaPlan {
    /// One warning per file of the folder that is not a migration (skipped).
    pub fn skip_warnings(&self) -> Vec<String> {
        self.skipped
            .iter()
            .map(|f| {
                format!(
                    "warning: skipped {f} in {}: not a migration (expected <version>_<name>.sql)",
                    self.source
                )
            })
            .collect()
    }
}

/// A built schema: the migrations applied, and warnings (one sentence each) about where it
/// differs from what the migrations expect because the role lacks a right.
pub struct Built {
    pub applied: Vec<migrate::Applied>,
    pub warnings: Vec<String>,
}

/// Applies the compatibility layer and the migrations; one line per file via `line`.
pub async fn build_schema(
    client: &tokio_postgres::Client,
    schema: &SchemaPlan,
    mut line: impl FnMut(String),
) -> Result<Built> {
    let warnings = if schema.compat {
        super::compat::apply(client).await?
    } else {
        Vec::new()
    };
    let applied = migrate::apply(client, &schema.migrations, |a| {
        line(format!(
            "  applied {:<55} {:>8.1} ms",
            a.file_name,
            a.duration.as_secs_f64() * 1000.0
        ))
    })
    .await?;
    Ok(Built { applied, warnings })
}
