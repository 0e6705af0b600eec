//! Benchmark-tracker views of a nightly's runs: the GitHub benchmark action's two lists and
//! bencher's metric format.

use super::model::Report;

/// Benchmark-tracker views of a set of runs: the `name`/`unit`/`value` lists of the GitHub
/// benchmark action (one bigger-is-better, one smaller-is-better) and bencher's metric format.
pub fn trackers(runs: &[Report]) -> (serde_json::Value, serde_json::Value, serde_json::Value) {
    use serde_json::json;
    let (mut bigger, mut smaller, mut bmf) = (Vec::new(), Vec::new(), serde_json::Map::new());
    for r in runs {
        for p in r.paths() {
            let name = format!("{}/{}", r.scenario, p.name);
            bigger.push(json!({"name": format!("{name} throughput"), "unit": "ops/s", "value": p.throughput_ops_s}));
            smaller.push(
                json!({"name": format!("{name} p99"), "unit": "us", "value": p.latency_us.p99}),
            );
            smaller.push(
                json!({"name": format!("{name} p50"), "unit": "us", "value": p.latency_us.p50}),
            );
            bmf.insert(
                name,
                json!({
                    "throughput": {"value": p.throughput_ops_s},
                    "latency": {"value": p.latency_us.p50 as f64 * 1000.0, "upper_value": p.latency_us.p99 as f64 * 1000.0},
                    "lost_updates": {"value": p.lost_updates},
                }),
            );
        }
        for q in r.bench().map_or(&[][..], |b| &b.queries) {
            let name = format!("{}/{}", r.scenario, q.name);
            smaller.push(
                json!({"name": format!("{name} after median"), "unit": "ms", "value": q.after_ms}),
            );
            bigger
                .push(json!({"name": format!("{name} speedup"), "unit": "x", "value": q.speedup}));
            bmf.insert(
                name,
                json!({
                    "latency": {"value": q.after_ms * 1e6, "upper_value": q.after_p95_ms * 1e6},
                    "speedup": {"value": q.speedup, "lower_value": q.speedup_ci[0], "upper_value": q.speedup_ci[1]},
                }),
            );
        }
    }
    (
        json!(bigger),
        json!(smaller),
        serde_json::Value::Object(bmf),
    )
}
