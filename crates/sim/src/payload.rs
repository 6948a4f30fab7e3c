//! REST payloads: renders the model in Binance's exact wire shapes. Which fields appear, and in
//! which order, comes from the endpoint table (`ep.fields`), never from a spelling here.

mod futures;
mod info;
mod market;

use binance::{Endpoint, Market};
use serde_json::{Map, Value};

use crate::{
    model::{Kline, Model, fixed::fmt_fixed},
    query::{ApiError, Query},
};

/// The JSON body answering `ep` with `q` at server time `now_ms`.
///
/// # Errors
/// Binance's error for an unknown symbol or parameter combination.
pub fn respond(ep: &Endpoint, q: &Query, model: &Model, now_ms: u64) -> Result<Value, ApiError> {
    let c = Ctx { ep, q, model, now: now_ms };
    match (ep.market, ep.name) {
        (_, "ping") => Ok(Value::Object(Map::new())),
        (_, "time") => Ok(serde_json::json!({ "serverTime": now_ms })),
        (_, "exchange_info") => Ok(info::exchange_info(&c)),
        (_, "depth") => market::depth(&c),
        (_, "trades" | "historical_trades") => market::trades(&c),
        (_, "agg_trades") => market::agg_trades(&c),
        (_, "klines" | "ui_klines" | "continuous_klines" | "index_price_klines" | "mark_price_klines") => {
            market::klines(&c)
        }
        (_, "avg_price") => market::avg_price(&c),
        (_, "ticker_24hr" | "trading_day_ticker" | "ticker_24hr_price_change") => market::ticker(&c),
        (_, "ticker_price") => market::ticker_price(&c),
        (_, "book_ticker") => market::book_ticker(&c),
        (Market::UsdM, "mark_price") => futures::premium_index(&c),
        (Market::UsdM, "funding_rate_history") => futures::funding_history(&c),
        (Market::UsdM, "funding_rate_info") => Ok(info::funding_info(&c)),
        (Market::UsdM, "quarterly_contract_settlement_price") => futures::delivery_price(&c),
        (Market::UsdM, "open_interest") => futures::open_interest(&c),
        (Market::UsdM, "open_interest_hist" | "taker_long_short_ratio") => futures::statistics(&c),
        (
            Market::UsdM,
            "top_long_short_position_ratio" | "long_short_account_ratio" | "top_long_short_account_ratio",
        ) => futures::statistics(&c),
        (Market::UsdM, "index_info") => info::index_info(&c),
        (Market::UsdM, "asset_index") => info::asset_index(&c),
        (Market::UsdM, "index_price_constituents") => info::constituents(&c),
        _ => Err(ApiError::new(404, -1000, format!("Unsupported endpoint {}", ep.id()))),
    }
}

/// One request being answered.
struct Ctx<'a> {
    ep: &'a Endpoint,
    q: &'a Query,
    model: &'a Model,
    now: u64,
}

impl Ctx<'_> {
    /// The request's symbol (or pair), known to the model and listed by now (Binance answers
    /// -1121 for a symbol it has not listed yet; a delisted one keeps its history).
    fn symbol(&self) -> Result<&str, ApiError> {
        let s = self.q.symbol.as_deref().or(self.q.pair.as_deref()).ok_or_else(|| ApiError::missing("symbol"))?;
        let listed = self.model.life(s).is_some_and(|l| l.is_listed(self.now));
        if self.model.has_symbol(self.ep.market, s) && listed { Ok(s) } else { Err(ApiError::invalid_symbol()) }
    }

    fn interval(&self) -> Result<u64, ApiError> {
        self.q.interval.as_ref().map(|(_, ms)| *ms).ok_or_else(|| ApiError::missing("interval"))
    }

    /// Wire decimals of `symbol` on this endpoint's market.
    fn wire(&self, symbol: &str) -> Wire {
        Wire::new(self.model, symbol, self.ep.market)
    }

    /// Keeps exactly the documented fields of `full`, in the table's order.
    fn project(&self, full: &Map<String, Value>) -> Value {
        Value::Object(
            self.ep.fields.iter().filter_map(|f| full.get(*f).map(|v| ((*f).to_string(), v.clone()))).collect(),
        )
    }
}

/// How one symbol's integer units are written on one market: spot pads everything to 8
/// decimals; USD-M uses the contract's own precisions.
#[derive(Debug, Clone, Copy)]
pub struct Wire {
    pub price_dp: u32,
    pub qty_dp: u32,
    pub price_out: u32,
    pub qty_out: u32,
    pub quote_out: u32,
}

impl Wire {
    #[must_use]
    pub fn new(model: &Model, symbol: &str, market: Market) -> Self {
        let spec = model.spec(symbol).expect("known symbol");
        let c = if market == Market::Spot { &spec.spot } else { &spec.usdm };
        let (p, q) = (c.price_decimals, c.qty_decimals);
        match market {
            Market::Spot => Self { price_dp: p, qty_dp: q, price_out: 8, qty_out: 8, quote_out: 8 },
            Market::UsdM => Self { price_dp: p, qty_dp: q, price_out: p, qty_out: q, quote_out: p + q },
        }
    }

    /// 1e-8 index/mark prices.
    pub const E8: Wire = Wire { price_dp: 8, qty_dp: 0, price_out: 8, qty_out: 0, quote_out: 0 };

    #[must_use]
    pub fn price(&self, v: u64) -> Value {
        Value::String(fmt_fixed(i128::from(v), self.price_dp, self.price_out))
    }

    #[must_use]
    pub fn qty(&self, v: u128) -> Value {
        Value::String(fmt_fixed(v as i128, self.qty_dp, self.qty_out))
    }

    #[must_use]
    pub fn quote(&self, v: u128) -> Value {
        Value::String(fmt_fixed(v as i128, self.price_dp + self.qty_dp, self.quote_out))
    }

    /// Binance's 12-column kline row (sampled series have volume columns `"0"`).
    #[must_use]
    pub fn kline_row(&self, k: &Kline) -> Value {
        let a = &k.agg;
        serde_json::json!([
            k.open_time,
            self.price(a.open),
            self.price(a.high),
            self.price(a.low),
            self.price(a.close),
            self.qty(a.volume),
            k.close_time,
            self.quote(a.quote),
            a.count,
            self.qty(a.taker_base),
            self.quote(a.taker_quote),
            "0"
        ])
    }
}

/// The map inside a `json!({..})` literal.
fn market_obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
