//! USD-M futures statistics (`/futures/data/*` rows and the archive `metrics` CSV) →
//! [`OpenInterest`], [`LongShortRatio`], [`TakerBuySellVolume`] custom data.
//!
//! **Timestamps (decision).** Binance documents `timestamp` only as "timestamp"; it is aligned
//! to the period grid, and neither the docs nor the samples say whether it opens or closes the
//! period. The taker volumes and ratios are aggregates over the period, so they are complete only
//! at its end. We therefore keep Binance's value as `ts_event = timestamp` and make the value
//! available at `ts_init = timestamp + period` (the end of the period if `timestamp` is its
//! start). If `timestamp` actually is the end, this costs one period of latency but never leaks
//! the future; the opposite choice would leak a whole period when `timestamp` is the start.
//! The archive `metrics` rows (`create_time`, 5-minute grid) follow the same rule with a 5-minute
//! period.

use binance::Market;
use nautilus_core::UnixNanos;
use nautilus_model::identifiers::InstrumentId;
use serde_json::Value;

use super::{
    check_columns, csv_fields, get_str, get_u64,
    instrument::{check_symbol, instrument_id},
    parse_stat,
    time::{NANOS_PER_MS, scaled, utc_field},
};
use crate::{
    custom::{LongShortRatio, OpenInterest, RatioKind, TakerBuySellVolume},
    error::{Error, Result},
};

/// Period of the archive `metrics` rows.
pub const METRICS_PERIOD: &str = "5m";

/// Length of a statistics period (`5m` … `1d`) in nanoseconds.
///
/// # Errors
/// [`Error::UnsupportedInterval`] (field `period`) for anything else.
pub fn period_ns(period: &str) -> Result<u64> {
    binance::endpoint::period_ms(period).map(|ms| ms * NANOS_PER_MS).ok_or_else(|| Error::UnsupportedInterval {
        origin: String::new(),
        field: "period",
        value: period.to_string(),
    })
}

/// (`ts_event` = Binance timestamp, `ts_init` = timestamp + period); see the module docs.
fn stamps(start: UnixNanos, period: &str) -> Result<(UnixNanos, UnixNanos)> {
    let p = period_ns(period)?;
    let end = start.as_u64().checked_add(p).ok_or_else(|| Error::InvalidTimestamp {
        origin: String::new(),
        field: "timestamp",
        value: start.as_u64().to_string(),
        reason: "timestamp + period overflows",
    })?;
    Ok((start, UnixNanos::from(end)))
}

fn rest_stamps(v: &Value, period: &str) -> Result<(UnixNanos, UnixNanos)> {
    stamps(scaled("timestamp", get_u64(v, "timestamp")?, NANOS_PER_MS)?, period)
}

fn stat(v: &Value, field: &'static str) -> Result<f64> {
    parse_stat(get_str(v, field)?, field)
}

/// An `openInterestHist` row `{symbol, sumOpenInterest, sumOpenInterestValue, timestamp}` →
/// [`OpenInterest`] (`timestamp` may be a number or a string, in ms).
///
/// # Errors
/// [`Error::MissingField`], [`Error::InvalidDecimal`],
/// [`Error::UnsupportedInterval`] for an unknown `period`, [`Error::Inconsistent`] if
/// `symbol` is not the instrument's.
pub fn parse_open_interest_hist(v: &Value, instrument_id: InstrumentId, period: &str) -> Result<OpenInterest> {
    check_symbol(v, &instrument_id)?;
    let (ts_event, ts_init) = rest_stamps(v, period)?;
    Ok(OpenInterest::new(
        instrument_id,
        stat(v, "sumOpenInterest")?,
        stat(v, "sumOpenInterestValue")?,
        ts_event,
        ts_init,
    ))
}

/// A long/short ratio row `{symbol, longShortRatio, longAccount, shortAccount, timestamp}` (any
/// of the three endpoints, named by `kind`) → [`LongShortRatio`].
///
/// # Errors
/// As [`parse_open_interest_hist`].
pub fn parse_long_short_ratio(
    v: &Value,
    instrument_id: InstrumentId,
    kind: RatioKind,
    period: &str,
) -> Result<LongShortRatio> {
    check_symbol(v, &instrument_id)?;
    let (ts_event, ts_init) = rest_stamps(v, period)?;
    Ok(LongShortRatio::new(
        instrument_id,
        kind.as_str().to_string(),
        stat(v, "longShortRatio")?,
        stat(v, "longAccount")?,
        stat(v, "shortAccount")?,
        ts_event,
        ts_init,
    ))
}

/// A `takerlongshortRatio` row `{buySellRatio, buyVol, sellVol, timestamp}` (no symbol on the
/// wire: the caller's instrument) → [`TakerBuySellVolume`].
///
/// # Errors
/// As [`parse_open_interest_hist`].
pub fn parse_taker_long_short_ratio(
    v: &Value,
    instrument_id: InstrumentId,
    period: &str,
) -> Result<TakerBuySellVolume> {
    check_symbol(v, &instrument_id)?;
    let (ts_event, ts_init) = rest_stamps(v, period)?;
    Ok(TakerBuySellVolume::new(
        instrument_id,
        stat(v, "buySellRatio")?,
        stat(v, "buyVol")?,
        stat(v, "sellVol")?,
        ts_event,
        ts_init,
    ))
}

/// Everything one archive `metrics` row holds.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsRecord {
    pub open_interest: OpenInterest,
    /// `sum_toptrader_long_short_ratio`: top traders by position.
    pub top_position: LongShortRatio,
    /// `count_toptrader_long_short_ratio`: top traders by account count.
    pub top_account: LongShortRatio,
    /// `count_long_short_ratio`: all traders by account count.
    pub global_account: LongShortRatio,
    /// `sum_taker_long_short_vol_ratio`; the row has no volumes, so `buy_vol`/`sell_vol` are NaN.
    pub taker: TakerBuySellVolume,
}

/// An archive ratio column: empty → NaN (the archive leaves gaps), else a decimal.
fn csv_stat(s: &str, field: &'static str) -> Result<f64> {
    if s.is_empty() { Ok(f64::NAN) } else { parse_stat(s, field) }
}

fn ratio_from_csv(id: InstrumentId, kind: RatioKind, r: f64, ts: (UnixNanos, UnixNanos)) -> LongShortRatio {
    // ratio = long / short and long + short = 1  ⇒  long = r / (1 + r), short = 1 / (1 + r).
    LongShortRatio::new(id, kind.as_str().to_string(), r, r / (1.0 + r), 1.0 / (1.0 + r), ts.0, ts.1)
}

/// A USD-M archive `metrics` CSV line `create_time,symbol,sum_open_interest,
/// sum_open_interest_value,count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,
/// count_long_short_ratio,sum_taker_long_short_vol_ratio` (`create_time` = `YYYY-MM-DD HH:MM:SS`
/// UTC) → [`MetricsRecord`] for `<symbol>-PERP.BINANCE`.
///
/// The archive has only the ratios: long/short shares are derived as `r / (1 + r)` and
/// `1 / (1 + r)`; taker volumes are NaN. Empty ratio/interest columns become NaN.
///
/// # Errors
/// [`Error::ColumnCount`] unless 8 columns, [`Error::InvalidTimestamp`] for
/// `create_time`, [`Error::Unsupported`] for a bad symbol, [`Error::InvalidDecimal`].
pub fn parse_metrics_csv(line: &str) -> Result<MetricsRecord> {
    let f = csv_fields(line);
    check_columns(&f, "8", f.len() == 8)?;
    let ts = stamps(utc_field("create_time", f[0])?, METRICS_PERIOD)?;
    let id = instrument_id(Market::UsdM, f[1])?;
    let oi = OpenInterest::new(
        id,
        csv_stat(f[2], "sum_open_interest")?,
        csv_stat(f[3], "sum_open_interest_value")?,
        ts.0,
        ts.1,
    );
    let top_account = csv_stat(f[4], "count_toptrader_long_short_ratio")?;
    let top_position = csv_stat(f[5], "sum_toptrader_long_short_ratio")?;
    let global_account = csv_stat(f[6], "count_long_short_ratio")?;
    let taker = csv_stat(f[7], "sum_taker_long_short_vol_ratio")?;
    Ok(MetricsRecord {
        open_interest: oi,
        top_position: ratio_from_csv(id, RatioKind::TopPosition, top_position, ts),
        top_account: ratio_from_csv(id, RatioKind::TopAccount, top_account, ts),
        global_account: ratio_from_csv(id, RatioKind::GlobalAccount, global_account, ts),
        taker: TakerBuySellVolume::new(id, taker, f64::NAN, f64::NAN, ts.0, ts.1),
    })
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    fn id() -> InstrumentId {
        InstrumentId::from("BTCUSDT-PERP.BINANCE")
    }

    const FIVE_MIN: u64 = 300_000_000_000;

    #[rstest]
    #[case::string_timestamp(json!("1583127900000"))]
    #[case::number_timestamp(json!(1583127900000u64))]
    fn open_interest(#[case] ts: Value) {
        let v = json!({"symbol": "BTCUSDT", "sumOpenInterest": "20403.63700000", "sumOpenInterestValue": "150570784.07809979", "timestamp": ts});
        let oi = parse_open_interest_hist(&v, id(), "5m").unwrap();
        assert_eq!(
            oi,
            OpenInterest::new(
                id(),
                20403.637,
                "150570784.07809979".parse::<f64>().unwrap(),
                UnixNanos::from(1_583_127_900_000_000_000),
                UnixNanos::from(1_583_127_900_000_000_000 + FIVE_MIN)
            )
        );
    }

    #[rstest]
    #[case::five_minutes("5m", FIVE_MIN)]
    #[case::one_hour("1h", 12 * FIVE_MIN)]
    #[case::one_day("1d", 288 * FIVE_MIN)]
    fn ts_init_is_end_of_period(#[case] period: &str, #[case] len: u64) {
        let v = json!({"buySellRatio": "1.5586", "buyVol": "387.3300", "sellVol": "248.5030", "timestamp": "1585614900000"});
        let t = parse_taker_long_short_ratio(&v, id(), period).unwrap();
        assert_eq!(t.ts_event, UnixNanos::from(1_585_614_900_000_000_000));
        assert_eq!(t.ts_init, UnixNanos::from(1_585_614_900_000_000_000 + len));
        assert_eq!((t.buy_sell_ratio, t.buy_vol, t.sell_vol), (1.5586, 387.33, 248.503));
    }

    #[rstest]
    #[case::top_position(RatioKind::TopPosition, "top_position")]
    #[case::global_account(RatioKind::GlobalAccount, "global_account")]
    fn ratios(#[case] kind: RatioKind, #[case] s: &str) {
        let v = json!({"symbol": "BTCUSDT", "longShortRatio": "1.4342", "longAccount": "0.5891", "shortAccount": "0.4108", "timestamp": "1583139600000"});
        let r = parse_long_short_ratio(&v, id(), kind, "5m").unwrap();
        assert_eq!(r.kind, s);
        assert_eq!((r.long_short_ratio, r.long_account, r.short_account), (1.4342, 0.5891, 0.4108));
    }

    #[rstest]
    #[case::bad_period(json!({"timestamp": 1, "buySellRatio": "1", "buyVol": "1", "sellVol": "1"}), "1M", Error::UnsupportedInterval { origin: String::new(), field: "period", value: "1M".into() })]
    #[case::missing_field(json!({"timestamp": 1583139600000u64, "buySellRatio": "1", "buyVol": "1"}), "5m", Error::MissingField { origin: String::new(), field: "sellVol" })]
    #[case::garbage(json!({"timestamp": 1583139600000u64, "buySellRatio": "NaN", "buyVol": "1", "sellVol": "1"}), "5m", Error::InvalidDecimal { origin: String::new(), field: "buySellRatio", value: "NaN".into() })]
    #[case::garbage_timestamp(json!({"timestamp": "soon", "buySellRatio": "1", "buyVol": "1", "sellVol": "1"}), "5m", Error::InvalidInteger { origin: String::new(), field: "timestamp", value: "soon".into() })]
    fn bad_rows(#[case] v: Value, #[case] period: &str, #[case] want: Error) {
        assert_eq!(parse_taker_long_short_ratio(&v, id(), period), Err(want));
    }

    #[test]
    fn metrics_row() {
        let line = "2023-01-21 00:05:00,BTCUSDT,98666.16300000,2236289208.19726700,0.766568632422291,1.1363333457,0.8332767017782309,0.9253075900";
        let m = parse_metrics_csv(line).unwrap();
        let (ev, init) =
            (UnixNanos::from(1_674_259_500_000_000_000), UnixNanos::from(1_674_259_500_000_000_000 + FIVE_MIN));
        assert_eq!(m.open_interest, OpenInterest::new(id(), 98666.163, 2_236_289_208.197_267, ev, init));
        assert_eq!(m.top_position.long_short_ratio, 1.136_333_345_7);
        assert_eq!(m.top_position.kind, "top_position");
        assert_eq!(m.top_account.long_short_ratio, 0.766_568_632_422_291);
        assert_eq!(m.global_account.long_short_ratio, 0.833_276_701_778_230_9);
        let g = &m.global_account;
        assert!((g.long_account / g.short_account - g.long_short_ratio).abs() < 1e-12);
        assert!((g.long_account + g.short_account - 1.0).abs() < 1e-12);
        assert_eq!(m.taker.buy_sell_ratio, 0.92530759);
        assert!(m.taker.buy_vol.is_nan() && m.taker.sell_vol.is_nan());
        assert_eq!((m.taker.ts_event, m.taker.ts_init), (ev, init));
    }

    #[rstest]
    #[case::date_only("2023-01-21,BTCUSDT,1,1,1,1,1,1", Error::InvalidTimestamp { origin: String::new(), field: "create_time", value: "2023-01-21".into(), reason: "expected `YYYY-MM-DD HH:MM:SS`" })]
    #[case::short("2023-01-21 00:05:00,BTCUSDT", Error::ColumnCount { origin: String::new(), expected: "8", got: 2 })]
    #[case::garbage("2023-01-21 00:05:00,BTCUSDT,x,1,1,1,1,1", Error::InvalidDecimal { origin: String::new(), field: "sum_open_interest", value: "x".into() })]
    fn bad_metrics(#[case] line: &str, #[case] want: Error) {
        assert_eq!(parse_metrics_csv(line), Err(want));
    }

    #[test]
    fn empty_metrics_columns_are_nan() {
        let m = parse_metrics_csv("2023-01-21 00:05:00,BTCUSDT,1,2,,,,").unwrap();
        assert!(m.top_account.long_short_ratio.is_nan() && m.taker.buy_sell_ratio.is_nan());
        assert_eq!(m.open_interest.open_interest, 1.0);
    }
}
