//! The one vocabulary of Binance historical series. The raw archive's REST folders
//! (`klines_1m`), data.binance.vision's folders (`klines/BTCUSDT/1m`), the CLI's `--data`
//! tokens (`klines:1m`) and the catalog conversion all name a series with [`Series`], so a new
//! series is added in one place and every `match` on it is exhaustive.

use std::fmt;

use crate::Market;

/// A kind of Binance history, by Binance's own name for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Series {
    /// Trade klines (`/api/v3/klines`, `/fapi/v1/klines`, archive `klines`).
    Klines,
    /// USD-M continuous-contract klines (`/fapi/v1/continuousKlines`).
    ContinuousKlines,
    MarkPriceKlines,
    IndexPriceKlines,
    /// USD-M premium index klines (archive only here).
    PremiumIndexKlines,
    AggTrades,
    Trades,
    /// Best bid/ask (USD-M archive `bookTicker`).
    BookTicker,
    FundingRate,
    /// USD-M daily `metrics` archive: open interest and the three long/short ratios per 5 min.
    Metrics,
    OpenInterestHist,
    TopLongShortPositionRatio,
    TopLongShortAccountRatio,
    GlobalLongShortAccountRatio,
    /// Taker buy/sell volume (`/futures/data/takerlongshortRatio`).
    TakerLongShortRatio,
}

/// What the step of a series is called, if it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// A kline interval (`1m`, `1h`, ...).
    Interval,
    /// A statistics period (`5m`, `1h`, ...).
    Period,
    /// No step (trades, funding, metrics).
    None,
}

impl Series {
    pub const ALL: [Series; 15] = [
        Series::Klines,
        Series::ContinuousKlines,
        Series::MarkPriceKlines,
        Series::IndexPriceKlines,
        Series::PremiumIndexKlines,
        Series::AggTrades,
        Series::Trades,
        Series::BookTicker,
        Series::FundingRate,
        Series::Metrics,
        Series::OpenInterestHist,
        Series::TopLongShortPositionRatio,
        Series::TopLongShortAccountRatio,
        Series::GlobalLongShortAccountRatio,
        Series::TakerLongShortRatio,
    ];

    /// Binance's name: the archive folder, the REST endpoint's last path segment, the
    /// `--data` key.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Series::Klines => "klines",
            Series::ContinuousKlines => "continuousKlines",
            Series::MarkPriceKlines => "markPriceKlines",
            Series::IndexPriceKlines => "indexPriceKlines",
            Series::PremiumIndexKlines => "premiumIndexKlines",
            Series::AggTrades => "aggTrades",
            Series::Trades => "trades",
            Series::BookTicker => "bookTicker",
            Series::FundingRate => "fundingRate",
            Series::Metrics => "metrics",
            Series::OpenInterestHist => "openInterestHist",
            Series::TopLongShortPositionRatio => "topLongShortPositionRatio",
            Series::TopLongShortAccountRatio => "topLongShortAccountRatio",
            Series::GlobalLongShortAccountRatio => "globalLongShortAccountRatio",
            Series::TakerLongShortRatio => "takerlongshortRatio",
        }
    }

    /// The series called `name` (exact, case-sensitive as Binance spells it).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the series has an interval, a period, or no step.
    #[must_use]
    pub const fn step(self) -> StepKind {
        match self {
            Series::Klines
            | Series::ContinuousKlines
            | Series::MarkPriceKlines
            | Series::IndexPriceKlines
            | Series::PremiumIndexKlines => StepKind::Interval,
            Series::OpenInterestHist
            | Series::TopLongShortPositionRatio
            | Series::TopLongShortAccountRatio
            | Series::GlobalLongShortAccountRatio
            | Series::TakerLongShortRatio => StepKind::Period,
            Series::AggTrades | Series::Trades | Series::BookTicker | Series::FundingRate | Series::Metrics => {
                StepKind::None
            }
        }
    }

    /// Whether data.binance.vision publishes bulk files of this series for `market`.
    #[must_use]
    pub const fn in_archive(self, market: Market) -> bool {
        match self {
            Series::Klines | Series::AggTrades | Series::Trades => true,
            Series::MarkPriceKlines
            | Series::IndexPriceKlines
            | Series::PremiumIndexKlines
            | Series::BookTicker
            | Series::FundingRate
            | Series::Metrics => matches!(market, Market::UsdM),
            Series::ContinuousKlines
            | Series::OpenInterestHist
            | Series::TopLongShortPositionRatio
            | Series::TopLongShortAccountRatio
            | Series::GlobalLongShortAccountRatio
            | Series::TakerLongShortRatio => false,
        }
    }

    /// The archived series of `market`, in [`Series::ALL`] order.
    pub fn archived(market: Market) -> impl Iterator<Item = Series> {
        Self::ALL.into_iter().filter(move |s| s.in_archive(market))
    }
}

impl fmt::Display for Series {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A series with its step: `klines:1m` on the command line, `klines_1m` as a raw-archive folder,
/// `fundingRate` for a series without one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesSpec {
    pub series: Series,
    /// Interval or period name (`1m`, `5m`); `None` exactly when the series has no step.
    pub step: Option<String>,
}

impl SeriesSpec {
    /// A spec, checking that `step` is given exactly when the series has one.
    ///
    /// # Errors
    /// A message naming the series and what it needs.
    pub fn new(series: Series, step: Option<String>) -> Result<Self, String> {
        match (series.step(), &step) {
            (StepKind::None, Some(_)) => Err(format!("{series} takes no interval")),
            (StepKind::Interval | StepKind::Period, None) => {
                Err(format!("{series} needs an interval, e.g. {series}:{}", default_step(series)))
            }
            _ => Ok(Self { series, step }),
        }
    }

    /// Parses a command-line token `name[:step]` (`klines:1m`, `openInterestHist:1h`,
    /// `fundingRate`); a series with a step and none given gets [`default_step`]. Whether the
    /// step is a valid interval for the use at hand is the caller's to check.
    ///
    /// # Errors
    /// An unknown name (listing the known ones) or a step on a series without one, naming the
    /// token.
    pub fn parse(token: &str) -> Result<Self, String> {
        let token = token.trim();
        let (name, step) = match token.split_once(':') {
            Some((n, s)) => (n, Some(s.to_string())),
            None => (token, None),
        };
        let series = Series::from_name(name).ok_or_else(|| {
            format!("--data {token:?}: unknown series {name:?}; expected one of {}", names(Series::ALL.into_iter()))
        })?;
        let step = match (series.step(), step) {
            (StepKind::Interval | StepKind::Period, None) => Some(default_step(series).to_string()),
            (_, s) => s,
        };
        Self::new(series, step).map_err(|e| format!("--data {token:?}: {e}"))
    }

    /// Parses a raw-archive folder name: `klines_1m`, `openInterestHist_5m`, `aggTrades`.
    ///
    /// # Errors
    /// An unknown series or a step that does not fit it, naming the folder.
    pub fn from_folder(folder: &str) -> Result<Self, String> {
        let (name, step) = match folder.split_once('_') {
            Some((n, s)) => (n, Some(s.to_string())),
            None => (folder, None),
        };
        let series = Series::from_name(name)
            .ok_or_else(|| format!("unknown series {folder:?}; expected one of {}", names(Series::ALL.into_iter())))?;
        Self::new(series, step).map_err(|e| format!("series {folder:?}: {e}"))
    }

    /// The raw-archive folder name: `klines_1m`, `fundingRate`.
    #[must_use]
    pub fn folder(&self) -> String {
        match &self.step {
            Some(s) => format!("{}_{s}", self.series),
            None => self.series.name().to_string(),
        }
    }
}

impl fmt::Display for SeriesSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.step {
            Some(s) => write!(f, "{}:{s}", self.series),
            None => f.write_str(self.series.name()),
        }
    }
}

/// The step a user most likely means for a series with one (shown in error messages).
#[must_use]
pub const fn default_step(series: Series) -> &'static str {
    match series.step() {
        StepKind::Period => "5m",
        StepKind::Interval | StepKind::None => "1m",
    }
}

/// `a, b, c` of the series' names.
#[must_use]
pub fn names(series: impl Iterator<Item = Series>) -> String {
    series.map(Series::name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Series::ALL {
            assert_eq!(Series::from_name(s.name()), Some(s));
        }
        assert_eq!(Series::from_name("Klines"), None);
    }

    #[rstest]
    #[case::klines("klines_1m", Series::Klines, Some("1m"))]
    #[case::stats("openInterestHist_5m", Series::OpenInterestHist, Some("5m"))]
    #[case::taker("takerlongshortRatio_1h", Series::TakerLongShortRatio, Some("1h"))]
    #[case::agg("aggTrades", Series::AggTrades, None)]
    fn folders_round_trip(#[case] folder: &str, #[case] series: Series, #[case] step: Option<&str>) {
        let s = SeriesSpec::from_folder(folder).unwrap();
        assert_eq!((s.series, s.step.as_deref()), (series, step));
        assert_eq!(s.folder(), folder);
    }

    #[rstest]
    #[case::unknown("candles_1m", "unknown series \"candles_1m\"; expected one of klines, ")]
    #[case::no_step("klines", "series \"klines\": klines needs an interval, e.g. klines:1m")]
    #[case::extra_step("fundingRate_8h", "series \"fundingRate_8h\": fundingRate takes no interval")]
    fn bad_folders_are_named(#[case] folder: &str, #[case] msg: &str) {
        let e = SeriesSpec::from_folder(folder).unwrap_err();
        assert!(e.starts_with(msg), "{e}");
    }

    #[rstest]
    #[case::explicit("klines:1h", "klines_1h")]
    #[case::default_interval("klines", "klines_1m")]
    #[case::default_period("openInterestHist", "openInterestHist_5m")]
    #[case::no_step("fundingRate", "fundingRate")]
    fn tokens(#[case] token: &str, #[case] folder: &str) {
        assert_eq!(SeriesSpec::parse(token).unwrap().folder(), folder);
    }

    #[test]
    fn bad_tokens_are_named() {
        assert_eq!(
            SeriesSpec::parse("aggTrades:1m").unwrap_err(),
            "--data \"aggTrades:1m\": aggTrades takes no interval"
        );
        assert!(
            SeriesSpec::parse("candles").unwrap_err().starts_with("--data \"candles\": unknown series \"candles\"")
        );
    }

    #[test]
    fn archive_coverage_by_market() {
        assert_eq!(names(Series::archived(Market::Spot)), "klines, aggTrades, trades");
        assert_eq!(
            names(Series::archived(Market::UsdM)),
            "klines, markPriceKlines, indexPriceKlines, premiumIndexKlines, aggTrades, trades, bookTicker, \
             fundingRate, metrics"
        );
    }
}
