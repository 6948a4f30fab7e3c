//! Custom data types for Binance futures statistics (open interest, long/short ratios, taker
//! volume), the funding settlement mark price, and what recorded streams carry beyond
//! NautilusTrader's types (liquidation orders, the predicted funding rate, and the holes of a
//! recording), defined with nautilus' `#[custom_data]` macro so they go through the engine
//! (`Data::Custom`) and the Parquet catalog.
//!
//! Statistics are `f64`: they are for signals, never prices or quantities that orders or PnL are
//! computed from, and `f64` (or text) is what the macro's Arrow encoding supports. Money (the
//! settlement mark price, liquidation prices and sizes, rates) is kept as its exact decimal
//! text. Call [`register_custom_data`] once before the catalog reads or writes any of them.

use std::sync::Arc;

use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{CustomData, DataType},
    identifiers::InstrumentId,
};
use nautilus_persistence_macros::custom_data;

/// `/futures/data/openInterestHist` / archive `metrics`: open interest summed over the period.
#[custom_data]
pub struct OpenInterest {
    pub instrument_id: InstrumentId,
    /// Base-asset units (`sumOpenInterest`).
    pub open_interest: f64,
    /// Quote (USDT) value (`sumOpenInterestValue`).
    pub open_interest_value: f64,
    pub ts_event: UnixNanos,
    pub ts_init: UnixNanos,
}

/// One of Binance's three long/short ratios; `kind` is a [`RatioKind`] string.
#[custom_data]
pub struct LongShortRatio {
    pub instrument_id: InstrumentId,
    /// `"top_position"`, `"top_account"` or `"global_account"` ([`RatioKind::as_str`]).
    pub kind: String,
    pub long_short_ratio: f64,
    /// Share of longs (accounts or position size) in 0..1.
    pub long_account: f64,
    /// Share of shorts in 0..1.
    pub short_account: f64,
    pub ts_event: UnixNanos,
    pub ts_init: UnixNanos,
}

/// `/futures/data/takerlongshortRatio` / archive `metrics`: taker buy vs sell volume.
#[custom_data]
pub struct TakerBuySellVolume {
    pub instrument_id: InstrumentId,
    pub buy_sell_ratio: f64,
    /// Taker buy volume in base units (NaN when the source has only the ratio).
    pub buy_vol: f64,
    /// Taker sell volume in base units (NaN when the source has only the ratio).
    pub sell_vol: f64,
    pub ts_event: UnixNanos,
    pub ts_init: UnixNanos,
}

/// `/fapi/v1/fundingRate` `markPrice`: the mark price Binance settled a funding payment at
/// (0.57's `FundingRateUpdate` has no field for it). Stamped at the settlement time.
#[custom_data]
pub struct FundingMark {
    pub instrument_id: InstrumentId,
    /// Exact decimal text, as Binance sent it.
    pub mark_price: String,
    pub ts_event: UnixNanos,
    pub ts_init: UnixNanos,
}

/// USD-M `@forceOrder`: one liquidation order, as Binance publishes it (at most the latest
/// one per symbol per second). Decimals are the exact wire text.
#[custom_data]
pub struct Liquidation {
    pub instrument_id: InstrumentId,
    /// `"BUY"` (a short was liquidated) or `"SELL"` (a long was).
    pub side: String,
    /// Order type (`"LIMIT"`).
    pub order_type: String,
    /// Time in force (`"IOC"`).
    pub time_in_force: String,
    /// Original quantity (`q`).
    pub quantity: String,
    /// Order price (`p`).
    pub price: String,
    /// Average fill price (`ap`).
    pub average_price: String,
    /// Order status (`"FILLED"`, ...).
    pub status: String,
    /// Last filled quantity (`l`).
    pub last_filled_quantity: String,
    /// Accumulated filled quantity (`z`).
    pub filled_quantity: String,
    /// Trade time `T`.
    pub ts_event: UnixNanos,
    /// Receive time.
    pub ts_init: UnixNanos,
}

/// USD-M `@markPrice`: the funding rate Binance currently predicts for the next settlement (`r`)
/// and that settlement's time (`T`). Not a settlement: the rates actually settled are the
/// `fundingRate` series (`FundingRateUpdate`), which the backtest's funding ledger applies.
#[custom_data]
pub struct FundingEstimate {
    pub instrument_id: InstrumentId,
    /// Exact decimal text (`r`).
    pub rate: String,
    /// Next funding time (`T`), Unix ns.
    pub next_funding_ns: u64,
    /// Event time `E`.
    pub ts_event: UnixNanos,
    /// Receive time.
    pub ts_init: UnixNanos,
}

/// A stretch of a recording without (valid) data for an instrument: a reconnect
/// (`kind = "connection"`: nothing received on the streams listed) or an order book out of sync
/// (`kind = "depth"`: from the last diff applied to the resynchronisation, or the file's end).
#[custom_data]
pub struct StreamGap {
    pub instrument_id: InstrumentId,
    /// `"connection"` or `"depth"`.
    pub kind: String,
    /// Stream names, comma-separated.
    pub streams: String,
    pub reason: String,
    /// Start of the hole, Unix ns.
    pub from_ns: u64,
    /// End of the hole, Unix ns.
    pub to_ns: u64,
    /// `from_ns`.
    pub ts_event: UnixNanos,
    /// When the hole was known to be over (`to_ns` for a connection gap; the resynchronisation
    /// line for a depth gap).
    pub ts_init: UnixNanos,
}

/// Which Binance long/short ratio a [`LongShortRatio`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RatioKind {
    /// `/futures/data/topLongShortPositionRatio`: top traders, by position size.
    TopPosition,
    /// `/futures/data/topLongShortAccountRatio`: top traders, by account count.
    TopAccount,
    /// `/futures/data/globalLongShortAccountRatio`: all traders, by account count.
    GlobalAccount,
}

impl RatioKind {
    pub const ALL: [RatioKind; 3] = [RatioKind::TopPosition, RatioKind::TopAccount, RatioKind::GlobalAccount];

    /// The `kind` string stored in [`LongShortRatio`].
    ///
    /// # Errors
    /// None: infallible.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            RatioKind::TopPosition => "top_position",
            RatioKind::TopAccount => "top_account",
            RatioKind::GlobalAccount => "global_account",
        }
    }

    /// The REST path serving this ratio.
    ///
    /// # Errors
    /// None: infallible.
    #[must_use]
    pub const fn path(self) -> &'static str {
        match self {
            RatioKind::TopPosition => "/futures/data/topLongShortPositionRatio",
            RatioKind::TopAccount => "/futures/data/topLongShortAccountRatio",
            RatioKind::GlobalAccount => "/futures/data/globalLongShortAccountRatio",
        }
    }
}

macro_rules! into_custom {
    ($($t:ident),*) => {$(
        impl $t {
            /// Wraps the value as [`CustomData`] whose identifier is the instrument id
            /// (catalog path `custom/<type>/<instrument id>/`).
            ///
            /// # Errors
            /// None: infallible.
            #[must_use]
            pub fn into_custom_data(self) -> CustomData {
                let data_type = DataType::new(stringify!($t), None, Some(self.instrument_id.to_string()));
                CustomData::new(Arc::new(self), data_type)
            }
        }
    )*};
}

into_custom!(OpenInterest, LongShortRatio, TakerBuySellVolume, FundingMark, Liquidation, FundingEstimate, StreamGap);

/// Registers the Arrow encoders/decoders of every custom type here with nautilus (idempotent);
/// call once before the catalog reads or writes them.
///
/// # Errors
/// None: infallible.
pub fn register_custom_data() {
    nautilus_serialization::ensure_custom_data_registered::<OpenInterest>();
    nautilus_serialization::ensure_custom_data_registered::<LongShortRatio>();
    nautilus_serialization::ensure_custom_data_registered::<TakerBuySellVolume>();
    nautilus_serialization::ensure_custom_data_registered::<FundingMark>();
    nautilus_serialization::ensure_custom_data_registered::<Liquidation>();
    nautilus_serialization::ensure_custom_data_registered::<FundingEstimate>();
    nautilus_serialization::ensure_custom_data_registered::<StreamGap>();
}
