//! Mark and index prices (USD-M) → [`MarkPriceUpdate`] / [`IndexPriceUpdate`], and premium
//! index klines → [`Bar`]s of a synthetic instrument id.
//!
//! - Mark/index price **klines**: the value is the kline CLOSE, stamped like bars at
//!   `open_time + interval` (= close time + 1 ms): the close is known only then.
//! - `premiumIndex` REST object: mark and index price at its `time` (`ts_event = ts_init`).
//! - Premium index **klines**: full OHLC bars of [`premium_index_id`] (see
//!   [`parse_premium_index_kline`] for why bars on their own id).
//!
//! Precision: Binance publishes mark and index prices with more decimals than the tick size
//! (index `"11781.80495970"` on a 0.10 tick), so these take their own `precision` argument;
//! [`MARK_INDEX_PRECISION`] (8, Binance's wire precision) keeps every value exact.

use nautilus_model::{
    data::{Bar, IndexPriceUpdate, MarkPriceUpdate},
    enums::PriceType,
    identifiers::{InstrumentId, Symbol},
};
use serde_json::Value;

use super::{
    get_str, get_u64,
    instrument::check_symbol,
    kline::{KlineRow, bar_type, interval_ns, parse_kline},
    parse_price,
    time::{NANOS_PER_MS, scaled},
};
use crate::{custom::FundingEstimate, error::Result};

/// Decimals Binance uses on the wire for mark and index prices.
pub const MARK_INDEX_PRECISION: u8 = 8;

/// A `markPriceKlines` row → [`MarkPriceUpdate`] of its close, at `open_time + interval`.
///
/// # Errors
/// [`Error::UnsupportedInterval`](crate::Error::UnsupportedInterval) for `1M`,
/// [`Error::Inconsistent`](crate::Error::Inconsistent) if the row's close time does not
/// match `interval`, price errors as in [`super::parse_price`].
pub fn parse_mark_price_kline(
    row: &KlineRow<'_>,
    instrument_id: InstrumentId,
    interval: &str,
    precision: u8,
) -> Result<MarkPriceUpdate> {
    let ts = row.known_at(interval_ns(interval)?)?;
    Ok(MarkPriceUpdate::new(instrument_id, parse_price(row.close, "close", precision)?, ts, ts))
}

/// An `indexPriceKlines` row → [`IndexPriceUpdate`] of its close, at `open_time + interval`.
///
/// # Errors
/// As [`parse_mark_price_kline`].
pub fn parse_index_price_kline(
    row: &KlineRow<'_>,
    instrument_id: InstrumentId,
    interval: &str,
    precision: u8,
) -> Result<IndexPriceUpdate> {
    let ts = row.known_at(interval_ns(interval)?)?;
    Ok(IndexPriceUpdate::new(instrument_id, parse_price(row.close, "close", precision)?, ts, ts))
}

/// Appended to a perpetual's symbol to name its premium index: see [`premium_index_id`].
pub const PREMIUM_INDEX_SUFFIX: &str = "-PREMIUM";

/// The id premium-index bars are stored under: `BTCUSDT-PERP.BINANCE` →
/// `BTCUSDT-PERP-PREMIUM.BINANCE` (same venue, the perpetual's symbol + [`PREMIUM_INDEX_SUFFIX`]).
#[must_use]
pub fn premium_index_id(perpetual: InstrumentId) -> InstrumentId {
    InstrumentId::new(Symbol::new(format!("{}{PREMIUM_INDEX_SUFFIX}", perpetual.symbol)), perpetual.venue)
}

/// A `premiumIndexKlines` row (USD-M archive or `/fapi/v1/premiumIndexKlines`) → a [`Bar`] of
/// bar type `<premium_index_id(perpetual)>-<interval>-LAST-EXTERNAL`, prices at
/// [`MARK_INDEX_PRECISION`] (8, the wire precision: values such as `"-0.00042931"`), volume 0
/// (the column is always `"0"`), stamped at its close like every kline
/// (`ts_event = ts_init = open_time + interval`).
///
/// Why bars on a synthetic id:
/// - The premium index is a full OHLC series, and [`Bar`] keeps all four values as exact
///   fixed-point prices (negative values are valid `Price`s). nautilus 0.57 has no premium type,
///   [`MarkPriceUpdate`] / [`IndexPriceUpdate`] hold one value and mean something else, and a
///   custom data type would store `f64` (all the custom-data macro encodes), losing exactness.
/// - It cannot share the perpetual's bar types: `BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL`
///   already holds the trade klines and [`PriceType`] has no premium/index variant, so a bar type
///   on the perpetual's own id would collide or mislabel the series.
/// - Bars are first-class in the catalog (`query_typed_data::<Bar>`, `catalog ls` with gap
///   detection, pyarrow-readable files) and in strategies (bar subscriptions, indicators).
///
/// A backtest that feeds these bars to an engine validating data against its instruments must
/// add an instrument with this id (or skip that validation); the premium is not tradable.
///
/// # Errors
/// As [`parse_kline`]: a bad decimal or more than 8 decimals, OHLC out of order, a close time
/// not matching `interval`, [`Error::UnsupportedInterval`](crate::Error::UnsupportedInterval)
/// for `1M`/`1mo`.
pub fn parse_premium_index_kline(row: &KlineRow<'_>, perpetual: InstrumentId, interval: &str) -> Result<Bar> {
    let bt = bar_type(premium_index_id(perpetual), interval, PriceType::Last)?;
    parse_kline(row, bt, MARK_INDEX_PRECISION, 0)
}

/// A `premiumIndex` object `{symbol, markPrice, indexPrice, ..., time}` → mark and index price at
/// `time` (ms).
///
/// # Errors
/// [`Error::MissingField`](crate::Error::MissingField) /
/// [`InvalidType`](crate::Error::InvalidType), price errors, and
/// [`Error::Inconsistent`](crate::Error::Inconsistent) if `symbol` is not the
/// instrument's.
pub fn parse_premium_index(
    v: &Value,
    instrument_id: InstrumentId,
    precision: u8,
) -> Result<(MarkPriceUpdate, IndexPriceUpdate)> {
    check_symbol(v, &instrument_id)?;
    let ts = scaled("time", get_u64(v, "time")?, NANOS_PER_MS)?;
    let mark = parse_price(get_str(v, "markPrice")?, "markPrice", precision)?;
    let index = parse_price(get_str(v, "indexPrice")?, "indexPrice", precision)?;
    Ok((MarkPriceUpdate::new(instrument_id, mark, ts, ts), IndexPriceUpdate::new(instrument_id, index, ts, ts)))
}

/// A USD-M `markPriceUpdate` stream event `{e, E, s, p, i, P, r, T}` (bare or in a
/// combined-stream envelope) → the mark price (`p`), the index price (`i`) and the funding rate
/// Binance predicts for the next settlement (`r`, due at `T`), all at event time `E` and
/// received at `ts_init`. Prices at `precision` (use [`MARK_INDEX_PRECISION`]).
///
/// # Errors
/// [`Error::MissingField`](crate::Error::MissingField) /
/// [`InvalidType`](crate::Error::InvalidType), price errors, an invalid decimal rate, and
/// [`Error::Inconsistent`](crate::Error::Inconsistent) if `s` is not the instrument's symbol.
pub fn parse_mark_price_event(
    v: &Value,
    instrument_id: InstrumentId,
    precision: u8,
    ts_init: nautilus_core::UnixNanos,
) -> Result<(MarkPriceUpdate, IndexPriceUpdate, FundingEstimate)> {
    let v = super::unwrap_stream(v);
    let symbol = get_str(v, "s")?;
    if symbol != super::instrument::binance_symbol(&instrument_id) {
        return Err(super::inconsistent("s", symbol, format!("record is for {symbol}, instrument is {instrument_id}")));
    }
    let ts = scaled("E", get_u64(v, "E")?, NANOS_PER_MS)?;
    let mark = parse_price(get_str(v, "p")?, "p", precision)?;
    let index = parse_price(get_str(v, "i")?, "i", precision)?;
    let rate = get_str(v, "r")?;
    super::parse_decimal(rate, "r")?;
    let next = scaled("T", get_u64(v, "T")?, NANOS_PER_MS)?;
    Ok((
        MarkPriceUpdate::new(instrument_id, mark, ts, ts_init),
        IndexPriceUpdate::new(instrument_id, index, ts, ts_init),
        FundingEstimate::new(instrument_id, rate.to_string(), next.as_u64(), ts, ts_init),
    ))
}

#[cfg(test)]
mod tests {
    use nautilus_core::UnixNanos;
    use nautilus_model::types::Price;
    use rstest::rstest;
    use serde_json::json;

    use super::*;
    use crate::error::Error;

    fn id() -> InstrumentId {
        InstrumentId::from("BTCUSDT-PERP.BINANCE")
    }

    #[test]
    fn mark_kline_close_at_close_time() {
        let v = json!([
            1591256460000u64,
            "9653.29201333",
            "9654.56401333",
            "9653.07367333",
            "9653.07367333",
            "0",
            1591256519999u64,
            "0",
            60,
            "0",
            "0",
            "0"
        ]);
        let m = parse_mark_price_kline(&KlineRow::from_json(&v).unwrap(), id(), "1m", MARK_INDEX_PRECISION).unwrap();
        assert_eq!(m.value, Price::from("9653.07367333"));
        assert_eq!(
            (m.ts_event, m.ts_init),
            (UnixNanos::from(1_591_256_520_000_000_000), UnixNanos::from(1_591_256_520_000_000_000))
        );
        let i = parse_index_price_kline(&KlineRow::from_json(&v).unwrap(), id(), "1m", MARK_INDEX_PRECISION).unwrap();
        assert_eq!(i.value, m.value);
        assert_eq!(i.ts_init, m.ts_init);
    }

    #[rstest]
    #[case::month("1M", Error::UnsupportedInterval { origin: String::new(), field: "interval", value: "1M".into() })]
    #[case::wrong_interval("5m", Error::Inconsistent { origin: String::new(), field: "close_time", value: "1591256519999000000".into(), reason: "expected within the last ms before open_time + interval = 1591256760000000000 ns".into() })]
    fn bad_interval(#[case] interval: &str, #[case] want: Error) {
        let v = json!([1591256460000u64, "1", "1", "1", "1", "0", 1591256519999u64, "0", 60, "0", "0", "0"]);
        assert_eq!(parse_mark_price_kline(&KlineRow::from_json(&v).unwrap(), id(), interval, 8), Err(want));
    }

    /// The example row of Binance's "Premium index Kline Data" docs (`GET /fapi/v1/premiumIndexKlines`),
    /// the archive's column order.
    #[test]
    fn premium_index_kline_is_a_bar_of_the_premium_id() {
        let row = "1691603820000,-0.00042931,-0.00023641,-0.00059406,-0.00043659,0,1691603879999,0,12,0,0,0";
        let bar = parse_premium_index_kline(&KlineRow::from_csv(row).unwrap(), id(), "1m").unwrap();
        assert_eq!(bar.bar_type.to_string(), "BTCUSDT-PERP-PREMIUM.BINANCE-1-MINUTE-LAST-EXTERNAL");
        assert_eq!(
            (bar.open, bar.high, bar.low, bar.close),
            (
                Price::from("-0.00042931"),
                Price::from("-0.00023641"),
                Price::from("-0.00059406"),
                Price::from("-0.00043659")
            )
        );
        assert_eq!(bar.volume.raw, 0);
        assert_eq!((bar.ts_event, bar.ts_init), (UnixNanos::from(1_691_603_880_000_000_000), bar.ts_event));
        let finer = "1691603820000,-0.000429311,-0.0002,-0.0006,-0.0004,0,1691603879999,0,12,0,0,0";
        assert_eq!(
            parse_premium_index_kline(&KlineRow::from_csv(finer).unwrap(), id(), "1m"),
            Err(Error::PrecisionLoss {
                origin: String::new(),
                field: "open",
                value: "-0.000429311".into(),
                precision: 8
            })
        );
    }

    #[test]
    fn premium_index() {
        let v = json!({"symbol": "BTCUSDT", "markPrice": "11793.63104562", "indexPrice": "11781.80495970", "estimatedSettlePrice": "11781.16138815", "lastFundingRate": "0.00038246", "nextFundingTime": 1597392000000u64, "interestRate": "0.00010000", "time": 1597370495002u64});
        let (m, i) = parse_premium_index(&v, id(), MARK_INDEX_PRECISION).unwrap();
        assert_eq!(m.value, Price::from("11793.63104562"));
        assert_eq!(i.value, Price::from("11781.80495970"));
        assert_eq!(m.ts_event, UnixNanos::from(1_597_370_495_002_000_000));
        assert_eq!(i.ts_init, m.ts_event);
        assert_eq!(
            parse_premium_index(&v, id(), 2),
            Err(Error::PrecisionLoss {
                origin: String::new(),
                field: "markPrice",
                value: "11793.63104562".into(),
                precision: 2
            })
        );
        assert_eq!(
            parse_premium_index(&v, InstrumentId::from("ETHUSDT-PERP.BINANCE"), 8),
            Err(Error::Inconsistent {
                origin: String::new(),
                field: "symbol",
                value: "BTCUSDT".into(),
                reason: "record is for BTCUSDT, instrument is ETHUSDT-PERP.BINANCE".into()
            })
        );
    }

    #[test]
    fn mark_price_event_gives_mark_index_and_the_predicted_funding() {
        let v = json!({"stream": "btcusdt@markPrice@1s", "data": {"e": "markPriceUpdate", "E": 1562305380000u64,
            "s": "BTCUSDT", "p": "11794.15000000", "i": "11784.62659091", "P": "11784.25641265", "r": "0.00038167",
            "T": 1562306400000u64}});
        let (m, i, f) = parse_mark_price_event(&v, id(), MARK_INDEX_PRECISION, UnixNanos::from(9)).unwrap();
        assert_eq!((m.value, i.value), (Price::from("11794.15000000"), Price::from("11784.62659091")));
        assert_eq!(
            (m.ts_event, m.ts_init, i.ts_init),
            (UnixNanos::from(1_562_305_380_000_000_000), UnixNanos::from(9), UnixNanos::from(9))
        );
        assert_eq!(
            (f.rate.as_str(), f.next_funding_ns, f.ts_event),
            ("0.00038167", 1_562_306_400_000_000_000, m.ts_event)
        );
        let other = json!({"e": "markPriceUpdate", "E": 1, "s": "ETHUSDT", "p": "1", "i": "1", "r": "0", "T": 1});
        assert!(matches!(
            parse_mark_price_event(&other, id(), 8, UnixNanos::default()),
            Err(Error::Inconsistent { field: "s", .. })
        ));
    }
}
