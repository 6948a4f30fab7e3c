//! `alphalab snapshot` against the simulator on 127.0.0.1: every payload, and what is kept and
//! reported under each fault.

#[path = "../../../test_data/legacy_fields.rs"]
mod legacy_fields;

use std::path::PathBuf;

use alphalab::{
    settings::{SnapshotArgs, SnapshotConfig},
    snapshot::{self, Manifest},
};
use binance::{ENDPOINTS, Market};
use serde_json::Value;
use sim::{SimConfig, SimHandle, fault::FaultRule};

struct Run {
    sim: SimHandle,
    out: PathBuf,
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("alphalab-snap-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

async fn sim_with(mutate: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut cfg = SimConfig::default();
    cfg.ws.tick_ms = 100;
    mutate(&mut cfg);
    sim::spawn(cfg).await.unwrap()
}

fn config(sim: &SimHandle, out: &std::path::Path, mutate: impl FnOnce(&mut SnapshotArgs)) -> SnapshotConfig {
    let mut args = SnapshotArgs {
        base_path_spot: Some(sim.rest_url()),
        base_path_futures: Some(sim.rest_url()),
        stream_url_spot: Some(sim.stream_url(Market::Spot)),
        output_dir: Some(out.to_path_buf()),
        // Long enough that a loaded 2-core CI machine, busy with the 40 REST answers of the
        // in-process (unoptimised) simulator, still delivers rolling-ticker events (1 per second).
        ws_capture_seconds: Some("4".into()),
        ..SnapshotArgs::default()
    };
    mutate(&mut args);
    args.resolve().unwrap()
}

async fn run(tag: &str, sim_cfg: impl FnOnce(&mut SimConfig), args: impl FnOnce(&mut SnapshotArgs)) -> (Run, Manifest) {
    let sim = sim_with(sim_cfg).await;
    let out = temp_dir(tag);
    let cfg = config(&sim, &out, args);
    // Nothing in a test may leave loopback: no base URL may fall back to production Binance.
    for url in [&cfg.base_path_spot, &cfg.base_path_futures, &cfg.stream_url_spot] {
        assert!(url.starts_with("http://127.0.0.1:") || url.starts_with("ws://127.0.0.1:"), "{url}");
    }
    let manifest = snapshot::run(&cfg).await.unwrap();
    (Run { sim, out }, manifest)
}

fn read(out: &std::path::Path, rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(out.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))).unwrap()
}

fn entry<'a>(m: &'a Manifest, market: &str, name: &str) -> &'a snapshot::Entry {
    m.entries.iter().find(|e| e.market == market && e.name == name).unwrap()
}

fn rule(toml: &str) -> FaultRule {
    toml::from_str(toml).unwrap()
}

#[tokio::test]
async fn writes_all_41_payloads_with_their_documented_fields() {
    let (r, m) = run("all", |_| {}, |_| {}).await;
    let shapes = legacy_fields::rest_shapes();
    assert_eq!(m.entries.len(), 40);
    assert_eq!(m.failures(), 0, "{:#?}", m.entries.iter().filter(|e| !e.ok).collect::<Vec<_>>());
    for ep in ENDPOINTS {
        let rec = read(&r.out, &format!("{}/{}.json", ep.market.output_dir(), ep.name));
        // against the legacy harness's own field list, not the table that planned the requests
        let shape = &shapes[&(ep.market.to_string(), ep.name.to_string())];
        legacy_fields::check(shape, &rec["payload"], &ep.id()).unwrap();
        assert!(rec["retrieved_at"].as_str().is_some_and(|t| t.ends_with('Z')));
        let url = rec["request"]["url"].as_str().unwrap();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        assert_eq!(rec["request"]["status"], 200);
        assert!(rec["request"]["used_weight"].as_u64().is_some());
    }
    let ws = read(&r.out, "spot/websocket/rolling_window_ticker.json");
    let events = ws["payload"].as_array().unwrap();
    assert!(!events.is_empty(), "no event in 4 s");
    for e in events {
        assert_eq!(e["stream"], "btcusdt@ticker_4h");
        assert_eq!(e["data"]["e"], "4hTicker");
        let keys: Vec<&str> = e["data"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, legacy_fields::ws_ticker_keys());
        assert!(e["received_at_ns"].as_u64().is_some() && e["frame_bytes"].as_u64().unwrap() > 50);
        assert!(e["latency_ms"].as_f64().is_some());
    }
    let manifest = read(&r.out, "manifest.json");
    assert_eq!(manifest["entries"].as_array().unwrap().len(), 40);
    // The weight budget held: the simulator never had to say 429.
    assert_eq!(r.sim.state.stats.responses_429(), 0);
    for (market, peak, limit) in &m.peak_used_weight {
        assert!(peak < limit, "{market}: {peak} < {limit}");
    }
    r.sim.shutdown().await;
}

#[tokio::test]
async fn one_failing_endpoint_keeps_every_other_payload() {
    let (r, m) = run(
        "one-fails",
        |c| {
            c.faults.rules = vec![rule(
                "endpoint = \"futures/open_interest\"\naction = \"status\"\nstatus = 400\ncode = -1130\nmsg = \"boom\"",
            )]
        },
        |_| {},
    )
    .await;
    assert_eq!(m.failures(), 1);
    let e = entry(&m, "usdm", "open_interest");
    assert_eq!((e.ok, e.status, e.code), (false, Some(400), Some(-1130)));
    assert!(e.error.as_deref().unwrap().contains("futures/open_interest"), "{:?}", e.error);
    assert!(!r.out.join("futures/open_interest.json").exists());
    assert!(r.out.join("futures/open_interest_hist.json").exists());
    assert!(r.out.join("spot/websocket/rolling_window_ticker.json").exists());
    r.sim.shutdown().await;
}

#[tokio::test]
async fn retry_after_429_is_waited_out_once() {
    let (r, m) = run(
        "429",
        |c| {
            c.faults.rules =
                vec![rule("endpoint = \"spot/klines\"\naction = \"too_many\"\nretry_after_secs = 1\ntimes = 1")]
        },
        |_| {},
    )
    .await;
    assert_eq!(m.failures(), 0);
    let e = entry(&m, "spot", "klines");
    assert_eq!(e.attempts, 2);
    assert_eq!(r.sim.state.stats.responses_429(), 1, "no further 429 after waiting");
    r.sim.shutdown().await;
}

#[tokio::test]
async fn ban_418_stops_that_market_and_the_other_completes() {
    let (r, m) = run(
        "418",
        |c| c.faults.rules = vec![rule("endpoint = \"spot/depth\"\naction = \"ban\"\nretry_after_secs = 600")],
        |a| a.concurrency = Some("1".into()),
    )
    .await;
    let spot: Vec<_> = m.entries.iter().filter(|e| e.market == "spot").collect();
    let futures: Vec<_> = m.entries.iter().filter(|e| e.market == "usdm").collect();
    assert!(futures.iter().all(|e| e.ok), "USD-M unaffected");
    // ping, time, exchangeInfo ran before depth; everything after it is refused locally.
    let failed: Vec<&str> = spot.iter().filter(|e| !e.ok).map(|e| e.name.as_str()).collect();
    assert_eq!(failed.len(), 11, "{failed:?}");
    assert!(spot.iter().filter(|e| !e.ok).all(|e| e.error.as_deref().unwrap().contains("418")));
    // Only the one request that got 418 reached the server; the rest never left the client.
    let klines = binance::endpoint::find(Market::Spot, "klines").unwrap();
    assert_eq!(r.sim.state.stats.requests(klines), 0);
    r.sim.shutdown().await;
}

#[tokio::test]
async fn truncated_json_is_retried_and_persistent_corruption_reported() {
    let (r, m) = run(
        "truncated",
        |c| {
            c.faults.rules = vec![
                rule("endpoint = \"spot/trades\"\naction = \"truncate\"\ntimes = 1"),
                rule("endpoint = \"futures/trades\"\naction = \"malformed\""),
            ]
        },
        |a| a.max_retries = Some("2".into()),
    )
    .await;
    let ok = entry(&m, "spot", "trades");
    assert_eq!((ok.ok, ok.attempts), (true, 2));
    let bad = entry(&m, "usdm", "trades");
    assert!(!bad.ok);
    assert!(bad.error.as_deref().unwrap().contains("futures/trades"), "{:?}", bad.error);
    assert_eq!(m.failures(), 1);
    r.sim.shutdown().await;
}

#[tokio::test]
async fn a_timeout_fails_only_its_endpoint() {
    let (r, m) = run(
        "timeout",
        |c| c.faults.rules = vec![rule("endpoint = \"futures/depth\"\naction = \"delay\"\nms = 10000")],
        |a| {
            // Generous, so that only the delayed endpoint can hit it on a loaded CI machine.
            a.timeout_secs = Some("2".into());
            a.max_retries = Some("1".into());
        },
    )
    .await;
    let e = entry(&m, "usdm", "depth");
    assert!(!e.ok);
    assert!(e.error.as_deref().unwrap().contains("timed out"), "{:?}", e.error);
    assert_eq!(m.failures(), 1);
    r.sim.shutdown().await;
}

#[tokio::test]
async fn websocket_drop_reconnects_resubscribes_and_records_the_gap() {
    let (r, m) =
        run("ws-drop", |c| c.faults.ws_drop_after_ms = Some(1500), |a| a.ws_capture_seconds = Some("5".into())).await;
    assert!(m.websocket.ok, "{:?}", m.websocket.error);
    assert!(m.websocket.reconnects >= 1);
    assert!(!m.websocket.gaps.is_empty());
    let ws = read(&r.out, "spot/websocket/rolling_window_ticker.json");
    assert!(ws["request"]["gaps"].as_array().is_some_and(|g| !g.is_empty()));
    assert!(!ws["payload"].as_array().unwrap().is_empty());
    r.sim.shutdown().await;
}

#[tokio::test]
async fn invalid_symbol_is_reported_with_binance_code() {
    let (r, m) = run("bad-symbol", |_| {}, |a| a.spot_symbol = Some("NOPEUSDT".into())).await;
    let e = entry(&m, "spot", "klines");
    assert_eq!(e.code, Some(-1121));
    assert!(e.error.as_deref().unwrap().contains("spot/klines"), "{:?}", e.error);
    assert!(e.error.as_deref().unwrap().contains("Invalid symbol"), "{:?}", e.error);
    assert!(entry(&m, "spot", "exchange_info").ok, "symbol-free endpoints still work");
    assert!(m.entries.iter().filter(|e| e.market == "usdm").all(|e| e.ok));
    assert!(!m.websocket.ok, "the WebSocket refuses an unknown symbol");
    r.sim.shutdown().await;
}

#[tokio::test]
async fn unknown_composite_index_falls_back_to_the_full_list() {
    let (r, m) = run("composite", |_| {}, |a| a.composite_index_symbol = Some("NOSUCHINDEX".into())).await;
    assert!(entry(&m, "usdm", "index_info").ok);
    let rec = read(&r.out, "futures/index_info.json");
    assert!(rec["payload"].as_array().is_some_and(|a| !a.is_empty()));
    assert_eq!(rec["request"]["params"], serde_json::json!([]));
    r.sim.shutdown().await;
}

#[tokio::test]
async fn rerun_replaces_the_snapshot_cleanly() {
    let sim = sim_with(|_| {}).await;
    let out = temp_dir("rerun");
    let first = snapshot::run(&config(&sim, &out, |a| a.ws_capture_seconds = Some("1".into()))).await.unwrap();
    assert_eq!(first.failures(), 0);
    sim.shutdown().await;
    // Second run: open interest now fails; its stale file must not survive.
    let sim = sim_with(|c| {
        c.faults.rules = vec![rule("endpoint = \"futures/open_interest\"\naction = \"status\"\nstatus = 500")]
    })
    .await;
    let second = snapshot::run(&config(&sim, &out, |a| {
        a.ws_capture_seconds = Some("1".into());
        a.max_retries = Some("0".into());
    }))
    .await
    .unwrap();
    assert_eq!(second.failures(), 1);
    assert!(!out.join("futures/open_interest.json").exists());
    let leftovers: Vec<_> = walk(&out).into_iter().filter(|p| p.to_string_lossy().ends_with(".tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    sim.shutdown().await;
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(walk(&p));
        } else {
            v.push(p);
        }
    }
    v
}

#[test]
fn invalid_env_value_exits_2_naming_the_variable() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_alphalab"))
        .arg("snapshot")
        .env("KLINE_LIMIT", "lots")
        // Unroutable on purpose: the run must stop at validation before any request.
        .env("BASE_PATH_SPOT", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("KLINE_LIMIT=\"lots\" is invalid: allowed values are 1..=1500"), "{err}");
}
