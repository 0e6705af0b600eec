//! The Markdown view: short enough to paste into a pull request, verdict first.

use super::model::{KeyChoice, Mode, RaceBody, Report, Settings};
use super::page::header;
use super::path_model::{CallKind, PathReport, per_column};
use crate::pg;
use std::fmt::Write;

/// Renders a race as Markdown.
pub fn render(r: &Report, race: &RaceBody) -> String {
    let mut s = header(r);
    path_table(&mut s, race);
    if race.settings.mode == Mode::Matrix {
        matrix(&mut s, race);
    }
    counter_table(&mut s, race);
    witnessed(&mut s, race);
    error_table(&mut s, race);
    absent_keys(&mut s, race);
    faults(&mut s, race);
    if let Some(rollout) = &race.rollout {
        super::rollout_view::markdown(&mut s, rollout);
    }
    footer(&mut s, r, &race.settings);
    s
}

/// What `--faults` injected, and per path the calls it left indeterminate and how the ledger
/// resolved them.
fn faults(s: &mut String, race: &RaceBody) {
    let Some(f) = &race.faults else {
        return;
    };
    let injected: Vec<String> = f.injected.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(
        s,
        "
Faults ({}): injected {}; the pool replaced {} connection(s) and stalled {:.2} s.",
        f.spec,
        injected.join(", "),
        f.pool.connections_replaced,
        f.pool.seconds_stalled
    );
    for p in race.paths.iter().filter(|p| p.ops_indeterminate > 0) {
        let how = match p.indeterminate_resolved {
            Some(r) => format!(
                ": the ledger found {} committed and {} not",
                r.committed, r.not_committed
            ),
            None => ": each row checked within its bounds (no --ledger)".to_string(),
        };
        let _ = writeln!(
            s,
            "
{}: {} ok, {} failed, {} indeterminate{how}.",
            p.name, p.ops_ok, p.ops_failed, p.ops_indeterminate
        );
    }
}

/// The verdict per path: expectation, calls, throughput, latency, lost updates.
fn path_table(s: &mut String, race: &RaceBody) {
    s.push_str(
        "| path | expect | held | ops ok | failed | ops/s | p50 µs | p99 µs | p99.9 µs | \
        max µs | lost updates |\n",
    );
    s.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for p in &race.paths {
        let _ = writeln!(
            s,
            "| {} ({}) | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} |",
            p.name,
            p.kind.name(),
            p.expect.name(),
            if p.expectation_held { "yes" } else { "**no**" },
            p.ops_ok,
            p.ops_failed,
            p.throughput_ops_s,
            p.latency_us.p50,
            p.latency_us.p99,
            p.latency_us.p999,
            p.latency_us.max,
            lost(p)
        );
    }
}

/// What the oracle found per path and counter column: expected and actual sums.
fn counter_table(s: &mut String, race: &RaceBody) {
    s.push_str(
        "\n| path | column | expected | actual | missing | extra \
        |\n|---|---|---:|---:|---:|---:|\n",
    );
    for p in &race.paths {
        for c in &p.counters {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                p.name, c.column, c.expected, c.actual, c.missing, c.extra
            );
        }
    }
}

/// Up to two witnessed lost updates per path: the proof in the reader's terms.
fn witnessed(s: &mut String, race: &RaceBody) {
    let examples: Vec<_> = race
        .paths
        .iter()
        .filter_map(|p| p.witnesses.as_ref().map(|w| (p, w)))
        .flat_map(|(p, w)| w.examples.iter().take(2).map(move |e| (p, e)))
        .collect();
    if examples.is_empty() {
        return;
    }
    s.push_str(
        "\nLost updates, witnessed (two acknowledged calls read the same value and both \
        wrote):\n\n",
    );
    for (p, e) in examples {
        let _ = writeln!(
            s,
            "- {}: row {} read {}, one call wrote +{}, another +{}: one increment erased",
            p.name,
            e.key,
            per_column(&e.read),
            per_column(&e.first_delta),
            per_column(&e.second_delta)
        );
    }
}

/// Failed calls by path and SQLSTATE, when there were any.
fn error_table(s: &mut String, race: &RaceBody) {
    let errors: Vec<_> = race
        .paths
        .iter()
        .flat_map(|p| p.errors.iter().map(move |e| (p, e)))
        .collect();
    if errors.is_empty() {
        return;
    }
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

/// One line per path that was sent calls for absent keys: how many it refused.
fn absent_keys(s: &mut String, race: &RaceBody) {
    for p in &race.paths {
        if let Some(a) = &p.absent_keys {
            let _ = writeln!(
                s,
                "\n{}: {} call(s) for keys that do not exist: {} refused, {} silently accepted.",
                p.name, a.sent, a.rejected, a.accepted
            );
        }
    }
}

/// The closing line: how the run was driven, on which server and schema, and when.
fn footer(s: &mut String, r: &Report, st: &Settings) {
    let amount = match (st.ops, st.duration_s) {
        (Some(n), _) => format!("{n} ops per path"),
        (None, Some(d)) => format!("{d} s per path"),
        _ => String::new(),
    };
    // A sharded run: its calls were split over N processes, each with these workers.
    let amount = match st.shards {
        Some(n) => format!("{amount} over {n} shards (workers and connections per shard)"),
        None => amount,
    };
    let model = match st.rate {
        Some(rate) => format!("open model at {rate} calls/s"),
        None => "closed model".into(),
    };
    let keys = keys(st);
    let git = git(r);
    let _ = writeln!(
        s,
        "\n{amount}, {} mode, {model}, {} workers, {} connections, {} rows, keys: {keys}, seed \
            {}; PostgreSQL {} ({}); migrations {} ({}{git}); run {} at {}.",
        st.mode.name(),
        st.workers,
        st.connections,
        st.rows,
        st.seed,
        r.database.server_version,
        r.database.mode,
        r.migrations.source,
        &r.migrations.fingerprint[..12.min(r.migrations.fingerprint.len())],
        r.run_id,
        r.started_at
    );
    let _ = writeln!(s, "{}", super::page::command_line(r));
}

/// The key choice with its parameter, e.g. "hot (share 0.8)".
fn keys(st: &Settings) -> String {
    match (st.key_choice, st.key_parameter) {
        (KeyChoice::Hot, Some(h)) => format!("hot (share {h})"),
        (KeyChoice::Zipf, Some(z)) => format!("zipf (s = {z})"),
        (KeyChoice::Hot, None) => "hot".into(),
        (KeyChoice::Zipf, None) => "zipf".into(),
        (KeyChoice::Uniform, _) => "uniform".into(),
    }
}

/// ", commit <12 hex>" (and whether it was dirty) when the schema's commit is known.
fn git(r: &Report) -> String {
    match &r.migrations.git {
        Some(g) => format!(
            ", commit {}{}",
            &g.commit[..12.min(g.commit.len())],
            if g.dirty {
                " with uncommitted changes"
            } else {
                ""
            }
        ),
        None => String::new(),
    }
}

fn lost(p: &PathReport) -> String {
    if p.lost_updates_exact || p.lost_updates == 0 {
        p.lost_updates.to_string()
    } else {
        format!("≥ {}", p.lost_updates)
    }
}

/// The strategy table: what each way of running the read-modify-write costs and loses.
fn matrix(s: &mut String, race: &RaceBody) {
    let (serialization, deadlock) = (pg::SERIALIZATION_FAILURE.code(), pg::DEADLOCK.code());
    let _ = writeln!(
        s,
        "\n| strategy | lost updates | {serialization} serialization | {deadlock} deadlock | \
         retries | other errors | ops/s | p99 µs |"
    );
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for p in race
        .paths
        .iter()
        .filter(|p| p.kind == CallKind::ReadModifyWrite)
    {
        let count = |code: &str| {
            p.errors
                .iter()
                .filter(|e| e.sqlstate == code)
                .map(|e| e.count)
                .sum::<u64>()
        };
        let other = p.ops_failed - count(serialization) - count(deadlock);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {:.0} | {} |",
            p.name,
            lost(p),
            count(serialization),
            count(deadlock),
            p.retries,
            other,
            p.throughput_ops_s,
            p.latency_us.p99
        );
    }
}
