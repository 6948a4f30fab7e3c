//! Deterministic, seeded, random-access market model: the single source of every number the
//! simulator serves. Any instant is computable directly (no simulation from the history start),
//! and all payloads derive from the same trades, so klines, tickers and streams agree exactly.
//!
//! Layers: [`path`] (price paths and counts), [`trades`] (trades → klines), `series` (caching
//! and range statistics), `deriv` (basis, index, mark, funding, open interest, depth).

mod deriv;
pub mod fixed;
pub mod path;
pub mod rng;
pub mod series;
pub mod trades;

use std::{collections::HashMap, sync::Mutex};

use binance::Market;

pub use deriv::{Depth, FUNDING_MS, INTEREST_E8, Ratio, funding_formula};
pub use trades::{Agg, AggTrade, Kline, Trade};

use self::{
    path::{Haar, bridge},
    rng::{hash, str_key},
};

/// Price/quantity grid of one symbol on one market.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractSpec {
    /// Decimals of the integer price units.
    pub price_decimals: u32,
    /// Tick size in price units (`10` with 2 decimals = `0.10`).
    pub tick: u64,
    /// Decimals of the integer quantity units (the step is one unit).
    pub qty_decimals: u32,
    /// Mean trade size in quantity units.
    pub mean_qty: u64,
}

/// One configured symbol, listed on spot and USD-M (perpetual plus two quarterlies).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SymbolSpec {
    pub symbol: String,
    pub base_asset: String,
    pub quote_asset: String,
    /// Price level (whole quote units) the path is built around.
    pub initial_price: u64,
    pub annual_vol_pct: u32,
    pub spot: ContractSpec,
    pub usdm: ContractSpec,
    /// Typical open interest in whole base units.
    pub open_interest: u64,
    pub circulating_supply: u64,
}

impl SymbolSpec {
    /// A USDT-quoted symbol with Binance-like grids.
    #[must_use]
    pub fn usdt(base: &str, initial_price: u64, vol: u32, spot_qty_dp: u32, fut_tick: u64) -> Self {
        Self {
            symbol: format!("{base}USDT"),
            base_asset: base.into(),
            quote_asset: "USDT".into(),
            initial_price,
            annual_vol_pct: vol,
            spot: ContractSpec {
                price_decimals: 2,
                tick: 1,
                qty_decimals: spot_qty_dp,
                mean_qty: 10u64.pow(spot_qty_dp) / 100,
            },
            usdm: ContractSpec { price_decimals: 2, tick: fut_tick, qty_decimals: 3, mean_qty: 50 },
            open_interest: 80_000_000_000 / initial_price,
            circulating_supply: 20_000_000 * 60_000 / initial_price,
        }
    }
}

impl Default for SymbolSpec {
    fn default() -> Self {
        Self::usdt("BTC", 60_000, 70, 5, 10)
    }
}

/// Model settings (TOML/JSON via serde; unknown keys rejected).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    pub seed: u64,
    /// No data exists before this instant (ms).
    pub history_start_ms: u64,
    pub symbols: Vec<SymbolSpec>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            history_start_ms: 1_483_228_800_000, // 2017-01-01T00:00:00Z
            symbols: vec![SymbolSpec::default(), SymbolSpec::usdt("ETH", 3_000, 80, 4, 1)],
        }
    }
}

/// Where trades happen: spot, the USD-M perpetual, or a USD-M quarterly (continuous klines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Venue {
    Spot,
    Perp,
    CurrentQuarter,
    NextQuarter,
}

impl Venue {
    #[must_use]
    pub fn of(market: Market) -> Venue {
        match market {
            Market::Spot => Venue::Spot,
            Market::UsdM => Venue::Perp,
        }
    }

    #[must_use]
    pub fn market(self) -> Market {
        if self == Venue::Spot { Market::Spot } else { Market::UsdM }
    }

    /// `PERPETUAL`, `CURRENT_QUARTER`, `NEXT_QUARTER`.
    #[must_use]
    pub fn of_contract(contract_type: &str) -> Option<Venue> {
        match contract_type {
            "PERPETUAL" => Some(Venue::Perp),
            "CURRENT_QUARTER" => Some(Venue::CurrentQuarter),
            "NEXT_QUARTER" => Some(Venue::NextQuarter),
            _ => None,
        }
    }
}

/// A per-minute data series that klines can be built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Series {
    Trades(Venue),
    /// Index price, one sample per second, prices in 1e-8 units.
    Index,
    /// Mark price, one sample per second, prices in 1e-8 units.
    Mark,
}

/// Minutes per aggregate trade count / extra trade count Haar level sets (~13 + ~12 per minute).
const AGG_LEVELS: &[u32] = &[1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 17, 20];
const EXTRA_LEVELS: &[u32] = &[1, 2, 3, 4, 6, 7, 9, 11, 13, 15, 18, 21];

pub(crate) const MINUTE: u64 = 60_000;

/// The market model. Cheap to share (`Send + Sync`): caches sit behind a mutex.
#[derive(Debug)]
pub struct Model {
    cfg: ModelConfig,
    keys: Vec<u64>,
    minutes: Mutex<HashMap<(usize, Series, u64), Agg>>,
    hours: Mutex<HashMap<(usize, Series, u64), Agg>>,
}

impl Model {
    #[must_use]
    pub fn new(cfg: ModelConfig) -> Self {
        let keys = cfg.symbols.iter().map(|s| hash(&[cfg.seed, str_key(&s.symbol)])).collect();
        Self { cfg, keys, minutes: Mutex::default(), hours: Mutex::default() }
    }

    #[must_use]
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// Every configured symbol trades on both markets.
    #[must_use]
    pub fn has_symbol(&self, _market: Market, symbol: &str) -> bool {
        self.index_of(symbol).is_some()
    }

    pub(crate) fn index_of(&self, symbol: &str) -> Option<usize> {
        self.cfg.symbols.iter().position(|s| s.symbol == symbol)
    }

    #[must_use]
    pub fn spec(&self, symbol: &str) -> Option<&SymbolSpec> {
        self.index_of(symbol).map(|i| &self.cfg.symbols[i])
    }

    pub(crate) fn contract(&self, s: usize, market: Market) -> &ContractSpec {
        let spec = &self.cfg.symbols[s];
        if market == Market::Spot { &spec.spot } else { &spec.usdm }
    }

    pub(crate) fn key(&self, s: usize, labels: &[u64]) -> u64 {
        labels.iter().fold(self.keys[s], |h, &l| hash(&[h, l]))
    }

    /// Minute index of `t` (from the history start); `t` must be `>= history_start_ms`.
    pub(crate) fn minute(&self, t: u64) -> u64 {
        (t - self.cfg.history_start_ms) / MINUTE
    }

    pub(crate) fn minute_start(&self, m: u64) -> u64 {
        self.cfg.history_start_ms + m * MINUTE
    }

    /// Natural log of the spot mid at minute `m` (the shared driver of every venue).
    fn log_mid(&self, s: usize, m: u64) -> f64 {
        let spec = &self.cfg.symbols[s];
        let sigma = f64::from(spec.annual_vol_pct) / 100.0 / (525_600f64).sqrt();
        (spec.initial_price as f64).ln() + sigma * bridge(self.key(s, &[1]), m)
    }

    /// Spot mid at any ms (geometric interpolation between minute points).
    #[must_use]
    pub fn spot_mid(&self, symbol: &str, t: u64) -> Option<f64> {
        self.index_of(symbol).map(|s| self.mid(s, Venue::Spot, t))
    }

    pub(crate) fn mid(&self, s: usize, venue: Venue, t: u64) -> f64 {
        let t = t.max(self.cfg.history_start_ms);
        let m = self.minute(t);
        let f = (t - self.minute_start(m)) as f64 / MINUTE as f64;
        let (a, b) = (self.log_mid(s, m), self.log_mid(s, m + 1));
        (a + (b - a) * f).exp() * (1.0 + self.basis(s, venue, t))
    }

    fn haars(&self, s: usize, venue: Venue) -> (Haar, Haar) {
        let v = venue as u64;
        (
            Haar { key: self.key(s, &[2, v]), levels: AGG_LEVELS, base: AGG_LEVELS.len() as u64 + 1 },
            Haar { key: self.key(s, &[3, v]), levels: EXTRA_LEVELS, base: EXTRA_LEVELS.len() as u64 },
        )
    }

    /// `(first trade id, first aggregate id)` of minute `m`.
    pub(crate) fn first_ids(&self, s: usize, venue: Venue, m: u64) -> (u64, u64) {
        let (a, x) = self.haars(s, venue);
        let pa = a.prefix(m);
        (pa + x.prefix(m), pa)
    }

    /// The trades of minute `m` (all of them, even beyond "now": callers cut at now).
    pub(crate) fn minute_trades(&self, s: usize, venue: Venue, m: u64) -> Vec<Trade> {
        let (ha, hx) = self.haars(s, venue);
        let (n_agg, n_extra) = (ha.value(m), hx.value(m));
        let (mut id, agg0) = self.first_ids(s, venue, m);
        let c = self.contract(s, venue.market()).clone();
        let t0 = self.minute_start(m);
        let (p0, p1) = (self.mid(s, venue, t0), self.mid(s, venue, t0 + MINUTE));
        let mut rng = rng::Rng::new(self.key(s, &[4, venue as u64, m]));
        let mut offsets: Vec<u64> = (0..n_agg).map(|_| rng.below(MINUTE - n_agg)).collect();
        offsets.sort_unstable();
        let mut fills = vec![1u64; n_agg as usize];
        for _ in 0..n_extra {
            fills[rng.below(n_agg) as usize] += 1;
        }
        let scale = 10f64.powi(c.price_decimals as i32) / c.tick as f64;
        let mut prev: Option<(u64, bool)> = None;
        let mut out = Vec::with_capacity((n_agg + n_extra) as usize);
        for (i, (&off, &n)) in offsets.iter().zip(&fills).enumerate() {
            let time = t0 + off + i as u64;
            let f = (off + i as u64) as f64 / MINUTE as f64;
            let mid = (p0 + (p1 - p0) * f) * (1.0 + 0.00004 * rng.gauss()) * scale;
            let buyer_maker = rng.unit() < 0.5;
            let mut ticks = if buyer_maker { mid.floor() } else { mid.ceil() }.max(1.0) as u64;
            if prev == Some((ticks, buyer_maker)) {
                ticks = if buyer_maker { ticks.saturating_sub(1).max(1) } else { ticks + 1 };
            }
            prev = Some((ticks, buyer_maker));
            for _ in 0..n {
                let qty = ((c.mean_qty as f64) * -rng.unit().ln()).round().max(1.0) as u64;
                let price = ticks * c.tick;
                out.push(Trade { id, agg_id: agg0 + i as u64, time, price, qty, is_buyer_maker: buyer_maker });
                id += 1;
            }
        }
        out
    }
}
