//! `alphalab backtest`, `alphalab sweep` and `alphalab new-strategy`: thin glue over the
//! `backtest` crate (registry = baselines + `backtest::strategies`), with a progress bar while
//! they run and a summary after.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
};

use backtest::{
    engine::{Progress, RunOptions, run_source},
    inputs::{CatalogSource, Source},
    output::write_results,
    result::RunResult,
    scaffold,
    spec::RunSpec,
    strategies::registry,
    sweep::{SweepResult, SweepSpec, load_shared, run_sweep_inputs, variants},
};

use crate::console::{self, progress, thousands};

/// How much of a run's statistics the summary shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Every statistic, with its reading.
    Full,
    /// A headline (the demo).
    Brief,
    /// Nothing on the terminal, the result files only (no report): a variant of a Ray sweep,
    /// whose folder must equal a local sweep's.
    ResultsOnly,
}

/// Statistics of the headline.
const HEADLINE: [&str; 6] =
    ["total_return", "sharpe", "max_drawdown", "max_drawdown_duration_ns", "fees_paid", "funding_paid"];

/// Runs one run file: results and `report.html` into its `output` folder, a summary on the
/// terminal. Exit code 1 if an order was rejected or denied.
///
/// # Errors
/// Catalog, strategy, engine or output errors.
pub fn backtest(path: &Path, spec: &RunSpec, detail: Detail) -> anyhow::Result<ExitCode> {
    if detail == Detail::ResultsOnly {
        return results_only(spec);
    }
    log::info!("backtest: {} ({} on {:?})", path.display(), spec.strategy.name, spec.instruments);
    let t = std::time::Instant::now();
    let mut source = CatalogSource::open(spec)?;
    let (first, last) = source.time_range().unwrap_or_default();
    let (from, to) = (spec.start_ns()?.map_or(first, |s| s.as_u64()), spec.end_ns()?.map_or(last, |e| e.as_u64()));
    let bar = progress(source.events(from, to), &spec.strategy.name, "events");
    let tick = bar.clone();
    let opts = RunOptions { progress: Some(Progress::new(move |n| tick.inc(n))), ..RunOptions::default() };
    let r = run_source(spec, &mut source, &registry(), opts)?;
    bar.finish_and_clear();
    log::info!(
        "backtest: {} events, {} orders, {} fills, {} skips, {} rejections",
        r.iterations,
        r.total_orders,
        r.fills.len(),
        r.skips.len(),
        r.rejections.len()
    );
    console::step(&format!("backtest {}: {} on {}", path.display(), spec.strategy.name, spec.instruments.join(", ")));
    console::detail(&format!(
        "{} events in {:.2} s: {} orders, {} fills, {} skips, {} rejections",
        thousands(r.iterations as u64),
        t.elapsed().as_secs_f64(),
        r.total_orders,
        r.fills.len(),
        r.skips.len(),
        r.rejections.len()
    ));
    if let Some(l) = r.liquidations.first() {
        console::detail(&format!(
            "{} liquidations (first {} at mark {}, futures wallet {} after): liquidations.csv",
            r.liquidations.len(),
            l.instrument_id,
            l.mark_price,
            l.wallet_balance_after
        ));
    }
    let wallets: Vec<String> = r
        .wallets
        .iter()
        .filter(|(_, m)| m.values().any(|a| !a.is_zero()))
        .map(|(w, m)| {
            let cash: Vec<String> = m
                .iter()
                .filter(|(_, a)| !a.is_zero())
                .map(|(c, a)| format!("{} {c}", a.round_dp(8).normalize()))
                .collect();
            format!("{} {}", w.name(), cash.join(", "))
        })
        .collect();
    if matches!(detail, Detail::Full) {
        console::detail(&format!(
            "wallets at the end: {}",
            if wallets.is_empty() { "empty".into() } else { wallets.join("; ") }
        ));
    }
    print_stats(&r, detail);
    match &spec.output {
        Some(o) => {
            write_results(o, spec, &r)?;
            let html = report::write_run_report(o)?;
            console::detail(&format!("results in {} (report {})", o.display(), html.display()));
        }
        None => console::detail("no `output` in the run file: nothing written"),
    }
    Ok(if r.rejections.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// A sweep variant's run: its result files, or its error as the one line a local sweep would
/// record ([`crate::ray::VARIANT_ERROR`]) and exit code 1.
fn results_only(spec: &RunSpec) -> anyhow::Result<ExitCode> {
    let r = CatalogSource::open(spec).and_then(|mut s| run_source(spec, &mut s, &registry(), RunOptions::default()));
    match r {
        Ok(r) => {
            if let Some(o) = &spec.output {
                write_results(o, spec, &r)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            // one line whatever the message holds: a JSON string
            eprintln!("{}{}", crate::ray::VARIANT_ERROR, serde_json::Value::String(e.to_string()));
            Ok(ExitCode::from(1))
        }
    }
}

/// The statistics with the report's readings (percentages, durations, "n/a" when undefined).
fn print_stats(r: &RunResult, detail: Detail) {
    let values = r.stats.values();
    match detail {
        Detail::Full => {
            let w = values.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            for (k, v) in &values {
                console::detail(&format!("{k:<w$}  {}", report::stat_reading(k, v)));
            }
        }
        Detail::ResultsOnly => {}
        Detail::Brief => {
            let line: Vec<String> = values
                .iter()
                .filter(|(k, _)| HEADLINE.contains(&k.as_str()))
                .map(|(k, v)| format!("{} {}", k.trim_end_matches("_ns").replace('_', " "), report::stat_reading(k, v)))
                .collect();
            console::detail(&line.join(", "));
        }
    }
}

/// Runs a sweep file on `threads` workers (default: available parallelism); exit code 1 if a
/// variant failed.
///
/// # Errors
/// Catalog and output errors.
pub fn sweep(path: &Path, spec: &SweepSpec, threads: Option<usize>) -> anyhow::Result<ExitCode> {
    let threads = threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let t = std::time::Instant::now();
    // The inputs are loaded once and shared by every variant.
    let inputs = Arc::new(load_shared(&spec.base)?);
    let n = variants(spec, inputs.time_range())?.len();
    let bar = progress(n as u64, "sweep", "variants");
    let tick = bar.clone();
    let r = run_sweep_inputs(spec, inputs, &registry(), threads, Some(Progress::new(move |k| tick.inc(k))))?;
    bar.finish_and_clear();
    let keys = spec.keys();
    log::info!("sweep: ranked by {}\n{}", r.rank_by, backtest::sweep::ranking_table(&r, &keys));
    console::step(&format!(
        "sweep {}: {} variants on {threads} threads in {:.1} s, ranked by {}",
        path.display(),
        r.ranking.len(),
        t.elapsed().as_secs_f64(),
        r.rank_by
    ));
    print_ranking(&r);
    if let Some(o) = &spec.output {
        let html = report::write_sweep_report(o)?;
        console::detail(&format!("ranking.csv and variants/ in {} (report {})", o.display(), html.display()));
    }
    let failed = r.failures();
    if failed > 0 {
        console::detail(&format!("{failed} of {} variants FAILED (see the ranking's error column)", r.ranking.len()));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The five best variants of a ranking, one line each.
pub fn print_ranking(r: &SweepResult) {
    for (i, o) in r.ranking.iter().enumerate().take(5) {
        let grid: Vec<String> = o.grid.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let value = o.stats.as_ref().map_or_else(
            || format!("failed: {}", o.error.as_deref().unwrap_or("?")),
            |s| {
                let v = s.values().into_iter().find(|(k, _)| *k == r.rank_by).map(|(_, v)| v).unwrap_or_default();
                format!("{} {}", r.rank_by, report::stat_reading(&r.rank_by, &v))
            },
        );
        let by = o.chosen_by.as_deref().map(|c| format!(" ({c})")).unwrap_or_default();
        console::detail(&format!("#{} variant {:04} {}{by}: {value}", i + 1, o.variant, grid.join(" ")));
    }
    if r.ranking.len() > 5 {
        console::detail(&format!("... {} more in ranking.csv", r.ranking.len() - 5));
    }
}

/// Writes `<dir>/<name>.rs` from the template and registers it in `<dir>/mod.rs`.
///
/// # Errors
/// Invalid or existing name, missing `mod.rs`, I/O.
pub fn new_strategy(name: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    let file = scaffold::generate(dir, name)?;
    let (module, _) = scaffold::names(name)?;
    console::step(&format!(
        "new-strategy: wrote {} and registered `{module}` in {}",
        file.display(),
        dir.join("mod.rs").display()
    ));
    console::detail(&format!("fill in the todo!()s, then run it with `[strategy] name = \"{module}\"`"));
    Ok(file)
}
