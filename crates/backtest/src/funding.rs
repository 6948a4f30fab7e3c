//! Funding settlements, applied inside the run. The 0.57 engine does not apply perpetual
//! funding, so the runner stops the engine at every settlement time `t` (a chunk boundary: every
//! event before `t` processed, none at `t`) and settles here, on the exact ledger (and, through
//! the runner, on NautilusTrader's account). The position is the one held at `t`, before any fill
//! stamped at `t`: as on Binance, an order placed in reaction to the settlement arrives after it.
//! The payment is `−qty × mark × rate` in the settlement currency (a long pays when the rate is
//! positive), at the mark price Binance settled at (`/fapi/v1/fundingRate` `markPrice`), else the
//! last mark price of the run's `mark_prices` stamped at or before `t`, else the last trade price
//! stamped at or before `t` (bar close, trade, quote mid; a bar closing at `t` included: its close
//! is the last price before `t`). Exact decimals throughout.

use data::FundingPayment;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::{
    error::{Error, Result},
    ledger::Ledger,
};

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

/// Prices stamped exactly at the settlement time, not yet seen by the ledger (the engine stops
/// before the events at `t`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PricesAt {
    pub mark: Option<Decimal>,
    pub last: Option<Decimal>,
}

/// Settles `row` on the ledger: the position held now, the mark price as the module docs say
/// (`at`: the prices stamped at the settlement time), the payment booked in the settlement
/// currency. `cumulative` is the funding settled before; returns the entry, or `None` when flat.
///
/// # Errors
/// [`Error::NoMarkPrice`] when a held position has no mark price at all.
pub fn settle(
    ledger: &mut Ledger,
    row: &FundingPayment,
    at: PricesAt,
    cumulative: Decimal,
) -> Result<Option<FundingEntry>> {
    let id = row.instrument_id;
    let position = ledger.context().position(&id);
    if position.is_zero() {
        return Ok(None);
    }
    let mark_price = row
        .mark_price
        .or(at.mark)
        .or_else(|| ledger.mark(&id))
        .or(at.last)
        .or_else(|| ledger.context().last_price(&id))
        .ok_or_else(|| Error::NoMarkPrice { instrument_id: id.to_string(), ts: row.ts.as_u64() })?;
    let pay = payment(position, mark_price, row.rate);
    let Some(currency) = ledger.rules(&id).map(|r| r.settlement.clone()) else { return Ok(None) };
    ledger.pay_funding(id, &currency, pay);
    Ok(Some(FundingEntry {
        ts: row.ts.as_u64(),
        instrument_id: id.to_string(),
        position,
        mark_price,
        rate: row.rate,
        payment: pay,
        cumulative: cumulative + pay,
    }))
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, str::FromStr};

    use nautilus_core::UnixNanos;
    use nautilus_model::identifiers::InstrumentId;

    use super::*;
    use crate::{alpha::Wallet, execution::InstrumentRules, ledger::Booking};

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn id() -> InstrumentId {
        InstrumentId::from("BTCUSDT-PERP.BINANCE")
    }

    fn ledger() -> Ledger {
        let rules = InstrumentRules {
            id: id(),
            symbol: "BTCUSDT".into(),
            is_spot: false,
            base: "BTC".into(),
            quote: "USDT".into(),
            settlement: "USDT".into(),
            size_precision: 3,
            size_increment: d("0.001"),
            price_precision: 1,
            price_increment: d("0.1"),
            min_quantity: None,
            min_notional: None,
            taker_fee: Decimal::ZERO,
        };
        Ledger::new(&[rules], BTreeMap::new(), BTreeMap::from([("USDT".into(), d("1000"))]), "USDT", None)
    }

    fn row(rate: &str, mark: Option<&str>) -> FundingPayment {
        FundingPayment { instrument_id: id(), ts: UnixNanos::from(8), rate: d(rate), mark_price: mark.map(d) }
    }

    fn hold(l: &mut Ledger, qty: &str) {
        l.book(&Booking {
            instrument_id: id(),
            qty: d(qty),
            price: d("60000"),
            commission: Decimal::ZERO,
            commission_currency: "USDT",
        });
    }

    #[test]
    fn settles_the_held_position_at_the_settlement_mark_then_the_fallbacks() {
        let mut l = ledger();
        let none = PricesAt::default();
        assert_eq!(settle(&mut l, &row("0.0001", Some("1")), none, Decimal::ZERO).unwrap(), None, "flat");
        hold(&mut l, "0.5");
        l.set_price(id(), d("60500.25"));
        // the row's mark: −0.5 × 60000 × 0.0001 = −3
        let at = PricesAt { mark: Some(d("1")), last: Some(d("2")) };
        let e = settle(&mut l, &row("0.0001", Some("60000")), at, Decimal::ZERO).unwrap().unwrap();
        assert_eq!((e.payment, e.cumulative, e.mark_price), (d("-3"), d("-3"), d("60000")));
        // paid from the futures wallet (a perpetual's notional is not cash)
        assert_eq!(l.balance_in(Wallet::Futures, "USDT"), d("997"));
        assert_eq!(l.balance("USDT"), d("997"));
        // no mark in the row: the last trade price
        let e = settle(&mut l, &row("-0.00005", None), none, d("-3")).unwrap().unwrap();
        assert_eq!((e.payment, e.cumulative, e.mark_price), (d("1.5125062500"), d("-1.4874937500"), d("60500.25")));
        // a price stamped at the settlement time wins over older ones
        let at = PricesAt { mark: None, last: Some(d("60600")) };
        assert_eq!(settle(&mut l, &row("0.0001", None), at, Decimal::ZERO).unwrap().unwrap().mark_price, d("60600"));
        // a mark price update wins over the trade prices, one stamped at t over an older one
        l.set_mark(id(), d("60400"));
        let e = settle(&mut l, &row("0.0002", None), at, Decimal::ZERO).unwrap().unwrap();
        assert_eq!((e.payment, e.mark_price), (d("-6.04"), d("60400")));
        let at = PricesAt { mark: Some(d("60450")), last: Some(d("60600")) };
        assert_eq!(settle(&mut l, &row("0.0002", None), at, Decimal::ZERO).unwrap().unwrap().mark_price, d("60450"));
    }

    #[test]
    fn a_held_position_without_any_price_is_an_error() {
        let mut l = ledger();
        hold(&mut l, "-1");
        let err = settle(&mut l, &row("0.0001", None), PricesAt::default(), Decimal::ZERO).unwrap_err();
        assert!(
            matches!(err, Error::NoMarkPrice { ref instrument_id, ts: 8 } if *instrument_id == id().to_string()),
            "{err}"
        );
    }

    #[test]
    fn short_receives_positive_rate() {
        assert_eq!(payment(d("-2"), d("100"), d("0.001")), d("0.2"));
        assert_eq!(payment(d("2"), d("100"), d("0.001")), d("-0.2"));
    }
}
