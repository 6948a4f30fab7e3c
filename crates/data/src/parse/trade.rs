//! Trades and aggregate trades (REST/WS JSON, archive CSV) → [`TradeTick`].
//!
//! Aggressor: `isBuyerMaker`/`m` true means the buyer was the resting order, so the taker sold
//! → [`AggressorSide::Seller`]; otherwise [`AggressorSide::Buyer`]. The trade id is kept (for
//! aggregate trades, the aggregate id `a`). History (REST, archives): `ts_event = ts_init =`
//! trade time, a trade is known when it happens. Recorded stream events
//! ([`parse_trade_event`]): `ts_event` = trade time, `ts_init` = the receive time, when it was
//! known to the recorder.

use nautilus_model::{
    data::TradeTick,
    enums::AggressorSide,
    identifiers::{InstrumentId, TradeId},
};
use serde_json::Value;

use super::{
    check_columns, csv_fields, get_bool, get_str, get_u64, inconsistent, out_of_range, parse_bool, parse_price,
    parse_quantity, parse_u64,
    time::{NANOS_PER_MS, archive_field, scaled},
    unwrap_stream,
};
use crate::error::Result;

const fn side(is_buyer_maker: bool) -> AggressorSide {
    if is_buyer_maker { AggressorSide::Seller } else { AggressorSide::Buyer }
}

#[allow(clippy::too_many_arguments)]
fn tick(
    instrument_id: InstrumentId,
    id: u64,
    price: &str,
    qty: &str,
    ts: nautilus_core::UnixNanos,
    is_buyer_maker: bool,
    price_precision: u8,
    size_precision: u8,
) -> Result<TradeTick> {
    tick_at(instrument_id, id, price, qty, (ts, ts), is_buyer_maker, price_precision, size_precision)
}

#[allow(clippy::too_many_arguments)]
fn tick_at(
    instrument_id: InstrumentId,
    id: u64,
    price: &str,
    qty: &str,
    (ts_event, ts_init): (nautilus_core::UnixNanos, nautilus_core::UnixNanos),
    is_buyer_maker: bool,
    price_precision: u8,
    size_precision: u8,
) -> Result<TradeTick> {
    let price = parse_price(price, "price", price_precision)?;
    let size = parse_quantity(qty, "qty", size_precision)?;
    if size.is_zero() {
        return Err(out_of_range("qty", qty, "must be positive"));
    }
    let trade_id = TradeId::new_checked(id.to_string()).map_err(|e| inconsistent("id", id, e))?;
    TradeTick::new_checked(instrument_id, price, size, side(is_buyer_maker), trade_id, ts_event, ts_init)
        .map_err(|e| inconsistent("qty", qty, e))
}

/// A WS `trade` event `{e: "trade", t, p, q, T, m, ...}` or `aggTrade` event `{e: "aggTrade", a,
/// p, q, T, m, ...}` (bare or in a combined-stream envelope) → [`TradeTick`] with trade id `t`
/// (or the aggregate id `a`), `ts_event` = `T`, `ts_init` = the receive time.
///
/// # Errors
/// As [`parse_agg_trade`]; [`Error::MissingField`](crate::Error::MissingField) `t` when the
/// event has neither `t` nor `a`.
pub fn parse_trade_event(
    v: &Value,
    instrument_id: InstrumentId,
    price_precision: u8,
    size_precision: u8,
    ts_init: nautilus_core::UnixNanos,
) -> Result<TradeTick> {
    let v = unwrap_stream(v);
    let ts_event = scaled("T", get_u64(v, "T")?, NANOS_PER_MS)?;
    let id = if v.get("t").is_none() && v.get("a").is_some() { get_u64(v, "a")? } else { get_u64(v, "t")? };
    let (p, q) = (get_str(v, "p")?, get_str(v, "q")?);
    tick_at(instrument_id, id, p, q, (ts_event, ts_init), get_bool(v, "m")?, price_precision, size_precision)
}

/// A REST `aggTrades` element `{a, p, q, f, l, T, m[, M]}` (or a WS `aggTrade` event, bare or in
/// a combined-stream envelope) → [`TradeTick`] with trade id `a`, at time `T` (ms).
///
/// # Errors
/// [`Error::MissingField`](crate::Error::MissingField) /
/// [`InvalidType`](crate::Error::InvalidType) for the keys above, price/size errors as in
/// [`super::parse_price`], [`OutOfRange`](crate::Error::OutOfRange) for a zero size.
pub fn parse_agg_trade(
    v: &Value,
    instrument_id: InstrumentId,
    price_precision: u8,
    size_precision: u8,
) -> Result<TradeTick> {
    let v = unwrap_stream(v);
    let ts = scaled("T", get_u64(v, "T")?, NANOS_PER_MS)?;
    let (p, q) = (get_str(v, "p")?, get_str(v, "q")?);
    tick(instrument_id, get_u64(v, "a")?, p, q, ts, get_bool(v, "m")?, price_precision, size_precision)
}

/// An archive `aggTrades` CSV line
/// `agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker[,is_best_match]`
/// (time in ms or µs, detected) → [`TradeTick`].
///
/// # Errors
/// [`Error::ColumnCount`](crate::Error::ColumnCount) unless 7 or 8 columns, then as
/// [`parse_agg_trade`].
pub fn parse_agg_trade_csv(
    line: &str,
    instrument_id: InstrumentId,
    price_precision: u8,
    size_precision: u8,
) -> Result<TradeTick> {
    let f = csv_fields(line);
    check_columns(&f, "7 or 8", matches!(f.len(), 7 | 8))?;
    let id = parse_u64(f[0], "agg_trade_id")?;
    let ts = archive_field("transact_time", parse_u64(f[5], "transact_time")?)?;
    let m = parse_bool(f[6], "is_buyer_maker")?;
    tick(instrument_id, id, f[1], f[2], ts, m, price_precision, size_precision)
}

/// A REST `trades`/`historicalTrades` element `{id, price, qty, quoteQty, time, isBuyerMaker[,
/// isBestMatch]}` → [`TradeTick`] at `time` (ms).
///
/// # Errors
/// As [`parse_agg_trade`], for these keys.
pub fn parse_trade(
    v: &Value,
    instrument_id: InstrumentId,
    price_precision: u8,
    size_precision: u8,
) -> Result<TradeTick> {
    let ts = scaled("time", get_u64(v, "time")?, NANOS_PER_MS)?;
    let (p, q) = (get_str(v, "price")?, get_str(v, "qty")?);
    tick(instrument_id, get_u64(v, "id")?, p, q, ts, get_bool(v, "isBuyerMaker")?, price_precision, size_precision)
}

/// An archive `trades` CSV line `id,price,qty,quote_qty,time,is_buyer_maker[,is_best_match]`
/// (time in ms or µs, detected) → [`TradeTick`].
///
/// # Errors
/// [`Error::ColumnCount`](crate::Error::ColumnCount) unless 6 or 7 columns, then as
/// [`parse_trade`].
pub fn parse_trade_csv(
    line: &str,
    instrument_id: InstrumentId,
    price_precision: u8,
    size_precision: u8,
) -> Result<TradeTick> {
    let f = csv_fields(line);
    check_columns(&f, "6 or 7", matches!(f.len(), 6 | 7))?;
    let id = parse_u64(f[0], "id")?;
    let ts = archive_field("time", parse_u64(f[4], "time")?)?;
    let m = parse_bool(f[5], "is_buyer_maker")?;
    tick(instrument_id, id, f[1], f[2], ts, m, price_precision, size_precision)
}

#[cfg(test)]
mod tests {
    use nautilus_core::UnixNanos;
    use nautilus_model::types::{Price, Quantity};
    use rstest::rstest;
    use serde_json::json;

    use super::*;
    use crate::error::Error;

    fn id() -> InstrumentId {
        InstrumentId::from("BTCUSDT.BINANCE")
    }

    #[rstest]
    #[case::buyer_maker(true, AggressorSide::Seller)]
    #[case::seller_maker(false, AggressorSide::Buyer)]
    fn agg_trade_json(#[case] m: bool, #[case] want: AggressorSide) {
        let v = json!({"a": 966492864u64, "p": "60759.59000000", "q": "0.00037000", "f": 1, "l": 1, "T": 1634944096877u64, "m": m, "M": true});
        let t = parse_agg_trade(&v, id(), 2, 5).unwrap();
        assert_eq!(t.price, Price::from("60759.59"));
        assert_eq!(t.size, Quantity::from("0.00037"));
        assert_eq!(t.aggressor_side, want);
        assert_eq!(t.trade_id, TradeId::new("966492864"));
        assert_eq!(t.ts_event, UnixNanos::from(1_634_944_096_877_000_000));
        assert_eq!(t.ts_init, t.ts_event);
    }

    #[rstest]
    #[case::spot_trade(json!({"stream": "btcusdt@trade", "data": {"e": "trade", "E": 1723161255343u64, "s": "BTCUSDT",
        "t": 3735683259u64, "p": "61837.63000000", "q": "0.02000000", "T": 1723161255342u64, "m": true, "M": true}}), "3735683259")]
    #[case::usdm_trade(json!({"e": "trade", "E": 1723161255343u64, "T": 1723161255342u64, "s": "BTCUSDT",
        "t": 5266583935u64, "p": "61837.63", "q": "0.02", "X": "MARKET", "m": true}), "5266583935")]
    #[case::agg_trade(json!({"e": "aggTrade", "E": 1723161255343u64, "s": "BTCUSDT", "a": 77u64, "p": "61837.63",
        "q": "0.02", "f": 1, "l": 2, "T": 1723161255342u64, "m": true}), "77")]
    fn trade_events_are_stamped_at_receipt(#[case] v: Value, #[case] trade_id: &str) {
        let t = parse_trade_event(&v, id(), 2, 5, UnixNanos::from(1_723_161_254_087_896_568)).unwrap();
        assert_eq!(t.trade_id, TradeId::new(trade_id));
        assert_eq!(
            (t.price, t.size, t.aggressor_side),
            (Price::from("61837.63"), Quantity::from("0.02000"), AggressorSide::Seller)
        );
        assert_eq!(t.ts_event, UnixNanos::from(1_723_161_255_342_000_000));
        assert_eq!(
            t.ts_init,
            UnixNanos::from(1_723_161_254_087_896_568),
            "the receive time, even behind the exchange clock"
        );
    }

    #[test]
    fn trade_event_without_an_id() {
        let v = json!({"e": "trade", "p": "1", "q": "1", "T": 1723161255342u64, "m": true});
        assert_eq!(
            parse_trade_event(&v, id(), 2, 5, UnixNanos::default()),
            Err(Error::MissingField { origin: String::new(), field: "t" })
        );
    }

    #[test]
    fn agg_trade_ws_envelope() {
        let v = json!({"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade", "E": 1, "s": "BTCUSDT", "a": 5, "p": "1.00", "q": "2", "f": 1, "l": 1, "T": 1634944096877u64, "m": false}});
        assert_eq!(parse_agg_trade(&v, id(), 2, 0).unwrap().trade_id, TradeId::new("5"));
    }

    #[rstest]
    #[case::millis("26129,0.01633102,4.70443515,27781,27781,1498793709153,true", 1_498_793_709_153_000_000)]
    #[case::micros("26129,0.01633102,4.70443515,27781,27781,1498793709153000,True,True", 1_498_793_709_153_000_000)]
    fn agg_trade_csv(#[case] line: &str, #[case] ns: u64) {
        let t = parse_agg_trade_csv(line, id(), 8, 8).unwrap();
        assert_eq!(t.ts_event, UnixNanos::from(ns));
        assert_eq!(t.aggressor_side, AggressorSide::Seller);
        assert_eq!(t.trade_id, TradeId::new("26129"));
        assert_eq!(t.price, Price::from("0.01633102"));
    }

    #[rstest]
    #[case::millis("1111468873,60650.00000000,0.02924000,1773.40600000,1634942949263,true,true")]
    #[case::no_best_match("1111468873,60650.00000000,0.02924000,1773.40600000,1634942949263,True")]
    fn trade_csv(#[case] line: &str) {
        let t = parse_trade_csv(line, id(), 2, 5).unwrap();
        assert_eq!(t.ts_event, UnixNanos::from(1_634_942_949_263_000_000));
        assert_eq!(t.size, Quantity::from("0.02924"));
        assert_eq!(t.aggressor_side, AggressorSide::Seller);
    }

    #[rstest]
    #[case::zero(json!({"id": 1, "price": "1.00", "qty": "0.000", "quoteQty": "0", "time": 1634942949263u64, "isBuyerMaker": true}),
        Error::OutOfRange { origin: String::new(), field: "qty", value: "0.000".into(), reason: "must be positive".into() })]
    #[case::missing_field(json!({"id": 1, "price": "1.00", "qty": "1", "isBuyerMaker": true}),
        Error::MissingField { origin: String::new(), field: "time" })]
    #[case::garbage(json!({"id": 1, "price": "x", "qty": "1", "time": 1634942949263u64, "isBuyerMaker": true}),
        Error::InvalidDecimal { origin: String::new(), field: "price", value: "x".into() })]
    #[case::string_bool(json!({"id": 1, "price": "1", "qty": "1", "time": 1634942949263u64, "isBuyerMaker": "true"}),
        Error::InvalidType { origin: String::new(), field: "isBuyerMaker", expected: "boolean", value: "string \"true\"".into() })]
    fn bad_trades(#[case] v: Value, #[case] want: Error) {
        assert_eq!(parse_trade(&v, id(), 2, 3), Err(want));
    }

    #[rstest]
    #[case::short("1,2,3", Error::ColumnCount { origin: String::new(), expected: "7 or 8", got: 3 })]
    #[case::bad_bool("1,1.0,1.0,1,1,1498793709153,yes", Error::InvalidBool { origin: String::new(), field: "is_buyer_maker", value: "yes".into() })]
    #[case::seconds("1,1.0,1.0,1,1,1498793709,true", Error::InvalidTimestamp { origin: String::new(), field: "transact_time", value: "1498793709".into(), reason: "neither 13 digits (ms) nor 16 digits (µs)" })]
    fn bad_agg_csv(#[case] line: &str, #[case] want: Error) {
        assert_eq!(parse_agg_trade_csv(line, id(), 2, 3), Err(want));
    }
}
