//! The simulator over real loopback sockets: routes from the table, Binance error codes,
//! weight accounting with 429/418, faults, determinism and the WebSocket protocol.

#[path = "../../../test_data/legacy_fields.rs"]
mod legacy_fields;

use std::time::Duration;

use binance::{ENDPOINTS, Endpoint, Market, endpoint::ParamKind};
use futures::{SinkExt, StreamExt};
use rstest::rstest;
use serde_json::Value;
use sim::{SimConfig, SimHandle, fault::FaultRule};
use tokio_tungstenite::tungstenite::Message;

/// 2024-06-01T00:00:00Z: a fixed server start so that history windows are reproducible.
const START_MS: u64 = 1_717_200_000_000;

async fn start(mutate: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut cfg = SimConfig { start_time_ms: Some(START_MS), ..SimConfig::default() };
    mutate(&mut cfg);
    sim::spawn(cfg).await.expect("simulator starts")
}

/// Parameters a caller must send, with valid values (the table says which).
fn required_params(ep: &Endpoint) -> Vec<(&'static str, String)> {
    ep.params
        .iter()
        .filter(|p| p.required)
        .map(|p| {
            let v = match p.kind {
                ParamKind::Symbol | ParamKind::Pair => "BTCUSDT",
                ParamKind::Interval => "1m",
                ParamKind::Period => "5m",
                ParamKind::ContractType => "PERPETUAL",
                _ => "1",
            };
            (p.name, v.to_string())
        })
        .collect()
}

async fn get(base: &str, ep: &Endpoint, params: &[(&str, String)]) -> reqwest::Response {
    reqwest::Client::new().get(format!("{base}{}", ep.path)).query(params).send().await.expect("request")
}

#[tokio::test]
async fn every_endpoint_answers_with_exactly_its_documented_fields() {
    let shapes = legacy_fields::rest_shapes();
    let sim = start(|_| {}).await;
    for ep in ENDPOINTS {
        let resp = get(&sim.rest_url(), ep, &required_params(ep)).await;
        assert_eq!(resp.status(), 200, "{}", ep.id());
        let used = resp.headers().get("x-mbx-used-weight-1m").map(|h| h.to_str().unwrap().to_string());
        assert!(used.is_some(), "{} has X-MBX-USED-WEIGHT-1M", ep.id());
        let body: Value = resp.json().await.expect("json");
        legacy_fields::check(&shapes[&(ep.market.to_string(), ep.name.to_string())], &body, &ep.id()).unwrap();
        let non_empty = body.as_array().is_none_or(|a| !a.is_empty());
        assert!(non_empty, "{} has rows", ep.id());
    }
    sim.shutdown().await;
}

#[rstest]
#[case::unknown_symbol("/api/v3/klines", "symbol=NOPEUSDT&interval=1m", 400, -1121)]
#[case::missing_symbol("/api/v3/depth", "", 400, -1102)]
#[case::missing_interval("/fapi/v1/klines", "symbol=BTCUSDT", 400, -1102)]
#[case::illegal_symbol("/api/v3/ticker/price", "symbol=BTC%24USDT", 400, -1100)]
#[case::illegal_limit("/api/v3/trades", "symbol=BTCUSDT&limit=ten", 400, -1100)]
#[case::bad_interval("/api/v3/klines", "symbol=BTCUSDT&interval=7m", 400, -1120)]
#[case::bad_depth_limit("/fapi/v1/depth", "symbol=BTCUSDT&limit=7", 400, -1130)]
#[case::bad_period("/futures/data/openInterestHist", "symbol=BTCUSDT&period=2m", 400, -1130)]
#[case::unread_param("/api/v3/ping", "foo=1", 400, -1104)]
#[case::start_after_end("/api/v3/klines", "symbol=BTCUSDT&interval=1m&startTime=2&endTime=1", 400, -1130)]
#[tokio::test]
async fn bad_requests_get_binance_error_codes(
    #[case] path: &str,
    #[case] query: &str,
    #[case] status: u16,
    #[case] code: i64,
) {
    let sim = start(|_| {}).await;
    let resp = reqwest::get(format!("{}{path}?{query}", sim.rest_url())).await.unwrap();
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert!(body["msg"].as_str().is_some_and(|m| !m.is_empty()));
    sim.shutdown().await;
}

#[tokio::test]
async fn used_weight_follows_the_table_then_429_then_418() {
    let sim = start(|c| {
        c.limits.usdm_weight_per_minute = 12;
        c.limits.ban_after_429s = 2;
        // A long window so the test never straddles a boundary.
        c.limits.window_ms = 3_600_000;
    })
    .await;
    let klines = binance::endpoint::find(Market::UsdM, "klines").unwrap();
    let params = |limit: &str| {
        vec![("symbol", "BTCUSDT".to_string()), ("interval", "1m".to_string()), ("limit", limit.to_string())]
    };
    let used = |r: &reqwest::Response| r.headers()["x-mbx-used-weight-1m"].to_str().unwrap().parse::<u32>().unwrap();
    let r = get(&sim.rest_url(), klines, &params("1000")).await;
    assert_eq!((r.status().as_u16(), used(&r)), (200, 5));
    let r = get(&sim.rest_url(), klines, &params("50")).await;
    assert_eq!((r.status().as_u16(), used(&r)), (200, 6));
    let r = get(&sim.rest_url(), klines, &params("1500")).await;
    assert_eq!((r.status().as_u16(), used(&r)), (429, 16));
    assert!(r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() > 0);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], -1003);
    // Spot is metered separately.
    let ping = binance::endpoint::find(Market::Spot, "ping").unwrap();
    assert_eq!(get(&sim.rest_url(), ping, &[]).await.status(), 200);
    let r = get(&sim.rest_url(), klines, &params("1")).await;
    assert_eq!(r.status(), 429);
    let r = get(&sim.rest_url(), klines, &params("1")).await;
    assert_eq!(r.status(), 418, "repeated violations ban the IP");
    assert_eq!(r.headers()["retry-after"], "120");
    assert_eq!(sim.state.stats.responses_429(), 2);
    assert_eq!(sim.state.stats.responses_418(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn futures_data_endpoints_share_a_five_minute_request_bucket() {
    let sim = start(|c| c.limits.futures_data_requests_per_5m = 3).await;
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for name in [
            "open_interest_hist",
            "top_long_short_position_ratio",
            "long_short_account_ratio",
            "taker_long_short_ratio",
        ] {
            let ep = binance::endpoint::find(Market::UsdM, name).unwrap();
            v.push(get(&sim.rest_url(), ep, &required_params(ep)).await.status().as_u16());
        }
        v
    };
    assert_eq!(statuses, vec![200, 200, 200, 429]);
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_truncate_fail_and_delay_as_configured() {
    let rule = |toml: &str| -> FaultRule { toml::from_str(toml).unwrap() };
    let sim = start(|c| {
        c.faults.rules = vec![
            rule("endpoint = \"spot/time\"\naction = \"truncate\"\ntimes = 1"),
            rule("endpoint = \"futures/open_interest\"\naction = \"status\"\nstatus = 503"),
            rule("endpoint = \"spot/avg_price\"\naction = \"delay\"\nms = 300"),
        ];
    })
    .await;
    let base = sim.rest_url();
    let time = binance::endpoint::find(Market::Spot, "time").unwrap();
    let first = get(&base, time, &[]).await.bytes().await.unwrap();
    assert!(serde_json::from_slice::<Value>(&first).is_err(), "first body truncated");
    let second: Value = get(&base, time, &[]).await.json().await.unwrap();
    assert!(second["serverTime"].is_u64());
    let oi = binance::endpoint::find(Market::UsdM, "open_interest").unwrap();
    assert_eq!(get(&base, oi, &required_params(oi)).await.status(), 503);
    let avg = binance::endpoint::find(Market::Spot, "avg_price").unwrap();
    let t = std::time::Instant::now();
    assert_eq!(get(&base, avg, &required_params(avg)).await.status(), 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    sim.shutdown().await;
}

#[tokio::test]
async fn same_seed_same_bytes_other_seed_other_bytes() {
    let q = [
        ("symbol", "BTCUSDT".to_string()),
        ("interval", "1m".to_string()),
        ("startTime", (START_MS - 86_400_000).to_string()),
        ("endTime", (START_MS - 3_600_000).to_string()),
        ("limit", "1000".to_string()),
    ];
    let mut bodies = Vec::new();
    for seed in [7, 7, 8] {
        let sim = start(|c| c.model.seed = seed).await;
        for market in Market::ALL {
            let ep = binance::endpoint::find(market, "klines").unwrap();
            bodies.push(get(&sim.rest_url(), ep, &q).await.bytes().await.unwrap());
        }
        sim.shutdown().await;
    }
    assert_eq!(bodies[0], bodies[2]);
    assert_eq!(bodies[1], bodies[3]);
    assert_ne!(bodies[0], bodies[4]);
    assert_ne!(bodies[1], bodies[5]);
}

async fn next_text(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.expect("frame in time");
        if let Message::Text(t) = msg.expect("open").expect("ok") {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

#[tokio::test]
async fn websocket_subscribe_list_and_combined_frames() {
    let sim = start(|c| c.ws.tick_ms = 50).await;
    let url = format!("{}/stream", sim.stream_url(Market::Spot));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let sub = r#"{"method":"SUBSCRIBE","params":["btcusdt@ticker_1h","btcusdt@trade"],"id":1}"#;
    ws.send(Message::Text(sub.into())).await.unwrap();
    assert_eq!(next_text(&mut ws).await, serde_json::json!({"result": null, "id": 1}));
    ws.send(Message::Text(r#"{"method":"LIST_SUBSCRIPTIONS","id":2}"#.into())).await.unwrap();
    assert_eq!(
        next_text(&mut ws).await,
        serde_json::json!({"result": ["btcusdt@ticker_1h", "btcusdt@trade"], "id": 2})
    );
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 2 {
        let f = next_text(&mut ws).await;
        let stream = f["stream"].as_str().expect("combined envelope").to_string();
        let data = &f["data"];
        match stream.as_str() {
            "btcusdt@ticker_1h" => assert_eq!(data["e"], "1hTicker"),
            "btcusdt@trade" => assert_eq!(data["e"], "trade"),
            other => panic!("unexpected stream {other}"),
        }
        seen.insert(stream);
    }
    let bad = r#"{"method":"SUBSCRIBE","params":["btcusdt@ticker_2h"],"id":3}"#;
    ws.send(Message::Text(bad.into())).await.unwrap();
    loop {
        let f = next_text(&mut ws).await;
        if f.get("id") == Some(&Value::from(3)) {
            assert_eq!(f["error"]["code"], 2);
            break;
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn websocket_raw_stream_sends_bare_events_and_pings() {
    let sim = start(|c| {
        c.ws.tick_ms = 50;
        c.ws.ping_interval_ms = 200;
    })
    .await;
    let url = format!("{}/ws/ethusdt@ticker_4h", sim.stream_url(Market::Spot));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let (mut got_event, mut got_ping) = (false, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !(got_event && got_ping) && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap() {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                assert_eq!((v["e"].as_str(), v["s"].as_str()), (Some("4hTicker"), Some("ETHUSDT")));
                got_event = true;
            }
            Message::Ping(_) => got_ping = true,
            _ => {}
        }
    }
    assert!(got_event && got_ping, "event {got_event} ping {got_ping}");
    sim.shutdown().await;
}

#[tokio::test]
async fn websocket_drop_fault_closes_the_connection() {
    let sim = start(|c| {
        c.ws.tick_ms = 20;
        c.faults.ws_drop_after_ms = Some(300);
    })
    .await;
    let url = format!("{}/ws/btcusdt@trade", sim.stream_url(Market::Spot));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let t = std::time::Instant::now();
    let ended =
        tokio::time::timeout(Duration::from_secs(5), async { while let Some(Ok(_)) = ws.next().await {} }).await;
    assert!(ended.is_ok(), "connection dropped");
    assert!(t.elapsed() >= Duration::from_millis(250));
    sim.shutdown().await;
}
