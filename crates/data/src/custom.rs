//! Custom data types for Binance futures statistics (open interest, long/short ratios, taker
//! volume) and the funding settlement mark price, defined with nautilus' `#[custom_data]` macro
//! so they go through the engine (`Data::Custom`) and the Parquet catalog.
//!
//! Statistics are `f64`: they are for signals, never prices or quantities that orders or PnL are
//! computed from, and `f64` (or text) is what the macro's Arrow encoding supports. The settlement
//! mark price is money, so it is kept as its exact decimal text. Call [`register_custom_data`]
//! once before the catalog reads or writes any of them.

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

into_custom!(OpenInterest, LongShortRatio, TakerBuySellVolume, FundingMark);

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
}
