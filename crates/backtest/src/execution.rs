//! The execution policy: how a target position becomes an order. Pure: the strategy
//! ([`crate::strategy`]) gathers the state, [`Execution::decide`] says what to cancel, submit
//! and skip, and the strategy carries it out and records it.
//!
//! - MARKET: delta = target − (position + open orders), rounded DOWN to the size increment.
//! - LIMIT: one resting order for target − position at the last price ± an offset, rounded to the
//!   tick away from the market; the open orders are cancelled and replaced unless an identical
//!   one already rests.
//! - Market orders are capped at the liquidity the engine simulates (NautilusTrader 0.57's L1
//!   matching cannot fill beyond it and leaves the rest open forever); on a cash account buys are
//!   capped at the quote held (fee included) and sells at the base held. Cut-off parts follow
//!   on later events and are recorded as skips.
//! - A delta below min quantity, min notional or the rebalance threshold (a fraction of
//!   equity) is skipped.

use nautilus_model::{
    identifiers::InstrumentId,
    instruments::{Instrument, InstrumentAny},
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Trading rules of one instrument, as the policy and the ledger need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstrumentRules {
    pub id: InstrumentId,
    /// Binance's symbol (`BTCUSDT`).
    pub symbol: String,
    /// `true` for spot pairs: the base leg is booked in `balances[base]`; `false` for
    /// perpetuals (notional booked in the settlement currency, position marked to market).
    pub is_spot: bool,
    pub base: String,
    pub quote: String,
    pub settlement: String,
    pub size_precision: u8,
    pub size_increment: Decimal,
    pub price_precision: u8,
    pub price_increment: Decimal,
    pub min_quantity: Option<Decimal>,
    pub min_notional: Option<Decimal>,
    pub taker_fee: Decimal,
}

impl InstrumentRules {
    /// Rules of a nautilus instrument.
    #[must_use]
    pub fn of(inst: &InstrumentAny) -> Self {
        let quote = inst.quote_currency().code.to_string();
        Self {
            id: inst.id(),
            symbol: inst.raw_symbol().to_string(),
            is_spot: matches!(inst, InstrumentAny::CurrencyPair(_)),
            base: inst.base_currency().map_or_else(|| quote.clone(), |c| c.code.to_string()),
            settlement: inst.settlement_currency().code.to_string(),
            quote,
            size_precision: inst.size_precision(),
            size_increment: inst.size_increment().as_decimal(),
            price_precision: inst.price_precision(),
            price_increment: inst.price_increment().as_decimal(),
            min_quantity: inst.min_quantity().map(|q| q.as_decimal()),
            min_notional: inst.min_notional().map(|m| m.as_decimal()),
            taker_fee: inst.taker_fee(),
        }
    }

    /// `|qty|` rounded DOWN to the size increment, sign kept.
    #[must_use]
    pub fn round_down(&self, qty: Decimal) -> Decimal {
        if self.size_increment.is_zero() {
            return qty;
        }
        let steps = (qty.abs() / self.size_increment).trunc();
        let r = steps * self.size_increment;
        if qty.is_sign_negative() { -r } else { r }
    }
}

/// Order type used to reach targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// Taker: fills on the next price the matching engine sees (taker fee).
    #[default]
    Market,
    /// Maker: rests at the last price ± `limit_offset_bps` until the book crosses it (maker fee).
    Limit,
}

/// How targets become orders (`[execution]` in the run file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Execution {
    #[serde(default)]
    pub order_type: OrderKind,
    /// Limit orders only: distance from the last price on the passive side (buys below, sells
    /// above), in basis points; the price is rounded to the tick away from the market.
    #[serde(default)]
    pub limit_offset_bps: Decimal,
}

/// What the policy is given about one instrument at one moment.
#[derive(Debug, Clone, Default)]
pub struct OrderState<'a> {
    /// The Alpha's target (signed base quantity).
    pub target: Decimal,
    /// The ledger's position.
    pub position: Decimal,
    /// Open and in-flight orders: (signed leaves quantity, limit price).
    pub open: &'a [(Decimal, Option<Decimal>)],
    pub last_price: Option<Decimal>,
    /// What the matching engine can fill now (market orders).
    pub liquidity: Option<Decimal>,
    /// Equity in the reporting currency (for the rebalance threshold).
    pub equity: Option<Decimal>,
    /// Cash accounts: (quote held, base held) by the ledger.
    pub cash: Option<(Decimal, Decimal)>,
}

/// What to do for one target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Cancel every open order of the instrument first (limit re-pricing).
    pub cancel_open: bool,
    /// The order to submit: signed quantity and, for a limit order, its price.
    pub order: Option<(Decimal, Option<Decimal>)>,
    /// Parts of the delta not traded now, with the reason.
    pub skips: Vec<(Decimal, String)>,
}

impl Execution {
    /// Limit price for a buy (`delta > 0`) or sell at `last`, on the instrument's tick grid.
    #[must_use]
    pub fn limit_price(&self, rules: &InstrumentRules, last: Decimal, delta: Decimal) -> Decimal {
        let off = self.limit_offset_bps / Decimal::from(10_000);
        let tick = rules.price_increment;
        let raw = if delta.is_sign_positive() { last * (Decimal::ONE - off) } else { last * (Decimal::ONE + off) };
        if tick.is_zero() {
            return raw;
        }
        let steps = raw / tick;
        (if delta.is_sign_positive() { steps.floor() } else { steps.ceil() }) * tick
    }

    /// The decision for one target (see the module docs for the rules).
    #[must_use]
    pub fn decide(&self, rules: &InstrumentRules, rebalance_threshold: Decimal, s: &OrderState<'_>) -> Decision {
        let limit = self.order_type == OrderKind::Limit;
        let pending: Decimal = s.open.iter().map(|o| o.0).sum();
        // Market: top up what is already on its way. Limit: one resting order for the rest.
        let mut delta = rules.round_down(s.target - s.position - if limit { Decimal::ZERO } else { pending });
        let limit_px = match s.last_price {
            Some(p) if limit && !delta.is_zero() => Some(self.limit_price(rules, p, delta)),
            _ => None,
        };
        let mut d = Decision::default();
        if limit {
            if matches!(s.open, [(q, p)] if *q == delta && *p == limit_px) {
                return d; // the right order is already resting
            }
            d.cancel_open = !s.open.is_empty();
        }
        if !limit && let Some(available) = s.liquidity {
            delta = cap(rules, delta, available, &mut d.skips, || {
                format!("above the simulated liquidity {available}: the rest follows on later events")
            });
        }
        if let (Some((quote, base)), Some(px)) = (s.cash, s.last_price) {
            let held = |x: Decimal| x.max(Decimal::ZERO);
            let (affordable, ccy) = if delta.is_sign_positive() {
                let unit = px * (Decimal::ONE + rules.taker_fee);
                (if unit.is_zero() { delta } else { rules.round_down(held(quote) / unit) }, &rules.quote)
            } else {
                (rules.round_down(held(base)), &rules.base)
            };
            delta =
                cap(rules, delta, affordable, &mut d.skips, || format!("cash account: not enough {ccy} for the rest"));
        }
        if delta.is_zero() {
            return d;
        }
        if let Some(reason) = skip_reason(rules, rebalance_threshold, delta, s.last_price, s.equity) {
            d.skips.push((delta, reason));
            return d;
        }
        d.order = Some((delta, limit_px));
        d
    }
}

/// `delta` with its size cut to `limit` (rounded down to the step); the cut-off part is pushed to
/// `skips` with `reason`.
fn cap(
    rules: &InstrumentRules,
    delta: Decimal,
    limit: Decimal,
    skips: &mut Vec<(Decimal, String)>,
    reason: impl FnOnce() -> String,
) -> Decimal {
    let cap = rules.round_down(limit);
    if delta.abs() <= cap {
        return delta;
    }
    let capped = if delta.is_sign_negative() { -cap } else { cap };
    skips.push((delta - capped, reason()));
    capped
}

/// Why a delta is not traded, if it is not.
fn skip_reason(
    rules: &InstrumentRules,
    rebalance_threshold: Decimal,
    delta: Decimal,
    px: Option<Decimal>,
    equity: Option<Decimal>,
) -> Option<String> {
    let notional = px.map(|p| (delta * p).abs());
    if let Some(m) = rules.min_quantity.filter(|m| delta.abs() < *m) {
        Some(format!("below min quantity {m}"))
    } else if let (Some(min), Some(n)) = (rules.min_notional, notional)
        && n < min
    {
        Some(format!("notional {n} below min notional {min}"))
    } else if let (Some(n), Some(eq)) = (notional, equity)
        && !rebalance_threshold.is_zero()
        && n < rebalance_threshold * eq.abs()
    {
        Some(format!("notional {n} below rebalance threshold {rebalance_threshold} of equity {eq}"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn rules() -> InstrumentRules {
        InstrumentRules {
            id: InstrumentId::from("BTCUSDT.BINANCE"),
            symbol: "BTCUSDT".into(),
            is_spot: true,
            base: "BTC".into(),
            quote: "USDT".into(),
            settlement: "USDT".into(),
            size_precision: 3,
            size_increment: dec!(0.001),
            price_precision: 1,
            price_increment: dec!(0.1),
            min_quantity: Some(dec!(0.001)),
            min_notional: Some(dec!(5)),
            taker_fee: dec!(0.001),
        }
    }

    fn market() -> Execution {
        Execution::default()
    }

    #[test]
    fn market_delta_nets_open_orders_and_rounds_down() {
        let open = [(dec!(0.2), None)];
        let s = OrderState {
            target: dec!(1.0009),
            position: dec!(0.5),
            open: &open,
            last_price: Some(dec!(100)),
            ..OrderState::default()
        };
        assert_eq!(market().decide(&rules(), Decimal::ZERO, &s).order, Some((dec!(0.300), None)));
    }

    #[test]
    fn liquidity_and_cash_caps_record_what_they_cut() {
        let s = OrderState {
            target: dec!(1),
            last_price: Some(dec!(1000)),
            liquidity: Some(dec!(0.375)),
            cash: Some((dec!(200.2), Decimal::ZERO)),
            ..OrderState::default()
        };
        let d = market().decide(&rules(), Decimal::ZERO, &s);
        // 1 → 0.375 (liquidity) → 0.2 (200.2 USDT / (1000 × 1.001) per BTC)
        assert_eq!(d.order, Some((dec!(0.2), None)));
        assert_eq!(d.skips.iter().map(|x| x.0).collect::<Vec<_>>(), [dec!(0.625), dec!(0.175)]);
        assert!(d.skips[1].1.starts_with("cash account: not enough USDT"));
    }

    #[test]
    fn small_deltas_are_skipped_with_the_rule_that_applies() {
        let base = OrderState { last_price: Some(dec!(1000)), equity: Some(dec!(10000)), ..OrderState::default() };
        let decide = |target, threshold| market().decide(&rules(), threshold, &OrderState { target, ..base.clone() });
        assert_eq!(decide(dec!(0.0009), Decimal::ZERO).order, None); // rounds to 0: nothing at all
        assert_eq!(
            decide(dec!(0.004), Decimal::ZERO).skips,
            [(dec!(0.004), "notional 4.000 below min notional 5".into())]
        );
        assert_eq!(
            decide(dec!(0.05), dec!(0.01)).skips,
            [(dec!(0.05), "notional 50.000 below rebalance threshold 0.01 of equity 10000".into())]
        );
        assert_eq!(decide(dec!(0.2), dec!(0.01)).order, Some((dec!(0.2), None)));
    }

    #[test]
    fn limit_orders_rest_away_from_the_market_and_are_replaced_only_when_different() {
        let ex = Execution { order_type: OrderKind::Limit, limit_offset_bps: dec!(10) };
        assert_eq!(ex.limit_price(&rules(), dec!(100.05), dec!(1)), dec!(99.9)); // 99.94995 floored
        assert_eq!(ex.limit_price(&rules(), dec!(100.05), dec!(-1)), dec!(100.2)); // 100.15005 ceiled
        let s = |open: &'static [(Decimal, Option<Decimal>)]| OrderState {
            target: dec!(1),
            open,
            last_price: Some(dec!(100.05)),
            ..OrderState::default()
        };
        static SAME: [(Decimal, Option<Decimal>); 1] = [(dec!(1), Some(dec!(99.9)))];
        static OTHER: [(Decimal, Option<Decimal>); 1] = [(dec!(1), Some(dec!(99.8)))];
        assert_eq!(ex.decide(&rules(), Decimal::ZERO, &s(&SAME)), Decision::default());
        let d = ex.decide(&rules(), Decimal::ZERO, &s(&OTHER));
        assert!(d.cancel_open);
        assert_eq!(d.order, Some((dec!(1), Some(dec!(99.9)))));
    }
}
