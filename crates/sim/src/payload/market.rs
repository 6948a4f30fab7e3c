//! Trade-derived payloads common to both markets: depth, trades, aggTrades, klines, tickers.

use serde_json::{Value, json};

use super::{Ctx, Wire};
use crate::{
    model::{Series, Venue, fixed::fmt_ratio},
    query::ApiError,
};

const DAY: u64 = 86_400_000;

use super::market_obj as obj;

pub(super) fn depth(c: &Ctx) -> Result<Value, ApiError> {
    let sym = c.symbol()?;
    let w = c.wire(sym);
    let d =
        c.model.depth(sym, Venue::of(c.ep.market), c.now, c.q.limit as usize).ok_or_else(ApiError::invalid_symbol)?;
    let side = |v: &[(u64, u64)]| v.iter().map(|&(p, q)| json!([w.price(p), w.qty(q.into())])).collect::<Vec<_>>();
    let full = json!({
        "lastUpdateId": d.update_id, "E": c.now, "T": c.now.saturating_sub(1),
        "bids": side(&d.bids), "asks": side(&d.asks),
    });
    Ok(c.project(&obj(full)))
}

pub(super) fn trades(c: &Ctx) -> Result<Value, ApiError> {
    let sym = c.symbol()?;
    let w = c.wire(sym);
    let from = if c.ep.name == "historical_trades" { c.q.from_id } else { None };
    let rows = c.model.trade_page(sym, Venue::of(c.ep.market), from, c.q.limit, c.now);
    Ok(rows
        .iter()
        .map(|t| {
            c.project(&obj(json!({
                "id": t.id, "price": w.price(t.price), "qty": w.qty(t.qty.into()),
                "quoteQty": w.quote(u128::from(t.price) * u128::from(t.qty)), "time": t.time,
                "isBuyerMaker": t.is_buyer_maker, "isBestMatch": true,
            })))
        })
        .collect())
}

pub(super) fn agg_trades(c: &Ctx) -> Result<Value, ApiError> {
    let sym = c.symbol()?;
    let w = c.wire(sym);
    let q = c.q;
    if let (None, Some(s), Some(e)) = (q.from_id, q.start_time, q.end_time)
        && e.saturating_sub(s) >= 3_600_000
    {
        return Err(ApiError::new(400, -1127, "More than 1 hours between startTime and endTime."));
    }
    let rows = c.model.agg_page(sym, Venue::of(c.ep.market), q.from_id, q.start_time, q.end_time, q.limit, c.now);
    Ok(rows
        .iter()
        .map(|a| {
            c.project(&obj(json!({
                "a": a.id, "p": w.price(a.price), "q": w.qty(a.qty.into()), "f": a.first_id,
                "l": a.last_id, "T": a.time, "m": a.is_buyer_maker, "M": true,
            })))
        })
        .collect())
}

/// The series a kline endpoint reads.
fn kline_series(c: &Ctx) -> Result<(Series, bool), ApiError> {
    Ok(match c.ep.name {
        "index_price_klines" => (Series::Index, true),
        "mark_price_klines" => (Series::Mark, true),
        "continuous_klines" => {
            let ct = c.q.contract_type.as_deref().ok_or_else(|| ApiError::missing("contractType"))?;
            (Series::Trades(Venue::of_contract(ct).ok_or_else(|| ApiError::invalid_value("contractType"))?), false)
        }
        _ => (Series::Trades(Venue::of(c.ep.market)), false),
    })
}

pub(super) fn klines(c: &Ctx) -> Result<Value, ApiError> {
    let sym = c.symbol()?;
    let (series, sampled) = kline_series(c)?;
    let w = if sampled { Wire::E8 } else { c.wire(sym) };
    let rows = c
        .model
        .klines(sym, series, c.interval()?, c.q.start_time, c.q.end_time, c.q.limit, c.now)
        .ok_or_else(ApiError::invalid_symbol)?;
    Ok(rows.iter().map(|k| w.kline_row(k)).collect())
}

pub(super) fn avg_price(c: &Ctx) -> Result<Value, ApiError> {
    let sym = c.symbol()?;
    let w = c.wire(sym);
    let a =
        c.model.range_stats(sym, Series::Trades(Venue::Spot), c.now.saturating_sub(300_000), c.now).unwrap_or_default();
    let scale = 10u128.pow(w.price_dp);
    Ok(c.project(&obj(json!({
        "mins": 5,
        "price": fmt_ratio(a.quote as i128, (a.volume * scale) as i128, w.price_out),
        "closeTime": a.close_time,
    }))))
}

/// 24 h rolling (or trading-day) statistics of the served trades, projected on the table.
pub(super) fn ticker(c: &Ctx) -> Result<Value, ApiError> {
    let sym = c.symbol()?;
    let w = c.wire(sym);
    let venue = Venue::of(c.ep.market);
    let series = Series::Trades(venue);
    let from = if c.ep.name == "trading_day_ticker" { c.now - c.now % DAY } else { c.now.saturating_sub(DAY) };
    let a = c.model.range_stats(sym, series, from, c.now).unwrap_or_default();
    let prev = c.model.last_close_before(sym, series, from).unwrap_or(a.open);
    let book = c.model.depth(sym, venue, c.now, 1).ok_or_else(ApiError::invalid_symbol)?;
    let (bid, ask) = (book.bids.first().copied().unwrap_or_default(), book.asks.first().copied().unwrap_or_default());
    let change = i128::from(a.close) - i128::from(a.open);
    let pscale = 10i128.pow(w.price_dp);
    let full = json!({
        "symbol": sym,
        "priceChange": super::fmt_fixed(change, w.price_dp, w.price_out),
        "priceChangePercent": fmt_ratio(change * 100, i128::from(a.open), 3),
        "weightedAvgPrice": fmt_ratio(a.quote as i128, a.volume as i128 * pscale, w.price_out),
        "prevClosePrice": w.price(prev),
        "lastPrice": w.price(a.close),
        "lastQty": w.qty(a.close_qty.into()),
        "bidPrice": w.price(bid.0), "bidQty": w.qty(bid.1.into()),
        "askPrice": w.price(ask.0), "askQty": w.qty(ask.1.into()),
        "openPrice": w.price(a.open), "highPrice": w.price(a.high), "lowPrice": w.price(a.low),
        "volume": w.qty(a.volume), "quoteVolume": w.quote(a.quote),
        "openTime": from, "closeTime": c.now,
        "firstId": a.first_id, "lastId": a.last_id, "count": a.count,
    });
    Ok(c.project(&obj(full)))
}

pub(super) fn ticker_price(c: &Ctx) -> Result<Value, ApiError> {
    let sym = c.symbol()?;
    let w = c.wire(sym);
    let last = c.model.trade_page(sym, Venue::of(c.ep.market), None, 1, c.now);
    let t = last.first().ok_or_else(ApiError::invalid_symbol)?;
    Ok(c.project(&obj(json!({ "symbol": sym, "price": w.price(t.price), "time": t.time }))))
}

pub(super) fn book_ticker(c: &Ctx) -> Result<Value, ApiError> {
    let sym = c.symbol()?;
    let w = c.wire(sym);
    let d = c.model.depth(sym, Venue::of(c.ep.market), c.now, 1).ok_or_else(ApiError::invalid_symbol)?;
    // A delisted symbol's book is empty: Binance then sends zeros.
    let (b, a) = (d.bids.first().copied().unwrap_or_default(), d.asks.first().copied().unwrap_or_default());
    Ok(c.project(&obj(json!({
        "symbol": sym, "bidPrice": w.price(b.0), "bidQty": w.qty(b.1.into()),
        "askPrice": w.price(a.0), "askQty": w.qty(a.1.into()), "time": c.now,
    }))))
}
