//! End-to-end backtests on synthetic data with hand-computed, exact expectations.

mod common;

use std::{cell::RefCell, collections::BTreeMap, path::PathBuf, str::FromStr};

use backtest::{
    alpha::{Alpha, AlphaResult, Context, MarketEvent, Target, Wallet},
    engine::{RunOptions, run, run_inputs},
    execution::{Execution, OrderKind},
    inputs::Inputs,
    output::write_results,
    registry::Registry,
    spec::{RunSpec, StrategySpec},
    venue::{VenueKind, VenueSpec},
};
use data::{FundingPayment, batch::Batch, catalog::Catalog};
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{Bar, BarType, Data, FundingRateUpdate},
    identifiers::InstrumentId,
    instruments::InstrumentAny,
    types::{Price, Quantity},
};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const T0: u64 = 1_735_689_600_000_000_000; // 2025-01-01T00:00:00Z, first kline open
const M: u64 = 60_000_000_000; // 1 minute
const N: u64 = 200;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn spot() -> InstrumentAny {
    // Deliberately wrong fees: the venue must overwrite them.
    common::spot_btcusdt(Some(dec!(0.5)))
}

fn perp() -> InstrumentAny {
    common::perp_btcusdt()
}

/// Bar `i` covers [T0 + i·M, T0 + (i+1)·M) and is stamped at its close; close = base + i.
fn bars(bar_type: &str, base: Decimal, precision: u8, size_precision: u8) -> Vec<Bar> {
    let bt = BarType::from(bar_type);
    let px = |x: Decimal| Price::from_decimal_dp(x, precision).unwrap();
    (0..N)
        .map(|i| {
            let c = base + Decimal::from(i);
            let vol = Quantity::from_decimal_dp(d("1.5"), size_precision).unwrap();
            let ts = UnixNanos::from(T0 + (i + 1) * M);
            Bar::new(bt, px(c - d("0.5")), px(c + d("1")), px(c - d("1.5")), px(c), vol, ts, ts)
        })
        .collect()
}

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("alphalab-backtest-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn spec(kind: VenueKind, instrument: &str, bar_type: &str, strategy: &str, params: toml::Value) -> RunSpec {
    let venue = VenueSpec::new(kind, BTreeMap::from([("USDT".to_string(), d("10000"))]));
    let mut spec = RunSpec::new(vec![instrument.into()], venue, StrategySpec { name: strategy.into(), params });
    spec.bar_types = vec![bar_type.into()];
    spec
}

fn params(s: &str) -> toml::Value {
    toml::Value::Table(toml::from_str(s).unwrap())
}

const SPOT_BT: &str = "BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL";
const PERP_BT: &str = "BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL";

#[test]
fn buy_and_hold_spot_pnl_and_fees_are_exact() {
    let s = spec(
        VenueKind::Spot,
        "BTCUSDT.BINANCE",
        SPOT_BT,
        "buy-and-hold",
        params(
            r#"instrument_id = "BTCUSDT.BINANCE"
quantity = "0.01""#,
        ),
    );
    let inputs = Inputs {
        instruments: vec![spot()],
        streams: vec![bars(SPOT_BT, d("60000.25"), 2, 6).into_iter().map(Data::Bar).collect()],
        funding: vec![],
    };
    let r = run_inputs(&s, &inputs, &Registry::with_baselines(), RunOptions::default()).unwrap();
    // One taker fill at the first bar's close 60000.25, at that bar's ts_init.
    assert_eq!(r.fills.len(), 1);
    let f = &r.fills[0];
    assert_eq!((f.ts, f.qty, f.price), (T0 + M, d("0.01"), d("60000.25")));
    assert_eq!((f.commission, f.commission_currency.as_str()), (d("0.6000025"), "USDT")); // 600.0025 × 0.1 %
    // final − initial = (last close − fill) × qty − fee = 199 × 0.01 − 0.6000025
    assert_eq!(r.stats.initial_equity, d("10000"));
    assert_eq!(r.stats.final_equity - r.stats.initial_equity, d("1.3899975"));
    assert_eq!(r.stats.final_equity, d("10001.3899975"));
    assert_eq!(r.stats.fees_paid, d("0.6000025"));
    // nautilus' own cash account agrees with the exact ledger.
    let bal: BTreeMap<&str, Decimal> = r.account_balances.iter().map(|b| (b.currency.as_str(), b.total)).collect();
    assert_eq!(bal, BTreeMap::from([("BTC", d("0.01")), ("USDT", d("9399.3974975"))]));
    assert_eq!(r.ledger_balances, BTreeMap::from([("BTC".into(), d("0.01")), ("USDT".into(), d("9399.3974975"))]));
    assert_eq!(r.stats.trade_count, 1);
    assert_eq!(r.equity.len(), N as usize);
}

fn funding_rows() -> Vec<FundingPayment> {
    let id = InstrumentId::from("BTCUSDT-PERP.BINANCE");
    let row = |k: u64, rate: &str, mark: Option<&str>| FundingPayment {
        instrument_id: id,
        ts: UnixNanos::from(T0 + k * 60 * M),
        rate: d(rate),
        mark_price: mark.map(d),
    };
    vec![row(1, "0.0001", Some("60100.5")), row(2, "-0.00005", None), row(3, "0.0003", Some("60300.25"))]
}

#[test]
fn funding_ledger_on_held_perp_is_in_final_equity() {
    let s = spec(
        VenueKind::Usdm,
        "BTCUSDT-PERP.BINANCE",
        PERP_BT,
        "buy-and-hold",
        params(
            r#"instrument_id = "BTCUSDT-PERP.BINANCE"
quantity = "0.1""#,
        ),
    );
    let inputs = Inputs {
        instruments: vec![perp()],
        streams: vec![bars(PERP_BT, d("60000"), 1, 3).into_iter().map(Data::Bar).collect()],
        funding: funding_rows(),
    };
    let r = run_inputs(&s, &inputs, &Registry::with_baselines(), RunOptions::default()).unwrap();
    assert_eq!(r.fills.len(), 1);
    assert_eq!((r.fills[0].price, r.fills[0].commission), (d("60000"), d("3"))); // 6000 × 0.05 %
    let pays: Vec<Decimal> = r.funding.iter().map(|e| e.payment).collect();
    // −0.1 × 60100.5 × 0.0001; −0.1 × 60119 (bar close at 02:00, no mark in the row) × −0.00005;
    // −0.1 × 60300.25 × 0.0003
    assert_eq!(pays, vec![d("-0.601005"), d("0.300595"), d("-1.8090075")]);
    assert_eq!(r.funding[1].mark_price, d("60119"));
    assert_eq!(r.stats.funding_paid, d("2.1094175"));
    // 10000 + 0.1 × (60199 − 60000) − 3 − 2.1094175
    assert_eq!(r.stats.final_equity, d("10014.7905825"));
    assert_eq!(r.equity.last().unwrap().equity_ex_funding, d("10016.9"));
    // the curve steps at each funding time
    let at = |ts: u64| r.equity.iter().find(|p| p.ts == ts).unwrap().funding;
    assert_eq!(at(T0 + 60 * M - M), Decimal::ZERO);
    assert_eq!(at(T0 + 60 * M), d("-0.601005"));
    assert_eq!(at(T0 + 120 * M), d("-0.30041"));
}

/// (kind, ts_init, clock, last perp price)
type Seen = (String, u64, u64, Option<Decimal>);

thread_local! {
    static SEEN: RefCell<Vec<Seen>> = const { RefCell::new(Vec::new()) };
}

/// Records every event: kind, ts_init, ctx clock, last price of the perp.
#[derive(Debug)]
struct Recorder;

impl Alpha for Recorder {
    fn on_event(&mut self, ev: &MarketEvent<'_>, ctx: &Context) -> AlphaResult<()> {
        let px = ctx.last_price(&InstrumentId::from("BTCUSDT-PERP.BINANCE"));
        SEEN.with(|s| s.borrow_mut().push((ev.kind().into(), ev.ts_init().as_u64(), ctx.now.as_u64(), px)));
        Ok(())
    }
    fn targets(&mut self, _ctx: &Context) -> AlphaResult<Vec<Target>> {
        Ok(vec![])
    }
}

#[test]
fn no_look_ahead() {
    let mut reg = Registry::with_baselines();
    reg.register("recorder", |_| Ok(Box::new(Recorder)));
    let s = spec(VenueKind::Usdm, "BTCUSDT-PERP.BINANCE", PERP_BT, "recorder", params(""));
    let inputs = Inputs {
        instruments: vec![perp()],
        streams: vec![bars(PERP_BT, d("60000"), 1, 3).into_iter().map(Data::Bar).collect()],
        funding: funding_rows(),
    };
    let r = run_inputs(&s, &inputs, &reg, RunOptions { record_deliveries: true, ..RunOptions::default() }).unwrap();
    let seen = SEEN.with(|s| s.borrow().clone());
    assert_eq!(seen.len(), N as usize + 3);
    let bar_events: Vec<_> = seen.iter().filter(|e| e.0 == "bar").collect();
    assert_eq!(bar_events.len(), N as usize);
    for (i, (_, ts, clock, px)) in bar_events.iter().enumerate() {
        let close_time = T0 + (i as u64 + 1) * M; // open + interval
        assert_eq!((*ts, *clock), (close_time, close_time), "bar {i}");
        // the only price visible is this bar's close
        assert_eq!(*px, Some(d("60000") + Decimal::from(i)), "bar {i}");
    }
    for (kind, ts, clock, _) in &seen {
        assert!(ts <= clock, "{kind} stamped {ts} seen at {clock}");
    }
    // funding events arrive exactly at their time (a bar closes then), before that bar
    let funding: Vec<_> = seen.iter().filter(|e| e.0 == "funding").map(|e| (e.1, e.2)).collect();
    assert_eq!(funding, vec![(T0 + 60 * M, T0 + 60 * M), (T0 + 120 * M, T0 + 120 * M), (T0 + 180 * M, T0 + 180 * M)]);
    // the adapter's own delivery log agrees
    assert!(r.deliveries.iter().all(|x| x.ts_init <= x.clock));
    assert!(
        r.deliveries.iter().filter(|x| x.kind == "bar").all(|x| x.ts_event == Some(x.ts_init) && x.ts_init == x.clock)
    );
}

#[test]
fn targets_from_file_reproduces_positions() {
    let dir = tmp("targets");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("targets.csv");
    let id = "BTCUSDT-PERP.BINANCE";
    // times are bar closes; 0.0126 rounds down to 0.012, -0.0051 to -0.005
    let rows = [(5u64, "0.0126"), (20, "0.004"), (50, "-0.0051"), (90, "0")];
    let mut csv = String::from("ts,instrument_id,target\n");
    for (k, q) in rows {
        csv += &format!("{},{id},{q}\n", T0 + k * M);
    }
    std::fs::write(&file, csv).unwrap();
    let s = spec(
        VenueKind::Usdm,
        id,
        PERP_BT,
        "targets-from-file",
        params(&format!("path = {:?}", file.to_str().unwrap())),
    );
    let inputs = Inputs {
        instruments: vec![perp()],
        streams: vec![bars(PERP_BT, d("60000"), 1, 3).into_iter().map(Data::Bar).collect()],
        funding: vec![],
    };
    let r = run_inputs(&s, &inputs, &Registry::with_baselines(), RunOptions::default()).unwrap();
    let got: Vec<(u64, Decimal, Decimal)> = r.fills.iter().map(|f| (f.ts, f.qty, f.position_after)).collect();
    assert_eq!(
        got,
        vec![
            (T0 + 5 * M, d("0.012"), d("0.012")),
            (T0 + 20 * M, d("-0.008"), d("0.004")),
            (T0 + 50 * M, d("-0.009"), d("-0.005")),
            (T0 + 90 * M, d("0.005"), d("0")),
        ]
    );
    // fill prices are the closes of the bars at those times (close = 60000 + i, ts = (i+1)·M)
    assert_eq!(
        r.fills.iter().map(|f| f.price).collect::<Vec<_>>(),
        vec![d("60004"), d("60019"), d("60049"), d("60089")]
    );
    assert_eq!(r.positions, BTreeMap::from([(id.to_string(), d("0"))]));
}

#[test]
fn run_spec_errors_name_the_key() {
    let err = RunSpec::from_toml(
        r#"catalog = "c"
instruments = []
strategy = { name = "x" }
[venue]
kind = "spot"
starting_balances = { USDT = "1" }
levrage = "2"
"#,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("unknown field `levrage`"), "{err}");
    let err = Registry::with_baselines()
        .build(&StrategySpec { name: "nope".into(), params: params("") })
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        r#"strategy.name: unknown strategy "nope" (known: ["buy-and-hold", "equal-weight", "targets-from-file"])"#
    );
    let err = Registry::with_baselines()
        .build(&StrategySpec { name: "buy-and-hold".into(), params: params("instrument_id = \"BTCUSDT.BINANCE\"") })
        .err()
        .unwrap()
        .to_string();
    assert_eq!(err, "strategy buy-and-hold: strategy.params (buy-and-hold): set exactly one of `quantity`, `fraction`");
}

#[test]
fn same_run_spec_twice_gives_identical_files() {
    let root = tmp("determinism");
    let cat_dir = root.join("catalog");
    {
        let mut cat = Catalog::open(&cat_dir).unwrap();
        cat.write(Batch::Instruments(vec![perp()])).unwrap();
        cat.write(Batch::Bars(bars(PERP_BT, d("60000"), 1, 3))).unwrap();
        let id = InstrumentId::from("BTCUSDT-PERP.BINANCE");
        let f: Vec<FundingRateUpdate> =
            funding_rows().iter().map(|p| FundingRateUpdate::new(id, p.rate, Some(480), None, p.ts, p.ts)).collect();
        cat.write(Batch::Funding(f)).unwrap();
    }
    let out = root.join("out");
    let text = format!(
        r#"catalog = {cat:?}
instruments = ["BTCUSDT-PERP.BINANCE"]
bar_types = ["{PERP_BT}"]
output = {out:?}

[venue]
kind = "usdm"
starting_balances = {{ USDT = "10000" }}
leverage = "2"

[strategy]
name = "buy-and-hold"
params = {{ instrument_id = "BTCUSDT-PERP.BINANCE", fraction = "0.5" }}
"#,
        cat = cat_dir.to_str().unwrap(),
        out = out.to_str().unwrap()
    );
    let spec = RunSpec::from_toml(&text).unwrap();
    let read = || {
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for e in std::fs::read_dir(&out).unwrap() {
            let e = e.unwrap();
            files.insert(e.file_name().to_string_lossy().into(), std::fs::read(e.path()).unwrap());
        }
        files
    };
    let run_and_write = || {
        let r = run(&spec, &Registry::with_baselines(), RunOptions::default()).unwrap();
        write_results(&out, &spec, &r).unwrap();
        r
    };
    let r1 = run_and_write();
    let first = read();
    std::fs::remove_dir_all(&out).unwrap();
    let r2 = run_and_write();
    let second = read();
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        [
            "attribution",
            "balances",
            "equity",
            "fills",
            "funding",
            "instrument_pnl",
            "liquidations",
            "orders",
            "positions",
            "prices",
            "wallets"
        ]
        .iter()
        .flat_map(|t| [format!("{t}.csv"), format!("{t}.parquet")])
        .chain(["result.json".into(), "run.toml".into(), "version.json".into()])
        .collect::<std::collections::BTreeSet<String>>()
        .iter()
        .collect::<Vec<_>>()
    );
    assert_eq!(first, second);
    assert_eq!(r1, r2);
    // catalog funding (no mark price) is applied with the bar close at each settlement:
    // 0.5 × 10000 / 60000 = 0.08333.. → 0.083 (rounded down)
    assert_eq!(r1.fills[0].qty, d("0.083"));
    let pays: Vec<Decimal> = r1.funding.iter().map(|e| e.payment).collect();
    // −0.083 × 60059 × 0.0001; −0.083 × 60119 × −0.00005; −0.083 × 60179 × 0.0003
    assert_eq!(pays, vec![d("-0.49848970"), d("0.249493850"), d("-1.498457100")]);
}

#[test]
fn the_settlement_mark_price_is_kept_in_the_catalog_and_used() {
    let root = tmp("funding-mark");
    let cat_dir = root.join("catalog");
    let id = InstrumentId::from("BTCUSDT-PERP.BINANCE");
    {
        let mut cat = Catalog::open(&cat_dir).unwrap();
        cat.write(Batch::Instruments(vec![perp()])).unwrap();
        cat.write(Batch::Bars(bars(PERP_BT, d("60000"), 1, 3))).unwrap();
        // /fapi/v1/fundingRate rows as Binance sends them: the second (older style) has no mark.
        let rows = [
            serde_json::json!({"symbol": "BTCUSDT", "fundingTime": (T0 + 60 * M) / 1_000_000, "fundingRate": "0.00010000", "markPrice": "60100.53201234"}),
            serde_json::json!({"symbol": "BTCUSDT", "fundingTime": (T0 + 120 * M) / 1_000_000, "fundingRate": "-0.00005000", "markPrice": ""}),
        ];
        let parsed: Vec<_> = rows.iter().map(|r| data::parse_funding_row(r, id).unwrap()).collect();
        cat.write(Batch::Funding(parsed.iter().map(|p| p.0).collect())).unwrap();
        let marks = parsed.iter().filter_map(|p| p.1.clone()).map(data::FundingMark::into_custom_data).collect();
        cat.write(Batch::Custom(marks)).unwrap();
    }
    let mut s = spec(
        VenueKind::Usdm,
        "BTCUSDT-PERP.BINANCE",
        PERP_BT,
        "buy-and-hold",
        params("instrument_id = \"BTCUSDT-PERP.BINANCE\"\nquantity = \"0.1\""),
    );
    s.catalog = cat_dir;
    let r = run(&s, &Registry::with_baselines(), RunOptions::default()).unwrap();
    let got: Vec<(Decimal, Decimal)> = r.funding.iter().map(|e| (e.mark_price, e.payment)).collect();
    // Binance's settlement mark to the last digit; without one, the close at 120 (60,119).
    assert_eq!(got, vec![(d("60100.53201234"), d("-0.601005320123400")), (d("60119"), d("0.300595"))]);
}

/// Falling bars: close = 60000.25 − i, open = close + 0.5, high = close + 1, low = close − 1.5.
fn falling_bars() -> Vec<Data> {
    let bt = BarType::from(SPOT_BT);
    let px = |x: Decimal| Price::from_decimal_dp(x, 2).unwrap();
    (0..N)
        .map(|i| {
            let c = d("60000.25") - Decimal::from(i);
            let ts = UnixNanos::from(T0 + (i + 1) * M);
            Data::Bar(Bar::new(
                bt,
                px(c + d("0.5")),
                px(c + d("1")),
                px(c - d("1.5")),
                px(c),
                Quantity::from("1.500000"),
                ts,
                ts,
            ))
        })
        .collect()
}

#[test]
fn limit_execution_rests_at_the_offset_price_and_pays_the_maker_fee() {
    let mut s = spec(
        VenueKind::Spot,
        "BTCUSDT.BINANCE",
        SPOT_BT,
        "buy-and-hold",
        params("instrument_id = \"BTCUSDT.BINANCE\"\nquantity = \"0.01\""),
    );
    s.venue.maker_fee = Some(d("0.0002"));
    s.execution = Execution { order_type: OrderKind::Limit, limit_offset_bps: d("0.2") };
    let inputs = Inputs { instruments: vec![spot()], streams: vec![falling_bars()], funding: vec![] };
    let r = run_inputs(&s, &inputs, &Registry::with_baselines(), RunOptions::default()).unwrap();
    // 60000.25 × (1 − 0.00002) = 59999.049995 → 59999.04 on the 0.01 tick (down for a buy).
    assert_eq!(r.orders.len(), 1, "{:?}", r.orders);
    let o = &r.orders[0];
    assert_eq!(
        (o.ts, o.action.as_str(), o.order_type.as_str(), o.limit_price),
        (T0 + M, "submit", "LIMIT", Some(d("59999.04")))
    );
    assert_eq!(r.fills.len(), 1);
    let f = &r.fills[0];
    // The next bar trades through 59999.04: a maker fill at the limit price.
    assert_eq!((f.ts, f.qty, f.price, f.liquidity.as_str()), (T0 + 2 * M, d("0.01"), d("59999.04"), "Maker"));
    assert_eq!(f.commission, d("0.11999808")); // 599.9904 × 0.02 %
}

#[test]
fn limit_orders_are_replaced_when_the_price_moves_and_never_fill_out_of_reach() {
    // Rising bars whose lows never reach a limit 50 bps below the close: the order is
    // re-priced every bar (cancel + submit) and nothing fills.
    let mut s = spec(
        VenueKind::Spot,
        "BTCUSDT.BINANCE",
        SPOT_BT,
        "buy-and-hold",
        params("instrument_id = \"BTCUSDT.BINANCE\"\nquantity = \"0.01\""),
    );
    s.execution = Execution { order_type: OrderKind::Limit, limit_offset_bps: d("50") };
    let inputs = Inputs {
        instruments: vec![spot()],
        streams: vec![bars(SPOT_BT, d("60000.25"), 2, 6).into_iter().map(Data::Bar).collect()],
        funding: vec![],
    };
    let r = run_inputs(&s, &inputs, &Registry::with_baselines(), RunOptions::default()).unwrap();
    assert!(r.fills.is_empty());
    let submits = r.orders.iter().filter(|o| o.action == "submit").count();
    let cancels = r.orders.iter().filter(|o| o.action == "cancel").count();
    assert_eq!((submits, cancels), (N as usize, N as usize - 1));
}

/// Long 0.01 spot, short 0.01 perp from the first event (a basis position).
#[derive(Debug)]
struct LongSpotShortPerp;

impl Alpha for LongSpotShortPerp {
    fn on_event(&mut self, _ev: &MarketEvent<'_>, _ctx: &Context) -> AlphaResult<()> {
        Ok(())
    }
    fn targets(&mut self, _ctx: &Context) -> AlphaResult<Vec<Target>> {
        Ok(vec![
            Target { instrument_id: InstrumentId::from("BTCUSDT.BINANCE"), quantity: d("0.01") },
            Target { instrument_id: InstrumentId::from("BTCUSDT-PERP.BINANCE"), quantity: d("-0.01") },
        ])
    }
}

#[test]
fn spot_and_perp_in_one_run_pay_their_own_fees_and_funding() {
    let mut reg = Registry::with_baselines();
    reg.register("basis", |_| Ok(Box::new(LongSpotShortPerp)));
    let mut s = spec(VenueKind::Usdm, "BTCUSDT.BINANCE", SPOT_BT, "basis", params(""));
    s.instruments.push("BTCUSDT-PERP.BINANCE".into());
    s.bar_types.push(PERP_BT.into());
    // The spot leg is paid from the spot wallet, the perp's fee and funding from the futures one.
    s.venue.spot_balances = BTreeMap::from([("USDT".to_string(), d("1000"))]);
    let inputs = Inputs {
        instruments: vec![spot(), perp()],
        streams: vec![
            bars(SPOT_BT, d("60000.25"), 2, 6).into_iter().map(Data::Bar).collect(),
            bars(PERP_BT, d("60010"), 1, 3).into_iter().map(Data::Bar).collect(),
        ],
        funding: funding_rows(),
    };
    let r = run_inputs(&s, &inputs, &reg, RunOptions::default()).unwrap();
    let fill = |id: &str| r.fills.iter().find(|f| f.instrument_id == id).unwrap().clone();
    let (sf, pf) = (fill("BTCUSDT.BINANCE"), fill("BTCUSDT-PERP.BINANCE"));
    assert_eq!(r.fills.len(), 2);
    // spot keeps the spot taker fee on the USD-M account: 600.0025 × 0.1 %; perp 600.1 × 0.05 %
    assert_eq!((sf.qty, sf.price, sf.commission), (d("0.01"), d("60000.25"), d("0.6000025")));
    assert_eq!((pf.qty, pf.price, pf.commission), (d("-0.01"), d("60010"), d("0.300050")));
    // funding only on the perp, received by the short: 0.01 × mark × rate
    let pays: Vec<Decimal> = r.funding.iter().map(|e| e.payment).collect();
    assert_eq!(pays, vec![d("0.0601005"), d("-0.0300645"), d("0.1809007500")]);
    assert_eq!(r.positions.get("BTCUSDT.BINANCE"), Some(&d("0.01")));
    assert_eq!(r.positions.get("BTCUSDT-PERP.BINANCE"), Some(&d("-0.01")));
    assert_eq!(r.wallets[&Wallet::Spot]["USDT"], d("1000") - d("600.0025") - d("0.6000025"));
    assert_eq!(r.wallets[&Wallet::Futures]["USDT"], d("10000") - d("0.30005") + d("0.2109367500"));
    // both legs gain/lose 199 × 0.01: equity ex funding = 11000 − fees
    assert_eq!(r.equity.last().unwrap().equity_ex_funding, d("11000") - d("0.6000025") - d("0.30005"));
}

#[test]
fn market_orders_larger_than_the_bar_liquidity_fill_over_several_bars() {
    // Bar volume 1.5 ⇒ the engine fills at most 0.375 per bar (a quarter): 1.0 takes three bars.
    let s = spec(
        VenueKind::Spot,
        "BTCUSDT.BINANCE",
        SPOT_BT,
        "buy-and-hold",
        params("instrument_id = \"BTCUSDT.BINANCE\"\nquantity = \"0.1\""),
    );
    let mut s10 = s.clone();
    s10.strategy.params = params("instrument_id = \"BTCUSDT.BINANCE\"\nquantity = \"1.0\"");
    let inputs = || Inputs {
        instruments: vec![spot()],
        streams: vec![bars(SPOT_BT, d("6000.25"), 2, 6).into_iter().map(Data::Bar).collect()],
        funding: vec![],
    };
    let small = run_inputs(&s, &inputs(), &Registry::with_baselines(), RunOptions::default()).unwrap();
    assert_eq!(small.fills.len(), 1);
    let r = run_inputs(&s10, &inputs(), &Registry::with_baselines(), RunOptions::default()).unwrap();
    let got: Vec<(u64, Decimal, Decimal)> = r.fills.iter().map(|f| (f.ts, f.qty, f.position_after)).collect();
    assert_eq!(
        got,
        vec![(T0 + M, d("0.375"), d("0.375")), (T0 + 2 * M, d("0.375"), d("0.75")), (T0 + 3 * M, d("0.25"), d("1.0")),]
    );
    assert_eq!(r.positions["BTCUSDT.BINANCE"], d("1.0"));
    assert_eq!(r.skips.len(), 2, "{:?}", r.skips);
    assert!(r.skips[0].reason.starts_with("above the simulated liquidity 0.375"), "{:?}", r.skips);
    assert!(r.rejections.is_empty());
}

#[test]
fn cash_account_buys_are_capped_at_the_quote_held_fees_included() {
    // 1 BTC at 60000.25 on 10000 USDT: buy what the cash pays for, fee included.
    let mut s = spec(
        VenueKind::Spot,
        "BTCUSDT.BINANCE",
        SPOT_BT,
        "buy-and-hold",
        params("instrument_id = \"BTCUSDT.BINANCE\"\nquantity = \"1\""),
    );
    s.venue.taker_fee = Some(d("0.001"));
    let inputs = Inputs {
        instruments: vec![spot()],
        streams: vec![bars(SPOT_BT, d("60000.25"), 2, 6).into_iter().map(Data::Bar).collect()],
        funding: vec![],
    };
    let r = run_inputs(&s, &inputs, &Registry::with_baselines(), RunOptions::default()).unwrap();
    // 10000 / (60000.25 × 1.001) = 0.16649931.. → 0.166499 on the 0.000001 step
    assert_eq!(r.fills.len(), 1, "{:?}", r.fills);
    assert_eq!(r.fills[0].qty, d("0.166499"));
    assert!(r.skips.iter().any(|k| k.reason == "cash account: not enough USDT for the rest"), "{:?}", r.skips);
    let usdt = r.account_balances.iter().find(|b| b.currency == "USDT").unwrap().total;
    assert!(usdt >= Decimal::ZERO && usdt == r.ledger_balances["USDT"], "{usdt}");
}
