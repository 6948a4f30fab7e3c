//! Order book depth (WS `depthUpdate` diffs, REST `/depth` snapshots) → [`OrderBookDelta`]s.
//!
//! - A **snapshot** becomes a `Clear` followed by one `Add` per level (bids, then asks), all
//!   flagged `F_SNAPSHOT`, the last one also `F_LAST`; `sequence` = `lastUpdateId`.
//! - A **diff** becomes one delta per level: quantity > 0 → `Update` (an L2 book inserts the
//!   level when it is new), quantity 0 → `Delete`; the last one is flagged `F_LAST` (a diff with
//!   no level gives no delta); `sequence` = the event's final update id `u`.
//! - Order ids are 0: an L2 (`MBP`) book keys its levels by price.
//! - Quantities finer than the instrument's size step are cut down to the step (counted in
//!   [`DepthDeltas::dust_cut`]): Binance's books keep a little dust from orders placed before a
//!   step change (3 levels in a day of BTCUSDT spot, 2024-08-08), which no order can trade. A
//!   level that is all dust is a `Delete` (a diff) or left out (a snapshot). Prices off the tick
//!   are errors: they mean the instrument does not match the data.
//! - Timestamps: `ts_event` is the matching-engine time (`T`, else the event time `E`, else, for
//!   a spot snapshot that has neither, `ts_init`); `ts_init` is the caller's receive time.
//!
//! Whether a diff may be applied at all is [`super::book_sync`]'s business.

use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{BookOrder, OrderBookDelta},
    enums::{BookAction, OrderSide, RecordFlag},
    identifiers::InstrumentId,
    types::{Price, Quantity},
};
use serde_json::Value;

use super::{
    as_str, get, get_u64, inconsistent, invalid_type, out_of_range, parse_decimal, parse_price, quantity_from_decimal,
    significant_scale,
    time::{NANOS_PER_MS, scaled},
    unwrap_stream,
};
use crate::error::Result;

/// The deltas of one depth record.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthDeltas {
    pub deltas: Vec<OrderBookDelta>,
    /// Levels whose quantity had digits beyond the size step (cut down to it).
    pub dust_cut: usize,
}

/// The update ids of one diff event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
pub struct DiffIds {
    /// First update id in the event (`U`).
    #[serde(rename = "U")]
    pub first: u64,
    /// Final update id in the event (`u`).
    #[serde(rename = "u")]
    pub last: u64,
    /// USD-M only: the final update id of the previous event (`pu`).
    #[serde(rename = "pu", default)]
    pub prev: Option<u64>,
}

/// The update ids of a `depthUpdate` event (bare or in a combined-stream envelope).
///
/// # Errors
/// [`Error::MissingField`](crate::Error::MissingField) / [`InvalidInteger`](crate::Error::InvalidInteger)
/// for `U`, `u`, `pu`; [`Inconsistent`](crate::Error::Inconsistent) if `U > u`.
pub fn parse_diff_ids(v: &Value) -> Result<DiffIds> {
    let v = unwrap_stream(v);
    let prev = match v.get("pu") {
        None | Some(Value::Null) => None,
        Some(_) => Some(get_u64(v, "pu")?),
    };
    let ids = DiffIds { first: get_u64(v, "U")?, last: get_u64(v, "u")?, prev };
    if ids.first > ids.last {
        return Err(inconsistent("U", ids.first, format!("first update id after the final one u = {}", ids.last)));
    }
    Ok(ids)
}

/// The update ids of a `depthUpdate` event given as JSON text (the recorder's light path: the
/// levels are skipped, not parsed).
///
/// # Errors
/// [`Error::Invalid`](crate::Error::Invalid) naming the problem.
pub fn diff_ids_of(json: &str) -> Result<DiffIds> {
    let ids: DiffIds = serde_json::from_str(json).map_err(|e| crate::Error::invalid("depthUpdate", e.to_string()))?;
    if ids.first > ids.last {
        return Err(inconsistent("U", ids.first, format!("first update id after the final one u = {}", ids.last)));
    }
    Ok(ids)
}

/// A `depthUpdate` diff → its deltas (see the module docs).
///
/// # Errors
/// Missing or mistyped fields, a level that is not `[price, qty]` strings, price/size errors as
/// in [`super::parse_price`].
pub fn parse_depth_update(
    v: &Value,
    instrument_id: InstrumentId,
    price_precision: u8,
    size_precision: u8,
    ts_init: UnixNanos,
) -> Result<DepthDeltas> {
    let v = unwrap_stream(v);
    let ids = parse_diff_ids(v)?;
    let ts_event = event_time(v)?.unwrap_or(ts_init);
    let (mut out, mut dust_cut) = (Vec::new(), 0);
    for (key, side) in [("b", OrderSide::Buy), ("a", OrderSide::Sell)] {
        for (price, size) in levels(v, key, price_precision, size_precision, &mut dust_cut)? {
            let action = if size.is_zero() { BookAction::Delete } else { BookAction::Update };
            let order = BookOrder::new(side, price, size, 0);
            out.push(
                OrderBookDelta::new_checked(instrument_id, action, order, 0, ids.last, ts_event, ts_init)
                    .map_err(|e| inconsistent(key, size, e))?,
            );
        }
    }
    if let Some(last) = out.last_mut() {
        last.flags |= RecordFlag::F_LAST as u8;
    }
    Ok(DepthDeltas { deltas: out, dust_cut })
}

/// A REST `/depth` snapshot `{lastUpdateId, [E, T,] bids, asks}` → `(lastUpdateId, deltas)`.
///
/// # Errors
/// As [`parse_depth_update`]; a level of quantity 0 on the wire is
/// [`Error::OutOfRange`](crate::Error::OutOfRange) (a snapshot lists only resting levels).
pub fn parse_depth_snapshot(
    v: &Value,
    instrument_id: InstrumentId,
    price_precision: u8,
    size_precision: u8,
    ts_init: UnixNanos,
) -> Result<(u64, DepthDeltas)> {
    let last_update_id = get_u64(v, "lastUpdateId")?;
    let ts_event = event_time(v)?.unwrap_or(ts_init);
    let snap = RecordFlag::F_SNAPSHOT as u8;
    let mut out = vec![OrderBookDelta::clear(instrument_id, last_update_id, ts_event, ts_init)];
    let mut dust_cut = 0;
    for (key, side) in [("bids", OrderSide::Buy), ("asks", OrderSide::Sell)] {
        let before = dust_cut;
        for (price, size) in levels(v, key, price_precision, size_precision, &mut dust_cut)? {
            if size.is_zero() && dust_cut == before {
                return Err(out_of_range(key, format!("[{price}, {size}]"), "a snapshot level must have a quantity"));
            }
            if size.is_zero() {
                continue; // all dust
            }
            let order = BookOrder::new(side, price, size, 0);
            out.push(OrderBookDelta::new(
                instrument_id,
                BookAction::Add,
                order,
                snap,
                last_update_id,
                ts_event,
                ts_init,
            ));
        }
    }
    if let Some(last) = out.last_mut() {
        last.flags |= RecordFlag::F_LAST as u8;
    }
    Ok((last_update_id, DepthDeltas { deltas: out, dust_cut }))
}

/// `T`, else `E`, in ms → ns; `None` when the record has neither.
fn event_time(v: &Value) -> Result<Option<UnixNanos>> {
    for k in ["T", "E"] {
        if v.get(k).is_some() {
            return Ok(Some(scaled(k, get_u64(v, k)?, NANOS_PER_MS)?));
        }
    }
    Ok(None)
}

/// The `[price, qty]` levels under `key`; quantities cut down to `size_precision` (counted in
/// `dust_cut`).
fn levels(
    v: &Value,
    key: &'static str,
    price_precision: u8,
    size_precision: u8,
    dust_cut: &mut usize,
) -> Result<Vec<(Price, Quantity)>> {
    let arr = get(v, key)?;
    let arr = arr.as_array().ok_or_else(|| invalid_type(key, "array", arr))?;
    arr.iter()
        .map(|l| match l.as_array().map(Vec::as_slice) {
            Some([p, q, ..]) => {
                let price = parse_price(as_str(p, key)?, key, price_precision)?;
                let raw = as_str(q, key)?;
                let mut qty = parse_decimal(raw, key)?;
                if significant_scale(qty) > u32::from(size_precision) {
                    qty = qty.trunc_with_scale(u32::from(size_precision));
                    *dust_cut += 1;
                }
                Ok((price, quantity_from_decimal(qty, raw, key, size_precision)?))
            }
            _ => Err(invalid_type(key, "[price, qty]", l)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use nautilus_model::types::{Price, Quantity};
    use rstest::rstest;
    use serde_json::json;

    use super::*;
    use crate::error::Error;

    fn id() -> InstrumentId {
        InstrumentId::from("BTCUSDT-PERP.BINANCE")
    }

    #[test]
    fn usdm_diff_in_an_envelope() {
        let v = json!({"stream": "btcusdt@depth@0ms", "data": {"e": "depthUpdate", "E": 1723161256299u64,
            "T": 1723161256298u64, "s": "BTCUSDT", "U": 10, "u": 15, "pu": 9,
            "b": [["61496.50", "0.010"], ["61510.90", "0.000"]], "a": [["61800.30", "3.330"]]}});
        assert_eq!(parse_diff_ids(&v).unwrap(), DiffIds { first: 10, last: 15, prev: Some(9) });
        let d = parse_depth_update(&v, id(), 1, 3, UnixNanos::from(7)).unwrap().deltas;
        let got: Vec<_> = d.iter().map(|x| (x.action, x.order.side, x.order.price, x.order.size, x.flags)).collect();
        assert_eq!(
            got,
            [
                (BookAction::Update, OrderSide::Buy, Price::from("61496.5"), Quantity::from("0.010"), 0),
                (BookAction::Delete, OrderSide::Buy, Price::from("61510.9"), Quantity::from("0.000"), 0),
                (
                    BookAction::Update,
                    OrderSide::Sell,
                    Price::from("61800.3"),
                    Quantity::from("3.330"),
                    RecordFlag::F_LAST as u8
                ),
            ]
        );
        assert!(d.iter().all(|x| x.sequence == 15 && x.order.order_id == 0));
        assert!(
            d.iter()
                .all(|x| x.ts_event == UnixNanos::from(1_723_161_256_298_000_000) && x.ts_init == UnixNanos::from(7))
        );
    }

    #[test]
    fn spot_diff_uses_the_event_time_and_has_no_pu() {
        let v = json!({"e": "depthUpdate", "E": 1723161255208u64, "s": "BTCUSDT", "U": 5, "u": 5, "b": [], "a": [["1.00", "2"]]});
        assert_eq!(parse_diff_ids(&v).unwrap(), DiffIds { first: 5, last: 5, prev: None });
        let d = parse_depth_update(&v, id(), 2, 0, UnixNanos::default()).unwrap().deltas;
        assert_eq!((d.len(), d[0].ts_event), (1, UnixNanos::from(1_723_161_255_208_000_000)));
        assert_eq!(diff_ids_of(&v.to_string()).unwrap(), DiffIds { first: 5, last: 5, prev: None });
    }

    #[test]
    fn an_empty_diff_gives_no_delta() {
        let v = json!({"e": "depthUpdate", "E": 1, "U": 5, "u": 6, "b": [], "a": []});
        assert_eq!(
            parse_depth_update(&v, id(), 2, 0, UnixNanos::default()).unwrap(),
            DepthDeltas { deltas: vec![], dust_cut: 0 }
        );
    }

    #[test]
    fn snapshot_is_clear_then_adds_flagged_as_a_snapshot() {
        let v = json!({"lastUpdateId": 50093239218u64, "bids": [["61837.63000000", "3.78826000"]],
            "asks": [["61837.64000000", "1.54698000"], ["61837.65000000", "0.1"]]});
        let (l, d) = parse_depth_snapshot(&v, id(), 2, 5, UnixNanos::from(99)).unwrap();
        let d = d.deltas;
        assert_eq!(l, 50_093_239_218);
        let snap = RecordFlag::F_SNAPSHOT as u8;
        let got: Vec<_> = d.iter().map(|x| (x.action, x.order.side, x.flags)).collect();
        assert_eq!(
            got,
            [
                (BookAction::Clear, OrderSide::NoOrderSide, snap),
                (BookAction::Add, OrderSide::Buy, snap),
                (BookAction::Add, OrderSide::Sell, snap),
                (BookAction::Add, OrderSide::Sell, snap | RecordFlag::F_LAST as u8),
            ]
        );
        assert_eq!(d[1].order.price, Price::from("61837.63"));
        assert!(d.iter().all(|x| x.sequence == l && x.ts_event == UnixNanos::from(99)), "spot: no time on the wire");
    }

    #[test]
    fn an_empty_snapshot_is_a_lone_clear_marked_last() {
        let (_, d) =
            parse_depth_snapshot(&json!({"lastUpdateId": 1, "bids": [], "asks": []}), id(), 2, 0, UnixNanos::default())
                .unwrap();
        let d = d.deltas;
        assert_eq!(
            (d.len(), d[0].action, d[0].flags),
            (1, BookAction::Clear, (RecordFlag::F_SNAPSHOT as u8) | RecordFlag::F_LAST as u8)
        );
    }

    #[rstest]
    #[case::missing_ids(json!({"E": 1, "b": [], "a": []}), Error::MissingField { origin: String::new(), field: "U" })]
    #[case::ids_reversed(json!({"U": 9, "u": 8, "b": [], "a": []}),
        Error::Inconsistent { origin: String::new(), field: "U", value: "9".into(), reason: "first update id after the final one u = 8".into() })]
    #[case::level_not_a_pair(json!({"U": 1, "u": 1, "b": [["1.0"]], "a": []}),
        Error::InvalidType { origin: String::new(), field: "b", expected: "[price, qty]", value: "array [\"1.0\"]".into() })]
    #[case::garbage_price(json!({"U": 1, "u": 1, "b": [["x", "1"]], "a": []}),
        Error::InvalidDecimal { origin: String::new(), field: "b", value: "x".into() })]
    #[case::too_precise(json!({"U": 1, "u": 1, "b": [], "a": [["1.005", "1"]]}),
        Error::PrecisionLoss { origin: String::new(), field: "a", value: "1.005".into(), precision: 2 })]
    fn bad_diffs(#[case] v: Value, #[case] want: Error) {
        assert_eq!(parse_depth_update(&v, id(), 2, 0, UnixNanos::default()), Err(want));
    }

    #[test]
    fn dust_below_the_size_step_is_cut_and_counted() {
        // Real: "25.42618900" on a 0.00001 step (BTCUSDT spot, 2024-08-08).
        let v = json!({"U": 1, "u": 1, "b": [["61837.63", "25.42618900"], ["61837.62", "0.00000100"]], "a": [["61837.64", "1.5"]]});
        let d = parse_depth_update(&v, id(), 2, 5, UnixNanos::default()).unwrap();
        assert_eq!(d.dust_cut, 2);
        let got: Vec<_> = d.deltas.iter().map(|x| (x.action, x.order.size)).collect();
        assert_eq!(
            got,
            [
                (BookAction::Update, Quantity::from("25.42618")),
                (BookAction::Delete, Quantity::from("0.00000")),
                (BookAction::Update, Quantity::from("1.50000")),
            ]
        );
        let snap = json!({"lastUpdateId": 1, "bids": [["1.00", "0.000001"], ["0.99", "2.0000011"]], "asks": []});
        let (_, d) = parse_depth_snapshot(&snap, id(), 2, 5, UnixNanos::default()).unwrap();
        assert_eq!(
            (d.dust_cut, d.deltas.len(), d.deltas[1].order.size),
            (2, 2, Quantity::from("2.00000")),
            "all-dust level left out"
        );
    }

    #[test]
    fn a_zero_level_in_a_snapshot_is_refused() {
        let v = json!({"lastUpdateId": 1, "bids": [["1.00", "0"]], "asks": []});
        assert!(matches!(
            parse_depth_snapshot(&v, id(), 2, 0, UnixNanos::default()),
            Err(Error::OutOfRange { field: "bids", .. })
        ));
    }
}
