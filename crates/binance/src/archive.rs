//! data.binance.vision bulk archives: file naming, URLs and downloading ([`ArchiveClient`]),
//! reading, checksums and CSV framing, shared by the simulator's replay (`sim`) and the import
//! pipeline (`data`).
//!
//! # Layout (data.binance.vision)
//!
//! ```text
//! data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip          (+ .zip.CHECKSUM)
//! data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01.zip
//! data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip
//! data/spot/daily/trades/BTCUSDT/BTCUSDT-trades-2024-01-01.zip
//! data/futures/um/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip
//! data/futures/um/daily/markPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip
//! data/futures/um/daily/indexPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip
//! data/futures/um/daily/premiumIndexKlines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip
//! data/futures/um/daily/bookTicker/BTCUSDT/BTCUSDT-bookTicker-2024-01-01.zip
//! data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip
//! data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-01-01.zip
//! ```
//!
//! The klines families (`klines`, `markPriceKlines`, `indexPriceKlines`,
//! `premiumIndexKlines`) share the file name `<SYMBOL>-<interval>-<date>`: only the folder tells
//! them apart, so a bare file name is read as trade `klines`. Monthly kline files use `1mo` for
//! the 1-month interval. Each `.zip` has a sibling `<name>.zip.CHECKSUM` holding
//! `<sha256 hex>  <name>.zip` (`sha256sum` format). Assumption (from Binance's
//! binance-public-data README and the site's listing): the `futures/um` kinds above exist under
//! the same `<kind>/<SYMBOL>[/<interval>]` nesting as spot; `fundingRate` is published monthly
//! and `metrics` daily, but both periods are accepted here.
//!
//! # CSV framing
//!
//! Files are plain, unquoted CSV. Newer files start with a header row, older ones do not; spot
//! files dated 2025-01-01 and later carry microsecond timestamps, everything else milliseconds
//! ([`TsUnit`]). [`data_lines`] strips a UTF-8 BOM, `\r\n` endings, blank lines and a header (only
//! the first non-blank line may be one); column counts are the caller's to check
//! ([`ArchiveError::columns`]).

use std::{
    fmt,
    io::{Cursor, Read},
    path::{Path, PathBuf},
    time::Duration,
};

use sha2::{Digest, Sha256};

use crate::{
    Market,
    series::{Series, StepKind},
};

/// Column names of a kline, in wire order (the USD-M archive header; REST arrays use the same
/// order), shared by every reader so error messages name columns alike.
pub const KLINE_COLUMNS: [&str; 12] = [
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
];

/// A file that could not be named, read or framed: the file, the 1-based line when a row is at
/// fault, and what is wrong. Displays as `path:line: message` (or `path: message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub msg: String,
}

impl ArchiveError {
    /// An error about the whole file.
    #[must_use]
    pub fn file(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Self { path: path.as_ref().to_path_buf(), line: None, msg: msg.into() }
    }

    /// An error about one line (1-based).
    #[must_use]
    pub fn line(path: impl AsRef<Path>, line: usize, msg: impl Into<String>) -> Self {
        Self { path: path.as_ref().to_path_buf(), line: Some(line), msg: msg.into() }
    }

    /// `expected <expected> columns, found <found>` at `line`; `expected` is e.g. `"12"` or
    /// `"7 or 8"`.
    #[must_use]
    pub fn columns(path: impl AsRef<Path>, line: usize, expected: &str, found: usize) -> Self {
        Self::line(path, line, format!("expected {expected} columns, found {found}"))
    }
}

impl fmt::Display for ArchiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{l}: {}", self.path.display(), self.msg),
            None => write!(f, "{}: {}", self.path.display(), self.msg),
        }
    }
}

impl std::error::Error for ArchiveError {}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

/// Daily (`YYYY-MM-DD`) or monthly (`YYYY-MM`) file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ArchivePeriod {
    Daily,
    Monthly,
}

impl ArchivePeriod {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            ArchivePeriod::Daily => "daily",
            ArchivePeriod::Monthly => "monthly",
        }
    }
}

/// Kline intervals as they appear in archive names (`1mo`, not `1M`).
pub const ARCHIVE_INTERVALS: [&str; 16] =
    ["1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1mo"];

/// One archive file, described by its path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArchiveName {
    pub market: Market,
    /// An archived series ([`Series::in_archive`]).
    pub kind: Series,
    /// Upper case, as in the file name.
    pub symbol: String,
    /// Klines kinds only (`1m`, `1h`, `1mo`, ...).
    pub interval: Option<String>,
    /// `YYYY-MM-DD` or `YYYY-MM`.
    pub date: String,
    pub period: ArchivePeriod,
}

impl ArchiveName {
    /// Describes `path` from its file name `<SYMBOL>-<interval|kind>-<date>.zip|.csv` and its
    /// folders.
    ///
    /// - Market: `market` if given; else the nearest folder named `spot` (spot), `um` or `usdm`
    ///   (USD-M) or `cm` (COIN-M: refused); else USD-M for the USD-M-only kinds; else an error.
    /// - Kind: the file name's second token (`aggTrades`, `trades`, `bookTicker`, `fundingRate`,
    ///   `metrics`) or, for an interval token, the nearest klines-family folder
    ///   (`markPriceKlines`, ...; trade `klines` when none).
    ///
    /// # Errors
    /// A name not in the archive's form, an unknown interval or date, COIN-M data, a market that
    /// cannot be determined, or a USD-M-only kind on spot.
    pub fn parse(path: &Path, market: Option<Market>) -> Result<Self, ArchiveError> {
        let err = |msg: &str| ArchiveError::file(path, msg);
        let (symbol, token, date) = name_parts(path).ok_or_else(|| {
            err("file name is not <SYMBOL>-<interval|aggTrades|trades|bookTicker|fundingRate|metrics>-<date>.zip|.csv")
        })?;
        let period = match date.len() {
            10 if is_date(&date, true) => ArchivePeriod::Daily,
            7 if is_date(&date, false) => ArchivePeriod::Monthly,
            _ => return Err(err(&format!("date '{date}' in the file name is neither YYYY-MM-DD nor YYYY-MM"))),
        };
        let (kind, interval) = match archive_series(&token) {
            Some(k) if k.step() == StepKind::None => (k, None),
            _ if ARCHIVE_INTERVALS.contains(&token.as_str()) => {
                let kind = folders(path)
                    .find_map(|d| archive_series(&d).filter(|k| k.step() == StepKind::Interval))
                    .unwrap_or(Series::Klines);
                (kind, Some(token))
            }
            _ => return Err(err(&format!("'{token}' in the file name is neither a kline interval nor a known kind"))),
        };
        let market = match market {
            Some(m) => m,
            None => match folder_market(path)? {
                Some(m) => m,
                None if !kind.in_archive(Market::Spot) => Market::UsdM,
                None => {
                    return Err(err(
                        "cannot tell spot from USD-M: put the file under a spot/ or um/ folder or give the market",
                    ));
                }
            },
        };
        if !kind.in_archive(market) {
            return Err(err(&format!("{kind} archives exist for USD-M futures only, not spot")));
        }
        Ok(Self { market, kind, symbol, interval, date, period })
    }

    /// The file name: `<SYMBOL>-<interval|kind>-<date>.zip`.
    #[must_use]
    pub fn file_name(&self) -> String {
        let token = self.interval.as_deref().unwrap_or(self.kind.name());
        format!("{}-{token}-{}.zip", self.symbol, self.date)
    }

    /// The canonical data.binance.vision path relative to the site root, e.g.
    /// `data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip` or
    /// `data/futures/um/monthly/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01.zip`.
    #[must_use]
    pub fn rel_path(&self) -> PathBuf {
        let market = match self.market {
            Market::Spot => "data/spot",
            Market::UsdM => "data/futures/um",
        };
        let mut p = PathBuf::from(market).join(self.period.as_str()).join(self.kind.name()).join(&self.symbol);
        if let Some(i) = &self.interval {
            p.push(i);
        }
        p.push(self.file_name());
        p
    }
}

/// The archived series named `name` (a data.binance.vision folder or file-name token).
fn archive_series(name: &str) -> Option<Series> {
    Series::from_name(name).filter(|s| s.in_archive(Market::UsdM) || s.in_archive(Market::Spot))
}

/// The market named by the nearest market folder of `path` (`spot`; `um`/`usdm`), `None` when
/// no folder names one.
///
/// # Errors
/// The nearest market folder is `cm` (COIN-M is not supported).
pub fn folder_market(path: &Path) -> Result<Option<Market>, ArchiveError> {
    for d in folders(path) {
        match d.as_str() {
            "spot" => return Ok(Some(Market::Spot)),
            "um" | "usdm" => return Ok(Some(Market::UsdM)),
            "cm" => return Err(ArchiveError::file(path, "COIN-M archives are not supported")),
            _ => {}
        }
    }
    Ok(None)
}

/// Parent folder names, nearest first.
fn folders(path: &Path) -> impl Iterator<Item = String> {
    let dirs: Vec<String> = path
        .parent()
        .into_iter()
        .flat_map(Path::components)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    dirs.into_iter().rev()
}

/// The three tokens of a file name `<SYMBOL>-<token>-<date>.csv|.zip`: the upper-cased symbol
/// (`A-Z`, `0-9`, `_`), the interval or kind token and the date text, unvalidated (see
/// [`ArchiveName::parse`] for the checked form).
#[must_use]
pub fn name_parts(path: &Path) -> Option<(String, String, String)> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".csv").or_else(|| name.strip_suffix(".zip"))?;
    let mut parts = stem.splitn(3, '-');
    let (symbol, token, date) = (parts.next()?, parts.next()?, parts.next()?);
    let ok = !symbol.is_empty()
        && symbol.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !token.is_empty()
        && !date.is_empty();
    ok.then(|| (symbol.to_ascii_uppercase(), token.to_string(), date.to_string()))
}

fn is_date(s: &str, with_day: bool) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
    let month_ok = digits(0..4) && b[4] == b'-' && digits(5..7) && (1..=12).contains(&num(5..7));
    if !with_day {
        return month_ok;
    }
    month_ok && b[7] == b'-' && digits(8..10) && (1..=31).contains(&num(8..10))
}

// ---------------------------------------------------------------------------------------------
// Reading and checksums
// ---------------------------------------------------------------------------------------------

fn is_zip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

/// The CSV text of `path`: the file itself (`.csv` or anything not `.zip`), or the CSV inside a
/// `.zip`.
///
/// # Errors
/// `path: cannot read: ...` for I/O and zip errors, `path: the zip archive holds no .csv file`.
pub fn read_text(path: &Path) -> Result<String, ArchiveError> {
    let io = |e: &dyn fmt::Display| ArchiveError::file(path, format!("cannot read: {e}"));
    if !is_zip(path) {
        return std::fs::read_to_string(path).map_err(|e| io(&e));
    }
    let bytes = std::fs::read(path).map_err(|e| io(&e))?;
    read_text_bytes(path, &bytes)
}

/// The CSV text of an in-memory file named `name`: the CSV inside when `name` ends in `.zip`,
/// else `bytes` as UTF-8.
///
/// # Errors
/// As [`read_text`], naming `name`.
pub fn read_text_bytes(name: &Path, bytes: &[u8]) -> Result<String, ArchiveError> {
    let io = |e: &dyn fmt::Display| ArchiveError::file(name, format!("cannot read: {e}"));
    if !is_zip(name) {
        return String::from_utf8(bytes.to_vec()).map_err(|e| io(&e));
    }
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| io(&e))?;
    let entry_name = csv_entry(name, &archive)?;
    let mut entry = archive.by_name(&entry_name).map_err(|e| io(&e))?;
    let mut text = String::new();
    entry.read_to_string(&mut text).map_err(|e| io(&e))?;
    Ok(text)
}

/// Checks that `bytes` are a readable zip archive holding a CSV, without decompressing it;
/// returns the CSV's name inside the archive.
///
/// # Errors
/// As [`read_text_bytes`].
pub fn check_zip(name: &Path, bytes: &[u8]) -> Result<String, ArchiveError> {
    let archive =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| ArchiveError::file(name, format!("cannot read: {e}")))?;
    csv_entry(name, &archive)
}

/// The (first) `.csv` entry, or the only entry.
fn csv_entry<R: Read + std::io::Seek>(name: &Path, archive: &zip::ZipArchive<R>) -> Result<String, ArchiveError> {
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.map(std::borrow::Cow::into_owned))
        .collect::<Result<_, _>>()
        .map_err(|e| ArchiveError::file(name, format!("cannot read: {e}")))?;
    names
        .iter()
        .find(|n| n.to_ascii_lowercase().ends_with(".csv"))
        .or_else(|| names.first().filter(|_| names.len() == 1))
        .cloned()
        .ok_or_else(|| ArchiveError::file(name, "the zip archive holds no .csv file"))
}

/// Checks `zip_bytes` against a `.CHECKSUM` sidecar `<sha256 hex>  <file name>` (`sha256sum`
/// format; the name may be absent, `*`-prefixed for binary mode, or followed by a newline).
///
/// # Errors
/// Naming `file_name`: a malformed sidecar, a sidecar for another file, or a digest mismatch
/// (`checksum mismatch: content sha256 <got>, <file>.CHECKSUM says <want>`).
pub fn verify_checksum(zip_bytes: &[u8], checksum_text: &str, file_name: &str) -> Result<(), ArchiveError> {
    let text = checksum_text.trim_start_matches('\u{feff}').trim();
    let mut parts = text.split_whitespace();
    let want = parts.next().unwrap_or("");
    if want.len() != 64 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ArchiveError::file(
            file_name,
            format!("malformed CHECKSUM {text:?}: expected '<sha256 hex>  <file>'"),
        ));
    }
    if let Some(named) = parts.next().map(|n| n.trim_start_matches('*')) {
        let ours = Path::new(file_name).file_name().and_then(|n| n.to_str()).unwrap_or(file_name);
        let theirs = Path::new(named).file_name().and_then(|n| n.to_str()).unwrap_or(named);
        if ours != theirs {
            return Err(ArchiveError::file(file_name, format!("the CHECKSUM is for {named}, not {ours}")));
        }
    }
    let got = hex::encode(Sha256::digest(zip_bytes));
    if !got.eq_ignore_ascii_case(want) {
        let want = want.to_ascii_lowercase();
        let ours = Path::new(file_name).file_name().and_then(|n| n.to_str()).unwrap_or(file_name);
        let msg = format!("checksum mismatch: content sha256 {got}, {ours}.CHECKSUM says {want}");
        return Err(ArchiveError::file(file_name, msg));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// CSV framing
// ---------------------------------------------------------------------------------------------

/// True when `line` looks like a header: its first field is non-empty and does not start like a
/// number or a date (a digit, `-`, `+` or `.`), e.g. `open_time`, `agg_trade_id`,
/// `create_time`. (Metrics rows start with a `YYYY-MM-DD HH:MM:SS` time and are data.)
#[must_use]
pub fn is_header(line: &str) -> bool {
    let line = line.strip_prefix('\u{feff}').unwrap_or(line);
    let first = line.split(',').next().unwrap_or("").trim();
    first.bytes().next().is_some_and(|b| !(b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.')))
}

/// Splits one CSV line (archives use no quoting), trimming spaces and a trailing `\r`/`\n`.
#[must_use]
pub fn fields(line: &str) -> Vec<&str> {
    line.trim_end_matches(['\r', '\n']).split(',').map(str::trim).collect()
}

/// Data lines of an archive CSV text with their 1-based line numbers, `\r` and surrounding
/// spaces trimmed: a leading BOM stripped, blank lines skipped, and the first non-blank line
/// skipped if it is a header ([`is_header`]). A non-numeric line further down is returned (and
/// then fails to parse) rather than silently dropped.
pub fn csv_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut first = true;
    text.lines().enumerate().filter_map(move |(i, raw)| {
        let line = raw.trim();
        if line.is_empty() {
            return None;
        }
        if std::mem::take(&mut first) && is_header(line) {
            return None;
        }
        Some((i + 1, line))
    })
}

/// Calls `f(line number, line)` for every data line of the CSV in `path` (the file itself, or
/// the CSV inside a `.zip`), with the framing of [`csv_lines`], while decompressing and reading
/// it: memory stays bounded whatever the file's size. Stops at the first error of `f`.
///
/// # Errors
/// `path: cannot read: ...` (I/O, corrupt zip, not UTF-8), `path: the zip archive holds no .csv
/// file`, or the first error of `f`.
pub fn each_csv_line<E: From<ArchiveError>>(
    path: &Path,
    mut f: impl FnMut(usize, &str) -> Result<(), E>,
) -> Result<(), E> {
    let io = |e: &dyn fmt::Display| ArchiveError::file(path, format!("cannot read: {e}"));
    let file = std::fs::File::open(path).map_err(|e| io(&e))?;
    if !is_zip(path) {
        return each_line(path, std::io::BufReader::with_capacity(1 << 16, file), &mut f);
    }
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| io(&e))?;
    let entry_name = csv_entry(path, &archive)?;
    let entry = archive.by_name(&entry_name).map_err(|e| io(&e))?;
    each_line(path, std::io::BufReader::with_capacity(1 << 16, entry), &mut f)
}

fn each_line<E: From<ArchiveError>>(
    path: &Path,
    mut r: impl std::io::BufRead,
    f: &mut impl FnMut(usize, &str) -> Result<(), E>,
) -> Result<(), E> {
    let mut buf = String::new();
    let (mut n, mut first) = (0usize, true);
    loop {
        buf.clear();
        match r.read_line(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(ArchiveError::line(path, n + 1, format!("cannot read: {e}")).into()),
        }
        n += 1;
        let raw = if n == 1 { buf.strip_prefix('\u{feff}').unwrap_or(&buf) } else { &buf };
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if std::mem::take(&mut first) && is_header(line) {
            continue;
        }
        f(n, line)?;
    }
}

/// [`csv_lines`] split into fields: `(line number, fields)`.
pub fn data_lines(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    csv_lines(text).map(|(n, l)| (n, fields(l)))
}

// ---------------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------------

/// Smallest 13-digit value: 2001-09-09T01:46:40Z in ms.
pub const MS_MIN: u64 = 1_000_000_000_000;
/// Largest 13-digit value: 2286-11-20T17:46:39.999Z in ms.
pub const MS_MAX: u64 = 9_999_999_999_999;
/// Smallest 16-digit value: 2001-09-09T01:46:40Z in µs.
pub const US_MIN: u64 = 1_000_000_000_000_000;
/// Largest 16-digit value: 2286-11-20T17:46:39.999999Z in µs.
pub const US_MAX: u64 = 9_999_999_999_999_999;

/// Why an archive timestamp was refused.
pub const TS_UNIT_REASON: &str = "neither 13 digits (ms) nor 16 digits (µs)";

/// The unit of an archive timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TsUnit {
    Millis,
    Micros,
}

impl TsUnit {
    /// 13 digits ([`MS_MIN`]..=[`MS_MAX`]) are milliseconds, 16 digits ([`US_MIN`]..=[`US_MAX`])
    /// microseconds. Both ranges cover 2001-09-09 to 2286-11-20, so every Binance date is
    /// unambiguous (last ms of 2024: `1735689599999`; first µs of 2025: `1735689600000000`).
    /// Spot archives switched to µs on 2025-01-01; USD-M archives stay in ms.
    ///
    /// # Errors
    /// [`TsError`] for any other digit count (seconds, nanoseconds, a truncated value).
    pub const fn detect(raw: u64) -> Result<Self, TsError> {
        match raw {
            MS_MIN..=MS_MAX => Ok(TsUnit::Millis),
            US_MIN..=US_MAX => Ok(TsUnit::Micros),
            _ => Err(TsError { value: raw }),
        }
    }
}

/// An archive timestamp of neither 13 nor 16 digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TsError {
    pub value: u64,
}

impl fmt::Display for TsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timestamp {}: {TS_UNIT_REASON}", self.value)
    }
}

impl std::error::Error for TsError {}

/// An archive timestamp in ms or µs ([`TsUnit::detect`]) → milliseconds (µs truncated).
///
/// # Errors
/// [`TsError`] for any other digit count.
pub const fn ts_to_ms(raw: u64) -> Result<u64, TsError> {
    match TsUnit::detect(raw) {
        Ok(TsUnit::Millis) => Ok(raw),
        Ok(TsUnit::Micros) => Ok(raw / 1000),
        Err(e) => Err(e),
    }
}

/// As [`ts_to_ms`], but values below 13 digits are taken as milliseconds as they are (the
/// simulator replays small synthetic times such as `2000`); 14, 15 and 17+ digits are refused.
///
/// # Errors
/// [`TsError`] for 14, 15 or more than 16 digits.
pub const fn ts_to_ms_lenient(raw: u64) -> Result<u64, TsError> {
    if raw < MS_MIN { Ok(raw) } else { ts_to_ms(raw) }
}

// ---------------------------------------------------------------------------------------------
// Download (data.binance.vision, or a mirror such as the simulator's archive tree)
// ---------------------------------------------------------------------------------------------

/// The public bulk-archive site.
pub const ARCHIVE_BASE_URL: &str = "https://data.binance.vision";

impl ArchiveName {
    /// `<base>/<rel_path>` with `/` separators, e.g.
    /// `https://data.binance.vision/data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip`.
    #[must_use]
    pub fn url(&self, base: &str) -> String {
        let rel: Vec<String> =
            self.rel_path().components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
        format!("{}/{}", base.trim_end_matches('/'), rel.join("/"))
    }
}

/// Downloads bulk-archive files as exact bytes over the workspace's reqwest stack.
///
/// data.binance.vision is a static file host with no request weights, so there is no limiter
/// here. A 404 is an answer, not an error ([`ArchiveClient::get`] returns `None`): Binance has
/// days without files. Timeouts, transport errors and 5xx are retried with exponential backoff.
/// The timeout bounds connecting and each wait for body bytes, not the whole transfer, so large
/// monthly files are not cut off.
#[derive(Debug, Clone)]
pub struct ArchiveClient {
    http: reqwest::Client,
    max_retries: u32,
    backoff: Duration,
}

impl ArchiveClient {
    /// A client with `timeout` per connect and per read, retrying `max_retries` times.
    ///
    /// # Errors
    /// The HTTP client cannot be built (TLS backend), named as `<http client>: ...`.
    pub fn new(timeout: Duration, max_retries: u32) -> Result<Self, ArchiveError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("alphalab/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout)
            .read_timeout(timeout)
            .build()
            .map_err(|e| ArchiveError::file("<http client>", e.to_string()))?;
        Ok(Self { http, max_retries, backoff: Duration::from_millis(250) })
    }

    /// GETs `url`: `Some(body)` on 2xx, `None` on 404.
    ///
    /// # Errors
    /// Naming `url`: another 4xx status at once, or a 5xx / timeout / transport error after the
    /// retries (`url: HTTP 503 after 4 attempts`, `url: request failed after 4 attempts: ...`).
    pub async fn get(&self, url: &str) -> Result<Option<bytes::Bytes>, ArchiveError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let failure = match self.http.get(url).send().await {
                Ok(resp) => match resp.status().as_u16() {
                    200..=299 => match resp.bytes().await {
                        Ok(b) => return Ok(Some(b)),
                        Err(e) => format!("reading the body failed: {}", e.without_url()),
                    },
                    404 => return Ok(None),
                    s @ 500..=599 => format!("HTTP {s}"),
                    s => return Err(ArchiveError::file(url, format!("HTTP {s}"))),
                },
                Err(e) => format!("request failed: {}", e.without_url()),
            };
            if attempt > self.max_retries {
                return Err(ArchiveError::file(url, format!("{failure} after {attempt} attempts")));
            }
            let pause = self.backoff.saturating_mul(1 << (attempt - 1).min(6));
            log::warn!("{url}: {failure}; retry {attempt}/{} in {pause:?}", self.max_retries);
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn name(p: &str, m: Option<Market>) -> Result<ArchiveName, ArchiveError> {
        ArchiveName::parse(Path::new(p), m)
    }

    #[test]
    fn streamed_lines_frame_like_csv_lines() {
        let dir = std::env::temp_dir().join(format!("alphalab-archive-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = "\u{feff}open_time,open\r\n\r\n1,2\r\n  3,4 \n\n5,6";
        let path = dir.join("X-1m-2024-01-01.csv");
        std::fs::write(&path, text).unwrap();
        let mut got = Vec::new();
        each_csv_line::<ArchiveError>(&path, |n, l| {
            got.push((n, l.to_string()));
            Ok(())
        })
        .unwrap();
        let want: Vec<(usize, String)> = csv_lines(text).map(|(n, l)| (n, l.to_string())).collect();
        assert_eq!(got, want);
        assert_eq!(want, [(3, "1,2".to_string()), (4, "3,4".into()), (6, "5,6".into())]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn names_round_trip_to_the_canonical_layout() {
        for rel in [
            "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip",
            "data/spot/monthly/klines/BTCUSDT/1mo/BTCUSDT-1mo-2024-01.zip",
            "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip",
            "data/spot/monthly/trades/BNBUSDT/BNBUSDT-trades-2019-01.zip",
            "data/futures/um/monthly/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01.zip",
            "data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-01.zip",
            "data/futures/um/daily/markPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip",
            "data/futures/um/daily/indexPriceKlines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip",
            "data/futures/um/daily/premiumIndexKlines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip",
            "data/futures/um/daily/bookTicker/BTCUSDT/BTCUSDT-bookTicker-2024-01-01.zip",
            "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip",
            "data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-01-01.zip",
        ] {
            let n = name(rel, None).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(n.rel_path(), PathBuf::from(rel));
            let under = format!("/somewhere/raw/archive/{rel}");
            assert_eq!(name(&under, None).unwrap(), n);
        }
    }

    #[test]
    fn urls_use_slashes_and_trim_the_base() {
        let n = name("data/futures/um/daily/premiumIndexKlines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip", None).unwrap();
        let want = "http://127.0.0.1:9/data/futures/um/daily/premiumIndexKlines/BTCUSDT/1m/BTCUSDT-1m-2024-01-01.zip";
        assert_eq!(n.url("http://127.0.0.1:9/"), want);
        assert_eq!(n.url("http://127.0.0.1:9"), want);
    }

    #[test]
    fn name_fields() {
        let n = name("/x/spot/klines/ADABTC-1m-2021-11-27.csv", None).unwrap();
        assert_eq!(
            n,
            ArchiveName {
                market: Market::Spot,
                kind: Series::Klines,
                symbol: "ADABTC".into(),
                interval: Some("1m".into()),
                date: "2021-11-27".into(),
                period: ArchivePeriod::Daily,
            }
        );
        assert_eq!(n.rel_path(), PathBuf::from("data/spot/daily/klines/ADABTC/1m/ADABTC-1m-2021-11-27.zip"));
        let f = name("BTCUSDT-fundingRate-2024-01.csv", None).unwrap();
        assert_eq!(
            (f.market, f.kind, f.period, f.interval),
            (Market::UsdM, Series::FundingRate, ArchivePeriod::Monthly, None)
        );
        let t = name("dl/BTCUSDT-trades-2024-01-01.zip", Some(Market::UsdM)).unwrap();
        assert_eq!((t.market, t.kind), (Market::UsdM, Series::Trades));
    }

    #[test]
    fn bad_names() {
        let msg = |p: &str, m| name(p, m).unwrap_err().to_string();
        assert_eq!(
            msg("data/futures/cm/daily/klines/BTCUSD_PERP/1m/BTCUSD_PERP-1m-2024-01-01.zip", None),
            "data/futures/cm/daily/klines/BTCUSD_PERP/1m/BTCUSD_PERP-1m-2024-01-01.zip: COIN-M archives are not supported"
        );
        assert_eq!(
            msg("BTCUSDT-1m-2024-01-01.zip", None),
            "BTCUSDT-1m-2024-01-01.zip: cannot tell spot from USD-M: put the file under a spot/ or um/ folder or give the market"
        );
        assert_eq!(
            msg("spot/BTCUSDT-metrics-2024-01-01.zip", None),
            "spot/BTCUSDT-metrics-2024-01-01.zip: metrics archives exist for USD-M futures only, not spot"
        );
        assert!(msg("notes.txt", None).ends_with(".zip|.csv"));
        assert!(msg("spot/BTCUSDT-2m-2024-01-01.zip", None).contains("'2m' in the file name"));
        assert!(msg("spot/BTCUSDT-1m-2024-13-01.zip", None).contains("neither YYYY-MM-DD nor YYYY-MM"));
        assert!(msg("spot/BTCUSDT-1m-2024.zip", None).contains("neither YYYY-MM-DD nor YYYY-MM"));
    }

    #[test]
    fn framing_bom_crlf_blank_header() {
        let text = "\u{feff}\r\nopen_time,open\r\n1,2\r\n\r\n x , 3 \r\n";
        let v: Vec<_> = data_lines(text).collect();
        assert_eq!(v, vec![(3, vec!["1", "2"]), (5, vec!["x", "3"])]);
        let v: Vec<_> = csv_lines("2023-01-21 00:05:00,BTCUSDT\n").collect();
        assert_eq!(v, vec![(1, "2023-01-21 00:05:00,BTCUSDT")]);
        assert!(is_header("create_time,symbol") && !is_header("-1,2") && !is_header(""));
    }

    #[test]
    fn timestamps() {
        assert_eq!(ts_to_ms(1_735_689_599_999), Ok(1_735_689_599_999));
        assert_eq!(ts_to_ms(1_735_689_600_123_456), Ok(1_735_689_600_123));
        assert_eq!(TsUnit::detect(US_MIN), Ok(TsUnit::Micros));
        assert_eq!(TsUnit::detect(MS_MAX), Ok(TsUnit::Millis));
        for bad in [0, 1_735_689_600, MS_MAX + 1, US_MIN - 1, US_MAX + 1] {
            assert_eq!(ts_to_ms(bad), Err(TsError { value: bad }));
        }
        assert_eq!(ts_to_ms_lenient(2000), Ok(2000));
        assert_eq!(ts_to_ms_lenient(MS_MAX + 1), Err(TsError { value: MS_MAX + 1 }));
        assert_eq!(TsError { value: 5 }.to_string(), "timestamp 5: neither 13 digits (ms) nor 16 digits (µs)");
    }

    fn zip_of(name: &str, body: &[u8]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        w.start_file(name, opts).unwrap();
        w.write_all(body).unwrap();
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn zips_and_checksums() {
        let bytes = zip_of("A-1m-2024-01-01.csv", b"1,2\n");
        let p = Path::new("A-1m-2024-01-01.zip");
        assert_eq!(read_text_bytes(p, &bytes).unwrap(), "1,2\n");
        assert_eq!(check_zip(p, &bytes).unwrap(), "A-1m-2024-01-01.csv");
        assert_eq!(read_text_bytes(Path::new("a.csv"), b"x").unwrap(), "x");
        assert!(
            read_text_bytes(p, b"not a zip").unwrap_err().to_string().starts_with("A-1m-2024-01-01.zip: cannot read: ")
        );
        let sum = hex::encode(Sha256::digest(&bytes));
        verify_checksum(&bytes, &format!("{sum}  A-1m-2024-01-01.zip\n"), "A-1m-2024-01-01.zip").unwrap();
        verify_checksum(&bytes, &sum.to_uppercase(), "dir/A-1m-2024-01-01.zip").unwrap();
        let zeros = "0".repeat(64);
        assert_eq!(
            verify_checksum(&bytes, &format!("{zeros}  A-1m-2024-01-01.zip"), "A-1m-2024-01-01.zip")
                .unwrap_err()
                .to_string(),
            format!(
                "A-1m-2024-01-01.zip: checksum mismatch: content sha256 {sum}, A-1m-2024-01-01.zip.CHECKSUM says {zeros}"
            )
        );
        assert_eq!(
            verify_checksum(&bytes, &format!("{sum}  B-1m-2024-01-01.zip"), "A-1m-2024-01-01.zip")
                .unwrap_err()
                .to_string(),
            "A-1m-2024-01-01.zip: the CHECKSUM is for B-1m-2024-01-01.zip, not A-1m-2024-01-01.zip"
        );
        assert!(verify_checksum(&bytes, "xyz", "a.zip").unwrap_err().msg.starts_with("malformed CHECKSUM"));
    }
}
