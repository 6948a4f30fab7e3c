//! Backtests on an order book (`book_deltas`, `venue.book_type = "L2_MBP"`): market orders walk
//! the book level by level (fill prices and sizes checked against the book by hand), across a
//! chunk boundary, and the Alpha sees the book in its context; end to end on the recorded
//! samples of test_data/recordings imported into a catalog.

mod common;

use std::{cell::RefCell, collections::BTreeMap, path::PathBuf, str::FromStr};

use backtest::{
    alpha::{Alpha, AlphaResult, Context, MarketEvent, Target},
    book::{BookKind, group_deltas},
    engine::{RunOptions, run, run_inputs},
    inputs::Inputs,
    registry::Registry,
    spec::{RunSpec, StrategySpec},
    venue::{VenueKind, VenueSpec},
};
use binance::Market;
use data::{
    FundingPayment,
    catalog::Catalog,
    ingest::{RawItem, ingest},
    instruments::{ALL_SYMBOLS, EXCHANGE_INFO},
    raw::{RawStore, RestPage},
    recording::import_recording,
};
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{BookOrder, Data, OrderBookDelta, OrderBookDeltas, TradeTick},
    enums::{AggressorSide, BookAction, BookType, OrderSide, RecordFlag},
    identifiers::{InstrumentId, TradeId},
    orderbook::OrderBook,
    types::{Price, Quantity},
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const T0: u64 = 1_735_689_600_000_000_000; // 2025-01-01T00:00:00Z
const S: u64 = 1_000_000_000;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("alphalab-l2-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// One level change: side, action, price, size.
type Level = (OrderSide, BookAction, &'static str, &'static str);

/// The deltas of one record at `ts`, with the instrument's precisions; a snapshot starts with a
/// `Clear` and flags every delta `F_SNAPSHOT`; the last one is `F_LAST`.
fn record(id: InstrumentId, prec: (u8, u8), ts: u64, snapshot: bool, levels: &[Level]) -> Vec<OrderBookDelta> {
    let flags = if snapshot { RecordFlag::F_SNAPSHOT as u8 } else { 0 };
    let mut v = if snapshot { vec![OrderBookDelta::clear(id, 1, ts.into(), ts.into())] } else { vec![] };
    for &(side, action, px, qty) in levels {
        let px = Price::from_decimal_dp(d(px), prec.0).unwrap();
        let qty = Quantity::from_decimal_dp(d(qty), prec.1).unwrap();
        v.push(OrderBookDelta::new(id, action, BookOrder::new(side, px, qty, 0), flags, 1, ts.into(), ts.into()));
    }
    v.last_mut().unwrap().flags |= RecordFlag::F_LAST as u8;
    v
}

use BookAction::{Add, Delete, Update};
use OrderSide::{Buy, Sell};

/// The book of every in-memory test, as three records:
/// - `T0` snapshot: bids 99.50×1, 99.00×2; asks 100.00×0.5, 100.50×0.8, 101.00×2;
/// - `T0 + 1 s`: ask 100.50 → 1.0, bid 99.00 deleted;
/// - `T0 + 2 s`: bid 99.50 → 1.5.
///
/// So from `T0 + 1 s` the asks are 100.00×0.5, 100.50×1.0, 101.00×2.0.
fn book_deltas(id: InstrumentId, prec: (u8, u8)) -> Vec<OrderBookDelta> {
    let mut v = record(
        id,
        prec,
        T0,
        true,
        &[
            (Buy, Add, "99.5", "1"),
            (Buy, Add, "99", "2"),
            (Sell, Add, "100", "0.5"),
            (Sell, Add, "100.5", "0.8"),
            (Sell, Add, "101", "2"),
        ],
    );
    v.extend(record(id, prec, T0 + S, false, &[(Buy, Delete, "99", "0"), (Sell, Update, "100.5", "1")]));
    v.extend(record(id, prec, T0 + 2 * S, false, &[(Buy, Update, "99.5", "1.5")]));
    v
}

fn targets_file(name: &str, rows: &[(u64, &str, &str)]) -> String {
    let file = tmp(name).join("targets.csv");
    let mut csv = String::from("ts,instrument_id,target\n");
    for (ts, id, q) in rows {
        csv += &format!("{ts},{id},{q}\n");
    }
    std::fs::write(&file, csv).unwrap();
    format!("path = {:?}", file.to_str().unwrap())
}

fn l2_spec(kind: VenueKind, id: &str, usdt: &str, strategy: &str, params: &str) -> RunSpec {
    let mut venue = VenueSpec::new(kind, BTreeMap::from([("USDT".to_string(), d(usdt))]));
    venue.book_type = BookKind::L2;
    let params = toml::Value::Table(toml::from_str(params).unwrap());
    let mut spec = RunSpec::new(vec![id.into()], venue, StrategySpec { name: strategy.into(), params });
    spec.book_deltas = vec![id.into()];
    spec
}

/// (ts, signed qty, price, commission, position after) of every fill.
fn fills(r: &backtest::result::RunResult) -> Vec<(u64, Decimal, Decimal, Decimal, Decimal)> {
    r.fills.iter().map(|f| (f.ts, f.qty, f.price, f.commission, f.position_after)).collect()
}

#[test]
fn a_market_buy_walks_the_spot_book() {
    let id = InstrumentId::from("BTCUSDT.BINANCE");
    let params = targets_file("spot-walk", &[(T0 + 2 * S, "BTCUSDT.BINANCE", "1.2")]);
    let s = l2_spec(VenueKind::Spot, "BTCUSDT.BINANCE", "10000", "targets-from-file", &params);
    let inputs = Inputs {
        instruments: vec![common::spot_btcusdt(None)],
        streams: vec![group_deltas(book_deltas(id, (2, 6)))],
        funding: vec![],
    };
    let r = run_inputs(&s, &inputs, &Registry::with_baselines(), RunOptions::default()).unwrap();
    // 1.2 against asks 100.00×0.5, 100.50×1.0: 0.5 @ 100.00 then 0.7 @ 100.50, taker 0.1 %.
    assert_eq!(
        fills(&r),
        vec![
            (T0 + 2 * S, d("0.5"), d("100.00"), d("0.05"), d("0.5")),
            (T0 + 2 * S, d("0.7"), d("100.50"), d("0.07035"), d("1.2")),
        ]
    );
    // 10000 − 50 − 70.35 − 0.05 − 0.07035; nautilus' cash account agrees.
    let want = BTreeMap::from([("BTC".to_string(), d("1.2")), ("USDT".to_string(), d("9879.52965"))]);
    assert_eq!(r.ledger_balances, want);
    let bal: BTreeMap<String, Decimal> = r.account_balances.iter().map(|b| (b.currency.clone(), b.total)).collect();
    assert_eq!(bal, want);
    assert!(r.skips.is_empty() && r.rejections.is_empty(), "{:?} {:?}", r.skips, r.rejections);
}

#[test]
fn a_market_order_is_capped_at_the_depth_of_its_side() {
    let id = InstrumentId::from("BTCUSDT.BINANCE");
    // 4 against 3.5 on the asks: the book is taken whole, the rest is a skip (and, the target
    // being held, the same 3.5 again at the next timestamp, T0 + 2 s: NautilusTrader's book is
    // the recorded one, orders do not consume it).
    let params = targets_file("spot-cap", &[(T0 + S, "BTCUSDT.BINANCE", "4")]);
    let s = l2_spec(VenueKind::Spot, "BTCUSDT.BINANCE", "10000", "targets-from-file", &params);
    let inputs = Inputs {
        instruments: vec![common::spot_btcusdt(None)],
        streams: vec![group_deltas(book_deltas(id, (2, 6)))],
        funding: vec![],
    };
    let r = run_inputs(&s, &inputs, &Registry::with_baselines(), RunOptions::default()).unwrap();
    let at = |ts: u64| -> Vec<(Decimal, Decimal)> {
        r.fills.iter().filter(|f| f.ts == ts).map(|f| (f.qty, f.price)).collect()
    };
    assert_eq!(at(T0 + S), vec![(d("0.5"), d("100.00")), (d("1"), d("100.50")), (d("2"), d("101.00"))]);
    assert_eq!(at(T0 + 2 * S), vec![(d("0.5"), d("100.00"))]);
    assert_eq!(r.skips.len(), 1);
    assert_eq!((r.skips[0].ts, r.skips[0].delta), (T0 + S, d("0.5")));
    assert!(r.skips[0].reason.contains("above the simulated liquidity 3.5"), "{}", r.skips[0].reason);
}

thread_local! {
    /// (kind, clock, best bid, best ask, 3 bids, 3 asks, last price) at every event.
    static SEEN: RefCell<Vec<Seen>> = const { RefCell::new(Vec::new()) };
}

type Levels = Vec<(Decimal, Decimal)>;
type Seen = (String, u64, Option<(Decimal, Decimal)>, Option<(Decimal, Decimal)>, Levels, Levels, Option<Decimal>);

/// Writes down what the context shows of BTCUSDT's book at every event.
struct BookProbe;

impl Alpha for BookProbe {
    fn on_event(&mut self, ev: &MarketEvent<'_>, ctx: &Context) -> AlphaResult<()> {
        let id = InstrumentId::from("BTCUSDT.BINANCE");
        let book = ctx.book(&id).ok_or("no book in the context")?;
        if let MarketEvent::Book(x) = ev {
            assert_eq!(book.sequence(), x.sequence, "the record is applied before the Alpha sees it");
        }
        let row = (
            ev.kind().into(),
            ctx.now.as_u64(),
            book.best_bid(),
            book.best_ask(),
            book.bids(3),
            book.asks(3),
            ctx.last_price(&id),
        );
        SEEN.with(|s| s.borrow_mut().push(row));
        Ok(())
    }

    fn targets(&mut self, _ctx: &Context) -> AlphaResult<Vec<Target>> {
        Ok(vec![])
    }
}

#[test]
fn the_alpha_sees_the_book_after_each_record() {
    let id = InstrumentId::from("BTCUSDT.BINANCE");
    let mut reg = Registry::with_baselines();
    reg.register("book-probe", |_| Ok(Box::new(BookProbe)));
    let s = l2_spec(VenueKind::Spot, "BTCUSDT.BINANCE", "10000", "book-probe", "");
    // Sequences 1, 2, 3 for the three records.
    let mut deltas = book_deltas(id, (2, 6));
    for x in &mut deltas {
        x.sequence = 1 + (x.ts_init.as_u64() - T0) / S;
    }
    let inputs =
        Inputs { instruments: vec![common::spot_btcusdt(None)], streams: vec![group_deltas(deltas)], funding: vec![] };
    let r = run_inputs(&s, &inputs, &reg, RunOptions::default()).unwrap();
    assert!(r.fills.is_empty());
    let seen = SEEN.with(|s| s.borrow().clone());
    let lv = |v: &[(&str, &str)]| -> Levels { v.iter().map(|(p, q)| (d(p), d(q))).collect() };
    let asks_before = lv(&[("100", "0.5"), ("100.5", "0.8"), ("101", "2")]);
    let asks_after = lv(&[("100", "0.5"), ("100.5", "1"), ("101", "2")]);
    let mid = Some(d("99.75"));
    let want: Vec<Seen> = vec![
        (
            "book".into(),
            T0,
            Some((d("99.5"), d("1"))),
            Some((d("100"), d("0.5"))),
            lv(&[("99.5", "1"), ("99", "2")]),
            asks_before,
            mid,
        ),
        (
            "book".into(),
            T0 + S,
            Some((d("99.5"), d("1"))),
            Some((d("100"), d("0.5"))),
            lv(&[("99.5", "1")]),
            asks_after.clone(),
            mid,
        ),
        (
            "book".into(),
            T0 + 2 * S,
            Some((d("99.5"), d("1.5"))),
            Some((d("100"), d("0.5"))),
            lv(&[("99.5", "1.5")]),
            asks_after,
            mid,
        ),
    ];
    assert_eq!(seen, want);
}

#[test]
fn a_market_buy_walks_the_usdm_book_after_a_chunk_boundary() {
    let id = InstrumentId::from("BTCUSDT-PERP.BINANCE");
    // The funding settlement at T0 + 60 s ends the first chunk (the runner resets the cache
    // there); the second chunk has a trade and no book record, so the runner adds one that
    // changes nothing. The order at T0 + 120 s still meets the book of the first chunk.
    let funding = vec![FundingPayment {
        instrument_id: id,
        ts: UnixNanos::from(T0 + 60 * S),
        rate: dec!(0.0001),
        mark_price: Some(d("100")),
    }];
    let trade = TradeTick::new(
        id,
        Price::from("100.2"),
        Quantity::from("0.010"),
        AggressorSide::Buyer,
        TradeId::new("1"),
        UnixNanos::from(T0 + 120 * S),
        UnixNanos::from(T0 + 120 * S),
    );
    let params = targets_file("usdm-walk", &[(T0 + 120 * S, "BTCUSDT-PERP.BINANCE", "1.2")]);
    let mut s = l2_spec(VenueKind::Usdm, "BTCUSDT-PERP.BINANCE", "10000", "targets-from-file", &params);
    s.trade_ticks = vec!["BTCUSDT-PERP.BINANCE".into()];
    let inputs = Inputs {
        instruments: vec![common::perp_btcusdt()],
        streams: vec![group_deltas(book_deltas(id, (1, 3))), vec![Data::Trade(trade)]],
        funding,
    };
    let opts = RunOptions { record_deliveries: true, ..RunOptions::default() };
    let r = run_inputs(&s, &inputs, &Registry::with_baselines(), opts).unwrap();
    // Taker 0.05 % of 50 and of 70.35.
    assert_eq!(
        fills(&r),
        vec![
            (T0 + 120 * S, d("0.5"), d("100.0"), d("0.025"), d("0.5")),
            (T0 + 120 * S, d("0.7"), d("100.5"), d("0.035175"), d("1.2")),
        ]
    );
    assert_eq!(r.positions, BTreeMap::from([("BTCUSDT-PERP.BINANCE".to_string(), d("1.2"))]));
    // The Alpha got the three records, the trade and the funding: not the added record.
    let kinds: Vec<(&str, u64)> = r.deliveries.iter().map(|x| (x.kind, x.ts_init)).collect();
    assert_eq!(
        kinds.iter().filter(|k| k.0 != "timestamp").copied().collect::<Vec<_>>(),
        vec![("book", T0), ("book", T0 + S), ("book", T0 + 2 * S), ("funding", T0 + 60 * S), ("trade", T0 + 120 * S)]
    );
}

#[test]
fn book_keys_are_checked() {
    let text = r#"
catalog = "catalog"
instruments = ["BTCUSDT.BINANCE"]
book_deltas = ["BTCUSDT.BINANCE"]
[venue]
kind = "spot"
book_type = "L2_MBP"
starting_balances = { USDT = "1000" }
[strategy]
name = "buy-and-hold"
params = { instrument_id = "BTCUSDT.BINANCE", quantity = "0.1" }
"#;
    let spec = RunSpec::from_toml(text).unwrap();
    assert_eq!(
        (spec.venue.book_type, spec.book_deltas.as_slice()),
        (BookKind::L2, &["BTCUSDT.BINANCE".to_string()][..])
    );
    let err = RunSpec::from_toml(&text.replace("L2_MBP", "L3_MBO")).unwrap_err().to_string();
    assert!(err.contains("unknown variant `L3_MBO`"), "{err}");
    let reg = Registry::with_baselines();
    let inputs = Inputs { instruments: vec![common::spot_btcusdt(None)], streams: vec![], funding: vec![] };
    let mut l1 = spec.clone();
    l1.venue.book_type = BookKind::L1;
    let err = run_inputs(&l1, &inputs, &reg, RunOptions::default()).unwrap_err().to_string();
    assert_eq!(
        err,
        "book_deltas: needs venue.book_type = \"L2_MBP\" (an L1 venue fills on quotes, trades and bars only)"
    );
    let mut missing = spec.clone();
    missing.book_deltas.clear();
    let err = run_inputs(&missing, &inputs, &reg, RunOptions::default()).unwrap_err().to_string();
    assert_eq!(err, "venue.book_type: L2_MBP needs the book of every instrument: add BTCUSDT.BINANCE to `book_deltas`");
    let mut other = spec;
    other.book_deltas = vec!["ETHUSDT.BINANCE".into()];
    let err = run_inputs(&other, &inputs, &reg, RunOptions::default()).unwrap_err().to_string();
    assert_eq!(err, "book_deltas: ETHUSDT.BINANCE is not in `instruments`");
}

fn test_data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test_data").join(rel)
}

/// The recorded samples (2024-08-08 BTCUSDT spot and USD-M, hftbacktest's format) imported into
/// a catalog; a market buy at the 100th book record walks the book that the catalog's deltas
/// build, computed here without the backtest's code.
#[test]
fn recorded_books_fill_a_market_buy_level_by_level() {
    for (market, dir) in [(Market::Spot, "spot"), (Market::UsdM, "usdm")] {
        let root = tmp(&format!("recorded-{dir}"));
        let store = RawStore::new(&root);
        let info = std::fs::read_to_string(test_data(&format!("{dir}/exchangeInfo.json"))).unwrap();
        let page = RestPage::new("test_data", 200, true, info.trim().to_string(), "2024-08-08T00:00:00Z").unwrap();
        store.write_page(&store.page_path(market, EXCHANGE_INFO, ALL_SYMBOLS, 1_723_075_200_000), &page).unwrap();
        let src = test_data(&format!("recordings/{dir}/btcusdt_20240808.gz"));
        let imported = import_recording(&store, &src, None).unwrap();
        let mut cat = Catalog::open(root.join("catalog")).unwrap();
        ingest(&store, &mut cat, &RawItem::Stream(imported.stored), None).unwrap();
        let id = data::instrument_id(market, "BTCUSDT").unwrap();

        // The book after every record up to the 100th (records end at F_LAST).
        let deltas = cat
            .inner()
            .query_typed_data::<OrderBookDelta>(Some(vec![id.to_string()]), None, None, None, None, true)
            .unwrap();
        let mut book = OrderBook::new(id, BookType::L2_MBP);
        let (mut records, mut start, mut at) = (0, 0, 0);
        for (k, x) in deltas.iter().enumerate() {
            if RecordFlag::F_LAST.matches(x.flags) {
                book.apply_deltas(&OrderBookDeltas::new(id, deltas[start..=k].to_vec())).unwrap();
                (records, start, at) = (records + 1, k + 1, x.ts_init.as_u64());
                if records == 100 {
                    break;
                }
            }
        }
        assert_eq!(records, 100, "{market}: 100 records");
        assert!(deltas.get(start).is_none_or(|x| x.ts_init.as_u64() > at), "{market}: the 100th ends its timestamp");
        // All of the best level and half of the second.
        let asks: Vec<(Decimal, Decimal)> =
            book.asks(Some(2)).map(|l| (l.price.value.as_decimal(), l.size_decimal())).collect();
        let step = if market == Market::Spot { dec!(0.00001) } else { dec!(0.001) };
        let second = (asks[1].1 / Decimal::TWO / step).floor() * step;
        assert!(second > Decimal::ZERO, "{market}: second level {asks:?}");
        let qty = asks[0].1 + second;

        let params = targets_file(&format!("recorded-{dir}-targets"), &[(at, &id.to_string(), &qty.to_string())]);
        let kind = if market == Market::Spot { VenueKind::Spot } else { VenueKind::Usdm };
        let mut s = l2_spec(kind, &id.to_string(), "1000000", "targets-from-file", &params);
        s.catalog = root.join("catalog");
        let r = run(&s, &Registry::with_baselines(), RunOptions::default()).unwrap();
        let got: Vec<(u64, Decimal, Decimal)> = r.fills.iter().map(|f| (f.ts, f.qty, f.price)).collect();
        assert_eq!(got, vec![(at, asks[0].1, asks[0].0), (at, second, asks[1].0)], "{market}");
    }
}
