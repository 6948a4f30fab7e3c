//! Random-access stochastic paths: a Lévy (Brownian-bridge) construction for prices and Haar
//! sums for per-minute counts, both O(levels) per evaluation with exact prefix sums for counts.

use super::rng::{gauss, hash, mix};

/// Dyadic horizon: 2^24 minutes (~32 years from the history start).
pub const LEVELS: u32 = 24;
const HORIZON: u64 = 1 << LEVELS;
/// Displacements of intervals longer than this (minutes, ~90 days) are damped to it, so the
/// price wanders like GBM up to a quarter and stays in a plausible band over years.
const DAMP_MINUTES: f64 = 131_072.0;

/// Brownian motion in "one-minute standard deviation" units at minute `m` (W(0) = 0).
#[must_use]
pub fn bridge(key: u64, m: u64) -> f64 {
    let m = m.min(HORIZON);
    let sd = |len: u64| (len as f64).min(DAMP_MINUTES).sqrt();
    let (mut a, mut b) = (0u64, HORIZON);
    let (mut wa, mut wb) = (0.0, sd(HORIZON) * gauss(hash(&[key, u64::from(LEVELS), 0])));
    loop {
        if m == a {
            return wa;
        }
        if m == b {
            return wb;
        }
        let len = b - a;
        let mid = a + len / 2;
        let z = gauss(hash(&[key, len, mid]));
        let wm = 0.5 * (wa + wb) + 0.5 * sd(len) * z;
        if m < mid {
            (b, wb) = (mid, wm);
        } else {
            (a, wa) = (mid, wm);
        }
    }
}

/// Minutes per block of [`bridge_block`] (a power of two dividing the horizon).
pub const BLOCK: u64 = 1 << 10;

/// `bridge(key, m)` for every `m` in `[b·BLOCK, (b+1)·BLOCK]` (`BLOCK + 1` values, so the pair
/// `(m, m + 1)` of any minute of the block is inside), bit-identical to [`bridge`]: the same
/// nodes are computed from the same parents with the same operations, once each. A whole block
/// costs about what two point evaluations cost per minute saved, which is what makes generating
/// long kline ranges of many symbols cheap while every instant stays directly computable.
#[must_use]
pub fn bridge_block(key: u64, b: u64) -> Vec<f64> {
    let n = BLOCK as usize;
    let lo = b.saturating_mul(BLOCK);
    if lo >= HORIZON {
        return vec![bridge(key, HORIZON); n + 1];
    }
    let sd = |len: u64| (len as f64).min(DAMP_MINUTES).sqrt();
    let (mut a, mut e) = (0u64, HORIZON);
    let (mut wa, mut we) = (0.0, sd(HORIZON) * gauss(hash(&[key, u64::from(LEVELS), 0])));
    while e - a > BLOCK {
        let len = e - a;
        let mid = a + len / 2;
        let wm = 0.5 * (wa + we) + 0.5 * sd(len) * gauss(hash(&[key, len, mid]));
        if lo < mid {
            (e, we) = (mid, wm);
        } else {
            (a, wa) = (mid, wm);
        }
    }
    let mut out = vec![0.0; n + 1];
    (out[0], out[n]) = (wa, we);
    // Breadth-first over dyadic levels: each midpoint from its two already-known endpoints.
    let mut half = n / 2;
    while half >= 1 {
        let len = 2 * half as u64;
        for i in (half..n).step_by(2 * half) {
            let z = gauss(hash(&[key, len, lo + i as u64]));
            out[i] = 0.5 * (out[i - half] + out[i + half]) + 0.5 * sd(len) * z;
        }
        half /= 2;
    }
    out
}

/// Stationary smooth noise with unit variance-ish: linear interpolation of iid normals on knots
/// every `spacing` units; decorrelates after one spacing, hence mean-reverting.
#[must_use]
pub fn knot_noise(key: u64, spacing: u64, t: u64) -> f64 {
    knot_noise_by(spacing, t, |k| gauss(hash(&[key, spacing, k])))
}

/// [`knot_noise`] with the knot values given by `z(k)`, so nearby instants can share them
/// (bit-identical to it when `z(k) = gauss(hash(&[key, spacing, k]))`).
pub fn knot_noise_by(spacing: u64, t: u64, mut z: impl FnMut(u64) -> f64) -> f64 {
    let k = t / spacing;
    let u = (t % spacing) as f64 / spacing as f64;
    let (z0, z1) = (z(k), z(k + 1));
    (1.0 - u) * z0 + u * z1
}

/// Per-minute non-negative counts `base + Σ_l a_l,j · h_l,j(m)`: Haar wavelets with random
/// amplitudes in {-1, 0, 1}. `prefix` is exact and O(levels), which makes ids global.
#[derive(Debug, Clone, Copy)]
pub struct Haar {
    pub key: u64,
    pub levels: &'static [u32],
    /// Added to every minute; `base >= levels.len() + min` keeps counts `>= min`.
    pub base: u64,
}

impl Haar {
    fn amp(&self, level: u32, block: u64) -> i64 {
        (mix(self.key ^ mix(u64::from(level) << 48 ^ block)) % 3) as i64 - 1
    }

    /// Count of minute `m`.
    #[must_use]
    pub fn value(&self, m: u64) -> u64 {
        let s: i64 = self
            .levels
            .iter()
            .map(|&l| {
                let sign = if (m >> (l - 1)) & 1 == 0 { 1 } else { -1 };
                self.amp(l, m >> l) * sign
            })
            .sum();
        (self.base as i64 + s) as u64
    }

    /// Σ value(k) for k in 0..m.
    #[must_use]
    pub fn prefix(&self, m: u64) -> u64 {
        let s: i64 = self
            .levels
            .iter()
            .map(|&l| {
                let (size, half) = (1u64 << l, 1u64 << (l - 1));
                let off = m & (size - 1);
                let partial = if off <= half { off } else { size - off };
                self.amp(l, m >> l) * partial as i64
            })
            .sum();
        ((self.base * m) as i64 + s) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LV: &[u32] = &[1, 2, 3, 5, 8, 13];

    #[test]
    fn haar_prefix_matches_sum_and_locate_inverts() {
        let h = Haar { key: 7, levels: LV, base: 7 };
        let mut acc = 0;
        for m in 0..5000 {
            assert_eq!(h.prefix(m), acc, "minute {m}");
            let v = h.value(m);
            assert!(v >= 1);
            if v > 0 {
                assert_eq!(Haar::locate_by(acc, 6000, |x| h.prefix(x)), m);
                assert_eq!(Haar::locate_by(acc + v - 1, 6000, |x| h.prefix(x)), m);
            }
            acc += v;
        }
    }

    /// `bridge(1, 12345)` = 130.3371496072678.
    const PINNED_BITS: u64 = 4_638_789_847_333_020_258;

    #[test]
    fn blocks_equal_point_evaluations_bit_for_bit() {
        for (key, b) in [(1u64, 0u64), (1, 12), (77, 5_000), (9, HORIZON / BLOCK - 1), (9, HORIZON / BLOCK)] {
            let block = bridge_block(key, b);
            assert_eq!(block.len() as u64, BLOCK + 1);
            for (j, w) in block.iter().enumerate() {
                let m = b * BLOCK + j as u64;
                assert_eq!(w.to_bits(), bridge(key, m).to_bits(), "key {key} minute {m}");
            }
        }
    }

    #[test]
    fn bridge_is_deterministic_and_scaled() {
        assert_eq!(bridge(1, 0), 0.0);
        // Pinned: the simulator's history is a pure function of its seed, in every process and
        // build, and regardless of which minutes were evaluated before.
        let _ = bridge(1, 99);
        assert_eq!(bridge(1, 12345).to_bits(), PINNED_BITS, "{}", bridge(1, 12345));
        // one-minute increments have unit variance
        let n = 4000;
        let var: f64 = (0..n).map(|m| (bridge(3, m + 1) - bridge(3, m)).powi(2)).sum::<f64>() / n as f64;
        assert!((0.8..1.2).contains(&var), "{var}");
    }
}
