//! Snapshot speed against the simulator with 50 ms of latency per request: the REST phase of
//! `alphalab snapshot` against the same 40 requests issued one after another as the legacy
//! harness does (same client, same run), total time against the WebSocket window, and the peak
//! used weight per market against its limit.
//!
//! `cargo bench -p alphalab --bench snapshot` (optional args: runs, latency ms, window s).
//! With `ALPHALAB_BENCH_SIM=http://HOST:PORT` the simulator is an already running separate
//! process (`cargo run --release -p alphalab-sim --example serve -- HOST:PORT LATENCY_MS`), so
//! an unoptimised client build does not slow the server down.

use std::time::{Duration, Instant};

use alphalab::{settings::SnapshotArgs, snapshot};
use binance::{
    Market,
    rest::{RestClient, RestConfig},
};
use sim::SimConfig;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let runs = args.first().copied().unwrap_or(3) as usize;
    let latency_ms = args.get(1).copied().unwrap_or(50);
    let window = args.get(2).copied().unwrap_or(5);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (mut seq, mut conc, mut total, mut peaks) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    rt.block_on(async {
        for run in 0..runs {
            let external = std::env::var("ALPHALAB_BENCH_SIM").ok();
            let mut cfg = SimConfig::default();
            cfg.faults.latency_ms = latency_ms;
            let sim = sim::spawn(cfg).await.unwrap();
            let rest = external.clone().unwrap_or_else(|| sim.rest_url());
            let ws = external.as_ref().map_or_else(|| sim.stream_url(Market::Spot), |u| u.replace("http://", "ws://"));
            let out = std::env::temp_dir().join(format!("alphalab-bench-snapshot-{}", std::process::id()));
            let cfg = SnapshotArgs {
                base_path_spot: Some(rest.clone()),
                base_path_futures: Some(rest.clone()),
                stream_url_spot: Some(ws.clone()),
                output_dir: Some(out.clone()),
                ws_capture_seconds: Some(window.to_string()),
                ..SnapshotArgs::default()
            }
            .resolve()
            .unwrap();

            // Baseline: the same 40 requests, one after another, through the same client code.
            let client =
                RestClient::new(RestConfig { spot_url: rest.clone(), usdm_url: rest.clone(), ..RestConfig::default() })
                    .unwrap();
            let t = Instant::now();
            for p in snapshot::plan(&cfg) {
                client.get(p.ep, &p.params).await.expect("sequential request");
            }
            seq.push(t.elapsed().as_secs_f64());

            // Weight windows are per minute: let the baseline's weight not count against the run.
            let m = snapshot::run(&cfg).await.unwrap();
            assert_eq!(m.failures(), 0, "run {run} had failures");
            conc.push(m.rest_wall_ms / 1e3);
            total.push(m.wall_ms / 1e3);
            peaks.push(m.peak_used_weight.clone());
            sim.shutdown().await;
            let _ = std::fs::remove_dir_all(out);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let (s, c, t) = (median(seq), median(conc), median(total));
    println!(
        "snapshot benchmark: {runs} runs, {latency_ms} ms simulated latency per request, WS window {window} s (medians)"
    );
    println!("| measure | value |");
    println!("|---|---:|");
    println!("| 40 REST requests sequential (legacy order) | {s:.3} s |");
    println!("| 40 REST requests, alphalab snapshot REST phase | {c:.3} s |");
    println!("| speed-up | {:.1}x |", s / c);
    println!("| total snapshot wall time | {t:.3} s (window {window} s, overhead {:+.3} s) |", t - window as f64);
    for (market, peak, limit) in peaks.last().unwrap() {
        println!("| peak used weight {market} | {peak} / {limit} per minute |");
    }
}
