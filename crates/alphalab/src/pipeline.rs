//! The data pipeline jobs behind `alphalab backfill`, `import` (local files or `--from-url`) and
//! `catalog`: thin orchestration of the `data` crate with progress bars and a summary in the log.

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
    download::Fetched,
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
            let progress = bar.clone();
            let on_rows: backfill::OnRows = std::sync::Arc::new(move |n| progress.inc(n as u64));
            let r = backfill::run(&client, &store, &job, args.concurrency, on_rows).await?;
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

/// Writes one imported bulk file into the catalog: its instrument (exchangeInfo fetched from
/// `base_url` if the raw archive has none), then its converted batches. Returns the new rows.
fn write_imported(
    store: &RawStore,
    cat: &mut Catalog,
    f: &data::import::ImportedFile,
    base_url: Option<&str>,
) -> anyhow::Result<usize> {
    ensure_exchange_info(store, f.name.market, base_url)?;
    let instrument = data::instruments::load_instrument(store, f.name.market, &f.name.symbol, None)?;
    let batches = data::import::convert_archive_file(&f.stored, &instrument)?;
    cat.write(data::batch::Batch::Instruments(vec![instrument]))?;
    let mut written = 0;
    for batch in batches {
        let n = batch.len();
        let r = cat.write(batch)?;
        log::info!("import {}: {n} rows ({} new)", f.source.display(), r.written);
        written += r.written;
    }
    Ok(written)
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
        write_imported(&store, &mut cat, f, base_url.as_deref())?;
    }
    Ok(files.len())
}

/// What `alphalab import --from-url` was asked for.
#[derive(Debug, Clone)]
pub struct UrlImportArgs {
    /// Site root of a data.binance.vision layout (the real site, a mirror, the simulator).
    pub archive_url: String,
    pub request: data::download::Request,
    /// REST base for exchangeInfo when the raw archive has none for the market.
    pub rest_url: Option<String>,
    pub data_root: PathBuf,
    pub catalog: PathBuf,
    /// Files downloaded at once.
    pub concurrency: usize,
}

/// Per-file outcome of `alphalab import --from-url`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlImportReport {
    /// Files named by the request.
    pub planned: usize,
    /// Downloaded, verified and stored.
    pub downloaded: usize,
    /// Already in the raw archive with the same checksum: not downloaded again.
    pub already_stored: usize,
    /// URLs answered 404.
    pub missing: Vec<String>,
    /// One message per file that failed to download, verify, store or convert, naming its URL.
    pub failed: Vec<String>,
    /// New catalog rows.
    pub rows_written: usize,
}

impl UrlImportReport {
    /// Missing and failed files: the command's exit code is non-zero unless this is 0.
    #[must_use]
    pub fn failures(&self) -> usize {
        self.missing.len() + self.failed.len()
    }
}

/// `alphalab import --from-url`: downloads every file of the request into the raw archive
/// ([`data::download`]: checksum verified before storing, already stored files skipped), then
/// converts each stored file into the catalog exactly as a local import. A file that is missing
/// (404) or fails is reported and the others go on.
///
/// # Errors
/// An invalid request (empty range, bad symbol), the HTTP client or runtime cannot be built,
/// or the catalog cannot be opened. Per-file problems are in the report instead.
pub fn import_url(args: &UrlImportArgs) -> anyhow::Result<UrlImportReport> {
    let names = data::download::plan(&args.request).map_err(anyhow::Error::msg)?;
    let store = RawStore::new(&args.data_root);
    let client = binance::archive::ArchiveClient::new(Duration::from_secs(30), 3)?;
    let mut report = UrlImportReport { planned: names.len(), ..UrlImportReport::default() };
    let bar = progress(names.len() as u64, "download");
    bar.set_style(
        ProgressStyle::with_template("{msg:>28} [{bar:30}] {human_pos}/{human_len} files ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let base = args.archive_url.trim_end_matches('/');
    let results = rt.block_on(data::download::fetch_all(&client, &store, base, &names, args.concurrency, &|| {
        bar.inc(1);
    }));
    drop(rt);
    bar.finish_and_clear();
    let mut files = Vec::new();
    for (name, r) in names.iter().zip(results) {
        let url = name.url(base);
        match r {
            Ok(Fetched::Stored(f)) => {
                log::info!("import {url}: downloaded, checksum verified, {} bytes", f.bytes);
                report.downloaded += 1;
                files.push(f);
            }
            Ok(Fetched::AlreadyStored(f)) => {
                log::info!("import {url}: already in the raw archive with this checksum, not downloaded");
                report.already_stored += 1;
                files.push(f);
            }
            Ok(Fetched::Missing) => {
                log::warn!("import {url}: not found (404); Binance has days without files");
                report.missing.push(url);
            }
            Err(e) => {
                log::error!("import: {e}");
                report.failed.push(e.to_string());
            }
        }
    }
    let mut cat = Catalog::open(&args.catalog)?;
    for f in &files {
        match write_imported(&store, &mut cat, f, args.rest_url.as_deref()) {
            Ok(n) => report.rows_written += n,
            Err(e) => {
                let msg = format!("{}: {e:#}", f.source.display());
                log::error!("import {msg}");
                report.failed.push(msg);
            }
        }
    }
    log::info!(
        "import from {base}: {} files planned, {} downloaded, {} already stored, {} missing, {} failed, {} new rows",
        report.planned,
        report.downloaded,
        report.already_stored,
        report.missing.len(),
        report.failed.len(),
        report.rows_written
    );
    Ok(report)
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
