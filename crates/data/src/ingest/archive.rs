//! One data.binance.vision bulk file → [`Batch`]es, streamed: the CSV is decompressed, parsed
//! with the pure parsers of [`crate::parse`] and handed out in chunks of at most
//! [`CHUNK_ROWS`] rows (cut only where `ts_init` changes), so memory does not depend on the
//! file's size.
//!
//! | series | batches |
//! | -- | -- |
//! | `klines` | `Bars` (`LAST`, stamped at the close) |
//! | `markPriceKlines` / `indexPriceKlines` | `MarkPrices` / `IndexPrices` (the close, 8 decimals) |
//! | `premiumIndexKlines` | `Bars` of `<perpetual>-PREMIUM.BINANCE` (OHLC, 8 decimals; see [`parse_premium_index_kline`]) |
//! | `aggTrades`, `trades` | `Trades` |
//! | `bookTicker` | `Quotes` |
//! | `fundingRate` | `Funding` |
//! | `metrics` | `Custom` [`OpenInterest`](crate::OpenInterest), then `Custom` [`LongShortRatio`](crate::LongShortRatio) (the three kinds per row, in [`RatioKind::ALL`](crate::RatioKind::ALL) order) |
//!
//! From `metrics`, taker volumes are skipped (the archive has only the ratio, its volumes are
//! NaN) and so are values whose column is empty (NaN). Timestamps must not decrease (and must
//! increase for the klines kinds, funding and metrics). A file without a single data row is
//! refused: Binance publishes no empty files, so it is a truncated download.

use std::path::Path;

use binance::{
    Market, Series,
    archive::{self, ArchiveError, ArchiveName},
};
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{CustomData, HasTsInit},
    enums::PriceType,
    instruments::{Instrument, InstrumentAny},
};

use crate::{
    batch::Batch,
    error::{Error, Result, ResultExt},
    parse::{
        funding::parse_funding_rate_csv,
        instrument::instrument_id,
        kline::{KlineRow, bar_type, parse_kline},
        metrics::parse_metrics_csv,
        prices::{MARK_INDEX_PRECISION, parse_index_price_kline, parse_mark_price_kline, parse_premium_index_kline},
        quote::parse_book_ticker_csv,
        trade::{parse_agg_trade_csv, parse_trade_csv},
    },
};

/// Rows per batch handed out (≈ 60 MB of trade ticks): the bound on an import's memory.
pub const CHUNK_ROWS: usize = 500_000;

/// The market of a Binance instrument id (`BTCUSDT.BINANCE` spot, `BTCUSDT-PERP.BINANCE` USD-M).
pub(crate) fn instrument_market(instrument: &InstrumentAny) -> Option<Market> {
    let id = instrument.id();
    let symbol = instrument.raw_symbol();
    Market::ALL.into_iter().find(|m| instrument_id(*m, symbol.as_str()).is_ok_and(|want| want == id))
}

/// Converts one bulk file (`.zip` or `.csv`, named as on data.binance.vision) for `instrument`,
/// calling `sink` with each chunk ([`CHUNK_ROWS`], values ascending by `ts_init`); returns the
/// rows converted. The market is the file's folder market or, when the path names none, the
/// instrument's; it and the symbol must match the instrument.
///
/// # Errors
/// [`Error::Archive`] for the name, a corrupt zip, a wrong market or symbol, an empty file or a
/// timestamp out of order (naming the file and line); a record-level error for a row that does
/// not convert (origin `file:line`); or the first error of `sink`.
pub fn convert_file(
    path: &Path,
    instrument: &InstrumentAny,
    chunk_rows: usize,
    sink: &mut dyn FnMut(Batch) -> Result<()>,
) -> Result<usize> {
    let id = instrument.id();
    let market = instrument_market(instrument).ok_or_else(|| {
        ArchiveError::file(path, format!("instrument {id} is not a Binance spot pair or USD-M perpetual"))
    })?;
    let name = ArchiveName::parse(path, Some(archive::folder_market(path)?.unwrap_or(market)))?;
    if name.market != market || name.symbol != instrument.raw_symbol().as_str() {
        let msg = format!("the file holds {} {} data, the instrument is {id}", name.market, name.symbol);
        return Err(ArchiveError::file(path, msg).into());
    }
    let (pp, sp) = (instrument.price_precision(), instrument.size_precision());
    let interval = name.interval.as_deref().unwrap_or_default();
    let mut rows = Rows { path, chunk_rows: chunk_rows.max(1), sink };
    let n = match name.kind {
        Series::Klines => {
            let bt = bar_type(id, interval, PriceType::Last).at(path.display().to_string())?;
            rows.stream(true, |l| parse_kline(&KlineRow::from_csv(l)?, bt, pp, sp), |v| vec![Batch::Bars(v)])?
        }
        Series::MarkPriceKlines => rows.stream(
            true,
            |l| parse_mark_price_kline(&KlineRow::from_csv(l)?, id, interval, MARK_INDEX_PRECISION),
            |v| vec![Batch::MarkPrices(v)],
        )?,
        Series::IndexPriceKlines => rows.stream(
            true,
            |l| parse_index_price_kline(&KlineRow::from_csv(l)?, id, interval, MARK_INDEX_PRECISION),
            |v| vec![Batch::IndexPrices(v)],
        )?,
        Series::PremiumIndexKlines => rows.stream(
            true,
            |l| parse_premium_index_kline(&KlineRow::from_csv(l)?, id, interval),
            |v| vec![Batch::Bars(v)],
        )?,
        Series::AggTrades => rows.stream(false, |l| parse_agg_trade_csv(l, id, pp, sp), |v| vec![Batch::Trades(v)])?,
        Series::Trades => rows.stream(false, |l| parse_trade_csv(l, id, pp, sp), |v| vec![Batch::Trades(v)])?,
        Series::BookTicker => {
            rows.stream(false, |l| parse_book_ticker_csv(l, id, pp, sp), |v| vec![Batch::Quotes(v)])?
        }
        Series::FundingRate => rows.stream(true, |l| parse_funding_rate_csv(l, id), |v| vec![Batch::Funding(v)])?,
        Series::Metrics => rows.stream(true, |l| metrics_row(l, id), metrics_batches)?,
        other @ (Series::ContinuousKlines
        | Series::OpenInterestHist
        | Series::TopLongShortPositionRatio
        | Series::TopLongShortAccountRatio
        | Series::GlobalLongShortAccountRatio
        | Series::TakerLongShortRatio) => {
            return Err(ArchiveError::file(path, format!("{other} has no bulk archive")).into());
        }
    };
    if n == 0 {
        let msg = "no data rows: Binance publishes no empty files, so this is a truncated download";
        return Err(ArchiveError::file(path, msg).into());
    }
    Ok(n)
}

/// The streaming state of one file.
struct Rows<'a> {
    path: &'a Path,
    chunk_rows: usize,
    sink: &'a mut dyn FnMut(Batch) -> Result<()>,
}

impl Rows<'_> {
    /// Parses every data line with `parse`, checking the order of `ts_init` (strictly
    /// increasing when `strict`), and hands chunks to the sink as `batches(chunk)`.
    fn stream<T: HasTsInit>(
        &mut self,
        strict: bool,
        mut parse: impl FnMut(&str) -> Result<T>,
        batches: impl Fn(Vec<T>) -> Vec<Batch>,
    ) -> Result<usize> {
        let (path, chunk_rows) = (self.path, self.chunk_rows);
        let sink = &mut *self.sink;
        let mut chunk: Vec<T> = Vec::new();
        let mut prev: Option<UnixNanos> = None;
        let mut total = 0usize;
        archive::each_csv_line(path, |n, line| -> Result<()> {
            let v = parse(line).at(format!("{}:{n}", path.display()))?;
            let ts = v.ts_init();
            if let Some(p) = prev {
                let bad = if strict && ts <= p {
                    Some("is not after")
                } else if ts < p {
                    Some("is before")
                } else {
                    None
                };
                if let Some(rel) = bad {
                    let msg = format!("ts_init {} {rel} the previous row's {}", ts.as_u64(), p.as_u64());
                    return Err(ArchiveError::line(path, n, msg).into());
                }
                // Cut only between different times: file intervals must not share a timestamp.
                if chunk.len() >= chunk_rows && ts > p {
                    for b in batches(std::mem::take(&mut chunk)) {
                        sink(b)?;
                    }
                }
            }
            prev = Some(ts);
            chunk.push(v);
            total += 1;
            Ok(())
        })?;
        if !chunk.is_empty() {
            for b in batches(chunk) {
                sink(b)?;
            }
        }
        Ok(total)
    }
}

/// A metrics row, checked to be for the instrument.
fn metrics_row(line: &str, id: nautilus_model::identifiers::InstrumentId) -> Result<Stamped> {
    let r = parse_metrics_csv(line)?;
    let got = r.open_interest.instrument_id;
    if got != id {
        return Err(Error::Inconsistent {
            origin: String::new(),
            field: "symbol",
            value: got.to_string(),
            reason: format!("record is for {got}, instrument is {id}"),
        });
    }
    Ok(Stamped(r))
}

/// Open interest and the long/short ratios of a chunk of metrics rows (NaN values skipped).
fn metrics_batches(records: Vec<Stamped>) -> Vec<Batch> {
    let mut oi: Vec<CustomData> = Vec::new();
    let mut ratios: Vec<CustomData> = Vec::new();
    for Stamped(r) in records {
        if !r.open_interest.open_interest.is_nan() {
            oi.push(r.open_interest.into_custom_data());
        }
        for lsr in [r.top_position, r.top_account, r.global_account] {
            if !lsr.long_short_ratio.is_nan() {
                ratios.push(lsr.into_custom_data());
            }
        }
        // r.taker: no volumes in the archive (NaN): skipped.
    }
    vec![Batch::Custom(oi), Batch::Custom(ratios)]
}

/// A metrics row ordered by its `ts_init` (that of every value it holds).
struct Stamped(crate::MetricsRecord);

impl HasTsInit for Stamped {
    fn ts_init(&self) -> UnixNanos {
        self.0.open_interest.ts_init
    }
}
