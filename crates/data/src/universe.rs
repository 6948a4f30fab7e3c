//! Which symbols a backfill covers, and over which part of the range: an explicit list, `ALL`
//! (every symbol of the market's exchangeInfo that traded in the range), or `top:N` (the N
//! symbols with the highest quote volume on a date).
//!
//! `ALL` keeps delisted symbols (USD-M `SETTLING`/`CLOSE`, spot `BREAK`) for the time they
//! traded: a universe of today's survivors only would bias every cross-sectional backtest
//! (survivorship bias). Each member's traded span comes from Binance itself: the first 1m kline
//! at or after the start, and for a symbol no longer trading the last one before the end (one or
//! two requests of weight 1–2 each), so a symbol listed or delisted inside the range is fetched
//! for exactly its life and its gap report stays clean. A symbol Binance no longer lists in
//! exchangeInfo at all cannot be found by any REST call (data.binance.vision listings can).

use std::str::FromStr;

use binance::{Market, endpoint, rest::RestClient};
use futures::StreamExt;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};

const MINUTE_MS: u64 = 60_000;
const DAY_MS: u64 = 86_400_000;

/// What `--symbols` / `--universe` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These symbols, over the whole range, as given.
    List(Vec<String>),
    /// Every symbol of the market that traded in the range (USD-M: perpetuals).
    All,
    /// The `n` symbols with the highest quote volume on the UTC day starting at `date_ms`.
    Top { n: usize, date_ms: u64 },
}

impl Selection {
    /// From the command line: `--symbols A,B` or `--symbols ALL`, or `--universe top:N` with
    /// the day of `date_ms`.
    ///
    /// # Errors
    /// [`Error::Request`] naming the value when neither or both are given, or `top:N` is
    /// malformed.
    pub fn parse(symbols: &[String], universe: Option<&str>, date_ms: u64) -> Result<Selection> {
        match (symbols, universe) {
            ([one], None) if one.eq_ignore_ascii_case("ALL") => Ok(Selection::All),
            ([], Some(u)) => {
                let n = u.strip_prefix("top:").and_then(|n| n.parse::<usize>().ok()).filter(|n| *n > 0);
                let n = n.ok_or_else(|| Error::Request(format!("--universe {u:?}: expected top:N with N > 0")))?;
                Ok(Selection::Top { n, date_ms: date_ms - date_ms % DAY_MS })
            }
            (list, None) if !list.is_empty() => {
                if list.iter().any(|s| s.eq_ignore_ascii_case("ALL")) {
                    return Err(Error::Request("--symbols ALL takes no other symbol".into()));
                }
                Ok(Selection::List(list.iter().map(|s| s.trim().to_ascii_uppercase()).collect()))
            }
            _ => Err(Error::Request("give either --symbols (a list, or ALL) or --universe top:N".into())),
        }
    }
}

/// A symbol of the universe and the part of the requested range it traded in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub symbol: String,
    /// exchangeInfo `status` (`TRADING`, `BREAK`, `SETTLING`, `CLOSE`, ...); empty when the
    /// symbol was given by name and is not in exchangeInfo.
    pub status: String,
    /// Inclusive start, ms: the requested start, or the first kline after it.
    pub from_ms: u64,
    /// Exclusive end, ms: the requested end, or the end of the last kline before it.
    pub to_ms: u64,
    /// Quote volume on the ranking date (`top:N` only).
    pub quote_volume: Option<Decimal>,
}

/// `(symbol, status)` of every symbol in an exchangeInfo body, in its order; USD-M: perpetuals
/// only (delivery contracts are not part of a perpetual universe).
///
/// # Errors
/// A body without a `symbols` array, or an entry without `symbol`/`status`.
pub fn listed(exchange_info: &Value, market: Market) -> Result<Vec<(String, String)>> {
    let origin = || format!("{market}/exchange_info");
    let rows = exchange_info["symbols"].as_array().ok_or_else(|| Error::invalid(origin(), "no symbols array"))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        if market == Market::UsdM && r["contractType"].as_str().is_some_and(|c| c != "PERPETUAL") {
            continue;
        }
        let field = |k: &str| {
            r[k].as_str().map(str::to_string).ok_or_else(|| Error::invalid(origin(), format!("a symbol without {k}")))
        };
        out.push((field("symbol")?, field("status")?));
    }
    Ok(out)
}

/// The first row of a klines request, if any.
async fn one_kline(client: &RestClient, market: Market, params: Vec<(&'static str, String)>) -> Result<Option<Value>> {
    let ep = endpoint::find(market, "klines").expect("every market has klines");
    let r = client.get(ep, &params).await?;
    let rows: Vec<Value> =
        serde_json::from_slice(&r.body).map_err(|e| Error::invalid(ep.id(), format!("unexpected body: {e}")))?;
    Ok(rows.into_iter().next())
}

fn open_time(row: &Value) -> Option<u64> {
    row[0].as_u64()
}

/// The part of `[from, to)` in which `symbol` traded: from its first 1m kline at or after
/// `from`; to `to` while it trades, else to the end of its last 1m kline before `to`.
/// `None` when it has no kline in the range.
async fn traded_span(
    client: &RestClient,
    market: Market,
    symbol: &str,
    trading: bool,
    from: u64,
    to: u64,
) -> Result<Option<(u64, u64)>> {
    let base = || vec![("symbol", symbol.to_string()), ("interval", "1m".to_string()), ("limit", "1".to_string())];
    let mut p = base();
    p.extend([("startTime", from.to_string()), ("endTime", (to - 1).to_string())]);
    let Some(first) = one_kline(client, market, p).await?.as_ref().and_then(open_time) else { return Ok(None) };
    // Trading from the start: keep the requested start (it may fall inside its first minute).
    let start = if first <= from.next_multiple_of(MINUTE_MS) { from } else { first };
    if trading {
        return Ok(Some((start, to)));
    }
    let mut p = base();
    p.push(("endTime", (to - 1).to_string()));
    let last = one_kline(client, market, p).await?.as_ref().and_then(open_time).unwrap_or(first);
    Ok(Some((start, (last + MINUTE_MS).min(to))))
}

/// Quote volume of `symbol`'s daily kline opening at `date_ms`, if it traded that day.
async fn day_quote_volume(client: &RestClient, market: Market, symbol: &str, date_ms: u64) -> Result<Option<Decimal>> {
    let p = vec![
        ("symbol", symbol.to_string()),
        ("interval", "1d".to_string()),
        ("startTime", date_ms.to_string()),
        ("endTime", (date_ms + DAY_MS - 1).to_string()),
        ("limit", "1".to_string()),
    ];
    let Some(row) = one_kline(client, market, p).await? else { return Ok(None) };
    if open_time(&row) != Some(date_ms) {
        return Ok(None);
    }
    let text = row[7].as_str().unwrap_or_default();
    Decimal::from_str(text)
        .map(Some)
        .map_err(|_| Error::invalid(format!("{market}/klines {symbol}"), format!("quote volume {text:?}")))
}

/// The members of `selection` over `[from_ms, to_ms)`, in exchangeInfo order (`top:N`: by
/// quote volume, highest first, ties by name). `exchange_info` is the market's exchangeInfo
/// body; the probes go through `client` (and its weight limiter), `concurrency` at a time.
///
/// # Errors
/// A malformed exchangeInfo, or a probe request that failed.
pub async fn resolve(
    client: &RestClient,
    market: Market,
    exchange_info: &Value,
    selection: &Selection,
    from_ms: u64,
    to_ms: u64,
    concurrency: usize,
) -> Result<Vec<Member>> {
    if to_ms <= from_ms {
        return Err(Error::Request(format!("empty range [{from_ms}, {to_ms})")));
    }
    let symbols = listed(exchange_info, market)?;
    let status_of = |s: &str| symbols.iter().find(|(x, _)| x == s).map(|(_, st)| st.clone()).unwrap_or_default();
    let (candidates, volumes): (Vec<(String, String)>, Vec<Option<Decimal>>) = match selection {
        Selection::List(list) => {
            let members = list
                .iter()
                .map(|s| Member { symbol: s.clone(), status: status_of(s), from_ms, to_ms, quote_volume: None })
                .collect();
            return Ok(members);
        }
        Selection::All => (symbols.clone(), vec![None; symbols.len()]),
        Selection::Top { n, date_ms } => {
            let vols: Vec<Option<Decimal>> = futures::stream::iter(&symbols)
                .map(|(s, _)| day_quote_volume(client, market, s, *date_ms))
                .buffered(concurrency.max(1))
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<_>>()?;
            let mut ranked: Vec<(&(String, String), Decimal)> =
                symbols.iter().zip(vols).filter_map(|(s, v)| v.map(|v| (s, v))).collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.0.cmp(&b.0.0)));
            ranked.truncate(*n);
            if ranked.len() < *n {
                log::warn!("universe top:{n}: only {} {market} symbols traded on {date_ms}", ranked.len());
            }
            ranked.into_iter().map(|(s, v)| (s.clone(), Some(v))).unzip()
        }
    };
    let spans: Vec<Option<(u64, u64)>> = futures::stream::iter(&candidates)
        .map(|(s, status)| traded_span(client, market, s, status == "TRADING", from_ms, to_ms))
        .buffered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let mut members = Vec::new();
    for (((symbol, status), span), quote_volume) in candidates.into_iter().zip(spans).zip(volumes) {
        match span {
            Some((from_ms, to_ms)) => {
                log::info!("universe {market}: {symbol} ({status}) traded in [{from_ms}, {to_ms})");
                members.push(Member { symbol, status, from_ms, to_ms, quote_volume });
            }
            None => log::info!("universe {market}: {symbol} ({status}) has no kline in the range: left out"),
        }
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    #[rstest]
    #[case::all(&["all"], None, Selection::All)]
    #[case::list(&["btcusdt", " ETHUSDT"], None, Selection::List(vec!["BTCUSDT".into(), "ETHUSDT".into()]))]
    #[case::top(&[], Some("top:20"), Selection::Top { n: 20, date_ms: 1_717_200_000_000 })]
    fn selections(#[case] symbols: &[&str], #[case] universe: Option<&str>, #[case] want: Selection) {
        let symbols: Vec<String> = symbols.iter().map(|s| (*s).to_string()).collect();
        // A date inside the day counts from its midnight.
        assert_eq!(Selection::parse(&symbols, universe, 1_717_200_000_000 + 3_600_000).unwrap(), want);
    }

    #[rstest]
    #[case::top_zero(&[], Some("top:0"), "--universe \"top:0\": expected top:N with N > 0")]
    #[case::not_top(&[], Some("best:5"), "--universe \"best:5\": expected top:N with N > 0")]
    #[case::all_and_more(&["ALL", "BTCUSDT"], None, "--symbols ALL takes no other symbol")]
    #[case::both(&["BTCUSDT"], Some("top:5"), "give either --symbols (a list, or ALL) or --universe top:N")]
    #[case::neither(&[], None, "give either --symbols (a list, or ALL) or --universe top:N")]
    fn bad_selections(#[case] symbols: &[&str], #[case] universe: Option<&str>, #[case] msg: &str) {
        let symbols: Vec<String> = symbols.iter().map(|s| (*s).to_string()).collect();
        assert_eq!(Selection::parse(&symbols, universe, 0).unwrap_err(), Error::Request(msg.into()));
    }

    #[test]
    fn listed_keeps_statuses_and_only_perpetuals_on_usdm() {
        let info = json!({"symbols": [
            {"symbol": "BTCUSDT", "status": "TRADING", "contractType": "PERPETUAL"},
            {"symbol": "BTCUSDT_250926", "status": "TRADING", "contractType": "CURRENT_QUARTER"},
            {"symbol": "OLDUSDT", "status": "SETTLING", "contractType": "PERPETUAL"},
        ]});
        let got = listed(&info, Market::UsdM).unwrap();
        assert_eq!(got, [("BTCUSDT".into(), "TRADING".into()), ("OLDUSDT".into(), "SETTLING".into())]);
        assert_eq!(listed(&info, Market::Spot).unwrap().len(), 3);
        assert_eq!(
            listed(&json!({}), Market::Spot).unwrap_err(),
            Error::invalid("spot/exchange_info", "no symbols array")
        );
    }
}
