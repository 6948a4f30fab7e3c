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
//! - One venue per run, `BINANCE` (alphalab's instrument ids all carry it, as NautilusTrader's
//!   Binance adapter does): a run that trades both spot pairs and perpetuals (basis, funding
//!   carry) uses `usdm`, one USDT margin account holding both legs; the spot pairs then keep
//!   spot fees (`spot_maker_fee` / `spot_taker_fee`, default 0.1 %) but are margin-traded
//!   (shorts allowed, as with Binance's cross-margin spot).

use std::collections::BTreeMap;

use nautilus_backtest::config::SimulatedVenueConfig;
use nautilus_core::UnixNanos;
use nautilus_execution::models::{
    fill::{DefaultFillModel, FillModelAny},
    latency::StaticLatencyModel,
};
use nautilus_model::{
    accounts::margin_model::{MarginModelAny, StandardMarginModel},
    enums::{AccountType, BookType, OmsType},
    identifiers::Venue,
    instruments::InstrumentAny,
    types::{Currency, Money},
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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
}

fn default_seed() -> u64 {
    42
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
        }
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
        let balances = self
            .starting_balances
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
                .book_type(BookType::L1_MBP)
                .starting_balances(balances)
                .fill_model(fill_model)
                .maybe_latency_model(latency)
                .build(),
            VenueKind::Usdm => SimulatedVenueConfig::builder()
                .venue(venue)
                .oms_type(OmsType::Netting)
                .account_type(AccountType::Margin)
                .book_type(BookType::L1_MBP)
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
