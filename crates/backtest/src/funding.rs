//! The funding ledger: the 0.57 engine does not apply perpetual funding, so it is computed here,
//! outside the engine, from the position history and the funding settlements, and added to
//! equity, PnL and statistics by the runner.
//!
//! Convention: at settlement time `t` the position is the net signed quantity after every fill
//! with `ts <= t` (a fill at `t` counts as held at `t`); payment `= −qty × mark × rate`, so a
//! long pays (negative payment) when the rate is positive. Exact decimals throughout.

use data::FundingPayment;
use nautilus_core::UnixNanos;
use nautilus_model::identifiers::InstrumentId;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::error::{Error, Result};

/// One funding settlement applied to the position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FundingEntry {
    /// Settlement time (ns).
    pub ts: u64,
    pub instrument_id: String,
    /// Net signed position at `ts`.
    pub position: Decimal,
    pub mark_price: Decimal,
    pub rate: Decimal,
    /// Cash received (positive) or paid (negative) in the settlement currency.
    pub payment: Decimal,
    /// Running sum of `payment` over the ledger (all instruments, in time order).
    pub cumulative: Decimal,
}

/// The payment of one settlement: `−qty × mark × rate`.
#[must_use]
pub fn payment(qty: Decimal, mark: Decimal, rate: Decimal) -> Decimal {
    -(qty * mark * rate)
}

/// Net signed position at `ts`: the last `(ts_fill, qty_after)` with `ts_fill <= ts`.
/// `history` must be ascending by time (ties: later entries win).
#[must_use]
pub fn position_at(history: &[(UnixNanos, Decimal)], ts: UnixNanos) -> Decimal {
    let k = history.partition_point(|(t, _)| *t <= ts);
    if k == 0 { Decimal::ZERO } else { history[k - 1].1 }
}

/// The ledger of one or more perpetuals.
///
/// - `history(id)`: ascending `(fill ts, net signed qty after the fill)` of that instrument.
/// - `settlements`: funding rows, any order; rows at times where the position is zero produce
///   an entry with payment 0 only when `include_flat` is true.
/// - `marks(id, ts)`: fallback mark price (e.g. last mark price or bar close at or before `ts`)
///   when a row has none.
///
/// Entries come out ascending by `(ts, instrument_id)`; `cumulative` runs over all of them.
///
/// # Errors
/// [`Error::NoMarkPrice`] when a non-flat settlement has no mark price.
pub fn funding_ledger(
    history: impl Fn(&InstrumentId) -> Vec<(UnixNanos, Decimal)>,
    settlements: &[FundingPayment],
    marks: impl Fn(&InstrumentId, UnixNanos) -> Option<Decimal>,
    include_flat: bool,
) -> Result<Vec<FundingEntry>> {
    let mut rows: Vec<&FundingPayment> = settlements.iter().collect();
    rows.sort_by_key(|x| (x.ts, x.instrument_id.to_string()));
    let mut cache: std::collections::BTreeMap<String, Vec<(UnixNanos, Decimal)>> = Default::default();
    let mut cumulative = Decimal::ZERO;
    let mut out = Vec::new();
    for row in rows {
        let key = row.instrument_id.to_string();
        let hist = cache.entry(key.clone()).or_insert_with(|| history(&row.instrument_id));
        let position = position_at(hist, row.ts);
        if position.is_zero() && !include_flat {
            continue;
        }
        let mark_price = match row.mark_price.or_else(|| marks(&row.instrument_id, row.ts)) {
            Some(m) => m,
            None if position.is_zero() => Decimal::ZERO,
            None => return Err(Error::NoMarkPrice { instrument_id: key, ts: row.ts.as_u64() }),
        };
        let pay = payment(position, mark_price, row.rate);
        cumulative += pay;
        out.push(FundingEntry {
            ts: row.ts.as_u64(),
            instrument_id: key,
            position,
            mark_price,
            rate: row.rate,
            payment: pay,
            cumulative,
        });
    }
    Ok(out)
}

/// Cumulative funding at `ts` (sum of entries with `entry.ts <= ts`); `ledger` ascending.
#[must_use]
pub fn cumulative_at(ledger: &[FundingEntry], ts: u64) -> Decimal {
    let k = ledger.partition_point(|e| e.ts <= ts);
    if k == 0 { Decimal::ZERO } else { ledger[k - 1].cumulative }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn id() -> InstrumentId {
        InstrumentId::from("BTCUSDT-PERP.BINANCE")
    }

    const H8: u64 = 8 * 3_600 * 1_000_000_000;

    fn row(k: u64, rate: &str, mark: Option<&str>) -> FundingPayment {
        FundingPayment { instrument_id: id(), ts: UnixNanos::from(k * H8), rate: d(rate), mark_price: mark.map(d) }
    }

    #[test]
    fn hand_computed_ledger() {
        // Long 0.5 from t=1ns, add to 0.8 exactly at the 2nd settlement (counts), flip to -0.3
        // before the 4th.
        let hist = vec![
            (UnixNanos::from(1), d("0.5")),
            (UnixNanos::from(2 * H8), d("0.8")),
            (UnixNanos::from(3 * H8 + 5), d("-0.3")),
        ];
        let rows = vec![
            row(4, "-0.0002", Some("61000.5")),
            row(1, "0.0001", Some("60000")),
            row(2, "0.00025", None), // mark from the fallback: 60500.25
            row(3, "-0.00005", Some("59999.9")),
            row(0, "0.0001", Some("1")), // flat: skipped
        ];
        let ledger =
            funding_ledger(|_| hist.clone(), &rows, |_, ts| (ts.as_u64() == 2 * H8).then(|| d("60500.25")), false)
                .unwrap();
        // 1: -0.5 * 60000 * 0.0001        = -3
        // 2: -0.8 * 60500.25 * 0.00025    = -12.10005
        // 3: -0.8 * 59999.9 * -0.00005    = +2.399996
        // 4: +0.3 * 61000.5 * -0.0002     = -3.66003
        let pays: Vec<Decimal> = ledger.iter().map(|e| e.payment).collect();
        assert_eq!(pays, vec![d("-3"), d("-12.10005"), d("2.399996"), d("-3.66003")]);
        assert_eq!(ledger.last().unwrap().cumulative, d("-16.360084"));
        assert_eq!(ledger.iter().map(|e| e.ts).collect::<Vec<_>>(), vec![H8, 2 * H8, 3 * H8, 4 * H8]);
        assert_eq!(cumulative_at(&ledger, 3 * H8 - 1), d("-15.10005"));
        assert_eq!(cumulative_at(&ledger, 0), Decimal::ZERO);
    }

    #[test]
    fn missing_mark_is_an_error() {
        let hist = vec![(UnixNanos::from(0), d("1"))];
        let err = funding_ledger(|_| hist.clone(), &[row(1, "0.0001", None)], |_, _| None, false).unwrap_err();
        assert!(
            matches!(err, Error::NoMarkPrice { ref instrument_id, ts } if *instrument_id == id().to_string() && ts == H8),
            "{err}"
        );
    }

    #[test]
    fn short_receives_positive_rate() {
        assert_eq!(payment(d("-2"), d("100"), d("0.001")), d("0.2"));
        assert_eq!(payment(d("2"), d("100"), d("0.001")), d("-0.2"));
    }
}
