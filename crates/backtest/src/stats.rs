//! Performance statistics of an equity curve and a fill list. Money totals are exact decimals;
//! ratios are `f64` (indicator maths). Annualisation uses 365.25-day years and the median
//! sampling interval of the curve.
//!
//! A statistic that is undefined for the run is `None` (JSON `null`, "n/a" when printed), never
//! a made-up 0: Sharpe and volatility need two returns and some variance, Sortino some downside,
//! the win rate a closing fill, and CAGR (hence Calmar) at least [`MIN_CAGR_DAYS`] of curve,
//! because annualising a few days multiplies their noise a hundredfold.

use std::collections::BTreeMap;

use rust_decimal::{Decimal, prelude::ToPrimitive};
use serde::{Deserialize, Serialize};

use crate::recorder::Fill;

const YEAR_NS: f64 = 365.25 * 86_400.0 * 1e9;

/// Shortest curve (days) whose CAGR and Calmar are reported.
pub const MIN_CAGR_DAYS: f64 = 30.0;

/// Statistics of one run (JSON `stats`; read back from `result.json` by Ray sweeps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub initial_equity: Decimal,
    pub final_equity: Decimal,
    pub pnl: Decimal,
    pub total_return: f64,
    pub cagr: Option<f64>,
    pub annualised_volatility: Option<f64>,
    pub sharpe: Option<f64>,
    pub sortino: Option<f64>,
    pub max_drawdown: f64,
    /// Longest time under a previous peak (ns).
    pub max_drawdown_duration_ns: u64,
    pub calmar: Option<f64>,
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
    pub win_rate: Option<f64>,
}

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

/// `x` when it is a number (not NaN or infinite).
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
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
    let total_return = finite(f(last) / f(initial) - 1.0).unwrap_or(0.0);
    let years = curve.last().zip(curve.first()).map_or(0.0, |(l, s)| (l.0 - s.0) as f64 / YEAR_NS);
    let cagr =
        (years * 365.25 >= MIN_CAGR_DAYS).then(|| finite((1.0 + total_return).powf(1.0 / years) - 1.0)).flatten();
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
    let fees_paid: Decimal = fills.iter().filter(|x| x.commission_currency == reporting).map(|x| x.commission).sum();
    let exposure = curve.iter().filter(|p| !p.2.is_zero()).count() as f64 / curve.len().max(1) as f64;
    let sd = var.sqrt();
    Stats {
        initial_equity: initial,
        final_equity: last,
        pnl: last - initial,
        total_return,
        cagr,
        annualised_volatility: (n >= 2.0).then(|| finite(sd * ppy.sqrt())).flatten(),
        sharpe: (n >= 2.0 && sd > 0.0).then(|| finite(mean / sd * ppy.sqrt())).flatten(),
        sortino: (down > 0.0).then(|| finite(mean / down * ppy.sqrt())).flatten(),
        max_drawdown: mdd,
        max_drawdown_duration_ns: mdd_dur,
        calmar: cagr.filter(|_| mdd > 0.0).map(|c| c / mdd),
        turnover: finite(f(traded) / mean_eq).unwrap_or(0.0),
        fees_paid: fees_paid.normalize(),
        funding_paid: (-funding_total).normalize(),
        exposure,
        trade_count: fills.len(),
        win_rate: win_rate(fills),
    }
}

/// Share of reducing fills with positive realised PnL, average-cost basis; `None` without one.
#[must_use]
pub fn win_rate(fills: &[Fill]) -> Option<f64> {
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
    (closes > 0).then(|| wins as f64 / closes as f64)
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
    /// `(name, exact value as JSON)` per statistic, in [`STAT_NAMES`] order (`null` when
    /// undefined).
    #[must_use]
    pub fn values(&self) -> Vec<(String, serde_json::Value)> {
        let v = serde_json::to_value(self).unwrap_or_default();
        let Some(obj) = v.as_object() else { return vec![] };
        obj.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// `(name, value as text)` per statistic, in [`STAT_NAMES`] order (empty when undefined).
    #[must_use]
    pub fn fields(&self) -> Vec<(String, String)> {
        self.values()
            .into_iter()
            .map(|(k, v)| {
                let text = match &v {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k, text)
            })
            .collect()
    }

    /// The named statistic as `f64` (`None` for an unknown name or an undefined value).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<f64> {
        let v = serde_json::to_value(self).ok()?;
        let x = v.get(name)?;
        x.as_f64().or_else(|| x.as_str().and_then(|s| s.parse().ok()))
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
            client_order_id: format!("O-{ts}").as_str().into(),
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
        close(s.annualised_volatility.unwrap(), 2.635_196_246_820_958);
        close(s.sharpe.unwrap(), 7.700_248_773_178_126);
        close(s.sortino.unwrap(), 21.235_016_504_018_24);
        close(s.max_drawdown, 0.1); // 110 → 99
        assert_eq!(s.max_drawdown_duration_ns, 2 * DAY); // under water from day 1 to day 3
        // 3 days of curve: too short to annualise.
        assert_eq!((s.cagr, s.calmar), (None, None));
        close(s.turnover, 210.0 / (529.0 / 5.0)); // Σ|notional| / mean equity incl. initial
        assert_eq!(s.fees_paid, dec!(0.21));
        assert_eq!(s.funding_paid, dec!(1.5));
        close(s.exposure, 0.5);
        assert_eq!(s.trade_count, 2);
        close(s.win_rate.unwrap(), 1.0);
    }

    #[test]
    fn cagr_and_calmar_from_thirty_days_and_undefined_statistics_are_none() {
        // 100 → 90 → 121 over 30 days (a point a day, flat in between).
        let mut curve: Vec<(u64, Decimal, Decimal)> = (1..=30).map(|i| (i * DAY, dec!(100), dec!(0))).collect();
        curve[9].1 = dec!(90);
        curve[29].1 = dec!(121);
        let s = compute(dec!(100), &curve, &[], "USDT", Decimal::ZERO);
        // the curve spans days 1..30: 29 days, just short
        assert_eq!(s.cagr, None);
        curve.insert(0, (0, dec!(100), dec!(0)));
        let s = compute(dec!(100), &curve, &[], "USDT", Decimal::ZERO);
        let years = 30.0 / 365.25;
        close_eq(s.cagr.unwrap(), 1.21f64.powf(1.0 / years) - 1.0);
        close_eq(s.calmar.unwrap(), s.cagr.unwrap() / 0.1);
        assert_eq!(s.win_rate, None, "no closing fill");

        // A flat curve: no variance, no downside.
        let flat: Vec<(u64, Decimal, Decimal)> = (1..=5).map(|i| (i * DAY, dec!(100), dec!(0))).collect();
        let s = compute(dec!(100), &flat, &[], "USDT", Decimal::ZERO);
        assert_eq!((s.sharpe, s.sortino, s.total_return), (None, None, 0.0));
        assert_eq!(s.annualised_volatility, Some(0.0));
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(
            (json["sharpe"].clone(), json["win_rate"].clone()),
            (serde_json::Value::Null, serde_json::Value::Null)
        );
    }

    #[test]
    fn win_rate_counts_reducing_fills_on_average_cost() {
        let f = [
            fill(1, dec!(2), dec!(100), dec!(0)),
            fill(2, dec!(2), dec!(110), dec!(0)),  // avg 105
            fill(3, dec!(-1), dec!(104), dec!(0)), // loss
            fill(4, dec!(-3), dec!(106), dec!(0)), // closes the other 3 above 105: win
        ];
        close_eq(win_rate(&f).unwrap(), 0.5);
    }

    fn close_eq(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }
}
