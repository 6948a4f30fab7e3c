//! exchangeInfo `symbols[]` entries → NautilusTrader instruments, and instrument ids.
//!
//! Precisions come from the filters, not from `quotePrecision`/`pricePrecision` (those describe
//! the wire format, not the tradable grid): price precision and increment from
//! `PRICE_FILTER.tickSize`, size from `LOT_SIZE.stepSize`, trailing zeros dropped
//! (`"0.01000000"` → precision 2, increment 0.01).
//!
//! Ids follow nautilus' Binance naming: spot `BTCUSDT.BINANCE`, USD-M perpetual
//! `BTCUSDT-PERP.BINANCE`.

use binance::Market;
use nautilus_core::UnixNanos;
use nautilus_model::{
    identifiers::{InstrumentId, Symbol, Venue},
    instruments::{CryptoPerpetual, CurrencyPair},
    types::{Currency, Money, Price, Quantity},
};
use rust_decimal::Decimal;
use serde_json::Value;

use super::{get, get_decimal, get_str, inconsistent, out_of_range, price_from_decimal, quantity_from_decimal};
use crate::error::{Error, Result};

/// Venue of every alphalab instrument.
pub const VENUE: &str = "BINANCE";
/// Symbol suffix nautilus uses for perpetuals.
pub const PERP_SUFFIX: &str = "-PERP";

/// Maker/taker fee rates (fractions: 0.001 = 0.1 %), from config: exchangeInfo has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    pub maker: Decimal,
    pub taker: Decimal,
}

impl Fees {
    /// Binance spot VIP 0 without BNB discount: 0.1 % / 0.1 %.
    pub const SPOT: Fees =
        Fees { maker: Decimal::from_parts(1, 0, 0, false, 3), taker: Decimal::from_parts(1, 0, 0, false, 3) };
    /// Binance USD-M VIP 0: 0.02 % maker / 0.05 % taker.
    pub const USDM: Fees =
        Fees { maker: Decimal::from_parts(2, 0, 0, false, 4), taker: Decimal::from_parts(5, 0, 0, false, 4) };

    /// The default for a market.
    ///
    /// # Errors
    /// None: infallible.
    #[must_use]
    pub const fn default_for(market: Market) -> Fees {
        match market {
            Market::Spot => Fees::SPOT,
            Market::UsdM => Fees::USDM,
        }
    }
}

/// The nautilus id of a Binance symbol: `BTCUSDT.BINANCE` (spot) or `BTCUSDT-PERP.BINANCE`
/// (USD-M, where alphalab trades perpetuals only).
///
/// # Errors
/// [`Error::Unsupported`] (field `symbol`) if `symbol` is empty or not an upper-case
/// alphanumeric Binance symbol (`_` allowed, as in delivery contracts).
pub fn instrument_id(market: Market, symbol: &str) -> Result<InstrumentId> {
    let valid = !symbol.is_empty() && symbol.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return Err(Error::Unsupported {
            origin: String::new(),
            field: "symbol",
            value: symbol.to_string(),
            reason: "not a Binance symbol (A-Z, 0-9, _)",
        });
    }
    let sym = match market {
        Market::Spot => Symbol::new(symbol),
        Market::UsdM => Symbol::new(format!("{symbol}{PERP_SUFFIX}")),
    };
    Ok(InstrumentId::new(sym, Venue::new(VENUE)))
}

/// The Binance symbol of a nautilus id (`BTCUSDT-PERP.BINANCE` → `BTCUSDT`).
///
/// # Errors
/// None: infallible.
#[must_use]
pub fn binance_symbol(id: &InstrumentId) -> &str {
    let s = id.symbol.as_str();
    s.strip_suffix(PERP_SUFFIX).unwrap_or(s)
}

/// Checks that a record's `symbol` (if it has one) belongs to `id`.
pub(crate) fn check_symbol(v: &Value, id: &InstrumentId) -> Result<()> {
    match v.get("symbol").and_then(Value::as_str) {
        Some(s) if s != binance_symbol(id) => {
            Err(inconsistent("symbol", s, format!("record is for {s}, instrument is {id}")))
        }
        _ => Ok(()),
    }
}

fn filter<'a>(symbol: &'a Value, filter_type: &'static str) -> Option<&'a Value> {
    symbol.get("filters")?.as_array()?.iter().find(|f| f.get("filterType").and_then(Value::as_str) == Some(filter_type))
}

fn required_filter<'a>(symbol: &'a Value, filter_type: &'static str) -> Result<&'a Value> {
    get(symbol, "filters")?;
    filter(symbol, filter_type).ok_or(Error::MissingField { origin: String::new(), field: filter_type })
}

/// A positive grid step (`tickSize`, `stepSize`) → (precision, normalized step).
fn step(f: &Value, field: &'static str) -> Result<(u8, Decimal)> {
    let raw = get_str(f, field)?;
    let d = get_decimal(f, field)?.normalize();
    if d <= Decimal::ZERO {
        return Err(out_of_range(field, raw, "must be positive"));
    }
    let precision = u8::try_from(d.scale()).map_err(|_| out_of_range(field, raw, "too many decimals"))?;
    Ok((precision, d))
}

/// An optional bound where Binance writes `0` for "no bound".
fn bound(f: &Value, field: &'static str) -> Result<Option<Decimal>> {
    match f.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => Ok(Some(get_decimal(f, field)?).filter(|d| !d.is_zero())),
    }
}

fn opt_price(f: &Value, field: &'static str, precision: u8) -> Result<Option<Price>> {
    bound(f, field)?.map(|d| price_from_decimal(d, &d.to_string(), field, precision)).transpose()
}

fn opt_qty(f: &Value, field: &'static str, precision: u8) -> Result<Option<Quantity>> {
    bound(f, field)?.map(|d| quantity_from_decimal(d, &d.to_string(), field, precision)).transpose()
}

fn opt_money(f: Option<&Value>, field: &'static str, currency: Currency) -> Result<Option<Money>> {
    let Some(f) = f else { return Ok(None) };
    bound(f, field)?
        .map(|d| {
            super::check_scale(d, &d.to_string(), field, currency.precision)?;
            Money::from_decimal(d, currency).map_err(|e| out_of_range(field, d, e))
        })
        .transpose()
}

/// Common grid of both markets.
struct Grid {
    price_precision: u8,
    price_increment: Price,
    size_precision: u8,
    size_increment: Quantity,
    min_price: Option<Price>,
    max_price: Option<Price>,
    min_qty: Option<Quantity>,
    max_qty: Option<Quantity>,
}

fn grid(symbol: &Value) -> Result<Grid> {
    let pf = required_filter(symbol, "PRICE_FILTER")?;
    let (price_precision, tick) = step(pf, "tickSize")?;
    let lot = required_filter(symbol, "LOT_SIZE")?;
    let (size_precision, step_size) = step(lot, "stepSize")?;
    Ok(Grid {
        price_precision,
        price_increment: price_from_decimal(tick, &tick.to_string(), "tickSize", price_precision)?,
        size_precision,
        size_increment: quantity_from_decimal(step_size, &step_size.to_string(), "stepSize", size_precision)?,
        min_price: opt_price(pf, "minPrice", price_precision)?,
        max_price: opt_price(pf, "maxPrice", price_precision)?,
        min_qty: opt_qty(lot, "minQty", size_precision)?,
        max_qty: opt_qty(lot, "maxQty", size_precision)?,
    })
}

/// Base/quote (and settlement) assets; unknown codes are registered as 8-decimal crypto
/// currencies in nautilus' global currency map (idempotent).
fn currency(v: &Value, field: &'static str) -> Result<Currency> {
    let code = get_str(v, field)?;
    if code.is_empty() || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::Unsupported {
            origin: String::new(),
            field,
            value: code.to_string(),
            reason: "not an asset code",
        });
    }
    Ok(Currency::get_or_create_crypto(code))
}

/// A spot exchangeInfo `symbols[]` entry → [`CurrencyPair`] `<SYMBOL>.BINANCE`.
///
/// Min notional from the `NOTIONAL` filter (`minNotional`, also `maxNotional`) or the older
/// `MIN_NOTIONAL` filter, as quote-currency [`Money`]. Bounds of `0` mean "none". Margins are
/// `None` (cash account). `ts` is both `ts_event` and `ts_init` (the exchangeInfo time).
///
/// # Errors
/// [`Error::MissingField`] for a missing key or filter (`PRICE_FILTER`, `LOT_SIZE`),
/// [`Error::OutOfRange`] for a non-positive tick/step, [`Error::PrecisionLoss`] for
/// bounds off the grid, [`Error::Inconsistent`] if nautilus rejects the instrument.
pub fn parse_spot_instrument(symbol_json: &Value, fees: Fees, ts: UnixNanos) -> Result<CurrencyPair> {
    let symbol = get_str(symbol_json, "symbol")?;
    let id = instrument_id(Market::Spot, symbol)?;
    let base = currency(symbol_json, "baseAsset")?;
    let quote = currency(symbol_json, "quoteAsset")?;
    let g = grid(symbol_json)?;
    let notional = filter(symbol_json, "NOTIONAL");
    let min_notional = match notional {
        Some(_) => opt_money(notional, "minNotional", quote)?,
        None => opt_money(filter(symbol_json, "MIN_NOTIONAL"), "minNotional", quote)?,
    };
    let max_notional = opt_money(notional, "maxNotional", quote)?;
    CurrencyPair::new_checked(
        id,
        Symbol::new(symbol),
        base,
        quote,
        g.price_precision,
        g.size_precision,
        g.price_increment,
        g.size_increment,
        None,
        None,
        g.max_qty,
        g.min_qty,
        max_notional,
        min_notional,
        g.max_price,
        g.min_price,
        None,
        None,
        Some(fees.maker),
        Some(fees.taker),
        None,
        ts,
        ts,
    )
    .map_err(|e| inconsistent("symbol", symbol, e))
}

/// A USD-M exchangeInfo `symbols[]` entry with `contractType == "PERPETUAL"` →
/// [`CryptoPerpetual`] `<SYMBOL>-PERP.BINANCE` (linear: `is_inverse = false`, multiplier 1,
/// settlement in `marginAsset`).
///
/// `margin_init = requiredMarginPercent / 100`, `margin_maint = maintMarginPercent / 100`; min
/// notional from `MIN_NOTIONAL.notional` in the quote currency. `ts` is `ts_event` and `ts_init`.
///
/// # Errors
/// [`Error::Unsupported`] (field `contractType`) for delivery contracts, plus the errors of
/// [`parse_spot_instrument`].
pub fn parse_usdm_instrument(symbol_json: &Value, fees: Fees, ts: UnixNanos) -> Result<CryptoPerpetual> {
    let symbol = get_str(symbol_json, "symbol")?;
    let contract = get_str(symbol_json, "contractType")?;
    if contract != "PERPETUAL" {
        return Err(Error::Unsupported {
            origin: String::new(),
            field: "contractType",
            value: contract.to_string(),
            reason: "only PERPETUAL contracts are supported",
        });
    }
    let id = instrument_id(Market::UsdM, symbol)?;
    let base = currency(symbol_json, "baseAsset")?;
    let quote = currency(symbol_json, "quoteAsset")?;
    let settlement = currency(symbol_json, "marginAsset")?;
    let g = grid(symbol_json)?;
    let min_notional = opt_money(filter(symbol_json, "MIN_NOTIONAL"), "notional", quote)?;
    let hundred = Decimal::ONE_HUNDRED;
    let margin_init = (get_decimal(symbol_json, "requiredMarginPercent")? / hundred).normalize();
    let margin_maint = (get_decimal(symbol_json, "maintMarginPercent")? / hundred).normalize();
    CryptoPerpetual::new_checked(
        id,
        Symbol::new(symbol),
        base,
        quote,
        settlement,
        false,
        g.price_precision,
        g.size_precision,
        g.price_increment,
        g.size_increment,
        Some(Quantity::from_decimal_dp(Decimal::ONE, 0).map_err(|e| out_of_range("multiplier", 1, e))?),
        None,
        g.max_qty,
        g.min_qty,
        None,
        min_notional,
        g.max_price,
        g.min_price,
        Some(margin_init),
        Some(margin_maint),
        Some(fees.maker),
        Some(fees.taker),
        None,
        ts,
        ts,
    )
    .map_err(|e| inconsistent("symbol", symbol, e))
}

#[cfg(test)]
mod tests {
    use nautilus_model::instruments::Instrument;
    use rstest::rstest;
    use serde_json::json;

    use super::*;

    fn spot_btc() -> Value {
        json!({
            "symbol": "BTCUSDT", "baseAsset": "BTC", "quoteAsset": "USDT",
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
                {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
                {"filterType": "NOTIONAL", "minNotional": "5.00000000", "maxNotional": "9000000.00000000"}
            ]
        })
    }

    #[rstest]
    #[case::spot(Market::Spot, "BTCUSDT", "BTCUSDT.BINANCE")]
    #[case::perp(Market::UsdM, "BTCUSDT", "BTCUSDT-PERP.BINANCE")]
    fn ids(#[case] market: Market, #[case] symbol: &str, #[case] want: &str) {
        let id = instrument_id(market, symbol).unwrap();
        assert_eq!(id.to_string(), want);
        assert_eq!(binance_symbol(&id), symbol);
    }

    #[rstest]
    #[case::empty("")]
    #[case::lower("btcusdt")]
    #[case::slash("BTC/USDT")]
    fn bad_symbols(#[case] s: &str) {
        assert_eq!(
            instrument_id(Market::Spot, s),
            Err(Error::Unsupported {
                origin: String::new(),
                field: "symbol",
                value: s.into(),
                reason: "not a Binance symbol (A-Z, 0-9, _)"
            })
        );
    }

    #[test]
    fn notional_filter_preferred_with_max() {
        let cp = parse_spot_instrument(&spot_btc(), Fees::SPOT, UnixNanos::from(7)).unwrap();
        assert_eq!(cp.min_notional, Some(Money::from("5 USDT")));
        assert_eq!(cp.max_notional, Some(Money::from("9000000 USDT")));
        assert_eq!(cp.size_increment, Quantity::from("0.00001"));
        assert_eq!(cp.ts_init, UnixNanos::from(7));
    }

    #[rstest]
    #[case::missing_lot_size("LOT_SIZE", Error::MissingField { origin: String::new(), field: "LOT_SIZE" })]
    #[case::missing_price_filter("PRICE_FILTER", Error::MissingField { origin: String::new(), field: "PRICE_FILTER" })]
    fn missing_filters(#[case] drop: &str, #[case] want: Error) {
        let mut v = spot_btc();
        v["filters"].as_array_mut().unwrap().retain(|f| f["filterType"] != drop);
        assert_eq!(parse_spot_instrument(&v, Fees::SPOT, UnixNanos::default()).unwrap_err(), want);
    }

    #[rstest]
    #[case::zero("0.00000000", Error::OutOfRange { origin: String::new(), field: "tickSize", value: "0.00000000".into(), reason: "must be positive".into() })]
    #[case::garbage("abc", Error::InvalidDecimal { origin: String::new(), field: "tickSize", value: "abc".into() })]
    fn bad_tick(#[case] tick: &str, #[case] want: Error) {
        let mut v = spot_btc();
        v["filters"][0]["tickSize"] = json!(tick);
        assert_eq!(parse_spot_instrument(&v, Fees::SPOT, UnixNanos::default()).unwrap_err(), want);
    }

    #[test]
    fn min_qty_off_grid_is_refused() {
        let mut v = spot_btc();
        v["filters"][1]["minQty"] = json!("0.000001");
        assert_eq!(
            parse_spot_instrument(&v, Fees::SPOT, UnixNanos::default()).unwrap_err(),
            Error::PrecisionLoss { origin: String::new(), field: "minQty", value: "0.000001".into(), precision: 5 }
        );
    }

    #[test]
    fn missing_symbol() {
        let mut v = spot_btc();
        v.as_object_mut().unwrap().remove("symbol");
        assert_eq!(
            parse_spot_instrument(&v, Fees::SPOT, UnixNanos::default()).unwrap_err(),
            Error::MissingField { origin: String::new(), field: "symbol" }
        );
    }

    #[test]
    fn fees_defaults() {
        assert_eq!(Fees::default_for(Market::Spot).maker.to_string(), "0.001");
        assert_eq!(Fees::default_for(Market::UsdM).maker.to_string(), "0.0002");
        assert_eq!(Fees::default_for(Market::UsdM).taker.to_string(), "0.0005");
        let cp = parse_spot_instrument(&spot_btc(), Fees::SPOT, UnixNanos::default()).unwrap();
        assert_eq!((cp.maker_fee(), cp.taker_fee()), (Fees::SPOT.maker, Fees::SPOT.taker));
    }
}
