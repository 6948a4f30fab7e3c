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
//! - `universe`: a year of 1m bars for 100 perpetuals through the equal-weight baseline
//!   rebalanced hourly (`universe/mod.rs`; `ALPHALAB_BENCH_INSTRUMENTS` overrides the 100).
//!
//! `ALPHALAB_BENCH_PYTHON` names a python with `nautilus_trader==1.227.0` (a relative path is
//! taken from the workspace root); without it the Python columns are skipped.
//! `ALPHALAB_BENCH_PYTHON_MAX_S` stops a Python baseline after that many seconds (it slows down
//! with every fill; the spot+perp EMA year takes far longer than the Rust run).
//!
//! Full measurement (release-like `bench` profile; listing both packages keeps the feature set,
//! and so the build, of the other benches):
//! `ALPHALAB_BENCH_PYTHON=target/nt-venv/bin/python cargo bench -p alphalab -p alphalab-backtest --bench backtest`
//! One group: `... --bench backtest -- fills` (or `ema`, `sweep`, `universe`). Quick check in dev (numbers
//! meaningless, fills must match): `ALPHALAB_BENCH_BARS=3000 ... cargo bench --profile dev ...`.
//! Python venv: `PYENV_VERSION=3.12.1 python3.12 -m venv target/nt-venv && target/nt-venv/bin/pip install nautilus_trader==1.227.0`.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/parity/mod.rs"]
mod parity;
mod universe;

use std::{path::Path, process::Command, sync::Arc, time::Instant};

use backtest::{
    engine::{RunOptions, run, run_inputs},
    sweep::{SweepSpec, load_shared, run_sweep_inputs},
};
use data::{batch::Batch, catalog::Catalog};
use nautilus_common::logging::{init_logging, logger::LoggerConfig, writer::FileWriterConfig};
use nautilus_model::data::{Bar, Data};
use parity::{
    ID, Measured, PERP, compare, fill_rows, parse, peak_rss_mb, python, registry, spec, synthetic, workspace,
};

fn bars() -> u64 {
    std::env::var("ALPHALAB_BENCH_BARS").ok().map_or(525_600, |s| s.parse().expect("ALPHALAB_BENCH_BARS"))
}

/// One scenario: (group, name, strategy, params, with perp, python strategy args).
type Scenario = (&'static str, String, &'static str, String, bool, Vec<String>);

/// The scenarios.
fn scenarios() -> Vec<Scenario> {
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
        search: None,
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

/// The allocator of the `alphalab` binary, so that the child runs measure what it does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    backtest::small_pages();
    // Warnings only, held for the whole process: the engines reuse this logger.
    let cfg = LoggerConfig::from_spec("stdout=Warn;is_colored=false")?;
    let _log = init_logging(Default::default(), Default::default(), cfg, FileWriterConfig::default())?;
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    if let [flag, name] = args.as_slice()
        && flag == "--child"
    {
        return child(name);
    }
    if args.first().is_some_and(|a| a == "--child-universe") {
        return universe::child(bars());
    }
    let groups: Vec<&str> = if args.is_empty() {
        vec!["fills", "ema", "sweep", "universe"]
    } else {
        args.iter().map(String::as_str).collect()
    };
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
            let py = if Path::new(py).is_relative() { workspace().join(py) } else { py.into() };
            match python(&py, bars(), &py_args, with_perp) {
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
    if groups.contains(&"universe") {
        let out = Command::new(std::env::current_exe()?).arg("--child-universe").output()?;
        if !out.status.success() {
            return Err(format!("universe: {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()).into());
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().rev().find(|l| l.starts_with('{')).ok_or("universe: no JSON line")?;
        let u: universe::UniverseMeasured = serde_json::from_str(line)?;
        println!(
            "universe {} perps × {} 1m bars, equal weight hourly: {} events in {:.2} s = {:.0} events/s, {} fills, \
             {} orders, {} funding settlements, peak RSS {:.0} MB; results written in {:.2} s ({:.0} MB), \
             peak RSS with them {:.0} MB",
            u.instruments,
            u.timestamps,
            u.events,
            u.seconds,
            u.events as f64 / u.seconds,
            u.fills,
            u.orders,
            u.funding_settlements,
            u.peak_rss_mb,
            u.write_seconds,
            u.written_mb,
            u.peak_rss_written_mb
        );
        // NautilusTrader Python on the same universe (scripts/nautilus_py_universe.py: the same
        // bars; no funding, which its engine does not apply), for the days of
        // `ALPHALAB_BENCH_PYTHON_UNIVERSE_BARS` (default 7 days): a fraction, the year takes it
        // about half an hour and, with its default cache, ~16 GB.
        if let Some(py) = std::env::var("ALPHALAB_BENCH_PYTHON").ok().filter(|s| !s.is_empty()) {
            let py = if Path::new(&py).is_relative() { workspace().join(py) } else { py.into() };
            let n = std::env::var("ALPHALAB_BENCH_PYTHON_UNIVERSE_BARS").unwrap_or_else(|_| "10080".into());
            let out = Command::new(py)
                .arg(workspace().join("scripts/nautilus_py_universe.py"))
                .args([n.as_str(), &u.instruments.to_string()])
                .output()?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            match stdout.lines().rev().find(|l| l.starts_with('{')) {
                Some(line) if out.status.success() => {
                    let p: serde_json::Value = serde_json::from_str(line)?;
                    let eps = p["events_per_s"].as_f64().unwrap_or(f64::NAN);
                    println!(
                        "universe python {} perps × {} 1m bars: {} events, engine.run {} s = {eps:.0} events/s, \
                         {} fills, peak RSS {} MB; rust/python {:.2}x",
                        p["instruments"],
                        p["bars_per_instrument"],
                        p["events"],
                        p["seconds"],
                        p["fills"],
                        p["peak_rss_mb"],
                        (u.events as f64 / u.seconds) / eps
                    );
                }
                _ => println!("universe python baseline failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
            }
        }
    }
    Ok(())
}
