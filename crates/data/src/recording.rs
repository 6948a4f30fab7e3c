//! Recording files in the raw archive (`raw/stream/...`, see [`crate::raw`]): gzip text, one
//! `<receive ns> <JSON>` line per frame, snapshot or gap ([`crate::parse::recording`]).
//!
//! - [`RecordingWriter`]: the file `alphalab record` is writing. It lives as `<name>.partial`;
//!   [`RecordingWriter::flush`] pushes every line so far to the disk (a gzip sync flush, then
//!   `fdatasync`), so a crash loses only what came after the last flush; `finish` writes the gzip
//!   trailer, syncs, renames it to its final name and writes its provenance sidecar. The source
//!   (stream URL and streams) rides in the gzip header's comment, so a crashed file can be
//!   completed by [`recover_partial`] with its provenance.
//! - [`read_lines`]: the lines of a stored recording, streamed.
//! - [`import_recording`]: a recording written by someone else in the same line format
//!   (hftbacktest's collector), validated and stored unchanged under the same layout.

use std::{
    fs::File,
    io::{BufRead, BufReader, BufWriter, Read, Write},
    path::{Path, PathBuf},
};

use binance::Market;
use flate2::{Compression, GzBuilder, read::MultiGzDecoder, write::GzEncoder};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    error::{Error, Result},
    parse::{
        recording::{FrameKind, Line, classify, split_line},
        time::ns_to_rfc3339,
    },
    raw::{Provenance, RawStore, sidecar, write_atomic},
};

/// Suffix of a recording being written.
pub const PARTIAL_EXT: &str = ".partial";

/// A recording made complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedRecording {
    pub path: PathBuf,
    pub market: Market,
    pub symbol: String,
    pub lines: u64,
    pub bytes: u64,
    pub sha256: String,
    /// Receive time of the first and last line.
    pub first_ns: u64,
    pub last_ns: u64,
}

/// Writes hash and size of what goes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The recording of one symbol being written.
pub struct RecordingWriter {
    path: PathBuf,
    partial: PathBuf,
    gz: GzEncoder<Hashing<BufWriter<File>>>,
    market: Market,
    symbol: String,
    source: String,
    lines: u64,
    first_ns: u64,
    last_ns: u64,
}

impl std::fmt::Debug for RecordingWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingWriter").field("path", &self.path).field("lines", &self.lines).finish_non_exhaustive()
    }
}

impl RecordingWriter {
    /// Opens `<stream_path(market, symbol, opened_ns)>.partial` (a `-N` suffix if that name is
    /// taken); `source` (the stream URL and streams) goes in the gzip header.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn create(store: &RawStore, market: Market, symbol: &str, opened_ns: u64, source: &str) -> Result<Self> {
        let symbol = symbol.to_ascii_uppercase();
        let base = store.stream_path(market, &symbol, opened_ns);
        let dir = base.parent().unwrap_or(store.root()).to_path_buf();
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        let stem = base.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let stem = stem.strip_suffix(crate::raw::STREAM_EXT).unwrap_or(&stem).to_string();
        for n in 0.. {
            let name = if n == 0 { stem.clone() } else { format!("{stem}-{n}") };
            let path = dir.join(format!("{name}{}", crate::raw::STREAM_EXT));
            let partial = partial_of(&path);
            if path.exists() {
                continue;
            }
            let file = match File::options().write(true).create_new(true).open(&partial) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(&partial)(e)),
            };
            let sink = Hashing { inner: BufWriter::with_capacity(256 * 1024, file), hasher: Sha256::new(), bytes: 0 };
            // Fast level: frames arrive at the network's pace, the archive is read rarely.
            let gz = GzBuilder::new().comment(source.as_bytes()).write(sink, Compression::fast());
            return Ok(Self {
                path,
                partial,
                gz,
                market,
                symbol,
                source: source.to_string(),
                lines: 0,
                first_ns: opened_ns,
                last_ns: opened_ns,
            });
        }
        unreachable!("an unbounded range always yields a free name")
    }

    /// The final path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Receive time of the last line written.
    #[must_use]
    pub fn last_ns(&self) -> u64 {
        self.last_ns
    }

    /// Appends `<ns> <json>`; `ns` is raised to the previous line's if the clock stepped back,
    /// so a file's times never decrease. Returns the time written. A line break inside `json`
    /// (never sent by Binance) would split the line: it is written as a space.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write_line(&mut self, ns: u64, json: &str) -> Result<u64> {
        let ns = ns.max(self.last_ns);
        let line = if json.contains(['\n', '\r']) {
            log::warn!("{}: a line break inside a frame, written as a space", self.path.display());
            format!("{ns} {}\n", json.replace(['\n', '\r'], " "))
        } else {
            format!("{ns} {json}\n")
        };
        self.gz.write_all(line.as_bytes()).map_err(Error::io(&self.partial))?;
        if self.lines == 0 {
            self.first_ns = ns;
        }
        self.lines += 1;
        self.last_ns = ns;
        Ok(ns)
    }

    /// Pushes every line written so far to the disk.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn flush(&mut self) -> Result<()> {
        self.gz.flush().map_err(Error::io(&self.partial))?;
        self.gz.get_ref().inner.get_ref().sync_data().map_err(Error::io(&self.partial))
    }

    /// Completes the file: gzip trailer, sync, rename to its final name, provenance sidecar.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn finish(self) -> Result<CompletedRecording> {
        let Self { path, partial, gz, market, symbol, source, lines, first_ns, last_ns } = self;
        let mut sink = gz.finish().map_err(Error::io(&partial))?;
        sink.flush().map_err(Error::io(&partial))?;
        let sha256 = hex::encode(sink.hasher.finalize());
        let file = sink.inner.into_inner().map_err(|e| Error::io(&partial)(e.into_error()))?;
        file.sync_all().map_err(Error::io(&partial))?;
        drop(file);
        std::fs::rename(&partial, &path).map_err(Error::io(&path))?;
        let prov =
            Provenance { source, sha256: sha256.clone(), retrieved_at: ns_to_rfc3339(first_ns), bytes: sink.bytes };
        write_sidecar(&path, &prov)?;
        Ok(CompletedRecording { path, market, symbol, lines, bytes: sink.bytes, sha256, first_ns, last_ns })
    }
}

fn partial_of(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(PARTIAL_EXT);
    PathBuf::from(s)
}

fn write_sidecar(path: &Path, prov: &Provenance) -> Result<()> {
    let side = sidecar(path);
    let json =
        serde_json::to_vec_pretty(prov).map_err(|e| Error::invalid(side.display().to_string(), e.to_string()))?;
    write_atomic(&side, &json)
}

/// Calls `f(line number, line)` for every line of the recording at `path` (gzip, or plain text
/// if the name does not end in `.gz`), streamed.
///
/// # Errors
/// [`Error::Io`] naming the file, or the first error of `f`.
pub fn read_lines(path: &Path, mut f: impl FnMut(usize, &str) -> Result<()>) -> Result<()> {
    let file = File::open(path).map_err(Error::io(path))?;
    let reader: Box<dyn Read> =
        if path.extension().is_some_and(|e| e == "gz") { Box::new(MultiGzDecoder::new(file)) } else { Box::new(file) };
    let mut r = BufReader::with_capacity(256 * 1024, reader);
    let mut line = String::new();
    let mut n = 0;
    loop {
        line.clear();
        if r.read_line(&mut line).map_err(Error::io(path))? == 0 {
            return Ok(());
        }
        n += 1;
        let l = line.trim_end_matches(['\n', '\r']);
        if !l.is_empty() {
            f(n, l)?;
        }
    }
}

/// Completes a `.partial` recording left by a recorder that died: the whole lines it holds (up
/// to its last flush) become a complete recording with its provenance (source from the gzip
/// header, marked as recovered); the `.partial` is removed. `None` if it held no whole line
/// (it is removed too).
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn recover_partial(partial: &Path) -> Result<Option<CompletedRecording>> {
    let path = PathBuf::from(partial.to_string_lossy().strip_suffix(PARTIAL_EXT).unwrap_or(&partial.to_string_lossy()));
    let file = File::open(partial).map_err(Error::io(partial))?;
    let mut gz = flate2::read::GzDecoder::new(file);
    let mut bytes = Vec::new();
    // A file cut by a crash ends in the middle of a deflate block: keep what decoded.
    let _ = gz.read_to_end(&mut bytes);
    let source = gz.header().and_then(|h| h.comment()).map(|c| String::from_utf8_lossy(c).into_owned());
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let text = String::from_utf8_lossy(&bytes[..whole]).into_owned();
    let (market, symbol) = stream_owner(&path)?;
    if text.is_empty() {
        std::fs::remove_file(partial).map_err(Error::io(partial))?;
        return Ok(None);
    }
    let mut enc =
        GzBuilder::new().comment(source.clone().unwrap_or_default().as_bytes()).write(Vec::new(), Compression::fast());
    enc.write_all(text.as_bytes()).map_err(Error::io(&path))?;
    let out = enc.finish().map_err(Error::io(&path))?;
    let (mut first_ns, mut last_ns, mut lines) = (0, 0, 0);
    for l in text.lines() {
        let (ns, _) = split_line(l).map_err(|e| e.at(partial.display().to_string()))?;
        if lines == 0 {
            first_ns = ns;
        }
        last_ns = ns;
        lines += 1;
    }
    write_atomic(&path, &out)?;
    let source = format!("{} (recovered from {} after a crash)", source.unwrap_or_default(), partial.display());
    let prov = Provenance::of(source, &out, ns_to_rfc3339(first_ns));
    write_sidecar(&path, &prov)?;
    std::fs::remove_file(partial).map_err(Error::io(partial))?;
    Ok(Some(CompletedRecording {
        path,
        market,
        symbol,
        lines,
        bytes: out.len() as u64,
        sha256: prov.sha256,
        first_ns,
        last_ns,
    }))
}

/// Every `.partial` recording of `market` under the raw archive.
#[must_use]
pub fn partial_files(store: &RawStore, market: Market) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![store.root().join("raw/stream").join(market.to_string())];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(PARTIAL_EXT) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Market and symbol of a recording from its path (`raw/stream/<market>/<SYMBOL>/<date>/<file>`).
///
/// # Errors
/// [`Error::Invalid`] for a path not in that layout.
pub fn stream_owner(path: &Path) -> Result<(Market, String)> {
    let bad = || {
        Error::invalid(path.display().to_string(), "not a recording path raw/stream/<market>/<SYMBOL>/<date>/<file>")
    };
    let symbol_dir = path.parent().and_then(Path::parent).ok_or_else(bad)?;
    let symbol = symbol_dir.file_name().ok_or_else(bad)?.to_string_lossy().into_owned();
    let market_name = symbol_dir.parent().and_then(Path::file_name).ok_or_else(bad)?.to_string_lossy().into_owned();
    let market = Market::ALL.into_iter().find(|m| m.to_string() == market_name).ok_or_else(bad)?;
    Ok((market, symbol))
}

/// What [`import_recording`] found and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedRecording {
    pub source: PathBuf,
    pub stored: PathBuf,
    pub market: Market,
    pub symbol: String,
    pub lines: u64,
    /// Frames per stream kind, snapshots and gap records.
    pub frames: std::collections::BTreeMap<FrameKind, u64>,
    pub snapshots: u64,
    pub gaps: u64,
}

/// Imports a recording written elsewhere in the line format `<receive ns> <JSON>` (gzip), as
/// hftbacktest's collector writes them: every line is checked (framing, JSON kind, one symbol,
/// receive times not decreasing), the market is `market` or else told by the frames (a depth
/// diff with `pu`, a trade with `X`, a bookTicker with `e`, a markPrice or forceOrder event:
/// USD-M; a depth diff without `pu`: spot), and the bytes are stored unchanged under
/// `raw/stream/<market>/<SYMBOL>/<first line's day>/<its time>.jsonl.gz` with a provenance
/// sidecar. Importing the same file again stores nothing new.
///
/// # Errors
/// [`Error::Invalid`] naming the file and line for a line that does not parse, a second symbol,
/// a time going back, no frame at all, or a market that cannot be told; [`Error::Io`].
pub fn import_recording(store: &RawStore, src: &Path, market: Option<Market>) -> Result<ImportedRecording> {
    let label = |n: usize| format!("{}:{n}", src.display());
    let (mut symbol, mut seen_market): (Option<String>, Option<Market>) = (None, None);
    let mut report = ImportedRecording {
        source: src.to_path_buf(),
        stored: PathBuf::new(),
        market: Market::Spot,
        symbol: String::new(),
        lines: 0,
        frames: std::collections::BTreeMap::new(),
        snapshots: 0,
        gaps: 0,
    };
    let (mut first_ns, mut last_ns) = (None, 0u64);
    read_lines(src, |n, line| {
        let (ns, json) = split_line(line).map_err(|e| e.at(label(n)))?;
        if ns < last_ns {
            return Err(Error::invalid(label(n), format!("receive time {ns} before the previous line's {last_ns}")));
        }
        last_ns = ns;
        first_ns.get_or_insert(ns);
        report.lines += 1;
        match classify(json).map_err(|e| e.at(label(n)))? {
            Line::Frame { stream, data } => {
                let (sym, kind) = FrameKind::of(&stream);
                match &symbol {
                    Some(s) if *s != sym => {
                        return Err(Error::invalid(
                            label(n),
                            format!("a second symbol ({sym} after {s}): one symbol per recording"),
                        ));
                    }
                    _ => symbol = Some(sym),
                }
                *report.frames.entry(kind).or_default() += 1;
                if seen_market.is_none() {
                    seen_market = market_of_frame(kind, data);
                }
            }
            Line::Snapshot { .. } => report.snapshots += 1,
            Line::Gap(_) => report.gaps += 1,
        }
        Ok(())
    })?;
    let symbol = symbol.ok_or_else(|| Error::invalid(src.display().to_string(), "no stream frame in the file"))?;
    let market = market.or(seen_market).ok_or_else(|| {
        Error::invalid(src.display().to_string(), "cannot tell spot from USD-M from the frames: pass --market")
    })?;
    if symbol.contains('_') {
        return Err(Error::invalid(
            src.display().to_string(),
            format!("{symbol}: COIN-M recordings are not supported"),
        ));
    }
    let stored = store.stream_path(market, &symbol, first_ns.unwrap_or_default());
    let bytes = std::fs::read(src).map_err(Error::io(src))?;
    let source = std::fs::canonicalize(src).unwrap_or_else(|_| src.to_path_buf());
    let prov = Provenance::of(source.to_string_lossy(), &bytes, ns_to_rfc3339(first_ns.unwrap_or_default()));
    let same = std::fs::read(sidecar(&stored))
        .ok()
        .and_then(|b| serde_json::from_slice::<Provenance>(&b).ok())
        .is_some_and(|p| p.sha256 == prov.sha256);
    if !same {
        write_atomic(&stored, &bytes)?;
        write_sidecar(&stored, &prov)?;
    }
    Ok(ImportedRecording { stored, market, symbol, ..report })
}

/// The market a frame says it is from, when it says.
fn market_of_frame(kind: FrameKind, data: &str) -> Option<Market> {
    let v: Value = serde_json::from_str(data).ok()?;
    match kind {
        FrameKind::Depth => Some(if v.get("pu").is_some() { Market::UsdM } else { Market::Spot }),
        FrameKind::Trade => v.get("X").map(|_| Market::UsdM).or(v.get("M").map(|_| Market::Spot)),
        FrameKind::BookTicker => Some(if v.get("e").is_some() { Market::UsdM } else { Market::Spot }),
        FrameKind::MarkPrice | FrameKind::ForceOrder => Some(Market::UsdM),
        FrameKind::AggTrade | FrameKind::Kline | FrameKind::Other => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> RawStore {
        let d = std::env::temp_dir().join(format!("alphalab-recording-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        RawStore::new(d)
    }

    const T0: u64 = 1_723_161_254_087_896_568;

    fn lines(path: &Path) -> Vec<String> {
        let mut v = Vec::new();
        read_lines(path, |_, l| {
            v.push(l.to_string());
            Ok(())
        })
        .unwrap();
        v
    }

    #[test]
    fn a_finished_file_holds_every_line_with_times_never_decreasing() {
        let store = tmp("finish");
        let mut w =
            RecordingWriter::create(&store, Market::Spot, "btcusdt", T0, "ws://x/stream btcusdt@trade").unwrap();
        assert_eq!(w.write_line(T0 + 5, r#"{"a":1}"#).unwrap(), T0 + 5);
        assert_eq!(w.write_line(T0 + 1, r#"{"b":2}"#).unwrap(), T0 + 5, "clock stepped back: held");
        w.flush().unwrap();
        w.write_line(T0 + 9, "{\"c\":\n3}").unwrap();
        let done = w.finish().unwrap();
        assert_eq!(done.path, store.stream_path(Market::Spot, "BTCUSDT", T0));
        assert_eq!(
            lines(&done.path),
            [format!("{} {{\"a\":1}}", T0 + 5), format!("{} {{\"b\":2}}", T0 + 5), format!("{} {{\"c\": 3}}", T0 + 9)]
        );
        assert_eq!((done.lines, done.first_ns, done.last_ns), (3, T0 + 5, T0 + 9));
        let bytes = std::fs::read(&done.path).unwrap();
        let prov: Provenance = serde_json::from_slice(&std::fs::read(sidecar(&done.path)).unwrap()).unwrap();
        assert_eq!((prov.sha256.as_str(), prov.bytes), (crate::raw::sha256_hex(&bytes).as_str(), bytes.len() as u64));
        assert_eq!(prov.source, "ws://x/stream btcusdt@trade");
        assert!(!partial_of(&done.path).exists());
        // A second file opened in the same millisecond gets its own name.
        let w2 = RecordingWriter::create(&store, Market::Spot, "BTCUSDT", T0, "s").unwrap();
        assert!(w2.path().to_string_lossy().ends_with("23-54-14.087-1.jsonl.gz"), "{}", w2.path().display());
        std::fs::remove_dir_all(store.root()).unwrap();
    }

    #[test]
    fn a_crashed_file_keeps_every_line_flushed_before_the_crash() {
        let store = tmp("crash");
        let mut w =
            RecordingWriter::create(&store, Market::UsdM, "BTCUSDT", T0, "ws://x/fstream/stream btcusdt@depth@100ms")
                .unwrap();
        for i in 0..100 {
            w.write_line(T0 + i, &format!(r#"{{"i":{i}}}"#)).unwrap();
        }
        w.flush().unwrap();
        w.write_line(T0 + 100, r#"{"i":100}"#).unwrap();
        let (path, partial) = (w.path().to_path_buf(), w.partial.clone());
        std::mem::forget(w); // a crash: no trailer, nothing after the flush
        assert_eq!(partial_files(&store, Market::UsdM), std::slice::from_ref(&partial));
        let done = recover_partial(&partial).unwrap().unwrap();
        assert_eq!((done.path.as_path(), done.lines, done.first_ns, done.last_ns), (path.as_path(), 100, T0, T0 + 99));
        assert_eq!(lines(&path).last().unwrap(), &format!(r#"{} {{"i":99}}"#, T0 + 99));
        let prov: Provenance = serde_json::from_slice(&std::fs::read(sidecar(&path)).unwrap()).unwrap();
        assert!(
            prov.source.starts_with("ws://x/fstream/stream btcusdt@depth@100ms (recovered from "),
            "{}",
            prov.source
        );
        assert!(!partial.exists() && partial_files(&store, Market::UsdM).is_empty());
        std::fs::remove_dir_all(store.root()).unwrap();
    }

    #[test]
    fn paths_name_their_market_and_symbol() {
        let store = tmp("owner");
        let p = store.stream_path(Market::UsdM, "ETHUSDT", T0);
        assert_eq!(stream_owner(&p).unwrap(), (Market::UsdM, "ETHUSDT".to_string()));
        assert!(matches!(stream_owner(Path::new("x.jsonl.gz")), Err(Error::Invalid { .. })));
    }
}
