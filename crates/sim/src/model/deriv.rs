//! Derivatives-side quantities: perp basis, index and mark prices, premium and funding (Binance's
//! formula), open interest, long/short ratios and order books. All are pure functions of time.

use super::{
    MINUTE, Model, Series, Venue,
    fixed::div_round,
    path::knot_noise,
    rng::{gauss, hash, mix, unit},
    trades::Trade,
};

/// Funding interval (00:00, 08:00, 16:00 UTC).
pub const FUNDING_MS: u64 = 8 * 3_600_000;
/// Interest rate per funding interval in 1e-8 (0.01%).
pub const INTEREST_E8: i64 = 10_000;
const E8: f64 = 1e8;

/// Which `/futures/data` long/short ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ratio {
    TopPosition,
    GlobalAccount,
    TopAccount,
}

/// An order book snapshot: `(price units, qty units)`, bids descending, asks ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Depth {
    pub update_id: u64,
    pub bids: Vec<(u64, u64)>,
    pub asks: Vec<(u64, u64)>,
}

/// Binance's funding formula in 1e-8 units: `clamp(P + clamp(I − P, ±0.05%), ±0.75%)`.
#[must_use]
pub fn funding_formula(avg_premium_e8: i64) -> i64 {
    let p = avg_premium_e8;
    (p + (INTEREST_E8 - p).clamp(-50_000, 50_000)).clamp(-750_000, 750_000)
}

impl Model {
    /// Relative premium of a venue over spot: a stationary multi-scale process around +3 bp for
    /// the perpetual (mean-reverting within about a day); quarterlies add a carry.
    pub(crate) fn basis(&self, s: usize, venue: Venue, t: u64) -> f64 {
        let carry = match venue {
            Venue::Spot => return 0.0,
            Venue::Perp => 0.0,
            Venue::CurrentQuarter => 0.004,
            Venue::NextQuarter => 0.008,
        };
        let (k, sec) = (self.key(s, &[5]), t / 1000);
        carry
            + 0.0003
            + 0.00012 * knot_noise(k, 1_800, sec)
            + 0.00015 * knot_noise(k, 14_400, sec)
            + 0.0002 * knot_noise(k, 86_400, sec)
    }

    /// `(index, mark)` in 1e-8 given the spot mid at `t`.
    fn index_mark(&self, s: usize, spot: f64, t: u64) -> (u64, u64) {
        let index = spot * (1.0 + 0.00002 * gauss(hash(&[self.key(s, &[6]), t / 1000])));
        let mark = index * (1.0 + self.basis(s, Venue::Perp, t));
        ((index * E8).round() as u64, (mark * E8).round() as u64)
    }

    /// One index or mark sample per second of minute `m` (`qty == 0`).
    pub(crate) fn samples(&self, s: usize, series: Series, m: u64) -> Vec<Trade> {
        let t0 = self.minute_start(m);
        let (a, b) = (self.mid(s, Venue::Spot, t0).ln(), self.mid(s, Venue::Spot, t0 + MINUTE).ln());
        (0..60u64)
            .map(|k| {
                let t = t0 + k * 1000;
                let (i, mk) = self.index_mark(s, (a + (b - a) * k as f64 / 60.0).exp(), t);
                let price = if series == Series::Mark { mk } else { i };
                Trade { id: 0, agg_id: 0, time: t, price, qty: 0, is_buyer_maker: false }
            })
            .collect()
    }

    /// `(index, mark)` prices in 1e-8 at `t`.
    #[must_use]
    pub fn index_mark_e8(&self, symbol: &str, t: u64) -> Option<(u64, u64)> {
        let s = self.index_of(symbol)?;
        Some(self.index_mark(s, self.mid(s, Venue::Spot, t), t))
    }

    /// Premium index sample of the minute containing `t`, in 1e-8.
    #[must_use]
    pub fn premium_e8(&self, symbol: &str, t: u64) -> Option<i64> {
        let s = self.index_of(symbol)?;
        let m = self.minute(t.max(self.cfg.history_start_ms));
        let p = self.basis(s, Venue::Perp, self.minute_start(m)) + 0.00003 * gauss(hash(&[self.key(s, &[7]), m]));
        Some((p * E8).round() as i64)
    }

    /// Funding rate (1e-8) over the premium samples of the minutes in `[from, to)`.
    #[must_use]
    pub fn funding_over(&self, symbol: &str, from: u64, to: u64) -> Option<i64> {
        let from = from.max(self.cfg.history_start_ms);
        let n = to.saturating_sub(from).div_ceil(MINUTE).max(1);
        let sum: i64 = (0..n).map(|k| self.premium_e8(symbol, from + k * MINUTE)).sum::<Option<i64>>()?;
        Some(funding_formula(div_round(i128::from(sum), i128::from(n)) as i64))
    }

    /// The rate settled at `funding_time` (a multiple of 8 h): over the preceding 8 hours.
    #[must_use]
    pub fn funding_rate(&self, symbol: &str, funding_time: u64) -> Option<i64> {
        self.funding_over(symbol, funding_time.saturating_sub(FUNDING_MS), funding_time)
    }

    /// USD-M open interest at `t`, in the contract's quantity units.
    #[must_use]
    pub fn open_interest(&self, symbol: &str, t: u64) -> Option<u64> {
        let s = self.index_of(symbol)?;
        let spec = &self.cfg.symbols[s];
        let (k, sec) = (self.key(s, &[8]), t / 1000);
        let x =
            0.15 * knot_noise(k, 604_800, sec) + 0.05 * knot_noise(k, 86_400, sec) + 0.01 * knot_noise(k, 3_600, sec);
        Some((spec.open_interest as f64 * 10f64.powi(spec.usdm.qty_decimals as i32) * x.exp()).round() as u64)
    }

    /// Long share in 1e-4 (short = 10000 − long) of a ratio statistic at `t`.
    #[must_use]
    pub fn long_share_e4(&self, symbol: &str, ratio: Ratio, t: u64) -> Option<u64> {
        let s = self.index_of(symbol)?;
        let (k, sec) = (self.key(s, &[9, ratio as u64]), t / 1000);
        let bias = [0.2, 0.5, 0.35][ratio as usize];
        let x = bias + 0.4 * knot_noise(k, 86_400, sec) + 0.15 * knot_noise(k, 3_600, sec);
        Some(5_000 + (2_500.0 * x.tanh()).round() as u64)
    }

    /// The book of `venue` at `t` with `levels` per side, regenerated every 100 ms around the mid.
    #[must_use]
    pub fn depth(&self, symbol: &str, venue: Venue, t: u64, levels: usize) -> Option<Depth> {
        let s = self.index_of(symbol)?;
        let c = self.contract(s, venue.market());
        let bucket = t.saturating_sub(self.cfg.history_start_ms) / 100;
        let h = self.key(s, &[10, venue as u64, bucket]);
        let mid_ticks = self.mid(s, venue, t) * 10f64.powi(c.price_decimals as i32) / c.tick as f64;
        let bid = (mid_ticks.floor() as u64).saturating_sub(h % 2).max(2);
        let ask = mid_ticks.floor() as u64 + 1 + u64::from(h.is_multiple_of(4));
        let side = |best: u64, dir: i64, tag: u64| {
            let mut p = best;
            (0..levels as u64)
                .map_while(|i| {
                    let r = mix(h ^ mix(tag << 32 | i));
                    if i > 0 {
                        let gap = 1 + (r >> 40) % 3;
                        p = if dir < 0 { p.checked_sub(gap).filter(|&x| x > 0)? } else { p + gap };
                    }
                    let qty = (c.mean_qty as f64 * (0.1 + 8.0 * unit(r).powi(2))).round().max(1.0) as u64;
                    Some((p * c.tick, qty))
                })
                .collect()
        };
        Some(Depth { update_id: 1_000_000 + bucket * 4 + h % 4, bids: side(bid, -1, 1), asks: side(ask, 1, 2) })
    }
}
