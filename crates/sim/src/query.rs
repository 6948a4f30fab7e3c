//! A validated REST request: what the model needs to answer, after the server has checked
//! every parameter against the endpoint table.

/// Binance error body `{"code": .., "msg": ..}` plus the HTTP status it travels with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {msg}")]
pub struct ApiError {
    pub status: u16,
    pub code: i32,
    pub msg: String,
}

impl ApiError {
    #[must_use]
    pub fn new(status: u16, code: i32, msg: impl Into<String>) -> Self {
        Self { status, code, msg: msg.into() }
    }

    /// `-1121 Invalid symbol.` (HTTP 400), as Binance answers an unknown symbol or pair.
    #[must_use]
    pub fn invalid_symbol() -> Self {
        Self::new(400, -1121, "Invalid symbol.")
    }

    /// `-1102` mandatory parameter missing.
    #[must_use]
    pub fn missing(param: &str) -> Self {
        Self::new(400, -1102, format!("Mandatory parameter '{param}' was not sent, was empty/null, or malformed."))
    }

    /// `-1100` illegal characters.
    #[must_use]
    pub fn illegal(param: &str, legal: &str) -> Self {
        Self::new(400, -1100, format!("Illegal characters found in parameter '{param}'; legal range is '{legal}'."))
    }

    /// `-1130` a parameter value outside its allowed set or range.
    #[must_use]
    pub fn invalid_value(param: &str) -> Self {
        Self::new(400, -1130, format!("Invalid data sent for a parameter '{param}'."))
    }

    /// `-1120` unknown kline interval.
    #[must_use]
    pub fn invalid_interval() -> Self {
        Self::new(400, -1120, "Invalid interval.")
    }

    /// The wire body.
    #[must_use]
    pub fn body(&self) -> String {
        serde_json::json!({ "code": self.code, "msg": self.msg }).to_string()
    }
}

/// Parameters of one request, typed and with the table's defaults applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// Upper-case symbol, if the endpoint takes one and it was sent.
    pub symbol: Option<String>,
    /// Upper-case pair (continuous / index klines, delivery price).
    pub pair: Option<String>,
    /// Kline interval name and its length in ms.
    pub interval: Option<(String, u64)>,
    /// Statistics period name and its length in ms.
    pub period: Option<(String, u64)>,
    pub contract_type: Option<String>,
    /// Page size, the table's default applied when not sent; 0 when the endpoint has none.
    pub limit: u32,
    pub start_time: Option<u64>,
    pub end_time: Option<u64>,
    pub from_id: Option<u64>,
}
