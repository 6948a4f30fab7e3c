//! USD-M margin as Binance defines it (one-way mode), for the ledger's futures wallet.
//!
//! - Initial margin `notional / leverage`; maintenance margin `notional × rate − cum` of the
//!   notional's tier ([`binance::brackets`]); notional and unrealised PnL at the **mark** price.
//! - Cross: margin balance = wallet balance + Σ unrealised PnL; every cross position is liquidated
//!   when it falls to Σ maintenance margin. Isolated: each position has its own margin (its
//!   initial margin), and is liquidated alone when that + its unrealised PnL falls to its
//!   maintenance margin; it can lose no more than its margin.
//! - A liquidation closes at the mark price and pays Binance's clearance fee (`liquidation_fee` ×
//!   the closed notional); the wallet never ends below zero (the insurance fund takes the rest).
//! - [`liquidation_price`] is Binance's published formula ("How to Calculate Liquidation Price of
//!   USDⓈ-M Contracts"): the price at which the margin balance equals the maintenance margin.
//!
//! Sources, and what is simplified (cross liquidates all positions at once; no partial
//! liquidation of large positions; brackets dated by when they were first seen): README.md,
//! "Margin, liquidation, funding and wallets".

use std::collections::BTreeMap;

use binance::brackets::{Bracket, Brackets, shipped};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How positions share margin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarginMode {
    /// One margin balance for every position of the futures wallet (Binance's default).
    #[default]
    Cross,
    /// Each position has its own margin.
    Isolated,
}

/// Side of a one-way position: +1 long, −1 short.
fn side(qty: Decimal) -> Decimal {
    if qty.is_sign_negative() { Decimal::NEGATIVE_ONE } else { Decimal::ONE }
}

/// Unrealised PnL of `qty` entered at `entry`, at `mark`.
#[must_use]
pub fn unrealized(qty: Decimal, entry: Decimal, mark: Decimal) -> Decimal {
    qty * (mark - entry)
}

/// Binance's one-way liquidation price of a position of signed `qty` entered at `entry`:
/// `wallet` is the cross wallet balance (isolated: the position's margin), `other_mm` and
/// `other_upnl` the maintenance margin and unrealised PnL of the other cross positions (0 for
/// isolated). Solves `wallet − other_mm + other_upnl + qty × (P − entry) = |qty| × P × rate − cum`
/// with the tier of the notional at `P` (re-solving when that notional lands in another tier).
/// `None` for a flat position or one that cannot be liquidated (price would be ≤ 0).
#[must_use]
pub fn liquidation_price(
    qty: Decimal,
    entry: Decimal,
    wallet: Decimal,
    other_mm: Decimal,
    other_upnl: Decimal,
    brackets: &Brackets,
) -> Option<Decimal> {
    if qty.is_zero() {
        return None;
    }
    let (s, q) = (side(qty), qty.abs());
    let mut tier = brackets.tier(q * entry)?;
    for _ in 0..brackets.0.len() {
        let num = wallet - other_mm + other_upnl + tier.cum - s * q * entry;
        let den = q * tier.maint_margin_ratio - s * q;
        if den.is_zero() {
            return None;
        }
        let p = num / den;
        if p <= Decimal::ZERO {
            return None;
        }
        match brackets.tier(q * p) {
            Some(t) if t.bracket != tier.bracket => tier = t,
            _ => return Some(p),
        }
    }
    None
}

/// alphalab's conservative generic tiers, for perpetuals with no table of their own when the run
/// file asks for them (`venue.unknown_brackets = "generic"`). Shaped like Binance's tables of
/// its smallest perpetuals (20x up to 5,000 USDT, down to 1x), not any symbol's: a real symbol
/// usually allows more. Each `cum` keeps the maintenance margin continuous across tiers.
#[must_use]
pub fn generic_brackets() -> Brackets {
    let tier = |bracket, floor: i64, cap: i64, leverage, mmr: Decimal, cum: i64| Bracket {
        bracket,
        initial_leverage: leverage,
        notional_floor: Decimal::from(floor),
        notional_cap: Decimal::from(cap),
        maint_margin_ratio: mmr,
        cum: Decimal::from(cum),
    };
    Brackets(vec![
        tier(1, 0, 5_000, 20, Decimal::new(25, 3), 0),
        tier(2, 5_000, 25_000, 10, Decimal::new(5, 2), 125),
        tier(3, 25_000, 100_000, 5, Decimal::new(1, 1), 1_375),
        tier(4, 100_000, 250_000, 2, Decimal::new(25, 2), 16_375),
        tier(5, 250_000, 1_000_000, 1, Decimal::new(5, 1), 78_875),
    ])
}

/// The margin rules of a run's futures wallet.
#[derive(Debug, Clone)]
pub struct MarginRules {
    pub mode: MarginMode,
    pub leverage: Decimal,
    /// Clearance fee rate of a liquidation.
    pub liquidation_fee: Decimal,
    /// Tiers by Binance symbol.
    pub brackets: BTreeMap<String, Brackets>,
}

impl MarginRules {
    /// Rules with the shipped brackets in effect on `date` (`YYYY-MM-DD`).
    #[must_use]
    pub fn shipped(mode: MarginMode, leverage: Decimal, liquidation_fee: Decimal, date: &str) -> Self {
        Self { mode, leverage, liquidation_fee, brackets: shipped(date) }
    }

    /// The tiers of `symbol`.
    #[must_use]
    pub fn brackets(&self, symbol: &str) -> Option<&Brackets> {
        self.brackets.get(symbol)
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn btc() -> Brackets {
        shipped("2025-09-01")["BTCUSDT"].clone()
    }

    fn round2(d: Decimal) -> Decimal {
        d.round_dp(2)
    }

    /// Worked by hand from Binance's formula, bracket 1 (rate 0.4 %, cum 0):
    /// long: LP = (WB − TMM + UPNL + cum − q·EP) / (q·rate − q); short: (… + q·EP) / (q·rate + q).
    #[test]
    fn cross_liquidation_prices_of_a_long_and_a_short() {
        // long 0.3 at 62,100 on 1,000: (1000 − 18630) / (0.0012 − 0.3) = 59,002.68
        let lp = liquidation_price(dec!(0.3), dec!(62100), dec!(1000), dec!(0), dec!(0), &btc()).unwrap();
        assert_eq!(round2(lp), dec!(59002.68));
        // margin balance = maintenance at that price: 1000 + 0.3 × (LP − 62100) = 0.3 × LP × 0.004
        assert_eq!(round2(dec!(1000) + unrealized(dec!(0.3), dec!(62100), lp)), round2(dec!(0.3) * lp * dec!(0.004)));
        // short 0.3 at 62,100 on 1,000: (1000 + 18630) / (0.0012 + 0.3) = 65,172.64
        let lp = liquidation_price(dec!(-0.3), dec!(62100), dec!(1000), dec!(0), dec!(0), &btc()).unwrap();
        assert_eq!(round2(lp), dec!(65172.64));
        // another cross position's maintenance margin and loss bring it closer
        let lp = liquidation_price(dec!(0.3), dec!(62100), dec!(1000), dec!(10), dec!(-20), &btc()).unwrap();
        assert_eq!(round2(lp), dec!(59103.08)); // (1000 − 10 − 20 − 18630) / −0.2988
    }

    #[test]
    fn isolated_liquidation_prices_use_the_position_margin() {
        // 20x isolated: margin = 18,630 / 20 = 931.5: LP = (931.5 − 18630) / −0.2988 = 59,231.93
        let lp = liquidation_price(dec!(0.3), dec!(62100), dec!(931.5), dec!(0), dec!(0), &btc()).unwrap();
        assert_eq!(round2(lp), dec!(59231.93));
        // = EP × (1 − 1/L) / (1 − rate)
        assert_eq!(round2(dec!(62100) * dec!(0.95) / dec!(0.996)), dec!(59231.93));
        // short isolated: (931.5 + 18630) / 0.3012 = 64,945.22
        let lp = liquidation_price(dec!(-0.3), dec!(62100), dec!(931.5), dec!(0), dec!(0), &btc()).unwrap();
        assert_eq!(round2(lp), dec!(64945.22));
    }

    #[test]
    fn the_generic_tiers_are_continuous_and_capped_by_leverage() {
        let g = generic_brackets();
        // notional × rate − cum agrees on both sides of every floor
        for w in g.0.windows(2) {
            let at = w[1].notional_floor;
            assert_eq!(at * w[0].maint_margin_ratio - w[0].cum, at * w[1].maint_margin_ratio - w[1].cum, "{at}");
        }
        assert_eq!(g.maintenance(dec!(4000)), dec!(100)); // 2.5 %
        assert_eq!(g.maintenance(dec!(50000)), dec!(3625)); // 10 % − 1,375
        assert_eq!((g.max_notional(dec!(2)), g.max_notional(dec!(20))), (Some(dec!(250000)), Some(dec!(5000))));
        assert_eq!(g.max_notional(dec!(25)), None);
    }

    #[test]
    fn a_large_position_is_solved_in_the_tier_of_its_liquidation_notional() {
        // 6 BTC at 60,000 (360,000: tier 2, rate 0.5 %, cum 300) on 20,000:
        // (20000 + 300 − 360000) / (0.03 − 6) = 56,901.17; notional there 341,407: tier 2 still
        let lp = liquidation_price(dec!(6), dec!(60000), dec!(20000), dec!(0), dec!(0), &btc()).unwrap();
        assert_eq!(round2(lp), dec!(56901.17));
        // 5.1 BTC at 60,000 (306,000, tier 2) on 20,000 falls into tier 1 at its price:
        // tier 2 gives (20000 + 300 − 306000)/(0.0255 − 5.1) = 56,301.11 → 287,136 (tier 1):
        // re-solved in tier 1: (20000 − 306000)/(0.0204 − 5.1) = 56,303.65
        let lp = liquidation_price(dec!(5.1), dec!(60000), dec!(20000), dec!(0), dec!(0), &btc()).unwrap();
        assert_eq!(round2(lp), dec!(56303.65));
        assert_eq!(liquidation_price(dec!(0), dec!(1), dec!(1), dec!(0), dec!(0), &btc()), None);
        // fully collateralised long: never liquidated
        assert_eq!(liquidation_price(dec!(0.01), dec!(60000), dec!(1000), dec!(0), dec!(0), &btc()), None);
    }
}
