//! Funding rate history (USD-M) → [`FundingRateUpdate`] and the ledger's [`FundingPayment`].
//!
//! The 0.57 backtest engine neither routes nor applies funding (`FundingRateUpdate` is not a
//! `Data` variant), so the backtest's funding ledger works from [`FundingPayment`]s, which also
//! keep the settlement mark price that REST `fundingRate` rows carry (stored in the catalog as
//! [`FundingMark`] beside the rate rows, and joined back by [`funding_payments`]).
//!
//! Timestamps: `fundingTime` (REST) / `calc_time` (archive) is the settlement time; the rate is
//! known then, so `ts_event = ts_init = fundingTime`.

use nautilus_core::UnixNanos;
use nautilus_model::{data::FundingRateUpdate, identifiers::InstrumentId};
use rust_decimal::Decimal;
use serde_json::Value;

use super::{
    check_columns, csv_fields, get_decimal, get_u64,
    instrument::check_symbol,
    invalid_type, out_of_range, parse_decimal, parse_u64,
    time::{NANOS_PER_MS, archive_field, scaled},
};
use crate::{custom::FundingMark, error::Result};

/// Binance's standard funding interval (8 h) in minutes, used when the caller does not know the
/// symbol's interval (`/fapi/v1/fundingInfo` lists the exceptions).
pub const DEFAULT_FUNDING_INTERVAL_MINUTES: u16 = 480;

/// One funding settlement, as the backtest's funding ledger needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FundingPayment {
    pub instrument_id: InstrumentId,
    /// Settlement time.
    pub ts: UnixNanos,
    /// Funding rate (fraction; positive: longs pay shorts).
    pub rate: Decimal,
    /// Mark price used for the settlement (REST rows since ~2023; `None` in older rows and in
    /// archive CSVs).
    pub mark_price: Option<Decimal>,
}

impl From<&FundingRateUpdate> for FundingPayment {
    fn from(u: &FundingRateUpdate) -> Self {
        Self { instrument_id: u.instrument_id, ts: u.ts_event, rate: u.rate, mark_price: None }
    }
}

/// A `/fapi/v1/fundingRate` row `{symbol, fundingRate, fundingTime[, markPrice]}` →
/// [`FundingRateUpdate`] with the exact decimal rate, `interval_minutes` (default
/// [`DEFAULT_FUNDING_INTERVAL_MINUTES`]), no `next_funding_ns` (a history row does not state
/// it), stamped at `fundingTime`.
///
/// # Errors
/// [`Error::MissingField`](crate::Error::MissingField),
/// [`InvalidDecimal`](crate::Error::InvalidDecimal) for the rate,
/// [`Inconsistent`](crate::Error::Inconsistent) if `symbol` is not the instrument's.
pub fn parse_funding_rate(
    v: &Value,
    instrument_id: InstrumentId,
    interval_minutes: Option<u16>,
) -> Result<FundingRateUpdate> {
    check_symbol(v, &instrument_id)?;
    let rate = get_decimal(v, "fundingRate")?;
    let ts = scaled("fundingTime", get_u64(v, "fundingTime")?, NANOS_PER_MS)?;
    let interval = interval_minutes.unwrap_or(DEFAULT_FUNDING_INTERVAL_MINUTES);
    Ok(FundingRateUpdate::new(instrument_id, rate, Some(interval), None, ts, ts))
}

/// The same row → [`FundingPayment`]; `markPrice` absent or `""` (older rows) → `None`.
///
/// # Errors
/// As [`parse_funding_rate`]; a present, non-empty `markPrice` must be a decimal string.
pub fn parse_funding_payment(v: &Value, instrument_id: InstrumentId) -> Result<FundingPayment> {
    let (u, mark) = parse_funding_row(v, instrument_id)?;
    let mark_price = mark.map(|m| parse_decimal(&m.mark_price, "markPrice")).transpose()?;
    Ok(FundingPayment { mark_price, ..FundingPayment::from(&u) })
}

/// The same row → its [`FundingRateUpdate`] and, when it has one, its settlement mark price as
/// catalog data ([`FundingMark`]).
///
/// # Errors
/// As [`parse_funding_payment`].
pub fn parse_funding_row(v: &Value, instrument_id: InstrumentId) -> Result<(FundingRateUpdate, Option<FundingMark>)> {
    let u = parse_funding_rate(v, instrument_id, None)?;
    let mark = match v.get("markPrice") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => {
            parse_decimal(s, "markPrice")?;
            Some(FundingMark { instrument_id, mark_price: s.clone(), ts_event: u.ts_event, ts_init: u.ts_init })
        }
        Some(other) => return Err(invalid_type("markPrice", "string", other)),
    };
    Ok((u, mark))
}

/// Funding payments: the catalog's rate rows with the settlement mark prices stored beside them
/// (matched by time).
///
/// # Errors
/// A stored mark price that is not a decimal.
pub fn funding_payments(rates: &[FundingRateUpdate], marks: &[FundingMark]) -> Result<Vec<FundingPayment>> {
    let by_ts: std::collections::HashMap<u64, &str> =
        marks.iter().map(|m| (m.ts_event.as_u64(), m.mark_price.as_str())).collect();
    rates
        .iter()
        .map(|u| {
            let mark_price = by_ts.get(&u.ts_event.as_u64()).map(|s| parse_decimal(s, "markPrice")).transpose()?;
            Ok(FundingPayment { mark_price, ..FundingPayment::from(u) })
        })
        .collect()
}

/// A USD-M archive `fundingRate` CSV line `calc_time,funding_interval_hours,last_funding_rate`
/// → [`FundingRateUpdate`] at `calc_time` (ms or µs, detected), interval from the row.
///
/// # Errors
/// [`Error::ColumnCount`](crate::Error::ColumnCount) unless 3 columns,
/// [`InvalidInteger`](crate::Error::InvalidInteger),
/// [`OutOfRange`](crate::Error::OutOfRange) for a zero or oversized interval,
/// [`InvalidDecimal`](crate::Error::InvalidDecimal) for the rate.
pub fn parse_funding_rate_csv(line: &str, instrument_id: InstrumentId) -> Result<FundingRateUpdate> {
    let f = csv_fields(line);
    check_columns(&f, "3", f.len() == 3)?;
    let ts = archive_field("calc_time", parse_u64(f[0], "calc_time")?)?;
    let hours = parse_u64(f[1], "funding_interval_hours")?;
    let minutes = hours
        .checked_mul(60)
        .and_then(|m| u16::try_from(m).ok())
        .filter(|m| *m > 0)
        .ok_or_else(|| out_of_range("funding_interval_hours", f[1], "must be 1..=1092 hours"))?;
    let rate = parse_decimal(f[2], "last_funding_rate")?;
    Ok(FundingRateUpdate::new(instrument_id, rate, Some(minutes), None, ts, ts))
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use serde_json::json;

    use super::*;
    use crate::error::Error;

    fn id() -> InstrumentId {
        InstrumentId::from("BTCUSDT-PERP.BINANCE")
    }

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn rest_row() {
        let v = json!({"symbol": "BTCUSDT", "fundingRate": "-0.03750000", "fundingTime": 1570608000000u64});
        let u = parse_funding_rate(&v, id(), None).unwrap();
        assert_eq!(u.rate, dec("-0.0375"));
        assert_eq!(u.rate.to_string(), "-0.03750000");
        assert_eq!(u.interval, Some(480));
        assert_eq!(u.next_funding_ns, None);
        assert_eq!(
            (u.ts_event, u.ts_init),
            (UnixNanos::from(1_570_608_000_000_000_000), UnixNanos::from(1_570_608_000_000_000_000))
        );
        assert_eq!(parse_funding_rate(&v, id(), Some(240)).unwrap().interval, Some(240));
    }

    #[rstest]
    #[case::with_mark(json!("59999.90000000"), Some("59999.9"))]
    #[case::empty_mark(json!(""), None)]
    fn payments(#[case] mark: Value, #[case] want: Option<&str>) {
        let v = json!({"symbol": "BTCUSDT", "fundingRate": "0.00010000", "fundingTime": 1570636800000u64, "markPrice": mark});
        let p = parse_funding_payment(&v, id()).unwrap();
        assert_eq!(
            p,
            FundingPayment {
                instrument_id: id(),
                ts: UnixNanos::from(1_570_636_800_000_000_000),
                rate: dec("0.0001"),
                mark_price: want.map(dec)
            }
        );
    }

    #[rstest]
    #[case::garbage(json!({"symbol": "BTCUSDT", "fundingRate": "abc", "fundingTime": 1}), Error::InvalidDecimal { origin: String::new(), field: "fundingRate", value: "abc".into() })]
    #[case::missing_field(json!({"symbol": "BTCUSDT", "fundingRate": "0.1"}), Error::MissingField { origin: String::new(), field: "fundingTime" })]
    #[case::other_symbol(json!({"symbol": "ETHUSDT", "fundingRate": "0.1", "fundingTime": 1}), Error::Inconsistent { origin: String::new(), field: "symbol", value: "ETHUSDT".into(), reason: "record is for ETHUSDT, instrument is BTCUSDT-PERP.BINANCE".into() })]
    #[case::number_mark(json!({"symbol": "BTCUSDT", "fundingRate": "0.1", "fundingTime": 1, "markPrice": 1.5}), Error::InvalidType { origin: String::new(), field: "markPrice", expected: "string", value: "number 1.5".into() })]
    fn bad_rows(#[case] v: Value, #[case] want: Error) {
        assert_eq!(parse_funding_payment(&v, id()), Err(want));
    }

    #[rstest]
    #[case::eight_hours("1698796800000,8,0.00010000", 480, 1_698_796_800_000_000_000)]
    #[case::four_hours_micros("1698796800000000,4,-0.00002500", 240, 1_698_796_800_000_000_000)]
    fn archive(#[case] line: &str, #[case] minutes: u16, #[case] ns: u64) {
        let u = parse_funding_rate_csv(line, id()).unwrap();
        assert_eq!((u.interval, u.ts_init), (Some(minutes), UnixNanos::from(ns)));
        assert_eq!(FundingPayment::from(&u).mark_price, None);
    }

    #[rstest]
    #[case::zero("1698796800000,0,0.0001", Error::OutOfRange { origin: String::new(), field: "funding_interval_hours", value: "0".into(), reason: "must be 1..=1092 hours".into() })]
    #[case::short("1698796800000,8", Error::ColumnCount { origin: String::new(), expected: "3", got: 2 })]
    fn bad_archive(#[case] line: &str, #[case] want: Error) {
        assert_eq!(parse_funding_rate_csv(line, id()), Err(want));
    }
}
