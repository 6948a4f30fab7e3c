//! `alphalab import`: local data.binance.vision bulk files into the raw archive, and one raw
//! bulk file into catalog [`Batch`]es.
//!
//! - [`import_file`] / [`import_dir`]: read a local `.zip` (or unzipped `.csv`), verify its
//!   `.CHECKSUM` sidecar when there is one, and store the bytes unchanged under
//!   `raw/archive/<data.binance.vision path>` with a provenance sidecar ([`RawStore`]).
//! - [`convert_archive_file`]: one bulk file → [`Batch`]es with the pure parsers of
//!   [`crate::parse`], checked to ascend by `ts_init`.
//!
//! File naming, zip reading, checksums and CSV framing are [`binance::archive`]'s (shared with
//! the simulator's replay). Downloading from a base URL (data.binance.vision or a mirror) is
//! [`crate::download`]'s; it stores into the same raw archive, and conversion is this module's.

use std::path::{Path, PathBuf};

use binance::{
    Market,
    archive::{self, ArchiveError, ArchiveKind, ArchiveName},
};
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{CustomData, HasTsInit},
    enums::PriceType,
    instruments::{Instrument, InstrumentAny},
};

use crate::{
    batch::Batch,
    error::{ParseError, ResultExt},
    parse::{
        funding::parse_funding_rate_csv,
        instrument::instrument_id,
        kline::{KlineRow, bar_type, parse_kline},
        metrics::parse_metrics_csv,
        prices::{MARK_INDEX_PRECISION, parse_index_price_kline, parse_mark_price_kline, parse_premium_index_kline},
        quote::parse_book_ticker_csv,
        trade::{parse_agg_trade_csv, parse_trade_csv},
    },
    raw::{RawStore, sha256_hex},
};

/// Why a bulk file could not be imported or converted. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Naming, reading (corrupt zip, missing CSV), checksum, column count or row order:
    /// `path[:line]: message`.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// A row that does not convert; its origin is `path:line`.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// Reading a source file or folder.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Writing into the raw store (the message names the file).
    #[error("{0}")]
    Store(#[source] std::io::Error),
}

/// One file imported into the raw archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedFile {
    pub name: ArchiveName,
    /// The file imported from.
    pub source: PathBuf,
    /// Relative path inside `raw/archive/`: [`ArchiveName::rel_path`] (with `.csv` instead of
    /// `.zip` for an unzipped source).
    pub rel_path: PathBuf,
    /// Where it was stored (its provenance sidecar is [`crate::raw::sidecar`] of it).
    pub stored: PathBuf,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    pub bytes: u64,
    /// Whether a `<source>.CHECKSUM` sidecar was present (and matched; a mismatch is an error).
    pub checksum_verified: bool,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Io { path: path.to_path_buf(), source }
}

fn is_zip(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

fn is_csv(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// `<src>.CHECKSUM`.
fn checksum_path(src: &Path) -> PathBuf {
    let mut s = src.as_os_str().to_owned();
    s.push(".CHECKSUM");
    PathBuf::from(s)
}

/// Imports one local bulk file: names it ([`ArchiveName::parse`], `market_override` replacing
/// the folder's market), checks a zip is readable, verifies `<src>.CHECKSUM` when present
/// (missing: a `log::warn!` and `checksum_verified = false`) and stores the bytes unchanged
/// under `raw/archive/<rel_path>` with a provenance sidecar (source = the canonical source path,
/// retrieved_at = now, UTC).
///
/// # Errors
/// [`ImportError::Archive`] for a name not in the archive's form, a corrupt zip or a checksum
/// mismatch (naming the file and its `.CHECKSUM`); [`ImportError::Io`] reading, and
/// [`ImportError::Store`] writing.
pub fn import_file(store: &RawStore, src: &Path, market_override: Option<Market>) -> Result<ImportedFile, ImportError> {
    let name = ArchiveName::parse(src, market_override)?;
    let bytes = std::fs::read(src).map_err(io_err(src))?;
    if is_zip(src) {
        archive::check_zip(src, &bytes)?;
    } else if std::str::from_utf8(&bytes).is_err() {
        return Err(ArchiveError::file(src, "cannot read: the CSV is not UTF-8").into());
    }
    let sum_path = checksum_path(src);
    let checksum_verified = match std::fs::read_to_string(&sum_path) {
        Ok(text) => {
            archive::verify_checksum(&bytes, &text, &src.to_string_lossy())?;
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            log::warn!("{}: no {} sidecar, imported unverified", src.display(), sum_path.display());
            false
        }
        Err(e) => return Err(io_err(&sum_path)(e)),
    };
    let mut rel_path = name.rel_path();
    if !is_zip(src) {
        rel_path.set_extension("csv");
    }
    let source = std::fs::canonicalize(src).unwrap_or_else(|_| src.to_path_buf());
    let retrieved_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let stored = store
        .store_archive_file(&rel_path, &bytes, &source.to_string_lossy(), &retrieved_at)
        .map_err(ImportError::Store)?;
    Ok(ImportedFile {
        name,
        source: src.to_path_buf(),
        rel_path,
        stored,
        sha256: sha256_hex(&bytes),
        bytes: bytes.len() as u64,
        checksum_verified,
    })
}

/// Imports every `.zip`/`.csv` under `dir` (recursively, in sorted path order) whose path
/// parses as an [`ArchiveName`]; `.CHECKSUM` files are read as sidecars, other files and names
/// that do not parse are skipped (logged at debug level). Stops at the first failing file.
///
/// # Errors
/// As [`import_file`]; [`ImportError::Io`] listing a folder.
pub fn import_dir(
    store: &RawStore,
    dir: &Path,
    market_override: Option<Market>,
) -> Result<Vec<ImportedFile>, ImportError> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    let mut out = Vec::new();
    for f in files {
        if !(is_zip(&f) || is_csv(&f)) {
            continue;
        }
        if let Err(e) = ArchiveName::parse(&f, market_override) {
            log::debug!("skipped: {e}");
            continue;
        }
        out.push(import_file(store, &f, market_override)?);
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ImportError> {
    for e in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        let p = e.path();
        if e.file_type().map_err(io_err(&p))?.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// Checks rows ascend by `ts_init` (strictly for one-row-per-interval data), naming the line.
struct Order<'p> {
    path: &'p Path,
    strict: bool,
    prev: Option<UnixNanos>,
}

impl Order<'_> {
    fn check(&mut self, line: usize, ts: UnixNanos) -> Result<(), ImportError> {
        if let Some(prev) = self.prev {
            if self.strict && ts <= prev {
                let msg = format!("ts_init {} is not after the previous row's {}", ts.as_u64(), prev.as_u64());
                return Err(ArchiveError::line(self.path, line, msg).into());
            }
            if ts < prev {
                let msg = format!("ts_init {} is before the previous row's {}", ts.as_u64(), prev.as_u64());
                return Err(ArchiveError::line(self.path, line, msg).into());
            }
        }
        self.prev = Some(ts);
        Ok(())
    }
}

/// Converts every data line with `f`, checking the order of the results.
fn rows<T: HasTsInit>(
    path: &Path,
    text: &str,
    strict: bool,
    mut f: impl FnMut(&str) -> crate::Result<T>,
) -> Result<Vec<T>, ImportError> {
    let mut order = Order { path, strict, prev: None };
    let mut out = Vec::new();
    for (n, line) in archive::csv_lines(text) {
        let v = f(line).at(format!("{}:{n}", path.display()))?;
        order.check(n, v.ts_init())?;
        out.push(v);
    }
    Ok(out)
}

/// The market of a Binance instrument id (`BTCUSDT.BINANCE` spot, `BTCUSDT-PERP.BINANCE` USD-M).
fn instrument_market(instrument: &InstrumentAny) -> Option<Market> {
    let id = instrument.id();
    let symbol = instrument.raw_symbol();
    Market::ALL.into_iter().find(|m| instrument_id(*m, symbol.as_str()).is_ok_and(|want| want == id))
}

/// Converts one bulk file (`.zip` or `.csv`, named as on data.binance.vision, e.g. a file stored
/// by [`import_file`]) for `instrument` into [`Batch`]es, values ascending by `ts_init`:
///
/// | kind | batches |
/// | -- | -- |
/// | `klines` | `Bars` (`LAST`, stamped at the close) |
/// | `markPriceKlines` / `indexPriceKlines` | `MarkPrices` / `IndexPrices` (the close, 8 decimals) |
/// | `premiumIndexKlines` | `Bars` of `<perpetual>-PREMIUM.BINANCE` (OHLC, 8 decimals; see [`parse_premium_index_kline`]) |
/// | `aggTrades`, `trades` | `Trades` |
/// | `bookTicker` | `Quotes` |
/// | `fundingRate` | `Funding` |
/// | `metrics` | `Custom` [`OpenInterest`](crate::OpenInterest), then `Custom` [`LongShortRatio`](crate::LongShortRatio) (the three kinds per row, in [`RatioKind::ALL`](crate::RatioKind::ALL) order) |
///
/// From `metrics`, taker volumes are skipped (the archive has only the ratio, its volumes are
/// NaN) and so are values whose column is empty (NaN). The market is the file's folder market
/// or, when the path names none, the instrument's; it and the symbol must match the instrument.
/// Timestamps must not decrease (and must increase for klines kinds, funding and metrics).
///
/// # Errors
/// [`ImportError::Archive`] for the name, a corrupt zip (naming the file), a wrong market or
/// symbol, or a timestamp out of order (naming file and line); [`ImportError::Parse`] for a
/// row that does not convert, including a wrong column count (origin `file:line`).
pub fn convert_archive_file(path: &Path, instrument: &InstrumentAny) -> Result<Vec<Batch>, ImportError> {
    let id = instrument.id();
    let market = instrument_market(instrument).ok_or_else(|| {
        ArchiveError::file(path, format!("instrument {id} is not a Binance spot pair or USD-M perpetual"))
    })?;
    let name = ArchiveName::parse(path, Some(archive::folder_market(path)?.unwrap_or(market)))?;
    if name.market != market || name.symbol != instrument.raw_symbol().as_str() {
        let msg = format!("the file holds {} {} data, the instrument is {id}", name.market, name.symbol);
        return Err(ArchiveError::file(path, msg).into());
    }
    let text = archive::read_text(path)?;
    let (pp, sp) = (instrument.price_precision(), instrument.size_precision());
    let label = || path.display().to_string();
    let interval = name.interval.as_deref().unwrap_or_default();
    Ok(match name.kind {
        ArchiveKind::Klines => {
            let bt = bar_type(id, interval, PriceType::Last).at(label())?;
            vec![Batch::Bars(rows(path, &text, true, |l| parse_kline(&KlineRow::from_csv(l)?, bt, pp, sp))?)]
        }
        ArchiveKind::MarkPriceKlines => vec![Batch::MarkPrices(rows(path, &text, true, |l| {
            parse_mark_price_kline(&KlineRow::from_csv(l)?, id, interval, MARK_INDEX_PRECISION)
        })?)],
        ArchiveKind::IndexPriceKlines => vec![Batch::IndexPrices(rows(path, &text, true, |l| {
            parse_index_price_kline(&KlineRow::from_csv(l)?, id, interval, MARK_INDEX_PRECISION)
        })?)],
        ArchiveKind::AggTrades => {
            vec![Batch::Trades(rows(path, &text, false, |l| parse_agg_trade_csv(l, id, pp, sp))?)]
        }
        ArchiveKind::Trades => vec![Batch::Trades(rows(path, &text, false, |l| parse_trade_csv(l, id, pp, sp))?)],
        ArchiveKind::BookTicker => {
            vec![Batch::Quotes(rows(path, &text, false, |l| parse_book_ticker_csv(l, id, pp, sp))?)]
        }
        ArchiveKind::FundingRate => vec![Batch::Funding(rows(path, &text, true, |l| parse_funding_rate_csv(l, id))?)],
        ArchiveKind::Metrics => metrics(path, &text, instrument)?,
        ArchiveKind::PremiumIndexKlines => vec![Batch::Bars(rows(path, &text, true, |l| {
            parse_premium_index_kline(&KlineRow::from_csv(l)?, id, interval)
        })?)],
    })
}

fn metrics(path: &Path, text: &str, instrument: &InstrumentAny) -> Result<Vec<Batch>, ImportError> {
    let id = instrument.id();
    let records = rows(path, text, true, |l| {
        let r = parse_metrics_csv(l)?;
        let got = r.open_interest.instrument_id;
        if got != id {
            let reason = format!("record is for {got}, instrument is {id}");
            return Err(ParseError::Inconsistent {
                origin: String::new(),
                field: "symbol",
                value: got.to_string(),
                reason,
            });
        }
        Ok(Stamped(r))
    })?;
    let mut oi: Vec<CustomData> = Vec::new();
    let mut ratios: Vec<CustomData> = Vec::new();
    for Stamped(r) in records {
        if !r.open_interest.open_interest.is_nan() {
            oi.push(r.open_interest.into_custom_data());
        }
        for lsr in [r.top_position, r.top_account, r.global_account] {
            if !lsr.long_short_ratio.is_nan() {
                ratios.push(lsr.into_custom_data());
            }
        }
        // r.taker: no volumes in the archive (NaN): skipped.
    }
    Ok(vec![Batch::Custom(oi), Batch::Custom(ratios)])
}

/// A metrics row ordered by its `ts_init` (that of every value it holds).
struct Stamped(crate::MetricsRecord);

impl HasTsInit for Stamped {
    fn ts_init(&self) -> UnixNanos {
        self.0.open_interest.ts_init
    }
}
