//! What every page shares, race or benchmark: the Markdown header (verdict, description,
//! failures, warnings) and the HTML template filler.

use super::model::Report;
use serde::Serialize;
use std::fmt::Write;

/// The verdict line, the description, and one line per failure and warning.
pub fn header(r: &Report) -> String {
    let mut s = String::new();
    let mark = r.verdict.label();
    let _ = writeln!(s, "# {} — {mark}\n", r.scenario);
    if !r.description.is_empty() {
        let _ = writeln!(s, "{}\n", r.description);
    }
    for f in &r.failures {
        let _ = writeln!(s, "- **failed:** {f}");
    }
    for w in &r.warnings {
        let _ = writeln!(s, "- warning: {w}");
    }
    if !r.failures.is_empty() || !r.warnings.is_empty() {
        s.push('\n');
    }
    s
}

/// Fills one of the compiled-in page templates. `{x | unescaped}` inserts markup we drew
/// ourselves (the SVG charts); everything else is HTML-escaped by tinytemplate. The templates
/// are part of the binary and tested, so a parse or render failure is a bug, not input.
pub fn fill(name: &str, template: &str, ctx: &impl Serialize) -> String {
    let mut tt = tinytemplate::TinyTemplate::new();
    tt.add_template(name, template)
        .expect("a compiled-in template parses");
    tt.add_formatter("unescaped", |v, out| {
        if let serde_json::Value::String(s) = v {
            out.push_str(s);
        }
        Ok(())
    });
    tt.render(name, ctx)
        .expect("a compiled-in template renders its context")
}

/// The run's command line as every report format shows it: as the report recorded it, with the
/// database URL's password already redacted (`redacted_command_line`), so a reader can rerun it
/// and no format shows a secret. Older reports without one show nothing.
pub fn command_line(r: &Report) -> String {
    if r.command_line.is_empty() {
        return String::new();
    }
    format!("command: `{}`", r.command_line)
}
