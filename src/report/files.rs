//! Saved reports: writing a run's JSON, Markdown, HTML and `.hlog` files, and reading reports
//! back (refusing, with exit 2, what this loadtest cannot read). All file errors carry the path.

use super::model::{Body, NightlyReport, OLDEST_READABLE, Report, SCHEMA_VERSION};
use super::{html, markdown};
use std::path::{Path, PathBuf};

/// Reads a saved run report.
pub fn load(path: &Path) -> Result<Report, crate::Error> {
    load_json(path)
}

/// Reads a saved combined nightly report.
pub fn load_nightly(path: &Path) -> Result<NightlyReport, crate::Error> {
    load_json(path)
}

fn load_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, crate::Error> {
    use crate::Error;
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
        path: path.to_path_buf(),
        source,
    })?;
    let shown = path.display();
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::Input(format!(
            "{shown}:{}:{}: not a complete JSON report ({e}); was the file truncated?",
            e.line(),
            e.column()
        ))
    })?;
    match value
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(v) if (u64::from(OLDEST_READABLE)..=u64::from(SCHEMA_VERSION)).contains(&v) => {}
        Some(v) => {
            return Err(Error::Input(format!(
                "{shown}: report schema_version {v}; this loadtest reads schema_version \
                    {OLDEST_READABLE} to {SCHEMA_VERSION} (rerun the scenario to get a current \
                    report)"
            )));
        }
        None => {
            return Err(Error::Input(format!(
                "{shown}: not a loadtest report (no schema_version)"
            )));
        }
    }
    serde_json::from_value(value)
        .map_err(|e| Error::Input(format!("{shown}: not this kind of loadtest report: {e}")))
}

/// The files one run wrote.
pub struct Written {
    pub json: PathBuf,
    pub markdown: PathBuf,
    pub html: PathBuf,
}

/// Writes `<dir>/<scenario>-<UTC timestamp>.json`, `.md`, `.html` and one
/// `.<path>.hlog` per path with interval histograms (named in the report's `hlog` keys), never
/// overwriting an earlier report (a second run in the same second gets a `-2` suffix).
///
/// Every file is written to a temporary file in `dir` and renamed into place, so a reader (or a
/// signal, or a full disk) never sees half a file: the JSON first, which claims the name, then
/// the others. A temporary file is removed on every error.
pub fn write(report: &mut Report, dir: &Path, stamp: &str) -> Result<Written, crate::Error> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| crate::Error::WriteFile { path, source }
    };
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    for n in 1.. {
        let base = if n == 1 {
            format!("{}-{stamp}", report.scenario)
        } else {
            format!("{}-{stamp}-{n}", report.scenario)
        };
        let json_path = dir.join(format!("{base}.json"));
        if json_path.exists() {
            continue;
        }
        let hlogs = hlogs(report, &base);
        let json = serde_json::to_string_pretty(report).expect("report serialises") + "\n";
        match whole_file(dir, json.as_bytes())
            .and_then(|f| f.persist_noclobber(&json_path).map_err(|e| e.error))
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(err(&json_path)(e)),
        }
        let md_path = dir.join(format!("{base}.md"));
        let html_path = dir.join(format!("{base}.html"));
        let mut done = vec![json_path.clone()];
        let mut rest = || -> Result<(), crate::Error> {
            for (path, text) in &hlogs {
                let path = dir.join(path);
                persist(dir, text, &path).map_err(err(&path))?;
                done.push(path);
            }
            persist(dir, markdown(report).as_bytes(), &md_path).map_err(err(&md_path))?;
            done.push(md_path.clone());
            persist(dir, html(report).as_bytes(), &html_path).map_err(err(&html_path))
        };
        if let Err(e) = rest() {
            // A report is its whole set of files or none of them: a full disk must not leave
            // a JSON that reads as a result beside a missing page.
            for f in &done {
                let _ = std::fs::remove_file(f);
            }
            return Err(e);
        }
        return Ok(Written {
            json: json_path,
            markdown: md_path,
            html: html_path,
        });
    }
    unreachable!("1.. is endless")
}

/// `bytes` in a new temporary file in `dir`, flushed to the disk.
fn whole_file(dir: &Path, bytes: &[u8]) -> std::io::Result<tempfile::NamedTempFile> {
    use std::io::Write;
    let mut f = tempfile::Builder::new()
        .prefix(".loadtest-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    f.write_all(bytes)?;
    f.as_file().sync_all()?;
    Ok(f)
}

/// Writes `bytes` to `path` whole or not at all: through a temporary file in its folder and a
/// rename (what every report file goes through).
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), crate::Error> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    persist(dir, bytes, path).map_err(|source| crate::Error::WriteFile {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes `bytes` to `path` through a temporary file in `dir` and a rename.
fn persist(dir: &Path, bytes: &[u8], path: &Path) -> std::io::Result<()> {
    whole_file(dir, bytes)?
        .persist(path)
        .map(drop)
        .map_err(|e| e.error)
}

/// Each path's interval log, as `(<base>.<path>.hlog, its text)`, named in the path's `hlog`
/// key (relative to the JSON's folder).
fn hlogs(report: &mut Report, base: &str) -> Vec<(String, Vec<u8>)> {
    let about = format!(
        "Logged with loadtest {}: scenario {}, run {}; latency of acknowledged calls in \
            microseconds",
        report.tool.version, report.scenario, report.run_id
    );
    let Body::Race(race) = &mut report.body else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in &mut race.paths {
        let Some(log) = &p.intervals else { continue };
        let safe: String = p
            .name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_@".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let name = format!("{base}.{safe}.hlog");
        let mut text = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = log.write(&mut text, &format!("{about}, path {}", p.name));
        p.hlog = Some(name.clone());
        out.push((name, text));
    }
    out
}
