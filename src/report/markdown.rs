//! The Markdown view: short enough to paste into a pull request, verdict first.

use super::Report;
use std::fmt::Write;

pub fn render(r: &Report) -> String {
    let mut s = String::new();
    let mark = if r.verdict == "pass" { "PASS" } else { "FAIL" };
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
    s.push_str("| path | expect | held | ops ok | failed | ops/s | p50 µs | p99 µs | p99.9 µs | max µs | lost updates |\n");
    s.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for p in &r.paths {
        let lost = if p.lost_updates_exact || p.lost_updates == 0 {
            p.lost_updates.to_string()
        } else {
            format!("≥ {}", p.lost_updates)
        };
        let _ = writeln!(
            s,
            "| {} ({}) | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} |",
            p.name,
            p.kind,
            p.expect,
            if p.expectation_held { "yes" } else { "**no**" },
            p.ops_ok,
            p.ops_failed,
            p.throughput_ops_s,
            p.latency_us.p50,
            p.latency_us.p99,
            p.latency_us.p999,
            p.latency_us.max,
            lost
        );
    }
    s.push_str("\n| path | column | expected | actual | missing | extra |\n|---|---|---:|---:|---:|---:|\n");
    for p in &r.paths {
        for c in &p.counters {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                p.name, c.column, c.expected, c.actual, c.missing, c.extra
            );
        }
    }
    let errors: Vec<_> = r
        .paths
        .iter()
        .flat_map(|p| p.errors.iter().map(move |e| (p, e)))
        .collect();
    if !errors.is_empty() {
        s.push_str("\n| path | error | count | first message |\n|---|---|---:|---|\n");
        for (p, e) in errors {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                p.name,
                e.sqlstate,
                e.count,
                e.message.replace('|', "\\|")
            );
        }
    }
    let st = &r.settings;
    let _ = writeln!(
        s,
        "\n{} ops per path, {} workers, {} connections, {} rows, keys: {}{}, seed {}; PostgreSQL {} ({}); migrations {} ({}); run {} at {}.",
        st.ops,
        st.workers,
        st.connections,
        st.rows,
        st.key_choice,
        st.hot_share
            .map(|h| format!(" (hot share {h})"))
            .unwrap_or_default(),
        st.seed,
        r.database.server_version,
        r.database.mode,
        r.migrations.source,
        &r.migrations.fingerprint[..12.min(r.migrations.fingerprint.len())],
        r.run_id,
        r.started_at
    );
    s
}
