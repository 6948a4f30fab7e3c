//! Recordings written by hftbacktest's collector (`<receive ns> <frame>` lines, gzip): the first
//! 2000 lines of the spot and USD-M BTCUSDT captures of 2024-08-08 (test_data/recordings, see
//! SOURCES.md) imported into the raw archive and the catalog, with one row per frame of each
//! kind, the book synchronised once from the file's snapshot, and that book's best levels equal
//! to the bookTicker frames of the same update id.

mod common;

use std::collections::BTreeMap;

use binance::Market;
use data::{
    Error,
    batch::Batch,
    catalog::Catalog,
    ingest::{RawItem, ingest, stream::convert_file},
    instruments::{ALL_SYMBOLS, EXCHANGE_INFO, load_instrument},
    parse::recording::{FrameKind, Line, classify, split_line},
    raw::{Provenance, RawStore, RestPage, sidecar},
    recording::{import_recording, read_lines},
};
use nautilus_model::{
    data::{OrderBookDelta, OrderBookDeltas},
    enums::{BookAction, BookType, RecordFlag},
    orderbook::OrderBook,
};
use rust_decimal::Decimal;
use serde_json::Value;

fn sample(market: Market) -> std::path::PathBuf {
    common::path(&format!("recordings/{}/btcusdt_20240808.gz", if market == Market::Spot { "spot" } else { "usdm" }))
}

/// A raw archive holding the test_data exchangeInfo of both markets.
fn store(name: &str) -> RawStore {
    let store = RawStore::new(common::fresh_dir(name));
    for (market, file) in [(Market::Spot, "spot/exchangeInfo.json"), (Market::UsdM, "usdm/exchangeInfo.json")] {
        let page = RestPage::new("test_data", 200, true, common::text(file).trim().to_string(), "2024-08-08T00:00:00Z")
            .unwrap();
        store.write_page(&store.page_path(market, EXCHANGE_INFO, ALL_SYMBOLS, 1_723_075_200_000), &page).unwrap();
    }
    store
}

/// What a plain scan of the file finds: frames per kind, and the depth frames as
/// `(receive ns, U, u, levels)`, the snapshot's `lastUpdateId` and level count.
struct Scan {
    frames: BTreeMap<FrameKind, u64>,
    depth: Vec<(u64, u64, u64, usize)>,
    snapshot: (u64, usize),
    /// bookTicker `(u, bid, bid qty, ask, ask qty)`.
    tickers: Vec<(u64, Decimal, Decimal, Decimal, Decimal)>,
}

fn scan(path: &std::path::Path) -> Scan {
    let mut s = Scan { frames: BTreeMap::new(), depth: Vec::new(), snapshot: (0, 0), tickers: Vec::new() };
    read_lines(path, |_, l| {
        let (ns, json) = split_line(l).unwrap();
        let v: Value = serde_json::from_str(json).unwrap();
        match classify(json).unwrap() {
            Line::Frame { stream, .. } => {
                let kind = FrameKind::of(&stream).1;
                *s.frames.entry(kind).or_default() += 1;
                let d = &v["data"];
                let n = |k: &str| d[k].as_array().map_or(0, Vec::len);
                let u = |k: &str| d[k].as_u64().unwrap();
                let dec = |k: &str| d[k].as_str().unwrap().parse::<Decimal>().unwrap();
                match kind {
                    FrameKind::Depth => s.depth.push((ns, u("U"), u("u"), n("b") + n("a"))),
                    FrameKind::BookTicker => s.tickers.push((u("u"), dec("b"), dec("B"), dec("a"), dec("A"))),
                    _ => {}
                }
            }
            Line::Snapshot { last_update_id } => {
                let n = v["bids"].as_array().unwrap().len() + v["asks"].as_array().unwrap().len();
                s.snapshot = (last_update_id, n);
            }
            Line::Gap(_) => panic!("hftbacktest writes no gap records"),
        }
        Ok(())
    })
    .unwrap();
    s
}

#[test]
fn hftbacktest_recordings_import_with_one_row_per_frame() {
    for market in [Market::Spot, Market::UsdM] {
        let store = store(&format!("import-recording-{market}"));
        let src = sample(market);
        let imported = import_recording(&store, &src, None).unwrap();
        assert_eq!((imported.market, imported.symbol.as_str()), (market, "BTCUSDT"), "market told by the frames");
        let want = scan(&src);
        assert_eq!((imported.lines, imported.snapshots, imported.gaps), (2000, 1, 0));
        assert_eq!(imported.frames, want.frames, "{market}");
        // Stored unchanged, under the recording layout, with its provenance.
        assert_eq!(std::fs::read(&imported.stored).unwrap(), std::fs::read(&src).unwrap());
        assert!(imported.stored.starts_with(store.root().join(format!("raw/stream/{market}/BTCUSDT/2024-08-08"))));
        let prov: Provenance = serde_json::from_slice(&std::fs::read(sidecar(&imported.stored)).unwrap()).unwrap();
        assert_eq!(prov.sha256, data::raw::sha256_hex(&std::fs::read(&src).unwrap()));
        assert_eq!(
            import_recording(&store, &src, None).unwrap().stored,
            imported.stored,
            "a re-import stores nothing new"
        );
        assert_eq!(store.stream_files(), std::slice::from_ref(&imported.stored));

        // The catalog: one trade per trade frame, one quote per bookTicker frame, and the book:
        // the snapshot (clear + its levels), then every diff Binance's rules let through (here:
        // all those not already in the snapshot; the capture has no hole).
        let mut cat = Catalog::open(store.root().join("catalog")).unwrap();
        let done = ingest(&store, &mut cat, &RawItem::Stream(imported.stored.clone()), None).unwrap();
        let (l, snapshot_levels) = want.snapshot;
        let applied: Vec<_> =
            want.depth.iter().filter(|d| if market == Market::Spot { d.2 > l } else { d.2 >= l }).collect();
        assert!(
            !applied.is_empty() && applied.len() < want.depth.len(),
            "{market}: some diffs came before the snapshot"
        );
        let deltas = 1 + snapshot_levels + applied.iter().map(|d| d.3).sum::<usize>();
        let listing = cat.ls().unwrap();
        let rows = |t: &str| listing.iter().find(|x| x.data_type == t).map_or(0, |x| x.rows);
        let id = data::instrument_id(market, "BTCUSDT").unwrap().to_string();
        assert!(listing.iter().filter(|x| x.data_type != "instruments").all(|x| x.identifier == id));
        assert_eq!(rows("trades"), want.frames[&FrameKind::Trade], "{market}");
        assert_eq!(rows("quotes"), want.frames[&FrameKind::BookTicker], "{market}");
        assert_eq!(rows("order_book_deltas"), deltas as u64, "{market}");
        assert_eq!(rows("custom/StreamGap"), 0, "{market}: no hole in the capture");
        assert_eq!(
            done.rows,
            want.frames[&FrameKind::Trade] as usize + want.frames[&FrameKind::BookTicker] as usize + deltas
        );
        drop(cat);
        check_book_against_tickers(&store, market, &imported.stored, &want, l);
    }
}

/// The book the deltas build has, at every update id where a bookTicker frame was sent, the
/// bookTicker's best bid and ask; diffs held before the snapshot take its receive time.
fn check_book_against_tickers(store: &RawStore, market: Market, path: &std::path::Path, want: &Scan, l: u64) {
    let inst = load_instrument(store, market, "BTCUSDT", None).unwrap();
    let mut deltas: Vec<OrderBookDelta> = Vec::new();
    let counts = convert_file(path, &inst, usize::MAX, &mut |b| {
        if let Batch::Deltas(v) = b {
            deltas.extend(v);
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(
        counts.diffs_applied + counts.diffs_already_in_book,
        want.depth.len() as u64,
        "{market}: every diff accounted for"
    );
    assert_eq!((counts.snapshots, counts.snapshots_too_old, counts.depth_gaps), (1, 0, 0));
    let snapshot_ns = deltas[0].ts_init;
    assert_eq!((deltas[0].action, deltas[0].sequence), (BookAction::Clear, l));
    assert!(deltas.windows(2).all(|w| w[0].ts_init <= w[1].ts_init), "{market}: ts_init ascending");
    assert!(deltas.iter().all(|d| d.ts_init >= snapshot_ns));
    let mut book = OrderBook::new(deltas[0].instrument_id, BookType::L2_MBP);
    let mut tops: BTreeMap<u64, (Decimal, Decimal, Decimal, Decimal)> = BTreeMap::new();
    let mut event = Vec::new();
    for d in deltas {
        let last = RecordFlag::F_LAST.matches(d.flags);
        event.push(d);
        if last {
            let ev = std::mem::take(&mut event);
            let seq = ev[0].sequence;
            book.apply_deltas(&OrderBookDeltas::new(ev[0].instrument_id, ev)).unwrap();
            let (b, a) = (book.bids(Some(1)).next().unwrap(), book.asks(Some(1)).next().unwrap());
            tops.insert(
                seq,
                (b.price.value.as_decimal(), b.size_decimal(), a.price.value.as_decimal(), a.size_decimal()),
            );
        }
    }
    let mut matched = 0;
    for (u, bid, bid_qty, ask, ask_qty) in &want.tickers {
        if let Some(top) = tops.get(u) {
            assert_eq!(top, &(*bid, *bid_qty, *ask, *ask_qty), "{market}: best levels at update id {u}");
            matched += 1;
        }
    }
    assert!(matched >= 10, "{market}: {matched} bookTicker frames fall on a diff's update id");
}

#[test]
fn a_recording_of_two_symbols_or_of_no_frame_is_refused() {
    let store = store("import-recording-refused");
    let dir = common::fresh_dir("import-recording-refused-src");
    let two = dir.join("two.gz");
    let lines = "1 {\"stream\":\"btcusdt@trade\",\"data\":{}}\n2 {\"stream\":\"ethusdt@trade\",\"data\":{}}\n";
    write_gz(&two, lines);
    let err = import_recording(&store, &two, Some(Market::Spot)).unwrap_err();
    assert_eq!(
        err,
        Error::invalid(
            format!("{}:2", two.display()),
            "a second symbol (ETHUSDT after BTCUSDT): one symbol per recording"
        )
    );
    let none = dir.join("none.gz");
    write_gz(&none, "1 {\"lastUpdateId\":1,\"bids\":[],\"asks\":[]}\n");
    let err = import_recording(&store, &none, Some(Market::Spot)).unwrap_err();
    assert_eq!(err, Error::invalid(none.display().to_string(), "no stream frame in the file"));
    let unknown = dir.join("unknown.gz");
    write_gz(&unknown, "1 {\"stream\":\"btcusdt@aggTrade\",\"data\":{\"a\":1}}\n");
    let err = import_recording(&store, &unknown, None).unwrap_err();
    assert_eq!(
        err,
        Error::invalid(unknown.display().to_string(), "cannot tell spot from USD-M from the frames: pass --market")
    );
    let back = dir.join("back.gz");
    write_gz(&back, "5 {\"stream\":\"btcusdt@trade\",\"data\":{}}\n4 {\"stream\":\"btcusdt@trade\",\"data\":{}}\n");
    let err = import_recording(&store, &back, Some(Market::Spot)).unwrap_err();
    assert_eq!(err, Error::invalid(format!("{}:2", back.display()), "receive time 4 before the previous line's 5"));
    assert!(store.stream_files().is_empty(), "nothing stored");
}

fn write_gz(path: &std::path::Path, text: &str) {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    std::fs::write(path, gz.finish().unwrap()).unwrap();
}
