//! The one NautilusTrader strategy of alphalab: [`AlphaStrategy`] wraps any `Box<dyn Alpha>`.
//!
//! - Subscribes to the configured bar types, trades, quotes, book deltas, mark/index prices and
//!   custom data types; forwards every event to [`Alpha::on_event`] with the ledger's [`Context`], then
//!   asks [`Alpha::targets`] and carries out [`Execution::decide`] for each target
//!   ([`orders`]).
//! - [`Schedule::EveryTimestamp`] Alphas: the first event of a timestamp `t` sets a
//!   NautilusTrader time alert at `t` itself. The 0.57 engine fires the alerts due at `t` only
//!   once the timestamp changes or the data of the run (or chunk) ends, after every data point
//!   stamped `t` went through the exchange and the strategy and before the first one of the next
//!   timestamp ([`nautilus_backtest::engine::BacktestEngine::run`]'s loop), with the clock at
//!   `t`. So the alert is exactly "every event of `t` is in": [`Alpha::on_timestamp`] gets the
//!   [`Slice`] ([`slices`]) with `ctx.now == t`, then `targets` once, and its orders reach the
//!   matching engines at `t`, at the prices of `t`: no look-ahead, no event counting, and the
//!   same in a chunked run (a timestamp never spans two chunks).
//! - Book records (`book_deltas`) are applied to the context's copy of the book before the
//!   Alpha gets them ([`crate::book`]); the book's mid is the instrument's last price, and market
//!   orders are capped at the depth of the side they take.
//! - Delistings are settled by the runner on the ledger ([`crate::delisting`]); the strategy
//!   then closes the engine's position at the next event (reduce-only, not booked again) and
//!   ignores the instrument's targets (one skip).
//! - Funding settlements do not go through the 0.57 engine: the strategy holds them and delivers
//!   each before the first engine event with `ts_init >= ts`.
//! - Books every fill in the exact [`Ledger`] and records it in the [`Recorder`], both shared
//!   with the runner (which settles funding on them between the engine's chunks).
//! - Keeps NautilusTrader's cache from growing with the fills. Before the first event after a
//!   fill, a position that fill closed is purged, and an open one trimmed to its last fill: 0.57
//!   copies a position's whole event history on every fill, and on the reopening of a closed
//!   netting position serialises it to JSON as a "snapshot" that its portfolio then decodes
//!   again; a purged position reopens as a new one, with neither. Every [`PURGE_EVERY`] fills,
//!   closed orders, account events and the snapshot blobs of flipped positions are dropped too.
//!   The cached totals, not the lists, carry quantities, prices and PnL, and alphalab's ledger
//!   and recorder keep the complete results.
//! - USD-M margin: before each event it liquidates what the ledger finds below maintenance
//!   (at the mark price, [`crate::margin`]), closing the engine's position with a reduce-only
//!   market order whose fill is not booked again; a perpetual order the futures wallet cannot
//!   margin (or above the leverage tier's notional) is not sent and is recorded as a skip.
//! - `fill = "next_open"`: orders decided on an instrument with bars wait for the synthetic
//!   trade the runner stamps at the next bar's open ([`OPEN_TRADE_ID`]), then go out.
//! - The first error of an Alpha hook is recorded and stops the deliveries; the runner returns it.
//! - Before anything stamped on a new UTC day is booked, the per-instrument attribution of the
//!   day before is recorded ([`crate::attribution`]).

mod orders;
mod slices;

use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
    fmt,
    rc::Rc,
};

use data::{FundingPayment, LongShortRatio, OpenInterest, TakerBuySellVolume};
use nautilus_common::{actor::DataActor, timer::TimeEvent};
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{
        Bar, BarType, CustomData, DataType, IndexPriceUpdate, MarkPriceUpdate, OrderBookDeltas, QuoteTick, TradeTick,
    },
    enums::BookType,
    events::{OrderDenied, OrderFilled, OrderRejected},
    identifiers::{ClientOrderId, InstrumentId, PositionId},
};
use nautilus_trading::{
    nautilus_strategy,
    strategy::{StrategyConfig, StrategyCore},
};
use rust_decimal::Decimal;

use crate::{
    alpha::{Alpha, AlphaResult, MarketEvent, Schedule, Slice},
    execution::{Execution, InstrumentRules},
    ledger::Ledger,
    recorder::{Delivery, SharedRecorder},
    venue::FillTiming,
};

/// Trade id of the synthetic trade at a bar's open (`fill = "next_open"`): never delivered to
/// the Alpha, never a price of the ledger.
pub const OPEN_TRADE_ID: &str = "alphalab-bar-open";

/// The ledger shared between the strategy (inside the engine) and the runner.
pub type SharedLedger = Rc<RefCell<Ledger>>;

/// Fills between two purges of NautilusTrader's cache.
const PURGE_EVERY: u64 = 32;

/// Name of the time alert that closes a timestamp ([`Schedule::EveryTimestamp`]).
const SLICE_ALERT: &str = "alphalab-timestamp";

/// What the strategy subscribes to and how it trades.
#[derive(Debug, Clone)]
pub struct StrategySetup {
    pub strategy_id: String,
    pub instruments: Vec<InstrumentRules>,
    pub bar_types: Vec<BarType>,
    pub trades: Vec<InstrumentId>,
    pub quotes: Vec<InstrumentId>,
    /// Instruments with order book records (`book_deltas`).
    pub books: Vec<InstrumentId>,
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
    /// Instruments filled since their positions were last tidied.
    touched: Vec<InstrumentId>,
    /// Engine orders closing liquidated positions (booked by the ledger at the mark price).
    liquidation_orders: BTreeSet<ClientOrderId>,
    /// A margin price moved since the last liquidation check.
    margin_moved: bool,
    /// `next_open`: the order decided per instrument, sent at the next bar's open.
    pending: BTreeMap<InstrumentId, (InstrumentRules, Decimal, Option<Decimal>)>,
    /// The Alpha's schedule (read once).
    schedule: Schedule,
    /// [`Schedule::EveryTimestamp`]: the instruments seen at the open timestamp.
    slices: slices::SliceTracker,
    /// Delisted instruments whose ignored target was recorded as a skip.
    delisted_skips: BTreeSet<InstrumentId>,
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
        let schedule = alpha.schedule();
        let slices = slices::SliceTracker::new(setup.instruments.iter().map(|r| r.id).collect());
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
            touched: Vec::new(),
            liquidation_orders: BTreeSet::new(),
            margin_moved: false,
            pending: BTreeMap::new(),
            schedule,
            slices,
            delisted_skips: BTreeSet::new(),
        }
    }

    fn now(&mut self) -> UnixNanos {
        self.clock().timestamp_ns()
    }

    /// Re-values the ledger at the engine clock and records the equity.
    fn refresh(&mut self) {
        let now = self.now();
        let valuation = self.ledger.borrow_mut().refresh(now);
        if let Some(v) = valuation {
            self.recorder.borrow_mut().equity_at(now.as_u64(), &v);
        }
    }

    /// Records the attribution of the day before, once the clock is on a new UTC day and before
    /// anything stamped then is booked (every handler starts here).
    fn roll(&mut self) {
        let now = self.now().as_u64();
        let rows = self.ledger.borrow_mut().roll(now);
        if let Some(rows) = rows {
            self.recorder.borrow_mut().instrument_pnl.extend(rows);
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
        // Without a database this empties the general map, where 0.57 keeps a JSON copy of a
        // netting position at each flip.
        let _ = cache.cache_general();
    }

    /// Purges the positions closed since the last call and trims the open ones to their last
    /// fill (see the module docs). Called with no cache borrow held.
    fn tidy_positions(&mut self) {
        let sid = self.core.strategy_id().expect("a registered strategy");
        let cache = self.cache_rc();
        let mut cache = cache.borrow_mut();
        for id in self.touched.drain(..) {
            let pid = PositionId::new(format!("{id}-{sid}"));
            if cache.position(&pid).is_some_and(|p| p.is_closed()) {
                cache.purge_position(pid);
            } else if let Some(mut p) = cache.position_mut(&pid)
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
        if !self.touched.is_empty() {
            self.tidy_positions();
        }
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
        self.close_delisted()?;
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
            match self.schedule {
                Schedule::EveryEvent => self.rebalance(),
                Schedule::EveryTimestamp => Ok(()),
            }
        })();
        if self.schedule == Schedule::EveryTimestamp && self.slices.mark(now.as_u64(), ev.instrument_id()) {
            // fires once every event stamped `now` is in (see the module docs)
            self.clock().set_time_alert_ns(SLICE_ALERT, now, None, Some(false))?;
        }
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

    /// The timestamp's alert: [`Alpha::on_timestamp`] with the slice, then the targets, traded
    /// as one batch at the clock (= the timestamp).
    fn close_slice(&mut self) {
        let delisted = self.ledger.borrow().context().delisted.clone();
        let Some(ts) = self.slices.close(&delisted) else { return };
        if self.recorder.borrow().alpha_error.is_some() {
            return;
        }
        self.refresh();
        let now = self.now();
        {
            let mut rec = self.recorder.borrow_mut();
            if rec.record_deliveries {
                let d = Delivery {
                    kind: "timestamp",
                    instrument_id: None,
                    ts_init: ts,
                    clock: now.as_u64(),
                    ts_event: None,
                };
                rec.deliveries.push(d);
            }
        }
        let result = (|| -> AlphaResult<()> {
            let slice = Slice { ts: UnixNanos::from(ts), present: &self.slices.present, missing: &self.slices.missing };
            {
                let ledger = self.ledger.borrow();
                self.alpha.on_timestamp(&slice, ledger.context())?;
            }
            self.rebalance()
        })();
        if let Err(e) = result {
            let msg = format!("timestamp at {now}: {e}");
            log::error!("alpha error: {msg}");
            self.recorder.borrow_mut().alpha_error = Some(msg);
        }
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
        for id in self.setup.books.clone() {
            // Not managed: the Alpha's copy of the book lives in its context, not in the cache.
            self.subscribe_book_deltas(id, BookType::L2_MBP, None, None, false, None);
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
        self.roll();
        let id = bar.bar_type.instrument_id();
        self.ledger.borrow_mut().set_bar(bar);
        self.liquidity.insert(id, bar.volume.as_decimal() / Decimal::from(4));
        self.set_price(id, bar.close.as_decimal(), bar.ts_init);
        self.dispatch(MarketEvent::Bar(bar))
    }

    fn on_trade(&mut self, t: &TradeTick) -> anyhow::Result<()> {
        self.roll();
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
        self.roll();
        let mid = (q.bid_price.as_decimal() + q.ask_price.as_decimal()) / Decimal::TWO;
        self.liquidity.insert(q.instrument_id, q.bid_size.as_decimal().min(q.ask_size.as_decimal()));
        self.set_price(q.instrument_id, mid, q.ts_init);
        self.dispatch(MarketEvent::Quote(q))
    }

    fn on_book_deltas(&mut self, deltas: &OrderBookDeltas) -> anyhow::Result<()> {
        self.roll();
        let id = deltas.instrument_id;
        let (mid, quote) = {
            let mut ledger = self.ledger.borrow_mut();
            if !ledger.books_mut().apply(deltas).map_err(anyhow::Error::msg)? {
                return Ok(()); // a record that changes nothing (crate::book::keep_alive)
            }
            let view = ledger.context().book(&id);
            (view.and_then(|b| b.mid()), view.and_then(|b| crate::book::top_quote(&b, deltas.ts_init)))
        };
        if let Some(q) = quote {
            self.cache_rc().borrow_mut().add_quote(q)?;
        }
        if let Some(mid) = mid {
            self.set_price(id, mid, deltas.ts_init);
        }
        self.dispatch(MarketEvent::Book(deltas))
    }

    fn on_mark_price(&mut self, m: &MarkPriceUpdate) -> anyhow::Result<()> {
        self.roll();
        self.ledger.borrow_mut().set_mark(m.instrument_id, m.value.as_decimal());
        self.margin_moved = true;
        self.dispatch(MarketEvent::MarkPrice(m))
    }

    fn on_index_price(&mut self, m: &IndexPriceUpdate) -> anyhow::Result<()> {
        self.roll();
        self.dispatch(MarketEvent::IndexPrice(m))
    }

    fn on_data(&mut self, d: &CustomData) -> anyhow::Result<()> {
        self.roll();
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
        self.roll();
        self.book_fill(event);
        self.refresh();
        Ok(())
    }

    fn on_time_event(&mut self, event: &TimeEvent) -> anyhow::Result<()> {
        self.roll();
        if event.name.as_str() == SLICE_ALERT {
            self.close_slice();
        }
        Ok(())
    }
}
