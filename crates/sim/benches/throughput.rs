//! Simulator throughput on loopback with a small closed-loop load generator: how many requests
//! per second it serves, so that no benchmark of a client is ever bounded by the simulator.
//!
//! `cargo bench -p alphalab-sim --bench throughput` (optional args: seconds per scenario,
//! connections). The load generator runs in the same process and competes for the same cores,
//! so the figures are a lower bound of what the server alone can do.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sim::SimConfig;

/// 2024-06-01T00:00:00Z.
const START_MS: u64 = 1_717_200_000_000;
const DAY_MS: u64 = 86_400_000;

struct Scenario {
    name: &'static str,
    /// Builds the query for request `i`.
    query: fn(u64) -> String,
}

fn ticker(_: u64) -> String {
    "/api/v3/ticker/price?symbol=BTCUSDT".into()
}

fn klines_fixed(_: u64) -> String {
    format!("/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1000&startTime={}", START_MS - 30 * DAY_MS)
}

/// A different day of 2017–2024 every request: the model computes each page from scratch.
fn klines_spread(i: u64) -> String {
    let day = (i.wrapping_mul(2_654_435_761) % 2_500) + 1;
    format!("/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1000&startTime={}", START_MS - day * DAY_MS)
}

async fn run(base: &str, s: &Scenario, secs: u64, conns: usize) -> (f64, f64, f64, u64) {
    let client = reqwest::Client::builder().pool_max_idle_per_host(conns).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let seq = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (client, stop, seq, base, q) = (client.clone(), stop.clone(), seq.clone(), base.to_string(), s.query);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut bytes = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let i = seq.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let r = client.get(format!("{base}{}", q(i))).send().await.expect("request");
                assert_eq!(r.status(), 200);
                bytes += r.bytes().await.expect("body").len() as u64;
                lat.push(t.elapsed());
            }
            (lat, bytes)
        }));
    }
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let mut lat = Vec::new();
    let mut bytes = 0;
    for t in tasks {
        let (l, b) = t.await.unwrap();
        lat.extend(l);
        bytes += b;
    }
    let wall = t0.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    (lat.len() as f64 / wall, pct(0.5), pct(0.99), bytes / lat.len().max(1) as u64)
}

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let secs = args.first().copied().unwrap_or(5);
    let conns = args.get(1).copied().unwrap_or(16) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut cfg = SimConfig { start_time_ms: Some(START_MS), ..SimConfig::default() };
        cfg.limits.enabled = false;
        let sim = sim::spawn(cfg).await.unwrap();
        let base = sim.rest_url();
        let scenarios = [
            Scenario { name: "GET /api/v3/ticker/price (small)", query: ticker },
            Scenario { name: "GET /api/v3/klines limit=1000, same window", query: klines_fixed },
            Scenario { name: "GET /api/v3/klines limit=1000, new day each request", query: klines_spread },
        ];
        println!("simulator throughput: {secs} s per scenario, {conns} keep-alive connections, loopback");
        println!("| scenario | req/s | p50 ms | p99 ms | bytes/response |");
        println!("|---|---:|---:|---:|---:|");
        for s in &scenarios {
            // Warm-up: connections, caches of the fixed window.
            let _ = run(&base, s, 1, conns).await;
            let (rps, p50, p99, b) = run(&base, s, secs, conns).await;
            println!("| {} | {rps:.0} | {p50:.2} | {p99:.2} | {b} |", s.name);
        }
        sim.shutdown().await;
    });
}
