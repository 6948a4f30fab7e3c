//! Per-instrument attribution of a run's PnL: realised and unrealised PnL (average-cost basis,
//! one-way, as the ledger's perpetuals), fees, funding, liquidation fees and what the insurance
//! fund covered, traded notional, in the instrument's quote currency (USDT for every USDT pair).
//!
//! For a perpetual, `net` is exactly what the position added to the futures wallet plus its
//! unrealised PnL at the last price, so the instruments' `net` add up to the futures wallet's
//! PnL. A spot pair's is the PnL of its trades (starting balances in other currencies are no
//! instrument's). Kept up to date by the ledger on every fill, liquidation and settlement (a few
//! decimal operations each); [`Attribution::roll`] snapshots it once per UTC day for the daily
//! table, so its size follows days × instruments, not events.

use std::collections::BTreeMap;

use nautilus_model::identifiers::InstrumentId;
use rust_decimal::Decimal;
use serde::Serialize;

/// One UTC day (ns): the attribution's sampling period.
pub const DAY_NS: u64 = 86_400_000_000_000;

/// Running PnL of one instrument.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InstrumentPnl {
    /// Net position from fills (starting balances excluded).
    pub position: Decimal,
    /// Average entry price of the open position.
    pub entry: Decimal,
    pub realized: Decimal,
    /// Trading commissions (quote currency).
    pub fees: Decimal,
    /// Funding received (positive) or paid (negative).
    pub funding: Decimal,
    /// Clearance fees of liquidations.
    pub liquidation_fees: Decimal,
    /// Losses beyond the margin that the insurance fund took (adds back to the PnL).
    pub insurance: Decimal,
    /// Σ |qty × price| of the fills.
    pub traded_notional: Decimal,
    pub fills: u64,
}

impl InstrumentPnl {
    /// Books a trade of signed `qty` at `px` with `fee` (quote currency); returns its realised PnL.
    pub fn trade(&mut self, qty: Decimal, px: Decimal, fee: Decimal) -> Decimal {
        let mut realized = Decimal::ZERO;
        if self.position.is_zero() || self.position.is_sign_positive() == qty.is_sign_positive() {
            let total = self.position.abs() + qty.abs();
            if !total.is_zero() {
                self.entry = (self.entry * self.position.abs() + px * qty.abs()) / total;
            }
        } else {
            let closed = qty.abs().min(self.position.abs());
            let sign = if self.position.is_sign_positive() { Decimal::ONE } else { Decimal::NEGATIVE_ONE };
            realized = closed * (px - self.entry) * sign;
            let after = self.position + qty;
            if after.is_zero() {
                self.entry = Decimal::ZERO;
            } else if after.is_sign_positive() != self.position.is_sign_positive() {
                self.entry = px;
            }
        }
        self.position += qty;
        self.realized += realized;
        self.fees += fee;
        self.traded_notional += (qty * px).abs();
        self.fills += 1;
        realized
    }

    /// Unrealised PnL at `last` (zero when flat).
    #[must_use]
    pub fn unrealized(&self, last: Decimal) -> Decimal {
        self.position * (last - self.entry)
    }

    /// Realised + unrealised − fees + funding − liquidation fees + insurance.
    #[must_use]
    pub fn net(&self, last: Decimal) -> Decimal {
        self.realized + self.unrealized(last) - self.fees + self.funding - self.liquidation_fees + self.insurance
    }
}

/// One instrument's attribution at one time (`attribution` rows at the end, `instrument_pnl`
/// rows per day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributionRow {
    /// The row covers everything stamped at or before `ts` (ns): a day's row is stamped its
    /// last nanosecond, the final row the run's last event.
    pub ts: u64,
    pub instrument_id: String,
    pub position: Decimal,
    /// The last price the unrealised PnL is taken at (0 without one).
    pub last_price: Decimal,
    pub realized_pnl: Decimal,
    pub unrealized_pnl: Decimal,
    pub fees: Decimal,
    pub funding: Decimal,
    pub liquidation_fees: Decimal,
    pub insurance: Decimal,
    /// `realized + unrealized − fees + funding − liquidation_fees + insurance`.
    pub net_pnl: Decimal,
    pub traded_notional: Decimal,
    pub fills: u64,
}

/// The attribution of every instrument that traded or paid funding, and the day it rolls next.
#[derive(Debug, Clone, Default)]
pub struct Attribution {
    pub by_instrument: BTreeMap<InstrumentId, InstrumentPnl>,
    /// The next day boundary to snapshot at (ns; 0 until the first event).
    next_roll: u64,
}

impl Attribution {
    /// The entry of `id`, created on first use.
    pub fn entry(&mut self, id: InstrumentId) -> &mut InstrumentPnl {
        self.by_instrument.entry(id).or_default()
    }

    /// Rows of every instrument at `ts`, unrealised PnL at `price(id)`.
    #[must_use]
    pub fn rows(&self, ts: u64, price: impl Fn(&InstrumentId) -> Option<Decimal>) -> Vec<AttributionRow> {
        self.by_instrument
            .iter()
            .map(|(id, p)| {
                let last = price(id).unwrap_or_default();
                let unrealized = if p.position.is_zero() { Decimal::ZERO } else { p.unrealized(last) };
                AttributionRow {
                    ts,
                    instrument_id: id.to_string(),
                    position: p.position,
                    last_price: last,
                    realized_pnl: p.realized.normalize(),
                    unrealized_pnl: unrealized.normalize(),
                    fees: p.fees.normalize(),
                    funding: p.funding.normalize(),
                    liquidation_fees: p.liquidation_fees.normalize(),
                    insurance: p.insurance.normalize(),
                    net_pnl: p.net(last).normalize(),
                    traded_notional: p.traded_notional.normalize(),
                    fills: p.fills,
                }
            })
            .collect()
    }

    /// The day boundary a snapshot is due at before anything stamped `now` is booked: the first
    /// boundary after the last snapshot, once `now` has reached it (`None` otherwise). The
    /// snapshot then covers exactly what was booked before that boundary, as nothing happened
    /// between the last booking and `now`.
    pub fn roll(&mut self, now: u64) -> Option<u64> {
        if self.next_roll == 0 {
            self.next_roll = (now / DAY_NS + 1) * DAY_NS;
            return None;
        }
        if now < self.next_roll {
            return None;
        }
        let at = self.next_roll;
        self.next_roll = (now / DAY_NS + 1) * DAY_NS;
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn average_cost_pnl_of_a_flip() {
        let mut p = InstrumentPnl::default();
        assert_eq!(p.trade(dec!(2), dec!(100), dec!(0.1)), dec!(0));
        assert_eq!(p.trade(dec!(2), dec!(110), dec!(0.11)), dec!(0)); // entry 105
        assert_eq!(p.entry, dec!(105));
        // sell 5: closes 4 at +3 each, opens a 1 short at 108
        assert_eq!(p.trade(dec!(-5), dec!(108), dec!(0.27)), dec!(12));
        assert_eq!((p.position, p.entry), (dec!(-1), dec!(108)));
        p.funding += dec!(0.5);
        // −1 × (100 − 108) = +8 unrealised; 12 + 8 − 0.48 + 0.5
        assert_eq!(p.net(dec!(100)), dec!(20.02));
        assert_eq!((p.traded_notional, p.fills), (dec!(960), 3)); // 200 + 220 + 540
    }

    #[test]
    fn rolls_once_per_day_boundary_crossed() {
        let mut a = Attribution::default();
        assert_eq!(a.roll(DAY_NS + 5), None); // first event: next boundary is day 2
        assert_eq!(a.roll(2 * DAY_NS - 1), None);
        assert_eq!(a.roll(2 * DAY_NS), Some(2 * DAY_NS));
        assert_eq!(a.roll(2 * DAY_NS + 1), None);
        // a gap of days: one snapshot, at the first boundary after the last activity
        assert_eq!(a.roll(9 * DAY_NS + 7), Some(3 * DAY_NS));
        assert_eq!(a.roll(10 * DAY_NS), Some(10 * DAY_NS));
    }
}
