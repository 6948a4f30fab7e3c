//! The run file: [`RunSpec`] (TOML, unknown keys rejected with the key's name).

use std::path::{Path, PathBuf};

use nautilus_core::UnixNanos;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{
    delisting::Delisting,
    error::{Error, Result},
    execution::Execution,
    venue::VenueSpec,
};

/// Which strategy to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategySpec {
    /// Registry name (`buy-and-hold`, `targets-from-file`, ...).
    pub name: String,
    /// Strategy parameters, passed to the registry constructor.
    #[serde(default = "empty_table")]
    pub params: toml::Value,
}

fn empty_table() -> toml::Value {
    toml::Value::Table(toml::Table::new())
}

fn default_reporting() -> String {
    "USDT".into()
}

fn yes() -> bool {
    true
}

fn default_sample() -> u64 {
    60
}

/// A backtest run file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// Catalog folder (see `data::catalog`).
    pub catalog: PathBuf,
    /// Instrument ids to load and trade (`BTCUSDT.BINANCE`, `BTCUSDT-PERP.BINANCE`).
    pub instruments: Vec<String>,
    /// Bar types to load and subscribe (EXTERNAL bars, `ts_init` = bar close).
    #[serde(default)]
    pub bar_types: Vec<String>,
    /// Custom data types to load for the instruments: `OpenInterest`, `LongShortRatio`,
    /// `TakerBuySellVolume`.
    #[serde(default)]
    pub custom_types: Vec<String>,
    /// Instrument ids whose trade ticks (trades / aggTrades) are loaded and delivered.
    #[serde(default)]
    pub trade_ticks: Vec<String>,
    /// Instrument ids whose quote ticks (bookTicker) are loaded and delivered.
    #[serde(default)]
    pub quote_ticks: Vec<String>,
    /// Instrument ids whose recorded order book (`OrderBookDelta`s: depth snapshots and diffs)
    /// is loaded: the matching engine fills against it (needs `venue.book_type = "L2_MBP"`) and
    /// the Alpha sees it ([`crate::book`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub book_deltas: Vec<String>,
    /// Perpetual ids whose mark prices are loaded and delivered.
    #[serde(default)]
    pub mark_prices: Vec<String>,
    /// Perpetual ids whose index prices are loaded and delivered.
    #[serde(default)]
    pub index_prices: Vec<String>,
    /// Load the perpetuals' `funding_rate_update` rows: delivered to the Alpha and applied by
    /// the funding ledger (default true).
    #[serde(default = "yes")]
    pub funding: bool,
    /// Inclusive start / end, RFC 3339 (`2024-01-01T00:00:00Z`); default: all data.
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    pub venue: VenueSpec,
    /// Order type for reaching targets (default market).
    #[serde(default)]
    pub execution: Execution,
    /// Skip a rebalance whose notional is below this fraction of equity (default 0).
    #[serde(default)]
    pub rebalance_threshold: Decimal,
    /// Currency of equity and statistics (default `USDT`).
    #[serde(default = "default_reporting")]
    pub reporting_currency: String,
    /// Interval of the equity curve and the recorded prices in seconds (the last point of each;
    /// default 60): bounds a tick run's results, keeps every bar of 1m bars.
    #[serde(default = "default_sample")]
    pub sample_seconds: u64,
    /// Interval of the recorded prices in seconds; default `sample_seconds` × ⌈instruments / 2⌉
    /// (a pair keeps every bar; a universe's table stays a pair's size).
    #[serde(default)]
    pub price_sample_seconds: Option<u64>,
    /// Perpetuals that stop trading during the run (added to the catalog's `InstrumentClose`
    /// rows; one here wins for its instrument): their positions are settled then.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delistings: Vec<Delisting>,
    pub strategy: StrategySpec,
    /// Output folder; no files are written when absent.
    #[serde(default)]
    pub output: Option<PathBuf>,
}

impl RunSpec {
    /// A spec with every optional key at its default (no data types, no output).
    #[must_use]
    pub fn new(instruments: Vec<String>, venue: VenueSpec, strategy: StrategySpec) -> Self {
        Self {
            catalog: PathBuf::from("catalog"),
            instruments,
            bar_types: vec![],
            custom_types: vec![],
            trade_ticks: vec![],
            quote_ticks: vec![],
            book_deltas: vec![],
            mark_prices: vec![],
            index_prices: vec![],
            funding: true,
            start: None,
            end: None,
            venue,
            execution: Execution::default(),
            rebalance_threshold: Decimal::ZERO,
            reporting_currency: default_reporting(),
            sample_seconds: default_sample(),
            price_sample_seconds: None,
            delistings: vec![],
            strategy,
            output: None,
        }
    }

    /// Parses a run file; errors name the offending key and line.
    ///
    /// # Errors
    /// TOML syntax, unknown keys, missing keys, wrong types.
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::spec("run file", e.to_string().trim_end()))
    }

    /// Reads and parses a run file.
    ///
    /// # Errors
    /// I/O and [`Self::from_toml`] errors, naming the path.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
        Self::from_toml(&text).map_err(|e| Error::spec(path.display().to_string(), e))
    }

    /// `start` as nanoseconds, if set.
    ///
    /// # Errors
    /// Not RFC 3339, naming the key.
    pub fn start_ns(&self) -> Result<Option<UnixNanos>> {
        time("start", self.start.as_deref())
    }

    /// `end` as nanoseconds, if set.
    ///
    /// # Errors
    /// Not RFC 3339, naming the key.
    pub fn end_ns(&self) -> Result<Option<UnixNanos>> {
        time("end", self.end.as_deref())
    }

    /// Sampling interval of the recorded prices (ns), see `price_sample_seconds`.
    #[must_use]
    pub fn price_sample_ns(&self) -> u64 {
        let per_pair = self.sample_seconds * (self.instruments.len() as u64).div_ceil(2).max(1);
        self.price_sample_seconds.unwrap_or(per_pair) * 1_000_000_000
    }

    /// The TOML of the run as executed (for the results folder).
    ///
    /// # Errors
    /// Encoding errors (values TOML cannot hold).
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string(self).map_err(|e| Error::encode("run.toml", e))
    }
}

fn time(key: &'static str, v: Option<&str>) -> Result<Option<UnixNanos>> {
    v.map(|s| data::rfc3339_to_ns(key, s).map_err(|e| Error::spec(key, e))).transpose()
}
