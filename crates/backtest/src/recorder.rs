//! What a run records while it goes: order actions, fills, skips, rejections, funding
//! settlements, the equity curve (with exposures and open positions), position and price series,
//! the daily per-instrument attribution. Everything is appended (never cloned or rescanned), so
//! the cost of recording an event does not grow with the history behind it; the equity curve and
//! the prices keep one point per sampling interval (the last), so their size follows the run's
//! length, not its number of events. Prices are sampled more sparsely the more instruments a run
//! has ([`crate::spec::RunSpec::price_sample_ns`]), so a universe's price table stays as small
//! as a pair's.

use std::{cell::RefCell, collections::BTreeMap, rc::Rc};

use nautilus_core::UnixNanos;
use nautilus_model::identifiers::InstrumentId;
use rust_decimal::Decimal;
use serde::Serialize;
use ustr::Ustr;

use crate::{
    alpha::{Context, Wallet},
    attribution::AttributionRow,
    funding::FundingEntry,
    ledger::{Liquidation, Valuation},
};

/// `id` as the interned text the recorded rows hold.
#[must_use]
pub fn id_text(id: &InstrumentId) -> Ustr {
    Ustr::from(&id.to_string())
}

/// One event delivery to the Alpha (recorded only when asked: tests of the timing rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    pub kind: &'static str,
    pub instrument_id: Option<String>,
    pub ts_init: u64,
    /// Engine clock when the Alpha saw it.
    pub clock: u64,
    /// Bars only: the bar's `ts_event`.
    pub ts_event: Option<u64>,
}

/// One fill, exact. Text fields are interned ([`Ustr`], 8 bytes, the identifiers NautilusTrader
/// interns anyway): a run keeps every fill and order, so their rows stay small.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fill {
    pub ts: u64,
    pub instrument_id: Ustr,
    pub client_order_id: Ustr,
    /// `Buy` or `Sell`.
    pub side: Ustr,
    /// Signed quantity (positive buy).
    pub qty: Decimal,
    pub price: Decimal,
    pub commission: Decimal,
    pub commission_currency: Ustr,
    /// `Maker`, `Taker`, `Liquidation` or `Delisting`.
    pub liquidity: Ustr,
    /// Net position after the fill.
    pub position_after: Decimal,
}

/// One order action (submission or cancellation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderRecord {
    pub ts: u64,
    pub instrument_id: Ustr,
    pub client_order_id: Ustr,
    /// `submit` or `cancel`.
    pub action: Ustr,
    /// `Buy` or `Sell`.
    pub side: Ustr,
    /// `MARKET`, `LIMIT`, `LIQUIDATION` or `DELISTING`.
    pub order_type: Ustr,
    /// Unsigned quantity (submissions) or leaves quantity (cancels).
    pub qty: Decimal,
    pub limit_price: Option<Decimal>,
}

/// A target delta (or part of one) that was not traded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    pub ts: u64,
    pub instrument_id: Ustr,
    pub delta: Decimal,
    pub reason: String,
}

/// A scheduled transfer between wallets, as carried out (or refused).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransferRecord {
    pub ts: u64,
    pub from: Wallet,
    pub to: Wallet,
    pub asset: String,
    pub amount: Decimal,
    /// Why it was refused (not enough to move); `None` when done.
    pub refused: Option<String>,
}

/// One point of the equity curve: mark-to-market equity after the last event at `ts`. Recorded in
/// the form the result keeps, so that a long run's curve is never copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurvePoint {
    pub ts: u64,
    /// Mark-to-market equity before funding (filled in when the result is assembled: not
    /// worked out at every event).
    pub equity_ex_funding: Decimal,
    /// Cumulative funding at `ts`: received (positive) or paid.
    pub funding: Decimal,
    /// `equity_ex_funding + funding`.
    pub equity: Decimal,
    /// Σ |position × last| (gross exposure) in the reporting currency.
    pub gross_exposure: Decimal,
    /// Σ position × last (long − short).
    pub net_exposure: Decimal,
    /// Instruments with a non-zero position.
    pub open_positions: usize,
}

/// Everything recorded during one run.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    /// Record every delivery (`deliveries`); off by default: one entry per event.
    pub record_deliveries: bool,
    /// Sampling interval of the equity curve (ns; 0 = every timestamp).
    pub sample_ns: u64,
    /// Sampling interval of the prices (ns; 0 = every timestamp).
    pub price_sample_ns: u64,
    pub deliveries: Vec<Delivery>,
    pub orders: Vec<OrderRecord>,
    pub fills: Vec<Fill>,
    pub skips: Vec<Skip>,
    pub rejections: Vec<String>,
    /// Funding settlements, as applied during the run.
    pub funding: Vec<FundingEntry>,
    /// Positions closed by liquidation.
    pub liquidations: Vec<Liquidation>,
    pub transfers: Vec<TransferRecord>,
    pub equity: Vec<CurvePoint>,
    /// Per instrument: `(fill ts, net position after)`, ascending.
    pub position_history: BTreeMap<InstrumentId, Vec<(UnixNanos, Decimal)>>,
    /// Last price per instrument and sampling interval: `(ts, price)` ascending.
    pub prices: BTreeMap<InstrumentId, Vec<(UnixNanos, Decimal)>>,
    /// Per-instrument attribution at the end of every UTC day with activity, then at the end.
    pub instrument_pnl: Vec<AttributionRow>,
    /// Per-instrument attribution at the end of the run.
    pub attribution: Vec<AttributionRow>,
    /// Equity at the first valuation, before any fill (the run's starting equity).
    pub initial_equity: Option<Decimal>,
    /// The first error of an Alpha hook (the run stops delivering events after it).
    pub alpha_error: Option<String>,
    /// Final context.
    pub last_context: Context,
}

/// The recorder shared between the strategy (inside the engine) and the runner.
pub type SharedRecorder = Rc<RefCell<Recorder>>;

/// Whether `a` and `b` fall in the same interval of `sample` ns (0: the same timestamp).
fn same_slot(sample: u64, a: u64, b: u64) -> bool {
    a.checked_div(sample).zip(b.checked_div(sample)).map_or(a == b, |(x, y)| x == y)
}

impl Recorder {
    /// Records the valuation at `ts` (the last valuation of an interval wins).
    pub fn equity_at(&mut self, ts: u64, v: &Valuation) {
        if self.initial_equity.is_none() {
            self.initial_equity = Some(v.equity);
        }
        let funding = self.funding.last().map(|f| f.cumulative).unwrap_or_default();
        let point = CurvePoint {
            ts,
            equity_ex_funding: Decimal::ZERO,
            funding,
            equity: v.equity,
            gross_exposure: v.gross_exposure,
            net_exposure: v.net_exposure,
            open_positions: v.open_positions,
        };
        match self.equity.last() {
            Some(p) if same_slot(self.sample_ns, p.ts, ts) => *self.equity.last_mut().expect("a last point") = point,
            _ => self.equity.push(point),
        }
    }

    /// Records the last price of `id` at `ts` (the last price of an interval wins).
    pub fn price_at(&mut self, id: InstrumentId, ts: UnixNanos, px: Decimal) {
        let sample = self.price_sample_ns;
        let series = self.prices.entry(id).or_default();
        match series.last_mut() {
            Some((t, p)) if same_slot(sample, t.as_u64(), ts.as_u64()) => (*t, *p) = (ts, px),
            _ => series.push((ts, px)),
        }
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    #[test]
    fn one_point_per_interval_the_last_wins() {
        let mut r = Recorder { sample_ns: 60, price_sample_ns: 60, ..Recorder::default() };
        for (ts, e) in [(0, dec!(1)), (30, dec!(2)), (59, dec!(3)), (60, dec!(4)), (200, dec!(5))] {
            r.equity_at(ts, &Valuation { equity: e, ..Valuation::default() });
            r.price_at(InstrumentId::from("BTCUSDT.BINANCE"), UnixNanos::from(ts), e);
        }
        let eq: Vec<(u64, Decimal)> = r.equity.iter().map(|p| (p.ts, p.equity)).collect();
        assert_eq!(eq, [(59, dec!(3)), (60, dec!(4)), (200, dec!(5))]);
        assert_eq!(r.initial_equity, Some(dec!(1)));
        let px: Vec<(u64, Decimal)> = r.prices.values().next().unwrap().iter().map(|(t, p)| (t.as_u64(), *p)).collect();
        assert_eq!(px, eq);
    }
}
