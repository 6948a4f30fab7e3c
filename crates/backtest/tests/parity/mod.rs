//! The cases alphalab and NautilusTrader Python 1.227.0 run alike: the bench's Alphas (EMA cross,
//! flip, hold), its synthetic bars, and the runner of `scripts/nautilus_py_backtest.py`, shared
//! by the backtest bench and the parity test (`#[path]`).

#![allow(dead_code)] // each includer uses its part

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    str::FromStr,
};

use backtest::{
    alpha::{Alpha, AlphaResult, Context, MarketEvent, Target},
    inputs::Inputs,
    recorder::Fill,
    registry::Registry,
    spec::{RunSpec, StrategySpec},
    venue::{VenueKind, VenueSpec},
};
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{Bar, BarType, Data},
    identifiers::InstrumentId,
    instruments::Instrument,
    types::{Price, Quantity},
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub const T0: u64 = 1_735_689_600_000_000_000; // 2025-01-01T00:00:00Z
pub const M: u64 = 60_000_000_000;
pub const ID: &str = "BTCUSDT.BINANCE";
pub const BT: &str = "BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL";
pub const PERP: &str = "BTCUSDT-PERP.BINANCE";
pub const PERP_BT: &str = "BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL";

pub fn ids(v: &[String]) -> AlphaResult<Vec<InstrumentId>> {
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
pub struct EmaCross {
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
pub struct Flip {
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
pub struct HoldAll(Vec<(InstrumentId, Decimal, bool)>);

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

pub fn registry() -> Registry {
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
pub fn synthetic(n: u64, with_perp: bool) -> Inputs {
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
        let instruments = vec![crate::common::spot_btcusdt(None), crate::common::perp_btcusdt()];
        Inputs { instruments, streams: vec![spot, perps], funding: vec![] }
    } else {
        Inputs { instruments: vec![crate::common::spot_btcusdt(None)], streams: vec![spot], funding: vec![] }
    }
}

pub fn spec(strategy: &str, params: &str, with_perp: bool) -> RunSpec {
    let (instruments, bar_types, kind) = if with_perp {
        (vec![ID.into(), PERP.into()], vec![BT.into(), PERP_BT.into()], VenueKind::Usdm)
    } else {
        (vec![ID.into()], vec![BT.into()], VenueKind::Spot)
    };
    let mut venue = VenueSpec::new(kind, BTreeMap::from([("USDT".to_string(), Decimal::from(10_000_000))]));
    if with_perp {
        // the spot leg's own wallet (the Python baseline holds both legs on one margin account)
        venue.spot_balances = BTreeMap::from([("USDT".to_string(), Decimal::from(10_000_000))]);
    }
    let params = toml::Value::Table(toml::from_str(params).expect("params"));
    let mut spec = RunSpec::new(instruments, venue, StrategySpec { name: strategy.into(), params });
    spec.bar_types = bar_types;
    spec.funding = false;
    spec
}

/// One scenario's measurement, as the child process prints it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Measured {
    pub events: u64,
    pub seconds: f64,
    pub fills: Vec<(u64, String, String, Decimal, Decimal, Decimal)>,
    pub peak_rss_mb: f64,
}

/// Peak resident set of this process (MB), from /proc.
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next());
    kb.and_then(|k| k.parse::<f64>().ok()).unwrap_or(f64::NAN) / 1024.0
}

pub fn fill_rows(fills: &[Fill]) -> Vec<(u64, String, String, Decimal, Decimal, Decimal)> {
    fills
        .iter()
        .map(|f| {
            let side = if f.qty.is_sign_negative() { "Sell" } else { "Buy" };
            (f.ts, f.instrument_id.to_string(), side.to_string(), f.qty.abs(), f.price, f.commission)
        })
        .collect()
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs scripts/nautilus_py_backtest.py; the instruments' fees are the ones the Rust venue applies.
pub fn python(py: &Path, n: u64, args: &[String], with_perp: bool) -> Result<Measured, Box<dyn std::error::Error>> {
    let root = workspace();
    let mut cmd = Command::new(py);
    cmd.arg(root.join("scripts/nautilus_py_backtest.py")).arg(n.to_string()).args(args);
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
    // Benches may bound the baseline's wall time (`ALPHALAB_BENCH_PYTHON_MAX_S`): NautilusTrader
    // Python slows down with every fill, and an active year can take hours.
    let max_s: Option<u64> = std::env::var("ALPHALAB_BENCH_PYTHON_MAX_S").ok().and_then(|s| s.parse().ok());
    let Some(max_s) = max_s else { return parse(cmd.output()?) };
    // Output to files, not pipes: nothing reads a pipe while the child runs, and its JSON line
    // (every fill) is larger than a pipe's buffer.
    let dir = std::env::temp_dir().join(format!("alphalab-py-baseline-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (out, err) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = cmd.stdout(std::fs::File::create(&out)?).stderr(std::fs::File::create(&err)?).spawn()?;
    let t = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if t.elapsed().as_secs() >= max_s {
            child.kill()?;
            child.wait()?;
            return Err(format!("did not finish in {max_s} s (stopped)").into());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let output = std::process::Output { status, stdout: std::fs::read(&out)?, stderr: std::fs::read(&err)? };
    std::fs::remove_dir_all(&dir)?;
    parse(output)
}

pub fn parse(out: std::process::Output) -> Result<Measured, Box<dyn std::error::Error>> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()).into());
    }
    let line = stdout.lines().rev().find(|l| l.starts_with('{')).ok_or("no JSON line")?;
    Ok(serde_json::from_str(line)?)
}

/// "identical (N)", or the first difference.
pub fn compare(rust: &Measured, py: &Measured) -> String {
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

/// The python that runs the baseline: `ALPHALAB_PYTHON` if set, else a venv with
/// `nautilus_trader==1.227.0` at `target/nt-venv` (the bench's), else the one this function
/// creates once under cargo's target tmp folder (`python3.12` from pyenv 3.12.1, then pip).
///
/// # Errors
/// No python 3.12 to create the venv with, or pip failing: the message says what ran.
pub fn python_env() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("ALPHALAB_PYTHON").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let has_nautilus = |py: &Path| {
        Command::new(py)
            .args(["-c", "import nautilus_trader, sys; sys.exit(nautilus_trader.__version__ != '1.227.0')"])
            .status()
            .is_ok_and(|s| s.success())
    };
    let bench_venv = workspace().join("target/nt-venv/bin/python");
    if has_nautilus(&bench_venv) {
        return Ok(bench_venv);
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("nt-venv");
    let py = dir.join("bin/python");
    if has_nautilus(&py) {
        return Ok(py);
    }
    let run = |cmd: &mut Command| -> Result<(), String> {
        let what = format!("{cmd:?}");
        let out = cmd.output().map_err(|e| format!("{what}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("{what}: {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()))
        }
    };
    run(Command::new("python3.12").env("PYENV_VERSION", "3.12.1").args(["-m", "venv", "--clear"]).arg(&dir))?;
    run(Command::new(dir.join("bin/pip")).args(["install", "--quiet", "nautilus_trader==1.227.0"]))?;
    if has_nautilus(&py) { Ok(py) } else { Err(format!("{}: nautilus_trader 1.227.0 not importable", py.display())) }
}
