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
        let md_path = dir.join(format!("{base}.md"));
        let html_path = dir.join(format!("{base}.html"));
        use std::io::Write;
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&json_path)
        {
            Ok(mut f) => {
                let written = (|| {
                    write_hlogs(report, dir, &base)?;
                    let json = serde_json::to_string_pretty(report).expect("report serialises");
                    let md = markdown(report);
                    f.write_all(json.as_bytes()).map_err(err(&json_path))?;
                    f.write_all(b"\n").map_err(err(&json_path))?;
                    std::fs::write(&md_path, &md).map_err(err(&md_path))?;
                    std::fs::write(&html_path, html(report)).map_err(err(&html_path))
                })();
                if let Err(e) = written {
                    // A full disk must not leave a half report that reads as a result.
                    remove_set(dir, &base);
                    return Err(e);
                }
                return Ok(Written {
                    json: json_path,
                    markdown: md_path,
                    html: html_path,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(err(&json_path)(e)),
        }
    }
    unreachable!("1.. is endless")
}

/// Removes every file of the set `<base>.*` (best effort: the write error is what matters).
fn remove_set(dir: &Path, base: &str) {
    let prefix = format!("{base}.");
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Writes each path's interval log as `<dir>/<base>.<path>.hlog` and names it in the path's
/// `hlog` key (relative to the JSON's folder).
fn write_hlogs(report: &mut Report, dir: &Path, base: &str) -> Result<(), crate::Error> {
    let about = format!(
        "Logged with loadtest {}: scenario {}, run {}; latency of acknowledged calls in \
            microseconds",
        report.tool.version, report.scenario, report.run_id
    );
    let Body::Race(race) = &mut report.body else {
        return Ok(());
    };
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
        let path = dir.join(&name);
        let mut text = Vec::new();
        log.write(&mut text, &format!("{about}, path {}", p.name))
            .and_then(|()| std::fs::write(&path, &text))
            .map_err(|source| crate::Error::WriteFile { path, source })?;
        p.hlog = Some(name);
    }
    Ok(())
}
