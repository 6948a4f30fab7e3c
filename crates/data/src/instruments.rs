//! Instruments from exchangeInfo payloads kept in the raw archive.
//!
//! [`fetch_exchange_info`] stores one exchangeInfo response as a REST page of the series
//! `exchangeInfo`, symbol `ALL`, keyed by its retrieval time (ms); [`load_instrument`] parses one
//! symbol out of the latest stored page, stamped with that retrieval time, so the catalog can be
//! rebuilt from raw without the network.

use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use binance::{Market, endpoint, rest::RestClient};
use nautilus_core::UnixNanos;
use nautilus_model::instruments::InstrumentAny;
use serde_json::Value;

use crate::{
    backfill::iso_now,
    parse::instrument::{Fees, parse_spot_instrument, parse_usdm_instrument},
    raw::{RawStore, RestPage},
};

/// Raw-archive series name of exchangeInfo pages.
pub const EXCHANGE_INFO: &str = "exchangeInfo";
/// Raw-archive "symbol" folder of exchangeInfo pages (they cover every symbol).
pub const ALL_SYMBOLS: &str = "ALL";

/// Milliseconds since the epoch of an RFC 3339 time.
fn rfc3339_ms(s: &str) -> anyhow::Result<u64> {
    let t = chrono::DateTime::parse_from_rfc3339(s).with_context(|| format!("invalid RFC 3339 time {s:?}"))?;
    u64::try_from(t.timestamp_millis()).map_err(|_| anyhow!("time {s:?} before 1970"))
}

/// GETs `exchangeInfo` of `market` and stores it in the raw archive
/// (`raw/rest/<market>/exchangeInfo/ALL/<retrieval ms>.json.gz`). Returns the page file.
///
/// # Errors
/// The request error, a non-UTF-8/non-JSON body, or the I/O error naming the file.
pub async fn fetch_exchange_info(client: &RestClient, store: &RawStore, market: Market) -> anyhow::Result<PathBuf> {
    let ep = endpoint::find(market, "exchange_info").ok_or_else(|| anyhow!("{market}: no exchange_info row"))?;
    let r = client.get(ep, &[]).await?;
    let body = String::from_utf8(r.body.to_vec()).with_context(|| format!("{}: body is not UTF-8", ep.id()))?;
    let retrieved_at = iso_now();
    let key = rfc3339_ms(&retrieved_at)?;
    let page = RestPage::new(r.url, r.status, true, body, retrieved_at)
        .with_context(|| format!("{}: body is not JSON", ep.id()))?;
    let path = store.page_path(market, EXCHANGE_INFO, ALL_SYMBOLS, key);
    store.write_page(&path, &page)?;
    Ok(path)
}

/// The instrument of `symbol` from the latest stored exchangeInfo of `market`: spot ⇒
/// `CurrencyPair`, USD-M ⇒ `CryptoPerpetual`, with `ts_event = ts_init` = the page's retrieval
/// time. `fees` defaults to [`Fees::default_for`] the market.
///
/// # Errors
/// No stored exchangeInfo, or no such symbol in it (naming market, symbol and folder/file), an
/// unreadable page, or the parse error naming the file.
pub fn load_instrument(
    store: &RawStore,
    market: Market,
    symbol: &str,
    fees: Option<Fees>,
) -> anyhow::Result<InstrumentAny> {
    let symbol = symbol.to_ascii_uppercase();
    let dir = store.series_dir(market, EXCHANGE_INFO, ALL_SYMBOLS);
    let pages = store.pages(market, EXCHANGE_INFO, ALL_SYMBOLS)?;
    let Some((_, path)) = pages.last() else {
        bail!("{market} {symbol}: no exchangeInfo stored in {} (fetch it first)", dir.display());
    };
    let page = RawStore::read_page(path)?;
    let ts_ms = rfc3339_ms(&page.provenance.retrieved_at).with_context(|| path.display().to_string())?;
    let ts = UnixNanos::from(ts_ms * 1_000_000);
    let v: Value = serde_json::from_str(page.body.get()).with_context(|| path.display().to_string())?;
    let entry = v["symbols"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["symbol"].as_str() == Some(symbol.as_str())))
        .ok_or_else(|| anyhow!("{market} {symbol}: symbol not in exchangeInfo {}", path.display()))?;
    let fees = fees.unwrap_or(Fees::default_for(market));
    let label = format!("{}: {symbol}", path.display());
    Ok(match market {
        Market::Spot => InstrumentAny::CurrencyPair(parse_spot_instrument(entry, fees, ts).map_err(|e| e.at(label))?),
        Market::UsdM => {
            InstrumentAny::CryptoPerpetual(parse_usdm_instrument(entry, fees, ts).map_err(|e| e.at(label))?)
        }
    })
}
