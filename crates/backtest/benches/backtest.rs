//! Backtest throughput: a year of synthetic 1m bars (525,600; `ALPHALAB_BENCH_BARS` overrides)
//! run with buy-and-hold and a benchmark-only EMA-cross Alpha (events/s), on BTCUSDT spot alone
//! (`spot` venue) and on spot + BTCUSDT-PERP together (`usdm` venue, one venue per run), then a
//! 16-variant EMA sweep on 1 and 2 threads (speed-up).
//!
//! With `ALPHALAB_BENCH_PYTHON` naming a python with `nautilus_trader==1.227.0`, each scenario
//! is re-run right after the Rust run by `scripts/nautilus_py_backtest.py` (same bars, instruments,
//! venue and target-to-order logic on NautilusTrader Python's `BacktestEngine`): the bench prints
//! both events/s, the Rust/Python ratio, and whether the fills (ts, instrument, side, qty, price,
//! commission) are identical (or the first difference). A relative python path is taken from
//! the workspace root if it does not exist from the bench's working directory.
//!
//! Full measurement (release-like `bench` profile):
//! `ALPHALAB_BENCH_PYTHON=target/nt-venv/bin/python cargo bench -p alphalab -p alphalab-backtest --bench backtest`
//! (listing both packages keeps the feature set, and so the build, of the other benches).
//! Quick functional check in dev (numbers meaningless, fills must match):
//! `ALPHALAB_BENCH_BARS=3000 ALPHALAB_BENCH_PYTHON=target/nt-venv/bin/python cargo bench --profile dev -p alphalab-backtest --bench backtest`.
//! Python venv: `PYENV_VERSION=3.12.1 python3.12 -m venv target/nt-venv && target/nt-venv/bin/pip install nautilus_trader==1.227.0`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::{collections::BTreeMap, path::Path, process::Command, str::FromStr, sync::Arc, time::Instant};

use backtest::{
    alpha::{Alpha, AlphaResult, Context, MarketEvent, Target},
    engine::{RunOptions, run_inputs},
    inputs::Inputs,
    recorder::Fill,
    registry::Registry,
    spec::{RunSpec, StrategySpec},
    sweep::{SweepSpec, run_sweep_inputs},
    venue::{VenueKind, VenueSpec},
};
use nautilus_common::logging::{init_logging, logger::LoggerConfig, writer::FileWriterConfig};
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{Bar, BarType, Data},
    identifiers::InstrumentId,
    instruments::{Instrument, InstrumentAny},
    types::{Price, Quantity},
};
use rust_decimal::Decimal;
use serde::Deserialize;

const T0: u64 = 1_735_689_600_000_000_000; // 2025-01-01T00:00:00Z
const M: u64 = 60_000_000_000;
const ID: &str = "BTCUSDT.BINANCE";
const BT: &str = "BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL";
const PERP: &str = "BTCUSDT-PERP.BINANCE";
const PERP_BT: &str = "BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL";

fn ids(v: &[String]) -> anyhow::Result<Vec<InstrumentId>> {
    v.iter().map(|s| InstrumentId::from_str(s).map_err(|e| anyhow::anyhow!("{s}: {e}"))).collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmaParams {
    fast: u32,
    slow: u32,
    qty: Decimal,
    #[serde(default = "spot_only")]
    instruments: Vec<String>,
}

fn spot_only() -> Vec<String> {
    vec![ID.into()]
}

/// Per instrument: long `qty` while EMA(fast) > EMA(slow) of its close, flat otherwise
/// (benchmark only; mirrored by `EmaCross` in scripts/nautilus_py_backtest.py).
#[derive(Debug)]
struct EmaCross {
    a_fast: f64,
    a_slow: f64,
    qty: Decimal,
    /// (instrument, EMA fast, EMA slow, target once a bar was seen), in params order.
    state: Vec<(InstrumentId, f64, f64, Option<Decimal>)>,
}

impl EmaCross {
    fn from_params(v: &toml::Value) -> AlphaResult<Box<dyn Alpha>> {
        let p: EmaParams = v.clone().try_into()?;
        if p.fast == 0 || p.slow <= p.fast {
            return Err("need 0 < fast < slow".into());
        }
        let a = |n: u32| 2.0 / (f64::from(n) + 1.0);
        let state = ids(&p.instruments)?.into_iter().map(|id| (id, 0.0, 0.0, None)).collect();
        Ok(Box::new(Self { a_fast: a(p.fast), a_slow: a(p.slow), qty: p.qty, state }))
    }
}

impl Alpha for EmaCross {
    fn on_event(&mut self, ev: &MarketEvent<'_>, _ctx: &Context) -> AlphaResult<()> {
        if let MarketEvent::Bar(b) = ev {
            let id = b.bar_type.instrument_id();
            if let Some((_, f, s, t)) = self.state.iter_mut().find(|x| x.0 == id) {
                let c = b.close.as_f64();
                if t.is_none() {
                    (*f, *s) = (c, c);
                } else {
                    *f += self.a_fast * (c - *f);
                    *s += self.a_slow * (c - *s);
                }
                *t = Some(if *f > *s { self.qty } else { Decimal::ZERO });
            }
        }
        Ok(())
    }

    fn targets(&mut self, _ctx: &Context) -> AlphaResult<Vec<Target>> {
        Ok(self.state.iter().filter_map(|x| x.3.map(|q| Target { instrument_id: x.0, quantity: q })).collect())
    }
}

/// Buy-and-hold of several instruments: each target from the instrument's first price on
/// (params `targets = [["ID", "qty"], ...]`; mirrored by `Hold` in the Python script).
#[derive(Debug)]
struct HoldAll(Vec<(InstrumentId, Decimal, bool)>);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldParams {
    targets: Vec<(String, Decimal)>,
}

impl HoldAll {
    fn from_params(v: &toml::Value) -> AlphaResult<Box<dyn Alpha>> {
        let p: HoldParams = v.clone().try_into()?;
        let ids = ids(&p.targets.iter().map(|t| t.0.clone()).collect::<Vec<_>>())?;
        Ok(Box::new(Self(ids.into_iter().zip(p.targets).map(|(id, t)| (id, t.1, false)).collect())))
    }
}

impl Alpha for HoldAll {
    fn on_event(&mut self, _ev: &MarketEvent<'_>, ctx: &Context) -> AlphaResult<()> {
        self.0.iter_mut().for_each(|x| x.2 |= ctx.last_price(&x.0).is_some());
        Ok(())
    }

    fn targets(&mut self, _ctx: &Context) -> AlphaResult<Vec<Target>> {
        Ok(self.0.iter().filter(|x| x.2).map(|x| Target { instrument_id: x.0, quantity: x.1 }).collect())
    }
}

fn perp() -> InstrumentAny {
    common::perp_btcusdt()
}

/// A deterministic random walk (xorshift64), bars stamped at their close: spot in cents, and
/// (with `perp`) the perp at the same walk in dimes + a basis of 4.0..=6.0 USDT. Volume 10:
/// each bar quarter (2.5) covers a 0.5 order. 0.57 fills a market order only up to the L1
/// quarter and leaves the rest open (its "exhausted book" branch never runs), where 1.227
/// fills the rest one tick worse: with less volume the engines' fills would differ.
fn synthetic(n: u64, with_perp: bool) -> Inputs {
    let (bt, pbt) = (BarType::from(BT), BarType::from(PERP_BT));
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let (mut cents, mut dimes): (i64, i64) = (6_000_000, 600_050); // 60000.00, 60005.0
    let (mut spot, mut perps) = (Vec::new(), Vec::new());
    let px = |v: i64, dp: u8| Price::from_decimal_dp(Decimal::new(v, u32::from(dp)), dp).expect("price");
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let open = cents;
        cents = (cents + (x % 2001) as i64 - 1000).max(100_000);
        let ts = UnixNanos::from(T0 + (i + 1) * M);
        let (hi, lo) = (open.max(cents) + 500, open.min(cents) - 500);
        let vol = Quantity::from("10.000000");
        spot.push(Data::Bar(Bar::new(bt, px(open, 2), px(hi, 2), px(lo, 2), px(cents, 2), vol, ts, ts)));
        if with_perp {
            let po = dimes;
            dimes = cents / 10 + 50 + ((x >> 40) % 21) as i64 - 10;
            let (hi, lo) = (po.max(dimes) + 50, po.min(dimes) - 50);
            let vol = Quantity::from("10.000");
            perps.push(Data::Bar(Bar::new(pbt, px(po, 1), px(hi, 1), px(lo, 1), px(dimes, 1), vol, ts, ts)));
        }
    }
    if with_perp {
        Inputs { instruments: vec![common::spot_btcusdt(None), perp()], streams: vec![spot, perps], funding: vec![] }
    } else {
        Inputs { instruments: vec![common::spot_btcusdt(None)], streams: vec![spot], funding: vec![] }
    }
}

fn spec(strategy: &str, params: &str, with_perp: bool) -> RunSpec {
    let (instruments, bar_types, kind) = if with_perp {
        (vec![ID.into(), PERP.into()], vec![BT.into(), PERP_BT.into()], VenueKind::Usdm)
    } else {
        (vec![ID.into()], vec![BT.into()], VenueKind::Spot)
    };
    let venue = VenueSpec::new(kind, BTreeMap::from([("USDT".to_string(), Decimal::from(10_000_000))]));
    let params = toml::Value::Table(toml::from_str(params).unwrap());
    let mut spec = RunSpec::new(instruments, venue, StrategySpec { name: strategy.into(), params });
    spec.bar_types = bar_types;
    spec.funding = false;
    spec
}

#[derive(Debug, Deserialize)]
struct PyRun {
    events: u64,
    seconds: f64,
    events_per_s: f64,
    /// (ts, instrument, side, qty, price, commission)
    fills: Vec<(u64, String, String, Decimal, Decimal, Decimal)>,
}

/// Runs scripts/nautilus_py_backtest.py with `python` and parses its JSON line; the
/// instruments' fees are the ones the Rust venue applies.
fn python_baseline(python: &str, n: u64, strategy: &str, spec: &RunSpec, inputs: &Inputs) -> anyhow::Result<PyRun> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let py =
        if Path::new(python).is_relative() && !Path::new(python).exists() { root.join(python) } else { python.into() };
    let mut cmd = Command::new(py);
    cmd.arg(root.join("scripts/nautilus_py_backtest.py")).arg(n.to_string()).arg(strategy);
    let mut fees = Vec::new();
    for i in &inputs.instruments {
        let i = spec.venue.apply_fees(i.clone())?;
        fees.extend([i.maker_fee().to_string(), i.taker_fee().to_string()]);
    }
    cmd.arg(format!("--fees={}", fees.join(",")));
    if inputs.instruments.len() > 1 {
        cmd.arg("--perp");
    }
    let out = cmd.output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(out.status.success(), "{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).ok_or_else(|| anyhow::anyhow!("no JSON line"))?;
    Ok(serde_json::from_str(line)?)
}

/// "fills identical: N", or the first difference.
fn compare_fills(rust: &[Fill], py: &[(u64, String, String, Decimal, Decimal, Decimal)]) -> String {
    for (k, (r, p)) in rust.iter().zip(py).enumerate() {
        let r_side = if r.qty.is_sign_negative() { "Sell" } else { "Buy" };
        if (r.ts, r.instrument_id.as_str(), r_side, r.qty.abs(), r.price, r.commission)
            != (p.0, p.1.as_str(), p.2.as_str(), p.3, p.4, p.5)
        {
            let rf = (r.ts, &r.instrument_id, r_side, r.qty.abs(), r.price, r.commission);
            return format!("fills DIFFER at #{k}: rust {rf:?} vs python {p:?}");
        }
    }
    if rust.len() == py.len() {
        format!("fills identical: {}", rust.len())
    } else {
        format!(
            "fills DIFFER in count: rust {} vs python {} (first {} equal)",
            rust.len(),
            py.len(),
            rust.len().min(py.len())
        )
    }
}

fn main() -> anyhow::Result<()> {
    // Quiet logger, held for the whole run: the engines reuse it (first config wins).
    let cfg = LoggerConfig::from_spec("stdout=Warn;is_colored=false")?;
    let _log = init_logging(Default::default(), Default::default(), cfg, FileWriterConfig::default())?;
    let n: u64 = std::env::var("ALPHALAB_BENCH_BARS").ok().map_or(Ok(525_600), |s| u64::from_str(&s))?;
    let python = std::env::var("ALPHALAB_BENCH_PYTHON").ok().filter(|s| !s.is_empty());
    let t = Instant::now();
    let inputs = Arc::new(synthetic(n, false));
    let both = Arc::new(synthetic(n, true));
    println!("built {n} synthetic 1m bars (spot, and spot + perp) in {:.2?}", t.elapsed());
    let mut reg = Registry::with_baselines();
    reg.register("ema-cross", EmaCross::from_params);
    reg.register("hold-all", HoldAll::from_params);

    let ema = "fast = 20\nslow = 100\nqty = \"0.5\"";
    let scenarios = [
        ("spot", "buy-and-hold", "buy-and-hold", format!("instrument_id = \"{ID}\"\nquantity = \"0.5\"")),
        ("spot", "ema-cross", "ema-cross", ema.to_string()),
        ("spot+perp", "buy-and-hold", "hold-all", format!("targets = [[\"{ID}\", \"0.5\"], [\"{PERP}\", \"-0.5\"]]")),
        ("spot+perp", "ema-cross", "ema-cross", format!("{ema}\ninstruments = [\"{ID}\", \"{PERP}\"]")),
    ];
    for (market, label, strategy, params) in scenarios {
        let with_perp = market == "spot+perp";
        let inp = if with_perp { (*both).clone() } else { (*inputs).clone() };
        let rs = spec(strategy, &params, with_perp);
        let t = Instant::now();
        let r = run_inputs(&rs, &inp, &reg, RunOptions::default())?;
        let s = t.elapsed().as_secs_f64();
        let rust_eps = r.iterations as f64 / s;
        println!(
            "{market:<9} {label:<12} rust   {:>8} events in {s:>7.2} s = {rust_eps:>10.0} events/s ({} fills, total return {:.4})",
            r.iterations,
            r.fills.len(),
            r.stats.total_return
        );
        let Some(py) = python.as_deref() else { continue };
        match python_baseline(py, n, label, &rs, if with_perp { &both } else { &inputs }) {
            Ok(p) => {
                println!(
                    "{market:<9} {label:<12} python {:>8} events in {:>7.2} s = {:>10.0} events/s; rust/python {:.2}x; {}",
                    p.events,
                    p.seconds,
                    p.events_per_s,
                    rust_eps / p.events_per_s,
                    compare_fills(&r.fills, &p.fills)
                );
            }
            Err(e) => println!("{market:<9} {label:<12} python baseline failed: {e:#}"),
        }
    }

    let grid = "fast = [5, 10, 20, 40]\nslow = [60, 120, 240, 480]\n";
    let sweep = SweepSpec {
        rank_by: "sharpe".into(),
        output: None,
        base: spec("ema-cross", "qty = \"0.5\"\nfast = 1\nslow = 2", false),
        grid: toml::from_str(grid)?,
        walk_forward: None,
    };
    let mut times = Vec::new();
    for threads in [1usize, 2] {
        let t = Instant::now();
        let r = run_sweep_inputs(&sweep, inputs.clone(), &reg, threads, None)?;
        let s = t.elapsed().as_secs_f64();
        let events: usize = r.ranking.iter().map(|o| o.iterations).sum();
        anyhow::ensure!(r.failures() == 0, "sweep variants failed: {:?}", r.ranking.iter().find(|o| o.error.is_some()));
        println!(
            "sweep 16 EMA sets on {threads} thread(s): {s:.2} s, {:>10.0} events/s; best {:?} sharpe {:.3}",
            events as f64 / s,
            r.ranking[0].grid.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
            r.ranking[0].stats.as_ref().and_then(|x| x.sharpe).unwrap_or(f64::NAN)
        );
        times.push(s);
    }
    println!("sweep speed-up 2 threads vs 1: {:.2}x", times[0] / times[1]);
    Ok(())
}
