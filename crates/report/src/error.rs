//! The crate's one error type, [`Error`].
//!
//! Every message names what failed: the file (`Io`), the payload or file and line (`Data`), or
//! the figure or report being drawn (`Draw`). Drawing code and CSV row parsers cannot know that
//! name, so their errors start with an empty label and the caller fills it in with
//! [`Error::at`].

use std::path::PathBuf;

use plotters::drawing::DrawingAreaErrorKind;

/// Everything that can go wrong reading a snapshot or run folder and drawing its figures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file or folder.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A missing or malformed input (`result.json`, a CSV column or line, a snapshot payload):
    /// `origin: msg`.
    #[error("{}{msg}", label(origin))]
    Data { origin: String, msg: String },

    /// plotters failed drawing `what` (a figure file, a report).
    #[error("{}{msg}", label(what))]
    Draw { what: String, msg: String },

    /// No usable TrueType font for the figures and chart labels.
    #[error("{0}")]
    Font(String),
}

/// Result of the crate's functions.
pub type Result<T> = std::result::Result<T, Error>;

fn label(s: &str) -> String {
    if s.is_empty() { String::new() } else { format!("{s}: ") }
}

/// A drawing error, labelled later with `Error::at` (plotters' errors name no file).
impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for Error {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        Self::Draw { what: String::new(), msg: e.to_string() }
    }
}

impl Error {
    /// An I/O error on `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    /// A missing or malformed input at `origin`.
    pub(crate) fn data(origin: impl Into<String>, msg: impl Into<String>) -> Self {
        Self::Data { origin: origin.into(), msg: msg.into() }
    }

    /// Puts `label` (`file line 3`, `drawing x.png`) in front of a `Data` or `Draw` error's
    /// origin; `Io` and `Font` errors already say what failed and are returned unchanged.
    #[must_use]
    pub(crate) fn at(mut self, label: impl Into<String>) -> Self {
        if let Self::Data { origin: name, .. } | Self::Draw { what: name, .. } = &mut self {
            let label = label.into();
            *name = if name.is_empty() { label } else { format!("{label}: {name}") };
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_nest_and_io_names_its_path() {
        let e = Error::data("", "not a number: \"x\"");
        assert_eq!(e.to_string(), "not a number: \"x\"");
        let e = e.at("fills.csv line 3");
        assert_eq!(e.to_string(), "fills.csv line 3: not a number: \"x\"");
        assert_eq!(e.at("run").to_string(), "run: fills.csv line 3: not a number: \"x\"");
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = Error::io("a/equity.csv")(io).at("ignored");
        assert_eq!(e.to_string(), "a/equity.csv: gone");
        assert!(std::error::Error::source(&e).is_some());
    }
}
