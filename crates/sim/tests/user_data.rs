//! The signed `USER_DATA` route (`GET /fapi/v1/leverageBracket`) over loopback: alphalab's
//! signing client against the simulator's checks (key, timestamp on the simulated clock,
//! HMAC signature), the shipped brackets of the simulated date, and weight accounting.

use std::time::Duration;

use binance::{
    Error, Market,
    brackets::{self, LEVERAGE_BRACKETS},
    rest::{RestClient, RestConfig},
    sign,
};
use rstest::rstest;
use serde_json::Value;
use sim::{SimConfig, SimHandle, UserDataConfig};

/// 2024-01-01T00:00:00Z: far from the wall clock (the client must sync to the server's time),
/// and a date whose shipped ETHUSDT table differs from the current one.
const START_MS: u64 = 1_704_067_200_000;
const DATE: &str = "2024-01-01";

async fn start_with(mutate: impl FnOnce(&mut SimConfig)) -> SimHandle {
    let mut cfg = SimConfig { start_time_ms: Some(START_MS), ..SimConfig::default() };
    // A long window so that no test straddles a boundary of the used weight.
    cfg.limits.window_ms = 3_600_000;
    mutate(&mut cfg);
    sim::spawn(cfg).await.expect("simulator starts")
}

async fn start() -> SimHandle {
    start_with(|_| {}).await
}

fn client(sim: &SimHandle, key: Option<&str>, secret: Option<&str>) -> RestClient {
    RestClient::new(RestConfig {
        spot_url: sim.rest_url(),
        usdm_url: sim.rest_url(),
        timeout: Duration::from_secs(10),
        max_retries: 0,
        api_key: key.map(Into::into),
        api_secret: secret.map(Into::into),
        ..RestConfig::default()
    })
    .unwrap()
}

fn sim_client(sim: &SimHandle) -> RestClient {
    client(sim, Some(UserDataConfig::DEFAULT_API_KEY), Some(UserDataConfig::DEFAULT_API_SECRET))
}

#[tokio::test]
async fn signed_request_gets_the_shipped_brackets_of_the_simulated_date() {
    assert_ne!(brackets::shipped(DATE), brackets::shipped("2025-09-01"), "the date matters");
    let sim = start().await;
    let client = sim_client(&sim);

    let (r, tiers) = brackets::fetch(&client, None).await.unwrap();
    // The shipped tables first, exactly as shipped; then one generated table per other listed
    // symbol of the universe.
    for (symbol, shipped) in brackets::shipped(DATE) {
        assert_eq!(tiers[&symbol], shipped, "{symbol}");
    }
    let body = serde_json::from_slice::<Value>(&r.body).unwrap();
    assert_eq!(body.as_array().unwrap()[..2], brackets::shipped_response(DATE).as_array().unwrap()[..]);
    let listed = sim.state.model.listed(sim.state.now_ms()).count();
    assert_eq!(tiers.len(), listed);
    assert_eq!((r.status, r.weight, r.attempts), (200, 1, 1));
    assert_eq!(r.used_weight, Some(2), "server time (1) + leverageBracket (1)");
    assert_eq!(sim.state.stats.requests(&LEVERAGE_BRACKETS), 1);

    // One symbol: the object of the docs, parsed to that symbol only.
    let (r, tiers) = brackets::fetch(&client, Some("ETHUSDT")).await.unwrap();
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body["symbol"], "ETHUSDT");
    assert_eq!(tiers.len(), 1);
    assert_eq!(tiers["ETHUSDT"], brackets::shipped(DATE)["ETHUSDT"]);
    assert_eq!(r.used_weight, Some(3));
    assert_eq!(client.limiter(Market::UsdM).total_weight(), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_secret_gets_1022_naming_the_endpoint() {
    let sim = start().await;
    let client = client(&sim, Some(UserDataConfig::DEFAULT_API_KEY), Some("not-the-secret"));
    let err = brackets::fetch(&client, Some("BTCUSDT")).await.unwrap_err();
    assert!(matches!(&err, Error::Api { status: 400, code: -1022, .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "futures/leverage_brackets (BTCUSDT): HTTP 400, Binance code -1022: Signature for this request is not valid."
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_key_gets_2015() {
    let sim = start().await;
    let client = client(&sim, Some("someone-else"), Some(UserDataConfig::DEFAULT_API_SECRET));
    let err = brackets::fetch(&client, None).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "futures/leverage_brackets: HTTP 401, Binance code -2015: Invalid API-key, IP, or permissions for action."
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn no_credentials_no_request() {
    let sim = start().await;
    let err = brackets::fetch(&client(&sim, None, None), None).await.unwrap_err();
    assert!(matches!(err, Error::MissingCredentials { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "futures/leverage_brackets: /fapi/v1/leverageBracket is USER_DATA: set API_KEY and API_SECRET"
    );
    assert_eq!(sim.state.stats.total_requests(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_secret_never_shows() {
    let sim = start().await;
    let client = sim_client(&sim);
    let (r, _) = brackets::fetch(&client, None).await.unwrap();
    for shown in [format!("{client:?}"), format!("{r:?}"), format!("{:?}", sim.state.cfg)] {
        assert!(!shown.contains(UserDataConfig::DEFAULT_API_SECRET), "{shown}");
    }
    sim.shutdown().await;
}

/// A raw request signed with the simulator's secret at `timestamp`.
async fn raw_get(sim: &SimHandle, key: Option<&str>, params: &str, timestamp: u64) -> (u16, Option<String>, Value) {
    let query = sign::signed_query(params, UserDataConfig::DEFAULT_API_SECRET.as_bytes(), timestamp);
    let mut req = reqwest::Client::new().get(format!("{}{}?{query}", sim.rest_url(), LEVERAGE_BRACKETS.path));
    if let Some(k) = key {
        req = req.header("X-MBX-APIKEY", k);
    }
    let resp = req.send().await.unwrap();
    let used = resp.headers().get("x-mbx-used-weight-1m").map(|h| h.to_str().unwrap().to_string());
    (resp.status().as_u16(), used, resp.json().await.unwrap())
}

#[rstest]
#[case::no_key(None, "", 0, 401, -2015, "Invalid API-key, IP, or permissions for action.")]
#[case::stale(Some("alphalab-sim-key"), "", -6_000, 400, -1021, "Timestamp for this request is outside of the recvWindow.")]
#[case::ahead(Some("alphalab-sim-key"), "", 2_000, 400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")]
#[case::wall_clock(Some("alphalab-sim-key"), "", i64::MIN, 400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")]
#[case::unknown_symbol(Some("alphalab-sim-key"), "symbol=XRPUSDT", 0, 400, -1121, "Invalid symbol.")]
#[tokio::test]
async fn refusals_carry_binance_codes_and_weight(
    #[case] key: Option<&str>,
    #[case] params: &str,
    #[case] skew_ms: i64,
    #[case] status: u16,
    #[case] code: i64,
    #[case] msg: &str,
) {
    let sim = start().await;
    // The simulated clock, shifted by `skew_ms`; `i64::MIN`: the wall clock (years ahead of it).
    let now = sim.state.now_ms();
    let timestamp = if skew_ms == i64::MIN { sim::server::wall_ms() } else { now.saturating_add_signed(skew_ms) };
    let (got_status, used, body) = raw_get(&sim, key, params, timestamp).await;
    assert_eq!((got_status, body["code"].as_i64(), body["msg"].as_str()), (status, Some(code), Some(msg)));
    assert_eq!(used.as_deref(), Some("1"), "refused requests are charged too");
    let (ok_status, used, _) = raw_get(&sim, Some("alphalab-sim-key"), "", sim.state.now_ms()).await;
    assert_eq!((ok_status, used.as_deref()), (200, Some("2")));
    sim.shutdown().await;
}

#[tokio::test]
async fn signed_route_is_metered_like_the_table() {
    let sim = start_with(|c| c.limits.usdm_weight_per_minute = 2).await;
    let key = Some(UserDataConfig::DEFAULT_API_KEY);
    for used in ["1", "2"] {
        let (status, got, _) = raw_get(&sim, key, "", sim.state.now_ms()).await;
        assert_eq!((status, got.as_deref()), (200, Some(used)));
    }
    let (status, used, body) = raw_get(&sim, key, "", sim.state.now_ms()).await;
    assert_eq!((status, used.as_deref(), body["code"].as_i64()), (429, Some("3"), Some(-1003)));
    assert_eq!(sim.state.stats.responses_429(), 1);
    assert_eq!(sim.state.stats.requests(&LEVERAGE_BRACKETS), 3);
    sim.shutdown().await;
}
