//! Counter-based randomness: every draw is a pure function of (seed, labels, index), which is
//! what makes the model random-access (no state carried from 2017 to answer 2019).

/// SplitMix64 finaliser: a strong 64-bit mixer.
#[must_use]
pub const fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hash of a label sequence.
#[must_use]
pub fn hash(parts: &[u64]) -> u64 {
    parts.iter().fold(0x243F_6A88_85A3_08D3, |h, &p| mix(h ^ mix(p)))
}

/// FNV-1a of a string, to turn symbols into labels.
#[must_use]
pub fn str_key(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Uniform in (0, 1).
#[must_use]
pub fn unit(h: u64) -> f64 {
    ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// Standard normal from one hash (Box–Muller on two derived uniforms).
#[must_use]
pub fn gauss(h: u64) -> f64 {
    let (u1, u2) = (unit(mix(h ^ 0xA5A5)), unit(mix(h ^ 0x5A5A)));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A cheap sequential stream for the inside of one generated unit (one minute of trades).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    #[must_use]
    pub fn new(key: u64) -> Self {
        Self(key)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    pub fn unit(&mut self) -> f64 {
        unit(self.next_u64())
    }

    pub fn gauss(&mut self) -> f64 {
        gauss(self.next_u64())
    }

    /// Uniform integer in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}
