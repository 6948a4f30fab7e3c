//! The crate's one error type, [`Error`]. Every variant names what failed: the run-file key,
//! the file, the strategy or the variant.

use std::path::PathBuf;

/// Everything that can stop a run, a sweep or a scaffold.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A run or sweep file, or one of its keys, is wrong: `key: message`.
    #[error("{key}: {msg}")]
    Spec { key: String, msg: String },
    /// Loading catalog data (naming the type and identifier) or reading the catalog.
    #[error(transparent)]
    Data(#[from] data::Error),
    /// NautilusTrader refused or failed (its API reports `anyhow` errors): what was being done and why.
    #[error("{context}: {message}")]
    Engine { context: String, message: String },
    /// A strategy could not be built, or one of its hooks failed.
    #[error("strategy {name}: {msg}")]
    Strategy { name: String, msg: String },
    /// A settlement needs a mark price and none is known.
    #[error("no mark price for {instrument_id} funding at ts {ts}")]
    NoMarkPrice { instrument_id: String, ts: u64 },
    /// Reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Encoding a result file (CSV, Parquet, JSON, TOML).
    #[error("encoding {what}: {msg}")]
    Encode { what: String, msg: String },
}

impl Error {
    /// A run-file error at `key`.
    #[must_use]
    pub fn spec(key: impl Into<String>, msg: impl std::fmt::Display) -> Self {
        Self::Spec { key: key.into(), msg: msg.to_string() }
    }

    /// A NautilusTrader error while doing `context`.
    pub fn engine(context: impl Into<String>) -> impl FnOnce(anyhow::Error) -> Self {
        let context = context.into();
        move |e| Self::Engine { context, message: format!("{e:#}") }
    }

    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    /// An encoding error of `what`.
    #[must_use]
    pub fn encode(what: impl Into<String>, e: impl std::fmt::Display) -> Self {
        Self::Encode { what: what.into(), msg: e.to_string() }
    }
}

/// Result of the crate's functions.
pub type Result<T> = std::result::Result<T, Error>;
