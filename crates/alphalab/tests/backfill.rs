//! `alphalab backfill` as a user runs it, against the simulator on 127.0.0.1: killed with
//! SIGKILL at ten pseudo-random points, then resumed; the raw archive must end up with every
//! row exactly once, equal to the simulator's own answers, and a rerun must fetch nothing.

use std::{
    collections::BTreeSet,
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use binance::Market;
use data::{backfill::stored_rows, raw::RawStore};
use serde_json::Value;
use sim::SimConfig;

/// 2024-06-01T00:00:00Z.
const NOW: u64 = 1_717_200_000_000;
const FROM: u64 = NOW - 3 * 86_400_000;
const TO: u64 = NOW - 86_400_000;

fn backfill(base: &str, root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_alphalab"));
    c.args(["backfill", "--market", "spot", "--symbols", "BTCUSDT", "--data", "klines:1m,aggTrades"])
        .args(["--from", &FROM.to_string(), "--to", &TO.to_string(), "--base-url", base, "--concurrency", "2"])
        .arg("--data-root")
        .arg(root)
        .env("NAUTILUS_LOG", "stdout=Warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// All klines of the range straight from the simulator, page by page.
async fn truth_klines(base: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut start = FROM;
    while start < TO {
        let url =
            format!("{base}/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1000&startTime={start}&endTime={}", TO - 1);
        let page: Vec<Value> = reqwest::get(url).await.unwrap().json().await.unwrap();
        start = page.last().unwrap()[0].as_u64().unwrap() + 60_000;
        out.extend(page);
    }
    out
}

#[test]
fn killed_ten_times_then_resumed_has_no_gaps_and_no_duplicates() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let sim = rt.block_on(async {
        let mut cfg = SimConfig { start_time_ms: Some(NOW), ..SimConfig::default() };
        cfg.faults.latency_ms = 15;
        sim::spawn(cfg).await.unwrap()
    });
    let base = sim.rest_url();
    let root = std::env::temp_dir().join(format!("alphalab-backfill-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);

    // Ten kills at pseudo-random moments (fixed seed), each while the job may be mid-page.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut killed_running = 0;
    for _ in 0..10 {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let delay = 150 + (seed >> 33) % 900;
        let mut child = backfill(&base, &root).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        if child.try_wait().unwrap().is_none() {
            killed_running += 1;
        }
        child.kill().unwrap_or(()); // SIGKILL
        child.wait().unwrap();
    }
    assert!(killed_running >= 5, "only {killed_running} of 10 kills hit a running backfill");

    let status = backfill(&base, &root).status().unwrap();
    assert!(status.success());

    let store = RawStore::new(&root);
    // Klines: every minute of [FROM, TO) exactly once, byte-equal to the simulator's.
    let stored: Vec<Value> = stored_rows(&store, Market::Spot, "klines_1m", "BTCUSDT")
        .unwrap()
        .into_iter()
        .filter(|k| (FROM..TO).contains(&k[0].as_u64().unwrap()))
        .collect();
    let times: Vec<u64> = stored.iter().map(|k| k[0].as_u64().unwrap()).collect();
    assert_eq!(times.len(), ((TO - FROM) / 60_000) as usize, "no gaps, no duplicates");
    assert!(times.windows(2).all(|w| w[1] == w[0] + 60_000));
    assert_eq!(stored, rt.block_on(truth_klines(&base)));
    // aggTrades: contiguous ids, each once, trade ids chained f..l without holes.
    let agg = stored_rows(&store, Market::Spot, "aggTrades", "BTCUSDT").unwrap();
    let ids: Vec<u64> = agg.iter().map(|a| a["a"].as_u64().unwrap()).collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "no duplicate aggregate");
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "no missing aggregate");
    assert!(agg.windows(2).all(|w| w[1]["f"].as_u64().unwrap() == w[0]["l"].as_u64().unwrap() + 1));
    let in_range = agg.iter().filter(|a| (FROM..TO).contains(&a["T"].as_u64().unwrap())).count();
    assert!(in_range > 10_000, "{in_range} aggregates in two days");

    // A rerun over the complete range fetches no page again.
    let klines = binance::endpoint::find(Market::Spot, "klines").unwrap();
    let before = sim.state.stats.requests(klines);
    assert!(backfill(&base, &root).status().unwrap().success());
    assert_eq!(sim.state.stats.requests(klines), before);

    rt.block_on(sim.shutdown());
    std::fs::remove_dir_all(&root).unwrap();
}
