//! The data pipeline jobs behind `alphalab backfill`, `import` and `catalog`: thin
//! orchestration of the `data` crate with progress bars and a summary in the log.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use binance::{
    Market,
    rest::{RestClient, RestConfig},
};
use data::{
    backfill::{self, Gap, Job},
    catalog::Catalog,
    dataset::Spec,
    raw::RawStore,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar with rows/s and ETA on a terminal, nothing otherwise (CI, pipes).
#[must_use]
pub fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("{msg:>28} [{bar:30}] {human_pos}/{human_len} rows {per_sec} ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Parses `2024-01-31`, `2024-01-31T12:00:00Z` or milliseconds since the epoch.
///
/// # Errors
/// Names the flag and the accepted forms.
pub fn parse_time(flag: &str, s: &str) -> anyhow::Result<u64> {
    if let Ok(ms) = s.parse::<u64>() {
        return Ok(ms);
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis() as u64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis() as u64);
    }
    anyhow::bail!("{flag} {s:?}: expected YYYY-MM-DD, an RFC 3339 time (2024-01-31T12:00:00Z) or ms since the epoch")
}

/// What `alphalab backfill` was asked for.
#[derive(Debug, Clone)]
pub struct BackfillArgs {
    pub market: Market,
    pub symbols: Vec<String>,
    pub specs: Vec<Spec>,
    pub from_ms: u64,
    pub to_ms: u64,
    pub data_root: PathBuf,
    pub base_url: String,
    pub concurrency: usize,
    /// Also convert what was fetched into this catalog.
    pub catalog: Option<PathBuf>,
}

/// Backfills every (symbol, series) and, if asked, writes them to the catalog. Returns the
/// reports; a series with failed pages is reported, and a rerun fetches only what is missing.
///
/// # Errors
/// A failure before paging (client, server time, exchangeInfo) or a catalog write error.
pub async fn backfill(args: &BackfillArgs) -> anyhow::Result<Vec<backfill::Report>> {
    let cfg = RestConfig {
        spot_url: args.base_url.clone(),
        usdm_url: args.base_url.clone(),
        timeout: Duration::from_secs(30),
        ..RestConfig::default()
    };
    let client = RestClient::new(cfg)?;
    let store = RawStore::new(&args.data_root);
    data::instruments::fetch_exchange_info(&client, &store, args.market)
        .await
        .with_context(|| format!("fetching {} exchangeInfo", args.market))?;
    let mut reports = Vec::new();
    for symbol in &args.symbols {
        for spec in &args.specs {
            let job = Job {
                market: args.market,
                symbol: symbol.clone(),
                spec: spec.clone(),
                from_ms: args.from_ms,
                to_ms: args.to_ms,
            };
            let estimate = args.to_ms.saturating_sub(args.from_ms).checked_div(spec.step_ms).unwrap_or(0);
            let bar = progress(estimate, &format!("{} {symbol} {spec}", args.market));
            let r = backfill::run(&client, &store, &job, args.concurrency, &|n| bar.inc(n as u64)).await?;
            bar.finish_and_clear();
            log_report(&r);
            reports.push(r);
        }
    }
    let l = client.limiter(args.market);
    log::info!(
        "backfill: {} weight used {} (peak {} / {} per minute)",
        args.market,
        l.total_weight(),
        l.peak_used_weight(),
        l.budget()
    );
    if let Some(path) = &args.catalog {
        let (store, path, market, symbols) = (store.clone(), path.clone(), args.market, args.symbols.clone());
        let series: Vec<String> = reports.iter().map(|r| r.series.clone()).collect();
        // The catalog blocks on its own runtime: never call it from inside ours.
        tokio::task::spawn_blocking(move || write_series(&store, &path, market, &symbols, &series)).await??;
    }
    Ok(reports)
}

fn write_series(
    store: &RawStore,
    path: &std::path::Path,
    market: Market,
    symbols: &[String],
    series: &[String],
) -> anyhow::Result<()> {
    let mut catalog = Catalog::open(path)?;
    for symbol in symbols {
        let instrument = data::instruments::load_instrument(store, market, symbol, None)?;
        catalog.write(data::batch::Batch::Instruments(vec![instrument.clone()]))?;
        for s in series {
            for batch in data::convert::convert_series(store, market, s, symbol, &instrument)? {
                let n = batch.len();
                catalog.write(batch)?;
                log::info!("catalog: {market} {symbol} {s}: {n} rows");
            }
        }
    }
    Ok(())
}

fn log_report(r: &backfill::Report) {
    log::info!(
        "backfill {} {} {}: {} pages of {} ({} fetched, {} already complete), {} rows in {:.1} s",
        r.market,
        r.symbol,
        r.series,
        r.pages,
        r.page_limit,
        r.fetched,
        r.skipped,
        r.rows,
        r.elapsed_ms as f64 / 1e3
    );
    if let Some(t) = r.clipped_from_ms {
        log::warn!("backfill {} {}: Binance keeps this series only 30 days: data starts at {t} ms", r.symbol, r.series);
    }
    for g in &r.gaps {
        match g {
            Gap::Time { from_ms, to_ms } => {
                log::warn!("gap {} {}: no data in [{from_ms}, {to_ms}) ms", r.symbol, r.series)
            }
            Gap::Ids { from, to } => log::warn!("gap {} {}: ids [{from}, {to}) missing", r.symbol, r.series),
        }
    }
    for e in &r.errors {
        log::error!("backfill {} {}: {e}", r.symbol, r.series);
    }
}

/// Converts one archived bulk file with the instrument its name points to.
fn convert_archived(store: &RawStore, path: &std::path::Path) -> anyhow::Result<Vec<data::batch::Batch>> {
    let name = binance::archive::ArchiveName::parse(path, None)?;
    let instrument = data::instruments::load_instrument(store, name.market, &name.symbol, None)?;
    Ok(data::import::convert_archive_file(path, &instrument)?)
}

/// Makes sure the raw archive holds an exchangeInfo of `market` (instruments come from it).
fn ensure_exchange_info(store: &RawStore, market: Market, base_url: Option<&str>) -> anyhow::Result<()> {
    if store.pages(market, data::instruments::EXCHANGE_INFO, data::instruments::ALL_SYMBOLS)?.is_empty() {
        let url = base_url.map_or_else(|| market.prod_rest_url().to_string(), str::to_string);
        log::info!("import: no {market} exchangeInfo in the raw archive yet; fetching it from {url}");
        let client = RestClient::new(RestConfig { spot_url: url.clone(), usdm_url: url, ..RestConfig::default() })?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(data::instruments::fetch_exchange_info(&client, store, market))?;
    }
    Ok(())
}

/// `alphalab import`: bulk files into the raw archive (checksums verified), then into the catalog.
///
/// # Errors
/// The first file that fails (named), or a catalog error; files before it stay imported.
pub fn import(
    paths: &[PathBuf],
    market: Option<Market>,
    base_url: Option<String>,
    data_root: &std::path::Path,
    catalog: &std::path::Path,
) -> anyhow::Result<usize> {
    let store = RawStore::new(data_root);
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            files.extend(data::import::import_dir(&store, p, market)?);
        } else {
            files.push(data::import::import_file(&store, p, market)?);
        }
    }
    let mut cat = Catalog::open(catalog)?;
    for f in &files {
        ensure_exchange_info(&store, f.name.market, base_url.as_deref())?;
        let instrument = data::instruments::load_instrument(&store, f.name.market, &f.name.symbol, None)?;
        cat.write(data::batch::Batch::Instruments(vec![instrument]))?;
        for batch in convert_archived(&store, &f.stored)? {
            let n = batch.len();
            let r = cat.write(batch)?;
            log::info!("import {}: {n} rows ({} new)", f.source.display(), r.written);
        }
    }
    Ok(files.len())
}

/// `alphalab catalog ls`: prints the listing table.
///
/// # Errors
/// The catalog cannot be opened or read.
pub fn ls(catalog: &std::path::Path) -> anyhow::Result<()> {
    let cat = Catalog::open(catalog)?;
    let rows = cat.ls()?;
    println!("{}", data::catalog::LsTable(&rows));
    Ok(())
}

/// `alphalab catalog rebuild`: the catalog from the raw archive alone.
///
/// # Errors
/// Any raw item that fails to convert (named) or a refused catalog folder.
pub fn rebuild(data_root: &std::path::Path, catalog: &std::path::Path) -> anyhow::Result<()> {
    let store = RawStore::new(data_root);
    let owned = store.clone();
    let conv = move |p: &std::path::Path| convert_archived(&owned, p);
    let report = data::catalog::rebuild(&store, catalog, None, Some(&conv))?;
    let rows: usize = report.writes.iter().map(|(_, w)| w.written).sum();
    log::info!(
        "catalog rebuilt at {}: {} sources, {} archive files, {rows} rows",
        catalog.display(),
        report.writes.len(),
        report.archive_files
    );
    Ok(())
}
