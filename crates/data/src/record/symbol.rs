//! One recorded symbol: its current file, its depth synchronisation ([`BookSync`] on update ids
//! only: the recorder keeps no book, it only decides when a snapshot is needed and which holes
//! to write down), and the lines it writes.

use binance::Market;

use crate::{
    error::Result,
    parse::{
        book_sync::{BookSync, DiffStep, SnapshotStep, SyncGap},
        depth::DiffIds,
        recording::{GapKind, GapRecord},
    },
    raw::RawStore,
    recording::{CompletedRecording, RecordingWriter},
};

/// What a line did to the symbol's book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BookNews {
    Nothing,
    /// The sequence broke: the book is out of sync.
    Broke(String),
    /// A snapshot was older than the diffs held: get another one.
    SnapshotTooOld,
    /// The book is in sync again; the hole it closed, if any, was written down.
    Synced(Option<GapRecord>),
}

pub(super) struct SymbolState {
    pub symbol: String,
    market: Market,
    /// `<stream url>/stream <this symbol's streams>`: the files' source.
    source: String,
    /// The symbol's diff-depth stream, if recorded.
    pub depth_stream: Option<String>,
    writer: Option<RecordingWriter>,
    book: BookSync<()>,
    /// A snapshot request is on its way (or waiting to be retried).
    pub snapshot_in_flight: bool,
    /// Receive time of the last line of this symbol's last file: the next file starts no earlier.
    last_ns: u64,
}

impl SymbolState {
    pub(super) fn new(market: Market, symbol: &str, source: String, depth_stream: Option<String>) -> Self {
        Self {
            symbol: symbol.to_string(),
            market,
            source,
            depth_stream,
            writer: None,
            book: BookSync::new(market),
            snapshot_in_flight: false,
            last_ns: 0,
        }
    }

    /// Writes one line, opening a file if none is open; returns the time written.
    pub(super) fn write(&mut self, store: &RawStore, ns: u64, json: &str) -> Result<u64> {
        let ns = ns.max(self.last_ns);
        let w = match &mut self.writer {
            Some(w) => w,
            None => self.writer.insert(RecordingWriter::create(store, self.market, &self.symbol, ns, &self.source)?),
        };
        let ns = w.write_line(ns, json)?;
        self.last_ns = ns;
        Ok(ns)
    }

    /// A diff-depth frame just written at `ns`.
    pub(super) fn on_diff(&mut self, ids: DiffIds, ns: u64) -> BookNews {
        match self.book.on_diff(ids, ns, ()) {
            DiffStep::Broke { reason } => BookNews::Broke(reason),
            DiffStep::Apply(()) | DiffStep::Buffered | DiffStep::Stale => BookNews::Nothing,
        }
    }

    /// A snapshot line just written at `ns`; writes the depth hole it closed.
    pub(super) fn on_snapshot(&mut self, store: &RawStore, last_update_id: u64, ns: u64) -> Result<BookNews> {
        Ok(match self.book.on_snapshot(last_update_id, ns) {
            SnapshotStep::TooOld => BookNews::SnapshotTooOld,
            SnapshotStep::Synced { gap, broke: true, .. } => {
                debug_assert!(gap.is_none());
                BookNews::Broke("a held diff broke the sequence after the snapshot".into())
            }
            SnapshotStep::Synced { gap, .. } => BookNews::Synced(match gap {
                Some(g) => Some(self.write_depth_gap(store, g, ns)?),
                None => None,
            }),
        })
    }

    /// A connection gap on some of this symbol's streams: written down, and the book
    /// interrupted if its depth stream was among them.
    pub(super) fn on_connection_gap(&mut self, store: &RawStore, gap: &GapRecord) -> Result<()> {
        self.write(store, gap.to_ns, &gap.to_json())?;
        if self.depth_stream.as_ref().is_some_and(|d| gap.streams.contains(d)) {
            self.book.on_interrupt(&gap.reason);
        }
        Ok(())
    }

    /// Whether a snapshot should be requested now.
    pub(super) fn wants_snapshot(&self) -> bool {
        self.book.wants_snapshot() && !self.snapshot_in_flight
    }

    /// Completes the current file (after writing the depth hole still open, ending at its last
    /// line) and restarts the book: the next file is synchronised from its own snapshot, as its
    /// converter will do. Returns the completed file and the hole written, if any.
    pub(super) fn close(&mut self, store: &RawStore) -> Result<(Option<CompletedRecording>, Option<GapRecord>)> {
        let Some(w) = self.writer.as_ref() else {
            self.book = BookSync::new(self.market);
            return Ok((None, None));
        };
        let last = w.last_ns();
        let gap = match self.book.finish(last) {
            Some(g) => Some(self.write_depth_gap(store, g, last)?),
            None => None,
        };
        self.book = BookSync::new(self.market);
        let done = self.writer.take().map(RecordingWriter::finish).transpose()?;
        Ok((done, gap))
    }

    /// Pushes the open file's lines to the disk.
    pub(super) fn flush(&mut self) -> Result<()> {
        self.writer.as_mut().map_or(Ok(()), RecordingWriter::flush)
    }

    fn write_depth_gap(&mut self, store: &RawStore, g: SyncGap, ns: u64) -> Result<GapRecord> {
        let rec = GapRecord {
            kind: GapKind::Depth,
            from_ns: g.from_ns,
            to_ns: g.to_ns,
            streams: self.depth_stream.iter().cloned().collect(),
            reason: g.reason,
        };
        self.write(store, ns, &rec.to_json())?;
        Ok(rec)
    }
}
