//! Instruments from exchangeInfo payloads kept in the raw archive.
//!
//! [`fetch_exchange_info`] stores one exchangeInfo response as a REST page of the series
//! `exchangeInfo`, symbol `ALL`, keyed by its retrieval time (ms); [`load_instrument`] parses one
//! symbol out of the latest stored page, stamped with that retrieval time, so the catalog can be
//! rebuilt from raw without the network.

use std::path::PathBuf;

use binance::{Market, endpoint, rest::RestClient};
use nautilus_model::instruments::InstrumentAny;
use serde_json::Value;

use crate::{
    error::{Error, Result, ResultExt},
    parse::{
        instrument::{Fees, parse_spot_instrument, parse_usdm_instrument},
        time::{NANOS_PER_MS, rfc3339_to_ns},
    },
    raw::{RawStore, RestPage, now_rfc3339},
};

/// Raw-archive series name of exchangeInfo pages.
pub const EXCHANGE_INFO: &str = "exchangeInfo";
/// Raw-archive "symbol" folder of exchangeInfo pages (they cover every symbol).
pub const ALL_SYMBOLS: &str = "ALL";

/// GETs `exchangeInfo` of `market` and stores it in the raw archive
/// (`raw/rest/<market>/exchangeInfo/ALL/<retrieval ms>.json.gz`). Returns the page file.
///
/// # Errors
/// The request error, a non-UTF-8/non-JSON body, or the I/O error naming the file.
pub async fn fetch_exchange_info(client: &RestClient, store: &RawStore, market: Market) -> Result<PathBuf> {
    let ep = endpoint::find(market, "exchange_info").expect("every market has an exchange_info row");
    let r = client.get(ep, &[]).await?;
    let body = String::from_utf8(r.body.to_vec()).map_err(|_| Error::invalid(ep.id(), "body is not UTF-8"))?;
    let retrieved_at = now_rfc3339();
    let key = rfc3339_to_ns("retrieved_at", &retrieved_at)?.as_u64() / NANOS_PER_MS;
    let page = RestPage::new(r.url, r.status, true, body, retrieved_at)
        .map_err(|e| Error::invalid(ep.id(), format!("body is not JSON: {e}")))?;
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
pub fn load_instrument(store: &RawStore, market: Market, symbol: &str, fees: Option<Fees>) -> Result<InstrumentAny> {
    let symbol = symbol.to_ascii_uppercase();
    let dir = store.series_dir(market, EXCHANGE_INFO, ALL_SYMBOLS);
    let pages = store.pages(market, EXCHANGE_INFO, ALL_SYMBOLS)?;
    let Some((_, path)) = pages.last() else {
        return Err(Error::Request(format!(
            "{market} {symbol}: no exchangeInfo stored in {} (fetch it first)",
            dir.display()
        )));
    };
    instrument_in(path, market, &symbol, fees)?.ok_or_else(|| {
        Error::invalid(path.display().to_string(), format!("{market} {symbol}: symbol not in this exchangeInfo"))
    })
}

/// The instrument of `symbol` from every stored exchangeInfo of `market` that lists it, oldest
/// first (what a catalog grown over time holds).
///
/// # Errors
/// As [`load_instrument`], for a page that cannot be read or parsed.
pub fn instrument_versions(
    store: &RawStore,
    market: Market,
    symbol: &str,
    fees: Option<Fees>,
) -> Result<Vec<InstrumentAny>> {
    let symbol = symbol.to_ascii_uppercase();
    let mut out = Vec::new();
    for (_, path) in store.pages(market, EXCHANGE_INFO, ALL_SYMBOLS)? {
        out.extend(instrument_in(&path, market, &symbol, fees)?);
    }
    Ok(out)
}

/// The instrument of `symbol` in one stored exchangeInfo page, `None` if the page lacks it.
fn instrument_in(
    path: &std::path::Path,
    market: Market,
    symbol: &str,
    fees: Option<Fees>,
) -> Result<Option<InstrumentAny>> {
    let page = RawStore::read_page(path)?;
    let label = path.display().to_string();
    let ts = rfc3339_to_ns("retrieved_at", &page.provenance.retrieved_at).at(label.clone())?;
    let v: Value = serde_json::from_str(page.body.get()).map_err(|e| Error::invalid(label.clone(), e.to_string()))?;
    let Some(entry) = v["symbols"].as_array().and_then(|a| a.iter().find(|s| s["symbol"].as_str() == Some(symbol)))
    else {
        return Ok(None);
    };
    let fees = fees.unwrap_or(Fees::default_for(market));
    let label = format!("{label}: {symbol}");
    Ok(Some(match market {
        Market::Spot => InstrumentAny::CurrencyPair(parse_spot_instrument(entry, fees, ts).map_err(|e| e.at(label))?),
        Market::UsdM => {
            InstrumentAny::CryptoPerpetual(parse_usdm_instrument(entry, fees, ts).map_err(|e| e.at(label))?)
        }
    }))
}

/// Whether the raw archive holds an exchangeInfo of `market` (instruments come from it).
///
/// # Errors
/// [`Error::Io`] listing the folder.
pub fn has_exchange_info(store: &RawStore, market: Market) -> Result<bool> {
    Ok(!store.pages(market, EXCHANGE_INFO, ALL_SYMBOLS)?.is_empty())
}
