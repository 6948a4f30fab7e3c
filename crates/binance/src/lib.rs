//! Binance's market-data surface for alphalab.
//!
//! - [`archive`]: data.binance.vision bulk files: names, zip/CSV reading, checksums, timestamps.
//! - [`brackets`]: USD-M leverage brackets (maintenance tiers): the signed endpoint, its fetch,
//!   shipped tables by date.
//! - [`endpoint`]: the 40 REST endpoints as data (paths, parameters, weights, buckets, fields).
//! - [`sign`]: HMAC-SHA256 signatures of `USER_DATA` requests (`timestamp`, `recvWindow`).
//! - [`series`]: the one vocabulary of historical series (`klines`, `fundingRate`, ...).
//! - [`stream`]: WebSocket stream names.
//! - [`limiter`]: the per-market weight budget shared by every client behind one IP.
//! - [`rest`]: a REST client that keeps the exact wire bytes and the used-weight headers.
//! - [`ws`]: a WebSocket capture client with reconnect and resubscribe.

pub mod archive;
pub mod brackets;
pub mod endpoint;
pub mod error;
pub mod limiter;
pub mod rest;
pub mod series;
pub mod sign;
pub mod stream;
pub mod ws;

pub use endpoint::{ENDPOINTS, Endpoint, Market};
pub use error::{Error, Result};
pub use series::{Series, SeriesSpec, StepKind};
