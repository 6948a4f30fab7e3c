//! WebSocket capture: handshake, exact frames, reconnect with gap, stall, pong, deadline.

use std::time::{Duration, Instant};

use binance::Error;
use binance::stream::{Stream, StreamKind};
use binance::ws::{CaptureConfig, capture};

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
