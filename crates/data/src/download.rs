//! `alphalab import --from-url`: data.binance.vision files downloaded into the raw archive.
//!
//! The base URL is the site root of a data.binance.vision layout: the real site
//! ([`ARCHIVE_BASE_URL`]) or a mirror such as the simulator's `--archive-dir` tree.
//!
//! 1. [`plan`] names every file of a request (markets × symbols × data kinds × days or months)
//!    with [`ArchiveName`], so paths and URLs are spelled in one place.
//! 2. [`fetch`] downloads one file's `.CHECKSUM`, skips the file if the raw archive already holds
//!    bytes with that checksum, else downloads the zip, verifies the checksum and the zip
//!    **before** storing anything, and stores the exact bytes with their provenance (source URL,
//!    sha256, retrieval time). A 404 is [`Fetched::Missing`] (Binance has days without files).
//! 3. The stored file is converted exactly like a local import
//!    ([`crate::import::convert_archive_file`]); the `alphalab` binary drives that step.

use std::path::PathBuf;

use binance::{
    Market, Series, SeriesSpec,
    archive::{self, ARCHIVE_INTERVALS, ArchiveClient, ArchiveError, ArchiveName, ArchivePeriod},
};
use chrono::{Datelike, Days, Months, NaiveDate};
use futures::StreamExt;

use crate::{
    error::{Error, Result},
    import::ImportedFile,
    raw::{RawStore, now_rfc3339, sha256_hex},
};

pub use binance::archive::ARCHIVE_BASE_URL;

/// Parses one `--data` item of `import --from-url`: an archived series of `market`, with an
/// interval for the klines families (`klines:1m`, `premiumIndexKlines:1h`, `aggTrades`,
/// `fundingRate`; a klines family without one gets `1m`).
///
/// # Errors
/// [`Error::Request`] for an unknown series, an unknown interval, a series without bulk files,
/// or a USD-M-only series on spot; the message names the token and what is accepted.
pub fn archive_spec(market: Market, token: &str) -> Result<SeriesSpec> {
    let spec = SeriesSpec::parse(token).map_err(Error::Request)?;
    let token = token.trim();
    if let Some(i) = &spec.step
        && !ARCHIVE_INTERVALS.contains(&i.as_str())
    {
        return Err(Error::Request(format!(
            "--data {token:?}: unknown interval {i:?}; expected one of {}",
            ARCHIVE_INTERVALS.join(", ")
        )));
    }
    if !spec.series.in_archive(market) {
        let archived = binance::series::names(Series::archived(market));
        return Err(Error::Request(format!(
            "--data {token:?}: data.binance.vision has no {market} {} files; {market} has {archived}",
            spec.series
        )));
    }
    Ok(spec)
}

/// The period Binance publishes `series` in: `fundingRate` only monthly, `metrics` only daily,
/// everything else daily or (`monthly`) monthly.
#[must_use]
pub const fn period(series: Series, monthly: bool) -> ArchivePeriod {
    match series {
        Series::FundingRate => ArchivePeriod::Monthly,
        Series::Metrics => ArchivePeriod::Daily,
        _ if monthly => ArchivePeriod::Monthly,
        _ => ArchivePeriod::Daily,
    }
}

/// What to download.
#[derive(Debug, Clone)]
pub struct Request {
    pub market: Market,
    /// Upper-cased by [`plan`].
    pub symbols: Vec<String>,
    /// Archived series ([`archive_spec`]).
    pub kinds: Vec<SeriesSpec>,
    /// Start of the time range, ms since the epoch (UTC).
    pub from_ms: u64,
    /// End of the time range (exclusive), ms.
    pub to_ms: u64,
    /// Monthly files instead of daily ones (kinds published in one period only keep it).
    pub monthly: bool,
}

fn date_of(ms: u64) -> Result<NaiveDate> {
    i64::try_from(ms)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.date_naive())
        .ok_or_else(|| Error::Request(format!("time {ms} ms is out of range")))
}

/// The first day of every day (daily) or month (monthly) overlapping `[from_ms, to_ms)`.
fn periods(period: ArchivePeriod, from_ms: u64, to_ms: u64) -> Result<Vec<String>> {
    let overflow = || Error::Request("date overflow".into());
    let first = date_of(from_ms)?;
    let last = date_of(to_ms - 1)?;
    let mut out = Vec::new();
    match period {
        ArchivePeriod::Daily => {
            let mut d = first;
            while d <= last {
                out.push(d.format("%Y-%m-%d").to_string());
                d = d.checked_add_days(Days::new(1)).ok_or_else(overflow)?;
            }
        }
        ArchivePeriod::Monthly => {
            let mut m = first.with_day(1).ok_or_else(overflow)?;
            while m <= last {
                out.push(m.format("%Y-%m").to_string());
                m = m.checked_add_months(Months::new(1)).ok_or_else(overflow)?;
            }
        }
    }
    Ok(out)
}

/// Every file of `req`, ordered by symbol, then kind (as given), then date: one per day or month
/// overlapping `[from_ms, to_ms)` (UTC).
///
/// # Errors
/// [`Error::Request`] for an empty time range, no symbols or kinds, or a symbol that is not a
/// Binance symbol (`A-Z`, `0-9`, `_`).
pub fn plan(req: &Request) -> Result<Vec<ArchiveName>> {
    if req.to_ms <= req.from_ms {
        return Err(Error::Request(format!(
            "empty time range: --to {} ms is not after --from {} ms",
            req.to_ms, req.from_ms
        )));
    }
    if req.symbols.is_empty() || req.kinds.is_empty() {
        return Err(Error::Request("nothing to import: give --symbols and --data".into()));
    }
    let mut out = Vec::new();
    for symbol in &req.symbols {
        let symbol = symbol.trim().to_ascii_uppercase();
        if symbol.is_empty() || !symbol.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Error::Request(format!("--symbols {symbol:?}: not a Binance symbol (A-Z, 0-9, _)")));
        }
        for k in &req.kinds {
            let period = period(k.series, req.monthly);
            for date in periods(period, req.from_ms, req.to_ms)? {
                out.push(ArchiveName {
                    market: req.market,
                    kind: k.series,
                    symbol: symbol.clone(),
                    interval: k.step.clone(),
                    date,
                    period,
                });
            }
        }
    }
    Ok(out)
}

/// What [`fetch`] did with one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// Downloaded, verified and stored.
    Stored(ImportedFile),
    /// The raw archive already held these exact bytes (same checksum): nothing downloaded.
    AlreadyStored(ImportedFile),
    /// The server has no such file (404).
    Missing,
}

/// Fetches one file into the raw archive (see the module docs for the steps).
///
/// # Errors
/// Naming the file's URL: a download error ([`ArchiveClient::get`]), a zip without a
/// `.CHECKSUM` (never stored unverified), a checksum mismatch or malformed `.CHECKSUM`, a corrupt
/// zip ([`Error::Archive`]); [`Error::Io`] writing. Nothing is stored on error.
pub async fn fetch(client: &ArchiveClient, store: &RawStore, base: &str, name: &ArchiveName) -> Result<Fetched> {
    let url = name.url(base);
    let sum_url = format!("{url}.CHECKSUM");
    let Some(sum) = client.get(&sum_url).await? else {
        return match client.get(&url).await? {
            None => Ok(Fetched::Missing),
            Some(_) => Err(ArchiveError::file(&url, format!("no {sum_url}: not imported unverified")).into()),
        };
    };
    let sum = std::str::from_utf8(&sum)
        .map_err(|_| ArchiveError::file(&url, format!("{sum_url} is not UTF-8 text")))?
        .to_string();
    let rel_path = name.rel_path();
    let stored = store.archive_path(&rel_path);
    let imported = |bytes: &[u8]| ImportedFile {
        name: name.clone(),
        source: PathBuf::from(&url),
        rel_path: rel_path.clone(),
        stored: stored.clone(),
        sha256: sha256_hex(bytes),
        bytes: bytes.len() as u64,
        checksum_verified: true,
    };
    if let Ok(have) = std::fs::read(&stored)
        && archive::verify_checksum(&have, &sum, &url).is_ok()
    {
        return Ok(Fetched::AlreadyStored(imported(&have)));
    }
    let Some(bytes) = client.get(&url).await? else { return Ok(Fetched::Missing) };
    archive::verify_checksum(&bytes, &sum, &url)?;
    archive::check_zip(std::path::Path::new(&url), &bytes)?;
    store.store_archive_file(&rel_path, &bytes, &url, &now_rfc3339())?;
    Ok(Fetched::Stored(imported(&bytes)))
}

/// [`fetch`] for every name, `concurrency` at a time, results in the order of `names`;
/// `on_done` is called after each file (progress).
pub async fn fetch_all(
    client: &ArchiveClient,
    store: &RawStore,
    base: &str,
    names: &[ArchiveName],
    concurrency: usize,
    on_done: &(dyn Fn() + Sync),
) -> Vec<Result<Fetched>> {
    futures::stream::iter(names)
        .map(|n| async move {
            let r = fetch(client, store, base, n).await;
            on_done();
            r
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;
    /// 2024-06-01T00:00:00Z.
    const JUNE_1: u64 = 1_717_200_000_000;

    fn req(kinds: &[&str], market: Market, from_ms: u64, to_ms: u64, monthly: bool) -> Request {
        Request {
            market,
            symbols: vec!["btcusdt".into()],
            kinds: kinds.iter().map(|k| archive_spec(market, k).unwrap()).collect(),
            from_ms,
            to_ms,
            monthly,
        }
    }

    fn rels(r: &Request) -> Vec<String> {
        plan(r).unwrap().iter().map(|n| n.rel_path().display().to_string()).collect()
    }

    #[test]
    fn daily_plan_covers_days_overlapping_the_range() {
        let r = req(&["klines:1m", "aggTrades"], Market::Spot, JUNE_1, JUNE_1 + 2 * DAY, false);
        assert_eq!(
            rels(&r),
            [
                "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-06-01.zip",
                "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-06-02.zip",
                "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-06-01.zip",
                "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-06-02.zip",
            ]
        );
        // A partial day at either end is still that day's file.
        let r = req(&["trades"], Market::Spot, JUNE_1 + 1, JUNE_1 + DAY + 1, false);
        assert_eq!(plan(&r).unwrap().iter().map(|n| n.date.as_str()).collect::<Vec<_>>(), ["2024-06-01", "2024-06-02"]);
    }

    #[test]
    fn monthly_plan_and_fixed_period_kinds() {
        let r =
            req(&["premiumIndexKlines:1h", "fundingRate", "metrics"], Market::UsdM, JUNE_1 - DAY, JUNE_1 + DAY, true);
        assert_eq!(
            rels(&r),
            [
                "data/futures/um/monthly/premiumIndexKlines/BTCUSDT/1h/BTCUSDT-1h-2024-05.zip",
                "data/futures/um/monthly/premiumIndexKlines/BTCUSDT/1h/BTCUSDT-1h-2024-06.zip",
                "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-05.zip",
                "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-06.zip",
                "data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-05-31.zip",
                "data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-06-01.zip",
            ]
        );
    }

    #[test]
    fn bad_requests_are_named() {
        let e = |m, t: &str| archive_spec(m, t).unwrap_err().to_string();
        assert_eq!(e(Market::Spot, "aggTrades:1m"), "--data \"aggTrades:1m\": aggTrades takes no interval");
        assert!(e(Market::Spot, "klines:2m").starts_with("--data \"klines:2m\": unknown interval \"2m\""));
        assert!(e(Market::Spot, "candles").starts_with("--data \"candles\": unknown series \"candles\""));
        assert_eq!(
            e(Market::Spot, "premiumIndexKlines:1m"),
            "--data \"premiumIndexKlines:1m\": data.binance.vision has no spot premiumIndexKlines files; spot has \
             klines, aggTrades, trades"
        );
        assert_eq!(
            e(Market::UsdM, "openInterestHist:5m"),
            "--data \"openInterestHist:5m\": data.binance.vision has no usdm openInterestHist files; usdm has \
             klines, markPriceKlines, indexPriceKlines, premiumIndexKlines, aggTrades, trades, bookTicker, \
             fundingRate, metrics"
        );
        assert_eq!(archive_spec(Market::Spot, "klines").unwrap().step.as_deref(), Some("1m"));
        let mut r = req(&["trades"], Market::Spot, JUNE_1, JUNE_1, false);
        assert_eq!(
            plan(&r).unwrap_err(),
            Error::Request(format!("empty time range: --to {JUNE_1} ms is not after --from {JUNE_1} ms"))
        );
        r.to_ms += 1;
        r.symbols = vec!["BTC/USDT".into()];
        assert_eq!(
            plan(&r).unwrap_err(),
            Error::Request("--symbols \"BTC/USDT\": not a Binance symbol (A-Z, 0-9, _)".into())
        );
    }
}
