//! Backtest throughput (docs/BENCHMARKS.md): a year of synthetic 1m bars (525,600;
//! `ALPHALAB_BENCH_BARS` overrides), every scenario in a child process of its own (peak RSS per
//! scenario; the whole run as a user's `backtest` runs it: engine, strategy, results, stats).
//!
//! - `fills`: spot, a target flipped between 0.5 BTC and flat every K bars (K = never, 50, 15, 5:
//!   1, 10,512, 35,040 and 105,120 fills): events/s must not fall with the fills.
//! - `ema`: the EMA(10/30) cross of NautilusTrader's own example, spot and spot + perp, against
//!   NautilusTrader Python 1.227.0 on the same bars in the same run (both logging at WARNING),
//!   fills compared one by one.
//! - `sweep`: 16 EMA variants on 1 and 2 threads over data loaded once and shared, and the time
//!   spent loading: once for the sweep against once per variant.
//!
//! `ALPHALAB_BENCH_PYTHON` names a python with `nautilus_trader==1.227.0` (a relative path is
//! taken from the workspace root); without it the Python columns are skipped.
//!
//! Full measurement (release-like `bench` profile; listing both packages keeps the feature set,
//! and so the build, of the other benches):
//! `ALPHALAB_BENCH_PYTHON=target/nt-venv/bin/python cargo bench -p alphalab -p alphalab-backtest --bench backtest`
//! One group: `... --bench backtest -- fills` (or `ema`, `sweep`). Quick check in dev (numbers
//! meaningless, fills must match): `ALPHALAB_BENCH_BARS=3000 ... cargo bench --profile dev ...`.
//! Python venv: `PYENV_VERSION=3.12.1 python3.12 -m venv target/nt-venv && target/nt-venv/bin/pip install nautilus_trader==1.227.0`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    str::FromStr,
    sync::Arc,
    time::Instant,
};

use backtest::{
    alpha::{Alpha, AlphaResult, Context, MarketEvent, Target},
    engine::{RunOptions, run, run_inputs},
    inputs::Inputs,
    recorder::Fill,
    registry::Registry,
    spec::{RunSpec, StrategySpec},
    sweep::{SweepSpec, load_shared, run_sweep_inputs},
    venue::{VenueKind, VenueSpec},
};
use data::{batch::Batch, catalog::Catalog};
use nautilus_common::logging::{init_logging, logger::LoggerConfig, writer::FileWriterConfig};
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{Bar, BarType, Data},
    identifiers::InstrumentId,
    instruments::Instrument,
    types::{Price, Quantity},
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

const T0: u64 = 1_735_689_600_000_000_000; // 2025-01-01T00:00:00Z
const M: u64 = 60_000_000_000;
const ID: &str = "BTCUSDT.BINANCE";
const BT: &str = "BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL";
const PERP: &str = "BTCUSDT-PERP.BINANCE";
const PERP_BT: &str = "BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL";

fn ids(v: &[String]) -> AlphaResult<Vec<InstrumentId>> {
    v.iter().map(|s| InstrumentId::from_str(s).map_err(|e| format!("{s}: {e}").into())).collect()
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

/// Holds `qty` for `every` bars, then nothing for `every` bars, and so on (`every = 0`: holds
/// from the first bar on); mirrored by `Flip` in the Python script.
#[derive(Debug)]
struct Flip {
    every: u64,
    qty: Decimal,
    bars: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlipParams {
    every: u64,
    qty: Decimal,
}

impl Flip {
    fn from_params(v: &toml::Value) -> AlphaResult<Box<dyn Alpha>> {
        let p: FlipParams = v.clone().try_into()?;
        Ok(Box::new(Self { every: p.every, qty: p.qty, bars: 0 }))
    }
}

impl Alpha for Flip {
    fn on_event(&mut self, ev: &MarketEvent<'_>, _ctx: &Context) -> AlphaResult<()> {
        if matches!(ev, MarketEvent::Bar(_)) {
            self.bars += 1;
        }
        Ok(())
    }

    fn targets(&mut self, _ctx: &Context) -> AlphaResult<Vec<Target>> {
        let on = self.every == 0 || ((self.bars - 1) / self.every).is_multiple_of(2);
        let q = if on { self.qty } else { Decimal::ZERO };
        Ok(vec![Target { instrument_id: InstrumentId::from(ID), quantity: q }])
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

fn registry() -> Registry {
    let mut reg = Registry::with_baselines();
    reg.register("ema-cross", EmaCross::from_params);
    reg.register("hold-all", HoldAll::from_params);
    reg.register("flip", Flip::from_params);
    reg
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
        let instruments = vec![common::spot_btcusdt(None), common::perp_btcusdt()];
        Inputs { instruments, streams: vec![spot, perps], funding: vec![] }
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
    let params = toml::Value::Table(toml::from_str(params).expect("params"));
    let mut spec = RunSpec::new(instruments, venue, StrategySpec { name: strategy.into(), params });
    spec.bar_types = bar_types;
    spec.funding = false;
    spec
}

/// One scenario's measurement, as the child process prints it.
#[derive(Debug, Serialize, Deserialize)]
struct Measured {
    events: u64,
    seconds: f64,
    fills: Vec<(u64, String, String, Decimal, Decimal, Decimal)>,
    peak_rss_mb: f64,
}

/// Peak resident set of this process (MB), from /proc.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next());
    kb.and_then(|k| k.parse::<f64>().ok()).unwrap_or(f64::NAN) / 1024.0
}

fn fill_rows(fills: &[Fill]) -> Vec<(u64, String, String, Decimal, Decimal, Decimal)> {
    fills
        .iter()
        .map(|f| {
            let side = if f.qty.is_sign_negative() { "Sell" } else { "Buy" };
            (f.ts, f.instrument_id.clone(), side.to_string(), f.qty.abs(), f.price, f.commission)
        })
        .collect()
}

fn bars() -> u64 {
    std::env::var("ALPHALAB_BENCH_BARS").ok().map_or(525_600, |s| s.parse().expect("ALPHALAB_BENCH_BARS"))
}

/// The scenarios: (group, name, strategy, params, with perp, python strategy args).
fn scenarios() -> Vec<(&'static str, String, &'static str, String, bool, Vec<String>)> {
    let mut v = Vec::new();
    for every in [0u64, 50, 15, 5] {
        let name = if every == 0 { "flip never".to_string() } else { format!("flip every {every}") };
        let params = format!("every = {every}\nqty = \"0.5\"");
        v.push(("fills", name, "flip", params, false, vec!["flip".into(), every.to_string()]));
    }
    let ema = "fast = 10\nslow = 30\nqty = \"0.5\"".to_string();
    let py_ema = vec!["ema-cross".to_string(), "10".into(), "30".into()];
    v.push(("ema", "ema 10/30 spot".into(), "ema-cross", ema.clone(), false, py_ema.clone()));
    let both = format!("{ema}\ninstruments = [\"{ID}\", \"{PERP}\"]");
    v.push(("ema", "ema 10/30 spot+perp".into(), "ema-cross", both, true, py_ema));
    v
}

/// Child: runs one scenario and prints its [`Measured`] as one JSON line.
fn child(name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let (_, _, strategy, params, with_perp, _) =
        scenarios().into_iter().find(|s| s.1 == name).ok_or_else(|| format!("no scenario {name:?}"))?;
    let inputs = synthetic(bars(), with_perp);
    let rs = spec(strategy, &params, with_perp);
    let t = Instant::now();
    let r = run_inputs(&rs, &inputs, &registry(), RunOptions::default())?;
    let seconds = t.elapsed().as_secs_f64();
    let m = Measured { events: r.iterations as u64, seconds, fills: fill_rows(&r.fills), peak_rss_mb: peak_rss_mb() };
    println!("{}", serde_json::to_string(&m)?);
    Ok(())
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs scripts/nautilus_py_backtest.py; the instruments' fees are the ones the Rust venue applies.
fn python(py: &str, args: &[String], with_perp: bool) -> Result<Measured, Box<dyn std::error::Error>> {
    let root = workspace();
    let py = if Path::new(py).is_relative() && !Path::new(py).exists() { root.join(py) } else { py.into() };
    let mut cmd = Command::new(py);
    cmd.arg(root.join("scripts/nautilus_py_backtest.py")).arg(bars().to_string()).args(args);
    let rs = spec("buy-and-hold", "instrument_id = \"BTCUSDT.BINANCE\"\nquantity = \"1\"", with_perp);
    let mut fees = Vec::new();
    for i in &synthetic(1, with_perp).instruments {
        let i = rs.venue.apply_fees(i.clone())?;
        fees.extend([i.maker_fee().to_string(), i.taker_fee().to_string()]);
    }
    cmd.arg(format!("--fees={}", fees.join(",")));
    if with_perp {
        cmd.arg("--perp");
    }
    parse(cmd.output()?)
}

fn parse(out: std::process::Output) -> Result<Measured, Box<dyn std::error::Error>> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()).into());
    }
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).ok_or("no JSON line")?;
    Ok(serde_json::from_str(line)?)
}

/// "identical (N)", or the first difference.
fn compare(rust: &Measured, py: &Measured) -> String {
    for (k, (r, p)) in rust.fills.iter().zip(&py.fills).enumerate() {
        if r != p {
            return format!("DIFFER at #{k}: rust {r:?} vs python {p:?}");
        }
    }
    if rust.fills.len() == py.fills.len() {
        format!("identical ({})", rust.fills.len())
    } else {
        format!("DIFFER in count: rust {} vs python {}", rust.fills.len(), py.fills.len())
    }
}

/// The 16-variant sweep on 1 and 2 threads over shared inputs, and the data loading it avoids.
fn sweep() -> Result<(), Box<dyn std::error::Error>> {
    let n = bars();
    let dir = workspace().join("target/bench-backtest/catalog");
    let _ = std::fs::remove_dir_all(&dir);
    {
        let mut cat = Catalog::open(&dir)?;
        let inputs = synthetic(n, false);
        cat.write(Batch::Instruments(inputs.instruments.clone()))?;
        let bars: Vec<Bar> =
            inputs.streams[0].iter().map(|d| if let Data::Bar(b) = d { *b } else { unreachable!() }).collect();
        cat.write(Batch::Bars(bars))?;
    }
    let mut base = spec("ema-cross", "qty = \"0.5\"\nfast = 1\nslow = 2", false);
    base.catalog = dir.clone();
    let grid = "fast = [5, 10, 20, 40]\nslow = [60, 120, 240, 480]\n";
    let sweep = SweepSpec {
        rank_by: "sharpe".into(),
        output: None,
        base: base.clone(),
        grid: toml::from_str(grid)?,
        walk_forward: None,
    };
    let t = Instant::now();
    let inputs = Arc::new(load_shared(&base)?);
    let load_once = t.elapsed().as_secs_f64();
    // What 16 variants reading the catalog themselves spend: one streamed run's reading, ×16.
    let t = Instant::now();
    let mut one = base.clone();
    one.strategy.params = toml::from_str("qty = \"0.5\"\nfast = 10\nslow = 60")?;
    let r = run(&one, &registry(), RunOptions::default())?;
    let streamed = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let r2 = run_inputs(&one, &inputs, &registry(), RunOptions::default())?;
    let shared = t.elapsed().as_secs_f64();
    assert_eq!(r.fills, r2.fills, "the streamed and the shared run trade alike");
    println!(
        "sweep data: load once {load_once:.2} s for 16 variants; a variant streaming the catalog itself {streamed:.2} s \
         vs {shared:.2} s on the shared data (catalog reading per variant ≈ {:.2} s, ×16 = {:.1} s)",
        streamed - shared,
        16.0 * (streamed - shared)
    );
    let mut times = Vec::new();
    for threads in [1usize, 2] {
        let t = Instant::now();
        let r = run_sweep_inputs(&sweep, inputs.clone(), &registry(), threads, None)?;
        let s = t.elapsed().as_secs_f64();
        let events: usize = r.ranking.iter().map(|o| o.iterations).sum();
        if r.failures() > 0 {
            return Err(format!("sweep variants failed: {:?}", r.ranking.iter().find(|o| o.error.is_some())).into());
        }
        println!("sweep 16 EMA sets on {threads} thread(s): {s:.2} s, {:>10.0} events/s", events as f64 / s);
        times.push(s);
    }
    println!("sweep speed-up 2 threads vs 1: {:.2}x", times[0] / times[1]);
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Warnings only, held for the whole process: the engines reuse this logger.
    let cfg = LoggerConfig::from_spec("stdout=Warn;is_colored=false")?;
    let _log = init_logging(Default::default(), Default::default(), cfg, FileWriterConfig::default())?;
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if let [flag, name] = args.as_slice()
        && flag == "--child"
    {
        return child(name);
    }
    let groups: Vec<&str> =
        if args.is_empty() { vec!["fills", "ema", "sweep"] } else { args.iter().map(String::as_str).collect() };
    let py = std::env::var("ALPHALAB_BENCH_PYTHON").ok().filter(|s| !s.is_empty());
    println!("{} synthetic 1m bars per scenario; each scenario in its own process", bars());
    let mut one_fill_eps = None;
    for (group, name, _, _, with_perp, py_args) in scenarios() {
        if !groups.contains(&group) {
            continue;
        }
        let r = parse(Command::new(std::env::current_exe()?).args(["--child", &name]).output()?)?;
        let eps = r.events as f64 / r.seconds;
        let vs_one = match one_fill_eps {
            Some(base) if group == "fills" => format!(", {:.2}x the 1-fill rate", eps / base),
            _ => String::new(),
        };
        if group == "fills" && one_fill_eps.is_none() {
            one_fill_eps = Some(eps);
        }
        println!(
            "{name:<20} rust   {:>8} events in {:>7.2} s = {eps:>9.0} events/s, {:>6} fills, peak RSS {:>5.0} MB{vs_one}",
            r.events,
            r.seconds,
            r.fills.len(),
            r.peak_rss_mb
        );
        if let Some(py) = py.as_deref().filter(|_| group == "ema" || name.starts_with("flip never")) {
            match python(py, &py_args, with_perp) {
                Ok(p) => println!(
                    "{name:<20} python {:>8} events in {:>7.2} s = {:>9.0} events/s, peak RSS {:>5.0} MB; rust/python {:.2}x; fills {}",
                    p.events,
                    p.seconds,
                    p.events as f64 / p.seconds,
                    p.peak_rss_mb,
                    eps / (p.events as f64 / p.seconds),
                    compare(&r, &p)
                ),
                Err(e) => println!("{name:<20} python baseline failed: {e}"),
            }
        }
    }
    if groups.contains(&"sweep") {
        sweep()?;
    }
    Ok(())
}
