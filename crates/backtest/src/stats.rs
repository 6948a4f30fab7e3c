//! Performance statistics of an equity curve and a fill list. Money totals are exact decimals;
//! ratios are `f64` (indicator maths). Annualisation uses 365.25-day years and the median
//! sampling interval of the curve.

use std::{collections::BTreeMap, fmt::Write as _};

use rust_decimal::{Decimal, prelude::ToPrimitive};
use serde::Serialize;

use crate::adapter::Fill;

const YEAR_NS: f64 = 365.25 * 86_400.0 * 1e9;

/// Statistics of one run (JSON `stats`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub initial_equity: Decimal,
    pub final_equity: Decimal,
    pub pnl: Decimal,
    pub total_return: f64,
    pub cagr: f64,
    pub annualised_volatility: f64,
    pub sharpe: f64,
    pub sortino: f64,
    pub max_drawdown: f64,
    /// Longest time under a previous peak (ns).
    pub max_drawdown_duration_ns: u64,
    pub calmar: f64,
    /// Σ |fill notional| / mean equity.
    pub turnover: f64,
    /// Commissions in the reporting currency.
    pub fees_paid: Decimal,
    /// Funding paid (positive = paid, negative = received).
    pub funding_paid: Decimal,
    /// Share of curve points with a non-zero position.
    pub exposure: f64,
    pub trade_count: usize,
    /// Share of position-reducing fills with a positive realised PnL (average-cost basis).
    pub win_rate: f64,
}

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

fn zero_if_nan(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

/// Statistics of `curve` (`(ts, equity incl. funding, gross exposure)` after each timestamp,
/// ascending), the equity before any trade `initial`, and `fills`.
#[must_use]
pub fn compute(
    initial: Decimal,
    curve: &[(u64, Decimal, Decimal)],
    fills: &[Fill],
    reporting: &str,
    funding_total: Decimal,
) -> Stats {
    let last = curve.last().map_or(initial, |p| p.1);
    let eq: Vec<f64> = std::iter::once(f(initial)).chain(curve.iter().map(|p| f(p.1))).collect();
    let rets: Vec<f64> = eq.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
    let n = rets.len() as f64;
    let mut dts: Vec<u64> = curve.windows(2).map(|w| w[1].0 - w[0].0).collect();
    dts.sort_unstable();
    let ppy = dts.get(dts.len() / 2).map_or(0.0, |&dt| if dt == 0 { 0.0 } else { YEAR_NS / dt as f64 });
    let mean = rets.iter().sum::<f64>() / n;
    let var = rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let down = (rets.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n).sqrt();
    let total_return = zero_if_nan(f(last) / f(initial) - 1.0);
    let years = curve.last().zip(curve.first()).map_or(0.0, |(l, s)| (l.0 - s.0) as f64 / YEAR_NS);
    let cagr = if years > 0.0 { zero_if_nan((1.0 + total_return).powf(1.0 / years) - 1.0) } else { 0.0 };
    let start_ts = curve.first().map_or(0, |p| p.0);
    let (mut peak, mut peak_ts, mut mdd, mut mdd_dur) = (eq[0], start_ts, 0.0f64, 0u64);
    for (p, e) in curve.iter().zip(&eq[1..]) {
        if *e >= peak {
            peak = *e;
            peak_ts = p.0;
        } else {
            mdd = mdd.max(1.0 - e / peak);
            mdd_dur = mdd_dur.max(p.0 - peak_ts);
        }
    }
    let mean_eq = eq.iter().sum::<f64>() / eq.len() as f64;
    let traded: Decimal = fills.iter().map(|x| (x.qty * x.price).abs()).sum();
    let fees_paid = fills.iter().filter(|x| x.commission_currency == reporting).map(|x| x.commission).sum();
    let exposure = curve.iter().filter(|p| !p.2.is_zero()).count() as f64 / curve.len().max(1) as f64;
    Stats {
        initial_equity: initial,
        final_equity: last,
        pnl: last - initial,
        total_return,
        cagr,
        annualised_volatility: zero_if_nan(var.sqrt() * ppy.sqrt()),
        sharpe: zero_if_nan(mean / var.sqrt() * ppy.sqrt()),
        sortino: zero_if_nan(mean / down * ppy.sqrt()),
        max_drawdown: mdd,
        max_drawdown_duration_ns: mdd_dur,
        calmar: if mdd > 0.0 { cagr / mdd } else { 0.0 },
        turnover: zero_if_nan(f(traded) / mean_eq),
        fees_paid,
        funding_paid: -funding_total,
        exposure,
        trade_count: fills.len(),
        win_rate: win_rate(fills),
    }
}

/// Share of reducing fills with positive realised PnL, average-cost basis.
#[must_use]
pub fn win_rate(fills: &[Fill]) -> f64 {
    let mut book: BTreeMap<&str, (Decimal, Decimal)> = BTreeMap::new(); // qty, avg px
    let (mut wins, mut closes) = (0usize, 0usize);
    for x in fills {
        let (q, avg) = book.entry(&x.instrument_id).or_default();
        if q.is_zero() || q.is_sign_positive() == x.qty.is_sign_positive() {
            let nq = *q + x.qty;
            *avg = (*avg * q.abs() + x.price * x.qty.abs()) / nq.abs();
            *q = nq;
            continue;
        }
        let closed = x.qty.abs().min(q.abs());
        let pnl = closed * (x.price - *avg) * if q.is_sign_positive() { Decimal::ONE } else { Decimal::NEGATIVE_ONE };
        closes += 1;
        wins += usize::from(pnl > Decimal::ZERO);
        let nq = *q + x.qty;
        if !nq.is_zero() && nq.is_sign_positive() != q.is_sign_positive() {
            *avg = x.price;
        }
        *q = nq;
    }
    if closes == 0 { 0.0 } else { wins as f64 / closes as f64 }
}

/// Names of the [`Stats`] fields, in order (the statistics a sweep can rank by).
pub const STAT_NAMES: &[&str] = &[
    "initial_equity",
    "final_equity",
    "pnl",
    "total_return",
    "cagr",
    "annualised_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_duration_ns",
    "calmar",
    "turnover",
    "fees_paid",
    "funding_paid",
    "exposure",
    "trade_count",
    "win_rate",
];

/// Statistics where lower is better (ranked ascending).
pub const LOWER_IS_BETTER: &[&str] =
    &["annualised_volatility", "max_drawdown", "max_drawdown_duration_ns", "turnover", "fees_paid", "funding_paid"];

impl Stats {
    /// `(name, value as text)` per statistic, in [`STAT_NAMES`] order.
    #[must_use]
    pub fn fields(&self) -> Vec<(String, String)> {
        let v = serde_json::to_value(self).unwrap_or_default();
        let Some(obj) = v.as_object() else { return vec![] };
        obj.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect()
    }

    /// The named statistic as `f64` (`None` for an unknown name).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<f64> {
        let v = serde_json::to_value(self).ok()?;
        let x = v.get(name)?;
        x.as_f64().or_else(|| x.as_str().and_then(|s| s.parse().ok()))
    }

    /// A two-column text table of every statistic (for logs).
    #[must_use]
    pub fn table(&self) -> String {
        let rows = self.fields();
        let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (k, v) in rows {
            let _ = writeln!(out, "{k:<w$}  {v}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    const DAY: u64 = 86_400_000_000_000;

    fn fill(ts: u64, qty: Decimal, price: Decimal, commission: Decimal) -> Fill {
        Fill {
            ts,
            instrument_id: "BTCUSDT.BINANCE".into(),
            client_order_id: format!("O-{ts}"),
            side: if qty.is_sign_positive() { "Buy" } else { "Sell" }.into(),
            qty,
            price,
            commission,
            commission_currency: "USDT".into(),
            liquidity: "Taker".into(),
            position_after: Decimal::ZERO,
        }
    }

    /// Equity 100 → 110, 99, 99, 121 on four daily points; values worked by hand (and checked
    /// with a calculator): returns 0.1, −0.1, 0, 22/99; mean 1/18; sample sd 0.1378853;
    /// 365.25 periods a year.
    #[test]
    fn statistics_of_a_hand_worked_curve() {
        let curve: Vec<(u64, Decimal, Decimal)> = [(110, 100), (99, 0), (99, 0), (121, 50)]
            .iter()
            .enumerate()
            .map(|(i, (e, g))| ((i as u64 + 1) * DAY, Decimal::from(*e), Decimal::from(*g)))
            .collect();
        let fills = [fill(DAY, dec!(1), dec!(100), dec!(0.1)), fill(2 * DAY, dec!(-1), dec!(110), dec!(0.11))];
        let s = compute(dec!(100), &curve, &fills, "USDT", dec!(-1.5));
        let close = |a: f64, b: f64| assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{a} vs {b}");
        assert_eq!((s.final_equity, s.pnl), (dec!(121), dec!(21)));
        close(s.total_return, 0.21);
        close(s.annualised_volatility, 2.635_196_246_820_958);
        close(s.sharpe, 7.700_248_773_178_126);
        close(s.sortino, 21.235_016_504_018_24);
        close(s.max_drawdown, 0.1); // 110 → 99
        assert_eq!(s.max_drawdown_duration_ns, 2 * DAY); // under water from day 1 to day 3
        close(s.cagr, 1.21f64.powf(365.25 / 3.0) - 1.0);
        close(s.calmar, s.cagr / 0.1);
        close(s.turnover, 210.0 / (529.0 / 5.0)); // Σ|notional| / mean equity incl. initial
        assert_eq!(s.fees_paid, dec!(0.21));
        assert_eq!(s.funding_paid, dec!(1.5));
        close(s.exposure, 0.5);
        assert_eq!(s.trade_count, 2);
        close(s.win_rate, 1.0);
    }

    #[test]
    fn win_rate_counts_reducing_fills_on_average_cost() {
        let f = [
            fill(1, dec!(2), dec!(100), dec!(0)),
            fill(2, dec!(2), dec!(110), dec!(0)),  // avg 105
            fill(3, dec!(-1), dec!(104), dec!(0)), // loss
            fill(4, dec!(-3), dec!(106), dec!(0)), // closes the other 3 above 105: win
        ];
        close_eq(win_rate(&f), 0.5);
    }

    fn close_eq(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}
