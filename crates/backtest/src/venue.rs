//! Venue configs: Binance spot (cash account, multi-currency) and USD-M (margin account, USDT
//! base, Binance-style maintenance margin), with fees set on the instruments, slippage and
//! latency.
//!
//! - **Fees**: the default nautilus fee model charges the instrument's maker/taker fee, so
//!   [`VenueSpec::apply_fees`] rewrites the instruments' fees (VIP 0 defaults: spot 0.1 %/0.1 %,
//!   USD-M 0.02 %/0.05 %). Market orders pay taker.
//! - **Slippage**: 0.57's `FillModel` only has probabilistic slippage: with an L1 book a market
//!   fill slips by one tick with probability `prob_slippage` (seeded `DefaultFillModel`).
//! - **Latency**: 0.57 has `StaticLatencyModel` (fixed insert/update/delete latency); with
//!   `latency_ms > 0` orders reach the matching engine that much later (they then fill on
//!   the first data at or after arrival).
//! - **Wallets**: as on Binance, spot pairs trade from the spot wallet (cash only: buys up to the
//!   quote held, sells up to the base held) and perpetuals from the USD-M futures wallet (margin,
//!   [`crate::margin`]). A `usdm` run that also trades spot pairs (basis, funding carry) gives the
//!   spot wallet `spot_balances` and the spot pairs spot fees (`spot_maker_fee` /
//!   `spot_taker_fee`, default 0.1 %); money moves between the wallets only by the run file's
//!   `transfers`. alphalab's ledger ([`crate::ledger`]) keeps and enforces the two wallets.
//!   NautilusTrader 0.57 has one account per venue and every alphalab instrument id carries
//!   `BINANCE` (as its Binance adapter's do), so inside the engine both legs sit on one USDT
//!   margin account holding the wallets' USDT together; the ledger's wallets are the account
//!   of record in the results.
//! - **Fill timing**: `fill = "close"` fills an order placed on a bar at that bar's close (the
//!   price the Alpha saw); `"next_open"` fills it at the next bar's open (nautilus_trader #4063).
//!   The runner gives each bar a synthetic trade at its open, stamped 1 ns after the previous
//!   bar's close; the strategy holds the orders decided at a close and submits them on that trade
//!   (which the Alpha never sees), so they fill at the open.

use std::{collections::BTreeMap, path::PathBuf};

use nautilus_backtest::config::SimulatedVenueConfig;
use nautilus_core::UnixNanos;
use nautilus_execution::models::{
    fill::{DefaultFillModel, FillModelAny},
    latency::StaticLatencyModel,
};
use nautilus_model::{
    accounts::margin_model::{MarginModelAny, StandardMarginModel},
    enums::{AccountType, OmsType},
    identifiers::Venue,
    instruments::InstrumentAny,
    types::{Currency, Money},
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use crate::{
    alpha::Wallet,
    book::BookKind,
    error::{Error, Result},
    margin::MarginMode,
};

/// Venue of every alphalab instrument.
pub const VENUE: &str = "BINANCE";

/// Account model of the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VenueKind {
    /// Cash account, multi-currency (no base currency): spot pairs only, no shorts.
    Spot,
    /// Margin account, base currency USDT, `StandardMarginModel` (maint margin = notional ×
    /// `margin_maint`, not divided by leverage, as on Binance).
    Usdm,
}

/// The venue of a run (`[venue]` in the run file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueSpec {
    pub kind: VenueKind,
    /// Starting balances per currency code, e.g. `{ USDT = "10000" }` (strings keep decimals exact).
    pub starting_balances: BTreeMap<String, Decimal>,
    /// USD-M account leverage (default 1).
    #[serde(default)]
    pub leverage: Option<Decimal>,
    /// Maker fee rate (fraction); default by kind.
    #[serde(default)]
    pub maker_fee: Option<Decimal>,
    /// Taker fee rate (fraction); default by kind.
    #[serde(default)]
    pub taker_fee: Option<Decimal>,
    /// Spot pairs on a `usdm` venue: maker fee rate (default 0.1 %).
    #[serde(default)]
    pub spot_maker_fee: Option<Decimal>,
    /// Spot pairs on a `usdm` venue: taker fee rate (default 0.1 %).
    #[serde(default)]
    pub spot_taker_fee: Option<Decimal>,
    /// Probability that a market fill slips one tick (0..=1, default 0).
    #[serde(default)]
    pub prob_slippage: f64,
    /// Seed of the fill model (default 42).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Static order latency in ms (default 0 = none).
    #[serde(default)]
    pub latency_ms: u64,
    /// The matching engine's book: `"L1_MBP"` (default: top of book from quotes, trades, bars)
    /// or `"L2_MBP"` (price levels from the run's `book_deltas`, see [`crate::book`]).
    #[serde(default, skip_serializing_if = "is_l1")]
    pub book_type: BookKind,
    /// When an order decided on a bar fills: at that bar's close (default) or the next bar's open.
    #[serde(default)]
    pub fill: FillTiming,
    /// `usdm` runs that trade spot pairs: the spot wallet's starting balances (`starting_balances`
    /// are the futures wallet's).
    #[serde(default)]
    pub spot_balances: BTreeMap<String, Decimal>,
    /// USD-M margin mode (default cross).
    #[serde(default)]
    pub margin_mode: MarginMode,
    /// Liquidation clearance fee rate (default 0.0125: `liquidationFee` of BTCUSDT and ETHUSDT
    /// in `/fapi/v1/exchangeInfo`).
    #[serde(default)]
    pub liquidation_fee: Option<Decimal>,
    /// A `/fapi/v1/leverageBracket` response (`alphalab brackets` writes one); default: the
    /// shipped table in effect at the run's first event.
    #[serde(default)]
    pub brackets: Option<PathBuf>,
    /// A perpetual with no tiers in `brackets` nor in the shipped tables: a run-file error
    /// (default), or alphalab's generic tiers ([`crate::margin::generic_brackets`]).
    #[serde(default)]
    pub unknown_brackets: UnknownBrackets,
    /// Transfers between the spot and futures wallets, applied at their time before any event
    /// stamped then.
    #[serde(default)]
    pub transfers: Vec<Transfer>,
}

/// What a perpetual without leverage brackets gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownBrackets {
    /// The run stops with an error naming the symbol.
    #[default]
    Error,
    /// [`crate::margin::generic_brackets`] (logged per symbol).
    Generic,
}

/// When an order decided on a bar fills.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FillTiming {
    /// At the close of the bar the Alpha decided on.
    #[default]
    Close,
    /// At the open of the next bar.
    NextOpen,
}

/// A transfer between wallets (Binance `POST /sapi/v1/asset/transfer`, `MAIN_UMFUTURE` /
/// `UMFUTURE_MAIN`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// RFC 3339 time.
    pub at: String,
    pub from: Wallet,
    pub to: Wallet,
    pub asset: String,
    pub amount: Decimal,
}

/// Default liquidation clearance fee rate.
pub const LIQUIDATION_FEE: Decimal = dec!(0.0125);

fn default_seed() -> u64 {
    42
}

fn is_l1(kind: &BookKind) -> bool {
    *kind == BookKind::L1
}

impl VenueSpec {
    /// A venue with default costs.
    #[must_use]
    pub fn new(kind: VenueKind, starting_balances: BTreeMap<String, Decimal>) -> Self {
        Self {
            kind,
            starting_balances,
            leverage: None,
            maker_fee: None,
            taker_fee: None,
            spot_maker_fee: None,
            spot_taker_fee: None,
            prob_slippage: 0.0,
            seed: default_seed(),
            latency_ms: 0,
            book_type: BookKind::L1,
            fill: FillTiming::Close,
            spot_balances: BTreeMap::new(),
            margin_mode: MarginMode::Cross,
            liquidation_fee: None,
            brackets: None,
            unknown_brackets: UnknownBrackets::Error,
            transfers: Vec::new(),
        }
    }

    /// The (spot, futures) wallets' starting balances.
    #[must_use]
    pub fn wallets(&self) -> (BTreeMap<String, Decimal>, BTreeMap<String, Decimal>) {
        match self.kind {
            VenueKind::Spot => (self.starting_balances.clone(), BTreeMap::new()),
            VenueKind::Usdm => (self.spot_balances.clone(), self.starting_balances.clone()),
        }
    }

    /// Checks what the venue kind allows.
    ///
    /// # Errors
    /// Wallet keys on a spot venue, a transfer between the same wallet or of a non-positive
    /// amount, a bad transfer time.
    pub fn validate(&self) -> Result<()> {
        if self.kind == VenueKind::Spot {
            if !self.spot_balances.is_empty() {
                return Err(Error::spec(
                    "venue.spot_balances",
                    "only for usdm: a spot venue's wallet is starting_balances",
                ));
            }
            if !self.transfers.is_empty() {
                return Err(Error::spec("venue.transfers", "only for usdm: a spot venue has no futures wallet"));
            }
        }
        for (k, t) in self.transfers.iter().enumerate() {
            let key = format!("venue.transfers[{k}]");
            if t.from == t.to {
                return Err(Error::spec(key, format!("from and to are both the {} wallet", t.from.name())));
            }
            if t.amount <= Decimal::ZERO {
                return Err(Error::spec(key, format!("amount {} is not positive", t.amount)));
            }
        }
        self.transfer_times().map(|_| ())
    }

    /// The transfers with their times (ns), in time order.
    ///
    /// # Errors
    /// A bad time (see [`Self::validate`]).
    pub fn transfer_times(&self) -> Result<Vec<(u64, Transfer)>> {
        let mut v = self
            .transfers
            .iter()
            .enumerate()
            .map(|(k, t)| {
                let ns =
                    data::rfc3339_to_ns("at", &t.at).map_err(|e| Error::spec(format!("venue.transfers[{k}]"), e))?;
                Ok((ns.as_u64(), t.clone()))
            })
            .collect::<Result<Vec<_>>>()?;
        v.sort_by_key(|x| x.0);
        Ok(v)
    }

    /// Effective (maker, taker) fee rates of the venue's own instruments (spot pairs on a
    /// spot venue, perpetuals on a USD-M venue).
    #[must_use]
    pub fn fees(&self) -> (Decimal, Decimal) {
        let (m, t) = match self.kind {
            VenueKind::Spot => (dec!(0.001), dec!(0.001)),
            VenueKind::Usdm => (dec!(0.0002), dec!(0.0005)),
        };
        (self.maker_fee.unwrap_or(m), self.taker_fee.unwrap_or(t))
    }

    /// Effective (maker, taker) fee rates of a spot pair on this venue.
    #[must_use]
    pub fn spot_fees(&self) -> (Decimal, Decimal) {
        match self.kind {
            VenueKind::Spot => self.fees(),
            VenueKind::Usdm => (self.spot_maker_fee.unwrap_or(dec!(0.001)), self.spot_taker_fee.unwrap_or(dec!(0.001))),
        }
    }

    /// The instrument with this venue's fees.
    ///
    /// # Errors
    /// An instrument kind other than spot pair / perpetual, or a perpetual on a spot venue.
    pub fn apply_fees(&self, inst: InstrumentAny) -> Result<InstrumentAny> {
        Ok(match inst {
            InstrumentAny::CurrencyPair(mut i) => {
                (i.maker_fee, i.taker_fee) = self.spot_fees();
                InstrumentAny::CurrencyPair(i)
            }
            InstrumentAny::CryptoPerpetual(mut i) => {
                let (maker, taker) = self.fees();
                if self.kind != VenueKind::Usdm {
                    return Err(Error::spec("venue.kind", format!("{} is a perpetual: venue kind must be usdm", i.id)));
                }
                i.maker_fee = maker;
                i.taker_fee = taker;
                InstrumentAny::CryptoPerpetual(i)
            }
            other => {
                let id = nautilus_model::instruments::Instrument::id(&other);
                return Err(Error::spec("instruments", format!("unsupported instrument kind for {id}")));
            }
        })
    }

    /// The nautilus venue config.
    ///
    /// # Errors
    /// Invalid `prob_slippage`, an unknown currency code in `starting_balances`.
    pub fn to_config(&self) -> Result<SimulatedVenueConfig> {
        // One nautilus account per venue: a usdm account holds the USDT of both wallets.
        let mut engine_balances = self.starting_balances.clone();
        if self.kind == VenueKind::Usdm
            && let Some(usdt) = self.spot_balances.get("USDT")
        {
            *engine_balances.entry("USDT".into()).or_default() += *usdt;
        }
        let balances = engine_balances
            .iter()
            .map(|(c, a)| {
                Money::from_decimal(*a, Currency::get_or_create_crypto(c.as_str()))
                    .map_err(|e| Error::spec(format!("venue.starting_balances.{c}"), e))
            })
            .collect::<Result<Vec<Money>>>()?;
        let fill_model = FillModelAny::Default(
            DefaultFillModel::new(1.0, self.prob_slippage, Some(self.seed))
                .map_err(|e| Error::spec("venue.prob_slippage", e))?,
        );
        let latency = (self.latency_ms > 0).then(|| {
            let ns = UnixNanos::from(self.latency_ms * 1_000_000);
            Box::new(StaticLatencyModel::new(ns, UnixNanos::default(), UnixNanos::default(), UnixNanos::default()))
                as Box<dyn nautilus_execution::models::latency::LatencyModel>
        });
        let venue = Venue::new(VENUE);
        let cfg = match self.kind {
            VenueKind::Spot => SimulatedVenueConfig::builder()
                .venue(venue)
                .oms_type(OmsType::Netting)
                .account_type(AccountType::Cash)
                .book_type(self.book_type.book_type())
                .starting_balances(balances)
                .fill_model(fill_model)
                .maybe_latency_model(latency)
                .build(),
            VenueKind::Usdm => SimulatedVenueConfig::builder()
                .venue(venue)
                .oms_type(OmsType::Netting)
                .account_type(AccountType::Margin)
                .book_type(self.book_type.book_type())
                .starting_balances(balances)
                .base_currency(Currency::get_or_create_crypto("USDT"))
                .default_leverage(self.leverage.unwrap_or(Decimal::ONE))
                .margin_model(MarginModelAny::Standard(StandardMarginModel))
                .fill_model(fill_model)
                .maybe_latency_model(latency)
                .build(),
        };
        Ok(cfg)
    }
}
