//! The simulator's `/fapi/v1/leverageBracket` body: Binance's shipped tables for the symbols
//! that have one (BTCUSDT, ETHUSDT; [`binance::brackets::shipped_response`]), generated
//! Binance-shaped tables for the others.
//!
//! A generated table walks Binance's leverage ladder down from the symbol's
//! [`BracketSpec::max_leverage`] to 1x, each tier with Binance's maintenance margin rate for
//! that leverage and a notional cap growing from [`BracketSpec::first_cap`]. The maintenance
//! amount follows Binance's recursion `cum_n = floor_n × (rate_n − rate_(n−1)) + cum_(n−1)`, so
//! the maintenance margin is continuous across tiers. Everything is computed in integers
//! (rates in 1e-4), so the numbers are exact.

use serde_json::{Value, json};

use crate::model::{BracketSpec, Model, SymbolSpec};

/// Binance's ladder: `(initial leverage, maintenance margin rate in 1e-4)`, as in the shipped
/// BTCUSDT table.
const LADDER: &[(u32, u64)] = &[
    (125, 40),
    (100, 50),
    (75, 65),
    (50, 100),
    (25, 200),
    (20, 250),
    (10, 500),
    (5, 1_000),
    (4, 1_250),
    (3, 1_500),
    (2, 2_500),
    (1, 5_000),
];

/// Tier caps as multiples of the first cap.
const CAP_STEPS: &[u64] = &[1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000];

/// Defaults for a symbol that has neither a shipped table nor a [`BracketSpec`].
const DEFAULT: BracketSpec = BracketSpec { max_leverage: 20, first_cap: 5_000 };

/// The generated tiers of `symbol`, in the wire shape (`{"symbol", "brackets": [...]}`).
#[must_use]
pub fn generated(symbol: &str, spec: BracketSpec) -> Value {
    let start = LADDER.iter().position(|&(l, _)| l <= spec.max_leverage).unwrap_or(LADDER.len() - 1);
    let (mut floor, mut cum_e4, mut prev_rate) = (0u64, 0u64, None);
    let tiers: Vec<Value> = LADDER[start..]
        .iter()
        .zip(CAP_STEPS)
        .enumerate()
        .map(|(i, (&(leverage, rate), &step))| {
            if let Some(p) = prev_rate {
                cum_e4 += floor * (rate - p);
            }
            let cap = spec.first_cap * step;
            let tier = json!({
                "bracket": i + 1, "initialLeverage": leverage, "notionalCap": cap, "notionalFloor": floor,
                "maintMarginRatio": rate as f64 / 1e4, "cum": cum_e4 as f64 / 1e4,
            });
            (floor, prev_rate) = (cap, Some(rate));
            tier
        })
        .collect();
    json!({ "symbol": symbol, "brackets": tiers })
}

/// The response for every symbol listed at `now`: the shipped table in effect on `date`
/// (`YYYY-MM-DD`) first, exactly as shipped, then the generated ones in universe order.
#[must_use]
pub fn response(model: &Model, date: &str, now: u64) -> Value {
    let mut all = match binance::brackets::shipped_response(date) {
        Value::Array(a) => a,
        other => vec![other],
    };
    let shipped: Vec<String> = all.iter().filter_map(|r| r["symbol"].as_str().map(str::to_string)).collect();
    all.extend(
        model
            .listed(now)
            .filter(|s| !shipped.contains(&s.symbol))
            .map(|s: &SymbolSpec| generated(&s.symbol, s.brackets.unwrap_or(DEFAULT))),
    );
    Value::Array(all)
}

#[cfg(test)]
mod tests {
    use binance::brackets::parse;
    use rust_decimal::Decimal;

    use super::*;

    #[test]
    fn generated_tiers_are_continuous_and_walk_the_ladder() {
        for spec in [
            DEFAULT,
            BracketSpec { max_leverage: 75, first_cap: 50_000 },
            BracketSpec { max_leverage: 200, first_cap: 1 },
        ] {
            let v = generated("XUSDT", spec);
            let b = &parse(&v).unwrap()["XUSDT"];
            assert_eq!(b.0[0].initial_leverage, spec.max_leverage.min(125));
            assert_eq!(b.0.last().unwrap().initial_leverage, 1);
            assert_eq!(b.0[0].notional_floor, Decimal::ZERO);
            for w in b.0.windows(2) {
                assert_eq!(w[1].notional_floor, w[0].notional_cap);
                assert!(
                    w[1].maint_margin_ratio > w[0].maint_margin_ratio && w[1].initial_leverage < w[0].initial_leverage
                );
                // The maintenance margin is the same computed in either tier at the boundary.
                let n = w[1].notional_floor;
                assert_eq!(n * w[0].maint_margin_ratio - w[0].cum, n * w[1].maint_margin_ratio - w[1].cum);
            }
        }
    }
}
