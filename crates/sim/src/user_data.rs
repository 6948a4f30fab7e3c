//! The `USER_DATA` routes: signed requests of the one simulated account
//! ([`crate::config::UserDataConfig`]). Served: `GET /fapi/v1/leverageBracket`
//! ([`binance::brackets::LEVERAGE_BRACKETS`]), answering the shipped bracket table in effect on
//! the server clock's date, and generated tables for the other listed symbols ([`crate::brackets`]).
//!
//! A request is metered and faulted like every route (`rest::admit`), then checked in
//! this order: the `X-MBX-APIKEY` header (401, -2015), the parameters (-1104 unread, -1102
//! missing `timestamp` or `signature`, -1100 illegal, -1131 `recvWindow` over 60 s), the
//! timestamp against the server clock (-1021), the signature over the query as sent (-1022).

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::HeaderMap,
    response::Response,
};
use binance::{
    Endpoint, brackets,
    sign::{self, MAX_AHEAD_MS, MAX_RECV_WINDOW_MS, RECV_WINDOW_MS},
};
use serde_json::Value;

use crate::{config::UserDataConfig, model::Model, query::ApiError, rest, server::AppState};

/// Every `USER_DATA` route of the simulator.
pub const ROUTES: &[Endpoint] = &[brackets::LEVERAGE_BRACKETS];

/// Parameters of every signed request, beyond the endpoint's own.
const SIGNING_PARAMS: [&str; 3] = ["timestamp", "recvWindow", "signature"];

/// Serves the signed route `ep`.
pub async fn handle(ep: &'static Endpoint, State(state): State<Arc<AppState>>, req: Request) -> Response {
    let query = req.uri().query().unwrap_or_default().to_string();
    let raw = rest::serde_urlencoded_pairs(&query);
    let weight = ep.weight_for(None, raw.iter().any(|(k, _)| k == "symbol"));
    let (used, fault) = match rest::admit(ep, &state, rest::client_ip(&req), weight).await {
        Ok(admitted) => admitted,
        Err(resp) => return resp,
    };
    let now = state.now_ms();
    let result = authenticate(ep, &state.cfg.user_data, req.headers(), &query, &raw, now).and_then(|()| {
        if ep.name == brackets::LEVERAGE_BRACKETS.name {
            leverage_brackets(&state.model, &raw, now)
        } else {
            Err(ApiError::new(500, -1000, format!("no simulated body for {}", ep.id())))
        }
    });
    rest::answer(result, fault, used)
}

fn value<'a>(raw: &'a [(String, String)], name: &str) -> Option<&'a str> {
    raw.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

fn millis(name: &str, v: &str) -> Result<u64, ApiError> {
    v.parse().map_err(|_| ApiError::illegal(name, "^[0-9]{1,20}$"))
}

/// The key, the parameters, the timestamp and the signature, as Binance checks them.
///
/// # Errors
/// Binance's answer to the first failed check (see the module docs).
pub fn authenticate(
    ep: &Endpoint,
    account: &UserDataConfig,
    headers: &HeaderMap,
    query: &str,
    raw: &[(String, String)],
    now_ms: u64,
) -> Result<(), ApiError> {
    let key = headers.get("x-mbx-apikey").and_then(|v| v.to_str().ok());
    if key != Some(account.api_key.as_str()) {
        return Err(ApiError::new(401, -2015, "Invalid API-key, IP, or permissions for action."));
    }
    let known = |k: &str| ep.param(k).is_some() || SIGNING_PARAMS.contains(&k);
    if raw.iter().any(|(k, _)| !known(k)) {
        let read = raw.iter().filter(|(k, _)| known(k)).count();
        return Err(ApiError::new(
            400,
            -1104,
            format!("Not all sent parameters were read; read '{read}' parameter(s) but was sent '{}'.", raw.len()),
        ));
    }
    let timestamp = millis("timestamp", value(raw, "timestamp").ok_or_else(|| ApiError::missing("timestamp"))?)?;
    let recv_window = value(raw, "recvWindow").map_or(Ok(RECV_WINDOW_MS), |v| millis("recvWindow", v))?;
    if recv_window > MAX_RECV_WINDOW_MS {
        return Err(ApiError::new(400, -1131, format!("recvWindow must be less than {MAX_RECV_WINDOW_MS}")));
    }
    if timestamp >= now_ms + MAX_AHEAD_MS {
        return Err(ApiError::new(
            400,
            -1021,
            format!("Timestamp for this request was {MAX_AHEAD_MS}ms ahead of the server's time."),
        ));
    }
    if now_ms.saturating_sub(timestamp) > recv_window {
        return Err(ApiError::new(400, -1021, "Timestamp for this request is outside of the recvWindow."));
    }
    let (signed, signature) = split_signature(query);
    let signature = signature.filter(|s| !s.is_empty()).ok_or_else(|| ApiError::missing("signature"))?;
    if !sign::verify(account.api_secret.as_bytes(), &signed, signature) {
        return Err(ApiError::new(400, -1022, "Signature for this request is not valid."));
    }
    Ok(())
}

/// The signed part of a query as sent (every `k=v` but `signature`, in order) and the
/// signature.
fn split_signature(query: &str) -> (String, Option<&str>) {
    let mut signature = None;
    let mut signed = Vec::new();
    for kv in query.split('&') {
        match kv.strip_prefix("signature=") {
            Some(s) => signature = Some(s),
            None => signed.push(kv),
        }
    }
    (signed.join("&"), signature)
}

/// The brackets on the server's date: the array of every symbol, or with `symbol` that
/// symbol's object (the two shapes of the USD-M docs).
fn leverage_brackets(model: &Model, raw: &[(String, String)], now_ms: u64) -> Result<Value, ApiError> {
    let all = crate::brackets::response(model, &utc_date(now_ms), now_ms);
    let Some(symbol) = value(raw, "symbol") else { return Ok(all) };
    if !rest::is_symbol_like(symbol) {
        return Err(ApiError::illegal("symbol", "^[A-Z0-9-_.]{1,20}$"));
    }
    let symbol = symbol.to_ascii_uppercase();
    let rows = all.as_array().map_or(&[][..], Vec::as_slice);
    rows.iter().find(|r| r["symbol"] == symbol.as_str()).cloned().ok_or_else(ApiError::invalid_symbol)
}

/// `YYYY-MM-DD` (UTC) of ms since the epoch (Howard Hinnant's `civil_from_days`).
#[must_use]
pub fn utc_date(ms: u64) -> String {
    let z = i64::try_from(ms / 86_400_000).unwrap_or(i64::MAX / 2) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::epoch(0, "1970-01-01")]
    #[case::leap_day(951_782_400_000, "2000-02-29")]
    #[case::last_ms_of_a_day(951_868_799_999, "2000-02-29")]
    #[case::sim_tests_start(1_717_200_000_000, "2024-06-01")]
    #[case::new_year(1_735_689_600_000, "2025-01-01")]
    fn utc_dates(#[case] ms: u64, #[case] date: &str) {
        assert_eq!(utc_date(ms), date);
    }

    #[rstest]
    #[case::last("symbol=BTCUSDT&timestamp=1&signature=ab", "symbol=BTCUSDT&timestamp=1", Some("ab"))]
    #[case::first("signature=ab&timestamp=1", "timestamp=1", Some("ab"))]
    #[case::none("timestamp=1", "timestamp=1", None)]
    fn signature_is_taken_out_of_the_query(#[case] q: &str, #[case] signed: &str, #[case] sig: Option<&str>) {
        assert_eq!(split_signature(q), (signed.to_string(), sig));
    }

    fn pairs(q: &str) -> Vec<(String, String)> {
        rest::serde_urlencoded_pairs(q)
    }

    fn headers(key: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(k) = key {
            h.insert("x-mbx-apikey", k.parse().unwrap());
        }
        h
    }

    const NOW: u64 = 1_717_200_000_000;

    /// A query signed with the default secret at `timestamp`.
    fn signed(params: &str, timestamp: u64) -> String {
        let payload = format!("{params}timestamp={timestamp}&recvWindow=5000");
        format!("{payload}&signature={}", sign::signature(UserDataConfig::DEFAULT_API_SECRET.as_bytes(), &payload))
    }

    #[rstest]
    #[case::ok(Some("alphalab-sim-key"), signed("symbol=BTCUSDT&", NOW - 10), None)]
    #[case::no_key(None, signed("", NOW), Some((401, -2015)))]
    #[case::other_key(Some("nope"), signed("", NOW), Some((401, -2015)))]
    #[case::unread_param(Some("alphalab-sim-key"), format!("limit=5&{}", signed("", NOW)), Some((400, -1104)))]
    #[case::no_timestamp(Some("alphalab-sim-key"), "recvWindow=5000&signature=00".to_string(), Some((400, -1102)))]
    #[case::bad_timestamp(Some("alphalab-sim-key"), "timestamp=soon&signature=00".to_string(), Some((400, -1100)))]
    #[case::huge_window(Some("alphalab-sim-key"), format!("timestamp={NOW}&recvWindow=60001&signature=00"), Some((400, -1131)))]
    #[case::stale(Some("alphalab-sim-key"), signed("", NOW - 5001), Some((400, -1021)))]
    #[case::ahead(Some("alphalab-sim-key"), signed("", NOW + 1000), Some((400, -1021)))]
    #[case::unsigned(Some("alphalab-sim-key"), format!("timestamp={NOW}"), Some((400, -1102)))]
    #[case::tampered(Some("alphalab-sim-key"), signed("symbol=BTCUSDT&", NOW).replace("BTC", "ETH"), Some((400, -1022)))]
    fn checks_in_binance_order(#[case] key: Option<&str>, #[case] query: String, #[case] want: Option<(u16, i32)>) {
        let got = authenticate(
            &brackets::LEVERAGE_BRACKETS,
            &UserDataConfig::default(),
            &headers(key),
            &query,
            &pairs(&query),
            NOW,
        );
        assert_eq!(got.map_err(|e| (e.status, e.code)).err(), want, "{query}");
    }

    #[test]
    fn brackets_of_the_date_all_or_one_symbol() {
        let model = Model::new(crate::model::ModelConfig::default());
        let all = leverage_brackets(&model, &[], NOW).unwrap();
        let shipped = brackets::shipped_response("2024-06-01");
        assert_eq!(all.as_array().unwrap()[..2], shipped.as_array().unwrap()[..], "shipped tables first, as shipped");
        assert_eq!(all.as_array().unwrap().len(), model.listed(NOW).count(), "one table per listed symbol");
        let one = leverage_brackets(&model, &pairs("symbol=ethusdt"), NOW).unwrap();
        assert_eq!(one, all[1]);
        assert_eq!(one["symbol"], "ETHUSDT");
        let generated = &model.listed(NOW).nth(2).unwrap().symbol;
        let one = leverage_brackets(&model, &pairs(&format!("symbol={generated}")), NOW).unwrap();
        assert_eq!(one["symbol"], generated.as_str());
        assert_eq!(leverage_brackets(&model, &pairs("symbol=XRPUSDT"), NOW).unwrap_err().code, -1121);
        assert_eq!(leverage_brackets(&model, &pairs("symbol=BTC%24"), NOW).unwrap_err().code, -1100);
    }
}
