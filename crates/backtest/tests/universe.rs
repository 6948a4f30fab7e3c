//! Cross-sectional runs over a universe of synthetic perpetuals, each with its own symbol, tick
//! and step: per-instrument PnL, fees and funding against a ledger computed here from the
//! targets and the bar closes alone; the per-timestamp hook (once per timestamp, every event of
//! it in, missing instruments named, orders at its prices); delistings; the equal-weight
//! baseline; the attribution files.

mod common;

use std::{
    cell::RefCell,
    collections::{BTreeMap, BTreeSet},
    str::FromStr,
};

use backtest::{
    alpha::{Alpha, AlphaResult, Context, MarketEvent, Schedule, Slice, Target},
    delisting::Delisting,
    engine::{RunOptions, run_inputs},
    inputs::Inputs,
    output::write_results,
    registry::Registry,
    result::RunResult,
    spec::{RunSpec, StrategySpec},
    venue::{UnknownBrackets, VenueKind, VenueSpec},
};
use data::FundingPayment;
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{Bar, BarType, Data},
    identifiers::InstrumentId,
    instruments::InstrumentAny,
    types::{Price, Quantity},
};
use rust_decimal::Decimal;

const T0: u64 = 1_735_689_600_000_000_000; // 2025-01-01T00:00:00Z
const M: u64 = 60_000_000_000;
/// Bars per instrument: 3 hours of 1m bars.
const N: u64 = 180;
/// Instruments of the universe.
const K: usize = 20;
const TAKER: &str = "0.0005";

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn symbol(k: usize) -> String {
    format!("U{k:02}USDT")
}

fn id(k: usize) -> InstrumentId {
    InstrumentId::from(format!("{}-PERP.BINANCE", symbol(k)).as_str())
}

fn bar_type(k: usize) -> String {
    format!("{}-1-MINUTE-LAST-EXTERNAL", id(k))
}

/// (price decimals, size decimals) of instrument `k`: they always add up to 4, so every fee
/// (notional × 0.05 %) is exact in USDT's 8 decimals.
fn precisions(k: usize) -> (u8, u8) {
    let pdp = 1 + (k % 4) as u8;
    (pdp, 4 - pdp)
}

/// Close of instrument `k`'s bar `i` (closing at `T0 + (i + 1)·M`), in ticks of its own size:
/// a level per instrument (≈ 2,000 USDT down to ≈ 1.5 USDT), a zig-zag and a drift.
fn close(k: usize, i: u64) -> Decimal {
    let (pdp, _) = precisions(k);
    let level: i64 = [20_000, 15_000, 12_000, 15_000][k % 4] + 37 * k as i64;
    let ticks =
        level + ((i as i64 * (7 + k as i64)) % 41) - 20 + i as i64 / 3 * if k.is_multiple_of(2) { 1 } else { -1 };
    Decimal::new(ticks, u32::from(pdp))
}

fn universe() -> Vec<InstrumentAny> {
    (0..K)
        .map(|k| {
            let (pdp, sdp) = precisions(k);
            common::perp(&symbol(k), pdp, sdp)
        })
        .collect()
}

/// Instrument `k`'s bars, all but those `skip` rejects; volume large enough for any order.
fn bars(k: usize, skip: impl Fn(u64) -> bool) -> Vec<Data> {
    let (pdp, sdp) = precisions(k);
    let bt = BarType::from(bar_type(k).as_str());
    let px = |x: Decimal| Price::from_decimal_dp(x, pdp).unwrap();
    (0..N)
        .filter(|i| !skip(*i))
        .map(|i| {
            let c = close(k, i);
            let o = if i == 0 { c } else { close(k, i - 1) };
            let tick = Decimal::new(1, u32::from(pdp));
            let (hi, lo) = (o.max(c) + tick, o.min(c) - tick);
            let vol = Quantity::from_decimal_dp(Decimal::from(4_000_000), sdp).unwrap();
            let ts = UnixNanos::from(T0 + (i + 1) * M);
            Data::Bar(Bar::new(bt, px(o), px(hi), px(lo), px(c), vol, ts, ts))
        })
        .collect()
}

/// Funding at 01:00 and 02:00 for every instrument, rates differing by instrument and sign.
fn funding() -> Vec<FundingPayment> {
    let mut v = Vec::new();
    for k in 0..K {
        for h in [1u64, 2] {
            let rate = Decimal::new(k as i64 - 9, 5) * Decimal::from(h);
            v.push(FundingPayment {
                instrument_id: id(k),
                ts: UnixNanos::from(T0 + h * 60 * M),
                rate,
                mark_price: None,
            });
        }
    }
    v
}

fn inputs(skip: impl Fn(usize, u64) -> bool) -> Inputs {
    Inputs { instruments: universe(), streams: (0..K).map(|k| bars(k, |i| skip(k, i))).collect(), funding: funding() }
}

fn spec(strategy: &str, params: &str) -> RunSpec {
    let mut venue = VenueSpec::new(VenueKind::Usdm, BTreeMap::from([("USDT".to_string(), d("1000000"))]));
    venue.leverage = Some(d("2"));
    venue.taker_fee = Some(d(TAKER));
    venue.unknown_brackets = UnknownBrackets::Generic;
    let params = toml::Value::Table(toml::from_str(params).unwrap());
    let mut s = RunSpec::new(
        (0..K).map(|k| id(k).to_string()).collect(),
        venue,
        StrategySpec { name: strategy.into(), params },
    );
    s.bar_types = (0..K).map(bar_type).collect();
    s
}

fn tmp(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("alphalab-universe-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// The targets of instrument `k`: `(minute, target)`; quantities with more decimals than the
/// step (rounded down), a flip, a change exactly at the 01:00 funding settlement, a close.
fn targets_of(k: usize) -> Vec<(u64, Decimal)> {
    let notional = |n: i64, m: u64| Decimal::from(n) / close(k, m - 1) + d("0.00009");
    let mut v = vec![(5 + k as u64, notional(10_000, 5 + k as u64)), (30 + k as u64, -notional(15_000, 30 + k as u64))];
    v.push((60, notional(8_000, 60)));
    if k.is_multiple_of(2) {
        v.push((150 - k as u64, Decimal::ZERO));
    }
    v
}

fn sign(x: Decimal) -> Decimal {
    if x.is_sign_negative() { Decimal::NEGATIVE_ONE } else { Decimal::ONE }
}

/// Rounds `q` toward zero to `dp` decimals (the execution's rounding to the step).
fn step_down(q: Decimal, dp: u8) -> Decimal {
    q.round_dp_with_strategy(u32::from(dp), rust_decimal::RoundingStrategy::ToZero)
}

/// The independent ledger of instrument `k`: its fills `(minute, qty, price)` and PnL, fees
/// and funding, from the targets, the closes and the funding rates alone.
struct Expected {
    fills: Vec<(u64, Decimal, Decimal)>,
    /// Σ −qty × price + position × last close: realised + unrealised whatever the cost basis.
    trading_pnl: Decimal,
    /// Realised on the average cost, computed here step by step.
    realized: Decimal,
    fees: Decimal,
    funding: Decimal,
    position: Decimal,
}

fn expected(k: usize) -> Expected {
    let (_, sdp) = precisions(k);
    let mut fills = Vec::new();
    let mut pos = Decimal::ZERO;
    for (m, target) in targets_of(k) {
        let delta = step_down(target, sdp) - pos;
        if !delta.is_zero() {
            fills.push((m, delta, close(k, m - 1)));
            pos += delta;
        }
    }
    let position_at = |minute: u64| fills.iter().filter(|f| f.0 < minute).map(|f| f.1).sum::<Decimal>();
    let funding: Decimal = funding()
        .iter()
        .filter(|f| f.instrument_id == id(k))
        .map(|f| {
            let minute = (f.ts.as_u64() - T0) / M;
            -position_at(minute) * close(k, minute - 1) * f.rate
        })
        .sum();
    let (mut q, mut avg, mut realized) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for &(_, x, p) in &fills {
        if q.is_zero() || (q > Decimal::ZERO) == (x > Decimal::ZERO) {
            avg = (avg * q.abs() + p * x.abs()) / (q + x).abs();
        } else {
            let closed = x.abs().min(q.abs());
            realized += closed * (p - avg) * sign(q);
            if sign(q + x) != sign(q) && !(q + x).is_zero() {
                avg = p;
            }
        }
        q += x;
    }
    let last = close(k, N - 1);
    Expected {
        trading_pnl: fills.iter().map(|f| -f.1 * f.2).sum::<Decimal>() + pos * last,
        realized,
        fees: fills.iter().map(|f| (f.1 * f.2).abs() * d(TAKER)).sum(),
        funding,
        position: pos,
        fills,
    }
}

#[test]
fn targets_from_file_over_twenty_perps_matches_an_independent_ledger() {
    let dir = tmp("targets");
    let mut csv = String::from("ts,instrument_id,target\n");
    for k in 0..K {
        for (m, q) in targets_of(k) {
            csv += &format!("{},{},{q}\n", T0 + m * M, id(k));
        }
    }
    let file = dir.join("targets.csv");
    std::fs::write(&file, csv).unwrap();
    let mut s = spec("targets-from-file", &format!("path = {:?}", file.to_str().unwrap()));
    s.output = Some(dir.join("out"));
    let r = run_inputs(&s, &inputs(|_, _| false), &Registry::with_baselines(), RunOptions::default()).unwrap();
    assert!(r.skips.is_empty() && r.rejections.is_empty(), "{:?} {:?}", r.skips, r.rejections);
    let by_id: BTreeMap<&str, &backtest::attribution::AttributionRow> =
        r.attribution.iter().map(|a| (a.instrument_id.as_str(), a)).collect();
    assert_eq!(by_id.len(), K);
    let mut total = Decimal::ZERO;
    for k in 0..K {
        let e = expected(k);
        let name = id(k).to_string();
        let got: Vec<(u64, Decimal, Decimal)> =
            r.fills.iter().filter(|f| f.instrument_id == name).map(|f| ((f.ts - T0) / M, f.qty, f.price)).collect();
        assert_eq!(got, e.fills, "{name} fills");
        let a = by_id[name.as_str()];
        assert_eq!(a.realized_pnl + a.unrealized_pnl, e.trading_pnl, "{name} trading PnL");
        assert_eq!(a.realized_pnl, e.realized, "{name} realised");
        assert_eq!((a.fees, a.funding, a.position), (e.fees, e.funding, e.position), "{name} fees, funding");
        assert_eq!(a.net_pnl, e.trading_pnl - e.fees + e.funding, "{name} net");
        assert_eq!(a.last_price, close(k, N - 1));
        total += a.net_pnl;
        assert_eq!(r.positions[&name], e.position);
    }
    // funding was paid and received (some rates negative), and it all adds up to the equity
    assert!(
        r.attribution.iter().any(|a| a.funding > Decimal::ZERO)
            && r.attribution.iter().any(|a| a.funding < Decimal::ZERO)
    );
    assert_eq!(r.stats.final_equity - r.stats.initial_equity, total);
    // the files: attribution as computed, the daily table ending with the same rows
    write_results(&dir.join("out"), &s, &r).unwrap();
    let text = std::fs::read_to_string(dir.join("out/attribution.csv")).unwrap();
    assert_eq!(
        text.lines().next().unwrap(),
        "ts,instrument_id,position,last_price,realized_pnl,unrealized_pnl,fees,funding,liquidation_fees,insurance,net_pnl,traded_notional,fills"
    );
    assert_eq!(text.lines().count(), K + 1);
    assert!(dir.join("out/attribution.parquet").exists() && dir.join("out/instrument_pnl.parquet").exists());
    assert_eq!(r.instrument_pnl[r.instrument_pnl.len() - K..], r.attribution[..]);
    // exposure and open positions on the curve: the 10 odd instruments still hold at the end
    let last = r.equity.last().unwrap();
    assert_eq!(last.open_positions, K / 2);
    let net: Decimal = (0..K).map(|k| expected(k).position * close(k, N - 1)).sum();
    assert_eq!(last.net_exposure, net);
    assert!(last.gross_exposure >= net.abs() && last.gross_exposure > Decimal::ZERO);
    let _ = std::fs::remove_dir_all(dir);
}

/// What the hook saw: `(slice ts, ctx.now, present, missing, events seen at ts, latest event ts)`.
type SliceSeen = (u64, u64, Vec<usize>, Vec<usize>, usize, u64);

thread_local! {
    static SLICES: RefCell<Vec<SliceSeen>> = const { RefCell::new(Vec::new()) };
    static TARGET_CALLS: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Records every slice; at 00:30 targets 1,000 USDT of every present instrument.
#[derive(Debug, Default)]
struct SliceRecorder {
    events_at: BTreeMap<u64, usize>,
    latest: u64,
    pending: Vec<Target>,
}

fn index(id: &InstrumentId) -> usize {
    id.symbol.as_str()[1..3].parse().unwrap()
}

impl Alpha for SliceRecorder {
    fn on_event(&mut self, ev: &MarketEvent<'_>, _ctx: &Context) -> AlphaResult<()> {
        if matches!(ev, MarketEvent::Bar(_)) {
            *self.events_at.entry(ev.ts_init().as_u64()).or_default() += 1;
            self.latest = self.latest.max(ev.ts_init().as_u64());
        }
        Ok(())
    }

    fn schedule(&self) -> Schedule {
        Schedule::EveryTimestamp
    }

    fn on_timestamp(&mut self, slice: &Slice<'_>, ctx: &Context) -> AlphaResult<()> {
        let ts = slice.ts.as_u64();
        let seen = (
            ts,
            ctx.now.as_u64(),
            slice.present.iter().map(index).collect(),
            slice.missing.iter().map(index).collect(),
            self.events_at.get(&ts).copied().unwrap_or_default(),
            self.latest,
        );
        SLICES.with(|s| s.borrow_mut().push(seen));
        if ts == T0 + 30 * M {
            self.pending = slice.present.iter().filter_map(|id| ctx.target_fraction(*id, d("0.001"))).collect();
        }
        Ok(())
    }

    fn targets(&mut self, ctx: &Context) -> AlphaResult<Vec<Target>> {
        TARGET_CALLS.with(|t| t.borrow_mut().push(ctx.now.as_u64()));
        Ok(std::mem::take(&mut self.pending))
    }
}

#[test]
fn the_timestamp_hook_fires_once_per_timestamp_after_all_its_events() {
    // Instrument k has no bar when i % (k + 3) == 1 (k < 5); instrument 19 lists at minute 90.
    let skip = |k: usize, i: u64| (k < 5 && i % (k as u64 + 3) == 1) || (k == 19 && i < 89);
    let mut reg = Registry::with_baselines();
    reg.register("slices", |_| Ok(Box::new(SliceRecorder::default())));
    let s = spec("slices", "");
    let opts = RunOptions { record_deliveries: true, ..RunOptions::default() };
    let r = run_inputs(&s, &inputs(skip), &reg, opts).unwrap();
    let slices = SLICES.with(|s| s.borrow().clone());
    // one call per bar close, in order (the funding settlements at 01:00 and 02:00 split the run
    // into chunks: the timestamps before them still close once)
    let expected_ts: Vec<u64> = (1..=N).map(|m| T0 + m * M).collect();
    assert_eq!(slices.iter().map(|s| s.0).collect::<Vec<_>>(), expected_ts);
    for (ts, now, present, missing, events, latest) in &slices {
        let i = (ts - T0) / M - 1;
        let want: Vec<usize> = (0..K).filter(|k| !skip(*k, i)).collect();
        let absent: Vec<usize> = (0..K).filter(|k| skip(*k, i)).collect();
        assert_eq!((now, present, missing), (ts, &want, &absent), "slice at minute {}", i + 1);
        // every bar of `ts` was delivered before, none of a later timestamp
        assert_eq!((*events, *latest), (want.len(), *ts), "events at minute {}", i + 1);
    }
    // targets asked once per timestamp, at it
    assert_eq!(TARGET_CALLS.with(|t| t.borrow().clone()), expected_ts);
    assert_eq!(r.deliveries.iter().filter(|x| x.kind == "timestamp").count(), N as usize);
    // the orders decided at 00:30 went out together and filled at 00:30's closes
    let at30: Vec<(usize, u64, Decimal)> =
        r.fills.iter().map(|f| (index(&InstrumentId::from(f.instrument_id.as_str())), f.ts, f.price)).collect();
    let want: Vec<(usize, u64, Decimal)> =
        (0..K).filter(|k| !skip(*k, 29)).map(|k| (k, T0 + 30 * M, close(k, 29))).collect();
    assert_eq!(at30.iter().copied().collect::<BTreeSet<_>>(), want.into_iter().collect::<BTreeSet<_>>());
}

/// Targets every instrument it has seen: 1,000 USDT worth at its first price, on every event.
#[derive(Debug, Default)]
struct HoldEverything(BTreeMap<InstrumentId, Decimal>);

impl Alpha for HoldEverything {
    fn on_event(&mut self, ev: &MarketEvent<'_>, ctx: &Context) -> AlphaResult<()> {
        if let Some(id) = ev.instrument_id()
            && let Some(px) = ctx.last_price(&id)
        {
            self.0.entry(id).or_insert_with(|| Decimal::from(1000) / px);
        }
        Ok(())
    }

    fn targets(&mut self, _ctx: &Context) -> AlphaResult<Vec<Target>> {
        Ok(self.0.iter().map(|(id, q)| Target { instrument_id: *id, quantity: *q }).collect())
    }
}

#[test]
fn a_delisted_perp_is_settled_at_its_price_and_never_traded_again() {
    let mut reg = Registry::with_baselines();
    reg.register("hold", |_| Ok(Box::new(HoldEverything::default())));
    let mut s = spec("hold", "");
    // 3: at the close of the bar ending then (default price); 7: at a price of its own
    s.delistings = vec![
        Delisting { instrument_id: id(3).to_string(), at: "2025-01-01T01:40:00Z".into(), settlement_price: None },
        Delisting {
            instrument_id: id(7).to_string(),
            at: "2025-01-01T02:10:00Z".into(),
            settlement_price: Some(d("1.23456")),
        },
    ];
    // bars go on after the delisting: the Alpha still sees them and still wants its position
    let r = run_inputs(&s, &inputs(|_, _| false), &reg, RunOptions::default()).unwrap();
    for (k, minute, price) in [(3usize, 100u64, close(3, 99)), (7, 130, d("1.23456"))] {
        let name = id(k).to_string();
        let fills: Vec<_> = r.fills.iter().filter(|f| f.instrument_id == name).collect();
        let opened = fills[0].qty;
        assert_eq!(fills.len(), 2, "{fills:?}");
        let f = fills[1];
        assert_eq!(
            (f.ts, f.qty, f.price, f.liquidity.as_str(), f.client_order_id.to_string(), f.position_after),
            (T0 + minute * M, -opened, price, "Delisting", format!("DELISTING-{name}"), Decimal::ZERO),
            "{name}"
        );
        // settled without a fee; afterwards only the engine's own close of the position goes out
        assert_eq!(f.commission, Decimal::ZERO);
        let after: Vec<_> = r.orders.iter().filter(|o| o.instrument_id == name && o.ts >= T0 + minute * M).collect();
        assert_eq!(after.len(), 1, "{after:?}");
        assert_eq!((after[0].order_type.as_str(), after[0].qty), ("DELISTING", opened.abs()));
        assert_eq!(r.positions[&name], Decimal::ZERO);
        let skips: Vec<_> = r.skips.iter().filter(|x| x.instrument_id == name).collect();
        assert_eq!(skips.len(), 1, "{skips:?}");
        assert_eq!((skips[0].ts, skips[0].reason.as_str()), (T0 + minute * M, "delisted: no order is sent any more"));
        let a = r.attribution.iter().find(|a| a.instrument_id == name).unwrap();
        assert_eq!((a.position, a.unrealized_pnl), (Decimal::ZERO, Decimal::ZERO));
        assert_eq!(a.realized_pnl, opened * (price - fills[0].price));
    }
    // the others hold to the end
    assert_eq!(r.positions.values().filter(|q| !q.is_zero()).count(), K - 2);
    let delisted: BTreeSet<String> =
        r.fills.iter().filter(|f| f.liquidity == "Delisting").map(|f| f.instrument_id.to_string()).collect();
    assert_eq!(delisted, BTreeSet::from([id(3).to_string(), id(7).to_string()]));
}

#[test]
fn a_delisting_of_an_instrument_not_in_the_run_is_refused() {
    let mut s = spec("equal-weight", "");
    s.delistings = vec![Delisting {
        instrument_id: "NOPE-PERP.BINANCE".into(),
        at: "2025-01-01T01:00:00Z".into(),
        settlement_price: None,
    }];
    let err = run_inputs(&s, &inputs(|_, _| false), &Registry::with_baselines(), RunOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), "delistings[0]: NOPE-PERP.BINANCE is not in `instruments`");
}

#[test]
fn equal_weight_rebalances_on_the_hour_to_equal_notionals() {
    let s = spec("equal-weight", "every_seconds = 3600\ngross = \"0.5\"");
    let r: RunResult =
        run_inputs(&s, &inputs(|_, _| false), &Registry::with_baselines(), RunOptions::default()).unwrap();
    // orders only at the first timestamp (00:01) and at each hour after (01:00, 02:00, 03:00)
    let times: BTreeSet<u64> = r.orders.iter().map(|o| (o.ts - T0) / M).collect();
    assert_eq!(times, BTreeSet::from([1, 60, 120, 180]));
    // after the first rebalance every position is worth equity × 0.5 / 20 = 25,000 USDT, less
    // than one step (rounded down)
    for k in 0..K {
        let name = id(k).to_string();
        let f = r.fills.iter().find(|f| f.instrument_id == name && f.ts == T0 + M).unwrap();
        let (_, sdp) = precisions(k);
        assert_eq!(f.qty, step_down(d("25000") / close(k, 0), sdp), "{name}");
    }
}

#[test]
fn a_delisting_in_the_catalog_is_an_instrument_close() {
    use data::{batch::Batch, catalog::Catalog};
    use nautilus_model::{data::InstrumentClose, enums::InstrumentCloseType};
    let dir = tmp("catalog");
    let cat_dir = dir.join("catalog");
    {
        let mut cat = Catalog::open(&cat_dir).unwrap();
        cat.write(Batch::Instruments(universe()[..2].to_vec())).unwrap();
        for k in 0..2 {
            let b: Vec<Bar> =
                bars(k, |_| false).into_iter().map(|x| if let Data::Bar(b) = x { b } else { unreachable!() }).collect();
            cat.write(Batch::Bars(b)).unwrap();
        }
        // what the data side writes for a delisted symbol: U01 stops at 00:50, settled at 149.99
        let ts = UnixNanos::from(T0 + 50 * M);
        let close = InstrumentClose::new(id(1), Price::from("149.99"), InstrumentCloseType::ContractExpired, ts, ts);
        cat.inner().write_to_parquet(vec![close], None, None, None).unwrap();
    }
    let mut s = spec("equal-weight", "every_seconds = 600\ngross = \"0.2\"");
    s.instruments.truncate(2);
    s.bar_types.truncate(2);
    s.funding = false;
    s.catalog = cat_dir;
    let r = backtest::engine::run(&s, &Registry::with_baselines(), RunOptions::default()).unwrap();
    let f = r.fills.iter().find(|f| f.liquidity == "Delisting").unwrap();
    let held =
        r.fills.iter().filter(|x| x.instrument_id == f.instrument_id && x.ts < f.ts).map(|x| x.qty).sum::<Decimal>();
    assert_eq!(
        (f.instrument_id.as_str(), f.ts, f.price, f.qty),
        (id(1).to_string().as_str(), T0 + 50 * M, d("149.99"), -held)
    );
    assert!(held > Decimal::ZERO);
    // the equal-weight rebalances after it hold the one instrument left
    assert!(
        r.orders
            .iter()
            .filter(|o| o.instrument_id == id(1).to_string() && o.ts > T0 + 50 * M)
            .all(|o| o.order_type == "DELISTING")
    );
    assert!(r.fills.iter().any(|x| x.instrument_id == id(0).to_string() && x.ts == T0 + 60 * M));
    let _ = std::fs::remove_dir_all(dir);
}
