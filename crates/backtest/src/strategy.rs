//! The one NautilusTrader strategy of alphalab: [`AlphaStrategy`] wraps any `Box<dyn Alpha>`.
//!
//! - Subscribes to the configured bar types, trades, quotes, mark/index prices and custom data
//!   types; forwards every event to [`Alpha::on_event`] with the ledger's [`Context`], then
//!   asks [`Alpha::targets`] and carries out [`Execution::decide`] for each target.
//! - Funding settlements do not go through the 0.57 engine: the strategy holds them and delivers
//!   each before the first engine event with `ts_init >= ts`.
//! - Books every fill in the exact [`Ledger`] and records it in the shared [`Recorder`].
//! - The first error of an Alpha hook is recorded and stops the deliveries; the runner returns it.

use std::{collections::BTreeMap, fmt};

use data::{FundingPayment, LongShortRatio, OpenInterest, TakerBuySellVolume};
use nautilus_common::actor::DataActor;
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{Bar, BarType, CustomData, DataType, IndexPriceUpdate, MarkPriceUpdate, QuoteTick, TradeTick},
    enums::OrderSide,
    events::{OrderDenied, OrderFilled, OrderRejected},
    identifiers::{ClientOrderId, InstrumentId},
    orders::Order,
    types::{Price, Quantity},
};
use nautilus_trading::{
    nautilus_strategy,
    strategy::{Strategy, StrategyConfig, StrategyCore},
};
use rust_decimal::Decimal;

use crate::{
    alpha::{Alpha, AlphaResult, MarketEvent},
    execution::{Execution, InstrumentRules, OrderState},
    ledger::{Booking, Ledger},
    recorder::{Delivery, Fill, OrderRecord, SharedRecorder, Skip},
};

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
    /// Starting cash per currency code (the venue's starting balances).
    pub starting_balances: BTreeMap<String, Decimal>,
    pub execution: Execution,
    /// Cash account (spot venue): buys and sells are capped at the balances held.
    pub cash_account: bool,
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
    ledger: Ledger,
    funding: Vec<FundingPayment>,
    next_funding: usize,
    /// Quantity the matching engine can fill now per instrument (a quarter of the last bar's
    /// volume, the last trade's size, the smaller top-of-book size).
    liquidity: BTreeMap<InstrumentId, Decimal>,
    recorder: SharedRecorder,
    /// Events since the last progress call.
    unreported: u64,
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
    /// A new strategy; `recorder` receives orders, fills, skips and equity.
    #[must_use]
    pub fn new(alpha: Box<dyn Alpha>, setup: StrategySetup, recorder: SharedRecorder) -> Self {
        let core = StrategyCore::new(StrategyConfig {
            strategy_id: Some(setup.strategy_id.as_str().into()),
            order_id_tag: Some("001".into()),
            ..Default::default()
        });
        let mut funding = setup.funding.clone();
        funding.sort_by_key(|x| (x.ts, x.instrument_id.to_string()));
        let ledger = Ledger::new(&setup.instruments, setup.starting_balances.clone(), &setup.reporting_currency);
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
        }
    }

    fn now(&mut self) -> UnixNanos {
        self.clock().timestamp_ns()
    }

    /// Re-values the ledger at the engine clock and records the equity.
    fn refresh(&mut self) {
        let now = self.now();
        if let Some((equity, gross)) = self.ledger.refresh(now) {
            self.recorder.borrow_mut().equity_at(now.as_u64(), equity, gross);
        }
    }

    fn set_price(&mut self, id: InstrumentId, px: Decimal, ts: UnixNanos) {
        self.ledger.set_price(id, px);
        self.recorder.borrow_mut().price_at(id, ts, px);
    }

    /// Delivers funding due at or before now, then `ev`, then trades the targets. After an
    /// Alpha error nothing more is delivered.
    fn dispatch(&mut self, ev: MarketEvent<'_>) -> anyhow::Result<()> {
        self.unreported += 1;
        if self.unreported >= PROGRESS_EVERY
            && let Some(p) = &self.setup.progress
        {
            p.advance(std::mem::take(&mut self.unreported));
        }
        if self.recorder.borrow().alpha_error.is_some() {
            return Ok(());
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
        self.alpha.on_event(&ev, self.ledger.context())
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
            .filter(|o| seen.insert(o.client_order_id()))
            .map(|o| {
                let q = o.leaves_qty().as_decimal();
                let signed = if o.order_side() == OrderSide::Buy { q } else { -q };
                (o.client_order_id(), signed, o.price().map(|p| p.as_decimal()))
            })
            .collect()
    }

    fn rebalance(&mut self) -> AlphaResult<()> {
        self.refresh();
        let targets = self.alpha.targets(self.ledger.context())?;
        let ts = self.ledger.context().now.as_u64();
        for t in targets {
            let Some(rules) = self.ledger.rules(&t.instrument_id).cloned() else {
                return Err(format!("target for unknown instrument {}", t.instrument_id).into());
            };
            let open = self.open_orders(&t.instrument_id);
            let open_qty: Vec<(Decimal, Option<Decimal>)> = open.iter().map(|o| (o.1, o.2)).collect();
            let ctx = self.ledger.context();
            let state = OrderState {
                target: t.quantity,
                position: ctx.position(&t.instrument_id),
                open: &open_qty,
                last_price: ctx.last_price(&t.instrument_id),
                liquidity: self.liquidity.get(&t.instrument_id).copied(),
                equity: ctx.equity,
                cash: self
                    .setup
                    .cash_account
                    .then(|| (self.ledger.balance(&rules.quote), self.ledger.balance(&rules.base))),
            };
            let d = self.setup.execution.decide(&rules, self.setup.rebalance_threshold, &state);
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
            if let Some((delta, limit_px)) = d.order {
                self.submit(&rules, ts, delta, limit_px)?;
            }
        }
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
        let q = f.last_qty.as_decimal();
        let qty = if f.order_side == OrderSide::Buy { q } else { -q };
        let price = f.last_px.as_decimal();
        let quote = self.ledger.rules(&f.instrument_id).map(|r| r.quote.clone()).unwrap_or_default();
        let (commission, commission_currency) =
            f.commission.map_or((Decimal::ZERO, quote), |m| (m.as_decimal(), m.currency.code.to_string()));
        let booking = Booking {
            instrument_id: f.instrument_id,
            qty,
            price,
            commission,
            commission_currency: &commission_currency,
        };
        let Some(position_after) = self.ledger.book(&booking) else {
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
        for id in self.setup.trades.clone() {
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
        self.recorder.borrow_mut().last_context = self.ledger.context().clone();
        Ok(())
    }

    fn on_bar(&mut self, bar: &Bar) -> anyhow::Result<()> {
        let id = bar.bar_type.instrument_id();
        self.liquidity.insert(id, bar.volume.as_decimal() / Decimal::from(4));
        self.set_price(id, bar.close.as_decimal(), bar.ts_init);
        self.dispatch(MarketEvent::Bar(bar))
    }

    fn on_trade(&mut self, t: &TradeTick) -> anyhow::Result<()> {
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
