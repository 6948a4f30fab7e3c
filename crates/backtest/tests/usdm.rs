//! USD-M as Binance runs it, end to end on synthetic data with expectations worked by hand:
//! liquidation at the mark price (cross and isolated), margin refusals, funding inside the run
//! as the Alpha sees it, separate spot and futures wallets with transfers, next-open fills.

mod common;

use std::{cell::RefCell, collections::BTreeMap, str::FromStr};

use backtest::{
    alpha::{Alpha, AlphaResult, Context, MarketEvent, Target, Wallet},
    engine::{RunOptions, run_inputs},
    inputs::Inputs,
    margin::{MarginMode, liquidation_price},
    registry::Registry,
    result::RunResult,
    spec::{RunSpec, StrategySpec},
    venue::{FillTiming, Transfer, VenueKind, VenueSpec},
};
use binance::brackets::shipped;
use data::FundingPayment;
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{Bar, BarType, Data, MarkPriceUpdate},
    identifiers::InstrumentId,
    types::{Price, Quantity},
};
use rust_decimal::Decimal;

const T0: u64 = 1_735_689_600_000_000_000; // 2025-01-01T00:00:00Z: BTCUSDT bracket 1 is 0.4 %, cum 0
const M: u64 = 60_000_000_000;
const PERP: &str = "BTCUSDT-PERP.BINANCE";
const SPOT: &str = "BTCUSDT.BINANCE";
const PERP_BT: &str = "BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL";
const SPOT_BT: &str = "BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL";

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn ts(k: u64) -> u64 {
    T0 + k * M
}

/// Bar `i` closes at `closes[i]`, stamped `ts(i + 1)`; open = the previous close − 0.5.
fn bars_of(bar_type: &str, closes: &[Decimal], precision: u8) -> Vec<Data> {
    let bt = BarType::from(bar_type);
    let px = |x: Decimal| Price::from_decimal_dp(x, precision).unwrap();
    let mut prev = closes[0];
    closes
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let o = prev - d("0.5");
            prev = c;
            let t = UnixNanos::from(ts(i as u64 + 1));
            let (hi, lo) = (o.max(c) + Decimal::ONE, o.min(c) - Decimal::ONE);
            let vol = Quantity::from_decimal_dp(d("40"), if precision == 2 { 6 } else { 3 }).unwrap();
            Data::Bar(Bar::new(bt, px(o), px(hi), px(lo), px(c), vol, t, t))
        })
        .collect()
}

/// A mark price at every bar close: the close + `offset`.
fn marks_of(closes: &[Decimal], offset: Decimal) -> Vec<Data> {
    let id = InstrumentId::from(PERP);
    closes
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let t = UnixNanos::from(ts(i as u64 + 1));
            Data::MarkPriceUpdate(MarkPriceUpdate::new(id, Price::from_decimal_dp(c + offset, 2).unwrap(), t, t))
        })
        .collect()
}

fn line(from: Decimal, step: Decimal, n: usize) -> Vec<Decimal> {
    (0..n).map(|i| from + step * Decimal::from(i)).collect()
}

fn usdm(instruments: &[&str], usdt: &str, leverage: &str, strategy: &str, params: &str) -> RunSpec {
    let mut venue = VenueSpec::new(VenueKind::Usdm, BTreeMap::from([("USDT".to_string(), d(usdt))]));
    venue.leverage = Some(d(leverage));
    let params = toml::Value::Table(toml::from_str(params).unwrap());
    let mut s = RunSpec::new(
        instruments.iter().map(|s| s.to_string()).collect(),
        venue,
        StrategySpec { name: strategy.into(), params },
    );
    s.bar_types = vec![PERP_BT.into()];
    s
}

fn run(s: &RunSpec, inputs: &Inputs, reg: &Registry) -> RunResult {
    run_inputs(s, inputs, reg, RunOptions::default()).unwrap()
}

fn btc_brackets() -> binance::brackets::Brackets {
    shipped("2025-01-01")["BTCUSDT"].clone()
}

#[test]
fn a_cross_long_is_liquidated_at_the_first_mark_beyond_its_liquidation_price() {
    // The case: 1,000 USDT, 20x, 0.3 BTC long from 62,100, the price falling 50 a bar.
    let closes = line(d("62100"), d("-50"), 150);
    let mut s =
        usdm(&[PERP], "1000", "20", "buy-and-hold", "instrument_id = \"BTCUSDT-PERP.BINANCE\"\nquantity = \"0.3\"");
    s.mark_prices = vec![PERP.into()];
    let inputs = Inputs {
        instruments: vec![common::perp_btcusdt()],
        streams: vec![bars_of(PERP_BT, &closes, 1), marks_of(&closes, d("3"))],
        funding: vec![],
    };
    let r = run(&s, &inputs, &Registry::with_baselines());
    // Entry: 0.3 at the first close, taker fee 18,630 × 0.05 % = 9.315 → wallet 990.685.
    assert_eq!((r.fills[0].price, r.fills[0].commission), (d("62100"), d("9.315")));
    // Binance's formula: LP = (WB + cum − q·EP) / (q·rate − q) = (990.685 − 18,630) / (0.0012 − 0.3)
    let lp =
        liquidation_price(d("0.3"), d("62100"), d("990.685"), Decimal::ZERO, Decimal::ZERO, &btc_brackets()).unwrap();
    assert_eq!(lp.round_dp(2), d("59033.85"));
    // Marks are close + 3 = 62,103 − 50 i: 59,053 (i = 61) stays above it, 59,003 (i = 62) is the
    // first at or below: liquidated there, not at the close (59,000), not before.
    assert_eq!(r.liquidations.len(), 1, "{:?}", r.liquidations);
    let l = &r.liquidations[0];
    assert_eq!(
        (l.ts, l.side.as_str(), l.qty, l.price, l.mark_price),
        (ts(63), "Sell", d("-0.3"), d("59003"), d("59003"))
    );
    // Realised −0.3 × 3,097 = −929.1 leaves 61.585 of the 221.26 clearance fee due
    // (0.3 × 59,003 × 1.25 %): the fee takes it all, the wallet ends at 0, not below.
    assert_eq!(
        (l.realized_pnl, l.fee, l.wallet_balance_after, l.insurance),
        (d("-929.1"), d("61.585"), d("0"), d("0"))
    );
    let fill = r.fills.iter().find(|f| f.liquidity == "Liquidation").unwrap();
    assert_eq!((fill.ts, fill.qty, fill.price, fill.position_after), (ts(63), d("-0.3"), d("59003"), d("0")));
    assert_eq!(r.positions[PERP], d("0"));
    assert_eq!(r.wallets[&Wallet::Futures]["USDT"], d("0"));
    assert!(r.equity.iter().all(|p| p.equity >= Decimal::ZERO), "equity below zero");
    assert_eq!(r.stats.final_equity, d("0"));
    // The Alpha still wants 0.3: with nothing left, every order is refused for margin, visibly.
    assert!(
        !r.skips.is_empty() && r.skips.iter().all(|k| k.reason.starts_with("insufficient margin")),
        "{:?}",
        r.skips.first()
    );
    assert_eq!(r.fills.len(), 2);
}

#[test]
fn an_isolated_short_loses_no_more_than_its_margin_and_falls_back_to_the_last_price() {
    // No mark prices loaded: margin at the last price (bar close). 10x isolated, 1,000 USDT,
    // 0.1 short from 60,000, the price rising 40 a bar.
    let closes = line(d("60000"), d("40"), 200);
    let mut s =
        usdm(&[PERP], "1000", "10", "buy-and-hold", "instrument_id = \"BTCUSDT-PERP.BINANCE\"\nquantity = \"-0.1\"");
    s.venue.margin_mode = MarginMode::Isolated;
    let inputs = Inputs {
        instruments: vec![common::perp_btcusdt()],
        streams: vec![bars_of(PERP_BT, &closes, 1)],
        funding: vec![],
    };
    let r = run(&s, &inputs, &Registry::with_baselines());
    // Isolated margin 6,000 / 10 = 600: LP = (600 + 0.1 × 60,000) / (0.1 × 0.004 + 0.1) = 65,737.05
    let lp = liquidation_price(d("-0.1"), d("60000"), d("600"), Decimal::ZERO, Decimal::ZERO, &btc_brackets()).unwrap();
    assert_eq!(lp.round_dp(2), d("65737.05"));
    // First close at or above: 60,000 + 40 × 144 = 65,760 (bar 144, stamped at minute 145).
    let l = &r.liquidations[0];
    assert_eq!((l.ts, l.side.as_str(), l.qty, l.mark_price), (ts(145), "Buy", d("0.1"), d("65760")));
    // −576 realised; the margin's last 24 pays part of the 82.2 fee; the wallet keeps the rest:
    // 1,000 − 3 (entry fee) − 600 (the position's whole margin) = 397.
    assert_eq!((l.realized_pnl, l.fee, l.wallet_balance_after), (d("-576"), d("24"), d("397")));
    assert_eq!(r.wallets[&Wallet::Futures]["USDT"], d("397"));
    assert_eq!(r.liquidations.len(), 1);
}

#[test]
fn orders_beyond_the_leverage_tier_or_the_available_margin_are_refused() {
    let closes = line(d("60000"), d("1"), 20);
    let inputs = Inputs {
        instruments: vec![common::perp_btcusdt()],
        streams: vec![bars_of(PERP_BT, &closes, 1)],
        funding: vec![],
    };
    let hold = "instrument_id = \"BTCUSDT-PERP.BINANCE\"\nquantity = \"1\"";
    // 125x: bracket 1 only, notional cap 50,000; 1 BTC is 60,000.
    let r = run(&usdm(&[PERP], "100000", "125", "buy-and-hold", hold), &inputs, &Registry::with_baselines());
    assert!(r.fills.is_empty());
    assert_eq!(
        r.skips[0].reason,
        "position notional 60000 above 50000, the most 125x leverage allows on BTCUSDT (leverage brackets)"
    );
    // 20x with 1,000 USDT: 3,000 of initial margin needed.
    let r = run(&usdm(&[PERP], "1000", "20", "buy-and-hold", hold), &inputs, &Registry::with_baselines());
    assert!(r.fills.is_empty());
    assert_eq!(r.skips[0].reason, "insufficient margin: 3000 USDT initial margin needed, 1000 available");
    // A leverage no tier allows is a run-file error.
    let err = run_inputs(
        &usdm(&[PERP], "1000", "150", "buy-and-hold", hold),
        &inputs,
        &Registry::with_baselines(),
        RunOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(err, "venue.leverage: 150x: BTCUSDT allows at most 125x");
}

/// What the scheduled Alpha saw at each event: (kind, ts, futures wallet USDT).
type Seen = (String, u64, Decimal);

thread_local! {
    static SEEN: RefCell<Vec<Seen>> = const { RefCell::new(Vec::new()) };
}

/// Holds the targets of a schedule (params `steps = [[minute, "instrument", "quantity"], ...]`),
/// each from that bar close on.
#[derive(Debug)]
struct Schedule(Vec<(u64, String, Decimal)>, BTreeMap<String, Decimal>);

impl Schedule {
    fn from_params(v: &toml::Value) -> AlphaResult<Box<dyn Alpha>> {
        #[derive(serde::Deserialize)]
        struct P {
            steps: Vec<(u64, String, Decimal)>,
        }
        let p: P = v.clone().try_into()?;
        Ok(Box::new(Self(p.steps, BTreeMap::new())))
    }
}

impl Alpha for Schedule {
    fn on_event(&mut self, ev: &MarketEvent<'_>, ctx: &Context) -> AlphaResult<()> {
        let usdt = ctx.wallets.get(&Wallet::Futures).and_then(|w| w.get("USDT")).copied().unwrap_or_default();
        SEEN.with(|s| s.borrow_mut().push((ev.kind().into(), ctx.now.as_u64(), usdt)));
        for (k, id, q) in &self.0 {
            if ctx.now.as_u64() == ts(*k) {
                self.1.insert(id.clone(), *q);
            }
        }
        Ok(())
    }
    fn targets(&mut self, _ctx: &Context) -> AlphaResult<Vec<Target>> {
        Ok(self
            .1
            .iter()
            .map(|(id, q)| Target { instrument_id: InstrumentId::from(id.as_str()), quantity: *q })
            .collect())
    }
}

fn scheduled() -> Registry {
    let mut reg = Registry::with_baselines();
    reg.register("schedule", Schedule::from_params);
    reg
}

/// Params of the schedule Alpha.
fn steps(v: &[(u64, &str, &str)]) -> String {
    let rows: Vec<String> = v.iter().map(|(k, id, q)| format!("[{k}, \"{id}\", \"{q}\"]")).collect();
    format!("steps = [{}]", rows.join(", "))
}

#[test]
fn funding_is_paid_on_the_position_held_at_the_settlement_and_the_alpha_sees_it_at_once() {
    SEEN.with(|s| s.borrow_mut().clear());
    // Opened at 10, resized exactly at the 60 settlement, flipped at 100, closed at 150, reopened
    // exactly at the 180 settlement, resized at 220.
    let plan = steps(&[
        (10, PERP, "0.1"),
        (60, PERP, "0.3"),
        (100, PERP, "-0.2"),
        (150, PERP, "0"),
        (180, PERP, "0.05"),
        (220, PERP, "0.08"),
    ]);
    let closes = line(d("60000"), d("1"), 300); // the bar closing at minute k closes at 60,000 + k − 1
    let id = InstrumentId::from(PERP);
    let row = |k: u64, rate: &str, mark: Option<&str>| FundingPayment {
        instrument_id: id,
        ts: UnixNanos::from(ts(k)),
        rate: d(rate),
        mark_price: mark.map(d),
    };
    let inputs = Inputs {
        instruments: vec![common::perp_btcusdt()],
        streams: vec![bars_of(PERP_BT, &closes, 1)],
        funding: vec![
            row(60, "0.0001", Some("60100.5")),
            row(120, "-0.00005", None),
            row(180, "0.0003", Some("60300.25")),
            row(240, "0.0002", Some("60250.125")),
        ],
    };
    let r = run(&usdm(&[PERP], "10000", "5", "schedule", &plan), &inputs, &scheduled());
    // By hand, the position held before any fill at each settlement, at the row's mark price:
    //  60: 0.1 (the resize to 0.3 at 60 comes after) × 60,100.5 × 0.0001 → −0.601005
    // 120: −0.2 × 60,119 (no mark in the row: the close at 120) × −0.00005 → −0.601190
    // 180: flat (closed at 150; the reopening at 180 comes after) → nothing
    // 240: 0.08 × 60,250.125 × 0.0002 → −0.964002
    let got: Vec<(u64, Decimal, Decimal, Decimal)> =
        r.funding.iter().map(|e| (e.ts, e.position, e.mark_price, e.payment)).collect();
    assert_eq!(
        got,
        vec![
            (ts(60), d("0.1"), d("60100.5"), d("-0.601005")),
            (ts(120), d("-0.2"), d("60119"), d("-0.601190")),
            (ts(240), d("0.08"), d("60250.125"), d("-0.964002")),
        ]
    );
    assert_eq!(r.funding.last().unwrap().cumulative, d("-2.166197"));
    assert_eq!(r.stats.funding_paid, d("2.166197"));
    // The Alpha's futures wallet moves by exactly the payment between the last event before a
    // settlement and the settlement's own event (no fill in between).
    let seen = SEEN.with(|s| s.borrow().clone());
    for (k, pay) in [(60, d("-0.601005")), (120, d("-0.601190")), (180, d("0")), (240, d("-0.964002"))] {
        let at = seen.iter().position(|e| e.0 == "funding" && e.1 == ts(k)).unwrap();
        assert_eq!(seen[at].2 - seen[at - 1].2, pay, "settlement at minute {k}");
    }
}

#[test]
fn a_basis_trade_pays_its_spot_leg_from_the_spot_wallet_only() {
    let spot_closes = line(d("60000.25"), d("1"), 200);
    let perp_closes = line(d("60000"), d("1"), 200);
    let plan = steps(&[(1, SPOT, "0.1"), (1, PERP, "-0.1"), (50, SPOT, "0.2")]);
    let mut s = usdm(&[SPOT, PERP], "1000", "10", "schedule", &plan);
    s.bar_types = vec![SPOT_BT.into(), PERP_BT.into()];
    s.venue.spot_balances = BTreeMap::from([("USDT".to_string(), d("7000"))]);
    s.venue.transfers = vec![
        Transfer {
            at: "2025-01-01T01:40:00Z".into(),
            from: Wallet::Futures,
            to: Wallet::Spot,
            asset: "USDT".into(),
            amount: d("300"),
        },
        Transfer {
            at: "2025-01-01T02:30:00Z".into(),
            from: Wallet::Futures,
            to: Wallet::Spot,
            asset: "USDT".into(),
            amount: d("5000"),
        },
    ];
    let inputs = Inputs {
        instruments: vec![common::spot_btcusdt(None), common::perp_btcusdt()],
        streams: vec![bars_of(SPOT_BT, &spot_closes, 2), bars_of(PERP_BT, &perp_closes, 1)],
        funding: vec![],
    };
    let r = run(&s, &inputs, &scheduled());
    // Spot: 0.1 × 60,000.25 + 0.1 % fee, from the spot wallet's 7,000; the perp short only pays
    // its fee (6,000 × 0.05 % = 3) from the futures wallet.
    let first: Vec<(String, Decimal, Decimal, Decimal)> =
        r.fills.iter().take(2).map(|f| (f.instrument_id.to_string(), f.qty, f.price, f.commission)).collect();
    assert_eq!(
        first,
        vec![(SPOT.into(), d("0.1"), d("60000.25"), d("6.000025")), (PERP.into(), d("-0.1"), d("60000"), d("3"))]
    );
    // At 50 the Alpha wants 0.2 BTC spot: the spot wallet's 993.97 buys only part of it, and the
    // futures wallet's cash is not touched.
    let more = r.fills.iter().find(|f| f.instrument_id == SPOT && f.ts == ts(50)).unwrap();
    assert!(more.qty < d("0.1") && more.qty > Decimal::ZERO, "{more:?}");
    assert!(r.skips.iter().any(|k| k.instrument_id == SPOT && k.reason.starts_with("cash account: not enough USDT")));
    // The first transfer moves 300 at 01:40; the second (5,000) is more than the futures wallet
    // has available and is refused, recorded.
    assert_eq!(r.transfers.len(), 2);
    assert_eq!((r.transfers[0].ts, r.transfers[0].refused.as_deref()), (ts(100), None));
    assert!(
        r.transfers[1]
            .refused
            .as_deref()
            .is_some_and(|e| e.starts_with("transfer of 5000 USDT from the futures wallet"))
    );
    // Futures wallet: 1,000 − 3 − 300 (no perp fill since). Spot: 7,000 − the two buys + 300.
    assert_eq!(r.wallets[&Wallet::Futures]["USDT"], d("697"));
    let spent: Decimal =
        r.fills.iter().filter(|f| f.instrument_id == SPOT).map(|f| f.qty * f.price + f.commission).sum();
    assert_eq!(r.wallets[&Wallet::Spot]["USDT"], d("7300") - spent);
    // After the transfer the spot wallet buys more with it, never past the cash it holds.
    let bought: Decimal = r.fills.iter().filter(|f| f.instrument_id == SPOT).map(|f| f.qty).sum();
    assert!(bought > d("0.1") + more.qty && bought < d("0.2"), "{bought}");
    assert_eq!(r.wallets[&Wallet::Spot]["BTC"], bought);
    assert!(r.wallets[&Wallet::Spot]["USDT"] >= Decimal::ZERO);
}

#[test]
fn next_open_fills_at_the_next_bars_open_never_at_a_price_already_seen() {
    let closes = line(d("60000.25"), d("1"), 40);
    let plan = steps(&[(5, SPOT, "0.01"), (20, SPOT, "0"), (40, SPOT, "0.02")]);
    let mut venue = VenueSpec::new(VenueKind::Spot, BTreeMap::from([("USDT".to_string(), d("10000"))]));
    venue.fill = FillTiming::NextOpen;
    let mut s = RunSpec::new(
        vec![SPOT.into()],
        venue,
        StrategySpec { name: "schedule".into(), params: toml::Value::Table(toml::from_str(&plan).unwrap()) },
    );
    s.bar_types = vec![SPOT_BT.into()];
    let inputs = Inputs {
        instruments: vec![common::spot_btcusdt(None)],
        streams: vec![bars_of(SPOT_BT, &closes, 2)],
        funding: vec![],
    };
    let r = run(&s, &inputs, &scheduled());
    // Decided at the close of minute 5 (60,004.25, bar 4), filled 1 ns later at bar 5's open
    // (its previous close − 0.5 = 60,003.75); the decision at the last bar (40) never fills.
    let got: Vec<(u64, Decimal, Decimal)> = r.fills.iter().map(|f| (f.ts, f.qty, f.price)).collect();
    assert_eq!(got, vec![(ts(5) + 1, d("0.01"), d("60003.75")), (ts(20) + 1, d("-0.01"), d("60018.75"))]);
    for f in &r.fills {
        assert!(!closes.contains(&f.price), "filled at {} which the Alpha saw as a close", f.price);
    }
    // The Alpha never sees the synthetic open trades.
    let kinds = SEEN.with(|s| s.borrow().iter().filter(|e| e.0 == "trade").count());
    assert_eq!(kinds, 0);
}
