//! The one NautilusTrader strategy of alphalab: [`AlphaStrategy`] wraps any `Box<dyn Alpha>`.
//!
//! - Subscribes to the configured bar types, trades, quotes, mark/index prices and custom data
//!   types; forwards every event to [`Alpha::on_event`] with the ledger's [`Context`], then
//!   asks [`Alpha::targets`] and carries out [`Execution::decide`] for each target.
//! - Funding settlements do not go through the 0.57 engine: the strategy holds them and delivers
//!   each before the first engine event with `ts_init >= ts`.
//! - Books every fill in the exact [`Ledger`] and records it in the [`Recorder`], both shared
//!   with the runner (which settles funding on them between the engine's chunks).
//! - Keeps NautilusTrader's cache from growing with the fills: every [`PURGE_EVERY`] fills it
//!   purges closed orders and account events and trims the open positions' event lists (0.57
//!   copies a position's and an account's whole history on every fill; the cached totals, not the
//!   lists, carry quantities, prices and PnL). The recorder keeps the complete results.
//! - USD-M margin: before each event it liquidates what the ledger finds below maintenance
//!   (at the mark price, [`crate::margin`]), closing the engine's position with a reduce-only
//!   market order whose fill is not booked again; a perpetual order the futures wallet cannot
//!   margin (or above the leverage tier's notional) is not sent and is recorded as a skip.
//! - `fill = "next_open"`: orders decided on an instrument with bars wait for the synthetic
//!   trade the runner stamps at the next bar's open ([`OPEN_TRADE_ID`]), then go out.
//! - The first error of an Alpha hook is recorded and stops the deliveries; the runner returns it.

use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
    fmt,
    rc::Rc,
};

use data::{FundingPayment, LongShortRatio, OpenInterest, TakerBuySellVolume};
use nautilus_common::actor::DataActor;
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{Bar, BarType, CustomData, DataType, IndexPriceUpdate, MarkPriceUpdate, QuoteTick, TradeTick},
    enums::OrderSide,
    events::{OrderDenied, OrderFilled, OrderRejected},
    identifiers::{ClientOrderId, InstrumentId, PositionId},
    orders::Order,
    types::{Price, Quantity},
};
use nautilus_trading::{
    nautilus_strategy,
    strategy::{Strategy, StrategyConfig, StrategyCore},
};
use rust_decimal::Decimal;

use crate::{
    alpha::{Alpha, AlphaResult, MarketEvent, Wallet},
    execution::{Execution, InstrumentRules, OrderState},
    ledger::{Booking, Ledger},
    recorder::{Delivery, Fill, OrderRecord, SharedRecorder, Skip},
    venue::FillTiming,
};

/// Trade id of the synthetic trade at a bar's open (`fill = "next_open"`): never delivered to
/// the Alpha, never a price of the ledger.
pub const OPEN_TRADE_ID: &str = "alphalab-bar-open";

/// The ledger shared between the strategy (inside the engine) and the runner.
pub type SharedLedger = Rc<RefCell<Ledger>>;

/// Fills between two purges of NautilusTrader's cache.
const PURGE_EVERY: u64 = 32;

/// What the strategy subscribes to and how it trades.
#[derive(Debug, Clone)]
pub struct StrategySetup {
    pub strategy_id: String,
    pub instruments: Vec<InstrumentRules>,
    pub bar_types: Vec<BarType>,
    pub trades: Vec<InstrumentId>,
    pub quotes: Vec<InstrumentId>,
    pub mark_prices: Vec<InstrumentId>,
    pub index_prices: Vec<InstrumentId>,
    /// Custom data type names (`OpenInterest`, `LongShortRatio`, `TakerBuySellVolume`, ...).
    pub custom_types: Vec<String>,
    /// Funding settlements to deliver (any order; sorted here).
    pub funding: Vec<FundingPayment>,
    /// Skip a delta whose notional is below this fraction of equity (0 = trade every delta).
    pub rebalance_threshold: Decimal,
    /// Reporting currency of equity (e.g. `USDT`).
    pub reporting_currency: String,
    pub execution: Execution,
    pub fill: FillTiming,
    /// Instruments that get a synthetic trade at each bar's open (`fill = "next_open"`).
    pub open_trades: Vec<InstrumentId>,
    /// Told every [`PROGRESS_EVERY`] events.
    pub progress: Option<crate::engine::Progress>,
}

/// Events between two progress calls.
const PROGRESS_EVERY: u64 = 4096;

/// The nautilus strategy wrapping an [`Alpha`].
pub struct AlphaStrategy {
    core: StrategyCore,
    alpha: Box<dyn Alpha>,
    setup: StrategySetup,
    ledger: SharedLedger,
    funding: Vec<FundingPayment>,
    next_funding: usize,
    /// Quantity the matching engine can fill now per instrument (a quarter of the last bar's
    /// volume, the last trade's size, the smaller top-of-book size).
    liquidity: BTreeMap<InstrumentId, Decimal>,
    recorder: SharedRecorder,
    /// Events since the last progress call.
    unreported: u64,
    /// Fills since the last purge of the cache.
    unpurged: u64,
    /// Engine orders closing liquidated positions (booked by the ledger at the mark price).
    liquidation_orders: BTreeSet<ClientOrderId>,
    /// A margin price moved since the last liquidation check.
    margin_moved: bool,
    /// `next_open`: the order decided per instrument, sent at the next bar's open.
    pending: BTreeMap<InstrumentId, (InstrumentRules, Decimal, Option<Decimal>)>,
}

impl fmt::Debug for AlphaStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlphaStrategy").field("strategy_id", &self.setup.strategy_id).finish_non_exhaustive()
    }
}

nautilus_strategy!(AlphaStrategy, {
    fn on_order_rejected(&mut self, event: OrderRejected) {
        log::warn!("order rejected: {} {}", event.client_order_id, event.reason);
        self.recorder.borrow_mut().rejections.push(format!("{} rejected: {}", event.client_order_id, event.reason));
    }
    fn on_order_denied(&mut self, event: OrderDenied) {
        log::warn!("order denied: {} {}", event.client_order_id, event.reason);
        self.recorder.borrow_mut().rejections.push(format!("{} denied: {}", event.client_order_id, event.reason));
    }
});

impl AlphaStrategy {
    /// A new strategy booking into `ledger` and recording into `recorder`. Order and position
    /// events are not logged one by one (they are in the recorder's tables).
    #[must_use]
    pub fn new(alpha: Box<dyn Alpha>, setup: StrategySetup, ledger: SharedLedger, recorder: SharedRecorder) -> Self {
        let core = StrategyCore::new(StrategyConfig {
            strategy_id: Some(setup.strategy_id.as_str().into()),
            order_id_tag: Some("001".into()),
            log_events: false,
            log_commands: false,
            ..Default::default()
        });
        let mut funding = setup.funding.clone();
        funding.sort_by_key(|x| (x.ts, x.instrument_id.to_string()));
        Self {
            core,
            alpha,
            setup,
            ledger,
            funding,
            next_funding: 0,
            liquidity: BTreeMap::new(),
            recorder,
            unreported: 0,
            unpurged: 0,
            liquidation_orders: BTreeSet::new(),
            margin_moved: false,
            pending: BTreeMap::new(),
        }
    }

    fn now(&mut self) -> UnixNanos {
        self.clock().timestamp_ns()
    }

    /// Re-values the ledger at the engine clock and records the equity.
    fn refresh(&mut self) {
        let now = self.now();
        let valuation = self.ledger.borrow_mut().refresh(now);
        if let Some((equity, gross)) = valuation {
            self.recorder.borrow_mut().equity_at(now.as_u64(), equity, gross);
        }
    }

    fn set_price(&mut self, id: InstrumentId, px: Decimal, ts: UnixNanos) {
        let mut ledger = self.ledger.borrow_mut();
        ledger.set_price(id, px);
        // without mark prices, a perpetual's last price is its margin price
        self.margin_moved |= ledger.mark(&id).is_none() && ledger.rules(&id).is_some_and(|r| !r.is_spot);
        drop(ledger);
        self.recorder.borrow_mut().price_at(id, ts, px);
    }

    /// Purges closed orders and account events, and trims every open position of this
    /// strategy to its last fill (see the module docs). Called with no cache borrow held.
    fn purge(&mut self) {
        self.unpurged = 0;
        let now = self.now();
        let cache = self.cache_rc();
        let mut cache = cache.borrow_mut();
        cache.purge_closed_orders(now, 0);
        cache.purge_account_events(now, 0);
        let sid = self.core.strategy_id().expect("a registered strategy");
        for r in &self.setup.instruments {
            let pid = PositionId::new(format!("{}-{sid}", r.id));
            if let Some(mut p) = cache.position_mut(&pid)
                && p.events.len() > 1
                && let Some(last) = p.events.last().copied()
            {
                p.events.clear();
                p.events.push(last);
                p.trade_ids.clear();
                p.trade_ids.insert(last.trade_id);
                p.adjustments.clear();
            }
        }
    }

    /// Delivers funding due at or before now, then `ev`, then trades the targets. After an
    /// Alpha error nothing more is delivered.
    fn dispatch(&mut self, ev: MarketEvent<'_>) -> anyhow::Result<()> {
        if self.unpurged >= PURGE_EVERY {
            self.purge();
        }
        self.unreported += 1;
        if self.unreported >= PROGRESS_EVERY
            && let Some(p) = &self.setup.progress
        {
            p.advance(std::mem::take(&mut self.unreported));
        }
        if self.recorder.borrow().alpha_error.is_some() {
            return Ok(());
        }
        if std::mem::take(&mut self.margin_moved) && self.ledger.borrow().has_open_perps() {
            self.liquidate_due()?;
        }
        let now = self.now();
        let result = (|| -> AlphaResult<()> {
            while let Some(f) = self.funding.get(self.next_funding).copied() {
                if f.ts > now {
                    break;
                }
                self.next_funding += 1;
                self.deliver(MarketEvent::Funding(&f), now)?;
            }
            self.deliver(ev, now)?;
            self.rebalance()
        })();
        if let Err(e) = result {
            let msg = format!("{} at {now}: {e}", ev.kind());
            log::error!("alpha error: {msg}");
            self.recorder.borrow_mut().alpha_error = Some(msg);
        }
        Ok(())
    }

    fn deliver(&mut self, ev: MarketEvent<'_>, now: UnixNanos) -> AlphaResult<()> {
        if ev.ts_init() > now {
            return Err(format!("look-ahead: {} stamped {} delivered at {now}", ev.kind(), ev.ts_init()).into());
        }
        {
            let mut rec = self.recorder.borrow_mut();
            if rec.record_deliveries {
                rec.deliveries.push(Delivery {
                    kind: ev.kind(),
                    instrument_id: ev.instrument_id().map(|i| i.to_string()),
                    ts_init: ev.ts_init().as_u64(),
                    clock: now.as_u64(),
                    ts_event: match ev {
                        MarketEvent::Bar(b) => Some(b.ts_event.as_u64()),
                        _ => None,
                    },
                });
            }
        }
        self.refresh();
        let ledger = self.ledger.borrow();
        self.alpha.on_event(&ev, ledger.context())
    }

    /// This strategy's open and in-flight orders of `id`: (id, signed leaves qty, limit price).
    fn open_orders(&self, id: &InstrumentId) -> Vec<(ClientOrderId, Decimal, Option<Decimal>)> {
        let sid = self.core.strategy_id();
        let cache = self.cache();
        let mut seen = std::collections::BTreeSet::new();
        let open = cache.orders_open(None, Some(id), sid.as_ref(), None, None);
        let inflight = cache.orders_inflight(None, Some(id), sid.as_ref(), None, None);
        open.iter()
            .chain(inflight.iter())
            .filter(|o| !self.liquidation_orders.contains(&o.client_order_id()) && seen.insert(o.client_order_id()))
            .map(|o| {
                let q = o.leaves_qty().as_decimal();
                let signed = if o.order_side() == OrderSide::Buy { q } else { -q };
                (o.client_order_id(), signed, o.price().map(|p| p.as_decimal()))
            })
            .collect()
    }

    fn rebalance(&mut self) -> AlphaResult<()> {
        self.refresh();
        let targets = {
            let ledger = self.ledger.borrow();
            self.alpha.targets(ledger.context())?
        };
        let ts = self.ledger.borrow().context().now.as_u64();
        for t in targets {
            let open = self.open_orders(&t.instrument_id);
            let open_qty: Vec<(Decimal, Option<Decimal>)> = open.iter().map(|o| (o.1, o.2)).collect();
            let (rules, d) = {
                let ledger = self.ledger.borrow();
                let Some(rules) = ledger.rules(&t.instrument_id).cloned() else {
                    return Err(format!("target for unknown instrument {}", t.instrument_id).into());
                };
                let ctx = ledger.context();
                let state = OrderState {
                    target: t.quantity,
                    position: ctx.position(&t.instrument_id),
                    open: &open_qty,
                    last_price: ctx.last_price(&t.instrument_id),
                    liquidity: self.liquidity.get(&t.instrument_id).copied(),
                    equity: ctx.equity,
                    cash: rules.is_spot.then(|| {
                        (ledger.balance_in(Wallet::Spot, &rules.quote), ledger.balance_in(Wallet::Spot, &rules.base))
                    }),
                };
                let mut d = self.setup.execution.decide(&rules, self.setup.rebalance_threshold, &state);
                // The futures wallet must margin the position the order leads to.
                if let Some((delta, limit_px)) = d.order.filter(|_| !rules.is_spot) {
                    let after = state.position + open_qty.iter().map(|o| o.0).sum::<Decimal>() + delta;
                    let px = limit_px.or_else(|| ledger.margin_price(&t.instrument_id)).or(state.last_price);
                    if let Some(reason) = px.and_then(|px| ledger.margin_refusal(&t.instrument_id, after, px)) {
                        d.order = None;
                        d.skips.push((delta, reason));
                    }
                }
                (rules, d)
            };
            if d.cancel_open {
                for (coid, leaves, price) in open {
                    self.cancel_order(coid, None, None)?;
                    self.record_order(ts, &t.instrument_id, coid.to_string(), "cancel", leaves, "LIMIT", price);
                }
            }
            for (delta, reason) in d.skips {
                log::debug!("skip {} delta {delta}: {reason}", t.instrument_id);
                let skip = Skip { ts, instrument_id: t.instrument_id.to_string(), delta, reason };
                self.recorder.borrow_mut().skips.push(skip);
            }
            let waits = self.setup.fill == FillTiming::NextOpen && self.setup.open_trades.contains(&t.instrument_id);
            match d.order {
                Some((delta, limit_px)) if waits => {
                    self.pending.insert(t.instrument_id, (rules, delta, limit_px));
                }
                Some((delta, limit_px)) => self.submit(&rules, ts, delta, limit_px)?,
                None if waits => {
                    self.pending.remove(&t.instrument_id);
                }
                None => {}
            }
        }
        Ok(())
    }

    /// `next_open`: sends the order decided for `id` at the bar's open (the synthetic trade).
    fn on_open(&mut self, id: InstrumentId, ts: UnixNanos) -> anyhow::Result<()> {
        if let Some((rules, delta, limit_px)) = self.pending.remove(&id)
            && self.recorder.borrow().alpha_error.is_none()
        {
            self.submit(&rules, ts.as_u64(), delta, limit_px).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(())
    }

    /// Liquidates what is due at the current prices (see the module docs); the Alpha then sees
    /// the position gone and the wallet after the loss and fee.
    fn liquidate_due(&mut self) -> anyhow::Result<()> {
        let due = self.ledger.borrow().due_liquidations();
        if due.is_empty() {
            return Ok(());
        }
        let now = self.now();
        for id in due {
            let Some(liq) = self.ledger.borrow_mut().liquidate(id, now) else { continue };
            let rules = self.ledger.borrow().rules(&id).cloned().expect("a traded instrument");
            log::warn!(
                "liquidated {id}: {} at mark {}, fee {}, futures wallet {}",
                liq.qty,
                liq.mark_price,
                liq.fee,
                liq.wallet_balance_after
            );
            // Binance cancels the open orders of a liquidated position.
            for (coid, leaves, price) in self.open_orders(&id) {
                self.cancel_order(coid, None, None)?;
                self.record_order(now.as_u64(), &id, coid.to_string(), "cancel", leaves, "LIMIT", price);
            }
            self.pending.remove(&id);
            let side = if liq.qty.is_sign_positive() { OrderSide::Buy } else { OrderSide::Sell };
            let qty = Quantity::from_decimal_dp(liq.qty.abs(), rules.size_precision)?;
            let order = self.core.order_factory().market(id, side, qty, None, Some(true), None, None, None, None, None);
            let coid = order.client_order_id();
            self.liquidation_orders.insert(coid);
            self.record_order(now.as_u64(), &id, coid.to_string(), "submit", liq.qty, "LIQUIDATION", None);
            {
                let mut rec = self.recorder.borrow_mut();
                rec.position_history.entry(id).or_default().push((now, Decimal::ZERO));
                rec.fills.push(Fill {
                    ts: now.as_u64(),
                    instrument_id: id.to_string(),
                    client_order_id: coid.to_string(),
                    side: liq.side.clone(),
                    qty: liq.qty,
                    price: liq.price,
                    commission: liq.fee,
                    commission_currency: rules.settlement.clone(),
                    liquidity: "Liquidation".into(),
                    position_after: Decimal::ZERO,
                });
                rec.liquidations.push(liq);
            }
            self.submit_order(order, None, None, None)?;
        }
        self.refresh();
        Ok(())
    }

    fn submit(
        &mut self,
        rules: &InstrumentRules,
        ts: u64,
        delta: Decimal,
        limit_px: Option<Decimal>,
    ) -> AlphaResult<()> {
        let side = if delta.is_sign_positive() { OrderSide::Buy } else { OrderSide::Sell };
        let qty = Quantity::from_decimal_dp(delta.abs(), rules.size_precision)?;
        let id = rules.id;
        let order = match limit_px {
            Some(p) => {
                let price = Price::from_decimal_dp(p, rules.price_precision)?;
                self.core
                    .order_factory()
                    .limit(id, side, qty, price, None, None, None, None, None, None, None, None, None, None, None, None)
            }
            None => self.core.order_factory().market(id, side, qty, None, None, None, None, None, None, None),
        };
        let kind = if limit_px.is_some() { "LIMIT" } else { "MARKET" };
        self.record_order(ts, &id, order.client_order_id().to_string(), "submit", delta, kind, limit_px);
        self.submit_order(order, None, None, None)?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn record_order(
        &self,
        ts: u64,
        id: &InstrumentId,
        client_order_id: String,
        action: &str,
        signed_qty: Decimal,
        order_type: &str,
        limit_price: Option<Decimal>,
    ) {
        self.recorder.borrow_mut().orders.push(OrderRecord {
            ts,
            instrument_id: id.to_string(),
            client_order_id,
            action: action.into(),
            side: if signed_qty.is_sign_negative() { "Sell" } else { "Buy" }.into(),
            order_type: order_type.into(),
            qty: signed_qty.abs(),
            limit_price,
        });
    }

    fn book_fill(&mut self, f: &OrderFilled) {
        if self.liquidation_orders.contains(&f.client_order_id) {
            return; // booked by the ledger at the mark price when it liquidated
        }
        let q = f.last_qty.as_decimal();
        let qty = if f.order_side == OrderSide::Buy { q } else { -q };
        let price = f.last_px.as_decimal();
        let quote = self.ledger.borrow().rules(&f.instrument_id).map(|r| r.quote.clone()).unwrap_or_default();
        let (commission, commission_currency) =
            f.commission.map_or((Decimal::ZERO, quote), |m| (m.as_decimal(), m.currency.code.to_string()));
        let booking = Booking {
            instrument_id: f.instrument_id,
            qty,
            price,
            commission,
            commission_currency: &commission_currency,
        };
        self.unpurged += 1;
        let booked = self.ledger.borrow_mut().book(&booking);
        let Some(position_after) = booked else {
            log::error!("fill for unknown instrument {}", f.instrument_id);
            return;
        };
        let mut rec = self.recorder.borrow_mut();
        rec.position_history.entry(f.instrument_id).or_default().push((f.ts_event, position_after));
        rec.fills.push(Fill {
            ts: f.ts_event.as_u64(),
            instrument_id: f.instrument_id.to_string(),
            client_order_id: f.client_order_id.to_string(),
            side: format!("{:?}", f.order_side),
            qty,
            price,
            commission,
            commission_currency,
            liquidity: format!("{:?}", f.liquidity_side),
            position_after,
        });
    }
}

impl DataActor for AlphaStrategy {
    fn on_start(&mut self) -> anyhow::Result<()> {
        for bt in self.setup.bar_types.clone() {
            self.subscribe_bars(bt, None, None);
        }
        let trades: BTreeSet<InstrumentId> =
            self.setup.trades.iter().chain(self.setup.open_trades.iter()).copied().collect();
        for id in trades {
            self.subscribe_trades(id, None, None);
        }
        for id in self.setup.quotes.clone() {
            self.subscribe_quotes(id, None, None);
        }
        for id in self.setup.mark_prices.clone() {
            self.subscribe_mark_prices(id, None, None);
        }
        for id in self.setup.index_prices.clone() {
            self.subscribe_index_prices(id, None, None);
        }
        for name in self.setup.custom_types.clone() {
            self.subscribe_data(DataType::new(&name, None, None), None, None);
        }
        Ok(())
    }

    fn on_stop(&mut self) -> anyhow::Result<()> {
        if let Some(p) = &self.setup.progress {
            p.advance(std::mem::take(&mut self.unreported));
        }
        self.refresh();
        self.recorder.borrow_mut().last_context = self.ledger.borrow().context().clone();
        Ok(())
    }

    fn on_bar(&mut self, bar: &Bar) -> anyhow::Result<()> {
        let id = bar.bar_type.instrument_id();
        self.liquidity.insert(id, bar.volume.as_decimal() / Decimal::from(4));
        self.set_price(id, bar.close.as_decimal(), bar.ts_init);
        self.dispatch(MarketEvent::Bar(bar))
    }

    fn on_trade(&mut self, t: &TradeTick) -> anyhow::Result<()> {
        if t.trade_id.as_str() == OPEN_TRADE_ID {
            return self.on_open(t.instrument_id, t.ts_init);
        }
        if !self.setup.trades.contains(&t.instrument_id) {
            return Ok(());
        }
        self.liquidity.insert(t.instrument_id, t.size.as_decimal());
        self.set_price(t.instrument_id, t.price.as_decimal(), t.ts_init);
        self.dispatch(MarketEvent::Trade(t))
    }

    fn on_quote(&mut self, q: &QuoteTick) -> anyhow::Result<()> {
        let mid = (q.bid_price.as_decimal() + q.ask_price.as_decimal()) / Decimal::TWO;
        self.liquidity.insert(q.instrument_id, q.bid_size.as_decimal().min(q.ask_size.as_decimal()));
        self.set_price(q.instrument_id, mid, q.ts_init);
        self.dispatch(MarketEvent::Quote(q))
    }

    fn on_mark_price(&mut self, m: &MarkPriceUpdate) -> anyhow::Result<()> {
        self.ledger.borrow_mut().set_mark(m.instrument_id, m.value.as_decimal());
        self.margin_moved = true;
        self.dispatch(MarketEvent::MarkPrice(m))
    }

    fn on_index_price(&mut self, m: &IndexPriceUpdate) -> anyhow::Result<()> {
        self.dispatch(MarketEvent::IndexPrice(m))
    }

    fn on_data(&mut self, d: &CustomData) -> anyhow::Result<()> {
        let any = d.data.as_any();
        if let Some(x) = any.downcast_ref::<OpenInterest>() {
            self.dispatch(MarketEvent::OpenInterest(x))
        } else if let Some(x) = any.downcast_ref::<LongShortRatio>() {
            self.dispatch(MarketEvent::LongShortRatio(x))
        } else if let Some(x) = any.downcast_ref::<TakerBuySellVolume>() {
            self.dispatch(MarketEvent::TakerBuySellVolume(x))
        } else {
            self.dispatch(MarketEvent::Custom(d))
        }
    }

    fn on_order_filled(&mut self, event: &OrderFilled) -> anyhow::Result<()> {
        self.book_fill(event);
        self.refresh();
        Ok(())
    }
}
