//! alphalab's ParquetDataCatalog: idempotent, non-destructive writes of [`Batch`]es, listings,
//! and rebuilds from the raw archive.
//!
//! - [`Catalog::open`] creates the folder and writes or checks the marker
//!   `alphalab-catalog.json` (`high_precision`, `fixed_precision`, `format`): a catalog written
//!   in the other precision mode is refused, because nautilus would read it as empty.
//! - [`Catalog::write`] never rewrites stored data: items inside an existing file interval are
//!   compared with the catalog (a difference is an error and nothing is written); the others are
//!   written as one file per contiguous run between existing intervals. Writing a batch twice
//!   leaves the catalog byte-identical.
//! - [`Catalog::ls`] lists every data type and identifier with rows, range and bar gaps;
//!   [`Catalog::recorded_gaps`] the holes of recorded streams ([`StreamGap`], [`GapTable`]).
//!
//! Rebuilding from raw is [`crate::ingest::rebuild`]'s.
//!
//! Every method runs `block_on` on nautilus' runtime: call from sync code only, never inside a
//! tokio runtime (use `spawn_blocking`).

use std::{
    fmt,
    path::{Path, PathBuf},
};

use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{
        Bar, BarType, CustomData, Data, FundingRateUpdate, HasTsInit, IndexPriceUpdate, MarkPriceUpdate,
        OrderBookDelta, QuoteTick, TradeTick,
    },
    instruments::{Instrument, InstrumentAny},
    types::fixed::{FIXED_PRECISION, HIGH_PRECISION_MODE},
};
use nautilus_persistence::backend::catalog::{ParquetDataCatalog, parse_filename_timestamps};
use serde::{Deserialize, Serialize};

use crate::{
    batch::Batch,
    custom::StreamGap,
    error::{Error, Result},
    parse::{kline::spec_interval_ns, time::ns_to_rfc3339},
};

/// Marker file at the catalog root.
pub const MARKER: &str = "alphalab-catalog.json";
/// Version of alphalab's catalog layout.
pub const FORMAT: u32 = 1;

/// Contents of [`MARKER`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    pub high_precision: bool,
    pub fixed_precision: u8,
    pub format: u32,
}

impl Marker {
    /// The marker of this build.
    #[must_use]
    pub fn current() -> Self {
        Self { high_precision: HIGH_PRECISION_MODE == 1, fixed_precision: FIXED_PRECISION, format: FORMAT }
    }
}

/// What one [`Catalog::write`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WriteReport {
    /// Catalog data type (`bars`, `custom/OpenInterest`, `instruments`, ...).
    pub data_type: String,
    /// Identifiers touched (bar types, instrument ids).
    pub identifiers: Vec<String>,
    /// Rows written.
    pub written: usize,
    /// Rows already stored identically, not written again.
    pub skipped: usize,
    /// Files created.
    pub files: Vec<PathBuf>,
}

/// One data type and identifier of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// `bars`, `trades`, `quotes`, `mark_prices`, `index_prices`, `funding_rate_update`,
    /// `instruments`, `custom/<Type>`.
    pub data_type: String,
    pub identifier: String,
    pub files: usize,
    /// From the Parquet footers.
    pub rows: u64,
    /// First and last `ts_init` (ns), from the file names.
    pub first_ts: u64,
    pub last_ts: u64,
    /// Bars only: missing bar steps between the first and the last bar.
    pub gaps: Option<usize>,
}

/// The ParquetDataCatalog at one folder.
pub struct Catalog {
    path: PathBuf,
    inner: ParquetDataCatalog,
}

impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalog").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Stored value kinds: how to name, find, read and write them.
trait Item: Clone + fmt::Debug + HasTsInit + Sized {
    /// Catalog data type (folder under `data/`).
    fn data_type(&self) -> String;
    /// Identifier (bar type, instrument id).
    fn ident(&self) -> String;
    fn dir(cat: &ParquetDataCatalog, sample: &Self) -> anyhow::Result<String>;
    fn read(cat: &mut ParquetDataCatalog, sample: &Self, start: u64, end: u64) -> anyhow::Result<Vec<Self>>;
    fn write(cat: &ParquetDataCatalog, items: Vec<Self>) -> anyhow::Result<PathBuf>;
    // (nautilus' catalog API speaks anyhow; [`Catalog`] maps it to [`Error::Catalog`].)
    fn same(&self, other: &Self) -> bool;
}

macro_rules! typed_item {
    ($t:ty, $prefix:literal, $ident:expr, $read:ident) => {
        impl Item for $t {
            fn data_type(&self) -> String {
                $prefix.to_string()
            }
            fn ident(&self) -> String {
                let f: fn(&$t) -> String = $ident;
                f(self)
            }
            fn dir(cat: &ParquetDataCatalog, sample: &Self) -> anyhow::Result<String> {
                cat.make_path($prefix, Some(&sample.ident()))
            }
            fn read(cat: &mut ParquetDataCatalog, sample: &Self, start: u64, end: u64) -> anyhow::Result<Vec<Self>> {
                cat.$read::<$t>(
                    Some(vec![sample.ident()]),
                    Some(UnixNanos::from(start)),
                    Some(UnixNanos::from(end)),
                    None,
                    None,
                    true,
                )
            }
            fn write(cat: &ParquetDataCatalog, items: Vec<Self>) -> anyhow::Result<PathBuf> {
                cat.write_to_parquet(items, None, None, None)
            }
            fn same(&self, other: &Self) -> bool {
                self == other
            }
        }
    };
}

typed_item!(Bar, "bars", |b| b.bar_type.to_string(), query_typed_data);
typed_item!(TradeTick, "trades", |t| t.instrument_id.to_string(), query_typed_data);
typed_item!(QuoteTick, "quotes", |t| t.instrument_id.to_string(), query_typed_data);
typed_item!(OrderBookDelta, "order_book_deltas", |t| t.instrument_id.to_string(), query_typed_data);
typed_item!(MarkPriceUpdate, "mark_prices", |t| t.instrument_id.to_string(), query_typed_data);
typed_item!(IndexPriceUpdate, "index_prices", |t| t.instrument_id.to_string(), query_typed_data);
typed_item!(FundingRateUpdate, "funding_rate_update", |t| t.instrument_id.to_string(), query_typed);

impl Item for CustomData {
    fn data_type(&self) -> String {
        format!("custom/{}", self.data_type.type_name())
    }
    fn ident(&self) -> String {
        self.data_type.identifier().unwrap_or_default().to_string()
    }
    fn dir(cat: &ParquetDataCatalog, sample: &Self) -> anyhow::Result<String> {
        cat.make_path_custom_data(sample.data_type.type_name(), sample.data_type.identifier())
    }
    fn read(cat: &mut ParquetDataCatalog, sample: &Self, start: u64, end: u64) -> anyhow::Result<Vec<Self>> {
        let ids: Vec<String> = sample.data_type.identifier().map(String::from).into_iter().collect();
        let got = cat.query_custom_data_dynamic(
            sample.data_type.type_name(),
            (!ids.is_empty()).then_some(ids.as_slice()),
            Some(UnixNanos::from(start)),
            Some(UnixNanos::from(end)),
            None,
            None,
            true,
        )?;
        got.into_iter()
            .map(|d| match d {
                Data::Custom(c) => Ok(c),
                other => Err(anyhow::anyhow!("expected custom data, read {other:?}")),
            })
            .collect()
    }
    fn write(cat: &ParquetDataCatalog, items: Vec<Self>) -> anyhow::Result<PathBuf> {
        cat.write_custom_data_batch(items, None, None, None)
    }
    fn same(&self, other: &Self) -> bool {
        self.data.eq_arc(other.data.as_ref())
            && self.data_type.type_name() == other.data_type.type_name()
            && self.data_type.identifier() == other.data_type.identifier()
    }
}

/// Items of one (data type, identifier), with their index in the batch.
type Group<T> = ((String, String), Vec<(usize, T)>);

/// Where an item falls relative to the sorted, disjoint, closed intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Inside interval `k`.
    In(usize),
    /// In the gap before interval `k` (`k == len`: after the last).
    Gap(usize),
}

fn slot(intervals: &[(u64, u64)], t: u64) -> Slot {
    let k = intervals.partition_point(|&(_, end)| end < t);
    if k < intervals.len() && intervals[k].0 <= t { Slot::In(k) } else { Slot::Gap(k) }
}

fn iso(ns: u64) -> String {
    ns_to_rfc3339(ns)
}

/// A planned write of one identifier: runs to write.
struct Plan<T> {
    runs: Vec<Vec<T>>,
    skipped: usize,
}

impl Catalog {
    /// Opens (creating if needed) the catalog at `path`, checking or writing its precision
    /// marker, and registers alphalab's custom data types.
    ///
    /// # Errors
    /// A catalog written in the other precision mode or format, a non-empty folder without the
    /// marker, or I/O errors, naming the path.
    pub fn open(path: impl AsRef<Path>) -> Result<Catalog> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path).map_err(Error::io(&path))?;
        let marker_path = path.join(MARKER);
        let current = Marker::current();
        if marker_path.exists() {
            let text = std::fs::read_to_string(&marker_path).map_err(Error::io(&marker_path))?;
            let found: Marker = serde_json::from_str(&text)
                .map_err(|e| Error::invalid(marker_path.display().to_string(), e.to_string()))?;
            if found != current {
                return Err(Error::Request(format!(
                    "catalog {} was written with high_precision={}, fixed_precision={}, format={}; this build uses \
                     high_precision={}, fixed_precision={}, format={} (nautilus would read it as empty); rebuild it \
                     from raw",
                    path.display(),
                    found.high_precision,
                    found.fixed_precision,
                    found.format,
                    current.high_precision,
                    current.fixed_precision,
                    current.format
                )));
            }
        } else {
            let non_empty = std::fs::read_dir(&path).map_err(Error::io(&path))?.next().is_some();
            if non_empty {
                return Err(Error::Request(format!(
                    "{} is not empty and has no {MARKER}: not an alphalab catalog (precision mode unknown)",
                    path.display()
                )));
            }
            let json = serde_json::to_vec_pretty(&current).expect("the marker serialises");
            crate::raw::write_atomic(&marker_path, &json)?;
        }
        crate::register_custom_data();
        let canonical = path.canonicalize().map_err(Error::io(&path))?;
        let inner = ParquetDataCatalog::new(&canonical, None, None, None, None);
        Ok(Catalog { path, inner })
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The nautilus catalog, for queries.
    pub fn inner(&mut self) -> &mut ParquetDataCatalog {
        &mut self.inner
    }

    /// Writes a batch idempotently; see the module docs.
    ///
    /// # Errors
    /// `ts_init` decreasing within the batch (naming identifier and index), `overlapping import
    /// differs from the catalog at <identifier> <range>`, or catalog errors. On error nothing is
    /// written.
    pub fn write(&mut self, batch: Batch) -> Result<WriteReport> {
        match batch {
            Batch::Bars(v) => self.write_items(v, "bars"),
            Batch::Trades(v) => self.write_items(v, "trades"),
            Batch::Quotes(v) => self.write_items(v, "quotes"),
            Batch::Deltas(v) => self.write_items(v, "order_book_deltas"),
            Batch::MarkPrices(v) => self.write_items(v, "mark_prices"),
            Batch::IndexPrices(v) => self.write_items(v, "index_prices"),
            Batch::Funding(v) => self.write_items(v, "funding_rate_update"),
            Batch::Custom(v) => self.write_items(v, "custom"),
            Batch::Instruments(v) => self.write_instruments(v),
        }
    }

    fn write_items<T: Item>(&mut self, items: Vec<T>, kind: &str) -> Result<WriteReport> {
        let mut report = WriteReport {
            data_type: items.first().map_or_else(|| kind.to_string(), Item::data_type),
            ..WriteReport::default()
        };
        // Group by (data type, identifier), keeping order and original indices.
        let mut groups: Vec<Group<T>> = Vec::new();
        for (i, x) in items.into_iter().enumerate() {
            let key = (x.data_type(), x.ident());
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, g)) => g.push((i, x)),
                None => groups.push((key, vec![(i, x)])),
            }
        }
        let mut plans = Vec::new();
        for ((data_type, ident), group) in groups {
            for w in group.windows(2) {
                if w[1].1.ts_init() < w[0].1.ts_init() {
                    return Err(Error::Request(format!(
                        "{data_type} {ident}: ts_init not ascending at index {}: {} after {}",
                        w[1].0,
                        iso(w[1].1.ts_init().as_u64()),
                        iso(w[0].1.ts_init().as_u64())
                    )));
                }
            }
            let items: Vec<T> = group.into_iter().map(|(_, x)| x).collect();
            let plan = self.plan(&ident, items)?;
            report.identifiers.push(ident);
            plans.push(plan);
        }
        for plan in plans {
            report.skipped += plan.skipped;
            for run in plan.runs {
                report.written += run.len();
                let what = format!("writing {} {}", report.data_type, report.identifiers.join(","));
                report.files.push(T::write(&self.inner, run).map_err(Error::catalog(what))?);
            }
        }
        Ok(report)
    }

    /// Splits one identifier's ascending items into runs to write, after checking the ones
    /// inside existing intervals against the catalog.
    fn plan<T: Item>(&mut self, ident: &str, items: Vec<T>) -> Result<Plan<T>> {
        let Some(first) = items.first().cloned() else { return Ok(Plan { runs: Vec::new(), skipped: 0 }) };
        let what = || format!("reading {} {ident}", first.data_type());
        let dir = T::dir(&self.inner, &first).map_err(Error::catalog(what()))?;
        let intervals = self.inner.get_directory_intervals(&dir).map_err(Error::catalog(what()))?;
        let (lo, hi) = (first.ts_init().as_u64(), items.last().map_or(0, |x| x.ts_init().as_u64()));
        let mut runs: Vec<Vec<T>> = Vec::new();
        let mut inside: Vec<(usize, Vec<T>)> = Vec::new();
        let mut last: Option<Slot> = None;
        for x in items {
            let s = slot(&intervals, x.ts_init().as_u64());
            let same = last == Some(s);
            last = Some(s);
            match s {
                Slot::In(_) if same => inside.last_mut().expect("same slot").1.push(x),
                Slot::In(k) => inside.push((k, vec![x])),
                Slot::Gap(_) if same => runs.last_mut().expect("same slot").push(x),
                Slot::Gap(_) => runs.push(vec![x]),
            }
        }
        let mut skipped = 0;
        for (k, mine) in inside {
            let (start, end) = (intervals[k].0.max(lo), intervals[k].1.min(hi));
            let stored = T::read(&mut self.inner, &first, start, end).map_err(Error::catalog(what()))?;
            let equal = stored.len() == mine.len()
                && stored.iter().zip(&mine).all(|(a, b)| a.ts_init() == b.ts_init() && a.same(b));
            if !equal {
                return Err(Error::Request(format!(
                    "overlapping import differs from the catalog at {ident} {}..={} ({} rows stored, {} imported)",
                    iso(start),
                    iso(end),
                    stored.len(),
                    mine.len()
                )));
            }
            skipped += mine.len();
        }
        Ok(Plan { runs, skipped })
    }

    fn write_instruments(&mut self, instruments: Vec<InstrumentAny>) -> Result<WriteReport> {
        let mut report = WriteReport { data_type: "instruments".into(), ..WriteReport::default() };
        let mut todo = Vec::new();
        for inst in instruments {
            let id = inst.id().to_string();
            let stored = self
                .inner
                .query_instruments(Some(std::slice::from_ref(&id)))
                .map_err(Error::catalog(format!("reading instruments {id}")))?;
            let ts = HasTsInit::ts_init(&inst);
            match stored.iter().find(|s| HasTsInit::ts_init(*s) == ts) {
                Some(s) if format!("{s:?}") == format!("{inst:?}") => report.skipped += 1,
                Some(s) => {
                    return Err(Error::Request(format!(
                        "overlapping import differs from the catalog at instruments {id} {}: stored {s:?}, imported \
                         {inst:?}",
                        iso(ts.as_u64())
                    )));
                }
                None => todo.push(inst),
            }
            if !report.identifiers.contains(&id) {
                report.identifiers.push(id);
            }
        }
        for inst in todo {
            report.written += 1;
            let what = format!("writing instruments {}", inst.id());
            report.files.extend(self.inner.write_instruments(vec![inst]).map_err(Error::catalog(what))?);
        }
        Ok(report)
    }

    /// Every data type and identifier with files, rows (Parquet footers), first/last `ts_init`
    /// and, for bars, the missing bar steps. Sorted by data type and identifier.
    ///
    /// # Errors
    /// Unreadable folders or Parquet footers, naming the file.
    pub fn ls(&self) -> Result<Vec<Listing>> {
        let data = self.path.join("data");
        let mut out = Vec::new();
        for t in sorted_dirs(&data)? {
            let type_name = name(&t);
            if type_name == "custom" {
                for ct in sorted_dirs(&t)? {
                    list_type(&ct, &format!("custom/{}", name(&ct)), &mut out)?;
                }
            } else {
                list_type(&t, &type_name, &mut out)?;
            }
        }
        Ok(out)
    }
}

pub(crate) fn name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Sub-folders of `dir`, sorted (none when `dir` does not exist).
pub(crate) fn sorted_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut v = Vec::new();
    for e in rd {
        let p = e.map_err(Error::io(dir))?.path();
        if p.is_dir() {
            v.push(p);
        }
    }
    v.sort();
    Ok(v)
}

fn list_type(dir: &Path, data_type: &str, out: &mut Vec<Listing>) -> Result<()> {
    for id_dir in sorted_dirs(dir)? {
        let identifier = name(&id_dir);
        let mut files = Vec::new();
        for e in std::fs::read_dir(&id_dir).map_err(Error::io(&id_dir))? {
            let p = e.map_err(Error::io(&id_dir))?.path();
            if p.extension().is_some_and(|x| x == "parquet") {
                files.push(p);
            }
        }
        if files.is_empty() {
            continue;
        }
        files.sort();
        let (mut rows, mut first_ts, mut last_ts) = (0u64, u64::MAX, 0u64);
        for f in &files {
            rows += parquet_rows(f)?;
            if let Some((a, b)) = parse_filename_timestamps(&f.to_string_lossy()) {
                first_ts = first_ts.min(a);
                last_ts = last_ts.max(b);
            }
        }
        let gaps = if data_type == "bars" {
            let step = <BarType as std::str::FromStr>::from_str(&identifier)
                .ok()
                .and_then(|bt| spec_interval_ns(&bt.spec()).ok())
                .filter(|s| *s > 0);
            step.map(|s| {
                let expected = (last_ts.saturating_sub(first_ts) / s + 1) as usize;
                expected.saturating_sub(rows as usize)
            })
        } else {
            None
        };
        out.push(Listing {
            data_type: data_type.to_string(),
            identifier,
            files: files.len(),
            rows,
            first_ts: if first_ts == u64::MAX { 0 } else { first_ts },
            last_ts,
            gaps,
        });
    }
    Ok(())
}

fn parquet_rows(path: &Path) -> Result<u64> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let f = std::fs::File::open(path).map_err(Error::io(path))?;
    let r = SerializedFileReader::new(f).map_err(|e| Error::invalid(path.display().to_string(), e.to_string()))?;
    Ok(u64::try_from(r.metadata().file_metadata().num_rows()).unwrap_or_default())
}

impl Catalog {
    /// Every hole of the recordings in the catalog ([`StreamGap`] rows), by instrument then time.
    ///
    /// # Errors
    /// The catalog cannot be read.
    pub fn recorded_gaps(&mut self) -> Result<Vec<StreamGap>> {
        let ids: Vec<String> = sorted_dirs(&self.path.join("data/custom/StreamGap"))?.iter().map(|d| name(d)).collect();
        let mut out = Vec::new();
        for id in ids {
            let rows = self
                .inner
                .query_custom_data_dynamic("StreamGap", Some(std::slice::from_ref(&id)), None, None, None, None, true)
                .map_err(Error::catalog(format!("reading custom/StreamGap {id}")))?;
            for d in rows {
                if let Data::Custom(c) = d
                    && let Some(g) = c.data.as_any().downcast_ref::<StreamGap>()
                {
                    out.push(g.clone());
                }
            }
        }
        Ok(out)
    }
}

/// The recorded-gaps table of `alphalab catalog ls`.
#[derive(Debug, Clone, Copy)]
pub struct GapTable<'a>(pub &'a [StreamGap]);

impl fmt::Display for GapTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = ["INSTRUMENT", "KIND", "FROM", "TO", "LENGTH", "STREAMS", "REASON"];
        let rows: Vec<[String; 7]> = self
            .0
            .iter()
            .map(|g| {
                let reason: String = g.reason.chars().take(90).collect();
                [
                    g.instrument_id.to_string(),
                    g.kind.clone(),
                    iso(g.from_ns),
                    iso(g.to_ns),
                    format!("{:.3} s", g.to_ns.saturating_sub(g.from_ns) as f64 / 1e9),
                    g.streams.clone(),
                    reason,
                ]
            })
            .collect();
        write_table(f, header, &rows, |i| i == 4)
    }
}

/// The `alphalab catalog ls` table.
#[derive(Debug, Clone, Copy)]
pub struct LsTable<'a>(pub &'a [Listing]);

impl fmt::Display for LsTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = ["DATA TYPE", "IDENTIFIER", "FILES", "ROWS", "FIRST", "LAST", "GAPS"];
        let rows: Vec<[String; 7]> = self
            .0
            .iter()
            .map(|l| {
                [
                    l.data_type.clone(),
                    l.identifier.clone(),
                    l.files.to_string(),
                    l.rows.to_string(),
                    iso(l.first_ts),
                    iso(l.last_ts),
                    l.gaps.map_or_else(|| "-".to_string(), |g| g.to_string()),
                ]
            })
            .collect();
        write_table(f, header, &rows, |i| (2..4).contains(&i) || i == 6)
    }
}

/// A plain-text table: columns as wide as their widest cell (in characters), two spaces
/// apart, the columns `right(i)` aligned right.
fn write_table<const N: usize>(
    f: &mut fmt::Formatter<'_>,
    header: [&str; N],
    rows: &[[String; N]],
    right: impl Fn(usize) -> bool,
) -> fmt::Result {
    let mut width = header.map(|h| h.chars().count());
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |f: &mut fmt::Formatter<'_>, cells: &[&str]| -> fmt::Result {
        let parts: Vec<String> = cells
            .iter()
            .zip(width)
            .enumerate()
            .map(|(i, (c, w))| if right(i) { format!("{c:>w$}") } else { format!("{c:<w$}") })
            .collect();
        writeln!(f, "{}", parts.join("  ").trim_end())
    };
    line(f, &header)?;
    for r in rows {
        line(f, &r.iter().map(String::as_str).collect::<Vec<_>>())?;
    }
    Ok(())
}
