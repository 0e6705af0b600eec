//! Scratch-cluster start-up: cold (no cached template: initdb runs) and warm (the cached
//! template is copied), each measured from "start" to the answer of a first query, plus the
//! time to stop and remove the cluster. Prints numbers; asserts nothing (the machine is noisy).
//!
//!     cargo bench --bench startup

use loadtest::pg::binaries::Binaries;
use loadtest::pg::cluster::{ClusterOptions, RunAs, ScratchCluster};
use std::time::{Duration, Instant};

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let binaries = Binaries::find(None).expect("PostgreSQL binaries");
    let run_as = RunAs::resolve("postgres").expect("a postgres system user");
    let cache = tempfile::tempdir().unwrap();
    let opts = |cache_root| ClusterOptions {
        binaries: binaries.clone(),
        run_as: run_as.clone(),
        max_connections: 100,
        settings: Vec::new(),
        cache_root: Some(cache_root),
        tie_to_thread: true,
    };
    let one = |o: &ClusterOptions| -> (Duration, Duration, bool) {
        let t0 = Instant::now();
        let c = ScratchCluster::start(o).expect("cluster starts");
        rt.block_on(async {
            let client =
                loadtest::pg::connect(&loadtest::pg::Endpoint::plaintext(c.config("postgres")))
                    .await
                    .unwrap();
            client.simple_query("SELECT 1").await.unwrap();
        });
        let ready = t0.elapsed();
        let from_template = c.info.from_template;
        let t1 = Instant::now();
        drop(c);
        (ready, t1.elapsed(), from_template)
    };
    let mut cold = Vec::new();
    for _ in 0..5 {
        let fresh = tempfile::tempdir().unwrap();
        let (ready, stop, hit) = one(&opts(fresh.path().to_path_buf()));
        assert!(!hit);
        cold.push((ready, stop));
    }
    one(&opts(cache.path().to_path_buf())); // fills the cache
    let mut warm = Vec::new();
    for _ in 0..15 {
        let (ready, stop, hit) = one(&opts(cache.path().to_path_buf()));
        assert!(hit);
        warm.push((ready, stop));
    }
    println!(
        "scratch cluster start-up ({}, scratch folder {})",
        binaries.version,
        loadtest::pg::cluster::scratch_root().display()
    );
    println!(
        "{:<6} {:>6} {:>12} {:>12} {:>12} {:>10}",
        "", "runs", "median ms", "min ms", "max ms", "stop ms"
    );
    for (name, v) in [("cold", &cold), ("warm", &warm)] {
        let mut ready: Vec<f64> = v.iter().map(|(r, _)| r.as_secs_f64() * 1000.0).collect();
        let mut stop: Vec<f64> = v.iter().map(|(_, s)| s.as_secs_f64() * 1000.0).collect();
        ready.sort_by(f64::total_cmp);
        stop.sort_by(f64::total_cmp);
        println!(
            "{name:<6} {:>6} {:>12.0} {:>12.0} {:>12.0} {:>10.0}",
            ready.len(),
            ready[ready.len() / 2],
            ready[0],
            ready[ready.len() - 1],
            stop[stop.len() / 2]
        );
    }
}
