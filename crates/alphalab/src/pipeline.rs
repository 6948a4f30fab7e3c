//! The data pipeline jobs behind `alphalab backfill`, `import` (local files or `--from-url`) and
//! `catalog`: thin orchestration of the `data` crate, with progress bars and a summary on the
//! terminal and the details in the log.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use binance::{
    Market,
    limiter::{Limiter, LimiterConfig},
    rest::{RestClient, RestConfig},
};
use data::{
    backfill::{self, Job},
    catalog::Catalog,
    dataset::Spec,
    download::Fetched,
    ingest::{RawItem, ingest},
    raw::RawStore,
    schedule,
    universe::{self, Selection},
};

use crate::{
    backfill_view::{self, Board as BoardView},
    console::{self, progress, thousands},
};

/// What `alphalab backfill` was asked for.
#[derive(Debug, Clone)]
pub struct BackfillArgs {
    pub market: Market,
    /// Which symbols: a list, `ALL` (every symbol that traded in the range, delisted ones
    /// included) or `top:N` by quote volume on a date.
    pub symbols: Selection,
    pub specs: Vec<Spec>,
    pub from_ms: u64,
    pub to_ms: u64,
    pub data_root: PathBuf,
    pub base_url: String,
    pub concurrency: usize,
    /// Also convert what was fetched into this catalog.
    pub catalog: Option<PathBuf>,
    /// Weight per minute to plan for [default: Binance's limit of the market]; lower it when
    /// other clients share the IP.
    pub weight_per_minute: Option<u32>,
}

/// Backfills every (symbol, series) of the selection, all symbols' pages interleaved through
/// the market's one weight limiter ([`data::schedule`]), and, if asked, writes them to the
/// catalog. Returns one report per (member, series); a series with failed pages (or that could
/// not be planned) lists its errors, and a rerun fetches only what is missing.
///
/// # Errors
/// A failure before paging (client, server time, exchangeInfo, the universe's probes) or a
/// catalog write error.
pub async fn backfill(args: &BackfillArgs) -> anyhow::Result<Vec<backfill::Report>> {
    let cfg = RestConfig {
        spot_url: args.base_url.clone(),
        usdm_url: args.base_url.clone(),
        timeout: Duration::from_secs(30),
        ..RestConfig::default()
    };
    let limits = LimiterConfig { weight_per_minute: args.weight_per_minute, ..LimiterConfig::default() };
    let client =
        RestClient::with_limiters(cfg, Limiter::new(Market::Spot, limits), Limiter::new(Market::UsdM, limits))?;
    let store = RawStore::new(&args.data_root);
    let t0 = std::time::Instant::now();
    let info_page = data::instruments::fetch_exchange_info(&client, &store, args.market)
        .await
        .with_context(|| format!("fetching {} exchangeInfo", args.market))?;
    let info: serde_json::Value = serde_json::from_str(RawStore::read_page(&info_page)?.body.get())
        .with_context(|| format!("reading {}", info_page.display()))?;
    let members =
        universe::resolve(&client, args.market, &info, &args.symbols, args.from_ms, args.to_ms, args.concurrency)
            .await
            .with_context(|| format!("choosing the {} symbols", args.market))?;
    let jobs: Vec<Job> = members
        .iter()
        .flat_map(|m| {
            args.specs.iter().map(|spec| Job {
                market: args.market,
                symbol: m.symbol.clone(),
                spec: spec.clone(),
                from_ms: m.from_ms,
                to_ms: m.to_ms,
            })
        })
        .collect();
    let estimate = |j: &Job| j.to_ms.saturating_sub(j.from_ms).checked_div(j.spec.step_ms).unwrap_or(0);
    let labels = jobs.iter().map(|j| format!("{} {}", j.symbol, j.spec)).collect();
    let board = std::sync::Arc::new(BoardView::new(labels, jobs.iter().map(estimate).sum()));
    let results = schedule::run_all(&client, &store, &jobs, args.concurrency, board.clone()).await?;
    board.finish();
    let reports: Vec<backfill::Report> = jobs
        .iter()
        .zip(results)
        .map(|(job, r)| {
            r.unwrap_or_else(|e| {
                let failed = unplanned(job, &e.to_string());
                backfill_view::log_report(&failed);
                failed
            })
        })
        .collect();
    let elapsed = t0.elapsed().as_secs_f64();
    let l = client.limiter(args.market);
    // The weight-budget bound: minutes of the planned per-minute budget the weight needs.
    let minutes = l.total_weight() as f64 / f64::from(l.budget());
    log::info!(
        "backfill: {} weight used {} = {minutes:.2} minutes of budget (peak {} / {} per minute, {} × 429) in {elapsed:.1} s",
        args.market,
        l.total_weight(),
        l.peak_used_weight(),
        l.budget(),
        l.throttles()
    );
    console::step(&format!(
        "backfill {} from {} into {}",
        args.market,
        args.base_url,
        store.root().join("raw").display()
    ));
    if !matches!(args.symbols, Selection::List(_)) {
        let what = match &args.symbols {
            Selection::Top { n, .. } => format!("top:{n}"),
            _ => "ALL".to_string(),
        };
        console::detail(&backfill_view::universe_line(args.market, &what, &members, args.from_ms, args.to_ms));
    }
    for line in backfill_view::summary(&reports) {
        console::detail(&line);
    }
    console::detail(&format!(
        "{elapsed:.1} s; weight {} = {minutes:.2} minutes of the {} per minute planned (peak {}), {} × 429",
        thousands(l.total_weight()),
        l.budget(),
        l.peak_used_weight(),
        l.throttles()
    ));
    if let Some(path) = &args.catalog {
        let items: Vec<RawItem> = jobs
            .iter()
            .map(|j| RawItem::Rest { market: j.market, series: j.spec.series.clone(), symbol: j.symbol.clone() })
            .collect();
        let (store, dir) = (store.clone(), path.clone());
        // The catalog blocks on its own runtime: never call it from inside ours.
        let rows = tokio::task::spawn_blocking(move || ingest_items(&store, &dir, &items)).await??;
        console::detail(&format!("catalog {}: {} new rows", path.display(), thousands(rows as u64)));
    }
    Ok(reports)
}

/// The report of a job that could not be planned (its id lookup failed).
fn unplanned(job: &Job, error: &str) -> backfill::Report {
    backfill::Report {
        market: job.market,
        symbol: job.symbol.clone(),
        series: job.spec.series_name(),
        page_limit: job.spec.page_limit(),
        pages: 0,
        fetched: 0,
        skipped: 0,
        rows: 0,
        gaps: Vec::new(),
        clipped_from_ms: None,
        errors: vec![error.to_string()],
        elapsed_ms: 0,
    }
}

/// Ingests raw items into the catalog at `path`, logging each; returns the new rows.
fn ingest_items(store: &RawStore, path: &std::path::Path, items: &[RawItem]) -> anyhow::Result<usize> {
    let mut catalog = Catalog::open(path)?;
    let mut written = 0;
    for item in items {
        let r = ingest(store, &mut catalog, item, None)?;
        log::info!("catalog: {item}: {} rows ({} new)", r.rows, r.written);
        written += r.written;
    }
    Ok(written)
}

/// Makes sure the raw archive holds an exchangeInfo of `market` (instruments come from it),
/// fetching it from `base_url` (else production Binance) if not.
pub(crate) fn ensure_exchange_info(store: &RawStore, market: Market, base_url: Option<&str>) -> anyhow::Result<()> {
    if !data::instruments::has_exchange_info(store, market)? {
        let url = base_url.map_or_else(|| market.prod_rest_url().to_string(), str::to_string);
        log::info!("import: no {market} exchangeInfo in the raw archive yet; fetching it from {url}");
        let client = RestClient::new(RestConfig { spot_url: url.clone(), usdm_url: url, ..RestConfig::default() })?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        rt.block_on(data::instruments::fetch_exchange_info(&client, store, market))?;
    }
    Ok(())
}

/// Ingests one stored bulk file into the catalog (its market's exchangeInfo fetched first if the
/// raw archive has none). Returns the new rows.
fn ingest_file(
    store: &RawStore,
    cat: &mut Catalog,
    f: &data::import::ImportedFile,
    base_url: Option<&str>,
) -> anyhow::Result<usize> {
    ensure_exchange_info(store, f.name.market, base_url)?;
    let r = ingest(store, cat, &RawItem::Archive(f.stored.clone()), None)?;
    log::info!("import {}: {} rows ({} new)", f.source.display(), r.rows, r.written);
    Ok(r.written)
}

/// What `alphalab import PATH...` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Files stored in the raw archive and converted into the catalog.
    pub imported: usize,
    /// New catalog rows.
    pub rows_written: usize,
    /// `(file, reason)` for every file refused (bad name, checksum, zip, row, empty file).
    pub refused: Vec<(String, String)>,
}

/// `alphalab import`: every bulk file under `paths` into the raw archive (checksums verified),
/// then into the catalog. A refused file is listed with its reason and the others go on.
///
/// # Errors
/// A folder that cannot be listed or a catalog that cannot be opened; per-file problems are in
/// the report instead.
pub fn import(
    paths: &[PathBuf],
    market: Option<Market>,
    base_url: Option<String>,
    data_root: &std::path::Path,
    catalog: &std::path::Path,
) -> anyhow::Result<ImportReport> {
    let store = RawStore::new(data_root);
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            files.extend(data::import::bulk_files(p, market)?);
            files.extend(crate::record_cmd::recording_files(p)?);
        } else {
            files.push(p.clone());
        }
    }
    let mut cat = Catalog::open(catalog)?;
    let mut report = ImportReport::default();
    let bar = progress(files.len() as u64, "import", "files");
    for f in &files {
        let done = if crate::record_cmd::is_recording(f) {
            crate::record_cmd::import_recording(&store, &mut cat, f, market, base_url.as_deref())
        } else {
            data::import::import_file(&store, f, market).map_err(anyhow::Error::from).and_then(|imported| {
                // A refused file leaves the raw archive too: raw is what was imported.
                ingest_file(&store, &mut cat, &imported, base_url.as_deref()).inspect_err(|_| {
                    let _ = std::fs::remove_file(&imported.stored);
                    let _ = std::fs::remove_file(data::raw::sidecar(&imported.stored));
                })
            })
        };
        match done {
            Ok(n) => {
                report.imported += 1;
                report.rows_written += n;
            }
            Err(e) => {
                log::info!("import {}: refused: {e:#}", f.display());
                report.refused.push((f.display().to_string(), format!("{e:#}")));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    console::step(&format!("import into {}", catalog.display()));
    console::detail(&format!(
        "{} of {} files imported, {} new rows",
        report.imported,
        files.len(),
        thousands(report.rows_written as u64)
    ));
    for (file, why) in &report.refused {
        console::detail(&format!("refused {file}: {why}"));
    }
    Ok(report)
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
    let names = data::download::plan(&args.request)?;
    let store = RawStore::new(&args.data_root);
    let client = binance::archive::ArchiveClient::new(Duration::from_secs(30), 3)?;
    let mut report = UrlImportReport { planned: names.len(), ..UrlImportReport::default() };
    let bar = progress(names.len() as u64, "download", "files");
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
                log::info!("import {url}: not found (404); Binance has days without files");
                report.missing.push(url);
            }
            Err(e) => {
                log::info!("import: {e}");
                report.failed.push(e.to_string());
            }
        }
    }
    let mut cat = Catalog::open(&args.catalog)?;
    for f in &files {
        match ingest_file(&store, &mut cat, f, args.rest_url.as_deref()) {
            Ok(n) => report.rows_written += n,
            Err(e) => {
                let msg = format!("{}: {e:#}", f.source.display());
                log::info!("import {msg}");
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
    console::step(&format!("import from {base} into {}", args.catalog.display()));
    console::detail(&format!(
        "{} files: {} downloaded, {} already stored, {} missing (404), {} failed; {} new rows",
        report.planned,
        report.downloaded,
        report.already_stored,
        report.missing.len(),
        report.failed.len(),
        thousands(report.rows_written as u64)
    ));
    for m in &report.missing {
        console::detail(&format!("missing {m}"));
    }
    for f in &report.failed {
        console::detail(&format!("failed {f}"));
    }
    Ok(report)
}

/// `alphalab catalog ls`: prints the listing table.
///
/// # Errors
/// The catalog cannot be opened or read.
pub fn ls(catalog: &std::path::Path) -> anyhow::Result<()> {
    let mut cat = Catalog::open(catalog)?;
    let rows = cat.ls()?;
    println!("{}", data::catalog::LsTable(&rows));
    let gaps = cat.recorded_gaps()?;
    if !gaps.is_empty() {
        println!("recorded gaps (no data, or an order book out of sync):\n{}", data::catalog::GapTable(&gaps));
    }
    Ok(())
}

/// `alphalab catalog rebuild`: the catalog from the raw archive alone; returns the raw items
/// that did not convert (listed on the terminal).
///
/// # Errors
/// A refused catalog folder or an unreadable raw archive.
pub fn rebuild(data_root: &std::path::Path, catalog: &std::path::Path) -> anyhow::Result<usize> {
    let store = RawStore::new(data_root);
    let report = data::ingest::rebuild(&store, catalog, None)?;
    log::info!("catalog rebuilt at {}: {} raw items, {} rows", catalog.display(), report.items.len(), report.rows());
    console::step(&format!("catalog rebuilt from {} at {}", store.root().join("raw").display(), catalog.display()));
    console::detail(&format!("{} raw items, {} rows", report.items.len(), thousands(report.rows() as u64)));
    for (item, why) in &report.refused {
        console::detail(&format!("refused {item}: {why}"));
    }
    Ok(report.refused.len())
}
