//! `record` against the simulator, spot and USD-M side by side for ~10 s of real time, with a
//! lost depth event (at 2.5 s) and a dropped WebSocket (at 4 s), files rotated every 5 s:
//! every frame once, both holes written down (and found again by the converter), the book of
//! the catalog equal to the simulator's REST book at every update id, and the catalog grown file
//! by file equal to its rebuild from raw.

mod common;

use std::{
    collections::{BTreeMap, HashSet},
    path::{Path, PathBuf},
    sync::mpsc as std_mpsc,
    time::Duration,
};

use binance::{
    Market,
    rest::{RestClient, RestConfig},
    stream::StreamKind,
};
use data::{
    StreamGap,
    batch::Batch,
    catalog::Catalog,
    ingest::{RawItem, ingest, rebuild, stream::convert_file},
    instruments::{fetch_exchange_info, load_instrument},
    parse::recording::{FrameKind, GapKind, GapRecord, Line, classify, split_line},
    raw::RawStore,
    record::{RecordConfig, RecordReport, record},
    recording::{CompletedRecording, read_lines},
};
use nautilus_model::{
    data::{OrderBookDelta, OrderBookDeltas},
    enums::{BookType, RecordFlag},
    orderbook::OrderBook,
};
use rust_decimal::Decimal;
use sim::{SimConfig, model::Venue};
use tokio::sync::watch;

const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];
const RUN: Duration = Duration::from_secs(10);

struct Recorded {
    market: Market,
    root: PathBuf,
    live_catalog: PathBuf,
    report: RecordReport,
    sim: sim::SimHandle,
}

fn streams(market: Market) -> Vec<StreamKind> {
    let mut v = vec![
        StreamKind::Trade,
        StreamKind::AggTrade,
        StreamKind::BookTicker,
        StreamKind::Depth100ms,
        StreamKind::Kline("1m".into()),
    ];
    if market == Market::UsdM {
        v.extend([StreamKind::MarkPrice1s, StreamKind::ForceOrder]);
    }
    v
}

/// Records `market` from its own simulator (the fault counters are per server), converting
/// each completed file into a catalog as it lands, like `record --write-catalog`.
async fn record_market(market: Market) -> Recorded {
    let mut cfg = SimConfig::default();
    cfg.faults.ws_skip_depth_after_ms = Some(2_500);
    cfg.faults.ws_skip_depth_times = Some(1);
    cfg.faults.ws_drop_after_ms = Some(4_000);
    cfg.faults.ws_drop_times = Some(1);
    let sim = sim::spawn(cfg).await.unwrap();
    let root = common::fresh_dir(&format!("record-{market}"));
    let store = RawStore::new(&root);
    let client =
        RestClient::new(RestConfig { spot_url: sim.rest_url(), usdm_url: sim.rest_url(), ..RestConfig::default() })
            .unwrap();
    fetch_exchange_info(&client, &store, market).await.unwrap();
    let live_catalog = root.join("catalog");
    let (file_tx, file_rx) = std_mpsc::channel::<PathBuf>();
    let ingester = {
        let (store, dir) = (store.clone(), live_catalog.clone());
        std::thread::spawn(move || {
            let mut cat = Catalog::open(&dir).unwrap();
            for path in file_rx {
                ingest(&store, &mut cat, &RawItem::Stream(path), None).unwrap();
            }
        })
    };
    let mut rc = RecordConfig::new(
        market,
        SYMBOLS.iter().map(ToString::to_string).collect(),
        streams(market),
        sim.stream_url(market),
    );
    rc.ws.reconnect_backoff = Duration::from_millis(200);
    rc.ws.stall_timeout = Duration::from_secs(2);
    rc.rotate_every = Duration::from_secs(5);
    rc.flush_every = Duration::from_millis(200);
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(RUN).await;
        stop_tx.send(true).unwrap();
    });
    let mut on_file = |f: &CompletedRecording| file_tx.send(f.path.clone()).unwrap();
    let mut ticks = 0;
    let mut on_tick = |_: &RecordReport| ticks += 1;
    let report = record(&rc, &client, &store, stop_rx, &mut on_file, &mut on_tick).await.unwrap();
    stopper.await.unwrap();
    drop(file_tx);
    tokio::task::spawn_blocking(move || ingester.join().unwrap()).await.unwrap();
    assert!(ticks >= 40, "{market}: flushed every 200 ms ({ticks} ticks)");
    Recorded { market, root, live_catalog, report, sim }
}

fn lines(path: &Path) -> Vec<(u64, String)> {
    let mut v = Vec::new();
    read_lines(path, |_, l| {
        let (ns, json) = split_line(l).unwrap();
        v.push((ns, json.to_string()));
        Ok(())
    })
    .unwrap();
    v
}

/// The files of `symbol`, in time order.
fn files_of(r: &Recorded, symbol: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = r.report.files.iter().filter(|f| f.symbol == symbol).map(|f| f.path.clone()).collect();
    v.sort();
    v
}

fn gaps_of(r: &Recorded, symbol: &str, kind: GapKind) -> Vec<GapRecord> {
    r.report.gaps.iter().filter(|(s, g)| s == symbol && g.kind == kind).map(|(_, g)| g.clone()).collect()
}

/// Every frame once, in receive order, each file on its own clock that never goes back.
fn check_frames(r: &Recorded) {
    let store = RawStore::new(&r.root);
    let mut all: Vec<PathBuf> = r.report.files.iter().map(|f| f.path.clone()).collect();
    all.sort();
    assert_eq!(store.stream_files(), all, "{}: every file completed, none left partial", r.market);
    for symbol in SYMBOLS {
        let files = files_of(r, symbol);
        assert!(files.len() >= 2, "{} {symbol}: rotated every 5 s: {files:?}", r.market);
        let mut seen = HashSet::new();
        let mut frames: BTreeMap<String, u64> = BTreeMap::new();
        let mut prev_ns = 0;
        for f in &files {
            for (ns, json) in lines(f) {
                assert!(ns >= prev_ns, "{}: times never go back", f.display());
                prev_ns = ns;
                if let Line::Frame { stream, .. } = classify(&json).unwrap() {
                    assert!(seen.insert(json.clone()), "{}: frame twice: {json:.200}", r.market);
                    *frames.entry(stream.into_owned()).or_default() += 1;
                }
            }
        }
        let reported: BTreeMap<String, u64> = r
            .report
            .frames
            .iter()
            .filter(|(k, _)| FrameKind::of(k).0 == symbol)
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        assert_eq!(frames, reported, "{} {symbol}: the files hold every frame received", r.market);
        // Streams with an event every second or faster (trades and liquidations are rarer).
        for steady in ["bookTicker", "depth@100ms", "kline_1m", "markPrice@1s"] {
            let name = format!("{}@{steady}", symbol.to_lowercase());
            let want = usize::from(steady != "markPrice@1s" || r.market == Market::UsdM);
            assert_eq!(
                usize::from(frames.get(&name).is_some_and(|n| *n >= 5)),
                want,
                "{} {name}: {frames:?}",
                r.market
            );
        }
    }
}

/// One reconnect per symbol, one lost depth event on the first symbol: all written down.
fn check_gaps(r: &Recorded) {
    assert_eq!((r.report.connections, r.report.reconnects), (1, 1), "{}", r.market);
    for symbol in SYMBOLS {
        let conn = gaps_of(r, symbol, GapKind::Connection);
        assert_eq!(conn.len(), 1, "{} {symbol}: {conn:?}", r.market);
        let g = &conn[0];
        assert!(g.reason.starts_with("read:") || g.reason.starts_with("connection closed"), "{}", g.reason);
        assert!(g.to_ns - g.from_ns >= 200_000_000, "{}: at least the reconnect backoff", r.market);
        assert_eq!(g.streams.len(), streams(r.market).len(), "every stream of the symbol was on the connection");
        let depth = gaps_of(r, symbol, GapKind::Depth);
        let interrupted = depth.iter().filter(|d| d.reason.starts_with("stream interrupted: ")).count();
        let skipped = depth
            .iter()
            .filter(|d| d.reason.contains("update ids missing") || d.reason.contains(" is not the previous u = "))
            .count();
        let want_skipped = usize::from(symbol == SYMBOLS[0]);
        assert_eq!(
            (interrupted, skipped, depth.len()),
            (1, want_skipped, 1 + want_skipped),
            "{} {symbol}: {depth:?}",
            r.market
        );
        for d in &depth {
            assert!(d.to_ns > d.from_ns && d.streams == [format!("{}@depth@100ms", symbol.to_lowercase())]);
        }
    }
}

/// The book the deltas build, at every update id they end on, is the simulator's REST book of
/// that update id; the converter finds the recorder's depth holes again.
fn check_books(r: &Recorded) {
    let store = RawStore::new(&r.root);
    let model = &r.sim.state.model;
    let venue = Venue::of(r.market);
    for symbol in SYMBOLS {
        let inst = load_instrument(&store, r.market, symbol, None).unwrap();
        let spec = model.spec(symbol).unwrap();
        let c = if r.market == Market::Spot { &spec.spot } else { &spec.usdm };
        let (mut compared, mut syncs) = (0, 0);
        let mut found_gaps = Vec::new();
        for f in files_of(r, symbol) {
            let mut deltas: Vec<OrderBookDelta> = Vec::new();
            convert_file(&f, &inst, usize::MAX, &mut |b| {
                match b {
                    Batch::Deltas(v) => deltas.extend(v),
                    Batch::Custom(v) => {
                        found_gaps.extend(v.iter().filter_map(|c| c.data.as_any().downcast_ref::<StreamGap>().cloned()))
                    }
                    _ => {}
                }
                Ok(())
            })
            .unwrap();
            let mut book = OrderBook::new(deltas[0].instrument_id, BookType::L2_MBP);
            let mut event = Vec::new();
            for d in deltas {
                let last = RecordFlag::F_LAST.matches(d.flags);
                event.push(d);
                if !last {
                    continue;
                }
                let ev = std::mem::take(&mut event);
                syncs += usize::from(ev[0].action == nautilus_model::enums::BookAction::Clear);
                book.apply_deltas(&OrderBookDeltas::new(ev[0].instrument_id, ev.clone())).unwrap();
                let want = model.depth_at_update(symbol, venue, ev[0].sequence, usize::MAX).unwrap_or_else(|| {
                    panic!("{} {symbol}: sequence {} is no update id of the simulator", r.market, ev[0].sequence)
                });
                let level = |(p, q): &(u64, u64)| {
                    (Decimal::new(*p as i64, c.price_decimals), Decimal::new(*q as i64, c.qty_decimals))
                };
                let want_bids: BTreeMap<Decimal, Decimal> = want.bids.iter().map(level).collect();
                let want_asks: BTreeMap<Decimal, Decimal> = want.asks.iter().map(level).collect();
                let got_bids: BTreeMap<Decimal, Decimal> = book.bids_as_map(None).into_iter().collect();
                let got_asks: BTreeMap<Decimal, Decimal> = book.asks_as_map(None).into_iter().collect();
                assert_eq!(
                    (got_bids, got_asks),
                    (want_bids, want_asks),
                    "{} {symbol} at update id {}",
                    r.market,
                    ev[0].sequence
                );
                compared += 1;
            }
        }
        assert!(compared >= 60, "{} {symbol}: {compared} update ids compared", r.market);
        // A synchronisation per file, one after the lost event, one after the reconnect.
        assert!(syncs > files_of(r, symbol).len(), "{} {symbol}: {syncs} synchronisations", r.market);
        let depth: Vec<(u64, u64, String)> =
            found_gaps.iter().filter(|g| g.kind == "depth").map(|g| (g.from_ns, g.to_ns, g.reason.clone())).collect();
        let written: Vec<(u64, u64, String)> =
            gaps_of(r, symbol, GapKind::Depth).into_iter().map(|g| (g.from_ns, g.to_ns, g.reason)).collect();
        assert_eq!(depth, written, "{} {symbol}: the converter finds the recorder's holes", r.market);
    }
}

/// The catalog written file by file while recording is the catalog rebuilt from raw, byte for
/// byte, and holds one row per frame of each converted kind.
fn check_catalog(r: &Recorded) {
    let store = RawStore::new(&r.root);
    let rebuilt = r.root.join("rebuilt");
    let report = rebuild(&store, &rebuilt, None).unwrap();
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    let (live, again) = (common::hashes(&r.live_catalog), common::hashes(&rebuilt));
    assert!(live.keys().any(|k| k.starts_with("data/order_book_deltas/")), "{live:?}");
    assert_eq!(live, again, "{}: live catalog == rebuild", r.market);

    let cat = Catalog::open(&rebuilt).unwrap();
    let listing = cat.ls().unwrap();
    let rows =
        |t: &str, id: &str| listing.iter().find(|l| l.data_type == t && l.identifier == id).map_or(0, |l| l.rows);
    for symbol in SYMBOLS {
        let id = data::instrument_id(r.market, symbol).unwrap().to_string();
        let frames =
            |kind: &str| r.report.frames.get(&format!("{}@{kind}", symbol.to_lowercase())).copied().unwrap_or(0);
        assert_eq!(rows("trades", &id), frames("trade"), "{id}: trades, the aggTrades giving way");
        assert_eq!(rows("quotes", &id), frames("bookTicker"), "{id}");
        let gaps = gaps_of(r, symbol, GapKind::Connection).len() + gaps_of(r, symbol, GapKind::Depth).len();
        assert_eq!(rows("custom/StreamGap", &id), gaps as u64, "{id}");
        if r.market == Market::UsdM {
            assert_eq!(rows("mark_prices", &id), frames("markPrice@1s"), "{id}");
            assert_eq!(rows("custom/FundingEstimate", &id), frames("markPrice@1s"), "{id}");
            assert_eq!(rows("custom/Liquidation", &id), frames("forceOrder"), "{id}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_with_a_lost_depth_event_and_a_drop_converts_exactly() {
    let t0 = std::time::Instant::now();
    let (spot, usdm) = tokio::join!(record_market(Market::Spot), record_market(Market::UsdM));
    assert!(t0.elapsed() < RUN + Duration::from_secs(5), "bounded by the run: {:?}", t0.elapsed());
    for r in [&spot, &usdm] {
        check_frames(r);
        check_gaps(r);
    }
    let (spot, usdm) = tokio::task::spawn_blocking(move || {
        for r in [&spot, &usdm] {
            check_books(r);
            check_catalog(r);
        }
        (spot, usdm)
    })
    .await
    .unwrap();
    spot.sim.shutdown().await;
    usdm.sim.shutdown().await;
}
