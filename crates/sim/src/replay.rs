//! Replay of real data.binance.vision archive files (klines, aggTrades, trades; `.csv` or the
//! archive's `.zip`) through the same REST endpoints the synthetic model serves.
//!
//! [`Replay::load`] reads every configured [`ReplayFile`] into memory, sorted by time (klines) or
//! id (trades), validating each row (errors name the file and its line). [`Replay::respond`]
//! answers `klines`/`uiKlines`, `aggTrades`, `trades` and `historicalTrades` for a replayed
//! (market, symbol, kind) with the model's paging rules and wire shapes; decimals are served
//! exactly as written in the file, timestamps in ms (µs archives are converted).
//!
//! Not covered by replay (the model answers, or `-1121` for a symbol only the replay knows):
//! every other endpoint (depth, tickers, exchangeInfo, futures statistics, continuous / index /
//! mark klines) and the WebSocket streams.

mod load;
mod serve;

use std::{collections::HashMap, path::PathBuf};

use binance::{
    Market, Series,
    archive::{self, ArchiveError, ArchiveName},
    endpoint::interval_ms,
};
use serde::{Deserialize, Serialize};

/// What one archive file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayKind {
    /// `<SYMBOL>-<interval>-<date>`: 12 kline columns.
    Klines,
    /// `<SYMBOL>-aggTrades-<date>`: `agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker[,is_best_match]`.
    AggTrades,
    /// `<SYMBOL>-trades-<date>`: `trade_id,price,qty,quote_qty,time,is_buyer_maker[,is_best_match]`.
    Trades,
}

/// One `[[replay]]` table of the simulator configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayFile {
    /// A `.csv` file or a data.binance.vision `.zip` holding one CSV.
    pub path: PathBuf,
    pub market: Market,
    pub kind: ReplayKind,
    /// Upper-case symbol; derived from the file name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    /// Kline interval (`1m`, `1h`, …); klines only, derived from the file name when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
}

impl ReplayFile {
    /// Describes `path` from its data.binance.vision name (`ADABTC-1m-2021-11-27.zip`,
    /// `BTCUSDT-aggTrades-2024-01-01.csv`, `BTCUSDT-trades-….csv`) and parent folders: the
    /// nearest `spot` or `um`/`usdm` folder selects the market (spot when none); `market`
    /// overrides the folders. See [`ArchiveName::parse`].
    ///
    /// # Errors
    /// The file name does not follow the archive's naming, names COIN-M data, or holds a kind
    /// replay does not serve.
    pub fn infer(path: impl Into<PathBuf>, market: Option<Market>) -> Result<Self, ReplayError> {
        let path = path.into();
        let market = match market {
            Some(m) => m,
            None => archive::folder_market(&path)?.unwrap_or(Market::Spot),
        };
        let name = ArchiveName::parse(&path, Some(market))?;
        let kind = match name.kind {
            Series::Klines => ReplayKind::Klines,
            Series::AggTrades => ReplayKind::AggTrades,
            Series::Trades => ReplayKind::Trades,
            other => {
                return Err(ReplayError::file(
                    &path,
                    format!("replay serves klines, aggTrades and trades, not {other}"),
                ));
            }
        };
        Ok(Self { path, market, kind, symbol: Some(name.symbol), interval: name.interval })
    }

    /// The symbol, given or derived from the file name.
    ///
    /// # Errors
    /// Neither given nor derivable.
    pub fn resolved_symbol(&self) -> Result<String, ReplayError> {
        match &self.symbol {
            Some(s) => Ok(s.to_ascii_uppercase()),
            None => archive::name_parts(&self.path)
                .map(|(s, _, _)| s)
                .ok_or_else(|| ReplayError::file(&self.path, "no symbol given and none in the file name")),
        }
    }

    /// The kline interval name and its length in ms, given or derived from the file name.
    ///
    /// # Errors
    /// Neither given nor derivable, or not one of Binance's fixed-length intervals.
    pub fn resolved_interval(&self) -> Result<(String, u64), ReplayError> {
        let name = match &self.interval {
            Some(i) => i.clone(),
            None => archive::name_parts(&self.path)
                .map(|(_, i, _)| i)
                .ok_or_else(|| ReplayError::file(&self.path, "no interval given and none in the file name"))?,
        };
        let ms = interval_ms(&name)
            .ok_or_else(|| ReplayError::file(&self.path, format!("unsupported kline interval '{name}'")))?;
        Ok((name, ms))
    }
}

/// A replay file that could not be loaded: the file, the 1-based line when a row is at fault,
/// and what is wrong. Displays as `path:line: message` (or `path: message`). The shared
/// [`ArchiveError`] of [`binance::archive`].
pub type ReplayError = ArchiveError;

/// One kline row; decimals exactly as in the file, times in ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KlineRow {
    pub open_time: u64,
    pub open: Box<str>,
    pub high: Box<str>,
    pub low: Box<str>,
    pub close: Box<str>,
    pub volume: Box<str>,
    pub close_time: u64,
    pub quote_volume: Box<str>,
    pub count: u64,
    pub taker_buy_volume: Box<str>,
    pub taker_buy_quote_volume: Box<str>,
    pub ignore: Box<str>,
}

/// One aggregate trade row; time in ms. `is_best_match` is `None` when the file has no column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggTradeRow {
    pub id: u64,
    pub price: Box<str>,
    pub qty: Box<str>,
    pub first_id: u64,
    pub last_id: u64,
    pub time: u64,
    pub is_buyer_maker: bool,
    pub is_best_match: Option<bool>,
}

/// One trade row; time in ms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRow {
    pub id: u64,
    pub price: Box<str>,
    pub qty: Box<str>,
    pub quote_qty: Box<str>,
    pub time: u64,
    pub is_buyer_maker: bool,
    pub is_best_match: Option<bool>,
}

/// The klines of one interval of one (market, symbol), sorted by open time.
#[derive(Debug, Clone)]
struct KlineSet {
    interval_ms: u64,
    rows: Vec<KlineRow>,
}

type Key = (Market, String);

/// All replayed data, in memory. Files of the same (market, symbol, kind[, interval]) are
/// merged; rows repeating a key already loaded (open time, trade id) are dropped.
#[derive(Debug, Default)]
pub struct Replay {
    klines: HashMap<Key, Vec<KlineSet>>,
    agg_trades: HashMap<Key, Vec<AggTradeRow>>,
    trades: HashMap<Key, Vec<TradeRow>>,
}

impl Replay {
    /// Loads and validates every file.
    ///
    /// # Errors
    /// The first unreadable file or invalid row (see [`ReplayError`]).
    pub fn load(files: &[ReplayFile]) -> Result<Self, ReplayError> {
        let mut r = Replay::default();
        for f in files {
            let symbol = f.resolved_symbol()?;
            let text = archive::read_text(&f.path)?;
            let key = (f.market, symbol);
            match f.kind {
                ReplayKind::Klines => {
                    let (_, ms) = f.resolved_interval()?;
                    let rows = load::klines(&f.path, &text)?;
                    let sets = r.klines.entry(key).or_default();
                    match sets.iter_mut().find(|s| s.interval_ms == ms) {
                        Some(s) => merge(&mut s.rows, rows, |k| k.open_time),
                        None => sets.push(KlineSet { interval_ms: ms, rows }),
                    }
                }
                ReplayKind::AggTrades => {
                    let rows = load::agg_trades(&f.path, &text)?;
                    merge(r.agg_trades.entry(key).or_default(), rows, |a| a.id);
                }
                ReplayKind::Trades => {
                    let rows = load::trades(&f.path, &text)?;
                    merge(r.trades.entry(key).or_default(), rows, |t| t.id);
                }
            }
        }
        Ok(r)
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.klines.is_empty() && self.agg_trades.is_empty() && self.trades.is_empty()
    }

    /// Whether any file replays `symbol` (upper case) on `market`.
    #[must_use]
    pub fn has(&self, market: Market, symbol: &str) -> bool {
        let k = (market, symbol.to_string());
        self.klines.contains_key(&k) || self.agg_trades.contains_key(&k) || self.trades.contains_key(&k)
    }

    /// Whether `kind` of `symbol` on `market` is replayed.
    #[must_use]
    pub fn covers(&self, market: Market, symbol: &str, kind: ReplayKind) -> bool {
        let k = (market, symbol.to_string());
        match kind {
            ReplayKind::Klines => self.klines.contains_key(&k),
            ReplayKind::AggTrades => self.agg_trades.contains_key(&k),
            ReplayKind::Trades => self.trades.contains_key(&k),
        }
    }

    /// The latest replayed instant in ms (a kline's close time, a trade's time).
    #[must_use]
    pub fn last_time_ms(&self) -> Option<u64> {
        let k = self.klines.values().flatten().filter_map(|s| s.rows.last()).map(|r| r.close_time);
        let a = self.agg_trades.values().filter_map(|v| v.last()).map(|r| r.time);
        let t = self.trades.values().filter_map(|v| v.last()).map(|r| r.time);
        k.chain(a).chain(t).max()
    }
}

/// Appends `new` to `rows`, re-sorts by `key` (stable) and drops repeated keys.
fn merge<T>(rows: &mut Vec<T>, new: Vec<T>, key: impl Fn(&T) -> u64) {
    let sorted = rows.last().zip(new.first()).is_none_or(|(a, b)| key(a) < key(b));
    rows.extend(new);
    if !sorted {
        rows.sort_by_key(&key);
        rows.dedup_by_key(|r| key(r));
    }
}
