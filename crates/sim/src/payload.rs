//! REST payloads from the model (to be written).

use binance::Endpoint;

use crate::{
    model::Model,
    query::{ApiError, Query},
};

/// The JSON body answering `ep` with `q` at server time `now_ms`.
///
/// # Errors
/// Binance's error for an unknown symbol or parameter combination.
pub fn respond(ep: &Endpoint, q: &Query, model: &Model, now_ms: u64) -> Result<serde_json::Value, ApiError> {
    let _ = (ep, q, model, now_ms);
    Err(ApiError::invalid_symbol())
}
