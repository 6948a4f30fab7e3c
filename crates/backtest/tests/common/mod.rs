//! Fixtures shared by the engine tests, the sweep tests and the backtest bench (`#[path]`).

use nautilus_core::UnixNanos;
use nautilus_model::{
    identifiers::{InstrumentId, Symbol},
    instruments::{CurrencyPair, InstrumentAny},
    types::{Currency, Money, Price, Quantity},
};
use rust_decimal::Decimal;

/// BTCUSDT spot as Binance lists it (tick 0.01, step 0.000001, min 0.00001, min notional 5
/// USDT), with the given maker/taker fee (`None`: left to the venue).
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
