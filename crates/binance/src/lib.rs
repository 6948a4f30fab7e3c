//! Binance's market-data surface for alphalab.
//!
//! - [`archive`]: data.binance.vision bulk files: names, zip/CSV reading, checksums, timestamps.
//! - [`endpoint`]: the 40 REST endpoints as data (paths, parameters, weights, buckets, fields).
//! - [`series`]: the one vocabulary of historical series (`klines`, `fundingRate`, ...).
//! - [`stream`]: WebSocket stream names.
//! - [`limiter`]: the per-market weight budget shared by every client behind one IP.
//! - [`rest`]: a REST client that keeps the exact wire bytes and the used-weight headers.
//! - [`ws`]: a WebSocket capture client with reconnect and resubscribe.

pub mod archive;
pub mod endpoint;
pub mod error;
pub mod limiter;
pub mod rest;
pub mod series;
pub mod stream;
pub mod ws;

pub use endpoint::{ENDPOINTS, Endpoint, Market};
pub use error::{Error, Result};
pub use series::{Series, SeriesSpec, StepKind};
