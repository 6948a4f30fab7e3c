//! Fixtures shared by the engine tests, the sweep tests and the backtest bench (`#[path]`).

use nautilus_core::UnixNanos;
use nautilus_model::{
    identifiers::{InstrumentId, Symbol},
    instruments::{CryptoPerpetual, CurrencyPair, InstrumentAny},
    types::{Currency, Money, Price, Quantity},
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

/// BTCUSDT spot as Binance lists it (tick 0.01, step 0.000001, min 0.00001, min notional 5
/// USDT), with the given maker/taker fee (`None`: left to the venue).
#[allow(dead_code)] // not every test binary uses it
pub fn spot_btcusdt(fee: Option<Decimal>) -> InstrumentAny {
    InstrumentAny::CurrencyPair(CurrencyPair::new(
        InstrumentId::from("BTCUSDT.BINANCE"),
        Symbol::from("BTCUSDT"),
        Currency::from("BTC"),
        Currency::from("USDT"),
        2,
        6,
        Price::from("0.01"),
        Quantity::from("0.000001"),
        None,
        None,
        Some(Quantity::from("9000")),
        Some(Quantity::from("0.000010")),
        None,
        Some(Money::from("5 USDT")),
        None,
        None,
        None,
        None,
        fee,
        fee,
        None,
        UnixNanos::default(),
        UnixNanos::default(),
    ))
}

/// BTCUSDT-PERP (tick 0.1, step 0.001, min notional 5 USDT, margins 5 % / 2.5 %, fees 0.02 % /
/// 0.05 %).
#[allow(dead_code)] // not every test binary uses it
pub fn perp_btcusdt() -> InstrumentAny {
    InstrumentAny::CryptoPerpetual(CryptoPerpetual::new(
        InstrumentId::from("BTCUSDT-PERP.BINANCE"),
        Symbol::from("BTCUSDT"),
        Currency::from("BTC"),
        Currency::from("USDT"),
        Currency::from("USDT"),
        false,
        1,
        3,
        Price::from("0.1"),
        Quantity::from("0.001"),
        None,
        None,
        Some(Quantity::from("1000")),
        Some(Quantity::from("0.001")),
        None,
        Some(Money::from("5 USDT")),
        None,
        None,
        Some(dec!(0.05)),
        Some(dec!(0.025)),
        Some(dec!(0.0002)),
        Some(dec!(0.0005)),
        None,
        UnixNanos::default(),
        UnixNanos::default(),
    ))
}

/// A USDT perpetual `<symbol>-PERP.BINANCE` (Binance symbol `symbol`) with its own tick (`price_dp`
/// decimals) and step (`size_dp` decimals), min notional 5 USDT, fees left to the venue.
#[allow(dead_code)] // not every test binary uses it
pub fn perp(symbol: &str, price_dp: u8, size_dp: u8) -> InstrumentAny {
    let base = symbol.trim_end_matches("USDT");
    let inc = |dp: u8| Decimal::new(1, u32::from(dp));
    InstrumentAny::CryptoPerpetual(CryptoPerpetual::new(
        InstrumentId::from(format!("{symbol}-PERP.BINANCE").as_str()),
        Symbol::from(symbol),
        Currency::get_or_create_crypto(base),
        Currency::from("USDT"),
        Currency::from("USDT"),
        false,
        price_dp,
        size_dp,
        Price::from_decimal_dp(inc(price_dp), price_dp).expect("tick"),
        Quantity::from_decimal_dp(inc(size_dp), size_dp).expect("step"),
        None,
        None,
        None,
        Some(Quantity::from_decimal_dp(inc(size_dp), size_dp).expect("min quantity")),
        None,
        Some(Money::from("5 USDT")),
        None,
        None,
        Some(dec!(0.05)),
        Some(dec!(0.025)),
        None,
        None,
        None,
        UnixNanos::default(),
        UnixNanos::default(),
    ))
}
