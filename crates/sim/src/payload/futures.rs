//! USD-M-only payloads: premium index, funding history, delivery prices, open interest and the
//! `/futures/data` statistics (kept 30 days, like Binance). Series cover the symbol's life only;
//! a delisted perpetual's premium index shows its settlement price.

use serde_json::{Value, json};

use super::Ctx;
use crate::{
    model::{
        Ratio, Series, Venue,
        fixed::{fmt_fixed, fmt_ratio},
        series::grid_page,
    },
    query::ApiError,
};

const FUNDING_MS: u64 = 8 * 3_600_000;
const KEEP_MS: u64 = 30 * 86_400_000;

fn e8(v: i128) -> Value {
    Value::String(fmt_fixed(v, 8, 8))
}

pub(super) fn premium_index(c: &Ctx) -> Result<Value, ApiError> {
    let sym = c.symbol()?;
    let m = c.model;
    if let Some((delisted, settle)) = m.settlement_e8(sym)
        && c.now >= delisted
    {
        let (p, zero) = (e8(settle.into()), e8(0));
        return Ok(c.project(&super::market_obj(json!({
            "symbol": sym, "markPrice": p, "indexPrice": p, "estimatedSettlePrice": p, "lastFundingRate": zero,
            "interestRate": zero, "nextFundingTime": 0, "time": c.now,
        }))));
    }
    let (index, mark) = m.index_mark_e8(sym, c.now).ok_or_else(ApiError::invalid_symbol)?;
    let (settle, _) = m.index_mark_e8(sym, c.now - c.now % 60_000).ok_or_else(ApiError::invalid_symbol)?;
    let window = c.now - c.now % FUNDING_MS;
    let rate = m.funding_over(sym, window, c.now.max(window + 1)).ok_or_else(ApiError::invalid_symbol)?;
    Ok(c.project(&super::market_obj(json!({
        "symbol": sym, "markPrice": e8(mark.into()), "indexPrice": e8(index.into()),
        "estimatedSettlePrice": e8(settle.into()), "lastFundingRate": e8(rate.into()),
        "interestRate": e8(crate::model::INTEREST_E8.into()), "nextFundingTime": window + FUNDING_MS, "time": c.now,
    }))))
}

pub(super) fn funding_history(c: &Ctx) -> Result<Value, ApiError> {
    let sym = c.symbol()?;
    let m = c.model;
    let life = m.life(sym).ok_or_else(ApiError::invalid_symbol)?;
    let hs = m.config().history_start_ms.max(life.listed_ms);
    // Settlements strictly after the listing and before the delisting.
    let first = (hs / FUNDING_MS + 1) * FUNDING_MS;
    let Some(last) = c.now.min(life.end()).checked_sub(1).map(|t| t - t % FUNDING_MS) else { return Ok(json!([])) };
    let rows = grid_page(first, last, FUNDING_MS, c.q.start_time, c.q.end_time, c.q.limit);
    Ok(rows
        .into_iter()
        .map(|t| {
            let rate = m.funding_rate(sym, t).unwrap_or_default();
            let (_, mark) = m.index_mark_e8(sym, t).unwrap_or_default();
            c.project(&super::market_obj(json!({
                "symbol": sym, "fundingRate": e8(rate.into()), "fundingTime": t, "markPrice": e8(mark.into()),
            })))
        })
        .collect())
}

/// Quarterly deliveries (last Friday of Mar/Jun/Sep/Dec, 08:00 UTC) before now, newest first.
pub(super) fn delivery_price(c: &Ctx) -> Result<Value, ApiError> {
    let sym = c.symbol()?;
    let hs = c.model.config().history_start_ms;
    let mut rows = Vec::new();
    let year0 = 1970 + (hs / 86_400_000 / 366) as i64;
    for y in year0..=year0 + 60 {
        for month in [3u32, 6, 9, 12] {
            let t = last_friday_8utc(y, month);
            if t >= c.now {
                break;
            }
            if t > hs {
                let (index, _) = c.model.index_mark_e8(sym, t).unwrap_or_default();
                let price: f64 = fmt_fixed(i128::from(index), 8, 2).parse().unwrap_or_default();
                rows.push(json!({ "deliveryTime": t, "deliveryPrice": price }));
            }
        }
    }
    rows.reverse();
    Ok(Value::Array(rows.into_iter().map(|r| c.project(&super::market_obj(r))).collect()))
}

/// Days since the epoch of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn last_friday_8utc(y: i64, month: u32) -> u64 {
    let (ny, nm) = if month == 12 { (y + 1, 1) } else { (y, month + 1) };
    let last = days_from_civil(ny, nm, 1) - 1;
    let dow = (last + 4).rem_euclid(7); // 0 = Sunday
    let friday = last - (dow - 5).rem_euclid(7);
    (friday * 86_400_000 + 8 * 3_600_000) as u64
}

pub(super) fn open_interest(c: &Ctx) -> Result<Value, ApiError> {
    let sym = c.symbol()?;
    let w = c.wire(sym);
    let oi = c.model.open_interest(sym, c.now).ok_or_else(ApiError::invalid_symbol)?;
    Ok(c.project(&super::market_obj(json!({ "openInterest": w.qty(oi.into()), "symbol": sym, "time": c.now }))))
}

/// The four ratio endpoints and open-interest history: one row per complete period in the last
/// 30 days.
pub(super) fn statistics(c: &Ctx) -> Result<Value, ApiError> {
    let sym = c.symbol()?;
    let w = c.wire(sym);
    let m = c.model;
    let period = c.q.period.as_ref().map(|(_, ms)| *ms).ok_or_else(|| ApiError::missing("period"))?;
    let life = m.life(sym).ok_or_else(ApiError::invalid_symbol)?;
    let hs = m.config().history_start_ms.max(life.listed_ms);
    let floor = c.now.saturating_sub(KEEP_MS).max(hs);
    let first = floor.div_ceil(period) * period;
    let Some(last) = c.now.min(life.end()).checked_sub(period).map(|t| t - t % period) else { return Ok(json!([])) };
    let rows = grid_page(first, last, period, c.q.start_time, c.q.end_time, c.q.limit);
    let spec = m.spec(sym).ok_or_else(ApiError::invalid_symbol)?;
    Ok(rows
        .into_iter()
        .map(|ts| {
            let full = match c.ep.name {
                "open_interest_hist" => {
                    let oi = m.open_interest(sym, ts).unwrap_or_default();
                    let (_, mark) = m.index_mark_e8(sym, ts).unwrap_or_default();
                    json!({
                        "symbol": sym,
                        "sumOpenInterest": fmt_fixed(oi.into(), w.qty_dp, 8),
                        "sumOpenInterestValue": fmt_fixed(i128::from(oi) * i128::from(mark), w.qty_dp + 8, 8),
                        "CMCCirculatingSupply": fmt_fixed(spec.circulating_supply.into(), 0, 2),
                        "timestamp": ts,
                    })
                }
                "taker_long_short_ratio" => {
                    let a = m.range_stats(sym, Series::Trades(Venue::Perp), ts, ts + period).unwrap_or_default();
                    let (buy, sell) = (a.taker_base as i128, (a.volume - a.taker_base) as i128);
                    json!({
                        "buySellRatio": fmt_ratio(buy, sell, 4),
                        "buyVol": fmt_fixed(buy, w.qty_dp, 4),
                        "sellVol": fmt_fixed(sell, w.qty_dp, 4),
                        "timestamp": ts,
                    })
                }
                name => {
                    let ratio = match name {
                        "top_long_short_position_ratio" => Ratio::TopPosition,
                        "long_short_account_ratio" => Ratio::GlobalAccount,
                        _ => Ratio::TopAccount,
                    };
                    let long = i128::from(m.long_share_e4(sym, ratio, ts).unwrap_or(5_000));
                    json!({
                        "symbol": sym,
                        "longShortRatio": fmt_ratio(long, 10_000 - long, 4),
                        "longAccount": fmt_fixed(long, 4, 4),
                        "shortAccount": fmt_fixed(10_000 - long, 4, 4),
                        "timestamp": ts,
                    })
                }
            };
            c.project(&super::market_obj(full))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarterly_fridays() {
        // 2024-03-29 and 2023-12-29 were the last Fridays of their months
        assert_eq!(last_friday_8utc(2024, 3), 1_711_699_200_000);
        assert_eq!(last_friday_8utc(2023, 12), 1_703_836_800_000);
    }
}
