//! The simulator alone, as a separate process, for client benchmarks that must not share a
//! process (or a build profile) with it: `cargo run --release -p alphalab-sim --example serve --
//! 127.0.0.1:18960 50` serves on that address with 50 ms latency per REST response until killed.

fn main() {
    let mut args = std::env::args().skip(1);
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:18960".into());
    let latency: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut cfg = sim::SimConfig { bind: bind.parse().expect("bind address"), ..sim::SimConfig::default() };
        cfg.faults.latency_ms = latency;
        let handle = sim::spawn(cfg).await.expect("simulator starts");
        println!("serving on {}", handle.rest_url());
        handle.join().await;
    });
}
