//! Derivatives-side quantities: perp basis, index and mark prices, premium and funding (Binance's
//! formula), the settlement price of a delisted perpetual, open interest, long/short ratios and
//! order books. All are pure functions of time.

use super::{
    MINUTE, Model, Series, Venue,
    fixed::div_round,
    life::SETTLEMENT_WINDOW_MS,
    path::{knot_noise, knot_noise_by},
    rng::{gauss, hash},
    trades::Trade,
};

/// The knot value `k` of a [`knot_noise`] of `key` and `spacing`.
fn knot(key: u64, spacing: u64, k: u64) -> f64 {
    gauss(hash(&[key, spacing, k]))
}

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
    /// the perpetual (mean-reverting within about a day); quarterlies add a carry. A generated
    /// symbol adds its own lasting level and slow 7- and 30-day swings, so its funding differs
    /// from the others' and persists.
    pub(crate) fn basis(&self, s: usize, venue: Venue, t: u64) -> f64 {
        self.basis_by(s, venue, t, &mut knot)
    }

    /// [`Model::basis`] at two instants, computing the knots they share once (a minute's two
    /// ends share all of them but rarely one).
    pub(crate) fn basis_pair(&self, s: usize, venue: Venue, a: u64, b: u64) -> (f64, f64) {
        let mut seen: Vec<((u64, u64, u64), f64)> = Vec::with_capacity(12);
        let mut memo = |key: u64, spacing: u64, k: u64| {
            if let Some(&(_, z)) = seen.iter().find(|(x, _)| *x == (key, spacing, k)) {
                return z;
            }
            let z = knot(key, spacing, k);
            seen.push(((key, spacing, k), z));
            z
        };
        (self.basis_by(s, venue, a, &mut memo), self.basis_by(s, venue, b, &mut memo))
    }

    fn basis_by(&self, s: usize, venue: Venue, t: u64, z: &mut dyn FnMut(u64, u64, u64) -> f64) -> f64 {
        let carry = match venue {
            Venue::Spot => return 0.0,
            Venue::Perp => 0.0,
            Venue::CurrentQuarter => 0.004,
            Venue::NextQuarter => 0.008,
        };
        let (k, sec) = (self.key(s, &[5]), t / 1000);
        let mut kn = |key: u64, spacing: u64| knot_noise_by(spacing, sec, |i| z(key, spacing, i));
        let legacy = carry + 0.0003 + 0.00012 * kn(k, 1_800) + 0.00015 * kn(k, 14_400) + 0.0002 * kn(k, 86_400);
        let p = self.profile_of(s);
        if p.premium_level == 0.0 && p.premium_swing == 0.0 {
            return legacy;
        }
        let slow = self.key(s, &[11]);
        legacy + p.premium_level + p.premium_swing * (0.7 * kn(slow, 604_800) + 0.3 * kn(slow, 2_592_000))
    }

    /// `(index, mark)` in 1e-8 given the spot mid at `t`.
    fn index_mark(&self, s: usize, spot: f64, t: u64) -> (u64, u64) {
        let index = spot * (1.0 + 0.00002 * gauss(hash(&[self.key(s, &[6]), t / 1000])));
        let mark = index * (1.0 + self.basis(s, Venue::Perp, t));
        ((index * E8).round() as u64, (mark * E8).round() as u64)
    }

    /// One index or mark sample per second of minute `m` (`qty == 0`); none outside the life.
    pub(crate) fn samples(&self, s: usize, series: Series, m: u64) -> Vec<Trade> {
        let t0 = self.minute_start(m);
        if !self.life_of(s).trades_at(t0) {
            return Vec::new();
        }
        let (p0, p1) = self.minute_mids(s, Venue::Spot, m);
        let (a, b) = (p0.ln(), p1.ln());
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

    /// Funding rate (1e-8) over the premium samples of the minutes in `[from, to)` (of the
    /// symbol's life).
    #[must_use]
    pub fn funding_over(&self, symbol: &str, from: u64, to: u64) -> Option<i64> {
        let (from, to) = self.clip(self.index_of(symbol)?, from, to);
        let n = to.saturating_sub(from).div_ceil(MINUTE).max(1);
        let sum: i64 = (0..n).map(|k| self.premium_e8(symbol, from + k * MINUTE)).sum::<Option<i64>>()?;
        Some(funding_formula(div_round(i128::from(sum), i128::from(n)) as i64))
    }

    /// The rate settled at `funding_time` (a multiple of 8 h): over the preceding 8 hours.
    #[must_use]
    pub fn funding_rate(&self, symbol: &str, funding_time: u64) -> Option<i64> {
        self.funding_over(symbol, funding_time.saturating_sub(FUNDING_MS), funding_time)
    }

    /// The settlement of a delisted perpetual: `(delisting ms, price in 1e-8)`, the mean index
    /// price over the 30 minutes before the delisting (Binance settles delisted perpetuals on an
    /// index average). `None` for a symbol never delisted.
    #[must_use]
    pub fn settlement_e8(&self, symbol: &str) -> Option<(u64, u64)> {
        let s = self.index_of(symbol)?;
        let d = self.life_of(s).delisted_ms?;
        let (from, _) = self.clip(s, d.saturating_sub(SETTLEMENT_WINDOW_MS), d);
        let (sum, n) = (self.minute(from)..self.minute(d))
            .flat_map(|m| self.samples(s, Series::Index, m))
            .filter(|u| u.time >= from && u.time < d)
            .fold((0i128, 0i128), |(sum, n), u| (sum + i128::from(u.price), n + 1));
        Some((d, div_round(sum, n.max(1)) as u64))
    }

    /// USD-M open interest at `t`, in the contract's quantity units (0 outside the life).
    #[must_use]
    pub fn open_interest(&self, symbol: &str, t: u64) -> Option<u64> {
        let s = self.index_of(symbol)?;
        if !self.life_of(s).trades_at(t) {
            return Some(0);
        }
        let spec = &self.specs[s];
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

    /// The book of `venue` at `t` with at most `levels` per side (`usize::MAX`: all), the same
    /// for every `t` of one 100 ms bucket; empty outside the symbol's life. See [`super::book`].
    #[must_use]
    pub fn depth(&self, symbol: &str, venue: Venue, t: u64, levels: usize) -> Option<Depth> {
        let s = self.index_of(symbol)?;
        Some(self.book(s, venue, self.bucket(t), levels))
    }
}
