//! Answering REST requests from replayed rows, with the model's paging rules and wire shapes.

use std::{borrow::Cow, cmp::Ordering};

use binance::Endpoint;
use serde_json::{Map, Value, json};

use super::{AggTradeRow, KlineRow, KlineSet, Replay, TradeRow};
use crate::{
    model::series::kline_open,
    query::{ApiError, Query},
};

impl Replay {
    /// The body answering `ep` with `q` at server time `now_ms` when the request's (market,
    /// symbol, kind) is replayed; `None` when the model should answer. Only rows before `now_ms`
    /// are visible (a kline by its open time).
    #[must_use]
    pub fn respond(&self, ep: &Endpoint, q: &Query, now_ms: u64) -> Option<Result<Value, ApiError>> {
        let key = (ep.market, q.symbol.clone()?);
        match ep.name {
            "klines" | "ui_klines" => self.klines.get(&key).map(|sets| klines(sets, q, now_ms)),
            "agg_trades" => self.agg_trades.get(&key).map(|rows| agg_trades(ep, rows, q, now_ms)),
            "trades" | "historical_trades" => self.trades.get(&key).map(|rows| {
                let from = if ep.name == "historical_trades" { q.from_id } else { None };
                trades(ep, rows, from, q.limit, now_ms)
            }),
            _ => None,
        }
    }
}

/// Binance's time paging over rows sorted by a non-decreasing `key` (bounds inclusive):
/// `start` ⇒ the first `limit` at or after it (up to `end`); else `end` ⇒ the last `limit` at or
/// before it; neither ⇒ the last `limit`.
fn time_page<T>(rows: &[T], key: impl Fn(&T) -> u64, start: Option<u64>, end: Option<u64>, limit: u32) -> &[T] {
    let lo = start.map_or(0, |s| rows.partition_point(|r| key(r) < s));
    let hi = end.map_or(rows.len(), |e| rows.partition_point(|r| key(r) <= e));
    if lo >= hi {
        return &[];
    }
    let n = limit as usize;
    if start.is_some() { &rows[lo..hi.min(lo + n)] } else { &rows[hi.saturating_sub(n).max(lo)..hi] }
}

/// `fromId` paging over rows sorted by id: the first `limit` with id `>= from`.
fn id_page<T>(rows: &[T], id: impl Fn(&T) -> u64, from: u64, limit: u32) -> &[T] {
    let lo = rows.partition_point(|r| id(r) < from);
    &rows[lo..rows.len().min(lo + limit as usize)]
}

/// Keeps exactly the endpoint's documented fields, in the table's order (as the model does).
fn project(ep: &Endpoint, full: &Value) -> Value {
    let Value::Object(m) = full else { return full.clone() };
    Value::Object(
        ep.fields.iter().filter_map(|f| m.get(*f).map(|v| ((*f).to_string(), v.clone()))).collect::<Map<_, _>>(),
    )
}

fn klines(sets: &[KlineSet], q: &Query, now: u64) -> Result<Value, ApiError> {
    let ms = q.interval.as_ref().map(|(_, ms)| *ms).ok_or_else(|| ApiError::missing("interval"))?;
    let rows: Cow<'_, [KlineRow]> = if let Some(s) = sets.iter().find(|s| s.interval_ms == ms) {
        Cow::Borrowed(&s.rows)
    } else if let Some(s) = sets.iter().filter(|s| ms % s.interval_ms == 0).max_by_key(|s| s.interval_ms) {
        Cow::Owned(aggregate(&s.rows, ms))
    } else {
        return Err(ApiError::invalid_interval());
    };
    let visible = &rows[..rows.partition_point(|k| k.open_time < now)];
    let page = time_page(visible, |k| k.open_time, q.start_time, q.end_time, q.limit);
    Ok(page.iter().map(kline_row).collect())
}

fn kline_row(k: &KlineRow) -> Value {
    json!([
        k.open_time,
        &*k.open,
        &*k.high,
        &*k.low,
        &*k.close,
        &*k.volume,
        k.close_time,
        &*k.quote_volume,
        k.count,
        &*k.taker_buy_volume,
        &*k.taker_buy_quote_volume,
        &*k.ignore
    ])
}

fn agg_trades(ep: &Endpoint, rows: &[AggTradeRow], q: &Query, now: u64) -> Result<Value, ApiError> {
    if let (None, Some(s), Some(e)) = (q.from_id, q.start_time, q.end_time)
        && e.saturating_sub(s) >= 3_600_000
    {
        return Err(ApiError::new(400, -1127, "More than 1 hours between startTime and endTime."));
    }
    let visible = &rows[..rows.partition_point(|a| a.time < now)];
    let page = match q.from_id {
        Some(from) => id_page(visible, |a| a.id, from, q.limit),
        None => time_page(visible, |a| a.time, q.start_time, q.end_time, q.limit),
    };
    Ok(page
        .iter()
        .map(|a| {
            let full = json!({
                "a": a.id, "p": &*a.price, "q": &*a.qty, "f": a.first_id, "l": a.last_id, "T": a.time,
                "m": a.is_buyer_maker, "M": a.is_best_match.unwrap_or(true),
            });
            project(ep, &full)
        })
        .collect())
}

fn trades(ep: &Endpoint, rows: &[TradeRow], from: Option<u64>, limit: u32, now: u64) -> Result<Value, ApiError> {
    let visible = &rows[..rows.partition_point(|t| t.time < now)];
    let page = match from {
        Some(from) => id_page(visible, |t| t.id, from, limit),
        None => &visible[visible.len().saturating_sub(limit as usize)..],
    };
    Ok(page
        .iter()
        .map(|t| {
            let full = json!({
                "id": t.id, "price": &*t.price, "qty": &*t.qty, "quoteQty": &*t.quote_qty, "time": t.time,
                "isBuyerMaker": t.is_buyer_maker, "isBestMatch": t.is_best_match.unwrap_or(true),
            });
            project(ep, &full)
        })
        .collect())
}

/// Rolls klines up into `interval` (a multiple of theirs), aligned as the model aligns them:
/// open/close of the first/last row, extreme high/low, exact decimal sums of the volumes.
fn aggregate(rows: &[KlineRow], interval: u64) -> Vec<KlineRow> {
    let mut out: Vec<KlineRow> = Vec::new();
    let mut sums = [Dec::ZERO; 4];
    for r in rows {
        let open = kline_open(r.open_time, interval);
        let vols = [&r.volume, &r.quote_volume, &r.taker_buy_volume, &r.taker_buy_quote_volume].map(|s| Dec::parse(s));
        match out.last_mut() {
            Some(k) if k.open_time == open => {
                if Dec::parse(&r.high).cmp(&Dec::parse(&k.high)) == Ordering::Greater {
                    k.high = r.high.clone();
                }
                if Dec::parse(&r.low).cmp(&Dec::parse(&k.low)) == Ordering::Less {
                    k.low = r.low.clone();
                }
                k.close = r.close.clone();
                k.count += r.count;
                sums.iter_mut().zip(vols).for_each(|(s, v)| *s = s.add(v));
            }
            _ => {
                flush(out.last_mut(), &sums);
                sums = vols;
                out.push(KlineRow { open_time: open, close_time: open + interval - 1, ..r.clone() });
            }
        }
    }
    flush(out.last_mut(), &sums);
    out
}

fn flush(k: Option<&mut KlineRow>, sums: &[Dec; 4]) {
    if let Some(k) = k {
        [k.volume, k.quote_volume, k.taker_buy_volume, k.taker_buy_quote_volume] =
            sums.map(|d| d.to_string().into_boxed_str());
    }
}

/// An exact decimal (`mantissa / 10^scale`) for kline roll-ups; inputs are validated at load.
#[derive(Debug, Clone, Copy)]
struct Dec {
    m: i128,
    scale: u32,
}

impl Dec {
    const ZERO: Dec = Dec { m: 0, scale: 0 };

    fn parse(s: &str) -> Dec {
        let (neg, body) = s.strip_prefix('-').map_or((false, s), |b| (true, b));
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let digits = format!("{int}{frac}");
        let m = digits.parse::<i128>().unwrap_or(0);
        Dec { m: if neg { -m } else { m }, scale: frac.len() as u32 }
    }

    fn rescale(self, scale: u32) -> i128 {
        self.m * 10i128.pow(scale - self.scale)
    }

    fn add(self, o: Dec) -> Dec {
        let scale = self.scale.max(o.scale);
        Dec { m: self.rescale(scale) + o.rescale(scale), scale }
    }

    fn cmp(&self, o: &Dec) -> Ordering {
        let scale = self.scale.max(o.scale);
        self.rescale(scale).cmp(&o.rescale(scale))
    }
}

impl std::fmt::Display for Dec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.m < 0 { "-" } else { "" };
        let a = self.m.unsigned_abs();
        let p = 10u128.pow(self.scale);
        if self.scale == 0 {
            write!(f, "{sign}{a}")
        } else {
            write!(f, "{sign}{}.{:0w$}", a / p, a % p, w = self.scale as usize)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_sums_keep_the_widest_scale() {
        let s = Dec::parse("36304.20000000").add(Dec::parse("1.5")).add(Dec::parse("-0.7"));
        assert_eq!(s.to_string(), "36305.00000000");
        assert_eq!(Dec::parse("0.00002860").cmp(&Dec::parse("0.0000286")), Ordering::Equal);
        assert_eq!(Dec::ZERO.add(Dec::parse("12")).to_string(), "12");
    }

    #[test]
    fn time_page_rules() {
        let v: Vec<u64> = (0..10).map(|i| i * 10).collect();
        let k = |x: &u64| *x;
        assert_eq!(time_page(&v, k, Some(15), None, 3), &[20, 30, 40]);
        assert_eq!(time_page(&v, k, Some(15), Some(30), 5), &[20, 30]);
        assert_eq!(time_page(&v, k, None, Some(30), 2), &[20, 30]);
        assert_eq!(time_page(&v, k, None, None, 2), &[80, 90]);
        assert!(time_page(&v, k, Some(95), None, 2).is_empty());
        assert!(time_page(&v, k, Some(30), Some(25), 2).is_empty());
    }
}
