//! Errors of the Binance client, keeping Binance's own code and message.
//!
//! Every request error names the endpoint id (`futures/klines`) and, when one was sent, the
//! `symbol`, so a failed batch of 40 endpoints × N symbols says which one broke.

use std::fmt;

/// What went wrong talking to Binance (or the simulator).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binance answered with an error body `{"code", "msg"}`.
    #[error("{endpoint}{}: HTTP {status}, Binance code {code}: {msg}", Sym(symbol))]
    Api { endpoint: String, symbol: Option<String>, status: u16, code: i64, msg: String },
    /// A non-success status without a Binance error body.
    #[error("{endpoint}{}: HTTP {status}: {body}", Sym(symbol))]
    Status { endpoint: String, symbol: Option<String>, status: u16, body: String },
    /// HTTP 418: this IP is banned; the market is stopped until `retry_after_secs`.
    #[error("{market}: IP banned by Binance (HTTP 418), retry after {retry_after_secs} s")]
    Banned { market: crate::Market, retry_after_secs: u64 },
    #[error("{endpoint}{}: timed out after {secs:.1} s", Sym(symbol))]
    Timeout { endpoint: String, symbol: Option<String>, secs: f64 },
    #[error("{endpoint}{}: transport error: {source}", Sym(symbol))]
    Transport {
        endpoint: String,
        symbol: Option<String>,
        #[source]
        source: reqwest::Error,
    },
    /// A 2xx body that is not valid JSON (truncated or malformed).
    #[error("{endpoint}{}: malformed JSON body ({len} bytes): {source}", Sym(symbol))]
    Decode {
        endpoint: String,
        symbol: Option<String>,
        len: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("websocket {url}: {msg}")]
    WebSocket { url: String, msg: String },
    #[error("invalid request for {endpoint}: {msg}")]
    InvalidRequest { endpoint: String, msg: String },
    /// A `USER_DATA` endpoint was called without an API key and secret; nothing was sent.
    #[error("{endpoint}: {path} is USER_DATA: set API_KEY and API_SECRET")]
    MissingCredentials { endpoint: String, path: &'static str },
    /// A 2xx JSON body that is not the documented shape.
    #[error("{endpoint}{}: unexpected payload: {msg}", Sym(symbol))]
    Payload { endpoint: String, symbol: Option<String>, msg: String },
    /// The client could not be set up (TLS backend, mismatched limiter, ...).
    #[error("binance client setup: {0}")]
    Config(String),
}

/// Renders ` (BTCUSDT)` after the endpoint id, or nothing.
struct Sym<'a>(&'a Option<String>);

impl fmt::Display for Sym<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, " ({s})"),
            None => Ok(()),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
