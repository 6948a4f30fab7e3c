//! `alphalab record`: Binance market-data streams into the raw archive, raw first.
//!
//! Every frame is written as received, with its receive time, to its symbol's recording
//! (`raw/stream/<market>/<SYMBOL>/<day>/<time>.jsonl.gz`, [`crate::recording`]); files are
//! completed at every rotation boundary (each hour, UTC) and at the stop, and pushed to the disk
//! every second in between, so a crash loses at most the last second (the next `record` of the
//! market completes the crashed file). The WebSocket side ([`binance::ws::record`]) keeps
//! Binance's connection rules and reports every reconnect as a hole: a `connection` gap record
//! in the files of the symbols it touched.
//!
//! Order books: the diff-depth stream is kept in step with REST `/depth` snapshots by Binance's
//! rules ([`crate::parse::book_sync`]): a snapshot is requested once a diff is held, written into
//! the file as received, and requested again when too old or when the sequence breaks; the hole
//! between the break and the resynchronisation is written as a `depth` gap record. Each file
//! starts its own synchronisation, so it converts on its own ([`crate::ingest::stream`]).
//!
//! Memory stays flat: frames go through a bounded channel straight into gzip writers; nothing
//! grows with the recording's length but the list of completed files and holes.

mod symbol;

use std::{
    borrow::Cow,
    collections::BTreeMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use binance::{
    Market, endpoint,
    rest::RestClient,
    stream::{Stream, StreamKind},
    ws::{RecordOptions, WsEvent},
};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, watch};

use self::symbol::{BookNews, SymbolState};
use crate::{
    error::{Error, Result},
    parse::{
        depth::diff_ids_of,
        recording::{FrameKind, GapKind, GapRecord},
    },
    raw::RawStore,
    recording::{CompletedRecording, partial_files, recover_partial},
};

/// What to record.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    pub market: Market,
    /// Upper-case symbols.
    pub symbols: Vec<String>,
    /// Stream kinds, each recorded for every symbol.
    pub streams: Vec<StreamKind>,
    /// WebSocket base without `/stream` (`wss://stream.binance.com:9443`, `ws://127.0.0.1:PORT`).
    pub stream_url: String,
    pub ws: RecordOptions,
    /// Files are completed, and new ones started, at every multiple of this since the epoch
    /// (UTC): an hour.
    pub rotate_every: Duration,
    /// Lines are pushed to the disk this often: a second.
    pub flush_every: Duration,
    /// `limit` of the REST depth snapshots (1000: Binance's USD-M maximum; the whole book of
    /// most symbols within the spot weight of 50).
    pub depth_limit: u32,
}

impl RecordConfig {
    /// Binance's connection rules, hourly files flushed every second, snapshots of 1000 levels.
    #[must_use]
    pub fn new(market: Market, symbols: Vec<String>, streams: Vec<StreamKind>, stream_url: String) -> Self {
        Self {
            market,
            symbols,
            streams,
            stream_url,
            ws: RecordOptions::new(binance::stream::WsLimits::of(market)),
            rotate_every: Duration::from_secs(3600),
            flush_every: Duration::from_secs(1),
            depth_limit: 1000,
        }
    }

    /// Every `<symbol>@<kind>` stream.
    ///
    /// # Errors
    /// [`Error::Request`] for no symbol or stream, or a stream the market does not publish.
    pub fn stream_list(&self) -> Result<Vec<Stream>> {
        if self.symbols.is_empty() || self.streams.is_empty() {
            return Err(Error::Request("record: give at least one symbol and one stream".into()));
        }
        if let Some(k) = self.streams.iter().find(|k| !k.available_on(self.market)) {
            let name = Stream::new("x", k.clone()).name();
            return Err(Error::Request(format!("record: {} is not a {} stream", &name[2..], self.market)));
        }
        Ok(self.symbols.iter().flat_map(|s| self.streams.iter().map(|k| Stream::new(s, k.clone()))).collect())
    }
}

/// What one [`record`] did.
#[derive(Debug, Clone, Default)]
pub struct RecordReport {
    /// Completed files, in completion order.
    pub files: Vec<CompletedRecording>,
    /// Files a previous recorder left incomplete (a crash), completed before starting.
    pub recovered: Vec<CompletedRecording>,
    /// Frames per stream name.
    pub frames: BTreeMap<String, u64>,
    /// Depth snapshots written.
    pub snapshots: u64,
    /// Every hole written down, with its symbol.
    pub gaps: Vec<(String, GapRecord)>,
    pub connections: usize,
    pub reconnects: u32,
}

impl RecordReport {
    /// Frames over every stream.
    #[must_use]
    pub fn total_frames(&self) -> u64 {
        self.frames.values().sum()
    }
}

/// A snapshot request's answer.
struct Snapshot {
    symbol: usize,
    received_ns: u64,
    body: Result<String>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    stream: Cow<'a, str>,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(Deserialize)]
struct SnapshotId {
    #[serde(rename = "lastUpdateId")]
    last_update_id: u64,
}

/// Records `cfg` into `store` until `stop` turns true, then completes every file. Each
/// completed file is passed to `on_file` (e.g. to convert it into the catalog) and listed in the
/// report; `on_tick` sees the report every `flush_every`.
///
/// # Errors
/// A bad configuration, a WebSocket subscription Binance rejects (or no connection before the
/// stop), or an I/O error on the raw archive. Snapshot requests that fail are retried.
pub async fn record(
    cfg: &RecordConfig,
    client: &RestClient,
    store: &RawStore,
    stop: watch::Receiver<bool>,
    on_file: &mut (dyn FnMut(&CompletedRecording) + Send),
    on_tick: &mut (dyn FnMut(&RecordReport) + Send),
) -> Result<RecordReport> {
    let streams = cfg.stream_list()?;
    let mut report = RecordReport::default();
    for partial in partial_files(store, cfg.market) {
        if let Some(done) = recover_partial(&partial)? {
            log::warn!("record: completed {} left by a recorder that stopped abruptly", done.path.display());
            on_file(&done);
            report.recovered.push(done);
        }
    }
    let base = cfg.stream_url.trim_end_matches('/');
    let mut symbols: Vec<SymbolState> = cfg
        .symbols
        .iter()
        .map(|s| {
            let mine: Vec<String> = streams.iter().filter(|x| x.symbol == *s).map(Stream::name).collect();
            let depth = mine.iter().find(|n| FrameKind::of(n).1 == FrameKind::Depth).cloned();
            SymbolState::new(cfg.market, s, format!("{base}/stream {}", mine.join(",")), depth)
        })
        .collect();
    let index: BTreeMap<String, usize> = symbols.iter().enumerate().map(|(i, s)| (s.symbol.clone(), i)).collect();
    let (tx, mut frames) = mpsc::channel(8192);
    let ws = {
        let (base, streams, opts, stop) = (base.to_string(), streams.clone(), cfg.ws.clone(), stop.clone());
        tokio::spawn(async move { binance::ws::record(&base, &streams, opts, tx, stop).await })
    };
    let (snap_tx, mut snapshots) = mpsc::channel::<Snapshot>(64);
    let mut tick = tokio::time::interval(cfg.flush_every.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let rotate_ns = u64::try_from(cfg.rotate_every.as_nanos()).unwrap_or(u64::MAX).max(1);
    let mut next_rotation = (now_ns() / rotate_ns + 1).saturating_mul(rotate_ns);
    let mut fetch = Fetcher { client: client.clone(), market: cfg.market, limit: cfg.depth_limit, tx: snap_tx };
    let mut unknown_logged = false;
    loop {
        tokio::select! {
            ev = frames.recv() => {
                let Some(ev) = ev else { break };
                let ns = match &ev {
                    WsEvent::Frame(f) => f.received_at_ns,
                    WsEvent::Gap { gap, .. } => gap.to_ns,
                };
                if ns >= next_rotation {
                    rotate(&mut symbols, store, &mut report, on_file)?;
                    next_rotation = (ns / rotate_ns + 1).saturating_mul(rotate_ns);
                }
                match ev {
                    WsEvent::Frame(f) => {
                        let Ok(env) = serde_json::from_str::<Envelope<'_>>(&f.text) else {
                            log::warn!("record: not a combined-stream frame, skipped: {:.120}", f.text);
                            continue;
                        };
                        let (sym, kind) = FrameKind::of(&env.stream);
                        let Some(&i) = index.get(&sym) else {
                            if !std::mem::replace(&mut unknown_logged, true) {
                                log::warn!("record: frame of a stream not asked for ({}), skipped", env.stream);
                            }
                            continue;
                        };
                        *report.frames.entry(env.stream.to_string()).or_default() += 1;
                        let s = &mut symbols[i];
                        let ns = s.write(store, f.received_at_ns, &f.text)?;
                        if kind == FrameKind::Depth {
                            match diff_ids_of(env.data.get()) {
                                Ok(ids) => {
                                    let news = s.on_diff(ids, ns);
                                    note(s, news, &mut report);
                                }
                                Err(e) => log::warn!("record: {} {}: {e}", s.symbol, env.stream),
                            }
                            if s.wants_snapshot() {
                                fetch.request(i, s, Duration::ZERO);
                            }
                        }
                    }
                    WsEvent::Gap { gap, streams } => {
                        log::warn!("record: no data on {} from {} to {} ns: {}", streams.join(","), gap.from_ns, gap.to_ns, gap.reason);
                        for s in &mut symbols {
                            let mine: Vec<String> = streams.iter().filter(|n| FrameKind::of(n).0 == s.symbol).cloned().collect();
                            if mine.is_empty() {
                                continue;
                            }
                            let rec = GapRecord { kind: GapKind::Connection, from_ns: gap.from_ns, to_ns: gap.to_ns, streams: mine, reason: gap.reason.clone() };
                            s.on_connection_gap(store, &rec)?;
                            report.gaps.push((s.symbol.clone(), rec));
                        }
                    }
                }
            }
            Some(snap) = snapshots.recv() => {
                let s = &mut symbols[snap.symbol];
                let parsed = snap.body.and_then(|b| {
                    let id = serde_json::from_str::<SnapshotId>(&b).map_err(|e| Error::invalid(format!("{} depth snapshot", s.symbol), e.to_string()))?;
                    Ok((id.last_update_id, b))
                });
                match parsed {
                    Ok((last_update_id, body)) => {
                        let ns = s.write(store, snap.received_ns, &body)?;
                        report.snapshots += 1;
                        s.snapshot_in_flight = false;
                        match s.on_snapshot(store, last_update_id, ns)? {
                            BookNews::SnapshotTooOld => fetch.request(snap.symbol, s, Duration::from_millis(250)),
                            news => {
                                note(s, news, &mut report);
                                if s.wants_snapshot() {
                                    fetch.request(snap.symbol, s, Duration::ZERO);
                                }
                            }
                        }
                    }
                    Err(e) => {
                        log::warn!("record: {} depth snapshot failed, retrying in 1 s: {e}", s.symbol);
                        s.snapshot_in_flight = false;
                        fetch.request(snap.symbol, s, Duration::from_secs(1));
                    }
                }
            }
            _ = tick.tick() => {
                for s in &mut symbols {
                    s.flush()?;
                }
                on_tick(&report);
            }
        }
    }
    rotate(&mut symbols, store, &mut report, on_file)?;
    let summary = ws.await.map_err(|e| Error::Request(format!("record: websocket task: {e}")))??;
    report.connections = summary.connections;
    report.reconnects = summary.reconnects;
    Ok(report)
}

/// Completes every open file (see [`SymbolState::close`]).
fn rotate(
    symbols: &mut [SymbolState],
    store: &RawStore,
    report: &mut RecordReport,
    on_file: &mut (dyn FnMut(&CompletedRecording) + Send),
) -> Result<()> {
    for s in symbols {
        let (done, gap) = s.close(store)?;
        if let Some(g) = gap {
            report.gaps.push((s.symbol.clone(), g));
        }
        if let Some(done) = done {
            log::info!("record: completed {} ({} lines)", done.path.display(), done.lines);
            on_file(&done);
            report.files.push(done);
        }
    }
    Ok(())
}

/// Logs what a line did to a book, and keeps the holes written.
fn note(s: &SymbolState, news: BookNews, report: &mut RecordReport) {
    match news {
        BookNews::Broke(reason) => log::warn!("record: {} order book out of sync, resynchronising: {reason}", s.symbol),
        BookNews::Synced(Some(g)) => {
            log::info!("record: {} order book resynchronised after {} ms", s.symbol, (g.to_ns - g.from_ns) / 1_000_000);
            report.gaps.push((s.symbol.clone(), g));
        }
        BookNews::Synced(None) => log::info!("record: {} order book synchronised", s.symbol),
        BookNews::Nothing | BookNews::SnapshotTooOld => {}
    }
}

/// Spawns the REST depth snapshot requests.
struct Fetcher {
    client: RestClient,
    market: Market,
    limit: u32,
    tx: mpsc::Sender<Snapshot>,
}

impl Fetcher {
    fn request(&mut self, i: usize, s: &mut SymbolState, after: Duration) {
        s.snapshot_in_flight = true;
        let (client, tx, symbol, limit) = (self.client.clone(), self.tx.clone(), s.symbol.clone(), self.limit);
        let ep = endpoint::find(self.market, "depth").expect("every market has a depth row");
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let r = client.get(ep, &[("symbol", symbol), ("limit", limit.to_string())]).await;
            let received_ns = now_ns();
            let body = r.map_err(Error::from).and_then(|r| {
                String::from_utf8(r.body.to_vec()).map_err(|_| Error::invalid(ep.id(), "body is not UTF-8"))
            });
            let _ = tx.send(Snapshot { symbol: i, received_ns, body }).await;
        });
    }
}

fn now_ns() -> u64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
