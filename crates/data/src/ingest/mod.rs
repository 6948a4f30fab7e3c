//! Raw archive → catalog: the one place where a stored raw item (the REST pages of a series, or
//! one bulk file) becomes catalog rows. Backfill, import and rebuild all call [`ingest`], so the
//! catalog is always what the raw archive converts to.
//!
//! - [`rest`]: the stored pages of one REST series → batches.
//! - [`archive`]: one data.binance.vision file → batches, streamed in bounded chunks.
//! - [`stream`]: one recording of WebSocket frames (and depth snapshots) → batches, streamed.
//!
//! An item's instrument comes from the latest exchangeInfo stored in the raw archive
//! ([`crate::instruments::load_instrument`]). A failed ingest removes every catalog file it
//! created, so the catalog is left as it was.

pub mod archive;
pub mod rest;
pub mod stream;

use std::{
    fmt,
    path::{Path, PathBuf},
};

use binance::{Market, SeriesSpec, archive::ArchiveName};
use serde::Serialize;

use crate::{
    batch::Batch,
    catalog::{Catalog, MARKER, WriteReport, name, sorted_dirs},
    error::{Error, Result},
    instruments::{EXCHANGE_INFO, instrument_versions, load_instrument},
    parse::instrument::Fees,
    raw::RawStore,
};

/// A stored raw item that converts to catalog rows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RawItem {
    /// Every stored page of one REST series of one symbol.
    Rest { market: Market, series: SeriesSpec, symbol: String },
    /// One bulk file under `raw/archive/`.
    Archive(PathBuf),
    /// One recording under `raw/stream/`.
    Stream(PathBuf),
}

impl fmt::Display for RawItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawItem::Rest { market, series, symbol } => write!(f, "{market}/{}/{symbol}", series.folder()),
            RawItem::Archive(p) | RawItem::Stream(p) => write!(f, "{}", p.display()),
        }
    }
}

impl RawItem {
    /// The market and symbol whose instrument the item's rows belong to.
    ///
    /// # Errors
    /// An archive file whose name does not parse.
    pub fn market_symbol(&self) -> Result<(Market, String)> {
        Ok(match self {
            RawItem::Rest { market, symbol, .. } => (*market, symbol.to_ascii_uppercase()),
            RawItem::Archive(p) => {
                let name = ArchiveName::parse(p, None)?;
                (name.market, name.symbol)
            }
            RawItem::Stream(p) => crate::recording::stream_owner(p)?,
        })
    }
}

/// Every raw item of the archive, in rebuild order: REST series by (market, series, symbol),
/// then bulk files by path, then recordings by path (market, symbol, time). exchangeInfo pages
/// are the instruments' source, not an item.
///
/// # Errors
/// [`Error::Io`] listing `raw/`, [`Error::Request`] for a REST folder that names no series.
pub fn raw_items(store: &RawStore) -> Result<Vec<RawItem>> {
    let mut out = Vec::new();
    for m in sorted_dirs(&store.root().join("raw/rest"))? {
        let Some(market) = Market::ALL.into_iter().find(|x| x.to_string() == name(&m)) else { continue };
        for s in sorted_dirs(&m)? {
            if name(&s) == EXCHANGE_INFO {
                continue;
            }
            let series =
                SeriesSpec::from_folder(&name(&s)).map_err(|e| Error::Request(format!("{}: {e}", s.display())))?;
            for sym in sorted_dirs(&s)? {
                out.push(RawItem::Rest { market, series: series.clone(), symbol: name(&sym) });
            }
        }
    }
    out.sort();
    out.extend(store.archive_files().into_iter().map(RawItem::Archive));
    out.extend(store.stream_files().into_iter().map(RawItem::Stream));
    Ok(out)
}

/// What [`ingest`] did with one item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ingested {
    /// The item, as displayed.
    pub item: String,
    /// Rows the item converted to.
    pub rows: usize,
    /// Rows written (the rest were already stored identically); instruments not counted.
    pub written: usize,
    pub skipped: usize,
    /// Catalog files created (instruments included).
    pub files: Vec<PathBuf>,
}

impl Ingested {
    fn add(&mut self, r: &WriteReport) {
        if r.data_type != "instruments" {
            self.written += r.written;
            self.skipped += r.skipped;
        }
        self.files.extend(r.files.iter().cloned());
    }
}

/// Converts one raw item and writes its instrument and rows into `catalog`, idempotently (rows
/// already stored identically are skipped). `fees` overrides the market's default fees on the
/// instrument.
///
/// # Errors
/// A missing exchangeInfo or symbol, a row that does not convert (naming file and line or page
/// and row), or a write that would change stored data; every file this call created is then
/// removed again.
pub fn ingest(store: &RawStore, catalog: &mut Catalog, item: &RawItem, fees: Option<Fees>) -> Result<Ingested> {
    let mut done = Ingested { item: item.to_string(), ..Ingested::default() };
    let result = write_item(store, catalog, item, fees, &mut done);
    match result {
        Ok(()) => Ok(done),
        Err(e) => {
            remove_created(catalog.path(), &done.files);
            Err(e)
        }
    }
}

fn write_item(
    store: &RawStore,
    catalog: &mut Catalog,
    item: &RawItem,
    fees: Option<Fees>,
    done: &mut Ingested,
) -> Result<()> {
    let (market, symbol) = item.market_symbol()?;
    let instrument = load_instrument(store, market, &symbol, fees)?;
    done.add(&catalog.write(Batch::Instruments(vec![instrument.clone()]))?);
    let mut sink = |b: Batch| -> Result<()> {
        done.rows += b.len();
        let r = catalog.write(b)?;
        done.add(&r);
        Ok(())
    };
    match item {
        RawItem::Rest { market, series, symbol } => {
            for b in rest::convert_series(store, *market, series, symbol, &instrument)? {
                sink(b)?;
            }
        }
        RawItem::Archive(path) => {
            archive::convert_file(path, &instrument, archive::CHUNK_ROWS, &mut sink)?;
        }
        RawItem::Stream(path) => {
            let counts = stream::convert_file(path, &instrument, archive::CHUNK_ROWS, &mut sink)?;
            log::debug!("{item}: {counts:?}");
        }
    }
    Ok(())
}

/// Removes files an ingest created (nautilus names them relative to the catalog root), and the
/// folders it left empty under the catalog's `data/`.
fn remove_created(root: &Path, files: &[PathBuf]) {
    let data = root.join("data");
    for f in files {
        let f = if f.is_absolute() { f.clone() } else { root.join(f) };
        let _ = std::fs::remove_file(&f);
        let mut dir = f.parent();
        while let Some(d) = dir.filter(|d| d.starts_with(&data) && *d != data) {
            if std::fs::remove_dir(d).is_err() {
                break; // not empty
            }
            dir = d.parent();
        }
    }
}

/// What [`rebuild`] wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RebuildReport {
    pub items: Vec<Ingested>,
    /// `(item, reason)` of every raw item that did not convert (the others are all written).
    pub refused: Vec<(String, String)>,
}

impl RebuildReport {
    /// Rows written in total.
    #[must_use]
    pub fn rows(&self) -> usize {
        self.items.iter().map(|i| i.written).sum()
    }
}

/// Deletes the catalog at `catalog_path` (only if it holds [`MARKER`] or is empty) and ingests
/// every raw item again in [`raw_items`] order: the same raw archive always rebuilds the same
/// bytes. Every stored exchangeInfo version of each symbol with data is written too, as the
/// ingests that grew the catalog wrote the version current at their time.
///
/// A raw item that does not convert is listed in [`RebuildReport::refused`] and the others go on.
///
/// # Errors
/// A folder that is not an alphalab catalog (naming it), or an unreadable raw archive.
pub fn rebuild(store: &RawStore, catalog_path: &Path, fees: Option<Fees>) -> Result<RebuildReport> {
    if catalog_path.exists() {
        let empty = std::fs::read_dir(catalog_path).map_err(Error::io(catalog_path))?.next().is_none();
        if !empty && !catalog_path.join(MARKER).is_file() {
            return Err(Error::Request(format!(
                "refusing to rebuild {}: not empty and not an alphalab catalog (no {MARKER})",
                catalog_path.display()
            )));
        }
        std::fs::remove_dir_all(catalog_path).map_err(Error::io(catalog_path))?;
    }
    let mut cat = Catalog::open(catalog_path)?;
    let mut report = RebuildReport::default();
    let items = raw_items(store)?;
    let mut symbols = std::collections::BTreeSet::new();
    for item in &items {
        match ingest(store, &mut cat, item, fees) {
            Ok(done) => {
                symbols.insert(item.market_symbol()?);
                report.items.push(done);
            }
            Err(e) => report.refused.push((item.to_string(), e.to_string())),
        }
    }
    for (market, symbol) in symbols {
        let versions = instrument_versions(store, market, &symbol, fees)?;
        let r = cat.write(Batch::Instruments(versions))?;
        let mut done = Ingested { item: format!("{market} {symbol} instruments"), ..Ingested::default() };
        done.add(&r);
        report.items.push(done);
    }
    Ok(report)
}
