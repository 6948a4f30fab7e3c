//! The one nautilus strategy of alphalab: [`AlphaStrategy`] wraps any `Box<dyn Alpha>`.
//!
//! - Subscribes to the configured bar types, trades, quotes, mark/index prices and custom data
//!   types; forwards every event to [`Alpha::on_event`] with a [`Context`], then asks
//!   [`Alpha::targets`].
//! - Funding settlements do not go through the 0.57 engine: the adapter holds them and delivers
//!   each before the first engine event with `ts_init >= ts`.
//! - Targets → orders ([`Execution`]): MARKET (delta = target − (position + open orders)) or
//!   LIMIT (open orders of the instrument cancelled and replaced by one limit order for
//!   target − position at the last price ± an offset, unless an identical one is already
//!   resting); deltas rounded DOWN to the size increment and skipped (debug log + [`Skip`]
//!   record) below min quantity, min notional, or the rebalance threshold (a fraction of
//!   equity). Market orders are capped at the liquidity the engine simulates (a quarter of the
//!   last bar's volume, ...), the rest following on later events.
//! - Keeps an exact fill ledger (positions, cash per currency, commissions) and records every
//!   event delivery (kind, `ts_init`, clock) and fill into a shared [`Recorder`].

use std::{cell::RefCell, collections::BTreeMap, fmt, rc::Rc};

use data::{FundingPayment, LongShortRatio, OpenInterest, TakerBuySellVolume};
use nautilus_common::actor::DataActor;
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{Bar, BarType, CustomData, DataType, IndexPriceUpdate, MarkPriceUpdate, QuoteTick, TradeTick},
    enums::OrderSide,
    events::{OrderDenied, OrderFilled, OrderRejected},
    identifiers::InstrumentId,
    instruments::{Instrument, InstrumentAny},
    orders::Order,
    types::{Price, Quantity},
};
use nautilus_trading::{
    nautilus_strategy,
    strategy::{Strategy, StrategyConfig, StrategyCore},
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::alpha::{Alpha, Context, MarketEvent};

/// Trading rules of one instrument, as the adapter needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstrumentRules {
    pub id: InstrumentId,
    /// `true` for spot pairs: the base leg is booked in `balances[base]`; `false` for
    /// perpetuals (notional booked in the settlement currency, position marked to market).
    pub is_spot: bool,
    pub base: String,
    pub quote: String,
    pub settlement: String,
    pub size_precision: u8,
    pub size_increment: Decimal,
    pub price_precision: u8,
    pub price_increment: Decimal,
    pub min_quantity: Option<Decimal>,
    pub min_notional: Option<Decimal>,
    pub taker_fee: Decimal,
}

impl InstrumentRules {
    /// Rules of a nautilus instrument.
    ///
    /// # Errors
    /// None: infallible.
    #[must_use]
    pub fn of(inst: &InstrumentAny) -> Self {
        let quote = inst.quote_currency().code.to_string();
        Self {
            id: inst.id(),
            is_spot: matches!(inst, InstrumentAny::CurrencyPair(_)),
            base: inst.base_currency().map_or_else(|| quote.clone(), |c| c.code.to_string()),
            settlement: inst.settlement_currency().code.to_string(),
            quote,
            size_precision: inst.size_precision(),
            size_increment: inst.size_increment().as_decimal(),
            price_precision: inst.price_precision(),
            price_increment: inst.price_increment().as_decimal(),
            min_quantity: inst.min_quantity().map(|q| q.as_decimal()),
            min_notional: inst.min_notional().map(|m| m.as_decimal()),
            taker_fee: inst.taker_fee(),
        }
    }

    /// `|qty|` rounded DOWN to the size increment, sign kept.
    #[must_use]
    pub fn round_down(&self, qty: Decimal) -> Decimal {
        if self.size_increment.is_zero() {
            return qty;
        }
        let steps = (qty.abs() / self.size_increment).trunc();
        let r = steps * self.size_increment;
        if qty.is_sign_negative() { -r } else { r }
    }
}

/// Order type used to reach targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// Taker: fills on the next price the matching engine sees (taker fee).
    #[default]
    Market,
    /// Maker: rests at the last price ± `limit_offset_bps` until the book crosses it (maker fee).
    Limit,
}

/// How targets become orders (`[execution]` in the run file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Execution {
    #[serde(default)]
    pub order_type: OrderKind,
    /// Limit orders only: distance from the last price on the passive side (buys below, sells
    /// above), in basis points; the price is rounded to the tick away from the market.
    #[serde(default)]
    pub limit_offset_bps: Decimal,
}

impl Execution {
    /// Limit price for a buy (`delta > 0`) or sell at `last`, on the instrument's tick grid.
    #[must_use]
    pub fn limit_price(&self, rules: &InstrumentRules, last: Decimal, delta: Decimal) -> Decimal {
        let off = self.limit_offset_bps / Decimal::from(10_000);
        let tick = rules.price_increment;
        let raw = if delta.is_sign_positive() { last * (Decimal::ONE - off) } else { last * (Decimal::ONE + off) };
        if tick.is_zero() {
            return raw;
        }
        let steps = raw / tick;
        (if delta.is_sign_positive() { steps.floor() } else { steps.ceil() }) * tick
    }
}

/// What the adapter subscribes to and how it trades.
#[derive(Debug, Clone)]
pub struct AdapterConfig {
    pub strategy_id: String,
    pub instruments: Vec<InstrumentRules>,
    pub bar_types: Vec<BarType>,
    pub trades: Vec<InstrumentId>,
    pub quotes: Vec<InstrumentId>,
    pub mark_prices: Vec<InstrumentId>,
    pub index_prices: Vec<InstrumentId>,
    /// Custom data type names (`OpenInterest`, `LongShortRatio`, `TakerBuySellVolume`, ...).
    pub custom_types: Vec<String>,
    /// Funding settlements to deliver (ascending or not; sorted here).
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
}

/// One event delivery.
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

/// One order action of the adapter (submission or cancellation).
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

/// A target delta that was not traded.
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

/// Everything the adapter records; shared with the runner through [`SharedRecorder`].
#[derive(Debug, Clone, Default)]
pub struct Recorder {
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
    /// Final context.
    pub last_context: Context,
}

/// The recorder shared between the adapter (inside the engine) and the runner.
pub type SharedRecorder = Rc<RefCell<Recorder>>;

/// The nautilus strategy wrapping an [`Alpha`].
pub struct AlphaStrategy {
    core: StrategyCore,
    alpha: Box<dyn Alpha>,
    cfg: AdapterConfig,
    rules: BTreeMap<InstrumentId, InstrumentRules>,
    funding: Vec<FundingPayment>,
    next_funding: usize,
    /// Quantity the matching engine can fill now per instrument (see [`Self::liquidity_cap`]).
    liquidity: BTreeMap<InstrumentId, Decimal>,
    ctx: Context,
    recorder: SharedRecorder,
}

impl fmt::Debug for AlphaStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlphaStrategy").field("strategy_id", &self.cfg.strategy_id).finish_non_exhaustive()
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
    /// A new adapter; `recorder` receives deliveries, fills and equity.
    #[must_use]
    pub fn new(alpha: Box<dyn Alpha>, cfg: AdapterConfig, recorder: SharedRecorder) -> Self {
        let core = StrategyCore::new(StrategyConfig {
            strategy_id: Some(cfg.strategy_id.as_str().into()),
            order_id_tag: Some("001".into()),
            ..Default::default()
        });
        let mut funding = cfg.funding.clone();
        funding.sort_by_key(|x| (x.ts, x.instrument_id.to_string()));
        let ctx = Context {
            balances: cfg.starting_balances.clone(),
            reporting_currency: cfg.reporting_currency.clone(),
            ..Default::default()
        };
        let rules = cfg.instruments.iter().map(|r| (r.id, r.clone())).collect();
        Self { core, alpha, cfg, rules, funding, next_funding: 0, liquidity: BTreeMap::new(), ctx, recorder }
    }

    fn now(&mut self) -> UnixNanos {
        self.clock().timestamp_ns()
    }

    /// Mark-to-market equity and gross exposure from the fill ledger and last prices.
    fn valuation(&self) -> Option<(Decimal, Decimal)> {
        let rep = &self.ctx.reporting_currency;
        let ccy_price = |ccy: &str| -> Option<Decimal> {
            if ccy == rep {
                return Some(Decimal::ONE);
            }
            self.rules
                .values()
                .find(|r| r.is_spot && r.base == ccy && &r.quote == rep)
                .and_then(|r| self.ctx.last_prices.get(&r.id).copied())
        };
        let mut equity = Decimal::ZERO;
        for (ccy, amount) in &self.ctx.balances {
            if !amount.is_zero() {
                equity += *amount * ccy_price(ccy)?;
            }
        }
        let mut gross = Decimal::ZERO;
        for (id, qty) in &self.ctx.positions {
            if qty.is_zero() {
                continue;
            }
            let r = self.rules.get(id)?;
            let value = *qty * self.ctx.last_prices.get(id).copied()? * ccy_price(&r.quote)?;
            gross += value.abs();
            if !r.is_spot {
                equity += value;
            }
        }
        Some((equity, gross))
    }

    fn refresh(&mut self) {
        self.ctx.now = self.now();
        let v = self.valuation();
        self.ctx.equity = v.map(|(e, _)| e);
        if let Some((equity, gross_exposure)) = v {
            let ts = self.ctx.now.as_u64();
            let mut rec = self.recorder.borrow_mut();
            if rec.initial_equity.is_none() {
                rec.initial_equity = Some(equity);
            }
            match rec.equity.last_mut() {
                Some(p) if p.ts == ts => *p = EquityPoint { ts, equity, gross_exposure },
                _ => rec.equity.push(EquityPoint { ts, equity, gross_exposure }),
            }
        }
    }

    fn set_price(&mut self, id: InstrumentId, px: Decimal, ts: UnixNanos) {
        self.ctx.last_prices.insert(id, px);
        let mut rec = self.recorder.borrow_mut();
        let series = rec.prices.entry(id).or_default();
        match series.last_mut() {
            Some((t, p)) if *t == ts => *p = px,
            _ => series.push((ts, px)),
        }
    }

    /// Delivers funding due at or before now, then `ev`, then trades the targets.
    fn dispatch(&mut self, ev: MarketEvent<'_>) -> anyhow::Result<()> {
        let now = self.now();
        while let Some(f) = self.funding.get(self.next_funding).copied() {
            if f.ts > now {
                break;
            }
            self.next_funding += 1;
            self.deliver(MarketEvent::Funding(&f), now)?;
        }
        self.deliver(ev, now)?;
        self.rebalance()
    }

    fn deliver(&mut self, ev: MarketEvent<'_>, now: UnixNanos) -> anyhow::Result<()> {
        anyhow::ensure!(ev.ts_init() <= now, "look-ahead: {} stamped {} delivered at {now}", ev.kind(), ev.ts_init());
        self.recorder.borrow_mut().deliveries.push(Delivery {
            kind: ev.kind(),
            instrument_id: ev.instrument_id().map(|i| i.to_string()),
            ts_init: ev.ts_init().as_u64(),
            clock: now.as_u64(),
            ts_event: match ev {
                MarketEvent::Bar(b) => Some(b.ts_event.as_u64()),
                _ => None,
            },
        });
        self.refresh();
        self.alpha.on_event(&ev, &self.ctx)
    }

    /// This strategy's open and in-flight orders of `id`: (id, signed leaves qty, limit price).
    fn open_orders(
        &self,
        id: &InstrumentId,
    ) -> Vec<(nautilus_model::identifiers::ClientOrderId, Decimal, Option<Decimal>)> {
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

    /// Why a delta is not traded, if it is not.
    fn skip_reason(&self, rules: &InstrumentRules, delta: Decimal, px: Option<Decimal>) -> Option<String> {
        let notional = px.map(|p| (delta * p).abs());
        if rules.min_quantity.is_some_and(|m| delta.abs() < m) {
            Some(format!("below min quantity {}", rules.min_quantity.unwrap_or_default()))
        } else if let (Some(min), Some(n)) = (rules.min_notional, notional)
            && n < min
        {
            Some(format!("notional {n} below min notional {min}"))
        } else if let (Some(n), Some(eq)) = (notional, self.ctx.equity)
            && !self.cfg.rebalance_threshold.is_zero()
            && n < self.cfg.rebalance_threshold * eq.abs()
        {
            Some(format!("notional {n} below rebalance threshold {} of equity {eq}", self.cfg.rebalance_threshold))
        } else {
            None
        }
    }

    fn rebalance(&mut self) -> anyhow::Result<()> {
        self.refresh();
        let targets = self.alpha.targets(&self.ctx)?;
        let ts = self.ctx.now.as_u64();
        let limit = self.cfg.execution.order_type == OrderKind::Limit;
        for t in targets {
            let Some(rules) = self.rules.get(&t.instrument_id).cloned() else {
                anyhow::bail!("target for unknown instrument {}", t.instrument_id);
            };
            let open = self.open_orders(&t.instrument_id);
            let pending: Decimal = open.iter().map(|o| o.1).sum();
            let position = self.ctx.position(&t.instrument_id);
            let px = self.ctx.last_price(&t.instrument_id);
            // Market: top up what is already on its way. Limit: one resting order for the rest.
            let mut delta = rules.round_down(t.quantity - position - if limit { Decimal::ZERO } else { pending });
            let limit_px = match px {
                Some(p) if limit && !delta.is_zero() => Some(self.cfg.execution.limit_price(&rules, p, delta)),
                _ => None,
            };
            if limit {
                if matches!(open.as_slice(), [(_, q, p)] if *q == delta && *p == limit_px) {
                    continue; // the right order is already resting
                }
                for (coid, leaves, price) in &open {
                    self.cancel_order(*coid, None, None)?;
                    self.record_order(ts, &t.instrument_id, coid.to_string(), "cancel", *leaves, "LIMIT", *price);
                }
            }
            if !limit {
                delta = self.liquidity_cap(&rules, delta, ts);
            }
            if self.cfg.cash_account
                && let Some(p) = px
            {
                delta = self.cash_cap(&rules, delta, p, ts);
            }
            if delta.is_zero() {
                continue;
            }
            if let Some(reason) = self.skip_reason(&rules, delta, px) {
                self.skip(ts, &t.instrument_id, delta, reason);
                continue;
            }
            let side = if delta.is_sign_positive() { OrderSide::Buy } else { OrderSide::Sell };
            let qty = Quantity::from_decimal_dp(delta.abs(), rules.size_precision)?;
            let order = match limit_px {
                Some(p) => {
                    let price = Price::from_decimal_dp(p, rules.price_precision)?;
                    self.core.order_factory().limit(
                        t.instrument_id,
                        side,
                        qty,
                        price,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                    )
                }
                None => self.core.order_factory().market(
                    t.instrument_id,
                    side,
                    qty,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                ),
            };
            let kind = if limit_px.is_some() { "LIMIT" } else { "MARKET" };
            self.record_order(
                ts,
                &t.instrument_id,
                order.client_order_id().to_string(),
                "submit",
                delta,
                kind,
                limit_px,
            );
            self.submit_order(order, None, None, None)?;
        }
        Ok(())
    }

    /// A market order is capped at the liquidity the L1 matching engine simulates at this moment:
    /// a quarter of the last bar's volume (it replays a bar as four trades), the last trade's
    /// size, or the smaller top-of-book size. NautilusTrader 0.57 cannot fill beyond it (its L1
    /// matching stops at `todo!("Exhausted simulated book volume")` and the rest of the order
    /// stays open forever), so the rest is recorded as a [`Skip`] and follows on later events.
    fn liquidity_cap(&mut self, rules: &InstrumentRules, delta: Decimal, ts: u64) -> Decimal {
        let Some(available) = self.liquidity.get(&rules.id).copied() else { return delta };
        self.cap(rules, delta, available, ts, || {
            format!("above the simulated liquidity {available}: the rest follows on later events")
        })
    }

    /// On a cash account a buy needs the quote (notional plus taker fee) and a sell the base:
    /// the delta is cut to what the fill ledger holds, the rest recorded as a [`Skip`]. Without
    /// this, 0.57 fills the order and then cannot book it ("Cash account balance would become
    /// negative"), leaving its account and the ledger apart.
    fn cash_cap(&mut self, rules: &InstrumentRules, delta: Decimal, px: Decimal, ts: u64) -> Decimal {
        let held = |ccy: &str| self.ctx.balances.get(ccy).copied().unwrap_or_default().max(Decimal::ZERO);
        let affordable = if delta.is_sign_positive() {
            let unit = px * (Decimal::ONE + rules.taker_fee);
            if unit.is_zero() { delta } else { rules.round_down(held(&rules.quote) / unit) }
        } else {
            rules.round_down(held(&rules.base))
        };
        let ccy = if delta.is_sign_positive() { rules.quote.clone() } else { rules.base.clone() };
        self.cap(rules, delta, affordable, ts, || format!("cash account: not enough {ccy} for the rest"))
    }

    /// `delta` with its size cut to `limit` (rounded down to the step); the cut-off part is
    /// recorded as a [`Skip`] with `reason`.
    fn cap(
        &mut self,
        rules: &InstrumentRules,
        delta: Decimal,
        limit: Decimal,
        ts: u64,
        reason: impl FnOnce() -> String,
    ) -> Decimal {
        let cap = rules.round_down(limit);
        if delta.abs() <= cap {
            return delta;
        }
        let capped = if delta.is_sign_negative() { -cap } else { cap };
        self.skip(ts, &rules.id, delta - capped, reason());
        capped
    }

    /// Records a target delta (or part of one) that is not traded.
    fn skip(&self, ts: u64, id: &InstrumentId, delta: Decimal, reason: String) {
        log::debug!("skip {id} delta {delta}: {reason}");
        self.recorder.borrow_mut().skips.push(Skip { ts, instrument_id: id.to_string(), delta, reason });
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
        let Some(rules) = self.rules.get(&f.instrument_id).cloned() else {
            log::error!("fill for unknown instrument {}", f.instrument_id);
            return;
        };
        let q = f.last_qty.as_decimal();
        let sq = if f.order_side == OrderSide::Buy { q } else { -q };
        let px = f.last_px.as_decimal();
        let (commission, commission_ccy) = f
            .commission
            .map_or((Decimal::ZERO, rules.quote.clone()), |m| (m.as_decimal(), m.currency.code.to_string()));
        let bal = &mut self.ctx.balances;
        *bal.entry(rules.settlement.clone()).or_default() -= sq * px;
        if rules.is_spot {
            *bal.entry(rules.base.clone()).or_default() += sq;
        }
        *bal.entry(commission_ccy.clone()).or_default() -= commission;
        let pos = self.ctx.positions.entry(f.instrument_id).or_default();
        *pos += sq;
        let position_after = *pos;
        let mut rec = self.recorder.borrow_mut();
        rec.position_history.entry(f.instrument_id).or_default().push((f.ts_event, position_after));
        rec.fills.push(Fill {
            ts: f.ts_event.as_u64(),
            instrument_id: f.instrument_id.to_string(),
            client_order_id: f.client_order_id.to_string(),
            side: format!("{:?}", f.order_side),
            qty: sq,
            price: px,
            commission,
            commission_currency: commission_ccy,
            liquidity: format!("{:?}", f.liquidity_side),
            position_after,
        });
    }
}

impl DataActor for AlphaStrategy {
    fn on_start(&mut self) -> anyhow::Result<()> {
        for bt in self.cfg.bar_types.clone() {
            self.subscribe_bars(bt, None, None);
        }
        for id in self.cfg.trades.clone() {
            self.subscribe_trades(id, None, None);
        }
        for id in self.cfg.quotes.clone() {
            self.subscribe_quotes(id, None, None);
        }
        for id in self.cfg.mark_prices.clone() {
            self.subscribe_mark_prices(id, None, None);
        }
        for id in self.cfg.index_prices.clone() {
            self.subscribe_index_prices(id, None, None);
        }
        for name in self.cfg.custom_types.clone() {
            self.subscribe_data(DataType::new(&name, None, None), None, None);
        }
        Ok(())
    }

    fn on_stop(&mut self) -> anyhow::Result<()> {
        self.refresh();
        self.recorder.borrow_mut().last_context = self.ctx.clone();
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
