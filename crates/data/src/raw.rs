//! The raw archive: every byte alphalab fetched or imported, compressed, with its provenance.
//!
//! Raw is the source of truth: the catalog is only ever built from it, so any parser bug can
//! be fixed and the catalog rebuilt without the network. Layout under the data root:
//!
//! ```text
//! raw/rest/<market>/<dataset>/<SYMBOL>/<key:020>.json.gz   one REST page: provenance + exact body
//! raw/archive/<data.binance.vision path>                    an imported bulk file, unchanged
//! raw/archive/<...>.provenance.json                         where it came from, its sha256
//! raw/stream/<market>/<SYMBOL>/<YYYY-MM-DD>/<HH-MM-SS.mmm>.jsonl.gz
//!                                                           a recording: `<receive ns> <JSON>`
//!                                                           lines from that instant (UTC), one
//!                                                           hour at most when recorded here
//! raw/stream/<...>.jsonl.gz.provenance.json                 stream URL (or imported file), sha256
//! raw/stream/<...>.jsonl.gz.partial                         a recording being written
//! ```
//!
//! Every write is atomic (temp file + rename), so a killed process leaves whole pages only; a
//! recording is written as `.partial` and renamed once complete ([`crate::recording`]).

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
};

use binance::Market;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

/// Where a raw item came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// Request URL (without secrets) or the imported file's original path or URL.
    pub source: String,
    /// SHA-256 of the stored payload bytes, hex.
    pub sha256: String,
    /// RFC 3339 UTC.
    pub retrieved_at: String,
    pub bytes: u64,
}

/// One REST page as received.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestPage {
    pub provenance: Provenance,
    pub status: u16,
    /// False when the page's range reached past the server time when fetched: such a page is
    /// refetched by the next backfill instead of being trusted as final.
    pub complete: bool,
    /// The exact wire body.
    pub body: Box<RawValue>,
}

impl Provenance {
    /// Provenance of `bytes` received from (or read at) `source` at `retrieved_at`.
    #[must_use]
    pub fn of(source: impl Into<String>, bytes: &[u8], retrieved_at: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            sha256: sha256_hex(bytes),
            retrieved_at: retrieved_at.into(),
            bytes: bytes.len() as u64,
        }
    }
}

impl RestPage {
    /// A page holding the exact `body` received from `source`.
    ///
    /// # Errors
    /// The body is not JSON.
    pub fn new(
        source: impl Into<String>,
        status: u16,
        complete: bool,
        body: String,
        retrieved_at: impl Into<String>,
    ) -> serde_json::Result<Self> {
        let provenance = Provenance::of(source, body.as_bytes(), retrieved_at);
        Ok(Self { provenance, status, complete, body: RawValue::from_string(body)? })
    }
}

/// Hex SHA-256 of `bytes`.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The wall clock as RFC 3339 UTC with milliseconds: the `retrieved_at` of everything stored.
#[must_use]
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Writes `bytes` to `path` through a temporary sibling and a rename.
///
/// # Errors
/// [`Error::Io`] naming the path.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes)).map_err(Error::io(path))
}

/// Writes what `body` writes to `path` through a buffered temporary sibling, an fsync and a
/// rename, so that a reader (or a crash) sees the old file or the whole new one, and a large
/// file is streamed rather than built in memory first. The temporary file is removed on error.
///
/// # Errors
/// The I/O error of creating, writing, syncing or renaming (or `body`'s own).
pub fn write_atomic_with(
    path: &Path,
    body: impl FnOnce(&mut (dyn Write + Send)) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut w = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create(&tmp)?);
        body(&mut w)?;
        let f = w.into_inner().map_err(std::io::IntoInnerError::into_error)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The raw archive under one data root.
#[derive(Debug, Clone)]
pub struct RawStore {
    root: PathBuf,
}

impl RawStore {
    #[must_use]
    pub fn new(data_root: impl Into<PathBuf>) -> Self {
        Self { root: data_root.into() }
    }

    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Folder of one REST series.
    #[must_use]
    pub fn series_dir(&self, market: Market, dataset: &str, symbol: &str) -> PathBuf {
        self.root.join("raw/rest").join(market.to_string()).join(dataset).join(symbol.to_ascii_uppercase())
    }

    /// File of one page; `key` is its start (time in ms, or first id).
    #[must_use]
    pub fn page_path(&self, market: Market, dataset: &str, symbol: &str, key: u64) -> PathBuf {
        self.series_dir(market, dataset, symbol).join(format!("{key:020}.json.gz"))
    }

    /// Stores a page atomically, gzip-compressed.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write_page(&self, path: &Path, page: &RestPage) -> Result<()> {
        let json = serde_json::to_vec(page).map_err(|e| Error::invalid(path.display().to_string(), e.to_string()))?;
        // Fast level: pages are written at the network's pace; the archive is read rarely.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&json).map_err(Error::io(path))?;
        write_atomic(path, &gz.finish().map_err(Error::io(path))?)
    }

    /// Reads a page back and checks its body against the recorded checksum.
    ///
    /// # Errors
    /// [`Error::Io`] for I/O and gzip errors, [`Error::Invalid`] for a page that is not one or
    /// whose body does not match its recorded checksum; both name the file.
    pub fn read_page(path: &Path) -> Result<RestPage> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(std::fs::File::open(path).map_err(Error::io(path))?)
            .read_to_string(&mut text)
            .map_err(Error::io(path))?;
        let label = || path.display().to_string();
        let page: RestPage = serde_json::from_str(&text).map_err(|e| Error::invalid(label(), e.to_string()))?;
        let got = sha256_hex(page.body.get().as_bytes());
        if got != page.provenance.sha256 {
            return Err(Error::invalid(
                label(),
                format!("checksum mismatch: recorded {}, content {got}", page.provenance.sha256),
            ));
        }
        Ok(page)
    }

    /// Pages of one series, ascending by key. Unreadable names are ignored (temp files).
    ///
    /// # Errors
    /// [`Error::Io`] listing the folder.
    pub fn pages(&self, market: Market, dataset: &str, symbol: &str) -> Result<Vec<(u64, PathBuf)>> {
        let dir = self.series_dir(market, dataset, symbol);
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(Vec::new()) };
        let mut v = Vec::new();
        for e in entries {
            let p = e.map_err(Error::io(&dir))?.path();
            let key = p.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".json.gz"));
            if let Some(k) = key.and_then(|k| k.parse().ok()) {
                v.push((k, p));
            }
        }
        v.sort();
        Ok(v)
    }

    /// Where an imported bulk file lives, keeping its data.binance.vision relative path.
    #[must_use]
    pub fn archive_path(&self, rel: &Path) -> PathBuf {
        self.root.join("raw/archive").join(rel)
    }

    /// Copies a bulk file into the archive (already compressed by Binance: stored as is) with a
    /// provenance sidecar. Returns the stored path.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn store_archive_file(&self, rel: &Path, bytes: &[u8], source: &str, retrieved_at: &str) -> Result<PathBuf> {
        let dest = self.archive_path(rel);
        write_atomic(&dest, bytes)?;
        let prov = Provenance::of(source, bytes, retrieved_at);
        let side = sidecar(&dest);
        let json =
            serde_json::to_vec_pretty(&prov).map_err(|e| Error::invalid(side.display().to_string(), e.to_string()))?;
        write_atomic(&side, &json)?;
        Ok(dest)
    }

    /// Folder of the recordings of one symbol.
    #[must_use]
    pub fn stream_dir(&self, market: Market, symbol: &str) -> PathBuf {
        self.root.join("raw/stream").join(market.to_string()).join(symbol.to_ascii_uppercase())
    }

    /// Path of the recording of `symbol` whose first line was received at `opened_ns`:
    /// `<stream_dir>/<YYYY-MM-DD>/<HH-MM-SS.mmm>.jsonl.gz` (UTC).
    #[must_use]
    pub fn stream_path(&self, market: Market, symbol: &str, opened_ns: u64) -> PathBuf {
        let t = chrono::DateTime::from_timestamp_nanos(i64::try_from(opened_ns).unwrap_or(i64::MAX));
        self.stream_dir(market, symbol)
            .join(t.format("%Y-%m-%d").to_string())
            .join(format!("{}{STREAM_EXT}", t.format("%H-%M-%S%.3f")))
    }

    /// Every complete recording (not the sidecars, not `.partial` files), in path order (that
    /// is, by market, symbol and time), for rebuilds.
    #[must_use]
    pub fn stream_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.root.join("raw/stream"), &mut out);
        out.retain(|p| p.to_string_lossy().ends_with(STREAM_EXT) && !is_temp(p));
        out.sort();
        out
    }

    /// Every archived bulk file (not the sidecars), in path order, for rebuilds.
    #[must_use]
    pub fn archive_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.root.join("raw/archive"), &mut out);
        out.retain(|p| !p.to_string_lossy().ends_with(".provenance.json") && !is_temp(p));
        out.sort();
        out
    }
}

/// Extension of a complete recording.
pub const STREAM_EXT: &str = ".jsonl.gz";

fn is_temp(p: &Path) -> bool {
    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.') && n.ends_with(".tmp"))
}

/// The provenance sidecar of an archived file.
#[must_use]
pub fn sidecar(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".provenance.json");
    PathBuf::from(s)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("alphalab-raw-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn page(body: &str) -> RestPage {
        let url = "http://127.0.0.1/api/v3/klines?symbol=BTCUSDT";
        RestPage::new(url, 200, true, body.to_string(), "2024-01-01T00:00:00Z").unwrap()
    }

    #[test]
    fn atomic_write_replaces_content_and_leaves_no_temp_file() {
        let dir = tmp("atomic");
        let p = dir.join("a/b.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("b.json")]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_write_that_fails_midway_keeps_the_old_file_and_no_temp_file() {
        let dir = tmp("atomic-fail");
        let p = dir.join("t.csv");
        write_atomic(&p, b"old").unwrap();
        let err = write_atomic_with(&p, |w| {
            w.write_all(b"half of the new")?;
            Err(std::io::Error::other("encoder failed"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "encoder failed");
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("t.csv")]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn pages_round_trip_byte_exact_and_list_in_key_order() {
        let store = RawStore::new(tmp("pages"));
        let body = r#"[[1,"1.10000000" ,"2"]]"#;
        for key in [120_000, 60_000] {
            store.write_page(&store.page_path(Market::Spot, "klines_1m", "btcusdt", key), &page(body)).unwrap();
        }
        let pages = store.pages(Market::Spot, "klines_1m", "BTCUSDT").unwrap();
        assert_eq!(pages.iter().map(|(k, _)| *k).collect::<Vec<_>>(), vec![60_000, 120_000]);
        let back = RawStore::read_page(&pages[0].1).unwrap();
        assert_eq!(back.body.get(), body);
        std::fs::remove_dir_all(store.root()).unwrap();
    }

    #[test]
    fn a_tampered_page_is_refused_naming_the_file() {
        let store = RawStore::new(tmp("tamper"));
        let mut p = page("[1]");
        p.provenance.sha256 = sha256_hex(b"[2]");
        let path = store.page_path(Market::UsdM, "fundingRate", "BTCUSDT", 0);
        store.write_page(&path, &p).unwrap();
        let err = RawStore::read_page(&path).unwrap_err().to_string();
        assert!(err.starts_with(&path.display().to_string()) && err.contains("checksum mismatch"), "{err}");
        std::fs::remove_dir_all(store.root()).unwrap();
    }

    #[test]
    fn recordings_are_named_by_their_first_receive_time_and_listed_complete_only() {
        let store = RawStore::new(tmp("stream"));
        let p = store.stream_path(Market::UsdM, "btcusdt", 1_723_161_254_087_896_568);
        assert_eq!(p, store.root().join("raw/stream/usdm/BTCUSDT/2024-08-08/23-54-14.087.jsonl.gz"));
        write_atomic(&p, b"x").unwrap();
        write_atomic(&sidecar(&p), b"{}").unwrap();
        let partial = store.stream_path(Market::UsdM, "BTCUSDT", 1_723_161_300_000_000_000);
        write_atomic(&PathBuf::from(format!("{}.partial", partial.display())), b"x").unwrap();
        assert_eq!(store.stream_files(), vec![p]);
        std::fs::remove_dir_all(store.root()).unwrap();
    }

    #[test]
    fn archive_files_keep_provenance_and_skip_sidecars() {
        let store = RawStore::new(tmp("archive"));
        let rel = Path::new("data/spot/daily/klines/ADABTC/1m/ADABTC-1m-2021-11-27.zip");
        let dest = store.store_archive_file(rel, b"zipbytes", "file:///x.zip", "2024-01-01T00:00:00Z").unwrap();
        assert_eq!(store.archive_files(), vec![dest.clone()]);
        let prov: Provenance = serde_json::from_slice(&std::fs::read(sidecar(&dest)).unwrap()).unwrap();
        assert_eq!(prov.sha256, sha256_hex(b"zipbytes"));
        assert_eq!(prov.bytes, 8);
        std::fs::remove_dir_all(store.root()).unwrap();
    }
}
