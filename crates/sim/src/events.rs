//! WebSocket events from the model, in the real stream payload shapes (see the wire samples):
//! the same trades, klines and books the REST payloads serve, stamped with event time `E`.

use binance::{
    Market,
    stream::{Stream, StreamKind},
};
use serde_json::{Value, json};

use crate::{
    model::{
        Model, Series, Venue,
        fixed::{fmt_fixed, fmt_ratio},
    },
    payload::Wire,
};

/// Events of `stream` with event time in `[from_ms, to_ms)`, ascending by `E`: only while the
/// symbol trades (a delisted symbol's streams fall silent).
#[must_use]
pub fn events(market: Market, stream: &Stream, from_ms: u64, to_ms: u64, model: &Model) -> Vec<(u64, Value)> {
    let sym = stream.symbol.as_str();
    let Some(life) = model.life(sym) else { return Vec::new() };
    let hs = model.config().history_start_ms.max(life.listed_ms);
    let to_ms = to_ms.min(life.end());
    if !model.has_symbol(market, sym) || !stream.kind.available_on(market) || to_ms <= hs {
        return Vec::new();
    }
    let from_ms = from_ms.max(hs + 1);
    let w = Wire::new(model, sym, market);
    let venue = Venue::of(market);
    let spot = market == Market::Spot;
    let every = |step: u64| (from_ms.div_ceil(step) * step..to_ms).step_by(step as usize);
    match &stream.kind {
        StreamKind::Trade => model
            .trades(sym, venue, from_ms - 1, to_ms - 1)
            .into_iter()
            .map(|t| {
                let (p, q) = (w.price(t.price), w.qty(t.qty.into()));
                let v = if spot {
                    json!({ "e": "trade", "E": t.time + 1, "s": sym, "t": t.id, "p": p, "q": q,
                            "T": t.time, "m": t.is_buyer_maker, "M": true })
                } else {
                    json!({ "e": "trade", "E": t.time + 1, "T": t.time, "s": sym, "t": t.id, "p": p, "q": q,
                            "X": "MARKET", "m": t.is_buyer_maker })
                };
                (t.time + 1, v)
            })
            .collect(),
        StreamKind::AggTrade => model
            .agg_trades(sym, venue, from_ms - 1, to_ms - 1)
            .into_iter()
            .map(|a| {
                let (p, q) = (w.price(a.price), w.qty(a.qty.into()));
                let v = if spot {
                    json!({ "e": "aggTrade", "E": a.time + 1, "s": sym, "a": a.id, "p": p, "q": q, "f": a.first_id,
                            "l": a.last_id, "T": a.time, "m": a.is_buyer_maker, "M": true })
                } else {
                    json!({ "e": "aggTrade", "E": a.time + 1, "s": sym, "a": a.id, "p": p, "q": q.clone(), "nq": q,
                            "f": a.first_id, "l": a.last_id, "T": a.time, "m": a.is_buyer_maker, "st": 1 })
                };
                (a.time + 1, v)
            })
            .collect(),
        StreamKind::Kline(name) => {
            let Some(iv) = binance::endpoint::interval_ms(name) else { return Vec::new() };
            let Some(s) = model.index_of(sym) else { return Vec::new() };
            every(1000)
                .map(|e| {
                    let open = crate::model::series::kline_open(e - 1, iv);
                    let k = model.kline_at(s, Series::Trades(venue), open, iv, e);
                    let a = &k.agg;
                    let (f, l) = if a.is_empty() { (-1, -1) } else { (a.first_id as i64, a.last_id as i64) };
                    let v = json!({ "e": "kline", "E": e, "s": sym, "k": {
                        "t": k.open_time, "T": k.close_time, "s": sym, "i": name, "f": f, "L": l,
                        "o": w.price(a.open), "c": w.price(a.close), "h": w.price(a.high), "l": w.price(a.low),
                        "v": w.qty(a.volume), "n": a.count, "x": e == open + iv, "q": w.quote(a.quote),
                        "V": w.qty(a.taker_base), "Q": w.quote(a.taker_quote), "B": "0" } });
                    (e, v)
                })
                .collect()
        }
        StreamKind::BookTicker => every(100)
            .filter_map(|e| {
                let d = model.depth(sym, venue, e, 1)?;
                let ((bp, bq), (ap, aq)) = (*d.bids.first()?, *d.asks.first()?);
                let (b, bq, a, aq) = (w.price(bp), w.qty(bq.into()), w.price(ap), w.qty(aq.into()));
                let v = if spot {
                    json!({ "u": d.update_id, "s": sym, "b": b, "B": bq, "a": a, "A": aq })
                } else {
                    // Field order as in the 2024-08-08 USD-M capture (shared/data/recordings/usdm).
                    json!({ "e": "bookTicker", "u": d.update_id, "s": sym, "b": b, "B": bq, "a": a, "A": aq,
                            "T": e - 1, "E": e })
                };
                Some((e, v))
            })
            .collect(),
        StreamKind::Depth100ms => every(100)
            .filter_map(|e| {
                // Every level of the book that changed: applied to the REST book of the previous
                // update id, the diff gives the REST book of this one (see `model::book`).
                let (old, new) = (model.depth(sym, venue, e - 100, usize::MAX)?, model.depth(sym, venue, e, usize::MAX)?);
                let (b, a) = (diff(&old.bids, &new.bids, &w), diff(&old.asks, &new.asks, &w));
                let v = if spot {
                    json!({ "e": "depthUpdate", "E": e, "s": sym, "U": old.update_id + 1, "u": new.update_id, "b": b, "a": a })
                } else {
                    json!({ "e": "depthUpdate", "E": e, "T": e - 1, "s": sym,
                            "U": old.update_id + 1, "u": new.update_id, "pu": old.update_id, "b": b, "a": a })
                };
                Some((e, v))
            })
            .collect(),
        StreamKind::MarkPrice1s => every(1000)
            .filter_map(|e| {
                let (index, mark) = model.index_mark_e8(sym, e)?;
                let window = e - e % crate::model::FUNDING_MS;
                let rate = model.funding_over(sym, window, e)?;
                let e8 = |v: i128| fmt_fixed(v, 8, 8);
                let v = json!({ "e": "markPriceUpdate", "E": e, "s": sym, "p": e8(mark.into()), "i": e8(index.into()),
                                "P": e8(index.into()), "r": e8(rate.into()), "ap": e8(mark.into()),
                                "T": window + crate::model::FUNDING_MS, "st": 1 });
                Some((e, v))
            })
            .collect(),
        StreamKind::ForceOrder => every(1000).filter_map(|e| force_order(model, sym, venue, e, &w)).collect(),
        StreamKind::RollingTicker(win) => every(1000)
            .filter_map(|e| {
                let from = e.saturating_sub(win.millis());
                let a = model.range_stats(sym, Series::Trades(venue), from, e)?;
                let change = i128::from(a.close) - i128::from(a.open);
                let v = json!({ "e": format!("{win}Ticker"), "E": e, "s": sym,
                    "p": fmt_fixed(change, w.price_dp, w.price_out), "P": fmt_ratio(change * 100, a.open.into(), 3),
                    "o": w.price(a.open), "h": w.price(a.high), "l": w.price(a.low), "c": w.price(a.close),
                    "w": fmt_ratio(a.quote as i128, a.volume as i128 * 10i128.pow(w.price_dp), w.price_out),
                    "v": w.qty(a.volume), "q": w.quote(a.quote), "O": from, "C": e,
                    "F": a.first_id, "L": a.last_id, "n": a.count });
                Some((e, v))
            })
            .collect(),
    }
}

/// Levels of `new` whose quantity changed, plus levels of `old` gone from `new` (quantity 0),
/// ascending by price.
fn diff(old: &[(u64, u64)], new: &[(u64, u64)], w: &Wire) -> Vec<Value> {
    crate::model::book::diff_side(old, new).into_iter().map(|(p, q)| json!([w.price(p), w.qty(q.into())])).collect()
}

/// The liquidation order of second `e`, if one happened: about one every 8 seconds, a forced
/// SELL (a long liquidated) at or below the best bid or a forced BUY at or above the best ask,
/// filled at once (`X: FILLED`), in the shape of Binance's `forceOrder` event.
fn force_order(model: &Model, sym: &str, venue: Venue, e: u64, w: &Wire) -> Option<(u64, Value)> {
    use crate::model::rng::{hash, str_key};
    let r = hash(&[model.config().seed, str_key(sym), e / 1000, 12]);
    if !r.is_multiple_of(8) {
        return None;
    }
    let c = &model.spec(sym)?.usdm;
    let d = model.depth(sym, venue, e, 1)?;
    let sell = (r >> 8) & 1 == 1;
    let slip = c.tick * ((r >> 32) % 5);
    let price = if sell { d.bids.first()?.0.checked_sub(slip)? } else { d.asks.first()?.0 + slip };
    let qty = w.qty((c.mean_qty * (1 + (r >> 16) % 20)).into());
    let v = json!({ "e": "forceOrder", "E": e, "o": {
        "s": sym, "S": if sell { "SELL" } else { "BUY" }, "o": "LIMIT", "f": "IOC", "q": qty.clone(),
        "p": w.price(price), "ap": w.price(price), "X": "FILLED", "l": qty.clone(), "z": qty, "T": e - 1 } });
    Some((e, v))
}
