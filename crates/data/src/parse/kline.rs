//! Klines (REST arrays, archive CSV rows) → [`Bar`], and Binance intervals → [`BarType`].
//!
//! **Timestamps (no look-ahead):** a kline is known only once it has closed, so
//! `ts_event = ts_init = open_time + interval` (= Binance `closeTime` + 1 ms). The open time is
//! never used as the bar time: that would reveal the close one interval early.

use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{Bar, BarSpecification, BarType},
    enums::{AggregationSource, BarAggregation, PriceType},
    identifiers::InstrumentId,
};
use serde_json::Value;

use super::{
    as_str, as_u64, check_columns, csv_data_lines, csv_fields, inconsistent, invalid_type, parse_price, parse_quantity,
    parse_u64,
    time::{NANOS_PER_MS, archive_field, scaled},
};
use crate::error::{Error, Result, ResultExt};

pub use binance::archive::KLINE_COLUMNS;

/// One kline as received: decimals stay text until converted at the instrument precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KlineRow<'a> {
    /// Open time. Wire: ms (REST) or ms/µs (archives, see [`super::time::archive_ts_to_ns`]).
    pub open_time: UnixNanos,
    pub open: &'a str,
    pub high: &'a str,
    pub low: &'a str,
    pub close: &'a str,
    /// Base-asset volume.
    pub volume: &'a str,
    /// Close time = open time + interval − 1 wire unit (1 ms, or 1 µs in µs archives).
    pub close_time: UnixNanos,
    pub quote_volume: &'a str,
    pub trades: u64,
    pub taker_buy_base_volume: &'a str,
    pub taker_buy_quote_volume: &'a str,
    pub ignore: &'a str,
}

impl<'a> KlineRow<'a> {
    /// From a REST/WS-history kline array `[openTime, "open", ..., "ignore"]` (times in ms).
    ///
    /// # Errors
    /// [`Error::ColumnCount`] unless a 12-element array, [`Error::InvalidType`] for a
    /// column of the wrong JSON type, [`Error::InvalidTimestamp`] on overflow.
    pub fn from_json(v: &'a Value) -> Result<Self> {
        let arr = v.as_array().ok_or_else(|| invalid_type("kline", "array", v))?;
        if arr.len() != 12 {
            return Err(Error::ColumnCount { origin: String::new(), expected: "12", got: arr.len() });
        }
        let s = |i: usize| as_str(&arr[i], KLINE_COLUMNS[i]);
        let n = |i: usize| match &arr[i] {
            Value::Number(_) => as_u64(&arr[i], KLINE_COLUMNS[i]),
            other => Err(invalid_type(KLINE_COLUMNS[i], "integer", other)),
        };
        Ok(Self {
            open_time: scaled("open_time", n(0)?, NANOS_PER_MS)?,
            open: s(1)?,
            high: s(2)?,
            low: s(3)?,
            close: s(4)?,
            volume: s(5)?,
            close_time: scaled("close_time", n(6)?, NANOS_PER_MS)?,
            quote_volume: s(7)?,
            trades: n(8)?,
            taker_buy_base_volume: s(9)?,
            taker_buy_quote_volume: s(10)?,
            ignore: s(11)?,
        })
    }

    /// From one data.binance.vision CSV line (no header), times in ms or µs (detected).
    ///
    /// # Errors
    /// As [`KlineRow::from_csv_fields`].
    pub fn from_csv(line: &'a str) -> Result<Self> {
        Self::from_csv_fields(&csv_fields(line))
    }

    /// From the 12 already split CSV columns.
    ///
    /// # Errors
    /// [`Error::ColumnCount`], [`Error::InvalidInteger`] for times/count,
    /// [`Error::InvalidTimestamp`] for a time that is neither 13-digit ms nor 16-digit µs.
    pub fn from_csv_fields(f: &[&'a str]) -> Result<Self> {
        check_columns(f, "12", f.len() == 12)?;
        let ts = |i: usize| archive_field(KLINE_COLUMNS[i], parse_u64(f[i], KLINE_COLUMNS[i])?);
        Ok(Self {
            open_time: ts(0)?,
            open: f[1],
            high: f[2],
            low: f[3],
            close: f[4],
            volume: f[5],
            close_time: ts(6)?,
            quote_volume: f[7],
            trades: parse_u64(f[8], KLINE_COLUMNS[8])?,
            taker_buy_base_volume: f[9],
            taker_buy_quote_volume: f[10],
            ignore: f[11],
        })
    }

    /// The time the kline becomes known: `open_time + interval_ns`, after checking that
    /// `close_time` lies in the last millisecond of the interval (a mismatch means the wrong
    /// interval was given, which would shift every bar in time).
    ///
    /// # Errors
    /// [`Error::Inconsistent`] (field `close_time`), [`Error::InvalidTimestamp`] on
    /// overflow.
    pub fn known_at(&self, interval_ns: u64) -> Result<UnixNanos> {
        let open = self.open_time.as_u64();
        let end = open.checked_add(interval_ns).ok_or_else(|| Error::InvalidTimestamp {
            origin: String::new(),
            field: "open_time",
            value: open.to_string(),
            reason: "open time + interval overflows",
        })?;
        let close = self.close_time.as_u64();
        if close >= end || close < end.saturating_sub(NANOS_PER_MS) {
            return Err(inconsistent(
                "close_time",
                close,
                format!("expected within the last ms before open_time + interval = {end} ns"),
            ));
        }
        Ok(UnixNanos::from(end))
    }
}

/// A WS `kline` event `{e: "kline", E, s, k: {t, T, s, i, o, c, h, l, v, n, x, q, V, Q, B}}`
/// (bare or in a combined-stream envelope) → the [`Bar`] of the kline if it is closed (`x:
/// true`), else `None` (the stream repeats a kline every second until it closes). The bar is
/// stamped at its close like every kline (`ts_event = ts_init = t + interval`).
///
/// # Errors
/// [`Error::MissingField`] / [`Error::InvalidType`] for the keys above,
/// [`Error::UnsupportedInterval`] for `1M`, and the errors of [`parse_kline`].
pub fn parse_kline_event(
    v: &Value,
    instrument_id: InstrumentId,
    price_precision: u8,
    size_precision: u8,
) -> Result<Option<Bar>> {
    let k = super::get(super::unwrap_stream(v), "k")?;
    if !super::get_bool(k, "x")? {
        return Ok(None);
    }
    let s = |f: &'static str| super::get_str(k, f);
    let row = KlineRow {
        open_time: scaled("t", super::get_u64(k, "t")?, NANOS_PER_MS)?,
        open: s("o")?,
        high: s("h")?,
        low: s("l")?,
        close: s("c")?,
        volume: s("v")?,
        close_time: scaled("T", super::get_u64(k, "T")?, NANOS_PER_MS)?,
        quote_volume: s("q")?,
        trades: super::get_u64(k, "n")?,
        taker_buy_base_volume: s("V")?,
        taker_buy_quote_volume: s("Q")?,
        ignore: s("B")?,
    };
    let bt = bar_type(instrument_id, s("i")?, PriceType::Last)?;
    parse_kline(&row, bt, price_precision, size_precision).map(Some)
}

/// Binance kline interval → (step, aggregation).
fn interval_spec(interval: &str) -> Option<(usize, BarAggregation)> {
    use BarAggregation::{Day, Hour, Minute, Second, Week};
    Some(match interval {
        "1s" => (1, Second),
        "1m" => (1, Minute),
        "3m" => (3, Minute),
        "5m" => (5, Minute),
        "15m" => (15, Minute),
        "30m" => (30, Minute),
        "1h" => (1, Hour),
        "2h" => (2, Hour),
        "4h" => (4, Hour),
        "6h" => (6, Hour),
        "8h" => (8, Hour),
        "12h" => (12, Hour),
        "1d" => (1, Day),
        "3d" => (3, Day),
        "1w" => (1, Week),
        _ => return None,
    })
}

fn unsupported_interval(interval: &str) -> Error {
    Error::UnsupportedInterval { origin: String::new(), field: "interval", value: interval.to_string() }
}

/// Length of a Binance kline interval in nanoseconds (`1s` … `1w`).
///
/// # Errors
/// [`Error::UnsupportedInterval`] for `1M` (calendar months have no fixed length) and
/// anything unknown.
pub fn interval_ns(interval: &str) -> Result<u64> {
    binance::endpoint::interval_ms(interval)
        .filter(|_| interval_spec(interval).is_some())
        .map(|ms| ms * NANOS_PER_MS)
        .ok_or_else(|| unsupported_interval(interval))
}

/// Length of a bar specification in nanoseconds (time aggregations Second…Week only).
///
/// # Errors
/// [`Error::UnsupportedInterval`] (field `bar_type`) for other aggregations.
pub fn spec_interval_ns(spec: &BarSpecification) -> Result<u64> {
    let unit: u64 = match spec.aggregation {
        BarAggregation::Second => 1_000_000_000,
        BarAggregation::Minute => 60_000_000_000,
        BarAggregation::Hour => 3_600_000_000_000,
        BarAggregation::Day => 86_400_000_000_000,
        BarAggregation::Week => 604_800_000_000_000,
        _ => {
            return Err(Error::UnsupportedInterval {
                origin: String::new(),
                field: "bar_type",
                value: spec.to_string(),
            });
        }
    };
    Ok(unit * spec.step.get() as u64)
}

/// `BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL` from an id, a Binance interval and a price type.
///
/// Use [`PriceType::Last`] for trade klines and [`PriceType::Mark`] for mark-price klines.
/// nautilus 0.57 has no `Index` price type: index-price klines are not bars here but
/// [`IndexPriceUpdate`](nautilus_model::data::IndexPriceUpdate)s (see
/// [`super::prices::parse_index_price_kline`]).
///
/// # Errors
/// [`Error::UnsupportedInterval`] for `1M` and unknown intervals.
pub fn bar_type(instrument_id: InstrumentId, interval: &str, price_type: PriceType) -> Result<BarType> {
    let (step, aggregation) = interval_spec(interval).ok_or_else(|| unsupported_interval(interval))?;
    let spec =
        BarSpecification::new_checked(step, aggregation, price_type).map_err(|_| unsupported_interval(interval))?;
    Ok(BarType::new(instrument_id, spec, AggregationSource::External))
}

/// One kline → [`Bar`] at the instrument precisions, stamped at its close
/// (`ts_event = ts_init = open_time + interval`, the interval taken from `bar_type`).
///
/// # Errors
/// [`Error::InvalidDecimal`] / [`Error::PrecisionLoss`] / [`Error::OutOfRange`]
/// for a price or volume, [`Error::UnsupportedInterval`] for a non-time `bar_type`,
/// [`Error::Inconsistent`] for a close time not matching the interval, or OHLC out of order
/// (field `high`: high below open/low/close; field `low`: low above open/close).
pub fn parse_kline(row: &KlineRow<'_>, bar_type: BarType, price_precision: u8, size_precision: u8) -> Result<Bar> {
    let ts = row.known_at(spec_interval_ns(&bar_type.spec())?)?;
    let open = parse_price(row.open, "open", price_precision)?;
    let high = parse_price(row.high, "high", price_precision)?;
    let low = parse_price(row.low, "low", price_precision)?;
    let close = parse_price(row.close, "close", price_precision)?;
    let volume = parse_quantity(row.volume, "volume", size_precision)?;
    let ohlc = || format!("{open}/{high}/{low}/{close}");
    if high < open.max(close).max(low) {
        return Err(inconsistent("high", ohlc(), "high below open, low or close"));
    }
    if low > open.min(close) {
        return Err(inconsistent("low", ohlc(), "low above open or close"));
    }
    Bar::new_checked(bar_type, open, high, low, close, volume, ts, ts).map_err(|e| inconsistent("ohlc", ohlc(), e))
}

/// A REST klines response (array of arrays) → bars in the same order; errors labelled `#<index>`.
///
/// # Errors
/// [`Error::InvalidType`] if `v` is not an array, else the first row error.
pub fn parse_klines_json(v: &Value, bar_type: BarType, price_precision: u8, size_precision: u8) -> Result<Vec<Bar>> {
    let rows = v.as_array().ok_or_else(|| invalid_type("klines", "array", v))?;
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            KlineRow::from_json(r)
                .and_then(|k| parse_kline(&k, bar_type, price_precision, size_precision))
                .at(format!("#{i}"))
        })
        .collect()
}

/// An archive kline CSV text (optional header, ms or µs) → bars in file order; errors labelled
/// `line <n>`.
///
/// # Errors
/// The first row error.
pub fn parse_klines_csv(text: &str, bar_type: BarType, price_precision: u8, size_precision: u8) -> Result<Vec<Bar>> {
    csv_data_lines(text)
        .map(|(n, line)| {
            KlineRow::from_csv(line)
                .and_then(|k| parse_kline(&k, bar_type, price_precision, size_precision))
                .at(format!("line {n}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use nautilus_model::types::{Price, Quantity};
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    fn bt() -> BarType {
        BarType::from("BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL")
    }

    fn row_json() -> Value {
        json!([
            1634943780000u64,
            "60685.22000000",
            "60729.84000000",
            "60670.90000000",
            "60719.27000000",
            "21.63272000",
            1634943839999u64,
            "1313200.01340410",
            617,
            "12.28492000",
            "745719.41022840",
            "0"
        ])
    }

    #[test]
    fn exact_bar_at_close() {
        let v = row_json();
        let bar = parse_kline(&KlineRow::from_json(&v).unwrap(), bt(), 2, 5).unwrap();
        assert_eq!(bar.open, Price::from("60685.22"));
        assert_eq!(bar.high, Price::from("60729.84"));
        assert_eq!(bar.low, Price::from("60670.90"));
        assert_eq!(bar.close, Price::from("60719.27"));
        assert_eq!(bar.volume, Quantity::from("21.63272"));
        assert_eq!(bar.ts_event, UnixNanos::from(1_634_943_840_000_000_000));
        assert_eq!(bar.ts_init, bar.ts_event);
    }

    #[rstest]
    #[case::one_second("1s", "1-SECOND", 1_000)]
    #[case::one_minute("1m", "1-MINUTE", 60_000)]
    #[case::fifteen_minutes("15m", "15-MINUTE", 900_000)]
    #[case::eight_hours("8h", "8-HOUR", 28_800_000)]
    #[case::twelve_hours("12h", "12-HOUR", 43_200_000)]
    #[case::three_days("3d", "3-DAY", 259_200_000)]
    #[case::week("1w", "1-WEEK", 604_800_000)]
    fn intervals(#[case] interval: &str, #[case] spec: &str, #[case] ms: u64) {
        let id = InstrumentId::from("BTCUSDT-PERP.BINANCE");
        let t = bar_type(id, interval, PriceType::Mark).unwrap();
        assert_eq!(t.to_string(), format!("BTCUSDT-PERP.BINANCE-{spec}-MARK-EXTERNAL"));
        assert_eq!(spec_interval_ns(&t.spec()), Ok(ms * NANOS_PER_MS));
        assert_eq!(interval_ns(interval), Ok(ms * NANOS_PER_MS));
    }

    #[rstest]
    #[case::month("1M")]
    #[case::garbage("7x")]
    #[case::empty("")]
    fn unsupported_intervals(#[case] interval: &str) {
        let want = || Error::UnsupportedInterval { origin: String::new(), field: "interval", value: interval.into() };
        assert_eq!(bar_type(InstrumentId::from("BTCUSDT.BINANCE"), interval, PriceType::Last), Err(want()));
        assert_eq!(interval_ns(interval), Err(want()));
    }

    #[rstest]
    #[case::wrong_interval(
        "BTCUSDT.BINANCE-5-MINUTE-LAST-EXTERNAL",
        Error::Inconsistent {
            origin: String::new(), field: "close_time", value: "1634943839999000000".into(),
            reason: "expected within the last ms before open_time + interval = 1634944080000000000 ns".into()
        }
    )]
    #[case::tick_bars(
        "BTCUSDT.BINANCE-100-TICK-LAST-EXTERNAL",
        Error::UnsupportedInterval { origin: String::new(), field: "bar_type", value: "100-TICK-LAST".into() }
    )]
    fn interval_mismatch(#[case] bar_type: &str, #[case] want: Error) {
        let v = row_json();
        let row = KlineRow::from_json(&v).unwrap();
        assert_eq!(parse_kline(&row, BarType::from(bar_type), 2, 5), Err(want));
    }

    #[rstest]
    #[case::garbage(1, json!("abc"), Error::InvalidDecimal { origin: String::new(), field: "open", value: "abc".into() })]
    #[case::number_price(2, json!(1.5), Error::InvalidType { origin: String::new(), field: "high", expected: "string", value: "number 1.5".into() })]
    #[case::string_time(0, json!("1634943780000"), Error::InvalidType { origin: String::new(), field: "open_time", expected: "integer", value: "string \"1634943780000\"".into() })]
    #[case::negative_volume(5, json!("-1"), Error::OutOfRange { origin: String::new(), field: "volume", value: "-1".into(), reason: "must not be negative".into() })]
    #[case::too_precise(4, json!("60719.275"), Error::PrecisionLoss { origin: String::new(), field: "close", value: "60719.275".into(), precision: 2 })]
    #[case::high_below_low(2, json!("60000.00"), Error::Inconsistent { origin: String::new(), field: "high", value: "60685.22/60000.00/60670.90/60719.27".into(), reason: "high below open, low or close".into() })]
    #[case::low_above_close(3, json!("60720.00"), Error::Inconsistent { origin: String::new(), field: "low", value: "60685.22/60729.84/60720.00/60719.27".into(), reason: "low above open or close".into() })]
    fn bad_columns(#[case] col: usize, #[case] value: Value, #[case] want: Error) {
        let mut v = row_json();
        v[col] = value;
        let r = KlineRow::from_json(&v).and_then(|k| parse_kline(&k, bt(), 2, 5));
        assert_eq!(r, Err(want));
    }

    #[rstest]
    #[case::missing_field(json!([1634943780000u64, "1"]), Error::ColumnCount { origin: String::new(), expected: "12", got: 2 })]
    #[case::not_array(json!({"open": "1"}), Error::InvalidType { origin: String::new(), field: "kline", expected: "array", value: "object {\"open\":\"1\"}".into() })]
    fn bad_shapes(#[case] v: Value, #[case] want: Error) {
        assert_eq!(KlineRow::from_json(&v), Err(want));
    }

    #[rstest]
    #[case::millis(
        "1637971200000,0.00002853,0.00002854,0.00002851,0.00002854,36304.20000000,1637971259999,1.03547608,79,19523.00000000,0.55694227,0"
    )]
    #[case::micros(
        "1637971200000000,0.00002853,0.00002854,0.00002851,0.00002854,36304.20000000,1637971259999999,1.03547608,79,19523.00000000,0.55694227,0"
    )]
    #[case::crlf(
        "1637971200000,0.00002853,0.00002854,0.00002851,0.00002854,36304.20000000,1637971259999,1.03547608,79,19523.00000000,0.55694227,0\r"
    )]
    fn csv_units(#[case] line: &str) {
        let bar = parse_kline(
            &KlineRow::from_csv(line).unwrap(),
            BarType::from("ADABTC.BINANCE-1-MINUTE-LAST-EXTERNAL"),
            8,
            1,
        )
        .unwrap();
        assert_eq!(bar.ts_init, UnixNanos::from(1_637_971_260_000_000_000));
        assert_eq!(bar.close, Price::from("0.00002854"));
        assert_eq!(bar.volume, Quantity::from("36304.2"));
    }

    #[rstest]
    #[case::seconds_time("1637971200,1,1,1,1,1,1637971259,1,1,1,1,0", Error::InvalidTimestamp { origin: String::new(), field: "open_time", value: "1637971200".into(), reason: "neither 13 digits (ms) nor 16 digits (µs)" })]
    #[case::short_row("1637971200000,1,1", Error::ColumnCount { origin: String::new(), expected: "12", got: 3 })]
    #[case::garbage_count("1637971200000,1,1,1,1,1,1637971259999,1,x,1,1,0", Error::InvalidInteger { origin: String::new(), field: "count", value: "x".into() })]
    fn bad_csv(#[case] line: &str, #[case] want: Error) {
        assert_eq!(KlineRow::from_csv(line), Err(want));
    }

    #[test]
    fn csv_errors_are_labelled_with_line() {
        let text = "open_time,open\n1637971200000,1,1\n";
        let err = parse_klines_csv(text, bt(), 2, 5).unwrap_err();
        assert_eq!(err, Error::ColumnCount { origin: "line 2".into(), expected: "12", got: 3 });
    }

    fn kline_event(closed: bool) -> Value {
        serde_json::json!({"stream": "btcusdt@kline_1m", "data": {"e": "kline", "E": 1723161300000u64, "s": "BTCUSDT",
            "k": {"t": 1723161240000u64, "T": 1723161299999u64, "s": "BTCUSDT", "i": "1m", "f": 1, "L": 9,
                "o": "61800.10", "c": "61810.00", "h": "61820.00", "l": "61790.00", "v": "12.345", "n": 9,
                "x": closed, "q": "763000.5", "V": "6.1", "Q": "377000.2", "B": "0"}}})
    }

    #[test]
    fn a_closed_kline_event_is_a_bar_stamped_at_its_close() {
        let id = InstrumentId::from("BTCUSDT-PERP.BINANCE");
        let bar = parse_kline_event(&kline_event(true), id, 2, 3).unwrap().unwrap();
        assert_eq!(bar.bar_type, BarType::from("BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL"));
        assert_eq!(
            (bar.ts_event, bar.ts_init),
            (UnixNanos::from(1_723_161_300_000_000_000), UnixNanos::from(1_723_161_300_000_000_000))
        );
        assert_eq!(bar.close.to_string(), "61810.00");
        assert_eq!(parse_kline_event(&kline_event(false), id, 2, 3).unwrap(), None, "an open kline is not a bar");
    }
}
