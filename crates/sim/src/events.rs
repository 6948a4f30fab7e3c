//! WebSocket events from the model (to be written).

use binance::{Market, stream::Stream};

use crate::model::Model;

/// Events of `stream` with event time in `[from_ms, to_ms)`, ascending.
#[must_use]
pub fn events(market: Market, stream: &Stream, from_ms: u64, to_ms: u64, model: &Model) -> Vec<(u64, serde_json::Value)> {
    let _ = (market, stream, from_ms, to_ms, model);
    Vec::new()
}
