//! The researcher's interface: an [`Alpha`] is a black box that sees market events and states
//! target positions. It knows nothing about venues, orders, fees or funding; the framework
//! ([`crate::strategy`], [`crate::execution`]) turns its targets into orders.
//!
//! Two schedules ([`Schedule`]): per event (the default: `targets` after every event), or per
//! timestamp for cross-sectional Alphas (`on_timestamp` once every instrument's events stamped
//! `t` are in, then `targets` once, traded as one batch).

use std::collections::{BTreeMap, BTreeSet};

use data::{FundingPayment, LongShortRatio, OpenInterest, TakerBuySellVolume};
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{Bar, BarType, CustomData, IndexPriceUpdate, MarkPriceUpdate, OrderBookDeltas, QuoteTick, TradeTick},
    identifiers::InstrumentId,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::book::{BookView, Books};

/// One market event, delivered when the engine clock reaches its `ts_init` (never before).
#[derive(Debug, Clone, Copy)]
pub enum MarketEvent<'a> {
    Bar(&'a Bar),
    Trade(&'a TradeTick),
    Quote(&'a QuoteTick),
    /// One record of an instrument's order book (`book_deltas`): a depth snapshot or diff,
    /// already applied to [`Context::book`].
    Book(&'a OrderBookDeltas),
    MarkPrice(&'a MarkPriceUpdate),
    IndexPrice(&'a IndexPriceUpdate),
    /// A funding settlement (rate and, if known, mark price) of a perpetual. The 0.57 engine does
    /// not route funding; the adapter delivers it before the first engine event with
    /// `ts_init >= ts` (exactly at `ts` when another stream has an event then, e.g. a bar close).
    Funding(&'a FundingPayment),
    OpenInterest(&'a OpenInterest),
    LongShortRatio(&'a LongShortRatio),
    TakerBuySellVolume(&'a TakerBuySellVolume),
    /// Any other custom data type subscribed to.
    Custom(&'a CustomData),
}

impl MarketEvent<'_> {
    /// The time the value became knowable (the time it is delivered at, or before).
    #[must_use]
    pub fn ts_init(&self) -> UnixNanos {
        match self {
            MarketEvent::Bar(x) => x.ts_init,
            MarketEvent::Trade(x) => x.ts_init,
            MarketEvent::Quote(x) => x.ts_init,
            MarketEvent::Book(x) => x.ts_init,
            MarketEvent::MarkPrice(x) => x.ts_init,
            MarketEvent::IndexPrice(x) => x.ts_init,
            MarketEvent::Funding(x) => x.ts,
            MarketEvent::OpenInterest(x) => x.ts_init,
            MarketEvent::LongShortRatio(x) => x.ts_init,
            MarketEvent::TakerBuySellVolume(x) => x.ts_init,
            MarketEvent::Custom(x) => nautilus_model::data::HasTsInit::ts_init(*x),
        }
    }

    /// The instrument the event is about (`None` for custom data of other types).
    #[must_use]
    pub fn instrument_id(&self) -> Option<InstrumentId> {
        match self {
            MarketEvent::Bar(x) => Some(x.bar_type.instrument_id()),
            MarketEvent::Trade(x) => Some(x.instrument_id),
            MarketEvent::Quote(x) => Some(x.instrument_id),
            MarketEvent::Book(x) => Some(x.instrument_id),
            MarketEvent::MarkPrice(x) => Some(x.instrument_id),
            MarketEvent::IndexPrice(x) => Some(x.instrument_id),
            MarketEvent::Funding(x) => Some(x.instrument_id),
            MarketEvent::OpenInterest(x) => Some(x.instrument_id),
            MarketEvent::LongShortRatio(x) => Some(x.instrument_id),
            MarketEvent::TakerBuySellVolume(x) => Some(x.instrument_id),
            MarketEvent::Custom(_) => None,
        }
    }

    /// Short kind name (`bar`, `trade`, `funding`, ...), used in event logs.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            MarketEvent::Bar(_) => "bar",
            MarketEvent::Trade(_) => "trade",
            MarketEvent::Quote(_) => "quote",
            MarketEvent::Book(_) => "book",
            MarketEvent::MarkPrice(_) => "mark_price",
            MarketEvent::IndexPrice(_) => "index_price",
            MarketEvent::Funding(_) => "funding",
            MarketEvent::OpenInterest(_) => "open_interest",
            MarketEvent::LongShortRatio(_) => "long_short_ratio",
            MarketEvent::TakerBuySellVolume(_) => "taker_buy_sell_volume",
            MarketEvent::Custom(_) => "custom",
        }
    }
}

/// Read-only portfolio state at the engine clock, in exact decimals.
///
/// Built by the adapter from its own fill ledger (fills, commissions and the last prices seen), so
/// values are exact; the account balances nautilus keeps are reported after the run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// Engine clock (ns).
    pub now: UnixNanos,
    /// Net signed base quantity per instrument (from fills; spot starting balances are in
    /// `balances`, not here).
    pub positions: BTreeMap<InstrumentId, Decimal>,
    /// Cash per currency code, every wallet together (see `wallets`).
    pub balances: BTreeMap<String, Decimal>,
    /// Cash per wallet and currency, as on Binance: the spot wallet (starting balances + spot
    /// fills − commissions) and the USD-M futures wallet (starting balances + realised PnL −
    /// commissions + funding − liquidation fees). Unrealised PnL is not cash: it is in `equity`
    /// and `margin`.
    pub wallets: BTreeMap<Wallet, BTreeMap<String, Decimal>>,
    /// The futures wallet's margin at the mark prices (runs with perpetuals).
    pub margin: Option<MarginState>,
    /// Last price per instrument (bar close, trade price, quote or book mid; mark prices are not
    /// used), updated in place: reading every instrument's costs nothing per event.
    pub last_prices: BTreeMap<InstrumentId, Decimal>,
    /// The latest bar of every bar type delivered (OHLCV of the whole universe at a glance).
    pub last_bars: BTreeMap<BarType, Bar>,
    /// The order books of the instruments with `book_deltas`, updated in place by every record
    /// (read them with [`Context::book`]).
    pub books: Books,
    /// Instruments delisted so far (their positions were settled; targets for them are ignored).
    pub delisted: BTreeSet<InstrumentId>,
    /// Mark-to-market equity in the reporting currency (every wallet's cash, including funding
    /// settled so far, plus unrealised PnL at the last price); `None` until every held currency
    /// and position has a price.
    pub equity: Option<Decimal>,
    /// Reporting currency code (e.g. `USDT`).
    pub reporting_currency: String,
}

impl Context {
    /// Net position of `id` (zero when flat or unknown).
    #[must_use]
    pub fn position(&self, id: &InstrumentId) -> Decimal {
        self.positions.get(id).copied().unwrap_or_default()
    }

    /// The order book of `id` now (instruments with `book_deltas` only; empty until the first
    /// snapshot): best bid/ask and depth levels as exact decimals.
    #[must_use]
    pub fn book(&self, id: &InstrumentId) -> Option<BookView<'_>> {
        self.books.get(id)
    }

    /// Last price of `id`, if one was seen.
    #[must_use]
    pub fn last_price(&self, id: &InstrumentId) -> Option<Decimal> {
        self.last_prices.get(id).copied()
    }

    /// The target quantity worth `fraction` of equity at the last price of `id`
    /// (signed: a negative fraction is short). `None` without equity or price.
    #[must_use]
    pub fn target_fraction(&self, id: InstrumentId, fraction: Decimal) -> Option<Target> {
        let px = self.last_price(&id).filter(|p| !p.is_zero())?;
        Some(Target { instrument_id: id, quantity: self.equity? * fraction / px })
    }
}

/// A wallet of the Binance account: spot pairs trade from the spot wallet, perpetuals from the
/// USD-M futures wallet; money moves between them only by transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wallet {
    Spot,
    Futures,
}

impl Wallet {
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Wallet::Spot => "spot",
            Wallet::Futures => "futures",
        }
    }
}

/// The USD-M futures wallet's margin (settlement currency), at the mark prices: what Binance
/// shows as wallet balance, unrealised PnL, margin balance, maintenance margin and available
/// balance. A cross account is liquidated when `margin_balance <= maintenance_margin`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MarginState {
    pub wallet_balance: Decimal,
    pub unrealized_pnl: Decimal,
    /// `wallet_balance + unrealized_pnl`.
    pub margin_balance: Decimal,
    pub maintenance_margin: Decimal,
    /// Initial margin of the open positions (notional / leverage; isolated: their margins).
    pub initial_margin: Decimal,
    /// What new positions or a transfer out can use: `margin_balance − initial_margin`, ≥ 0.
    pub available: Decimal,
}

/// One complete timestamp: every event stamped `ts` has been delivered, none later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice<'a> {
    pub ts: UnixNanos,
    /// Loaded instruments with at least one market event stamped `ts` (run-file order),
    /// delisted ones excepted.
    pub present: &'a [InstrumentId],
    /// Loaded instruments without one (no bar this minute, not listed yet, no trade), delisted
    /// ones excepted (they are in [`Context::delisted`]). Whether a missing instrument lists
    /// later is not knowable at `ts`.
    pub missing: &'a [InstrumentId],
}

/// When the framework asks an Alpha for its targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Schedule {
    /// After every event ([`Alpha::on_timestamp`] is not called).
    #[default]
    EveryEvent,
    /// Once per timestamp, after [`Alpha::on_timestamp`]: cross-sectional Alphas. Every event
    /// still reaches [`Alpha::on_event`].
    EveryTimestamp,
}

/// A target position: the signed base quantity the framework should hold in one instrument
/// (positive long, negative short). The adapter trades the difference to the current position
/// plus open orders, rounded DOWN to the size increment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub instrument_id: InstrumentId,
    pub quantity: Decimal,
}

/// What an Alpha's hooks return on failure: any error (`?` converts `std` errors, `String`s and
/// `anyhow` errors alike).
pub type AlphaError = Box<dyn std::error::Error + Send + Sync>;

/// Result of an Alpha's hooks.
pub type AlphaResult<T> = std::result::Result<T, AlphaError>;

/// A research strategy. Implementations must be deterministic given the events (seed any
/// randomness from the params) for runs to be reproducible.
pub trait Alpha: 'static {
    /// Called for every market event, at its `ts_init` (`ctx.now == ev.ts_init()` for engine
    /// events; funding may arrive later, see [`MarketEvent::Funding`]).
    ///
    /// # Errors
    /// An error stops the run, naming the strategy and the event.
    fn on_event(&mut self, ev: &MarketEvent<'_>, ctx: &Context) -> AlphaResult<()>;

    /// Target positions to hold now. Called after every event, or once per timestamp (see
    /// [`Alpha::schedule`]); instruments not listed keep their position. Returning the same
    /// targets again is harmless (open orders are netted).
    ///
    /// # Errors
    /// As for [`Alpha::on_event`].
    fn targets(&mut self, ctx: &Context) -> AlphaResult<Vec<Target>>;

    /// When [`Alpha::targets`] is asked (read once, before the first event). Default: after
    /// every event, as before timestamps existed.
    fn schedule(&self) -> Schedule {
        Schedule::EveryEvent
    }

    /// [`Schedule::EveryTimestamp`] only: called once per timestamp `slice.ts`, after the last
    /// event stamped then and before any later one, with `ctx.now == slice.ts`; then
    /// [`Alpha::targets`] is asked once and its orders go out together at `ts`.
    ///
    /// # Errors
    /// As for [`Alpha::on_event`].
    fn on_timestamp(&mut self, slice: &Slice<'_>, ctx: &Context) -> AlphaResult<()> {
        let _ = (slice, ctx);
        Ok(())
    }
}
