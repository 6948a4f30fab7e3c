//! The crate's one error type, [`Error`].
//!
//! Record-level variants (`MissingField` … `Inconsistent`) say which field failed, with what
//! value, and where the input came from: the parse functions are pure and do not know where their
//! input came from, so they leave `origin` empty and the caller names it (a `file:line`, an
//! endpoint id such as `usdm/klines`, a stream name) with [`Error::at`] or [`ResultExt::at`].
//! The other variants (archive files, Binance requests, I/O, the catalog, bad requests) name
//! their file, endpoint or key themselves.

use std::path::PathBuf;

use binance::archive::ArchiveError;

/// Everything that can go wrong in the data pipeline.
///
/// `origin` is the caller-supplied source label (empty until [`Error::at`] sets it), `field`
/// the wire field name (JSON key or CSV column name), `value` the offending text as received.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required JSON key or CSV column is absent.
    #[error("{}missing field `{field}`", at(origin))]
    MissingField { origin: String, field: &'static str },

    /// The field has the wrong JSON type (e.g. a number where Binance sends a string).
    #[error("{}field `{field}`: expected {expected}, got {value}", at(origin))]
    InvalidType { origin: String, field: &'static str, expected: &'static str, value: String },

    /// Not a decimal number (prices, quantities, rates, ratios).
    #[error("{}field `{field}`: invalid decimal {value:?}", at(origin))]
    InvalidDecimal { origin: String, field: &'static str, value: String },

    /// Not an unsigned integer (ids, times, counts).
    #[error("{}field `{field}`: invalid integer {value:?}", at(origin))]
    InvalidInteger { origin: String, field: &'static str, value: String },

    /// Not a boolean (`true`/`false`, also `True`/`False` in archive CSVs).
    #[error("{}field `{field}`: invalid boolean {value:?}", at(origin))]
    InvalidBool { origin: String, field: &'static str, value: String },

    /// The value has non-zero digits beyond the instrument precision: rescaling would change
    /// it, which means the instrument (tick/step size) does not match the data.
    #[error("{}field `{field}`: {value} is not representable at precision {precision}", at(origin))]
    PrecisionLoss { origin: String, field: &'static str, value: String, precision: u8 },

    /// Syntactically valid but outside what the target type accepts (negative size, overflow,
    /// zero where a positive value is required, ...).
    #[error("{}field `{field}`: {value} out of range: {reason}", at(origin))]
    OutOfRange { origin: String, field: &'static str, value: String, reason: String },

    /// A timestamp whose unit cannot be determined or that is not a valid time.
    #[error("{}field `{field}`: invalid timestamp {value:?}: {reason}", at(origin))]
    InvalidTimestamp { origin: String, field: &'static str, value: String, reason: &'static str },

    /// A Binance kline interval / statistics period this crate does not map (e.g. `1M`).
    #[error("{}field `{field}`: unsupported interval {value:?}", at(origin))]
    UnsupportedInterval { origin: String, field: &'static str, value: String },

    /// A valid Binance value this crate deliberately refuses (e.g. a non-PERPETUAL contract
    /// given to the perpetual parser).
    #[error("{}field `{field}`: unsupported value {value:?}: {reason}", at(origin))]
    Unsupported { origin: String, field: &'static str, value: String, reason: &'static str },

    /// A CSV row or kline array with the wrong number of columns.
    #[error("{}expected {expected} columns, got {got}", at(origin))]
    ColumnCount { origin: String, expected: &'static str, got: usize },

    /// The record is internally inconsistent (kline close time vs interval, high < low, symbol
    /// not matching the instrument, ...).
    #[error("{}field `{field}`: inconsistent value {value:?}: {reason}", at(origin))]
    Inconsistent { origin: String, field: &'static str, value: String, reason: String },

    /// A bulk file that cannot be named, read (corrupt zip), verified (checksum) or framed, or a
    /// row out of order: `path[:line]: message`.
    #[error(transparent)]
    Archive(#[from] ArchiveError),

    /// A request to Binance (or the simulator) failed; names the endpoint and symbol.
    #[error(transparent)]
    Binance(#[from] binance::Error),

    /// Reading or writing a file or folder.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Stored or received bytes that are not what they must be (a page that is not JSON, a
    /// missing `serverTime`, an exchangeInfo without the symbol): `origin: reason`.
    #[error("{}{reason}", at(origin))]
    Invalid { origin: String, reason: String },

    /// The ParquetDataCatalog failed or refused a write (nautilus reports these as text).
    #[error("catalog {context}: {message}")]
    Catalog { context: String, message: String },

    /// A request the pipeline cannot carry out (unknown series, empty range, bad symbol).
    #[error("{0}")]
    Request(String),
}

/// Errors compare by variant and message: the record-level variants' messages hold every field,
/// and the I/O and HTTP sources carry no equality of their own.
impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other) && self.to_string() == other.to_string()
    }
}

impl Eq for Error {}

fn at(origin: &str) -> String {
    if origin.is_empty() { String::new() } else { format!("{origin}: ") }
}

impl Error {
    /// Sets the source label (`file:line`, endpoint id, ...) of a record-level or `Invalid`
    /// error, replacing any previous one; the other variants already name their source and are
    /// returned unchanged.
    #[must_use]
    pub fn at(mut self, label: impl Into<String>) -> Self {
        let label = label.into();
        match &mut self {
            Self::MissingField { origin, .. }
            | Self::InvalidType { origin, .. }
            | Self::InvalidDecimal { origin, .. }
            | Self::InvalidInteger { origin, .. }
            | Self::InvalidBool { origin, .. }
            | Self::PrecisionLoss { origin, .. }
            | Self::OutOfRange { origin, .. }
            | Self::InvalidTimestamp { origin, .. }
            | Self::UnsupportedInterval { origin, .. }
            | Self::Unsupported { origin, .. }
            | Self::ColumnCount { origin, .. }
            | Self::Inconsistent { origin, .. }
            | Self::Invalid { origin, .. } => *origin = label,
            Self::Archive(_) | Self::Binance(_) | Self::Io { .. } | Self::Catalog { .. } | Self::Request(_) => {}
        }
        self
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    /// A catalog failure while doing `context` (nautilus' catalog reports `anyhow` errors).
    pub fn catalog(context: impl Into<String>) -> impl FnOnce(anyhow::Error) -> Self {
        let context = context.into();
        move |e| Self::Catalog { context, message: format!("{e:#}") }
    }

    /// Stored or received bytes at `origin` that are not what they must be.
    #[must_use]
    pub fn invalid(origin: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid { origin: origin.into(), reason: reason.into() }
    }

    /// The source label of a record-level or `Invalid` error (empty if none or another variant).
    #[must_use]
    pub fn origin(&self) -> &str {
        match self {
            Self::MissingField { origin, .. }
            | Self::InvalidType { origin, .. }
            | Self::InvalidDecimal { origin, .. }
            | Self::InvalidInteger { origin, .. }
            | Self::InvalidBool { origin, .. }
            | Self::PrecisionLoss { origin, .. }
            | Self::OutOfRange { origin, .. }
            | Self::InvalidTimestamp { origin, .. }
            | Self::UnsupportedInterval { origin, .. }
            | Self::Unsupported { origin, .. }
            | Self::ColumnCount { origin, .. }
            | Self::Inconsistent { origin, .. }
            | Self::Invalid { origin, .. } => origin,
            Self::Archive(_) | Self::Binance(_) | Self::Io { .. } | Self::Catalog { .. } | Self::Request(_) => "",
        }
    }
}

/// `result.at("ADABTC-1m-2021-11-27.csv:3")?` labels an error with its source.
pub trait ResultExt<T> {
    /// Sets the error's source label; see [`Error::at`].
    ///
    /// # Errors
    /// The original error, relabelled.
    fn at(self, label: impl Into<String>) -> Result<T>;
}

impl<T> ResultExt<T> for Result<T> {
    fn at(self, label: impl Into<String>) -> Result<T> {
        self.map_err(|e| e.at(label))
    }
}

/// Result of the crate's functions.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_is_set_and_displayed() {
        let e = Error::MissingField { origin: String::new(), field: "open" };
        assert_eq!(e.to_string(), "missing field `open`");
        let e = e.at("spot/klines#3");
        assert_eq!(e.origin(), "spot/klines#3");
        assert_eq!(e.to_string(), "spot/klines#3: missing field `open`");
        let r: Result<()> = Err(Error::ColumnCount { origin: String::new(), expected: "12", got: 3 });
        assert_eq!(r.at("a.csv:1").unwrap_err().to_string(), "a.csv:1: expected 12 columns, got 3");
    }
}
