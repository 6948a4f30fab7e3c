//! The order book the simulator serves: REST `/depth` and the `@depth@100ms` diff stream follow
//! Binance's update-id rules (spot `U = previous u + 1`, USD-M `pu = previous u`) and agree at
//! every update id; the lost-event fault breaks the chain exactly once; `@forceOrder` events.

use std::collections::BTreeMap;

use binance::{
    Market,
    endpoint::find,
    stream::{Stream, StreamKind},
};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use sim::{
    SimConfig,
    events::events,
    model::{Model, ModelConfig, Venue},
    payload::respond,
    query::Query,
};
use tokio_tungstenite::tungstenite::Message;

/// 2024-08-08T12:34:56.789Z.
const NOW: u64 = 1_723_120_496_789;

type Side = BTreeMap<String, String>;

fn model() -> Model {
    Model::new(ModelConfig::default())
}

/// REST `/depth?symbol=BTCUSDT&limit=1000` at `now`: (lastUpdateId, bids, asks).
fn rest_book(m: &Model, market: Market, now: u64) -> (u64, Side, Side) {
    let q = Query { symbol: Some("BTCUSDT".into()), limit: 1000, ..Query::default() };
    let v = respond(find(market, "depth").unwrap(), &q, m, now).unwrap();
    let side = |k: &str| -> Side { v[k].as_array().unwrap().iter().map(|l| (s(&l[0]), s(&l[1]))).collect() };
    (v["lastUpdateId"].as_u64().unwrap(), side("bids"), side("asks"))
}

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}

/// Applies one side of a diff event: quantity 0 removes the level.
fn apply(book: &mut Side, levels: &Value) {
    for l in levels.as_array().unwrap() {
        let (p, q) = (s(&l[0]), s(&l[1]));
        if q.bytes().all(|b| b == b'0' || b == b'.') {
            book.remove(&p);
        } else {
            book.insert(p, q);
        }
    }
}

#[test]
fn every_diff_turns_the_rest_book_into_the_next_rest_book() {
    let m = model();
    for market in [Market::Spot, Market::UsdM] {
        let stream = Stream::new("BTCUSDT", StreamKind::Depth100ms);
        let evs = events(market, &stream, NOW, NOW + 5_000, &m);
        assert_eq!(evs.len(), 50, "{market}: one event per 100 ms");
        let (e0, first) = &evs[0];
        let (l0, mut bids, mut asks) = rest_book(&m, market, *e0);
        assert_eq!(first["u"].as_u64(), Some(l0), "{market}: the REST book at E is the one of the event ending then");
        let mut prev_u = l0;
        let mut levels = 0;
        for (e, ev) in &evs[1..] {
            let (big_u, u) = (ev["U"].as_u64().unwrap(), ev["u"].as_u64().unwrap());
            assert_eq!(big_u, prev_u + 1, "{market} at {e}: U follows the previous u");
            assert!(u >= big_u);
            if market == Market::UsdM {
                assert_eq!(ev["pu"].as_u64(), Some(prev_u), "{market} at {e}: pu is the previous u");
            }
            apply(&mut bids, &ev["b"]);
            apply(&mut asks, &ev["a"]);
            levels += ev["b"].as_array().unwrap().len() + ev["a"].as_array().unwrap().len();
            let (l, rest_bids, rest_asks) = rest_book(&m, market, *e);
            assert_eq!(l, u, "{market} at {e}");
            assert_eq!((&bids, &asks), (&rest_bids, &rest_asks), "{market}: book after the event at {e}");
            prev_u = u;
        }
        // A realistic diff: dozens of levels, not the whole book.
        let per_event = levels / (evs.len() - 1);
        assert!((5..200).contains(&per_event), "{market}: {per_event} levels per event");
    }
}

#[test]
fn the_book_is_finite_uncrossed_and_the_same_through_its_bucket() {
    let m = model();
    for (market, venue) in [(Market::Spot, Venue::Spot), (Market::UsdM, Venue::Perp)] {
        let d = m.depth("BTCUSDT", venue, NOW, usize::MAX).unwrap();
        assert!(d.bids.len() > 100 && d.bids.len() < 1000 && d.asks.len() > 100 && d.asks.len() < 1000, "{market}");
        assert!(d.bids.windows(2).all(|w| w[0].0 > w[1].0) && d.asks.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(d.bids[0].0 < d.asks[0].0, "{market}: uncrossed");
        let bucket_start = NOW - NOW % 100;
        for t in [bucket_start, bucket_start + 57, bucket_start + 99] {
            assert_eq!(m.depth("BTCUSDT", venue, t, usize::MAX).as_ref(), Some(&d), "{market} at {t}");
        }
        assert_ne!(m.depth("BTCUSDT", venue, bucket_start + 100, usize::MAX).unwrap().update_id, d.update_id);
        assert_eq!(m.depth_at_update("BTCUSDT", venue, d.update_id, usize::MAX), Some(d.clone()));
        let top5 = m.depth("BTCUSDT", venue, NOW, 5).unwrap();
        assert_eq!((&top5.bids[..], &top5.asks[..]), (&d.bids[..5], &d.asks[..5]));
    }
}

#[test]
fn force_orders_are_filled_liquidations_beyond_the_best_price() {
    let m = model();
    let evs = events(Market::UsdM, &Stream::new("BTCUSDT", StreamKind::ForceOrder), NOW, NOW + 600_000, &m);
    assert!((40..110).contains(&evs.len()), "about one every 8 s: {}", evs.len());
    assert!(events(Market::Spot, &Stream::new("BTCUSDT", StreamKind::ForceOrder), NOW, NOW + 600_000, &m).is_empty());
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    for (e, v) in &evs {
        assert_eq!(keys(v), ["e", "E", "o"]);
        let o = &v["o"];
        assert_eq!(keys(o), ["s", "S", "o", "f", "q", "p", "ap", "X", "l", "z", "T"]);
        assert_eq!((o["s"].as_str(), o["X"].as_str(), o["T"].as_u64()), (Some("BTCUSDT"), Some("FILLED"), Some(e - 1)));
        let d = m.depth("BTCUSDT", Venue::Perp, *e, 1).unwrap();
        let p: f64 = o["p"].as_str().unwrap().parse().unwrap();
        let (bid, ask) = (d.bids[0].0 as f64 / 100.0, d.asks[0].0 as f64 / 100.0);
        match o["S"].as_str() {
            Some("SELL") => assert!(p <= bid, "{p} {bid}"),
            Some("BUY") => assert!(p >= ask, "{p} {ask}"),
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn the_lost_event_fault_breaks_the_chain_once_per_connection() {
    let mut cfg = SimConfig::default();
    cfg.faults.ws_skip_depth_after_ms = Some(400);
    let sim = sim::spawn(cfg).await.unwrap();
    for market in [Market::Spot, Market::UsdM] {
        let url = format!("{}/stream?streams=btcusdt@depth@100ms", sim.stream_url(market));
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.unwrap();
        let mut ids = Vec::new();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(1200);
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                let d = &v["data"];
                ids.push((d["U"].as_u64().unwrap(), d["u"].as_u64().unwrap(), d["pu"].as_u64()));
            }
        }
        let _ = ws.close(None).await;
        assert!(ids.len() >= 8, "{market}: {}", ids.len());
        let breaks: Vec<usize> = (1..ids.len()).filter(|&i| ids[i].0 != ids[i - 1].1 + 1).collect();
        assert_eq!(breaks.len(), 1, "{market}: {ids:?}");
        let i = breaks[0];
        if market == Market::UsdM {
            assert_ne!(ids[i].2, Some(ids[i - 1].1), "pu shows the lost event too");
        }
        // Exactly one event is missing: the next one starts where the lost one would have ended.
        let m = &sim.state.model;
        let lost = m.depth_at_update("BTCUSDT", Venue::of(market), ids[i].0 - 1, 1);
        assert!(lost.is_some(), "{market}: U-1 is the lost event's u");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn the_drop_fault_fires_only_the_configured_times() {
    let mut cfg = SimConfig::default();
    cfg.faults.ws_drop_after_ms = Some(200);
    cfg.faults.ws_drop_times = Some(1);
    let sim = sim::spawn(cfg).await.unwrap();
    let url = format!("{}/stream?streams=btcusdt@bookTicker", sim.stream_url(Market::Spot));
    let count = |url: String| async move {
        let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.unwrap();
        ws.send(Message::text(r#"{"method":"LIST_SUBSCRIPTIONS","id":1}"#)).await.unwrap();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(600);
        let mut frames = 0;
        loop {
            match tokio::time::timeout_at(deadline, ws.next()).await {
                Ok(Some(Ok(Message::Text(_)))) => frames += 1,
                Ok(Some(Ok(_))) => {}
                Ok(_) => return (frames, true),
                Err(_) => return (frames, false),
            }
        }
    };
    let (_, dropped) = count(url.clone()).await;
    assert!(dropped, "the first connection is dropped");
    let (frames, dropped) = count(url).await;
    assert!(!dropped && frames > 3, "the second one is not: {frames} frames");
    sim.shutdown().await;
}
