//! Backtest throughput: a year of synthetic 1m bars (525,600; `ALPHALAB_BENCH_BARS` overrides)
//! for BTCUSDT spot, run with buy-and-hold and a benchmark-only EMA-cross Alpha (events/s),
//! then a 16-variant EMA sweep on 1 and 2 threads (speed-up).
//!
//! `cargo bench -p alphalab-backtest --bench backtest` (release-like `bench` profile).
//! Quick functional check in dev (numbers meaningless):
//! `ALPHALAB_BENCH_BARS=3000 cargo bench --profile dev -p alphalab-backtest --bench backtest`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::{collections::BTreeMap, path::PathBuf, str::FromStr, sync::Arc, time::Instant};

use backtest::{
    alpha::{Alpha, Context, MarketEvent, Target},
    run::{Inputs, Registry, RunSpec, StrategySpec, run_inputs},
    sweep::{SweepSpec, run_sweep_inputs},
    venue::{VenueKind, VenueSpec},
};
use nautilus_common::logging::{init_logging, logger::LoggerConfig, writer::FileWriterConfig};
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{Bar, BarType, Data},
    identifiers::InstrumentId,
    instruments::InstrumentAny,
    types::{Price, Quantity},
};
use rust_decimal::Decimal;
use serde::Deserialize;

const T0: u64 = 1_735_689_600_000_000_000; // 2025-01-01T00:00:00Z
const M: u64 = 60_000_000_000;
const ID: &str = "BTCUSDT.BINANCE";
const BT: &str = "BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmaParams {
    fast: u32,
    slow: u32,
    qty: Decimal,
}

/// Long `qty` while EMA(fast) > EMA(slow) of the close, flat otherwise (benchmark only).
#[derive(Debug)]
struct EmaCross {
    id: InstrumentId,
    a_fast: f64,
    a_slow: f64,
    fast: Option<f64>,
    slow: Option<f64>,
    qty: Decimal,
    target: Decimal,
}

impl EmaCross {
    fn from_params(v: &toml::Value) -> anyhow::Result<Box<dyn Alpha>> {
        let p: EmaParams = v.clone().try_into()?;
        anyhow::ensure!(p.fast > 0 && p.slow > p.fast, "need 0 < fast < slow");
        let a = |n: u32| 2.0 / (f64::from(n) + 1.0);
        Ok(Box::new(Self {
            id: InstrumentId::from(ID),
            a_fast: a(p.fast),
            a_slow: a(p.slow),
            fast: None,
            slow: None,
            qty: p.qty,
            target: Decimal::ZERO,
        }))
    }
}

impl Alpha for EmaCross {
    fn on_event(&mut self, ev: &MarketEvent<'_>, _ctx: &Context) -> anyhow::Result<()> {
        if let MarketEvent::Bar(b) = ev {
            let c = b.close.as_f64();
            let upd = |e: Option<f64>, a: f64| Some(e.map_or(c, |e| e + a * (c - e)));
            self.fast = upd(self.fast, self.a_fast);
            self.slow = upd(self.slow, self.a_slow);
            if let (Some(f), Some(s)) = (self.fast, self.slow) {
                self.target = if f > s { self.qty } else { Decimal::ZERO };
            }
        }
        Ok(())
    }

    fn targets(&mut self, _ctx: &Context) -> anyhow::Result<Vec<Target>> {
        Ok(vec![Target { instrument_id: self.id, quantity: self.target }])
    }
}

fn spot() -> InstrumentAny {
    common::spot_btcusdt(None)
}

/// A deterministic random walk (xorshift), bars stamped at their close.
fn inputs(n: u64) -> Inputs {
    let bt = BarType::from(BT);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut cents: i64 = 6_000_000; // 60000.00
    let bars = (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let open = cents;
            cents = (cents + (x % 2001) as i64 - 1000).max(100_000);
            let (hi, lo) = (open.max(cents) + 500, open.min(cents) - 500);
            let p = |c: i64| Price::from_decimal_dp(Decimal::new(c, 2), 2).expect("price");
            let ts = UnixNanos::from(T0 + (i + 1) * M);
            Data::Bar(Bar::new(bt, p(open), p(hi), p(lo), p(cents), Quantity::from("1.500000"), ts, ts))
        })
        .collect();
    Inputs { instruments: vec![spot()], streams: vec![bars], funding: vec![] }
}

fn spec(strategy: &str, params: &str) -> RunSpec {
    RunSpec {
        catalog: PathBuf::from("unused"),
        instruments: vec![ID.into()],
        bar_types: vec![BT.into()],
        custom_types: vec![],
        funding: false,
        start: None,
        end: None,
        venue: VenueSpec::new(VenueKind::Spot, BTreeMap::from([("USDT".to_string(), Decimal::from(100_000))])),
        rebalance_threshold: Decimal::ZERO,
        reporting_currency: "USDT".into(),
        strategy: StrategySpec { name: strategy.into(), params: toml::Value::Table(toml::from_str(params).unwrap()) },
        output: None,
    }
}

fn main() -> anyhow::Result<()> {
    // Quiet logger, held for the whole run: the engines reuse it (first config wins).
    let cfg = LoggerConfig::from_spec("stdout=Warn;is_colored=false")?;
    let _log = init_logging(Default::default(), Default::default(), cfg, FileWriterConfig::default())?;
    let n: u64 = std::env::var("ALPHALAB_BENCH_BARS").ok().map_or(Ok(525_600), |s| u64::from_str(&s))?;
    let t = Instant::now();
    let inputs = Arc::new(inputs(n));
    println!("built {n} synthetic 1m bars in {:.2?}", t.elapsed());
    let mut reg = Registry::with_baselines();
    reg.register("ema-cross", EmaCross::from_params);

    for (name, params) in [
        ("buy-and-hold", format!("instrument_id = \"{ID}\"\nquantity = \"0.5\"")),
        ("ema-cross", "fast = 20\nslow = 100\nqty = \"0.5\"".to_string()),
    ] {
        let inp = (*inputs).clone();
        let t = Instant::now();
        let r = run_inputs(&spec(name, &params), inp, &reg)?;
        let s = t.elapsed().as_secs_f64();
        println!(
            "{name:<12} {} events in {s:.2} s = {:>10.0} events/s ({} fills, total return {:.4})",
            r.iterations,
            r.iterations as f64 / s,
            r.fills.len(),
            r.stats.total_return
        );
    }

    let grid = "fast = [5, 10, 20, 40]\nslow = [60, 120, 240, 480]\n";
    let sweep = SweepSpec {
        rank_by: "sharpe".into(),
        output: None,
        base: spec("ema-cross", "qty = \"0.5\"\nfast = 1\nslow = 2"),
        grid: toml::from_str(grid)?,
        walk_forward: None,
    };
    let mut times = Vec::new();
    for threads in [1usize, 2] {
        let t = Instant::now();
        let r = run_sweep_inputs(&sweep, inputs.clone(), &reg, threads)?;
        let s = t.elapsed().as_secs_f64();
        let events: usize = r.ranking.iter().map(|o| o.iterations).sum();
        anyhow::ensure!(r.failures() == 0, "sweep variants failed: {:?}", r.ranking.iter().find(|o| o.error.is_some()));
        println!(
            "sweep 16 EMA sets on {threads} thread(s): {s:.2} s, {:>10.0} events/s; best {:?} sharpe {:.3}",
            events as f64 / s,
            r.ranking[0].grid.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            r.ranking[0].stats.as_ref().map_or(f64::NAN, |x| x.sharpe)
        );
        times.push(s);
    }
    println!("sweep speed-up 2 threads vs 1: {:.2}x", times[0] / times[1]);
    Ok(())
}
