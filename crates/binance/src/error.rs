//! Errors of the Binance client, keeping Binance's own code and message.

/// What went wrong talking to Binance (or the simulator).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binance answered with an error body `{"code", "msg"}`.
    #[error("{endpoint}: HTTP {status}, Binance code {code}: {msg}")]
    Api { endpoint: String, status: u16, code: i64, msg: String },
    /// A non-success status without a Binance error body.
    #[error("{endpoint}: HTTP {status}: {body}")]
    Status { endpoint: String, status: u16, body: String },
    /// HTTP 418: this IP is banned; the market is stopped until `retry_after_secs`.
    #[error("{market}: IP banned by Binance (HTTP 418), retry after {retry_after_secs} s")]
    Banned { market: crate::Market, retry_after_secs: u64 },
    #[error("{endpoint}: timed out after {secs:.1} s")]
    Timeout { endpoint: String, secs: f64 },
    #[error("{endpoint}: transport error: {source}")]
    Transport {
        endpoint: String,
        #[source]
        source: reqwest::Error,
    },
    /// A 2xx body that is not valid JSON (truncated or malformed).
    #[error("{endpoint}: malformed JSON body ({len} bytes): {source}")]
    Decode {
        endpoint: String,
        len: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("websocket {url}: {msg}")]
    WebSocket { url: String, msg: String },
    #[error("invalid request for {endpoint}: {msg}")]
    InvalidRequest { endpoint: String, msg: String },
}

pub type Result<T> = std::result::Result<T, Error>;
