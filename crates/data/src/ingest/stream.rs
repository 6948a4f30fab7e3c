//! One recording (`raw/stream/...`, [`crate::recording`]) → [`Batch`]es, streamed in chunks of
//! at most `chunk_rows` rows per kind (cut only where `ts_init` changes).
//!
//! | stream | batches |
//! | -- | -- |
//! | `trade` | `Trades` (trade id `t`) |
//! | `aggTrade` | `Trades` (aggregate id `a`), unless the file also holds `trade` frames: the catalog keeps one trade series per instrument, and the aggregates are sums of those trades |
//! | `bookTicker` | `Quotes` |
//! | diff `depth` + REST snapshots | `Deltas`: each synchronisation as clear + adds (`F_SNAPSHOT`), then the diffs ([`crate::parse::depth`]) that Binance's rules let through ([`crate::parse::book_sync`]) |
//! | `kline_<i>` | `Bars`, closed klines only (`x: true`), stamped at the close; a kline seen closed twice is kept once |
//! | `markPrice` | `MarkPrices`, `IndexPrices`, `Custom` [`FundingEstimate`](crate::FundingEstimate) |
//! | `forceOrder` | `Custom` [`Liquidation`](crate::Liquidation) |
//! | gap records, book out of sync | `Custom` [`StreamGap`](crate::StreamGap) |
//!
//! `ts_init` is the receive time of the line (raised to the previous line's if the clock
//! stepped back): what the recorder knew when. Diffs held until a snapshot are stamped at the
//! snapshot's receive time, when the book could first take them. Bars keep the project's rule
//! (stamped at the close).
//!
//! Depth gaps are computed here again from the lines, not read from the recorder's `depth` gap
//! records: the same rules on the same lines give the same holes (a test compares them), and a
//! recording made elsewhere gets its holes too. `connection` gap records are taken as written.

use std::{collections::BTreeMap, path::Path};

use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{HasTsInit, OrderBookDelta},
    instruments::{Instrument, InstrumentAny},
};
use serde::Serialize;
use serde_json::Value;

use super::archive::instrument_market;
use crate::{
    batch::Batch,
    custom::StreamGap,
    error::{Error, Result, ResultExt},
    parse::{
        book_sync::{BookSync, DiffStep, SnapshotStep, SyncGap},
        depth::{parse_depth_snapshot, parse_depth_update, parse_diff_ids},
        instrument::binance_symbol,
        kline::parse_kline_event,
        liquidation::parse_force_order,
        prices::{MARK_INDEX_PRECISION, parse_mark_price_event},
        quote::parse_book_ticker,
        recording::{FrameKind, GapKind, Line, classify, split_line},
        trade::parse_trade_event,
    },
    recording::read_lines,
};

/// What one recording held and what became of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamCounts {
    pub lines: u64,
    /// Frames per stream kind (`trade`, `depth`, ...).
    pub frames: BTreeMap<String, u64>,
    pub snapshots: u64,
    /// Snapshots older than the diffs held (Binance: get another one).
    pub snapshots_too_old: u64,
    /// Diffs applied to the book (those held until a synchronisation included).
    pub diffs_applied: u64,
    /// Diffs already in the book when they came (in a snapshot, or repeated). The depth frames
    /// neither applied nor in here came while the book was out of sync and no later snapshot
    /// could take them.
    pub diffs_already_in_book: u64,
    /// Book levels whose quantity was cut down to the size step ([`crate::parse::depth`]).
    pub levels_cut_to_step: u64,
    /// `aggTrade` frames not converted because the file has `trade` frames.
    pub agg_trades_skipped: u64,
    /// Connection gap records, and depth gaps found.
    pub connection_gaps: u64,
    pub depth_gaps: u64,
}

/// A kind's rows waiting to be handed out.
struct Pending<T> {
    rows: Vec<T>,
    wrap: fn(Vec<T>) -> Batch,
}

impl<T: HasTsInit> Pending<T> {
    fn new(wrap: fn(Vec<T>) -> Batch) -> Self {
        Self { rows: Vec::new(), wrap }
    }

    /// Adds `x`, first handing out the chunk if it is full and `x` starts a new `ts_init`.
    fn push(&mut self, x: T, chunk_rows: usize, sink: &mut dyn FnMut(Batch) -> Result<()>) -> Result<()> {
        if self.rows.len() >= chunk_rows && self.rows.last().is_some_and(|l| x.ts_init() > l.ts_init()) {
            sink((self.wrap)(std::mem::take(&mut self.rows)))?;
        }
        self.rows.push(x);
        Ok(())
    }

    fn flush(&mut self, sink: &mut dyn FnMut(Batch) -> Result<()>) -> Result<()> {
        if self.rows.is_empty() { Ok(()) } else { sink((self.wrap)(std::mem::take(&mut self.rows))) }
    }
}

/// The conversion state of one file.
struct Converter<'a> {
    instrument: &'a InstrumentAny,
    chunk_rows: usize,
    skip_agg_trades: bool,
    counts: StreamCounts,
    book: BookSync<Vec<OrderBookDelta>>,
    depth_stream: String,
    last_bar: BTreeMap<String, UnixNanos>,
    trades: Pending<nautilus_model::data::TradeTick>,
    quotes: Pending<nautilus_model::data::QuoteTick>,
    deltas: Pending<OrderBookDelta>,
    bars: Pending<nautilus_model::data::Bar>,
    marks: Pending<nautilus_model::data::MarkPriceUpdate>,
    indexes: Pending<nautilus_model::data::IndexPriceUpdate>,
    estimates: Pending<nautilus_model::data::CustomData>,
    liquidations: Pending<nautilus_model::data::CustomData>,
    gaps: Pending<nautilus_model::data::CustomData>,
}

/// Converts one recording for `instrument`, calling `sink` with each chunk; returns what the
/// file held. The file's market and symbol (from its path, or its frames' stream names) must be
/// the instrument's.
///
/// # Errors
/// A line that does not parse or convert (origin `file:line`), a frame of another symbol, or the
/// first error of `sink`.
pub fn convert_file(
    path: &Path,
    instrument: &InstrumentAny,
    chunk_rows: usize,
    sink: &mut dyn FnMut(Batch) -> Result<()>,
) -> Result<StreamCounts> {
    let market = instrument_market(instrument).ok_or_else(|| {
        Error::invalid(path.display().to_string(), format!("{} is not a Binance instrument", instrument.id()))
    })?;
    // First pass: which streams the file has (aggTrades give way to trades).
    let mut kinds = std::collections::BTreeSet::new();
    read_lines(path, |n, line| {
        let (_, json) = split_line(line).at(format!("{}:{n}", path.display()))?;
        if let Ok(Line::Frame { stream, .. }) = classify(json) {
            kinds.insert(FrameKind::of(&stream).1);
        }
        Ok(())
    })?;
    let mut c = Converter {
        instrument,
        chunk_rows: chunk_rows.max(1),
        skip_agg_trades: kinds.contains(&FrameKind::Trade) && kinds.contains(&FrameKind::AggTrade),
        counts: StreamCounts::default(),
        book: BookSync::new(market),
        depth_stream: String::new(),
        last_bar: BTreeMap::new(),
        trades: Pending::new(Batch::Trades),
        quotes: Pending::new(Batch::Quotes),
        deltas: Pending::new(Batch::Deltas),
        bars: Pending::new(Batch::Bars),
        marks: Pending::new(Batch::MarkPrices),
        indexes: Pending::new(Batch::IndexPrices),
        estimates: Pending::new(Batch::Custom),
        liquidations: Pending::new(Batch::Custom),
        gaps: Pending::new(Batch::Custom),
    };
    let mut clock = 0u64;
    read_lines(path, |n, line| {
        let (ns, json) = split_line(line).at(format!("{}:{n}", path.display()))?;
        clock = clock.max(ns);
        c.counts.lines += 1;
        c.line(clock, json, sink).at(format!("{}:{n}", path.display()))
    })?;
    if let Some(g) = c.book.finish(clock) {
        c.depth_gap(g, clock, sink)?;
    }
    let pending: [&mut dyn Flush; 9] = [
        &mut c.trades,
        &mut c.quotes,
        &mut c.deltas,
        &mut c.bars,
        &mut c.marks,
        &mut c.indexes,
        &mut c.estimates,
        &mut c.liquidations,
        &mut c.gaps,
    ];
    for p in pending {
        p.flush_to(sink)?;
    }
    Ok(c.counts)
}

trait Flush {
    fn flush_to(&mut self, sink: &mut dyn FnMut(Batch) -> Result<()>) -> Result<()>;
}

impl<T: HasTsInit> Flush for Pending<T> {
    fn flush_to(&mut self, sink: &mut dyn FnMut(Batch) -> Result<()>) -> Result<()> {
        self.flush(sink)
    }
}

impl Converter<'_> {
    fn line(&mut self, ns: u64, json: &str, sink: &mut dyn FnMut(Batch) -> Result<()>) -> Result<()> {
        let (id, pp, sp) = (self.instrument.id(), self.instrument.price_precision(), self.instrument.size_precision());
        let ts = UnixNanos::from(ns);
        let k = self.chunk_rows;
        match classify(json)? {
            Line::Frame { stream, data } => {
                let (symbol, kind) = FrameKind::of(&stream);
                if symbol != binance_symbol(&id) {
                    return Err(Error::invalid(String::new(), format!("frame of {stream}: the recording is of {id}")));
                }
                *self.counts.frames.entry(kind.as_str().to_string()).or_default() += 1;
                if kind == FrameKind::Other {
                    return Ok(());
                }
                let v: Value = serde_json::from_str(data).map_err(|e| Error::invalid(String::new(), e.to_string()))?;
                match kind {
                    FrameKind::AggTrade if self.skip_agg_trades => self.counts.agg_trades_skipped += 1,
                    FrameKind::Trade | FrameKind::AggTrade => {
                        self.trades.push(parse_trade_event(&v, id, pp, sp, ts)?, k, sink)?
                    }
                    FrameKind::BookTicker => self.quotes.push(parse_book_ticker(&v, id, pp, sp, ts)?, k, sink)?,
                    FrameKind::Depth => {
                        self.depth_stream = stream.into_owned();
                        let ids = parse_diff_ids(&v)?;
                        let parsed = parse_depth_update(&v, id, pp, sp, ts)?;
                        self.counts.levels_cut_to_step += parsed.dust_cut as u64;
                        match self.book.on_diff(ids, ns, parsed.deltas) {
                            DiffStep::Apply(d) => self.apply(d, ts, sink)?,
                            DiffStep::Stale => self.counts.diffs_already_in_book += 1,
                            DiffStep::Buffered | DiffStep::Broke { .. } => {}
                        }
                    }
                    FrameKind::Kline => {
                        if let Some(bar) = parse_kline_event(&v, id, pp, sp)? {
                            let last = self.last_bar.entry(bar.bar_type.to_string()).or_default();
                            if bar.ts_init > *last {
                                *last = bar.ts_init;
                                self.bars.push(bar, k, sink)?;
                            }
                        }
                    }
                    FrameKind::MarkPrice => {
                        let (m, i, f) = parse_mark_price_event(&v, id, MARK_INDEX_PRECISION, ts)?;
                        self.marks.push(m, k, sink)?;
                        self.indexes.push(i, k, sink)?;
                        self.estimates.push(f.into_custom_data(), k, sink)?;
                    }
                    FrameKind::ForceOrder => {
                        self.liquidations.push(parse_force_order(&v, id, ts)?.into_custom_data(), k, sink)?
                    }
                    FrameKind::Other => unreachable!("returned above"),
                }
            }
            Line::Snapshot { .. } => {
                self.counts.snapshots += 1;
                let v: Value = serde_json::from_str(json).map_err(|e| Error::invalid(String::new(), e.to_string()))?;
                let (last_update_id, snapshot) = parse_depth_snapshot(&v, id, pp, sp, ts)?;
                self.counts.levels_cut_to_step += snapshot.dust_cut as u64;
                let snapshot = snapshot.deltas;
                match self.book.on_snapshot(last_update_id, ns) {
                    SnapshotStep::TooOld => self.counts.snapshots_too_old += 1,
                    SnapshotStep::Synced { apply, dropped, gap, .. } => {
                        self.counts.diffs_already_in_book += dropped as u64;
                        for d in snapshot {
                            self.deltas.push(d, k, sink)?;
                        }
                        for d in apply {
                            self.apply(d, ts, sink)?;
                        }
                        if let Some(g) = gap {
                            self.depth_gap(g, ns, sink)?;
                        }
                    }
                }
            }
            Line::Gap(g) => match g.kind {
                GapKind::Connection => {
                    self.counts.connection_gaps += 1;
                    if g.streams.iter().any(|s| FrameKind::of(s).1 == FrameKind::Depth) {
                        self.book.on_interrupt(&g.reason);
                    }
                    let gap = StreamGap::new(
                        id,
                        "connection".into(),
                        g.streams.join(","),
                        g.reason,
                        g.from_ns,
                        g.to_ns,
                        UnixNanos::from(g.from_ns),
                        ts,
                    );
                    self.gaps.push(gap.into_custom_data(), k, sink)?;
                }
                // Found again from the lines (module docs).
                GapKind::Depth => {}
            },
        }
        Ok(())
    }

    /// Hands out the deltas of one diff, stamped no earlier than `ts` (the diffs held until a
    /// snapshot become usable at the snapshot).
    fn apply(
        &mut self,
        deltas: Vec<OrderBookDelta>,
        ts: UnixNanos,
        sink: &mut dyn FnMut(Batch) -> Result<()>,
    ) -> Result<()> {
        self.counts.diffs_applied += 1;
        for mut d in deltas {
            d.ts_init = d.ts_init.max(ts);
            self.deltas.push(d, self.chunk_rows, sink)?;
        }
        Ok(())
    }

    fn depth_gap(&mut self, g: SyncGap, ns: u64, sink: &mut dyn FnMut(Batch) -> Result<()>) -> Result<()> {
        self.counts.depth_gaps += 1;
        let gap = StreamGap::new(
            self.instrument.id(),
            "depth".into(),
            self.depth_stream.clone(),
            g.reason,
            g.from_ns,
            g.to_ns,
            UnixNanos::from(g.from_ns),
            UnixNanos::from(ns),
        );
        self.gaps.push(gap.into_custom_data(), self.chunk_rows, sink)
    }
}
