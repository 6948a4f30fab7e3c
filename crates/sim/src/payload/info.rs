//! Static-ish reference payloads: exchangeInfo (structure copied from the real wire files; the
//! symbols listed at the server time, with their status, grids and limits), fundingInfo,
//! composite index info, multi-assets index and index constituents.

use binance::Market;
use serde_json::{Value, json};

use super::{Ctx, Wire, market_obj};
use crate::{
    model::{ContractSpec, Driver, Model, SymbolSpec, UniverseConfig, Venue, fixed::fmt_fixed},
    query::ApiError,
};

/// `onboardDate` of the configured symbols (BTCUSDT's real one, 2019-09-25).
const LEGACY_ONBOARD_MS: u64 = 1_569_398_400_000;

/// A decimal string of one integer unit at `dp` decimals (a tick or a step), padded to `out`.
fn unit(units: u64, dp: u32, out: u32) -> String {
    fmt_fixed(units.into(), dp, out)
}

fn rate_limits(market: Market) -> Value {
    let weight = json!({ "rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": market.weight_per_minute() });
    match market {
        Market::Spot => json!([
            weight,
            { "rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100 },
            { "rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200_000 },
            { "rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61_000 }
        ]),
        Market::UsdM => json!([
            weight,
            { "rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200 },
            { "rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300 }
        ]),
    }
}

/// `(min notional, LOT_SIZE maxQty, MARKET_LOT_SIZE maxQty)` in whole units, the market's
/// legacy values where the contract sets none.
fn limits(c: &ContractSpec, defaults: (u64, u64, u64)) -> (u64, u64, u64) {
    (c.min_notional.unwrap_or(defaults.0), c.max_qty.unwrap_or(defaults.1), c.market_max_qty.unwrap_or(defaults.2))
}

fn spot_symbol(m: &Model, s: &SymbolSpec, now: u64) -> Value {
    let c = &s.spot;
    let life = m.life(&s.symbol).expect("a listed symbol");
    let (min_notional, max_qty, market_max) = limits(c, (5, 9000, 100));
    json!({
        "symbol": s.symbol, "status": life.spot_status(now), "baseAsset": s.base_asset, "baseAssetPrecision": 8,
        "quoteAsset": s.quote_asset, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": true, "ocoAllowed": true, "otoAllowed": true, "quoteOrderQtyMarketAllowed": true,
        "allowTrailingStop": true, "cancelReplaceAllowed": true, "isSpotTradingAllowed": true,
        "isMarginTradingAllowed": true,
        "filters": [
            { "filterType": "PRICE_FILTER", "minPrice": unit(c.tick, c.price_decimals, 8),
              "maxPrice": "1000000.00000000", "tickSize": unit(c.tick, c.price_decimals, 8) },
            { "filterType": "LOT_SIZE", "minQty": unit(1, c.qty_decimals, 8), "maxQty": unit(max_qty, 0, 8),
              "stepSize": unit(1, c.qty_decimals, 8) },
            { "filterType": "ICEBERG_PARTS", "limit": 10 },
            { "filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": unit(market_max, 0, 8), "stepSize": "0.00000000" },
            { "filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000,
              "minTrailingBelowDelta": 10, "maxTrailingBelowDelta": 2000 },
            { "filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5", "bidMultiplierDown": "0.2",
              "askMultiplierUp": "5", "askMultiplierDown": "0.2", "avgPriceMins": 5 },
            { "filterType": "NOTIONAL", "minNotional": unit(min_notional, 0, 8), "applyMinToMarket": true,
              "maxNotional": "9000000.00000000", "applyMaxToMarket": false, "avgPriceMins": 5 },
            { "filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200 },
            { "filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5 }
        ],
        "permissions": [], "permissionSets": [["SPOT", "MARGIN"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]
    })
}

fn futures_symbol(m: &Model, s: &SymbolSpec, now: u64) -> Value {
    let c = &s.usdm;
    let life = m.life(&s.symbol).expect("a listed symbol");
    let (min_notional, max_qty, market_max) = limits(c, (100, 1000, 120));
    let onboard = s.listed_ms.map_or(LEGACY_ONBOARD_MS, |_| life.listed_ms);
    let sub_type = match m.profile(&s.symbol).map(|p| p.driver) {
        Some(Driver::Factor { sector, .. }) => UniverseConfig::sector_name(sector),
        _ => "PoW".to_string(),
    };
    json!({
        "symbol": s.symbol, "pair": s.symbol, "contractType": "PERPETUAL", "deliveryDate": life.delivery_date(now),
        "onboardDate": onboard, "status": life.usdm_status(now), "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000", "baseAsset": s.base_asset, "quoteAsset": s.quote_asset,
        "marginAsset": s.quote_asset, "pricePrecision": c.price_decimals, "quantityPrecision": c.qty_decimals,
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [sub_type],
        "settlePlan": 0, "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            { "filterType": "PRICE_FILTER", "minPrice": unit(c.tick, c.price_decimals, c.price_decimals),
              "maxPrice": "4529764", "tickSize": unit(c.tick, c.price_decimals, c.price_decimals) },
            { "filterType": "LOT_SIZE", "stepSize": unit(1, c.qty_decimals, c.qty_decimals), "maxQty": unit(max_qty, 0, 0),
              "minQty": unit(1, c.qty_decimals, c.qty_decimals) },
            { "filterType": "MARKET_LOT_SIZE", "stepSize": unit(1, c.qty_decimals, c.qty_decimals), "maxQty": unit(market_max, 0, 0),
              "minQty": unit(1, c.qty_decimals, c.qty_decimals) },
            { "filterType": "MAX_NUM_ORDERS", "limit": 200 },
            { "filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10 },
            { "filterType": "MIN_NOTIONAL", "notional": unit(min_notional, 0, 0) },
            { "filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": "4" }
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"]
    })
}

pub(super) fn exchange_info(c: &Ctx) -> Value {
    let syms: Vec<&SymbolSpec> = c.model.listed(c.now).collect();
    let full = match c.ep.market {
        Market::Spot => json!({
            "timezone": "UTC", "serverTime": c.now, "rateLimits": rate_limits(Market::Spot), "exchangeFilters": [],
            "symbols": syms.iter().map(|s| spot_symbol(c.model, s, c.now)).collect::<Vec<_>>(),
        }),
        Market::UsdM => {
            let mut assets = vec![json!({ "asset": "USDT", "marginAvailable": true, "autoAssetExchange": "-10000" })];
            assets.extend(
                syms.iter()
                    .map(|s| json!({ "asset": s.base_asset, "marginAvailable": true, "autoAssetExchange": "0" })),
            );
            json!({
                "timezone": "UTC", "serverTime": c.now, "futuresType": "U_MARGINED",
                "rateLimits": rate_limits(Market::UsdM), "exchangeFilters": [], "assets": assets,
                "symbols": syms.iter().map(|s| futures_symbol(c.model, s, c.now)).collect::<Vec<_>>(),
            })
        }
    };
    c.project(&market_obj(full))
}

pub(super) fn funding_info(c: &Ctx) -> Value {
    c.model
        .listed(c.now)
        .map(|s| {
            c.project(&market_obj(json!({
                "symbol": s.symbol, "adjustedFundingRateCap": "0.02000000", "adjustedFundingRateFloor": "-0.02000000",
                "fundingIntervalHours": 8, "disclaimer": false,
            })))
        })
        .collect()
}

/// `(base asset, weight in quantity, weight in percentage)` of a composite index.
type Component = (&'static str, &'static str, &'static str);

/// Composite indices and their components.
const COMPOSITES: &[(&str, &[Component])] = &[(
    "DEFIUSDT",
    &[
        ("AAVE", "0.20183000", "0.24812300"),
        ("UNI", "2.41000000", "0.21320100"),
        ("MKR", "0.01270000", "0.19301800"),
        ("COMP", "0.33100000", "0.17102600"),
        ("SNX", "3.10200000", "0.17463200"),
    ],
)];

/// Binance rejects an unknown composite with -1121; the client then asks for the full list.
pub(super) fn index_info(c: &Ctx) -> Result<Value, ApiError> {
    let wanted = c.q.symbol.as_deref();
    if wanted.is_some_and(|w| !COMPOSITES.iter().any(|(s, _)| *s == w)) {
        return Err(ApiError::invalid_symbol());
    }
    Ok(COMPOSITES
        .iter()
        .filter(|(s, _)| wanted.is_none_or(|w| w == *s))
        .map(|(s, list)| {
            let assets: Vec<Value> = list
                .iter()
                .map(|(b, q, p)| json!({ "baseAsset": b, "quoteAsset": "USDT", "weightInQuantity": q, "weightInPercentage": p }))
                .collect();
            c.project(&market_obj(json!({ "symbol": s, "time": c.now, "component": "baseAsset", "baseAssetList": assets })))
        })
        .collect())
}

/// Multi-assets mode index (`BTCUSD`): index price with fixed 10% / 5% haircuts.
pub(super) fn asset_index(c: &Ctx) -> Result<Value, ApiError> {
    let wanted = c.q.symbol.as_deref();
    let syms: Vec<&SymbolSpec> = c
        .model
        .listed(c.now)
        .filter(|s| wanted.is_none_or(|w| w == s.symbol || w == format!("{}USD", s.base_asset)))
        .collect();
    if syms.is_empty() {
        return Err(ApiError::invalid_symbol());
    }
    let e8 = |v: i128| Value::String(fmt_fixed(v, 8, 8));
    Ok(syms
        .iter()
        .map(|s| {
            let (index, _) = c.model.index_mark_e8(&s.symbol, c.now).unwrap_or_default();
            let i = i128::from(index);
            let rate = |bps: i128| e8(crate::model::fixed::div_round(i * bps, 10_000));
            c.project(&market_obj(json!({
                "symbol": format!("{}USD", s.base_asset), "time": c.now, "index": e8(i),
                "bidBuffer": "0.10000000", "askBuffer": "0.10000000", "bidRate": rate(9_000), "askRate": rate(11_000),
                "autoExchangeBidBuffer": "0.05000000", "autoExchangeAskBuffer": "0.05000000",
                "autoExchangeBidRate": rate(9_500), "autoExchangeAskRate": rate(10_500),
            })))
        })
        .collect())
}

/// Index constituents: exchanges quoting near the index with fixed weights.
pub(super) fn constituents(c: &Ctx) -> Result<Value, ApiError> {
    let sym = c.symbol()?;
    let w = Wire::new(c.model, sym, Market::UsdM);
    let d = c.model.depth(sym, Venue::Spot, c.now, 1).ok_or_else(ApiError::invalid_symbol)?;
    let spot_price = d.bids.first().map_or(0, |b| b.0);
    let spot_w = Wire::new(c.model, sym, Market::Spot);
    let list: Vec<Value> = [("binance", 0u64, "0.40000000"), ("coinbase", 1, "0.25000000"), ("okex", 2, "0.20000000"), ("bybit", 3, "0.15000000")]
        .iter()
        .map(|&(ex, k, weight)| {
            let price = spot_price + k * c.model.spec(sym).map_or(1, |s| s.spot.tick);
            let symbol = if ex == "coinbase" { sym.replace("USDT", "-USDT") } else { sym.to_string() };
            json!({ "exchange": ex, "symbol": symbol, "price": fmt_fixed(price.into(), spot_w.price_dp, w.price_dp), "weight": weight })
        })
        .collect();
    Ok(c.project(&market_obj(json!({ "symbol": sym, "time": c.now, "constituents": list }))))
}
