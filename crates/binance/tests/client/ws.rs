//! WebSocket capture: handshake, exact frames, reconnect with gap, stall, pong, deadline.

use std::time::{Duration, Instant};

use binance::stream::{Stream, StreamKind, WsLimits};
use binance::ws::{CaptureConfig, RecordOptions, WsEvent, capture, record};
use binance::{Error, Market};
use tokio::sync::{mpsc, watch};

use crate::stub::{WsMode, WsStub, ws_frame};

const SUBSCRIBE_1: &str = r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}"#;
const SUBSCRIBE_2: &str = r#"{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":2}"#;

fn config(base: &str, duration: Duration) -> CaptureConfig {
    CaptureConfig {
        reconnect_backoff: Duration::from_millis(100),
        ..CaptureConfig::new(base, vec![Stream::new("btcusdt", StreamKind::Trade)], duration)
    }
}

#[tokio::test]
async fn drop_mid_capture_reconnects_with_one_gap() {
    let stub = WsStub::start(WsMode::PingThenDrop).await;
    let duration = Duration::from_millis(1500);
    let t0 = Instant::now();
    let cap = capture(config(&stub.base, duration)).await.unwrap();
    let took = t0.elapsed();
    assert!(took >= duration && took < duration + Duration::from_secs(1), "{took:?}");

    assert_eq!(cap.subscribed, ["btcusdt@trade"]);
    assert_eq!(stub.requests(), [SUBSCRIBE_1, SUBSCRIBE_2], "resubscribed with a new id");
    assert_eq!((stub.connections(), cap.reconnects), (2, 1));
    assert_eq!(stub.pongs(), [b"hb".to_vec()], "server ping answered");

    // Exact text, data frames only (no subscription acks), in receive order.
    let texts: Vec<_> = cap.frames.iter().map(|f| f.text.as_str()).collect();
    assert_eq!(
        texts[..6],
        [ws_frame(1, 0), ws_frame(1, 1), ws_frame(1, 2), ws_frame(1, 3), ws_frame(1, 4), ws_frame(2, 0)]
    );
    assert!(cap.frames.len() >= 12, "{}", cap.frames.len());
    assert!(cap.frames.windows(2).all(|w| w[0].received_at_ns <= w[1].received_at_ns));

    assert_eq!(cap.gaps.len(), 1, "{:?}", cap.gaps);
    let gap = &cap.gaps[0];
    assert_eq!((gap.from_ns, gap.to_ns), (cap.frames[4].received_at_ns, cap.frames[5].received_at_ns));
    assert!(gap.to_ns - gap.from_ns >= 100_000_000, "at least the reconnect backoff");
    assert!(gap.reason.starts_with("read:") || gap.reason.starts_with("connection closed"), "{}", gap.reason);
}

#[tokio::test]
async fn stalled_connection_is_replaced() {
    let stub = WsStub::start(WsMode::StallFirst).await;
    let cfg =
        CaptureConfig { stall_timeout: Duration::from_millis(300), ..config(&stub.base, Duration::from_millis(900)) };
    let cap = capture(cfg).await.unwrap();
    assert_eq!((stub.connections(), cap.reconnects), (2, 1));
    assert_eq!(cap.frames[0].text, ws_frame(2, 0));
    assert_eq!(cap.gaps.len(), 1);
    assert_eq!(cap.gaps[0].to_ns, cap.frames[0].received_at_ns);
    assert_eq!(cap.gaps[0].reason, "stall: no frame for 300ms");
}

#[tokio::test]
async fn rejected_subscription_names_the_stream() {
    let stub = WsStub::start(WsMode::Reject).await;
    let t0 = Instant::now();
    let err = capture(config(&stub.base, Duration::from_secs(5))).await.unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(2), "fails at once, not at the deadline");
    match err {
        Error::WebSocket { url, msg } => {
            assert_eq!(url, format!("{}/stream", stub.base));
            assert_eq!(msg, "SUBSCRIBE [btcusdt@trade] rejected: code 2: Invalid request: unknown stream");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn no_server_fails_at_the_deadline() {
    // A port that was free a moment ago: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("ws://127.0.0.1:{port}");
    let duration = Duration::from_millis(600);
    let t0 = Instant::now();
    let err = capture(config(&base, duration)).await.unwrap_err();
    let took = t0.elapsed();
    assert!(took >= duration && took < duration + Duration::from_secs(1), "{took:?}");
    match err {
        Error::WebSocket { url, msg } => {
            assert_eq!(url, format!("{base}/stream"));
            assert!(msg.starts_with("no connection within 600ms: connect:"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
}

/// Runs `record` for `run`, returning every event in order and the summary.
async fn record_for(
    base: &str,
    streams: &[Stream],
    opts: RecordOptions,
    run: Duration,
) -> (Vec<WsEvent>, binance::ws::RecordSummary) {
    let (tx, mut rx) = mpsc::channel(16);
    let (stop_tx, stop_rx) = watch::channel(false);
    let collect = async {
        let mut v = Vec::new();
        while let Some(ev) = rx.recv().await {
            v.push(ev);
        }
        v
    };
    let stop = async {
        tokio::time::sleep(run).await;
        stop_tx.send(true).unwrap();
    };
    let (summary, events, ()) = tokio::join!(record(base, streams, opts, tx, stop_rx), collect, stop);
    (events, summary.unwrap())
}

fn frame_conn(ev: &WsEvent) -> Option<u64> {
    match ev {
        WsEvent::Frame(f) => serde_json::from_str::<serde_json::Value>(&f.text).unwrap()["data"]["c"].as_u64(),
        WsEvent::Gap { .. } => None,
    }
}

#[tokio::test]
async fn record_replaces_an_old_connection_and_records_the_hole() {
    let stub = WsStub::start(WsMode::Steady).await;
    let opts =
        RecordOptions { reconnect_after: Duration::from_millis(400), ..RecordOptions::new(WsLimits::of(Market::Spot)) };
    let streams = [Stream::new("btcusdt", StreamKind::Trade)];
    let (events, summary) = record_for(&stub.base, &streams, opts, Duration::from_millis(1000)).await;
    assert_eq!(summary.connections, 1);
    assert!(summary.reconnects >= 1 && stub.connections() == summary.reconnects + 1, "{summary:?}");
    let gaps: Vec<usize> = (0..events.len()).filter(|&i| matches!(events[i], WsEvent::Gap { .. })).collect();
    assert_eq!(gaps.len() as u32, summary.reconnects, "one gap per reconnect");
    let WsEvent::Gap { gap, streams } = &events[gaps[0]] else { unreachable!() };
    assert!(gap.reason.starts_with("scheduled reconnect: connection open for 400ms"), "{}", gap.reason);
    assert_eq!(&streams[..], ["btcusdt@trade"]);
    // The hole runs from the last frame of connection 1 to the first of connection 2.
    let (WsEvent::Frame(before), WsEvent::Frame(after)) = (&events[gaps[0] - 1], &events[gaps[0] + 1]) else {
        panic!("a gap sits between two frames")
    };
    assert_eq!((gap.from_ns, gap.to_ns), (before.received_at_ns, after.received_at_ns));
    assert_eq!((frame_conn(&events[gaps[0] - 1]), frame_conn(&events[gaps[0] + 1])), (Some(1), Some(2)));
    assert_eq!(summary.frames as usize, events.len() - gaps.len());
}

#[tokio::test]
async fn record_spreads_streams_over_connections_within_the_limit() {
    let stub = WsStub::start(WsMode::Steady).await;
    let limits = WsLimits { max_streams_per_connection: 2, ..WsLimits::of(Market::UsdM) };
    let streams: Vec<Stream> =
        ["btcusdt", "ethusdt", "bnbusdt"].iter().map(|s| Stream::new(s, StreamKind::Trade)).collect();
    let (events, summary) =
        record_for(&stub.base, &streams, RecordOptions::new(limits), Duration::from_millis(400)).await;
    assert_eq!((summary.connections, summary.reconnects, stub.connections()), (2, 0, 2));
    let mut requests = stub.requests();
    requests.sort();
    assert_eq!(
        requests,
        [
            r#"{"method":"SUBSCRIBE","params":["bnbusdt@trade"],"id":1}"#,
            r#"{"method":"SUBSCRIBE","params":["btcusdt@trade","ethusdt@trade"],"id":1}"#,
        ]
    );
    assert!(events.iter().all(|e| matches!(e, WsEvent::Frame(_))), "no gap without a reconnect");
    let conns: std::collections::BTreeSet<_> = events.iter().filter_map(frame_conn).collect();
    assert_eq!(conns.into_iter().collect::<Vec<_>>(), [1, 2]);
}

#[tokio::test]
async fn record_stops_with_the_open_hole_as_a_last_gap() {
    let stub = WsStub::start(WsMode::PingThenDrop).await;
    // The drop comes after 5 frames (~250 ms); the first retry would be after the stop.
    let opts =
        RecordOptions { reconnect_backoff: Duration::from_secs(5), ..RecordOptions::new(WsLimits::of(Market::Spot)) };
    let streams = [Stream::new("btcusdt", StreamKind::Trade)];
    let (events, summary) = record_for(&stub.base, &streams, opts, Duration::from_millis(700)).await;
    assert_eq!((summary.frames, summary.reconnects), (5, 0));
    let Some(WsEvent::Gap { gap, .. }) = events.last() else { panic!("{events:?}") };
    let WsEvent::Frame(last) = &events[4] else { panic!() };
    assert_eq!(gap.from_ns, last.received_at_ns);
    assert!(gap.reason.ends_with("; no data until the end"), "{}", gap.reason);
}
