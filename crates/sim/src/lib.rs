//! alphalab's offline Binance: a seeded market model served over Binance's wire formats.

pub mod events;
pub mod model;
pub mod payload;
pub mod query;
