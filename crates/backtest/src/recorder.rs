//! What a run records while it goes: order actions, fills, skips, rejections, the equity curve,
//! position and price series. Everything is appended (never cloned or rescanned), so the cost of
//! recording an event does not grow with the history behind it.

use std::{cell::RefCell, collections::BTreeMap, rc::Rc};

use nautilus_core::UnixNanos;
use nautilus_model::identifiers::InstrumentId;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::alpha::Context;

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

/// One fill, exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fill {
    pub ts: u64,
    pub instrument_id: String,
    pub client_order_id: String,
    pub side: String,
    /// Signed quantity (positive buy).
    pub qty: Decimal,
    pub price: Decimal,
    pub commission: Decimal,
    pub commission_currency: String,
    pub liquidity: String,
    /// Net position after the fill.
    pub position_after: Decimal,
}

/// One order action (submission or cancellation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderRecord {
    pub ts: u64,
    pub instrument_id: String,
    pub client_order_id: String,
    /// `submit` or `cancel`.
    pub action: String,
    pub side: String,
    pub order_type: String,
    /// Unsigned quantity (submissions) or leaves quantity (cancels).
    pub qty: Decimal,
    pub limit_price: Option<Decimal>,
}

/// A target delta (or part of one) that was not traded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skip {
    pub ts: u64,
    pub instrument_id: String,
    pub delta: Decimal,
    pub reason: String,
}

/// Mark-to-market equity (ex funding) after the last event at `ts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EquityPoint {
    pub ts: u64,
    pub equity: Decimal,
    /// Σ |position × last| (gross exposure) in the reporting currency.
    pub gross_exposure: Decimal,
}

/// Everything recorded during one run.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    /// Record every delivery (`deliveries`); off by default: one entry per event.
    pub record_deliveries: bool,
    pub deliveries: Vec<Delivery>,
    pub orders: Vec<OrderRecord>,
    pub fills: Vec<Fill>,
    pub skips: Vec<Skip>,
    pub rejections: Vec<String>,
    pub equity: Vec<EquityPoint>,
    /// Per instrument: `(fill ts, net position after)`, ascending (input of the funding ledger).
    pub position_history: BTreeMap<InstrumentId, Vec<(UnixNanos, Decimal)>>,
    /// Last price per instrument and time: `(ts, price)` ascending (mark fallback for funding).
    pub prices: BTreeMap<InstrumentId, Vec<(UnixNanos, Decimal)>>,
    /// Equity at the first valuation, before any fill (the run's starting equity).
    pub initial_equity: Option<Decimal>,
    /// The first error of an Alpha hook (the run stops delivering events after it).
    pub alpha_error: Option<String>,
    /// Final context.
    pub last_context: Context,
}

/// The recorder shared between the strategy (inside the engine) and the runner.
pub type SharedRecorder = Rc<RefCell<Recorder>>;

impl Recorder {
    /// Records the equity at `ts` (the last valuation of a timestamp wins).
    pub fn equity_at(&mut self, ts: u64, equity: Decimal, gross_exposure: Decimal) {
        if self.initial_equity.is_none() {
            self.initial_equity = Some(equity);
        }
        match self.equity.last_mut() {
            Some(p) if p.ts == ts => *p = EquityPoint { ts, equity, gross_exposure },
            _ => self.equity.push(EquityPoint { ts, equity, gross_exposure }),
        }
    }

    /// Records the last price of `id` at `ts` (the last price of a timestamp wins).
    pub fn price_at(&mut self, id: InstrumentId, ts: UnixNanos, px: Decimal) {
        let series = self.prices.entry(id).or_default();
        match series.last_mut() {
            Some((t, p)) if *t == ts => *p = px,
            _ => series.push((ts, px)),
        }
    }
}
