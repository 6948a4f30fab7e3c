//! The stored REST pages of one series → [`Batch`]es, with the pure parsers.
//!
//! Every stored page of a series is read (checksums verified), parsed at the instrument's
//! precisions, sorted ascending by `ts_init` and deduplicated (by time, or by trade id for
//! aggregate trades). Incomplete data never comes out: a kline whose close lies after the page's
//! retrieval time is dropped, and so is the newest kline of a page marked incomplete (its range
//! reached past Binance's clock, so that kline was still open on the server).

use binance::{Market, Series, SeriesSpec};
use nautilus_model::{
    data::{Bar, CustomData, HasTsInit, TradeTick},
    enums::PriceType,
    instruments::{Instrument, InstrumentAny},
};
use serde_json::Value;

use crate::{
    batch::Batch,
    custom::RatioKind,
    error::{Error, Result, ResultExt},
    parse::time::rfc3339_to_ns,
    parse::{
        funding::parse_funding_row,
        kline::{KlineRow, bar_type, interval_ns, parse_kline},
        metrics::{parse_long_short_ratio, parse_open_interest_hist, parse_taker_long_short_ratio},
        prices::{MARK_INDEX_PRECISION, parse_index_price_kline, parse_mark_price_kline},
        trade::parse_agg_trade,
    },
    raw::RawStore,
};

/// One stored page: its file, retrieval time (ns), completeness and rows.
struct Page {
    label: String,
    retrieved_ns: u64,
    complete: bool,
    rows: Vec<Value>,
}

fn read_pages(store: &RawStore, market: Market, series: &str, symbol: &str) -> Result<Vec<Page>> {
    let mut out = Vec::new();
    for (_, path) in store.pages(market, series, symbol)? {
        let page = RawStore::read_page(&path)?;
        let label = path.display().to_string();
        let retrieved_ns = rfc3339_to_ns("retrieved_at", &page.provenance.retrieved_at).at(label.clone())?.as_u64();
        let rows: Vec<Value> = serde_json::from_str(page.body.get())
            .map_err(|e| Error::invalid(label.clone(), format!("body is not an array: {e}")))?;
        out.push(Page { label, retrieved_ns, complete: page.complete, rows });
    }
    Ok(out)
}

/// Parses every row of every page with `f`, naming `<file>#<row>` on error.
fn each_row<T>(pages: &[Page], mut f: impl FnMut(&Page, usize, &Value) -> Result<Option<T>>) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for p in pages {
        for (i, row) in p.rows.iter().enumerate() {
            if let Some(x) = f(p, i, row).map_err(|e| e.at(format!("{}#{i}", p.label)))? {
                out.push(x);
            }
        }
    }
    Ok(out)
}

/// Klines known by the page's retrieval time, skipping the newest row of an incomplete page.
fn closed_klines<T>(pages: &[Page], interval: &str, mut f: impl FnMut(&KlineRow<'_>) -> Result<T>) -> Result<Vec<T>> {
    let step = interval_ns(interval)?;
    each_row(pages, |p, i, row| {
        let k = KlineRow::from_json(row)?;
        let close = k.open_time.as_u64().saturating_add(step);
        if close > p.retrieved_ns || (!p.complete && i + 1 == p.rows.len()) {
            return Ok(None);
        }
        f(&k).map(Some)
    })
}

/// Ascending by `ts_init`, one item per `ts_init`.
fn by_time<T: HasTsInit>(mut v: Vec<T>) -> Vec<T> {
    v.sort_by_key(HasTsInit::ts_init);
    v.dedup_by_key(|x| x.ts_init());
    v
}

fn custom<T>(v: Vec<T>, into: impl Fn(T) -> CustomData) -> Batch
where
    T: HasTsInit,
{
    Batch::Custom(by_time(v).into_iter().map(into).collect())
}

/// Converts every stored page of one REST series of `symbol` to batches for `instrument`. No
/// stored pages ⇒ no batches.
///
/// # Errors
/// A series Binance serves only as bulk files, an unreadable page, or a row that does not
/// parse, naming the page file and row.
pub fn convert_series(
    store: &RawStore,
    market: Market,
    series: &SeriesSpec,
    symbol: &str,
    instrument: &InstrumentAny,
) -> Result<Vec<Batch>> {
    let step = series.step.as_deref().unwrap_or_default();
    let pages = read_pages(store, market, &series.folder(), symbol)?;
    if pages.is_empty() {
        return Ok(Vec::new());
    }
    let id = instrument.id();
    let (pp, sp) = (instrument.price_precision(), instrument.size_precision());
    let ratio = |kind| -> Result<Batch> {
        Ok(custom(
            each_row(&pages, |_, _, r| parse_long_short_ratio(r, id, kind, step).map(Some))?,
            crate::LongShortRatio::into_custom_data,
        ))
    };
    let batch = match series.series {
        Series::Klines | Series::ContinuousKlines => {
            let bt = bar_type(id, step, PriceType::Last)?;
            Batch::Bars(by_time(closed_klines::<Bar>(&pages, step, |k| parse_kline(k, bt, pp, sp))?))
        }
        Series::MarkPriceKlines => Batch::MarkPrices(by_time(closed_klines(&pages, step, |k| {
            parse_mark_price_kline(k, id, step, MARK_INDEX_PRECISION)
        })?)),
        Series::IndexPriceKlines => Batch::IndexPrices(by_time(closed_klines(&pages, step, |k| {
            parse_index_price_kline(k, id, step, MARK_INDEX_PRECISION)
        })?)),
        Series::AggTrades => {
            let mut v: Vec<(u64, TradeTick)> = each_row(&pages, |_, _, r| {
                let t = parse_agg_trade(r, id, pp, sp)?;
                Ok(Some((r["a"].as_u64().unwrap_or_default(), t)))
            })?;
            v.sort_by_key(|(a, t)| (t.ts_init, *a));
            v.dedup_by_key(|(a, _)| *a);
            Batch::Trades(v.into_iter().map(|(_, t)| t).collect())
        }
        Series::FundingRate => {
            let rows = each_row(&pages, |_, _, r| parse_funding_row(r, id).map(Some))?;
            let (rates, marks): (Vec<_>, Vec<_>) = rows.into_iter().unzip();
            let marks = custom(marks.into_iter().flatten().collect(), crate::FundingMark::into_custom_data);
            let rates = Batch::Funding(by_time(rates));
            return Ok([rates, marks].into_iter().filter(|b| !b.is_empty()).collect());
        }
        Series::OpenInterestHist => custom(
            each_row(&pages, |_, _, r| parse_open_interest_hist(r, id, step).map(Some))?,
            crate::OpenInterest::into_custom_data,
        ),
        Series::TakerLongShortRatio => custom(
            each_row(&pages, |_, _, r| parse_taker_long_short_ratio(r, id, step).map(Some))?,
            crate::TakerBuySellVolume::into_custom_data,
        ),
        Series::TopLongShortPositionRatio => ratio(RatioKind::TopPosition)?,
        Series::TopLongShortAccountRatio => ratio(RatioKind::TopAccount)?,
        Series::GlobalLongShortAccountRatio => ratio(RatioKind::GlobalAccount)?,
        other @ (Series::PremiumIndexKlines | Series::Trades | Series::BookTicker | Series::Metrics) => {
            return Err(Error::Request(format!(
                "{market} {symbol}: {other} is imported from bulk files, not backfilled over REST"
            )));
        }
    };
    Ok(if batch.is_empty() { Vec::new() } else { vec![batch] })
}
