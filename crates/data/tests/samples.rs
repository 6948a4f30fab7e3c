//! Every row of the real/docs wire samples and the ADABTC archive file through the parsers,
//! with counts and exact values.

mod common;

use binance::Market;
use data::{
    Error, Fees, KlineRow, RatioKind, bar_type, instrument_id,
    parse::{
        funding::parse_funding_payment,
        kline::parse_klines_csv,
        metrics::{parse_long_short_ratio, parse_open_interest_hist, parse_taker_long_short_ratio},
        prices::{MARK_INDEX_PRECISION, parse_index_price_kline, parse_mark_price_kline, parse_premium_index},
    },
    parse_agg_trade, parse_book_ticker, parse_funding_rate, parse_klines_json, parse_spot_instrument, parse_trade,
    parse_usdm_instrument,
};
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{Bar, BarType},
    enums::{AggressorSide, PriceType},
    identifiers::{InstrumentId, TradeId},
    instruments::Instrument,
    types::{Money, Price, Quantity},
};
use rust_decimal::Decimal;
use serde_json::Value;

fn rows(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn ns(ms: u64) -> UnixNanos {
    UnixNanos::from(ms * 1_000_000)
}

#[test]
fn spot_exchange_info() {
    let v = common::json("spot/exchangeInfo.json");
    let ts = ns(1_634_942_465_856);
    let pairs: Vec<_> = rows(&v["symbols"]).iter().map(|s| parse_spot_instrument(s, Fees::SPOT, ts).unwrap()).collect();
    assert_eq!(pairs.len(), 2);
    let btc = &pairs[0];
    assert_eq!(btc.id, InstrumentId::from("BTCUSDT.BINANCE"));
    assert_eq!((btc.price_precision, btc.size_precision), (2, 5));
    assert_eq!(btc.price_increment, Price::from("0.01"));
    assert_eq!(btc.size_increment, Quantity::from("0.00001"));
    assert_eq!(btc.min_quantity, Some(Quantity::from("0.00001")));
    assert_eq!(btc.max_quantity, Some(Quantity::from("9000.00000")));
    assert_eq!(btc.min_notional, Some(Money::from("10 USDT")));
    assert_eq!(btc.max_notional, None);
    assert_eq!(btc.min_price, Some(Price::from("0.01")));
    assert_eq!(btc.max_price, Some(Price::from("1000000.00")));
    assert_eq!((btc.maker_fee(), btc.taker_fee()), (dec("0.001"), dec("0.001")));
    assert_eq!(btc.base_currency().unwrap().code.as_str(), "BTC");
    assert_eq!(btc.quote_currency().code.as_str(), "USDT");
    assert_eq!((btc.ts_event, btc.ts_init), (ts, ts));
    let eth = &pairs[1];
    assert_eq!(eth.id, InstrumentId::from("ETHUSDT.BINANCE"));
    assert_eq!((eth.price_precision, eth.size_precision), (2, 4));
    assert_eq!(eth.size_increment, Quantity::from("0.0001"));
}

#[test]
fn usdm_exchange_info() {
    let v = common::json("usdm/exchangeInfo.json");
    let syms = rows(&v["symbols"]);
    assert_eq!(syms.len(), 3);
    let btc = parse_usdm_instrument(&syms[0], Fees::USDM, UnixNanos::default()).unwrap();
    assert_eq!(btc.id, InstrumentId::from("BTCUSDT-PERP.BINANCE"));
    assert_eq!(btc.raw_symbol.as_str(), "BTCUSDT");
    assert_eq!((btc.price_precision, btc.size_precision), (1, 3));
    assert_eq!(btc.price_increment, Price::from("0.1"));
    assert_eq!(btc.size_increment, Quantity::from("0.001"));
    assert_eq!(btc.min_quantity, Some(Quantity::from("0.001")));
    assert_eq!(btc.max_quantity, Some(Quantity::from("1000.000")));
    assert_eq!(btc.min_notional, Some(Money::from("10 USDT")));
    assert_eq!(btc.min_price, Some(Price::from("402.0")));
    assert_eq!((btc.margin_init, btc.margin_maint), (dec("0.05"), dec("0.025")));
    assert_eq!((btc.maker_fee, btc.taker_fee), (dec("0.0002"), dec("0.0005")));
    assert_eq!(btc.multiplier, Quantity::from("1"));
    assert!(!btc.is_inverse);
    assert_eq!(btc.settlement_currency.code.as_str(), "USDT");
    let eth = parse_usdm_instrument(&syms[1], Fees::USDM, UnixNanos::default()).unwrap();
    assert_eq!((eth.id, eth.price_precision, eth.size_precision), (InstrumentId::from("ETHUSDT-PERP.BINANCE"), 2, 3));
    assert_eq!(
        parse_usdm_instrument(&syms[2], Fees::USDM, UnixNanos::default()).unwrap_err(),
        Error::Unsupported {
            origin: String::new(),
            field: "contractType",
            value: "CURRENT_QUARTER".into(),
            reason: "only PERPETUAL contracts are supported"
        }
    );
}

#[test]
fn spot_klines() {
    let bt = BarType::from("BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL");
    let bars = parse_klines_json(&common::json("spot/klines.json"), bt, 2, 5).unwrap();
    assert_eq!(bars.len(), 10);
    assert_eq!(
        bars[0],
        Bar::new(
            bt,
            Price::from("60685.22"),
            Price::from("60729.84"),
            Price::from("60670.90"),
            Price::from("60719.27"),
            Quantity::from("21.63272"),
            ns(1_634_943_840_000),
            ns(1_634_943_840_000),
        )
    );
    assert_eq!(bars[9].close, Price::from("60739.85"));
    assert_eq!(bars[9].volume, Quantity::from("0.04734"));
    assert_eq!(bars[9].ts_init, ns(1_634_944_380_000));
    assert!(bars.windows(2).all(|w| w[1].ts_init.as_u64() - w[0].ts_init.as_u64() == 60_000_000_000));
}

#[test]
fn usdm_klines_weekly_docs_example() {
    let v = common::json("usdm/klines.json");
    let id = instrument_id(Market::UsdM, "BTCUSDT").unwrap();
    let bt = bar_type(id, "1w", PriceType::Last).unwrap();
    let bars = parse_klines_json(&v, bt, 8, 8).unwrap();
    assert_eq!(bars.len(), 1);
    assert_eq!(bars[0].open, Price::from("0.01634790"));
    assert_eq!(bars[0].high, Price::from("0.80000000"));
    assert_eq!(bars[0].volume, Quantity::from("148976.11427815"));
    assert_eq!(bars[0].ts_init, ns(1_499_644_800_000));
    // The docs example's prices do not fit the real BTCUSDT perp's 0.1 tick: refused, not rounded.
    assert_eq!(
        parse_klines_json(&v, bt, 1, 3).unwrap_err(),
        Error::PrecisionLoss { origin: "#0".into(), field: "open", value: "0.01634790".into(), precision: 1 }
    );
    // A 1-minute bar type for weekly klines is caught by the close-time check.
    let wrong = bar_type(id, "1m", PriceType::Last).unwrap();
    assert!(matches!(
        parse_klines_json(&v, wrong, 8, 8).unwrap_err(),
        Error::Inconsistent { field: "close_time", ref origin, .. } if origin == "#0"
    ));
}

const ADABTC: &str = "archive/ADABTC-1m-2021-11-27.csv";

fn adabtc_bars(text: &str) -> Vec<Bar> {
    parse_klines_csv(text, BarType::from("ADABTC.BINANCE-1-MINUTE-LAST-EXTERNAL"), 8, 1).unwrap()
}

#[test]
fn adabtc_archive() {
    let bars = adabtc_bars(&common::text(ADABTC));
    assert_eq!(bars.len(), 10);
    assert_eq!(bars[0].open, Price::from("0.00002853"));
    assert_eq!(bars[0].high, Price::from("0.00002854"));
    assert_eq!(bars[0].low, Price::from("0.00002851"));
    assert_eq!(bars[0].close, Price::from("0.00002854"));
    assert_eq!(bars[0].volume, Quantity::from("36304.2"));
    assert_eq!(bars[0].ts_init, ns(1_637_971_260_000));
    assert_eq!(bars[9].close, Price::from("0.00002865"));
    assert_eq!(bars[9].ts_event, ns(1_637_971_800_000));
}

#[test]
fn adabtc_archive_in_micros_with_header_gives_identical_bars() {
    let original = common::text(ADABTC);
    let mut rewritten = String::from(
        "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\r\n",
    );
    for line in original.lines() {
        let mut f: Vec<String> = line.split(',').map(str::to_string).collect();
        f[0] = format!("{}000", f[0]); // ms → µs
        f[6] = format!("{}999", f[6]); // last ms → last µs of the minute
        rewritten.push_str(&f.join(","));
        rewritten.push_str("\r\n");
    }
    assert!(rewritten.lines().nth(1).unwrap().starts_with("1637971200000000,"));
    assert_eq!(adabtc_bars(&rewritten), adabtc_bars(&original));
}

#[test]
fn spot_agg_trades() {
    let v = common::json("spot/aggTrades.json");
    let id = InstrumentId::from("BTCUSDT.BINANCE");
    let ticks: Vec<_> = rows(&v).iter().map(|r| parse_agg_trade(r, id, 2, 5).unwrap()).collect();
    assert_eq!(ticks.len(), 10);
    let t = &ticks[0];
    assert_eq!((t.price, t.size), (Price::from("60759.60"), Quantity::from("0.00841")));
    assert_eq!((t.aggressor_side, t.trade_id), (AggressorSide::Buyer, TradeId::new("966492862")));
    assert_eq!((t.ts_event, t.ts_init), (ns(1_634_944_096_633), ns(1_634_944_096_633)));
    assert_eq!(ticks[2].aggressor_side, AggressorSide::Seller);
    assert_eq!(ticks[9].trade_id, TradeId::new("966492871"));
    assert!(ticks.windows(2).all(|w| w[0].ts_event <= w[1].ts_event));
}

#[test]
fn usdm_agg_trades() {
    let v = common::json("usdm/aggTrades.json");
    let t = parse_agg_trade(&rows(&v)[0], InstrumentId::from("BTCUSDT-PERP.BINANCE"), 8, 8).unwrap();
    assert_eq!((t.price, t.size), (Price::from("0.01633102"), Quantity::from("4.70443515")));
    assert_eq!(
        (t.aggressor_side, t.trade_id, t.ts_event),
        (AggressorSide::Seller, TradeId::new("26129"), ns(1_498_793_709_153))
    );
}

#[test]
fn trades() {
    let v = common::json("spot/trades.json");
    let id = InstrumentId::from("BTCUSDT.BINANCE");
    let ticks: Vec<_> = rows(&v).iter().map(|r| parse_trade(r, id, 2, 5).unwrap()).collect();
    assert_eq!(ticks.len(), 10);
    assert_eq!((ticks[0].price, ticks[0].size), (Price::from("60650.00"), Quantity::from("0.02924")));
    assert_eq!((ticks[0].aggressor_side, ticks[0].trade_id), (AggressorSide::Seller, TradeId::new("1111468873")));
    assert_eq!(ticks[0].ts_init, ns(1_634_942_949_263));
    assert_eq!(ticks[1].aggressor_side, AggressorSide::Buyer);
    assert_eq!(ticks[9].trade_id, TradeId::new("1111468882"));
    let u = common::json("usdm/trades.json");
    let t = parse_trade(&rows(&u)[0], InstrumentId::from("BTCUSDT-PERP.BINANCE"), 8, 3).unwrap();
    assert_eq!(
        (t.price, t.size, t.ts_event),
        (Price::from("4.00000100"), Quantity::from("12.000"), ns(1_499_865_549_590))
    );
}

#[test]
fn book_tickers() {
    let recv = ns(1_700_000_000_000);
    let spot =
        parse_book_ticker(&common::json("spot/bookTicker.json"), InstrumentId::from("BTCUSDT.BINANCE"), 2, 5, recv)
            .unwrap();
    assert_eq!(
        (spot.bid_price, spot.ask_size, spot.ts_event),
        (Price::from("60741.67"), Quantity::from("0.45178"), recv)
    );
    let ws =
        parse_book_ticker(&common::json("spot/ws_bookTicker.json"), InstrumentId::from("ETHUSDT.BINANCE"), 2, 4, recv)
            .unwrap();
    assert_eq!((ws.ask_price, ws.ts_event, ws.ts_init), (Price::from("4507.25"), ns(1_646_199_228_121), recv));
    let perp = InstrumentId::from("BNBUSDT-PERP.BINANCE");
    let u = parse_book_ticker(&common::json("usdm/bookTicker.json"), perp, 8, 2, recv).unwrap();
    assert_eq!((u.ask_price, u.ts_event), (Price::from("4.00000200"), ns(1_589_437_530_011)));
    let uws = parse_book_ticker(&common::json("usdm/ws_bookTicker.json"), perp, 4, 2, recv).unwrap();
    assert_eq!(
        (uws.bid_price, uws.bid_size, uws.ts_event),
        (Price::from("25.3519"), Quantity::from("31.21"), ns(1_568_014_460_891))
    );
}

#[test]
fn mark_and_index_prices() {
    let id = InstrumentId::from("BTCUSDT-PERP.BINANCE");
    let mk = common::json("usdm/markPriceKlines.json");
    let m: Vec<_> = rows(&mk)
        .iter()
        .map(|r| parse_mark_price_kline(&KlineRow::from_json(r).unwrap(), id, "1m", MARK_INDEX_PRECISION).unwrap())
        .collect();
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].value, m[0].ts_init), (Price::from("9653.07367333"), ns(1_591_256_520_000)));
    let ik = common::json("usdm/indexPriceKlines.json");
    let i =
        parse_index_price_kline(&KlineRow::from_json(&rows(&ik)[0]).unwrap(), id, "1m", MARK_INDEX_PRECISION).unwrap();
    assert_eq!((i.value, i.ts_event), (Price::from("9651.55200000"), ns(1_591_256_460_000)));
    let (mark, index) = parse_premium_index(&common::json("usdm/premiumIndex.json"), id, MARK_INDEX_PRECISION).unwrap();
    assert_eq!((mark.value, index.value), (Price::from("11793.63104562"), Price::from("11781.80495970")));
    assert_eq!((mark.ts_init, index.ts_init), (ns(1_597_370_495_002), ns(1_597_370_495_002)));
}

#[test]
fn funding_rates() {
    let v = common::json("usdm/fundingRate.json");
    let id = InstrumentId::from("BTCUSDT-PERP.BINANCE");
    let ups: Vec<_> = rows(&v).iter().map(|r| parse_funding_rate(r, id, None).unwrap()).collect();
    assert_eq!(ups.len(), 2);
    assert_eq!((ups[0].rate, ups[0].ts_event, ups[0].interval), (dec("-0.0375"), ns(1_570_608_000_000), Some(480)));
    assert_eq!((ups[1].rate, ups[1].ts_init), (dec("0.0001"), ns(1_570_636_800_000)));
    let pays: Vec<_> = rows(&v).iter().map(|r| parse_funding_payment(r, id).unwrap()).collect();
    assert_eq!(pays[1].mark_price, None);
    assert_eq!(pays[1].rate, dec("0.0001"));
}

#[test]
fn open_interest_and_ratios() {
    let id = InstrumentId::from("BTCUSDT-PERP.BINANCE");
    let five = 300_000;
    let oi_rows = common::json("usdm/openInterestHist.json");
    let oi: Vec<_> = rows(&oi_rows).iter().map(|r| parse_open_interest_hist(r, id, "5m").unwrap()).collect();
    assert_eq!(oi.len(), 2);
    assert_eq!(
        (oi[0].open_interest, oi[0].open_interest_value),
        (20403.637, "150570784.07809979".parse::<f64>().unwrap())
    );
    assert_eq!((oi[0].ts_event, oi[0].ts_init), (ns(1_583_127_900_000), ns(1_583_127_900_000 + five)));
    assert_eq!(oi[1].open_interest, 20401.367);

    let mut n = 0;
    for (file, kind) in [
        ("usdm/topLongShortPositionRatio.json", RatioKind::TopPosition),
        ("usdm/topLongShortAccountRatio.json", RatioKind::TopAccount),
        ("usdm/globalLongShortAccountRatio.json", RatioKind::GlobalAccount),
    ] {
        let v = common::json(file);
        for r in rows(&v) {
            let x = parse_long_short_ratio(r, id, kind, "5m").unwrap();
            assert_eq!(x.kind, kind.as_str());
            n += 1;
        }
    }
    assert_eq!(n, 4);
    let top = parse_long_short_ratio(
        &rows(&common::json("usdm/topLongShortPositionRatio.json"))[1],
        id,
        RatioKind::TopPosition,
        "5m",
    )
    .unwrap();
    assert_eq!((top.long_short_ratio, top.long_account, top.short_account), (1.4337, 0.3583, 0.6417));
    assert_eq!(top.ts_init, ns(1_583_139_900_000 + five));
    let global = parse_long_short_ratio(
        &rows(&common::json("usdm/globalLongShortAccountRatio.json"))[0],
        id,
        RatioKind::GlobalAccount,
        "5m",
    )
    .unwrap();
    assert_eq!((global.long_short_ratio, global.ts_event), (0.196, ns(1_591_261_042_378)));

    let tk = common::json("usdm/takerlongshortRatio.json");
    let t: Vec<_> = rows(&tk).iter().map(|r| parse_taker_long_short_ratio(r, id, "5m").unwrap()).collect();
    assert_eq!(t.len(), 2);
    assert_eq!((t[1].buy_sell_ratio, t[1].buy_vol, t[1].sell_vol), (1.3104, 343.929, 248.503));
    assert_eq!(t[1].ts_init, ns(1_583_139_900_000 + five));
}
