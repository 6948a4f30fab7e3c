//! Deterministic, seeded, random-access market model: the single source of every number the
//! simulator serves. Any instant is computable directly (no simulation from the history start),
//! and all payloads derive from the same trades, so klines, tickers and streams agree exactly.
//!
//! Layers: [`path`] (price paths and counts), [`factor`] (the universe's factor model and the
//! path block cache), [`universe`] (the generated symbols), [`life`] (listings and delistings),
//! [`trades`] (trades → klines), `series` (caching and range statistics), `deriv` (basis,
//! index, mark, funding, settlement, open interest, depth).

pub mod book;
mod cache;
mod deriv;
pub mod factor;
pub mod fixed;
pub mod life;
pub mod path;
pub mod rng;
pub mod series;
pub mod trades;
pub mod universe;

use std::collections::HashMap;

use binance::Market;

pub use deriv::{Depth, FUNDING_MS, INTEREST_E8, Ratio, funding_formula};
pub use factor::{Driver, Profile};
pub use life::Life;
pub use trades::{Agg, AggTrade, Kline, Trade};
pub use universe::UniverseConfig;

use self::{
    cache::Cache,
    factor::Paths,
    path::{BLOCK, Haar},
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
    /// Minimum order notional in whole quote units [default: spot 5, USD-M 100].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_notional: Option<u64>,
    /// `LOT_SIZE` `maxQty` in whole base units [default: spot 9000, USD-M 1000].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_qty: Option<u64>,
    /// `MARKET_LOT_SIZE` `maxQty` in whole base units [default: spot 100, USD-M 120].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market_max_qty: Option<u64>,
}

/// Generated leverage brackets of a symbol without a shipped table ([`crate::brackets`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BracketSpec {
    /// Initial leverage of the first tier (one of Binance's ladder: 125, 100, 75, 50, 25, 20).
    pub max_leverage: u32,
    /// Notional cap of the first tier, whole USDT.
    pub first_cap: u64,
}

/// One symbol, listed on spot and USD-M (perpetual plus two quarterlies).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SymbolSpec {
    pub symbol: String,
    pub base_asset: String,
    pub quote_asset: String,
    /// Price level (quote units) the path is built around.
    pub initial_price: f64,
    /// Annual vol of a configured symbol's own path (generated symbols: their factor model's
    /// total, for information).
    pub annual_vol_pct: u32,
    pub spot: ContractSpec,
    pub usdm: ContractSpec,
    /// Typical open interest in whole base units.
    pub open_interest: u64,
    pub circulating_supply: u64,
    /// Listing instant (ms); `None`: from the history start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed_ms: Option<u64>,
    /// Delisting instant (ms); `None`: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delisted_ms: Option<u64>,
    /// Leverage brackets when Binance's shipped tables have none for the symbol.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brackets: Option<BracketSpec>,
}

impl SymbolSpec {
    /// A USDT-quoted symbol with Binance-like grids.
    #[must_use]
    pub fn usdt(base: &str, initial_price: u64, vol: u32, spot_qty_dp: u32, fut_tick: u64) -> Self {
        Self {
            symbol: format!("{base}USDT"),
            base_asset: base.into(),
            quote_asset: "USDT".into(),
            initial_price: initial_price as f64,
            annual_vol_pct: vol,
            spot: ContractSpec {
                price_decimals: 2,
                tick: 1,
                qty_decimals: spot_qty_dp,
                mean_qty: 10u64.pow(spot_qty_dp) / 100,
                min_notional: None,
                max_qty: None,
                market_max_qty: None,
            },
            usdm: ContractSpec {
                price_decimals: 2,
                tick: fut_tick,
                qty_decimals: 3,
                mean_qty: 50,
                min_notional: None,
                max_qty: None,
                market_max_qty: None,
            },
            open_interest: 80_000_000_000 / initial_price,
            circulating_supply: 20_000_000 * 60_000 / initial_price,
            listed_ms: None,
            delisted_ms: None,
            brackets: None,
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
    /// The configured symbols: each on its own path, as before the universe existed.
    pub symbols: Vec<SymbolSpec>,
    /// Generated symbols after them, up to `universe.size` in all (`[model.universe]`).
    pub universe: UniverseConfig,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            history_start_ms: 1_483_228_800_000, // 2017-01-01T00:00:00Z
            symbols: vec![SymbolSpec::default(), SymbolSpec::usdt("ETH", 3_000, 80, 4, 1)],
            universe: UniverseConfig::default(),
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

/// The market model. Cheap to share (`Send + Sync`): caches sit behind sharded mutexes.
#[derive(Debug)]
pub struct Model {
    cfg: ModelConfig,
    /// The configured symbols, then the generated ones.
    specs: Vec<SymbolSpec>,
    profiles: Vec<Profile>,
    lives: Vec<Life>,
    index: HashMap<String, usize>,
    keys: Vec<u64>,
    paths: Paths,
    minutes: Cache<(usize, Series, u64), Agg>,
    hours: Cache<(usize, Series, u64), Agg>,
}

impl Model {
    #[must_use]
    pub fn new(cfg: ModelConfig) -> Self {
        let mut specs = cfg.symbols.clone();
        let mut profiles = vec![Profile::OWN; specs.len()];
        for (spec, profile) in universe::generate(&cfg) {
            specs.push(spec);
            profiles.push(profile);
        }
        let keys: Vec<u64> = specs.iter().map(|s| hash(&[cfg.seed, str_key(&s.symbol)])).collect();
        let hs = cfg.history_start_ms;
        // Minute-aligned, inside the history.
        let minute = |t: u64| hs + (t.max(hs) - hs).div_ceil(MINUTE) * MINUTE;
        let lives = specs
            .iter()
            .map(|s| Life {
                listed_ms: s.listed_ms.map_or(hs, minute),
                delisted_ms: s.delisted_ms.map(|d| minute(d).max(s.listed_ms.map_or(hs, minute) + MINUTE)),
            })
            .collect();
        let index = specs.iter().enumerate().map(|(i, s)| (s.symbol.clone(), i)).collect();
        // The market factor: the configured symbols' own paths (BTCUSDT, ETHUSDT), or a path of
        // its own when none is configured.
        let mut market: Vec<u64> = (0..cfg.symbols.len()).map(|s| hash(&[keys[s], 1])).collect();
        if market.is_empty() {
            market.push(hash(&[cfg.seed, str_key("market factor")]));
        }
        let u = &cfg.universe;
        let sectors = (0..u.sectors.max(1) as u64).map(|k| hash(&[cfg.seed, str_key("sector factor"), k])).collect();
        let paths = Paths::new(market, sectors, u.market_vol_pct / 100.0, u.sector_vol_pct / 100.0);
        let (minutes, hours) = (Cache::new(series::CACHE_CAP), Cache::new(series::CACHE_CAP));
        Self { cfg, specs, profiles, lives, index, keys, paths, minutes, hours }
    }

    #[must_use]
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// Every symbol of the universe (configured, then generated), listed or not yet.
    #[must_use]
    pub fn symbols(&self) -> &[SymbolSpec] {
        &self.specs
    }

    /// The symbols listed at `now` (in exchangeInfo, delisted ones included).
    pub fn listed(&self, now: u64) -> impl Iterator<Item = &SymbolSpec> {
        self.specs.iter().zip(&self.lives).filter(move |(_, l)| l.is_listed(now)).map(|(s, _)| s)
    }

    /// Whether `symbol` is in the universe at all; whether it is listed yet is [`Model::life`]'s.
    #[must_use]
    pub fn has_symbol(&self, _market: Market, symbol: &str) -> bool {
        self.index_of(symbol).is_some()
    }

    pub(crate) fn index_of(&self, symbol: &str) -> Option<usize> {
        self.index.get(symbol).copied()
    }

    #[must_use]
    pub fn spec(&self, symbol: &str) -> Option<&SymbolSpec> {
        self.index_of(symbol).map(|i| &self.specs[i])
    }

    /// How `symbol`'s prices and funding are generated.
    #[must_use]
    pub fn profile(&self, symbol: &str) -> Option<&Profile> {
        self.index_of(symbol).map(|i| &self.profiles[i])
    }

    /// When `symbol` trades.
    #[must_use]
    pub fn life(&self, symbol: &str) -> Option<Life> {
        self.index_of(symbol).map(|i| self.lives[i])
    }

    pub(crate) fn life_of(&self, s: usize) -> Life {
        self.lives[s]
    }

    pub(crate) fn profile_of(&self, s: usize) -> &Profile {
        &self.profiles[s]
    }

    /// First minute with trades of symbol `s`.
    pub(crate) fn first_minute(&self, s: usize) -> u64 {
        self.minute(self.lives[s].listed_ms)
    }

    /// `[from, to)` cut to the history and to symbol `s`'s life.
    pub(crate) fn clip(&self, s: usize, from: u64, to: u64) -> (u64, u64) {
        self.lives[s].clip(from.max(self.cfg.history_start_ms), to)
    }

    pub(crate) fn contract(&self, s: usize, market: Market) -> &ContractSpec {
        let spec = &self.specs[s];
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

    /// Natural logs of the spot mid at minutes `m` and `m + 1` (the shared driver of every
    /// venue), from the symbol's cached path block.
    fn log_mids(&self, s: usize, m: u64) -> (f64, f64) {
        let (b, j) = (m / BLOCK, (m % BLOCK) as usize);
        let block = self.paths.mids.get_or((s as u64, b), || {
            let spec = &self.specs[s];
            let ln_p0 = spec.initial_price.ln();
            let values = match self.profiles[s].driver {
                Driver::Own => {
                    let sigma = f64::from(spec.annual_vol_pct) / 100.0 / (525_600f64).sqrt();
                    self.paths.own_block(ln_p0, sigma, self.key(s, &[1]), b)
                }
                d @ Driver::Factor { .. } => self.paths.factor_block(ln_p0, d, self.key(s, &[1]), b),
            };
            values.into()
        });
        (block[j], block[j + 1])
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
        let (a, b) = self.log_mids(s, m);
        (a + (b - a) * f).exp() * (1.0 + self.basis(s, venue, t))
    }

    /// Spot mids at the start and the end of minute `m` (one block lookup).
    pub(crate) fn minute_mids(&self, s: usize, venue: Venue, m: u64) -> (f64, f64) {
        let (a, b) = self.log_mids(s, m);
        let t0 = self.minute_start(m);
        let (ba, bb) = self.basis_pair(s, venue, t0, t0 + MINUTE);
        (a.exp() * (1.0 + ba), b.exp() * (1.0 + bb))
    }

    fn haars(&self, s: usize, venue: Venue) -> (Haar, Haar) {
        let v = venue as u64;
        (
            Haar { key: self.key(s, &[2, v]), levels: AGG_LEVELS, base: AGG_LEVELS.len() as u64 + 1 },
            Haar { key: self.key(s, &[3, v]), levels: EXTRA_LEVELS, base: EXTRA_LEVELS.len() as u64 },
        )
    }

    /// `(first trade id, first aggregate id)` of minute `m`: ids count from the listing, so
    /// minutes before it all start at 0.
    pub(crate) fn first_ids(&self, s: usize, venue: Venue, m: u64) -> (u64, u64) {
        let (a, x) = self.haars(s, venue);
        let first = self.first_minute(s);
        let m = m.max(first);
        let (pa, px) = (a.prefix(m), x.prefix(m));
        if first == 0 {
            return (pa + px, pa);
        }
        let (fa, fx) = (a.prefix(first), x.prefix(first));
        (pa - fa + px - fx, pa - fa)
    }

    /// The trades of minute `m` (all of them, even beyond "now": callers cut at now); none
    /// outside the symbol's life.
    pub(crate) fn minute_trades(&self, s: usize, venue: Venue, m: u64) -> Vec<Trade> {
        if !self.lives[s].trades_at(self.minute_start(m)) {
            return Vec::new();
        }
        let (ha, hx) = self.haars(s, venue);
        let (n_agg, n_extra) = (ha.value(m), hx.value(m));
        let (mut id, agg0) = self.first_ids(s, venue, m);
        let c = self.contract(s, venue.market()).clone();
        let t0 = self.minute_start(m);
        let (p0, p1) = self.minute_mids(s, venue, m);
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
