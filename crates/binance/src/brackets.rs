//! USD-M notional and leverage brackets (`GET /fapi/v1/leverageBracket`): per symbol, the
//! maintenance margin rate, the maintenance amount (`cum`) and the highest initial leverage of
//! each notional tier. A position's maintenance margin is `notional × rate − cum` of the tier
//! its notional falls in (`floor ≤ notional < cap`).
//!
//! [`SHIPPED`] holds the BTCUSDT and ETHUSDT tables Binance published from 2023-08 to 2026-03 (as
//! recorded by freqtrade's `binance_leverage_tiers.json`; see `data/leverage_brackets.json` for
//! the source). Binance changes brackets without notice and per account, so a real user fetches
//! the current ones with an API key (the endpoint is `USER_DATA`: [`fetch`] signs it); the
//! simulator serves the shipped table in effect at its clock.

use std::{collections::BTreeMap, str::FromStr};

use rust_decimal::Decimal;
use serde_json::Value;

use crate::{
    Endpoint, Error, Market,
    endpoint::{Param, ParamKind, Shape, Weight},
    rest::{RawResponse, RestClient},
};

/// `GET /fapi/v1/leverageBracket` ("Notional and Leverage Brackets (USER_DATA)" of the USD-M
/// docs): signed, weight 1, optional `symbol` (then Binance documents one object instead of an
/// array). Not a row of [`crate::ENDPOINTS`], which is the public market data of the snapshot.
pub const LEVERAGE_BRACKETS: Endpoint = Endpoint {
    name: "leverage_brackets",
    market: Market::UsdM,
    path: "/fapi/v1/leverageBracket",
    params: &[Param { name: "symbol", kind: ParamKind::Symbol, required: false }],
    weight: Weight::Fixed(1),
    bucket: None,
    shape: Shape::Array,
    // Plus `notionalCoef`, only when the account's brackets were adjusted.
    fields: &["symbol", "brackets"],
};

/// The shipped tables: `{"source", "versions": [{"from": "YYYY-MM-DD", "brackets": <response>}]}`.
pub const SHIPPED: &str = include_str!("../data/leverage_brackets.json");

/// One notional tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bracket {
    pub bracket: u32,
    /// Highest initial leverage allowed in this tier.
    pub initial_leverage: u32,
    pub notional_floor: Decimal,
    pub notional_cap: Decimal,
    pub maint_margin_ratio: Decimal,
    /// Maintenance amount: makes the maintenance margin continuous across tiers.
    pub cum: Decimal,
}

/// The tiers of one symbol, ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brackets(pub Vec<Bracket>);

impl Brackets {
    /// The tier `notional` falls in (the last one beyond every cap).
    #[must_use]
    pub fn tier(&self, notional: Decimal) -> Option<&Bracket> {
        let n = notional.abs();
        self.0.iter().find(|b| n >= b.notional_floor && n < b.notional_cap).or_else(|| self.0.last())
    }

    /// Maintenance margin of a position of `notional`: `notional × rate − cum` of its tier.
    #[must_use]
    pub fn maintenance(&self, notional: Decimal) -> Decimal {
        self.tier(notional).map_or(Decimal::ZERO, |b| notional.abs() * b.maint_margin_ratio - b.cum)
    }

    /// The largest notional a position may reach at `leverage` (the cap of the highest tier
    /// whose initial leverage allows it), `None` when no tier allows that leverage.
    #[must_use]
    pub fn max_notional(&self, leverage: Decimal) -> Option<Decimal> {
        self.0.iter().filter(|b| Decimal::from(b.initial_leverage) >= leverage).map(|b| b.notional_cap).max()
    }
}

fn num(v: &Value, key: &str, symbol: &str) -> Result<Decimal, String> {
    let text = match &v[key] {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => return Err(format!("{symbol}: {key} is {other}, not a number")),
    };
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|e| format!("{symbol}: {key} {text:?}: {e}"))
}

/// Parses a `/fapi/v1/leverageBracket` response (an array, or the single object returned for
/// one `symbol`; numbers as JSON numbers or strings) into tiers by symbol.
///
/// # Errors
/// A response that is not that shape, naming the symbol and the field.
pub fn parse(response: &Value) -> Result<BTreeMap<String, Brackets>, String> {
    let items: Vec<&Value> = match response {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => vec![response],
        other => return Err(format!("leverageBracket: expected an array or an object, got {other}")),
    };
    let mut out = BTreeMap::new();
    for item in items {
        let symbol = item["symbol"].as_str().ok_or("leverageBracket: an entry without symbol")?.to_string();
        let rows = item["brackets"].as_array().ok_or_else(|| format!("{symbol}: no brackets"))?;
        let mut tiers = Vec::with_capacity(rows.len());
        for r in rows {
            let int =
                |k: &str| num(r, k, &symbol).and_then(|d| u32::try_from(d).map_err(|e| format!("{symbol}: {k}: {e}")));
            tiers.push(Bracket {
                bracket: int("bracket")?,
                initial_leverage: int("initialLeverage")?,
                notional_floor: num(r, "notionalFloor", &symbol)?,
                notional_cap: num(r, "notionalCap", &symbol)?,
                maint_margin_ratio: num(r, "maintMarginRatio", &symbol)?,
                cum: num(r, "cum", &symbol)?,
            });
        }
        tiers.sort_by_key(|b| b.bracket);
        out.insert(symbol, Brackets(tiers));
    }
    Ok(out)
}

/// Fetches the account's brackets (every symbol, or `symbol`) with a signed request: the
/// response as received (exact bytes) and its tiers by symbol.
///
/// # Errors
/// As [`RestClient::get_signed`]: [`Error::MissingCredentials`] before any request without an
/// API key and secret, [`Error::Api`] with Binance's code (-2015 key, -1021 timestamp, -1022
/// signature); [`Error::Payload`] for a body [`parse`] refuses.
pub async fn fetch(
    client: &RestClient,
    symbol: Option<&str>,
) -> crate::Result<(RawResponse, BTreeMap<String, Brackets>)> {
    let params: Vec<(&str, String)> = symbol.map(|s| ("symbol", s.to_string())).into_iter().collect();
    let r = client.get_signed(&LEVERAGE_BRACKETS, &params).await?;
    let payload = |msg: String| Error::Payload { endpoint: r.endpoint.id(), symbol: symbol.map(str::to_string), msg };
    let value: Value = serde_json::from_slice(&r.body).map_err(|e| payload(e.to_string()))?;
    let tiers = parse(&value).map_err(payload)?;
    Ok((r, tiers))
}

/// The shipped response in effect on `date` (`YYYY-MM-DD`; the oldest one before its first
/// date), as Binance would return it.
#[must_use]
pub fn shipped_response(date: &str) -> Value {
    let all: Value = serde_json::from_str(SHIPPED).expect("the shipped brackets are JSON");
    let versions = all["versions"].as_array().expect("versions");
    let pick = versions.iter().rev().find(|v| v["from"].as_str().is_some_and(|f| f <= date)).unwrap_or(&versions[0]);
    pick["brackets"].clone()
}

/// The shipped tiers in effect on `date`, by symbol.
#[must_use]
pub fn shipped(date: &str) -> BTreeMap<String, Brackets> {
    parse(&shipped_response(date)).expect("the shipped brackets parse")
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn tiers_maintenance_and_leverage_caps() {
        let b = &shipped("2025-09-01")["BTCUSDT"];
        assert_eq!(b.tier(dec!(18630)).map(|t| t.bracket), Some(1));
        assert_eq!(b.tier(dec!(300000)).map(|t| t.bracket), Some(2), "the cap belongs to the next tier");
        // 0.3 BTC at 62,100: 18,630 × 0.4 %
        assert_eq!(b.maintenance(dec!(18630)), dec!(74.520));
        // 1,000,000: tier 3, 1,000,000 × 0.65 % − 1,500
        assert_eq!(b.maintenance(dec!(1000000)), dec!(5000.000));
        assert_eq!(b.max_notional(dec!(20)), Some(dec!(100000000)));
        assert_eq!(b.max_notional(dec!(150)), Some(dec!(300000)));
        assert_eq!(b.max_notional(dec!(151)), None);
    }

    #[test]
    fn the_cum_recursion_holds_in_every_shipped_table() {
        // cum_n = floor_n × (rate_n − rate_{n−1}) + cum_{n−1}: the margin is continuous.
        let all: Value = serde_json::from_str(SHIPPED).unwrap();
        for v in all["versions"].as_array().unwrap() {
            for (symbol, b) in parse(&v["brackets"]).unwrap() {
                for w in b.0.windows(2) {
                    let want = w[1].notional_floor * (w[1].maint_margin_ratio - w[0].maint_margin_ratio) + w[0].cum;
                    assert_eq!(w[1].cum, want, "{} {symbol} bracket {}", v["from"], w[1].bracket);
                }
            }
        }
    }

    #[test]
    fn versions_by_date_and_response_shapes() {
        assert_eq!(shipped("2024-01-01")["ETHUSDT"].0[0].maint_margin_ratio, dec!(0.005));
        assert_eq!(shipped("2024-03-01")["ETHUSDT"].0[0].maint_margin_ratio, dec!(0.004));
        assert_eq!(shipped("2020-01-01")["BTCUSDT"].0[0].initial_leverage, 125, "before the first: the oldest");
        let one: Value = serde_json::json!({"symbol": "X", "notionalCoef": "1.5", "brackets": [
            {"bracket": "1", "initialLeverage": "20", "notionalCap": "5000", "notionalFloor": "0", "maintMarginRatio": "0.01", "cum": "0.0"}
        ]});
        assert_eq!(parse(&one).unwrap()["X"].0[0].notional_cap, dec!(5000));
        assert_eq!(parse(&serde_json::json!(7)).unwrap_err(), "leverageBracket: expected an array or an object, got 7");
    }
}
