//! `alphalab demo`: the main job end to end on the embedded simulator: snapshot of the 41
//! legacy payloads, REST backfill of spot and USD-M history into the raw archive and a
//! catalog, the five legacy figures, two baseline backtests (spot, and a perp with funding)
//! and a sweep, each with its HTML report. Everything lands under one output folder; nothing
//! leaves 127.0.0.1.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context as _;
use binance::Market;
use sim::SimConfig;

use crate::{backtest_cmd, console, pipeline, settings::SnapshotArgs, snapshot};

/// What `alphalab demo` was asked for.
#[derive(Debug, Clone)]
pub struct DemoArgs {
    pub output_dir: PathBuf,
    pub ws_capture_seconds: u64,
    pub seed: u64,
    /// Days of 1m history to backfill and backtest.
    pub days: u64,
}

const DAY_MS: u64 = 86_400_000;

/// Runs the demo; exit code 1 if any step reported a failure (all steps still run).
///
/// # Errors
/// Start-up errors (simulator, runtime, output folder).
pub fn run(a: &DemoArgs) -> anyhow::Result<ExitCode> {
    let out = &a.output_dir;
    let data_root = out.join("data");
    let catalog = data_root.join("catalog");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut failures = rt.block_on(async {
        let mut sim_cfg = SimConfig::default();
        sim_cfg.model.seed = a.seed;
        let handle = sim::spawn(sim_cfg).await.context("starting the simulator")?;
        let url = handle.rest_url();
        console::step(&format!("demo: simulator on {url}, outputs in {}", out.display()));
        let cfg = SnapshotArgs {
            base_path_spot: Some(url.clone()),
            base_path_futures: Some(url.clone()),
            stream_url_spot: Some(handle.stream_url(Market::Spot)),
            output_dir: Some(out.clone()),
            ws_capture_seconds: Some(a.ws_capture_seconds.to_string()),
            ..SnapshotArgs::default()
        }
        .resolve()
        .map_err(anyhow::Error::msg)?;
        let manifest = snapshot::run(&cfg).await?;
        snapshot::print_summary(&manifest, out);
        let mut failures = manifest.failures();

        let now_ms = u64::try_from(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis())?;
        let to_ms = now_ms / 60_000 * 60_000;
        for (market, data) in [(Market::Spot, "klines:1m"), (Market::UsdM, "klines:1m,fundingRate")] {
            let specs =
                data.split(',').map(|t| data::dataset::Spec::parse(market, t)).collect::<Result<Vec<_>, _>>()?;
            let args = pipeline::BackfillArgs {
                market,
                symbols: data::universe::Selection::List(vec![if market == Market::Spot {
                    cfg.spot_symbol.clone()
                } else {
                    cfg.futures_symbol.clone()
                }]),
                specs,
                from_ms: to_ms - a.days * DAY_MS,
                to_ms,
                data_root: data_root.clone(),
                base_url: url.clone(),
                concurrency: 8,
                catalog: Some(catalog.clone()),
                weight_per_minute: None,
            };
            let reports = pipeline::backfill(&args).await?;
            failures += reports.iter().filter(|r| !r.errors.is_empty()).count();
        }
        handle.shutdown().await;
        anyhow::Ok(failures)
    })?;
    drop(rt);

    let figures = report::snapshot_figures(out)?;
    let skipped = figures.iter().filter(|f| !f.drawn()).count();
    failures += skipped;
    console::step(&format!(
        "figures: {} of {} legacy figures in {}",
        figures.len() - skipped,
        figures.len(),
        out.join("figures").display()
    ));

    let runs = out.join("runs");
    std::fs::create_dir_all(&runs).with_context(|| format!("creating {}", runs.display()))?;
    let mut reports = Vec::new();
    for (name, toml) in run_files(&catalog, out) {
        let path = runs.join(format!("{name}.toml"));
        std::fs::write(&path, toml).with_context(|| format!("writing {}", path.display()))?;
        let code = if name.starts_with("sweep") {
            backtest::sweep::SweepSpec::load(&path)
                .map_err(anyhow::Error::from)
                .and_then(|s| backtest_cmd::sweep(&path, &s, None))
        } else {
            backtest::spec::RunSpec::load(&path)
                .map_err(anyhow::Error::from)
                .and_then(|s| backtest_cmd::backtest(&path, &s, backtest_cmd::Detail::Brief))
        };
        match code {
            Ok(c) if c == ExitCode::SUCCESS => {}
            Ok(_) => failures += 1,
            Err(e) => {
                log::error!("demo: {name}: {e:#}");
                failures += 1;
            }
        }
        reports.push(out.join(name).join("report.html"));
    }
    console::step("demo: done. Open these in a browser:");
    for r in reports.iter().filter(|r| r.exists()) {
        console::detail(&r.display().to_string());
    }
    console::detail(&format!("and the figures in {}", out.join("figures").display()));
    console::detail(&format!("the full log: {}", out.join(crate::logging::LOG_FILE).display()));
    Ok(if failures == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// The demo's run and sweep files: (name, TOML). Results go to `out/<name>`.
fn run_files(catalog: &Path, out: &Path) -> Vec<(&'static str, String)> {
    let cat = catalog.display();
    let o = out.display();
    vec![
        (
            "spot_buy_and_hold",
            format!(
                r#"# Buy half the equity of BTCUSDT spot at the first bar close and hold (cash account, 0.1 % taker).
catalog = "{cat}"
instruments = ["BTCUSDT.BINANCE"]
bar_types = ["BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL"]
output = "{o}/spot_buy_and_hold"

[venue]
kind = "spot"
starting_balances = {{ USDT = "10000" }}

[strategy]
name = "buy-and-hold"
params = {{ instrument_id = "BTCUSDT.BINANCE", fraction = "0.5" }}
"#
            ),
        ),
        (
            "perp_buy_and_hold",
            format!(
                r#"# Long 0.05 BTCUSDT perpetual at 2x leverage, funding settled from the catalog's funding rates.
catalog = "{cat}"
instruments = ["BTCUSDT-PERP.BINANCE"]
bar_types = ["BTCUSDT-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL"]
output = "{o}/perp_buy_and_hold"

[venue]
kind = "usdm"
starting_balances = {{ USDT = "10000" }}
leverage = "2"

[strategy]
name = "buy-and-hold"
params = {{ instrument_id = "BTCUSDT-PERP.BINANCE", quantity = "0.05" }}
"#
            ),
        ),
        (
            "sweep_spot_buy_and_hold",
            format!(
                r#"# Cost sensitivity of the spot baseline: bought fraction × taker fee, ranked by total return.
rank_by = "total_return"
output = "{o}/sweep_spot_buy_and_hold"

[base]
catalog = "{cat}"
instruments = ["BTCUSDT.BINANCE"]
bar_types = ["BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL"]

[base.venue]
kind = "spot"
starting_balances = {{ USDT = "10000" }}

[base.strategy]
name = "buy-and-hold"
params = {{ instrument_id = "BTCUSDT.BINANCE" }}

[grid]
fraction = ["0.25", "0.5", "0.9"]
"venue.taker_fee" = ["0.0005", "0.001", "0.002"]
"#
            ),
        ),
    ]
}
