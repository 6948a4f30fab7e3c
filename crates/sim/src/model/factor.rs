//! The factor model behind the generated symbols' prices, and the block cache that makes every
//! symbol's log-price path cheap to evaluate over long ranges while staying random-access.
//!
//! A generated symbol's log mid at minute `m` is
//! `ln p0 + β·σ_M·M(m) + σ_S·S_k(m) + σ_I·I(m)`, each of `M` (market), `S_k` (its sector) and
//! `I` (its own) a Brownian bridge path ([`super::path::bridge`], per-minute units). The market
//! factor `M` is the configured symbols' own paths summed and scaled to unit variance
//! (`(W_BTC + W_ETH)/√2` by default): BTCUSDT and ETHUSDT keep exactly the paths they had before
//! the universe existed, and every generated symbol co-moves with them. (BTCUSDT and ETHUSDT
//! are therefore uncorrelated with each other, as they always were in this simulator.)
//!
//! Paths are evaluated one block of [`BLOCK`] minutes at a time ([`bridge_block`], bit-identical
//! to point evaluation) and kept in bounded caches, so a page of klines costs a few table
//! lookups per minute instead of several dozen hashes.

use std::sync::Arc;

use super::{
    cache::Cache,
    path::{BLOCK, bridge_block},
};

/// How a symbol's price path is built.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Driver {
    /// Its own path from `initial_price` and `annual_vol_pct`: the configured symbols, as
    /// before the universe existed.
    Own,
    /// The factor model: loading `beta` on the market factor, its `sector`'s factor, and an
    /// idiosyncratic path of annual vol `idio_vol` (a fraction: 0.45 = 45 %).
    Factor { sector: usize, beta: f64, idio_vol: f64 },
}

/// What distinguishes one symbol's dynamics from another's, beyond its grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    pub driver: Driver,
    /// Lasting premium of the perpetual over spot, added to the legacy basis (0.0005 = 5 bp).
    pub premium_level: f64,
    /// Amplitude of the slow (7 and 30 day) premium swings that make funding persist.
    pub premium_swing: f64,
}

impl Profile {
    /// The configured symbols: their own path, the legacy basis.
    pub const OWN: Profile = Profile { driver: Driver::Own, premium_level: 0.0, premium_swing: 0.0 };
}

/// Annual vol (fraction) → per-minute standard deviation.
#[must_use]
pub fn per_minute(annual: f64) -> f64 {
    annual / (525_600f64).sqrt()
}

/// Blocks kept per cache (bounded memory: ~8 KB a block).
const CACHE_CAP: usize = 4_096;

/// Path blocks by `(key, block)`.
pub(crate) type BlockCache = Cache<(u64, u64), Arc<[f64]>>;

/// The shared factor paths and both caches.
#[derive(Debug)]
pub(crate) struct Paths {
    /// Bridge keys whose normalised sum is the market factor.
    pub market: Vec<u64>,
    /// One bridge key per sector.
    pub sectors: Vec<u64>,
    pub market_vol: f64,
    pub sector_vol: f64,
    bridges: BlockCache,
    pub(crate) mids: BlockCache,
}

impl Paths {
    pub(crate) fn new(market: Vec<u64>, sectors: Vec<u64>, market_vol: f64, sector_vol: f64) -> Self {
        let (bridges, mids) = (BlockCache::new(CACHE_CAP), BlockCache::new(CACHE_CAP));
        Self { market, sectors, market_vol, sector_vol, bridges, mids }
    }

    /// One bridge block, cached.
    pub(crate) fn bridge(&self, key: u64, b: u64) -> Arc<[f64]> {
        self.bridges.get_or((key, b), || bridge_block(key, b).into())
    }

    /// `ln p0 + σ·W` over block `b` for a symbol on its own path `key`: the exact operations of
    /// the point formula, so values are bit-identical to it.
    pub(crate) fn own_block(&self, ln_p0: f64, sigma: f64, key: u64, b: u64) -> Vec<f64> {
        bridge_block(key, b).iter().map(|w| ln_p0 + sigma * w).collect()
    }

    /// The factor model's log mids over block `b`.
    pub(crate) fn factor_block(&self, ln_p0: f64, driver: Driver, idio_key: u64, b: u64) -> Vec<f64> {
        let Driver::Factor { sector, beta, idio_vol } = driver else { unreachable!("own paths use own_block") };
        let scale = 1.0 / (self.market.len() as f64).sqrt();
        let market: Vec<Arc<[f64]>> = self.market.iter().map(|&k| self.bridge(k, b)).collect();
        let sector = self.bridge(self.sectors[sector % self.sectors.len()], b);
        let idio = bridge_block(idio_key, b);
        let (bm, ss, si) = (beta * per_minute(self.market_vol), per_minute(self.sector_vol), per_minute(idio_vol));
        (0..=BLOCK as usize)
            .map(|j| {
                let m: f64 = market.iter().map(|w| w[j]).sum::<f64>() * scale;
                ln_p0 + bm * m + ss * sector[j] + si * idio[j]
            })
            .collect()
    }
}
