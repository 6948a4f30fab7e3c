//! Best bid/ask (`bookTicker`: REST, WS, USD-M archive CSV) → [`QuoteTick`].
//!
//! Timestamps: `ts_event` is the matching-engine time when the record has one (`T` transaction
//! time, else `E` event time, else REST `time`); `ts_init` is when the quote became known to us.
//! REST and WS records do not say when they were received, so the caller passes `ts_init`
//! (receive time); spot REST `bookTicker` has no time at all, so there `ts_event = ts_init`.
//! Archive rows carry both times: `ts_event = transaction_time`,
//! `ts_init = max(transaction_time, event_time)` (the event time is when Binance published it).

use nautilus_core::UnixNanos;
use nautilus_model::{data::QuoteTick, identifiers::InstrumentId};
use serde_json::Value;

use super::{
    check_columns, csv_fields, get_str, get_u64, inconsistent, parse_price, parse_quantity, parse_u64,
    time::{NANOS_PER_MS, archive_field, scaled},
    unwrap_stream,
};
use crate::error::Result;

#[allow(clippy::too_many_arguments)]
fn quote(
    id: InstrumentId,
    bid: (&str, &'static str),
    bid_qty: (&str, &'static str),
    ask: (&str, &'static str),
    ask_qty: (&str, &'static str),
    pp: u8,
    sp: u8,
    ts_event: UnixNanos,
    ts_init: UnixNanos,
) -> Result<QuoteTick> {
    let bid_price = parse_price(bid.0, bid.1, pp)?;
    let ask_price = parse_price(ask.0, ask.1, pp)?;
    let bid_size = parse_quantity(bid_qty.0, bid_qty.1, sp)?;
    let ask_size = parse_quantity(ask_qty.0, ask_qty.1, sp)?;
    QuoteTick::new_checked(id, bid_price, ask_price, bid_size, ask_size, ts_event, ts_init)
        .map_err(|e| inconsistent(bid.1, format!("{bid_price}/{ask_price}"), e))
}

/// A `bookTicker` JSON record → [`QuoteTick`]: REST `{symbol, bidPrice, bidQty, askPrice,
/// askQty[, time]}` or WS `{u, s, b, B, a, A[, T, E]}` (bare or in a combined-stream envelope).
///
/// # Errors
/// [`Error::MissingField`](crate::Error::MissingField) (`bidPrice` when neither form
/// matches), price/size errors as in [`super::parse_price`].
pub fn parse_book_ticker(
    v: &Value,
    instrument_id: InstrumentId,
    price_precision: u8,
    size_precision: u8,
    ts_init: UnixNanos,
) -> Result<QuoteTick> {
    let v = unwrap_stream(v);
    let (keys, time_keys): ([&'static str; 4], &[&'static str]) = if v.get("bidPrice").is_none() && v.get("b").is_some()
    {
        (["b", "B", "a", "A"], &["T", "E"])
    } else {
        (["bidPrice", "bidQty", "askPrice", "askQty"], &["time"])
    };
    let ts_event = match time_keys.iter().copied().find(|k| v.get(*k).is_some()) {
        Some(k) => scaled(k, get_u64(v, k)?, NANOS_PER_MS)?,
        None => ts_init,
    };
    let f = |k: &'static str| get_str(v, k).map(|s| (s, k));
    quote(
        instrument_id,
        f(keys[0])?,
        f(keys[1])?,
        f(keys[2])?,
        f(keys[3])?,
        price_precision,
        size_precision,
        ts_event,
        ts_init,
    )
}

/// A USD-M archive `bookTicker` CSV line
/// `update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time`
/// → [`QuoteTick`] (times ms or µs, detected).
///
/// # Errors
/// [`Error::ColumnCount`](crate::Error::ColumnCount) unless 7 columns, then as
/// [`parse_book_ticker`].
pub fn parse_book_ticker_csv(
    line: &str,
    instrument_id: InstrumentId,
    price_precision: u8,
    size_precision: u8,
) -> Result<QuoteTick> {
    let f = csv_fields(line);
    check_columns(&f, "7", f.len() == 7)?;
    parse_u64(f[0], "update_id")?;
    let ts_event = archive_field("transaction_time", parse_u64(f[5], "transaction_time")?)?;
    let published = archive_field("event_time", parse_u64(f[6], "event_time")?)?;
    quote(
        instrument_id,
        (f[1], "best_bid_price"),
        (f[2], "best_bid_qty"),
        (f[3], "best_ask_price"),
        (f[4], "best_ask_qty"),
        price_precision,
        size_precision,
        ts_event,
        ts_event.max(published),
    )
}

#[cfg(test)]
mod tests {
    use nautilus_model::types::{Price, Quantity};
    use rstest::rstest;
    use serde_json::json;

    use super::*;
    use crate::error::Error;

    fn id() -> InstrumentId {
        InstrumentId::from("BTCUSDT.BINANCE")
    }

    #[test]
    fn spot_rest_has_no_time() {
        let v = json!({"symbol": "BTCUSDT", "bidPrice": "60741.67000000", "bidQty": "0.36580000", "askPrice": "60741.68000000", "askQty": "0.45178000"});
        let q = parse_book_ticker(&v, id(), 2, 5, UnixNanos::from(42)).unwrap();
        assert_eq!((q.bid_price, q.ask_price), (Price::from("60741.67"), Price::from("60741.68")));
        assert_eq!((q.bid_size, q.ask_size), (Quantity::from("0.36580"), Quantity::from("0.45178")));
        assert_eq!((q.ts_event, q.ts_init), (UnixNanos::from(42), UnixNanos::from(42)));
    }

    #[test]
    fn usdm_rest_time_is_ts_event() {
        let v = json!({"symbol": "BTCUSDT", "bidPrice": "4.00000000", "bidQty": "431.00000000", "askPrice": "4.00000200", "askQty": "9.00000000", "time": 1589437530011u64});
        let q = parse_book_ticker(&v, id(), 8, 0, UnixNanos::from(1_589_437_530_100_000_000)).unwrap();
        assert_eq!(q.ts_event, UnixNanos::from(1_589_437_530_011_000_000));
        assert_eq!(q.ask_price, Price::from("4.00000200"));
        assert_eq!(q.bid_size, Quantity::from("431"));
    }

    #[test]
    fn ws_envelope_uses_transaction_time() {
        let v = json!({"stream": "ethusdt@bookTicker", "data": {"u": 12711621188u64, "s": "ETHUSDT", "b": "4507.24000000", "B": "2.35950000", "a": "4507.25000000", "A": "2.84570000", "T": 1646199228121u64, "E": 1646199228123u64}});
        let q = parse_book_ticker(
            &v,
            InstrumentId::from("ETHUSDT.BINANCE"),
            2,
            4,
            UnixNanos::from(1_646_199_228_200_000_000),
        )
        .unwrap();
        assert_eq!(q.ts_event, UnixNanos::from(1_646_199_228_121_000_000));
        assert_eq!(q.bid_price, Price::from("4507.24"));
        assert_eq!(q.ask_size, Quantity::from("2.8457"));
    }

    #[rstest]
    #[case::millis(
        "400900217,25.35190000,31.21000000,25.36520000,40.66000000,1568014460891,1568014460893",
        1_568_014_460_891_000_000,
        1_568_014_460_893_000_000
    )]
    #[case::micros(
        "400900217,25.3519,31.21,25.3652,40.66,1568014460891000,1568014460893000",
        1_568_014_460_891_000_000,
        1_568_014_460_893_000_000
    )]
    fn csv(#[case] line: &str, #[case] ev: u64, #[case] init: u64) {
        let q = parse_book_ticker_csv(line, id(), 4, 2).unwrap();
        assert_eq!((q.ts_event, q.ts_init), (UnixNanos::from(ev), UnixNanos::from(init)));
        assert_eq!(q.bid_price, Price::from("25.3519"));
    }

    #[rstest]
    #[case::missing_field(json!({"bidPrice": "1", "bidQty": "1", "askPrice": "1"}), Error::MissingField { origin: String::new(), field: "askQty" })]
    #[case::garbage(json!({"b": "x", "B": "1", "a": "1", "A": "1"}), Error::InvalidDecimal { origin: String::new(), field: "b", value: "x".into() })]
    #[case::empty(json!({}), Error::MissingField { origin: String::new(), field: "bidPrice" })]
    fn bad_json(#[case] v: Value, #[case] want: Error) {
        assert_eq!(parse_book_ticker(&v, id(), 2, 2, UnixNanos::default()), Err(want));
    }

    #[test]
    fn bad_csv_columns() {
        assert_eq!(
            parse_book_ticker_csv("1,2,3", id(), 2, 2),
            Err(Error::ColumnCount { origin: String::new(), expected: "7", got: 3 })
        );
    }
}
