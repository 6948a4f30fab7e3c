//! REST client: weights, headers, retries, throttling, bans and error reporting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use binance::limiter::{Clock, Limiter, LimiterConfig, ManualClock};
use binance::rest::{RestClient, RestConfig};
use binance::{Error, Market, endpoint};

use crate::stub::{Hit, HttpStub, Reply};

const KLINES: &str = r#"[[1700000000000,"37000.1","37010.0","36990.5","37005.2","12.5",1700000059999,"462500.0",42,"6.1","225700.0","0"]]"#;
const TRUNCATED: &str = r#"[[1700000000000,"37000.1","#;

fn ep(market: Market, name: &str) -> &'static endpoint::Endpoint {
    endpoint::find(market, name).unwrap()
}

fn config(stub: &HttpStub) -> RestConfig {
    RestConfig {
        spot_url: stub.base.clone(),
        usdm_url: format!("{}/", stub.base),
        timeout: Duration::from_secs(2),
        max_retries: 3,
        backoff: Duration::from_millis(10),
        ..RestConfig::default()
    }
}

/// A client whose limiters run on a frozen virtual clock, so no window rolls mid-test.
fn frozen_client(cfg: RestConfig) -> RestClient {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(Duration::from_secs(1_700_000_000)));
    let spot = Limiter::with_clock(Market::Spot, LimiterConfig::default(), clock.clone());
    let usdm = Limiter::with_clock(Market::UsdM, LimiterConfig::default(), clock);
    RestClient::with_limiters(cfg, spot, usdm).unwrap()
}

fn klines_params() -> Vec<(&'static str, String)> {
    vec![("symbol", "BTCUSDT".into()), ("interval", "1m".into()), ("limit", "1000".into())]
}

#[tokio::test]
async fn charges_table_weight_and_reads_used_weight_header() {
    let stub = HttpStub::start(vec![], Reply::ok(KLINES).header("X-MBX-USED-WEIGHT-1M", "1234")).await;
    let client = frozen_client(config(&stub));
    let r = client.get(ep(Market::UsdM, "klines"), &klines_params()).await.unwrap();
    assert_eq!(r.url, format!("{}/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=1000", stub.base));
    assert_eq!(r.body.as_ref(), KLINES.as_bytes());
    assert_eq!((r.status, r.weight, r.used_weight, r.attempts), (200, 5, Some(1234), 1));
    assert_eq!(r.params[2], ("limit".to_string(), "1000".to_string()));
    assert_eq!(r.endpoint.id(), "futures/klines");
    assert!(r.latency <= r.elapsed);
    let usdm = client.limiter(Market::UsdM);
    assert_eq!((usdm.total_weight(), usdm.used_weight(), usdm.peak_used_weight()), (5, 1234, 1234));
    assert_eq!(client.limiter(Market::Spot).total_weight(), 0);

    // Weight depends on the symbol too; no limit given means the documented default.
    client.get(ep(Market::UsdM, "asset_index"), &[]).await.unwrap();
    client.get(ep(Market::Spot, "depth"), &[("symbol", "BTCUSDT".into())]).await.unwrap();
    assert_eq!(usdm.total_weight(), 15);
    assert_eq!(client.limiter(Market::Spot).total_weight(), 5);
    let paths: Vec<_> = stub.hits().into_iter().map(|h| h.path_and_query).collect();
    assert_eq!(
        paths,
        [
            "/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=1000",
            "/fapi/v1/assetIndex",
            "/api/v3/depth?symbol=BTCUSDT"
        ]
    );
}

#[tokio::test]
async fn limiters_are_shared_and_checked() {
    let stub = HttpStub::start(vec![], Reply::ok("{}")).await;
    let spot = Limiter::new(Market::Spot, LimiterConfig::default());
    let usdm = Limiter::new(Market::UsdM, LimiterConfig::default());
    let err = RestClient::with_limiters(config(&stub), usdm.clone(), spot.clone()).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    let a = RestClient::with_limiters(config(&stub), spot.clone(), usdm.clone()).unwrap();
    let b = RestClient::with_limiters(config(&stub), spot.clone(), usdm).unwrap();
    a.get(ep(Market::Spot, "exchange_info"), &[]).await.unwrap();
    b.get(ep(Market::Spot, "exchange_info"), &[]).await.unwrap();
    assert_eq!(spot.total_weight(), 40);
}

#[tokio::test]
async fn retry_after_429_pauses_the_market_then_succeeds() {
    let throttled = Reply::status(429, r#"{"code":-1003,"msg":"Too many requests."}"#).header("Retry-After", "2");
    let stub = HttpStub::start(vec![throttled], Reply::ok(r#"{"symbol":"BTCUSDT","price":"1"}"#)).await;
    let client = RestClient::new(config(&stub)).unwrap();
    let t0 = Instant::now();
    let r = client.get(ep(Market::Spot, "ticker_price"), &[("symbol", "BTCUSDT".into())]).await.unwrap();
    assert!(t0.elapsed() >= Duration::from_secs(2), "{:?}", t0.elapsed());
    assert!(r.elapsed >= Duration::from_secs(2));
    assert_eq!(r.attempts, 2);
    assert_eq!(stub.hits().len(), 2, "no second 429 provoked");
    assert_eq!(client.limiter(Market::Spot).waits(), 1);
}

#[tokio::test]
async fn ban_418_stops_only_that_market() {
    let banned =
        Reply::status(418, r#"{"code":-1003,"msg":"Way too many requests; IP banned."}"#).header("Retry-After", "3600");
    let stub = HttpStub::start(vec![banned], Reply::ok("{}")).await;
    let client = RestClient::new(config(&stub)).unwrap();
    let fut_time = ep(Market::UsdM, "time");
    for _ in 0..2 {
        let err = client.get(fut_time, &[]).await.unwrap_err();
        assert!(matches!(err, Error::Banned { market: Market::UsdM, retry_after_secs: 3600 }), "{err:?}");
    }
    assert_eq!(stub.hits().len(), 1, "the banned market sends nothing more");
    let r = client.get(ep(Market::Spot, "time"), &[]).await.unwrap();
    assert_eq!((r.status, r.attempts), (200, 1));
    assert!(client.limiter(Market::UsdM).is_banned());
    assert!(!client.limiter(Market::Spot).is_banned());
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff() {
    let script = vec![Reply::status(500, "oops"), Reply::status(503, "busy")];
    let stub = HttpStub::start(script, Reply::ok(r#"{"serverTime":1}"#)).await;
    let client = frozen_client(config(&stub));
    let r = client.get(ep(Market::UsdM, "time"), &[]).await.unwrap();
    assert_eq!((r.attempts, r.body.as_ref()), (3, br#"{"serverTime":1}"#.as_slice()));
    assert_eq!(stub.hits().len(), 3);
    assert_eq!(client.limiter(Market::UsdM).total_weight(), 3, "every attempt is charged");
}

#[tokio::test]
async fn persistent_server_error_fails_after_max_retries() {
    let stub = HttpStub::start(vec![], Reply::status(502, "bad gateway")).await;
    let client = frozen_client(config(&stub));
    let err = client.get(ep(Market::UsdM, "open_interest"), &[("symbol", "ETHUSDT".into())]).await.unwrap_err();
    match &err {
        Error::Status { endpoint, symbol, status, body } => {
            assert_eq!((endpoint.as_str(), symbol.as_deref()), ("futures/open_interest", Some("ETHUSDT")));
            assert_eq!((*status, body.as_str()), (502, "bad gateway"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.to_string(), "futures/open_interest (ETHUSDT): HTTP 502: bad gateway");
    assert_eq!(stub.hits().len(), 4, "max_retries + 1 attempts");
}

#[tokio::test]
async fn truncated_body_is_retried() {
    let stub = HttpStub::start(vec![Reply::ok(TRUNCATED)], Reply::ok(KLINES)).await;
    let client = frozen_client(config(&stub));
    let r = client.get(ep(Market::UsdM, "klines"), &klines_params()).await.unwrap();
    assert_eq!((r.attempts, r.body.as_ref()), (2, KLINES.as_bytes()));
}

#[tokio::test]
async fn always_truncated_body_is_a_decode_error() {
    let stub = HttpStub::start(vec![], Reply::ok(TRUNCATED)).await;
    let client = frozen_client(RestConfig { max_retries: 1, ..config(&stub) });
    let err = client.get(ep(Market::UsdM, "klines"), &klines_params()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Decode { endpoint, symbol: Some(s), len, .. }
            if endpoint == "futures/klines" && s == "BTCUSDT" && *len == TRUNCATED.len()),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("futures/klines (BTCUSDT): malformed JSON body (26 bytes)"), "{err}");
    assert_eq!(stub.hits().len(), 2);
}

#[tokio::test]
async fn slow_server_times_out_after_retries() {
    let stub = HttpStub::start(vec![], Reply::ok("{}").delay(Duration::from_secs(3))).await;
    let cfg = RestConfig { timeout: Duration::from_millis(200), max_retries: 1, ..config(&stub) };
    let client = frozen_client(cfg);
    let t0 = Instant::now();
    let err = client.get(ep(Market::Spot, "depth"), &[("symbol", "ETHUSDT".into())]).await.unwrap_err();
    assert!(
        matches!(&err, Error::Timeout { endpoint, symbol: Some(s), secs }
            if endpoint == "spot/depth" && s == "ETHUSDT" && (*secs - 0.2).abs() < 1e-9),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "spot/depth (ETHUSDT): timed out after 0.2 s");
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(stub.hits().len(), 2);
}

#[tokio::test]
async fn binance_error_body_is_not_retried() {
    let stub = HttpStub::start(vec![], Reply::status(400, r#"{"code":-1121,"msg":"Invalid symbol."}"#)).await;
    let client = frozen_client(config(&stub));
    let err = client.get(ep(Market::Spot, "ticker_price"), &[("symbol", "NOPE".into())]).await.unwrap_err();
    assert!(
        matches!(&err, Error::Api { endpoint, symbol: Some(s), status: 400, code: -1121, msg }
            if endpoint == "spot/ticker_price" && s == "NOPE" && msg == "Invalid symbol."),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "spot/ticker_price (NOPE): HTTP 400, Binance code -1121: Invalid symbol.");
    assert_eq!(stub.hits().len(), 1);
}

#[tokio::test]
async fn other_client_errors_keep_the_body() {
    let stub = HttpStub::start(vec![], Reply::status(404, "<html>not found</html>")).await;
    let client = frozen_client(config(&stub));
    let err = client.get(ep(Market::UsdM, "index_info"), &[]).await.unwrap_err();
    assert!(
        matches!(&err, Error::Status { endpoint, symbol: None, status: 404, body }
            if endpoint == "futures/index_info" && body == "<html>not found</html>"),
        "{err:?}"
    );
    assert_eq!(stub.hits().len(), 1);
}

#[tokio::test]
async fn bad_limit_is_rejected_before_sending() {
    let stub = HttpStub::start(vec![], Reply::ok("[]")).await;
    let client = frozen_client(config(&stub));
    let params = [("symbol", "BTCUSDT".into()), ("interval", "1m".into()), ("limit", "lots".into())];
    let err = client.get(ep(Market::UsdM, "klines"), &params).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidRequest { endpoint, .. } if endpoint == "futures/klines"), "{err:?}");
    assert!(stub.hits().is_empty());
}

#[tokio::test]
async fn api_key_is_sent_but_never_shown() {
    const KEY: &str = "s3cr3t-API-KEY-0123456789";
    let stub = HttpStub::start(vec![], Reply::ok("{}")).await;
    let cfg = RestConfig { api_key: Some(KEY.into()), ..config(&stub) };
    let client = RestClient::new(cfg.clone()).unwrap();
    let r = client.get(ep(Market::Spot, "ping"), &[]).await.unwrap();
    for shown in [format!("{cfg:?}"), format!("{cfg:#?}"), format!("{client:?}"), format!("{r:?}")] {
        assert!(!shown.contains(KEY), "{shown}");
    }
    assert!(format!("{cfg:?}").contains("<redacted>"));
    assert_eq!(stub.hits(), [Hit { path_and_query: "/api/v3/ping".into(), api_key: Some(KEY.into()) }]);
}
