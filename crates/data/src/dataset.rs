//! Historical series the backfill can fetch, as data: which endpoint row serves each, how it
//! pages (by time or by id), and how long Binance keeps it.

use std::fmt;

use binance::{
    Endpoint, Market,
    endpoint::{self, interval_ms, period_ms},
};

/// How a series is paged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// `startTime`/`endTime` windows on a fixed step grid.
    Time,
    /// `fromId` pages of contiguous ids.
    Id,
}

/// What the step parameter of a series is called, if it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Interval,
    Period,
    /// No parameter; pages are planned on this fixed step (ms).
    Fixed(u64),
    /// Id-paged: no time step.
    None,
}

/// One backfillable series kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    /// CLI name (`klines`, `aggTrades`, `fundingRate`, ...).
    pub key: &'static str,
    pub market: Market,
    /// Legacy name of the endpoint row serving it.
    pub endpoint: &'static str,
    pub paging: Paging,
    pub step: Step,
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
        key: "klines",
        market: Market::Spot,
        endpoint: "klines",
        paging: Paging::Time,
        step: Step::Interval,
        retention_days: None,
        extra: &[],
    },
    Dataset {
        key: "aggTrades",
        market: Market::Spot,
        endpoint: "agg_trades",
        paging: Paging::Id,
        step: Step::None,
        retention_days: None,
        extra: &[],
    },
    Dataset {
        key: "klines",
        market: Market::UsdM,
        endpoint: "klines",
        paging: Paging::Time,
        step: Step::Interval,
        retention_days: None,
        extra: &[],
    },
    Dataset {
        key: "continuousKlines",
        market: Market::UsdM,
        endpoint: "continuous_klines",
        paging: Paging::Time,
        step: Step::Interval,
        retention_days: None,
        extra: &[("contractType", "PERPETUAL")],
    },
    Dataset {
        key: "markPriceKlines",
        market: Market::UsdM,
        endpoint: "mark_price_klines",
        paging: Paging::Time,
        step: Step::Interval,
        retention_days: None,
        extra: &[],
    },
    Dataset {
        key: "indexPriceKlines",
        market: Market::UsdM,
        endpoint: "index_price_klines",
        paging: Paging::Time,
        step: Step::Interval,
        retention_days: None,
        extra: &[],
    },
    Dataset {
        key: "aggTrades",
        market: Market::UsdM,
        endpoint: "agg_trades",
        paging: Paging::Id,
        step: Step::None,
        retention_days: None,
        extra: &[],
    },
    // Funding intervals differ by symbol (8 h, 4 h, 1 h): plan pages on the shortest so a page
    // can never hold more rows than its limit.
    Dataset {
        key: "fundingRate",
        market: Market::UsdM,
        endpoint: "funding_rate_history",
        paging: Paging::Time,
        step: Step::Fixed(H1),
        retention_days: None,
        extra: &[],
    },
    Dataset {
        key: "openInterestHist",
        market: Market::UsdM,
        endpoint: "open_interest_hist",
        paging: Paging::Time,
        step: Step::Period,
        retention_days: Some(30),
        extra: &[],
    },
    Dataset {
        key: "topLongShortPositionRatio",
        market: Market::UsdM,
        endpoint: "top_long_short_position_ratio",
        paging: Paging::Time,
        step: Step::Period,
        retention_days: Some(30),
        extra: &[],
    },
    Dataset {
        key: "globalLongShortAccountRatio",
        market: Market::UsdM,
        endpoint: "long_short_account_ratio",
        paging: Paging::Time,
        step: Step::Period,
        retention_days: Some(30),
        extra: &[],
    },
    Dataset {
        key: "topLongShortAccountRatio",
        market: Market::UsdM,
        endpoint: "top_long_short_account_ratio",
        paging: Paging::Time,
        step: Step::Period,
        retention_days: Some(30),
        extra: &[],
    },
    Dataset {
        key: "takerlongshortRatio",
        market: Market::UsdM,
        endpoint: "taker_long_short_ratio",
        paging: Paging::Time,
        step: Step::Period,
        retention_days: Some(30),
        extra: &[],
    },
];

/// A dataset with its step chosen: `klines:1m`, `openInterestHist:5m`, `aggTrades`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub dataset: &'static Dataset,
    /// Interval or period name (`1m`, `5m`), if the dataset has one.
    pub step_name: Option<String>,
    /// Step of the page grid in ms (0 for id paging).
    pub step_ms: u64,
}

impl Spec {
    /// Parses `key[:step]` for `market`.
    ///
    /// # Errors
    /// A message naming the token and the accepted values.
    pub fn parse(market: Market, token: &str) -> Result<Spec, String> {
        let (key, step) = match token.split_once(':') {
            Some((k, s)) => (k, Some(s)),
            None => (token, None),
        };
        let dataset = DATASETS.iter().find(|d| d.market == market && d.key == key).ok_or_else(|| {
            let keys: Vec<_> = DATASETS.iter().filter(|d| d.market == market).map(|d| d.key).collect();
            format!("--data {token:?}: unknown {market} dataset; expected one of {}", keys.join(", "))
        })?;
        let (step_name, step_ms) = match (dataset.step, step) {
            (Step::Interval, Some(s)) => (Some(s.to_string()), interval_ms(s)),
            (Step::Period, Some(s)) => (Some(s.to_string()), period_ms(s)),
            (Step::Interval, None) => (Some("1m".into()), Some(60_000)),
            (Step::Period, None) => (Some("5m".into()), Some(300_000)),
            (Step::Fixed(ms), None) => (None, Some(ms)),
            (Step::None, None) => (None, Some(0)),
            (Step::Fixed(_) | Step::None, Some(_)) => {
                return Err(format!("--data {token:?}: {key} takes no interval"));
            }
        };
        let step_ms = step_ms.ok_or_else(|| format!("--data {token:?}: unknown interval or period"))?;
        Ok(Spec { dataset, step_name, step_ms })
    }

    /// Folder name of the series in the raw archive: `klines_1m`, `aggTrades`.
    #[must_use]
    pub fn series_name(&self) -> String {
        match &self.step_name {
            Some(s) if !matches!(self.dataset.step, Step::Fixed(_)) => format!("{}_{s}", self.dataset.key),
            _ => self.dataset.key.to_string(),
        }
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
        match &self.step_name {
            Some(s) if !matches!(self.dataset.step, Step::Fixed(_)) => write!(f, "{}:{s}", self.dataset.key),
            _ => f.write_str(self.dataset.key),
        }
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
        "--data \"fundingRate\": unknown spot dataset; expected one of klines, aggTrades"
    )]
    #[case(Market::UsdM, "klines:7m", "--data \"klines:7m\": unknown interval or period")]
    #[case(Market::UsdM, "aggTrades:1m", "--data \"aggTrades:1m\": aggTrades takes no interval")]
    fn bad_specs_name_the_token(#[case] m: Market, #[case] token: &str, #[case] msg: &str) {
        assert_eq!(Spec::parse(m, token).unwrap_err(), msg);
    }

    #[test]
    fn every_dataset_names_a_row_with_a_limit() {
        for d in DATASETS {
            assert!(d.endpoint().limit_param().is_some(), "{}", d.key);
        }
    }
}
