//! REST client: weights, headers, retries, throttling, bans and error reporting.

use std::sync::Arc;
use std::time::{Duration, Instant};

use binance::limiter::{Clock, Limiter, LimiterConfig, ManualClock};
use binance::rest::{RestClient, RestConfig};
use binance::{Error, Market, brackets, endpoint, sign};
use rstest::rstest;

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

// ---------------------------------------------------------------- signed (USER_DATA) requests

const SECRET: &str = "s3cr3t-API-SECRET-0123456789";
const SERVER_TIME: &str = r#"{"serverTime":1700000000000}"#;

fn signed_config(stub: &HttpStub) -> RestConfig {
    RestConfig { api_key: Some("k3y".into()), api_secret: Some(SECRET.into()), ..config(stub) }
}

/// The `timestamp` of a signed query, after checking that `signature` comes last and signs
/// exactly what precedes it, and that `recvWindow` is 5000.
fn check_signed(path_and_query: &str, path: &str, params: &str) -> u64 {
    let query = path_and_query.strip_prefix(&format!("{path}?")).unwrap_or_else(|| panic!("{path_and_query}"));
    let (signed, sig) = query.rsplit_once("&signature=").unwrap();
    assert_eq!(sig, sign::signature(SECRET.as_bytes(), signed), "{query}");
    let rest = signed.strip_prefix(params).unwrap();
    let ts = rest.strip_prefix("timestamp=").and_then(|r| r.strip_suffix("&recvWindow=5000")).unwrap();
    ts.parse().unwrap()
}

#[tokio::test]
async fn signed_get_syncs_the_clock_signs_the_exact_query_and_charges_weight_1() {
    let stub = HttpStub::start(vec![Reply::ok(SERVER_TIME)], Reply::ok("[]")).await;
    let client = frozen_client(signed_config(&stub));
    let lb = &brackets::LEVERAGE_BRACKETS;
    let r = client.get_signed(lb, &[("symbol", "BTCUSDT".into())]).await.unwrap();
    assert_eq!((r.weight, r.attempts, r.body.as_ref()), (1, 1, b"[]".as_slice()));
    assert_eq!(r.url, format!("{}/fapi/v1/leverageBracket?symbol=BTCUSDT", stub.base), "no signature kept");
    let hits = stub.hits();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].path_and_query, "/fapi/v1/time");
    assert_eq!(hits[1].api_key.as_deref(), Some("k3y"));
    // On the server's clock (2023-11-14), not ours.
    let ts = check_signed(&hits[1].path_and_query, "/fapi/v1/leverageBracket", "symbol=BTCUSDT&");
    assert!(ts.abs_diff(1_700_000_000_000) < 5_000, "{ts}");
    assert_eq!(client.limiter(Market::UsdM).total_weight(), 2, "time + leverageBracket");

    // The clock is measured once; no parameter: the signed query starts with timestamp.
    client.get_signed(lb, &[]).await.unwrap();
    let hits = stub.hits();
    assert_eq!(hits.len(), 3);
    check_signed(&hits[2].path_and_query, "/fapi/v1/leverageBracket", "");
}

#[tokio::test]
async fn signed_get_is_throttled_like_any_and_re_signed_per_attempt() {
    let throttled = Reply::status(429, r#"{"code":-1003,"msg":"Too many requests."}"#).header("Retry-After", "1");
    let stub = HttpStub::start(vec![Reply::ok(SERVER_TIME), throttled], Reply::ok("[]")).await;
    let client = RestClient::new(signed_config(&stub)).unwrap();
    let r = client.get_signed(&brackets::LEVERAGE_BRACKETS, &[]).await.unwrap();
    assert_eq!(r.attempts, 2);
    let hits = stub.hits();
    let (a, b) = (&hits[1].path_and_query, &hits[2].path_and_query);
    let (ta, tb) = (check_signed(a, "/fapi/v1/leverageBracket", ""), check_signed(b, "/fapi/v1/leverageBracket", ""));
    assert!(tb >= ta + 1000, "the retry is stamped after the pause: {ta} {tb}");
    assert_eq!(client.limiter(Market::UsdM).waits(), 1);
}

#[rstest]
#[case::bad_key(401, r#"{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}"#, -2015,
    "futures/leverage_brackets (ETHUSDT): HTTP 401, Binance code -2015: Invalid API-key, IP, or permissions for action.")]
#[case::bad_signature(400, r#"{"code":-1022,"msg":"Signature for this request is not valid."}"#, -1022,
    "futures/leverage_brackets (ETHUSDT): HTTP 400, Binance code -1022: Signature for this request is not valid.")]
#[tokio::test]
async fn binance_refusals_name_the_endpoint(
    #[case] status: u16,
    #[case] body: &str,
    #[case] code: i64,
    #[case] message: &str,
) {
    let stub = HttpStub::start(vec![Reply::ok(SERVER_TIME)], Reply::status(status, body)).await;
    let client = frozen_client(signed_config(&stub));
    let err = brackets::fetch(&client, Some("ETHUSDT")).await.unwrap_err();
    assert!(matches!(&err, Error::Api { code: c, status: s, .. } if *c == code && *s == status), "{err:?}");
    assert_eq!(err.to_string(), message);
    assert_eq!(stub.hits().len(), 2, "not retried");
}

#[tokio::test]
async fn timestamp_refused_once_measures_the_clock_again() {
    let stale =
        Reply::status(400, r#"{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}"#);
    let script = vec![Reply::ok(SERVER_TIME), stale, Reply::ok(r#"{"serverTime":1700000009000}"#)];
    let stub = HttpStub::start(script, Reply::ok("[]")).await;
    let client = frozen_client(signed_config(&stub));
    client.get_signed(&brackets::LEVERAGE_BRACKETS, &[]).await.unwrap();
    let paths: Vec<_> = stub.hits().into_iter().map(|h| h.path_and_query).collect();
    assert_eq!(paths.len(), 4);
    assert_eq!(paths[2], "/fapi/v1/time");
    let ts = check_signed(&paths[3], "/fapi/v1/leverageBracket", "");
    assert!(ts.abs_diff(1_700_000_009_000) < 5_000, "{ts}");
}

#[rstest]
#[case::nothing(None, None)]
#[case::key_only(Some("k3y"), None)]
#[case::secret_only(None, Some(SECRET))]
#[case::empty_secret(Some("k3y"), Some(""))]
#[tokio::test]
async fn user_data_without_credentials_sends_nothing(#[case] key: Option<&str>, #[case] secret: Option<&str>) {
    let stub = HttpStub::start(vec![], Reply::ok("[]")).await;
    let cfg = RestConfig { api_key: key.map(Into::into), api_secret: secret.map(Into::into), ..config(&stub) };
    let client = frozen_client(cfg);
    let err = brackets::fetch(&client, None).await.unwrap_err();
    assert!(
        matches!(&err, Error::MissingCredentials { endpoint, path: "/fapi/v1/leverageBracket" }
            if endpoint == "futures/leverage_brackets"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "futures/leverage_brackets: /fapi/v1/leverageBracket is USER_DATA: set API_KEY and API_SECRET"
    );
    assert!(stub.hits().is_empty());
}

#[tokio::test]
async fn fetch_parses_both_documented_shapes_and_refuses_others() {
    const ONE: &str = r#"{"symbol":"ETHUSDT","notionalCoef":1.50,"brackets":[{"bracket":1,"initialLeverage":75,"notionalCap":10000,"notionalFloor":0,"maintMarginRatio":0.0065,"cum":0.0}]}"#;
    let script =
        vec![Reply::ok(SERVER_TIME), Reply::ok(ONE), Reply::ok(&format!("[{ONE}]")), Reply::ok(r#"{"brackets":[]}"#)];
    let stub = HttpStub::start(script, Reply::ok("[]")).await;
    let client = frozen_client(signed_config(&stub));
    for _ in 0..2 {
        let (r, tiers) = brackets::fetch(&client, Some("ETHUSDT")).await.unwrap();
        assert!(r.body.ends_with(b"}]}") || r.body.ends_with(b"}]}]"));
        assert_eq!(tiers.keys().collect::<Vec<_>>(), ["ETHUSDT"]);
        assert_eq!(tiers["ETHUSDT"].0[0].initial_leverage, 75);
    }
    let err = brackets::fetch(&client, Some("ETHUSDT")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "futures/leverage_brackets (ETHUSDT): unexpected payload: leverageBracket: an entry without symbol"
    );
}

#[tokio::test]
async fn api_secret_is_never_shown_nor_sent() {
    let stub = HttpStub::start(vec![Reply::ok(SERVER_TIME)], Reply::ok("[]")).await;
    let cfg = signed_config(&stub);
    let client = RestClient::new(cfg.clone()).unwrap();
    let r = client.get_signed(&brackets::LEVERAGE_BRACKETS, &[]).await.unwrap();
    for shown in [format!("{cfg:?}"), format!("{cfg:#?}"), format!("{client:?}"), format!("{r:?}")] {
        assert!(!shown.contains(SECRET) && !shown.contains("k3y"), "{shown}");
    }
    assert!(format!("{cfg:?}").contains(r#"api_secret: Some("<redacted>")"#));
    for hit in stub.hits() {
        assert!(!hit.path_and_query.contains(SECRET), "{hit:?}");
    }
}
