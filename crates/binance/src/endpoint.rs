//! Binance's public REST surface as data: one row per endpoint.
//!
//! The client, the limiter, the simulator's router, the snapshot and the tests all read
//! [`ENDPOINTS`]; nothing else spells a path or a weight. Adding an endpoint is one row.
//! Weights and limits follow Binance's public API docs as summarised in the legacy harness's
//! `FIELDS.md` (checked against the official spot and USD-M market-data pages).

use std::fmt;

/// The two Binance markets alphalab speaks to; each has its own base URL and weight meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Market {
    Spot,
    #[serde(rename = "usdm")]
    UsdM,
}

impl Market {
    pub const ALL: [Market; 2] = [Market::Spot, Market::UsdM];

    /// Folder name of the legacy output layout (`OUTPUT_DIR/<dir>/<file>.json`).
    #[must_use]
    pub const fn output_dir(self) -> &'static str {
        match self {
            Market::Spot => "spot",
            Market::UsdM => "futures",
        }
    }

    /// Production REST base URL (the default for real users).
    #[must_use]
    pub const fn prod_rest_url(self) -> &'static str {
        match self {
            Market::Spot => "https://api.binance.com",
            Market::UsdM => "https://fapi.binance.com",
        }
    }

    /// `REQUEST_WEIGHT` per minute per IP (exchangeInfo `rateLimits`).
    #[must_use]
    pub const fn weight_per_minute(self) -> u32 {
        match self {
            Market::Spot => 6000,
            Market::UsdM => 2400,
        }
    }
}

impl fmt::Display for Market {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Market::Spot => "spot",
            Market::UsdM => "usdm",
        })
    }
}

/// Extra per-IP request buckets on top of the per-minute weight (USD-M only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bucket {
    /// `/fapi/v1/fundingRate` and `/fapi/v1/fundingInfo` share 500 requests per 5 minutes.
    FundingRate,
    /// `/futures/data/*` statistics: 1000 requests per 5 minutes.
    FuturesData,
}

impl Bucket {
    pub const ALL: [Bucket; 2] = [Bucket::FundingRate, Bucket::FuturesData];

    /// (requests, window in seconds).
    #[must_use]
    pub const fn limit(self) -> (u32, u64) {
        match self {
            Bucket::FundingRate => (500, 300),
            Bucket::FuturesData => (1000, 300),
        }
    }
}

/// What a parameter holds, so the simulator can validate it and the snapshot can fill it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A trading symbol of the endpoint's market (`BTCUSDT`).
    Symbol,
    /// A futures pair (`BTCUSDT`).
    Pair,
    /// Kline interval (`1m` ... `1M`).
    Interval,
    /// Futures statistics period (`5m` ... `1d`).
    Period,
    /// `PERPETUAL`, `CURRENT_QUARTER`, `NEXT_QUARTER`.
    ContractType,
    /// Page size; `values` restricts to an enumerated set (futures depth).
    Limit { default: u32, max: u32, class: LimitClass, values: &'static [u32] },
    /// Milliseconds since the epoch.
    Time,
    /// A trade or aggregate-trade id.
    Id,
}

/// Which legacy environment variable sizes a `limit` parameter in the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitClass {
    Trade,
    Kline,
    Funding,
    Metric,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
}

/// Request weight, possibly a function of the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    Fixed(u32),
    /// `(max limit inclusive, weight)` steps, ascending; the first step whose bound covers `limit`.
    ByLimit(&'static [(u32, u32)]),
    /// Cheaper when `symbol` is given.
    BySymbol {
        with: u32,
        without: u32,
    },
}

/// Top-level JSON shape of a successful response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Object,
    /// Array of objects with the documented fields.
    Array,
    /// Array of 12-element kline arrays.
    Klines,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// Legacy output file stem (`OUTPUT_DIR/<market dir>/<name>.json`), unique per market.
    pub name: &'static str,
    pub market: Market,
    pub path: &'static str,
    pub params: &'static [Param],
    pub weight: Weight,
    pub bucket: Option<Bucket>,
    pub shape: Shape,
    /// Documented top-level fields of the object, or of each array element.
    pub fields: &'static [&'static str],
}

impl Endpoint {
    /// Weight charged for a request with this `limit` (`None`: the documented default) and
    /// whether a `symbol` was sent.
    #[must_use]
    pub fn weight_for(&self, limit: Option<u32>, has_symbol: bool) -> u32 {
        match self.weight {
            Weight::Fixed(w) => w,
            Weight::BySymbol { with, without } => {
                if has_symbol {
                    with
                } else {
                    without
                }
            }
            Weight::ByLimit(steps) => {
                let limit = limit.or_else(|| self.limit_param().map(|(d, _)| d)).unwrap_or(0);
                steps.iter().find(|(max, _)| limit <= *max).or(steps.last()).map_or(1, |(_, w)| *w)
            }
        }
    }

    /// `(default, max)` of the `limit` parameter, if any.
    #[must_use]
    pub fn limit_param(&self) -> Option<(u32, u32)> {
        self.params.iter().find_map(|p| match p.kind {
            ParamKind::Limit { default, max, .. } => Some((default, max)),
            _ => None,
        })
    }

    #[must_use]
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Checks a successful payload against the documented shape and field set, so the
    /// simulator's tests and the snapshot (which warns on drift of the real API) share one rule.
    ///
    /// # Errors
    /// What differs, naming the endpoint.
    pub fn check_payload(&self, v: &serde_json::Value) -> Result<(), String> {
        let want = self.fields;
        fn keys_of<'v>(id: &str, o: &'v serde_json::Value) -> Result<Vec<&'v str>, String> {
            o.as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .ok_or_else(|| format!("{id}: expected an object, got {o}"))
        }
        let id = self.id();
        let same = |got: Vec<&str>| -> Result<(), String> {
            if got == want { Ok(()) } else { Err(format!("{}: fields {got:?}, documented {want:?}", self.id())) }
        };
        match self.shape {
            Shape::Object => same(keys_of(&id, v)?),
            Shape::Array | Shape::Klines => {
                let rows = v.as_array().ok_or_else(|| format!("{}: expected an array", self.id()))?;
                for row in rows {
                    if self.shape == Shape::Array {
                        same(keys_of(&id, row)?)?;
                        continue;
                    }
                    let k = row.as_array().filter(|k| k.len() == want.len());
                    let k =
                        k.ok_or_else(|| format!("{}: kline is not a {}-element array: {row}", self.id(), want.len()))?;
                    for (i, x) in k.iter().enumerate() {
                        // Open time, close time and trade count are integers; the rest decimal strings.
                        let ok = if matches!(i, 0 | 6 | 8) {
                            x.is_u64()
                        } else {
                            x.as_str().is_some_and(|s| s.parse::<f64>().is_ok())
                        };
                        if !ok {
                            return Err(format!(
                                "{}: kline column {i} ({}) has the wrong type: {x}",
                                self.id(),
                                want[i]
                            ));
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// `spot/klines`-style identifier used in logs and manifests.
    #[must_use]
    pub fn id(&self) -> String {
        format!("{}/{}", self.market.output_dir(), self.name)
    }
}

const fn req(name: &'static str, kind: ParamKind) -> Param {
    Param { name, kind, required: true }
}
const fn opt(name: &'static str, kind: ParamKind) -> Param {
    Param { name, kind, required: false }
}
const fn limit(default: u32, max: u32, class: LimitClass) -> ParamKind {
    ParamKind::Limit { default, max, class, values: &[] }
}

const SYMBOL: Param = req("symbol", ParamKind::Symbol);
const OPT_SYMBOL: Param = opt("symbol", ParamKind::Symbol);
const PAIR: Param = req("pair", ParamKind::Pair);
const INTERVAL: Param = req("interval", ParamKind::Interval);
const PERIOD: Param = req("period", ParamKind::Period);
const START: Param = opt("startTime", ParamKind::Time);
const END: Param = opt("endTime", ParamKind::Time);
const FROM_ID: Param = opt("fromId", ParamKind::Id);

const SPOT_KLINE_PARAMS: &[Param] = &[SYMBOL, INTERVAL, START, END, opt("limit", limit(500, 1000, LimitClass::Kline))];
const FUT_KLINE_LIMIT: Param = opt("limit", limit(500, 1500, LimitClass::Kline));
/// USD-M kline weight: 1 / 2 / 5 / 10 for limit < 100 / < 500 / ≤ 1000 / > 1000.
const FUT_KLINE_WEIGHT: Weight = Weight::ByLimit(&[(99, 1), (499, 2), (1000, 5), (u32::MAX, 10)]);
const STATS_PARAMS: &[Param] = &[SYMBOL, PERIOD, START, END, opt("limit", limit(30, 500, LimitClass::Metric))];

const KLINE_FIELDS: &[&str] = &[
    "openTime",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "closeTime",
    "quoteVolume",
    "trades",
    "takerBuyBase",
    "takerBuyQuote",
    "ignore",
];
const SPOT_TRADE_FIELDS: &[&str] = &["id", "price", "qty", "quoteQty", "time", "isBuyerMaker", "isBestMatch"];
const RATIO_FIELDS: &[&str] = &["symbol", "longShortRatio", "longAccount", "shortAccount", "timestamp"];

/// The 40 REST payloads of the legacy harness: 14 spot, 26 USD-M, in the legacy run order.
pub const ENDPOINTS: &[Endpoint] = &[
    // ---------------------------------------------------------------- spot
    Endpoint {
        name: "ping",
        market: Market::Spot,
        path: "/api/v3/ping",
        params: &[],
        weight: Weight::Fixed(1),
        bucket: None,
        shape: Shape::Object,
        fields: &[],
    },
    Endpoint {
        name: "time",
        market: Market::Spot,
        path: "/api/v3/time",
        params: &[],
        weight: Weight::Fixed(1),
        bucket: None,
        shape: Shape::Object,
        fields: &["serverTime"],
    },
    Endpoint {
        name: "exchange_info",
        market: Market::Spot,
        path: "/api/v3/exchangeInfo",
        params: &[],
        weight: Weight::Fixed(20),
        bucket: None,
        shape: Shape::Object,
        fields: &["timezone", "serverTime", "rateLimits", "exchangeFilters", "symbols"],
    },
    Endpoint {
        name: "depth",
        market: Market::Spot,
        path: "/api/v3/depth",
        params: &[SYMBOL, opt("limit", limit(100, 5000, LimitClass::Trade))],
        weight: Weight::ByLimit(&[(100, 5), (500, 25), (1000, 50), (5000, 250)]),
        bucket: None,
        shape: Shape::Object,
        fields: &["lastUpdateId", "bids", "asks"],
    },
    Endpoint {
        name: "trades",
        market: Market::Spot,
        path: "/api/v3/trades",
        params: &[SYMBOL, opt("limit", limit(500, 1000, LimitClass::Trade))],
        weight: Weight::Fixed(25),
        bucket: None,
        shape: Shape::Array,
        fields: SPOT_TRADE_FIELDS,
    },
    Endpoint {
        name: "historical_trades",
        market: Market::Spot,
        path: "/api/v3/historicalTrades",
        params: &[SYMBOL, opt("limit", limit(500, 1000, LimitClass::Trade)), FROM_ID],
        weight: Weight::Fixed(25),
        bucket: None,
        shape: Shape::Array,
        fields: SPOT_TRADE_FIELDS,
    },
    Endpoint {
        name: "agg_trades",
        market: Market::Spot,
        path: "/api/v3/aggTrades",
        params: &[SYMBOL, FROM_ID, START, END, opt("limit", limit(500, 1000, LimitClass::Trade))],
        weight: Weight::Fixed(4),
        bucket: None,
        shape: Shape::Array,
        fields: &["a", "p", "q", "f", "l", "T", "m", "M"],
    },
    Endpoint {
        name: "klines",
        market: Market::Spot,
        path: "/api/v3/klines",
        params: SPOT_KLINE_PARAMS,
        weight: Weight::Fixed(2),
        bucket: None,
        shape: Shape::Klines,
        fields: KLINE_FIELDS,
    },
    Endpoint {
        name: "ui_klines",
        market: Market::Spot,
        path: "/api/v3/uiKlines",
        params: SPOT_KLINE_PARAMS,
        weight: Weight::Fixed(2),
        bucket: None,
        shape: Shape::Klines,
        fields: KLINE_FIELDS,
    },
    Endpoint {
        name: "avg_price",
        market: Market::Spot,
        path: "/api/v3/avgPrice",
        params: &[SYMBOL],
        weight: Weight::Fixed(2),
        bucket: None,
        shape: Shape::Object,
        fields: &["mins", "price", "closeTime"],
    },
    Endpoint {
        name: "ticker_24hr",
        market: Market::Spot,
        path: "/api/v3/ticker/24hr",
        params: &[SYMBOL],
        weight: Weight::Fixed(2),
        bucket: None,
        shape: Shape::Object,
        fields: &[
            "symbol",
            "priceChange",
            "priceChangePercent",
            "weightedAvgPrice",
            "prevClosePrice",
            "lastPrice",
            "lastQty",
            "bidPrice",
            "bidQty",
            "askPrice",
            "askQty",
            "openPrice",
            "highPrice",
            "lowPrice",
            "volume",
            "quoteVolume",
            "openTime",
            "closeTime",
            "firstId",
            "lastId",
            "count",
        ],
    },
    Endpoint {
        name: "trading_day_ticker",
        market: Market::Spot,
        path: "/api/v3/ticker/tradingDay",
        params: &[SYMBOL],
        weight: Weight::Fixed(4),
        bucket: None,
        shape: Shape::Object,
        fields: &[
            "symbol",
            "priceChange",
            "priceChangePercent",
            "weightedAvgPrice",
            "openPrice",
            "highPrice",
            "lowPrice",
            "lastPrice",
            "volume",
            "quoteVolume",
            "openTime",
            "closeTime",
            "firstId",
            "lastId",
            "count",
        ],
    },
    Endpoint {
        name: "ticker_price",
        market: Market::Spot,
        path: "/api/v3/ticker/price",
        params: &[SYMBOL],
        weight: Weight::Fixed(2),
        bucket: None,
        shape: Shape::Object,
        fields: &["symbol", "price"],
    },
    Endpoint {
        name: "book_ticker",
        market: Market::Spot,
        path: "/api/v3/ticker/bookTicker",
        params: &[SYMBOL],
        weight: Weight::Fixed(2),
        bucket: None,
        shape: Shape::Object,
        fields: &["symbol", "bidPrice", "bidQty", "askPrice", "askQty"],
    },
    // ---------------------------------------------------------------- USD-M futures
    Endpoint {
        name: "ping",
        market: Market::UsdM,
        path: "/fapi/v1/ping",
        params: &[],
        weight: Weight::Fixed(1),
        bucket: None,
        shape: Shape::Object,
        fields: &[],
    },
    Endpoint {
        name: "time",
        market: Market::UsdM,
        path: "/fapi/v1/time",
        params: &[],
        weight: Weight::Fixed(1),
        bucket: None,
        shape: Shape::Object,
        fields: &["serverTime"],
    },
    Endpoint {
        name: "exchange_info",
        market: Market::UsdM,
        path: "/fapi/v1/exchangeInfo",
        params: &[],
        weight: Weight::Fixed(1),
        bucket: None,
        shape: Shape::Object,
        fields: &["timezone", "serverTime", "futuresType", "rateLimits", "exchangeFilters", "assets", "symbols"],
    },
    Endpoint {
        name: "depth",
        market: Market::UsdM,
        path: "/fapi/v1/depth",
        params: &[
            SYMBOL,
            opt(
                "limit",
                ParamKind::Limit {
                    default: 500,
                    max: 1000,
                    class: LimitClass::Trade,
                    values: &[5, 10, 20, 50, 100, 500, 1000],
                },
            ),
        ],
        weight: Weight::ByLimit(&[(50, 2), (100, 5), (500, 10), (1000, 20)]),
        bucket: None,
        shape: Shape::Object,
        fields: &["lastUpdateId", "E", "T", "bids", "asks"],
    },
    Endpoint {
        name: "trades",
        market: Market::UsdM,
        path: "/fapi/v1/trades",
        params: &[SYMBOL, opt("limit", limit(500, 1000, LimitClass::Trade))],
        weight: Weight::Fixed(5),
        bucket: None,
        shape: Shape::Array,
        fields: &["id", "price", "qty", "quoteQty", "time", "isBuyerMaker"],
    },
    Endpoint {
        name: "agg_trades",
        market: Market::UsdM,
        path: "/fapi/v1/aggTrades",
        params: &[SYMBOL, FROM_ID, START, END, opt("limit", limit(500, 1000, LimitClass::Trade))],
        weight: Weight::Fixed(20),
        bucket: None,
        shape: Shape::Array,
        fields: &["a", "p", "q", "f", "l", "T", "m"],
    },
    Endpoint {
        name: "klines",
        market: Market::UsdM,
        path: "/fapi/v1/klines",
        params: &[SYMBOL, INTERVAL, START, END, FUT_KLINE_LIMIT],
        weight: FUT_KLINE_WEIGHT,
        bucket: None,
        shape: Shape::Klines,
        fields: KLINE_FIELDS,
    },
    Endpoint {
        name: "continuous_klines",
        market: Market::UsdM,
        path: "/fapi/v1/continuousKlines",
        params: &[PAIR, req("contractType", ParamKind::ContractType), INTERVAL, START, END, FUT_KLINE_LIMIT],
        weight: FUT_KLINE_WEIGHT,
        bucket: None,
        shape: Shape::Klines,
        fields: KLINE_FIELDS,
    },
    Endpoint {
        name: "index_price_klines",
        market: Market::UsdM,
        path: "/fapi/v1/indexPriceKlines",
        params: &[PAIR, INTERVAL, START, END, FUT_KLINE_LIMIT],
        weight: FUT_KLINE_WEIGHT,
        bucket: None,
        shape: Shape::Klines,
        fields: KLINE_FIELDS,
    },
    Endpoint {
        name: "mark_price_klines",
        market: Market::UsdM,
        path: "/fapi/v1/markPriceKlines",
        params: &[SYMBOL, INTERVAL, START, END, FUT_KLINE_LIMIT],
        weight: FUT_KLINE_WEIGHT,
        bucket: None,
        shape: Shape::Klines,
        fields: KLINE_FIELDS,
    },
    Endpoint {
        name: "mark_price",
        market: Market::UsdM,
        path: "/fapi/v1/premiumIndex",
        params: &[SYMBOL],
        weight: Weight::Fixed(1),
        bucket: None,
        shape: Shape::Object,
        fields: &[
            "symbol",
            "markPrice",
            "indexPrice",
            "estimatedSettlePrice",
            "lastFundingRate",
            "interestRate",
            "nextFundingTime",
            "time",
        ],
    },
    Endpoint {
        name: "funding_rate_history",
        market: Market::UsdM,
        path: "/fapi/v1/fundingRate",
        params: &[SYMBOL, START, END, opt("limit", limit(100, 1000, LimitClass::Funding))],
        weight: Weight::Fixed(0),
        bucket: Some(Bucket::FundingRate),
        shape: Shape::Array,
        fields: &["symbol", "fundingRate", "fundingTime", "markPrice"],
    },
    Endpoint {
        name: "funding_rate_info",
        market: Market::UsdM,
        path: "/fapi/v1/fundingInfo",
        params: &[],
        weight: Weight::Fixed(0),
        bucket: Some(Bucket::FundingRate),
        shape: Shape::Array,
        fields: &["symbol", "adjustedFundingRateCap", "adjustedFundingRateFloor", "fundingIntervalHours", "disclaimer"],
    },
    Endpoint {
        name: "ticker_24hr_price_change",
        market: Market::UsdM,
        path: "/fapi/v1/ticker/24hr",
        params: &[SYMBOL],
        weight: Weight::Fixed(1),
        bucket: None,
        shape: Shape::Object,
        fields: &[
            "symbol",
            "priceChange",
            "priceChangePercent",
            "weightedAvgPrice",
            "lastPrice",
            "lastQty",
            "openPrice",
            "highPrice",
            "lowPrice",
            "volume",
            "quoteVolume",
            "openTime",
            "closeTime",
            "firstId",
            "lastId",
            "count",
        ],
    },
    Endpoint {
        name: "ticker_price",
        market: Market::UsdM,
        path: "/fapi/v1/ticker/price",
        params: &[SYMBOL],
        weight: Weight::Fixed(1),
        bucket: None,
        shape: Shape::Object,
        fields: &["symbol", "price", "time"],
    },
    Endpoint {
        name: "book_ticker",
        market: Market::UsdM,
        path: "/fapi/v1/ticker/bookTicker",
        params: &[SYMBOL],
        weight: Weight::Fixed(2),
        bucket: None,
        shape: Shape::Object,
        fields: &["symbol", "bidPrice", "bidQty", "askPrice", "askQty", "time"],
    },
    Endpoint {
        name: "quarterly_contract_settlement_price",
        market: Market::UsdM,
        path: "/futures/data/delivery-price",
        params: &[PAIR],
        weight: Weight::Fixed(0),
        bucket: None,
        shape: Shape::Array,
        fields: &["deliveryTime", "deliveryPrice"],
    },
    Endpoint {
        name: "open_interest",
        market: Market::UsdM,
        path: "/fapi/v1/openInterest",
        params: &[SYMBOL],
        weight: Weight::Fixed(1),
        bucket: None,
        shape: Shape::Object,
        fields: &["openInterest", "symbol", "time"],
    },
    Endpoint {
        name: "open_interest_hist",
        market: Market::UsdM,
        path: "/futures/data/openInterestHist",
        params: STATS_PARAMS,
        weight: Weight::Fixed(0),
        bucket: Some(Bucket::FuturesData),
        shape: Shape::Array,
        fields: &["symbol", "sumOpenInterest", "sumOpenInterestValue", "CMCCirculatingSupply", "timestamp"],
    },
    Endpoint {
        name: "top_long_short_position_ratio",
        market: Market::UsdM,
        path: "/futures/data/topLongShortPositionRatio",
        params: STATS_PARAMS,
        weight: Weight::Fixed(0),
        bucket: Some(Bucket::FuturesData),
        shape: Shape::Array,
        fields: RATIO_FIELDS,
    },
    Endpoint {
        name: "long_short_account_ratio",
        market: Market::UsdM,
        path: "/futures/data/globalLongShortAccountRatio",
        params: STATS_PARAMS,
        weight: Weight::Fixed(0),
        bucket: Some(Bucket::FuturesData),
        shape: Shape::Array,
        fields: RATIO_FIELDS,
    },
    Endpoint {
        name: "top_long_short_account_ratio",
        market: Market::UsdM,
        path: "/futures/data/topLongShortAccountRatio",
        params: STATS_PARAMS,
        weight: Weight::Fixed(0),
        bucket: Some(Bucket::FuturesData),
        shape: Shape::Array,
        fields: RATIO_FIELDS,
    },
    Endpoint {
        name: "taker_long_short_ratio",
        market: Market::UsdM,
        path: "/futures/data/takerlongshortRatio",
        params: STATS_PARAMS,
        weight: Weight::Fixed(0),
        bucket: Some(Bucket::FuturesData),
        shape: Shape::Array,
        fields: &["buySellRatio", "buyVol", "sellVol", "timestamp"],
    },
    Endpoint {
        name: "index_info",
        market: Market::UsdM,
        path: "/fapi/v1/indexInfo",
        params: &[OPT_SYMBOL],
        weight: Weight::Fixed(1),
        bucket: None,
        shape: Shape::Array,
        fields: &["symbol", "time", "component", "baseAssetList"],
    },
    Endpoint {
        name: "asset_index",
        market: Market::UsdM,
        path: "/fapi/v1/assetIndex",
        params: &[OPT_SYMBOL],
        weight: Weight::BySymbol { with: 1, without: 10 },
        bucket: None,
        shape: Shape::Array,
        fields: &[
            "symbol",
            "time",
            "index",
            "bidBuffer",
            "askBuffer",
            "bidRate",
            "askRate",
            "autoExchangeBidBuffer",
            "autoExchangeAskBuffer",
            "autoExchangeBidRate",
            "autoExchangeAskRate",
        ],
    },
    Endpoint {
        name: "index_price_constituents",
        market: Market::UsdM,
        path: "/fapi/v1/constituents",
        params: &[SYMBOL],
        weight: Weight::Fixed(2),
        bucket: None,
        shape: Shape::Object,
        fields: &["symbol", "time", "constituents"],
    },
];

/// Kline intervals Binance accepts, with their length in milliseconds (`1M` = 30 days, as
/// Binance's own pagination treats it only approximately; the simulator uses calendar months).
pub const INTERVALS: &[(&str, u64)] = &[
    ("1s", 1_000),
    ("1m", 60_000),
    ("3m", 180_000),
    ("5m", 300_000),
    ("15m", 900_000),
    ("30m", 1_800_000),
    ("1h", 3_600_000),
    ("2h", 7_200_000),
    ("4h", 14_400_000),
    ("6h", 21_600_000),
    ("8h", 28_800_000),
    ("12h", 43_200_000),
    ("1d", 86_400_000),
    ("3d", 259_200_000),
    ("1w", 604_800_000),
];

/// Periods of the `/futures/data` statistics endpoints.
pub const PERIODS: &[(&str, u64)] = &[
    ("5m", 300_000),
    ("15m", 900_000),
    ("30m", 1_800_000),
    ("1h", 3_600_000),
    ("2h", 7_200_000),
    ("4h", 14_400_000),
    ("6h", 21_600_000),
    ("12h", 43_200_000),
    ("1d", 86_400_000),
];

pub const CONTRACT_TYPES: &[&str] = &["PERPETUAL", "CURRENT_QUARTER", "NEXT_QUARTER"];

/// Length of a kline interval in milliseconds.
#[must_use]
pub fn interval_ms(interval: &str) -> Option<u64> {
    INTERVALS.iter().find(|(n, _)| *n == interval).map(|(_, ms)| *ms)
}

/// Length of a statistics period in milliseconds.
#[must_use]
pub fn period_ms(period: &str) -> Option<u64> {
    PERIODS.iter().find(|(n, _)| *n == period).map(|(_, ms)| *ms)
}

/// The row for a market and legacy name.
#[must_use]
pub fn find(market: Market, name: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| e.market == market && e.name == name)
}

/// The row serving a request path (paths are unique across markets).
#[must_use]
pub fn by_path(path: &str) -> Option<&'static Endpoint> {
    ENDPOINTS.iter().find(|e| e.path == path)
}

/// Iterator over one market's rows.
pub fn of_market(market: Market) -> impl Iterator<Item = &'static Endpoint> {
    ENDPOINTS.iter().filter(move |e| e.market == market)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rstest::rstest;

    use super::*;

    #[test]
    fn table_has_legacy_counts_and_unique_keys() {
        assert_eq!(of_market(Market::Spot).count(), 14);
        assert_eq!(of_market(Market::UsdM).count(), 26);
        let paths: HashSet<_> = ENDPOINTS.iter().map(|e| e.path).collect();
        assert_eq!(paths.len(), ENDPOINTS.len(), "paths are unique");
        let names: HashSet<_> = ENDPOINTS.iter().map(|e| (e.market, e.name)).collect();
        assert_eq!(names.len(), ENDPOINTS.len(), "names are unique per market");
    }

    #[rstest]
    #[case::fut_klines_tiny(Market::UsdM, "klines", Some(50), 1)]
    #[case::fut_klines_499(Market::UsdM, "klines", Some(499), 2)]
    #[case::fut_klines_default(Market::UsdM, "klines", None, 5)]
    #[case::fut_klines_1000(Market::UsdM, "klines", Some(1000), 5)]
    #[case::fut_klines_1500(Market::UsdM, "klines", Some(1500), 10)]
    #[case::spot_depth_default(Market::Spot, "depth", None, 5)]
    #[case::spot_depth_1000(Market::Spot, "depth", Some(1000), 50)]
    #[case::spot_depth_5000(Market::Spot, "depth", Some(5000), 250)]
    #[case::fut_depth_default(Market::UsdM, "depth", None, 10)]
    #[case::fut_depth_1000(Market::UsdM, "depth", Some(1000), 20)]
    #[case::spot_klines(Market::Spot, "klines", Some(1000), 2)]
    fn weight_follows_limit(
        #[case] market: Market,
        #[case] name: &str,
        #[case] limit: Option<u32>,
        #[case] expected: u32,
    ) {
        assert_eq!(find(market, name).unwrap().weight_for(limit, true), expected);
    }

    #[rstest]
    #[case::ok(Market::UsdM, "ticker_price", r#"{"symbol":"BTCUSDT","price":"1.0","time":1}"#, true)]
    #[case::missing(Market::UsdM, "ticker_price", r#"{"symbol":"BTCUSDT","price":"1.0"}"#, false)]
    #[case::extra(Market::Spot, "ticker_price", r#"{"symbol":"BTCUSDT","price":"1.0","x":1}"#, false)]
    #[case::kline(Market::Spot, "klines", r#"[[1,"1","1","1","1","1",2,"1",3,"1","1","0"]]"#, true)]
    #[case::kline_float(Market::Spot, "klines", r#"[[1,1.0,"1","1","1","1",2,"1",3,"1","1","0"]]"#, false)]
    #[case::kline_short(Market::Spot, "klines", r#"[[1,"1"]]"#, false)]
    fn payload_check(#[case] market: Market, #[case] name: &str, #[case] body: &str, #[case] ok: bool) {
        let ep = find(market, name).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(ep.check_payload(&v).is_ok(), ok, "{:?}", ep.check_payload(&v));
    }

    #[test]
    fn asset_index_weight_depends_on_symbol() {
        let e = find(Market::UsdM, "asset_index").unwrap();
        assert_eq!((e.weight_for(None, true), e.weight_for(None, false)), (1, 10));
    }
}
