//! USD-M `forceOrder` events (liquidation orders) → [`Liquidation`].
//!
//! Wire: `{"e":"forceOrder","E":..,"o":{"s","S","o","f","q","p","ap","X","l","z","T"}}` (bare or
//! in a combined-stream envelope). Decimals are checked and kept as their exact text;
//! `ts_event` = the order's trade time `T`, `ts_init` = the caller's receive time.

use nautilus_core::UnixNanos;
use nautilus_model::identifiers::InstrumentId;
use serde_json::Value;

use super::{
    get, get_str, get_u64, inconsistent,
    instrument::binance_symbol,
    parse_decimal,
    time::{NANOS_PER_MS, scaled},
    unwrap_stream,
};
use crate::{custom::Liquidation, error::Result};

/// A `forceOrder` event → [`Liquidation`].
///
/// # Errors
/// [`Error::MissingField`](crate::Error::MissingField) / [`InvalidType`](crate::Error::InvalidType)
/// for the keys above, [`InvalidDecimal`](crate::Error::InvalidDecimal) for a quantity or price,
/// [`Inconsistent`](crate::Error::Inconsistent) if `o.s` is not the instrument's symbol or `S` is
/// neither `BUY` nor `SELL`.
pub fn parse_force_order(v: &Value, instrument_id: InstrumentId, ts_init: UnixNanos) -> Result<Liquidation> {
    let o = get(unwrap_stream(v), "o")?;
    let symbol = get_str(o, "s")?;
    if symbol != binance_symbol(&instrument_id) {
        return Err(inconsistent("s", symbol, format!("record is for {symbol}, instrument is {instrument_id}")));
    }
    let side = get_str(o, "S")?;
    if side != "BUY" && side != "SELL" {
        return Err(inconsistent("S", side, "expected BUY or SELL"));
    }
    let dec = |k: &'static str| -> Result<String> {
        let s = get_str(o, k)?;
        parse_decimal(s, k)?;
        Ok(s.to_string())
    };
    let ts_event = scaled("T", get_u64(o, "T")?, NANOS_PER_MS)?;
    Ok(Liquidation::new(
        instrument_id,
        side.to_string(),
        get_str(o, "o")?.to_string(),
        get_str(o, "f")?.to_string(),
        dec("q")?,
        dec("p")?,
        dec("ap")?,
        get_str(o, "X")?.to_string(),
        dec("l")?,
        dec("z")?,
        ts_event,
        ts_init,
    ))
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

    /// Binance's documented example event.
    fn event() -> Value {
        json!({"e": "forceOrder", "E": 1568014460893u64, "o": {"s": "BTCUSDT", "S": "SELL", "o": "LIMIT", "f": "IOC",
            "q": "0.014", "p": "9910", "ap": "9910", "X": "FILLED", "l": "0.014", "z": "0.014", "T": 1568014460893u64}})
    }

    #[test]
    fn documented_example() {
        let l = parse_force_order(&event(), id(), UnixNanos::from(5)).unwrap();
        assert_eq!(
            (l.instrument_id, l.side.as_str(), l.order_type.as_str(), l.time_in_force.as_str()),
            (id(), "SELL", "LIMIT", "IOC")
        );
        assert_eq!((l.quantity.as_str(), l.price.as_str(), l.average_price.as_str()), ("0.014", "9910", "9910"));
        assert_eq!(
            (l.status.as_str(), l.last_filled_quantity.as_str(), l.filled_quantity.as_str()),
            ("FILLED", "0.014", "0.014")
        );
        assert_eq!((l.ts_event, l.ts_init), (UnixNanos::from(1_568_014_460_893_000_000), UnixNanos::from(5)));
    }

    #[rstest]
    #[case::other_symbol("s", json!("ETHUSDT"), Error::Inconsistent { origin: String::new(), field: "s", value: "ETHUSDT".into(), reason: "record is for ETHUSDT, instrument is BTCUSDT-PERP.BINANCE".into() })]
    #[case::bad_side("S", json!("HOLD"), Error::Inconsistent { origin: String::new(), field: "S", value: "HOLD".into(), reason: "expected BUY or SELL".into() })]
    #[case::garbage_qty("q", json!("1e3"), Error::InvalidDecimal { origin: String::new(), field: "q", value: "1e3".into() })]
    #[case::missing_time("T", Value::Null, Error::MissingField { origin: String::new(), field: "T" })]
    fn bad_events(#[case] key: &str, #[case] value: Value, #[case] want: Error) {
        let mut v = event();
        v["o"][key] = value;
        assert_eq!(parse_force_order(&v, id(), UnixNanos::default()), Err(want));
    }
}
