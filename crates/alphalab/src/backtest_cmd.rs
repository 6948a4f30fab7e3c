//! `alphalab backtest`, `alphalab sweep` and `alphalab new-strategy`: thin glue over the
//! `backtest` crate (registry = baselines + `backtest::strategies`).

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use backtest::{
    run::{RunSpec, run},
    scaffold,
    strategies::registry,
    sweep::{SweepSpec, ranking_table, run_sweep},
};

/// Runs one run file: results into its `output` folder, statistics into the log.
///
/// # Errors
/// Run file (naming the key), catalog, strategy or engine errors.
pub fn backtest(path: &Path) -> anyhow::Result<ExitCode> {
    let spec = RunSpec::load(path)?;
    log::info!("backtest: {} ({} on {:?})", path.display(), spec.strategy.name, spec.instruments);
    let r = run(&spec, &registry())?;
    log::info!(
        "backtest: {} events, {} orders, {} fills, {} skips, {} rejections",
        r.iterations,
        r.total_orders,
        r.fills.len(),
        r.skips.len(),
        r.rejections.len()
    );
    for line in r.stats.table().lines() {
        log::info!("  {line}");
    }
    match &spec.output {
        Some(o) => {
            let html = report::html::write_run_report(o)?;
            log::info!("backtest: results in {}, report {}", o.display(), html.display());
        }
        None => log::warn!("backtest: no `output` in the run file: nothing written"),
    }
    Ok(if r.rejections.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Runs a sweep file on `threads` workers (default: available parallelism); exit code 1 if a
/// variant failed.
///
/// # Errors
/// Sweep file (naming the key), catalog and output errors.
pub fn sweep(path: &Path, threads: Option<usize>) -> anyhow::Result<ExitCode> {
    let spec = SweepSpec::load(path)?;
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let r = run_sweep(&spec, &registry(), threads)?;
    let keys: Vec<String> = spec.grid.keys().cloned().collect();
    log::info!("sweep: ranked by {}", r.rank_by);
    for line in ranking_table(&r, &keys).lines() {
        log::info!("  {line}");
    }
    if let Some(o) = &spec.output {
        let html = report::html::write_sweep_report(o)?;
        log::info!("sweep: ranking.csv, ranking.json and variants/ in {}, report {}", o.display(), html.display());
    }
    let failed = r.failures();
    if failed > 0 {
        log::error!("sweep: {failed} of {} variants failed", r.ranking.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `<dir>/<name>.rs` from the template and registers it in `<dir>/mod.rs`.
///
/// # Errors
/// Invalid or existing name, missing `mod.rs`, I/O.
pub fn new_strategy(name: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    let file = scaffold::generate(dir, name)?;
    let (module, _) = scaffold::names(name)?;
    log::info!(
        "new-strategy: wrote {} and registered `{module}` in {}; fill in the todo!()s, then run it with \
         `[strategy] name = \"{module}\"`",
        file.display(),
        dir.join("mod.rs").display()
    );
    Ok(file)
}
