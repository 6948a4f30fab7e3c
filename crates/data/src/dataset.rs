//! Historical series the backfill can fetch, as data: which endpoint row serves each, how it
//! pages (by time or by id), and how long Binance keeps it.

use std::fmt;

use binance::{
    Endpoint, Market, Series, SeriesSpec, StepKind,
    endpoint::{self, interval_ms, period_ms},
};

use crate::error::{Error, Result};

/// How a series is paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// `startTime`/`endTime` windows on a fixed step grid.
    Time,
    /// `fromId` pages of contiguous ids.
    Id,
}

/// How the pages of a series are laid on the time grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStep {
    /// The series' own interval or period.
    OwnStep,
    /// A fixed step (ms), for a time-paged series without one.
    Fixed(u64),
    /// Id-paged: no time step.
    None,
}

/// One backfillable series kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    pub series: Series,
    pub market: Market,
    /// Legacy name of the endpoint row serving it.
    pub endpoint: &'static str,
    pub paging: Paging,
    pub page_step: PageStep,
    /// Binance keeps only this many days (the `/futures/data` statistics: 30).
    pub retention_days: Option<u64>,
    /// Extra fixed parameters.
    pub extra: &'static [(&'static str, &'static str)],
}

impl Dataset {
    /// The endpoint row.
    #[must_use]
    pub fn endpoint(&self) -> &'static Endpoint {
        endpoint::find(self.market, self.endpoint).expect("every dataset names a table row")
    }

    /// Whether the endpoint takes `pair` rather than `symbol`.
    #[must_use]
    pub fn uses_pair(&self) -> bool {
        self.endpoint().param("pair").is_some()
    }
}

const H1: u64 = 3_600_000;

/// Every series `alphalab backfill --data` accepts.
pub const DATASETS: &[Dataset] = &[
    Dataset {
        series: Series::Klines,
        market: Market::Spot,
        endpoint: "klines",
        paging: Paging::Time,
        page_step: PageStep::OwnStep,
        retention_days: None,
        extra: &[],
    },
    Dataset {
        series: Series::AggTrades,
        market: Market::Spot,
        endpoint: "agg_trades",
        paging: Paging::Id,
        page_step: PageStep::None,
        retention_days: None,
        extra: &[],
    },
    Dataset {
        series: Series::Klines,
        market: Market::UsdM,
        endpoint: "klines",
        paging: Paging::Time,
        page_step: PageStep::OwnStep,
        retention_days: None,
        extra: &[],
    },
    Dataset {
        series: Series::ContinuousKlines,
        market: Market::UsdM,
        endpoint: "continuous_klines",
        paging: Paging::Time,
        page_step: PageStep::OwnStep,
        retention_days: None,
        extra: &[("contractType", "PERPETUAL")],
    },
    Dataset {
        series: Series::MarkPriceKlines,
        market: Market::UsdM,
        endpoint: "mark_price_klines",
        paging: Paging::Time,
        page_step: PageStep::OwnStep,
        retention_days: None,
        extra: &[],
    },
    Dataset {
        series: Series::IndexPriceKlines,
        market: Market::UsdM,
        endpoint: "index_price_klines",
        paging: Paging::Time,
        page_step: PageStep::OwnStep,
        retention_days: None,
        extra: &[],
    },
    Dataset {
        series: Series::AggTrades,
        market: Market::UsdM,
        endpoint: "agg_trades",
        paging: Paging::Id,
        page_step: PageStep::None,
        retention_days: None,
        extra: &[],
    },
    // Funding intervals differ by symbol (8 h, 4 h, 1 h): plan pages on the shortest so a page
    // can never hold more rows than its limit.
    Dataset {
        series: Series::FundingRate,
        market: Market::UsdM,
        endpoint: "funding_rate_history",
        paging: Paging::Time,
        page_step: PageStep::Fixed(H1),
        retention_days: None,
        extra: &[],
    },
    Dataset {
        series: Series::OpenInterestHist,
        market: Market::UsdM,
        endpoint: "open_interest_hist",
        paging: Paging::Time,
        page_step: PageStep::OwnStep,
        retention_days: Some(30),
        extra: &[],
    },
    Dataset {
        series: Series::TopLongShortPositionRatio,
        market: Market::UsdM,
        endpoint: "top_long_short_position_ratio",
        paging: Paging::Time,
        page_step: PageStep::OwnStep,
        retention_days: Some(30),
        extra: &[],
    },
    Dataset {
        series: Series::GlobalLongShortAccountRatio,
        market: Market::UsdM,
        endpoint: "long_short_account_ratio",
        paging: Paging::Time,
        page_step: PageStep::OwnStep,
        retention_days: Some(30),
        extra: &[],
    },
    Dataset {
        series: Series::TopLongShortAccountRatio,
        market: Market::UsdM,
        endpoint: "top_long_short_account_ratio",
        paging: Paging::Time,
        page_step: PageStep::OwnStep,
        retention_days: Some(30),
        extra: &[],
    },
    Dataset {
        series: Series::TakerLongShortRatio,
        market: Market::UsdM,
        endpoint: "taker_long_short_ratio",
        paging: Paging::Time,
        page_step: PageStep::OwnStep,
        retention_days: Some(30),
        extra: &[],
    },
];

/// A dataset with its step chosen: `klines:1m`, `openInterestHist:5m`, `aggTrades`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub dataset: &'static Dataset,
    pub series: SeriesSpec,
    /// Step of the page grid in ms (0 for id paging).
    pub step_ms: u64,
}

impl Spec {
    /// Parses `series[:step]` for `market` (a series with a step and none given gets the
    /// default, `1m` or `5m`).
    ///
    /// # Errors
    /// [`Error::Request`] naming the token and the accepted values.
    pub fn parse(market: Market, token: &str) -> Result<Spec> {
        let series = SeriesSpec::parse(token).map_err(Error::Request)?;
        let dataset = DATASETS.iter().find(|d| d.market == market && d.series == series.series).ok_or_else(|| {
            let names = binance::series::names(DATASETS.iter().filter(|d| d.market == market).map(|d| d.series));
            Error::Request(format!(
                "--data {token:?}: {market} has no backfill of {}; expected one of {names}",
                series.series
            ))
        })?;
        let step_ms = match (dataset.page_step, series.series.step(), series.step.as_deref()) {
            (PageStep::OwnStep, StepKind::Interval, Some(s)) => interval_ms(s),
            (PageStep::OwnStep, StepKind::Period, Some(s)) => period_ms(s),
            (PageStep::Fixed(ms), _, _) => Some(ms),
            (PageStep::None, _, _) => Some(0),
            _ => None,
        }
        .ok_or_else(|| Error::Request(format!("--data {token:?}: unknown interval or period")))?;
        Ok(Spec { dataset, series, step_ms })
    }

    /// Folder name of the series in the raw archive: `klines_1m`, `aggTrades`.
    #[must_use]
    pub fn series_name(&self) -> String {
        self.series.folder()
    }

    /// The weight-optimal page size: most rows per unit of weight, from the endpoint table;
    /// ties go to the larger page (fewer requests). Weight-free endpoints (limited by
    /// request buckets instead) take the maximum.
    #[must_use]
    pub fn page_limit(&self) -> u32 {
        let ep = self.dataset.endpoint();
        let (_, max) = ep.limit_param().expect("backfill endpoints have a limit");
        let mut candidates: Vec<u32> = match ep.weight {
            endpoint::Weight::ByLimit(steps) => steps.iter().map(|(b, _)| (*b).min(max)).collect(),
            _ => vec![],
        };
        candidates.push(max);
        let score = |l: u32| {
            let w = ep.weight_for(Some(l), true);
            if w == 0 { f64::INFINITY } else { f64::from(l) / f64::from(w) }
        };
        candidates.into_iter().max_by(|a, b| score(*a).total_cmp(&score(*b)).then(a.cmp(b))).unwrap_or(max)
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.series.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::futures_klines_499(Market::UsdM, "klines:1m", 499)]
    #[case::spot_klines_1000(Market::Spot, "klines:1h", 1000)]
    #[case::mark_klines(Market::UsdM, "markPriceKlines:1m", 499)]
    #[case::spot_agg(Market::Spot, "aggTrades", 1000)]
    #[case::funding_max(Market::UsdM, "fundingRate", 1000)]
    #[case::oi_max(Market::UsdM, "openInterestHist:5m", 500)]
    fn page_size_maximises_rows_per_weight(#[case] m: Market, #[case] token: &str, #[case] limit: u32) {
        assert_eq!(Spec::parse(m, token).unwrap().page_limit(), limit);
    }

    #[rstest]
    #[case(
        Market::Spot,
        "fundingRate",
        "--data \"fundingRate\": spot has no backfill of fundingRate; expected one of klines, aggTrades"
    )]
    #[case(Market::UsdM, "klines:7m", "--data \"klines:7m\": unknown interval or period")]
    #[case(Market::UsdM, "aggTrades:1m", "--data \"aggTrades:1m\": aggTrades takes no interval")]
    fn bad_specs_name_the_token(#[case] m: Market, #[case] token: &str, #[case] msg: &str) {
        assert_eq!(Spec::parse(m, token).unwrap_err(), Error::Request(msg.into()));
    }

    #[rstest]
    #[case::default_interval(Market::Spot, "klines", "klines_1m", 60_000)]
    #[case::fixed_funding_grid(Market::UsdM, "fundingRate", "fundingRate", 3_600_000)]
    #[case::period(Market::UsdM, "takerlongshortRatio:1h", "takerlongshortRatio_1h", 3_600_000)]
    fn series_folders_and_grids(#[case] m: Market, #[case] token: &str, #[case] folder: &str, #[case] step: u64) {
        let s = Spec::parse(m, token).unwrap();
        assert_eq!((s.series_name(), s.step_ms), (folder.to_string(), step));
    }

    #[test]
    fn every_dataset_names_a_row_with_a_limit() {
        for d in DATASETS {
            assert!(d.endpoint().limit_param().is_some(), "{}", d.series);
        }
    }
}
