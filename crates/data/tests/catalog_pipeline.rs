//! Simulator → raw archive → batches → catalog, and back: exact values, idempotent writes,
//! bit-identical rebuilds equal to a catalog grown by adjacent backfills, precision marker,
//! listings checked against the simulator's own REST answers.
//!
//! The catalog runs `block_on` on nautilus' runtime, so these are plain `#[test]`s; the
//! simulator and the backfill run on a runtime of their own, built once for all tests.

mod common;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    str::FromStr,
    sync::OnceLock,
};

use binance::{
    Market, SeriesSpec, endpoint,
    rest::{RestClient, RestConfig},
};
use data::{
    OpenInterest,
    backfill::{self, Job},
    batch::Batch,
    catalog::{Catalog, LsTable, MARKER},
    dataset::Spec,
    ingest::{RawItem, ingest, raw_items, rebuild, rest::convert_series},
    instruments::{fetch_exchange_info, load_instrument},
    raw::RawStore,
};
use nautilus_model::{
    data::{Bar, Data, FundingRateUpdate},
    instruments::{Instrument, InstrumentAny},
    types::Quantity,
};
use rust_decimal::Decimal;
use serde_json::Value;

const START_MS: u64 = 1_717_200_000_000;
const DAY_MS: u64 = 86_400_000;
const FROM_MS: u64 = START_MS - 2 * DAY_MS;
const BTC_SPOT_BARS: &str = "BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL";
const PERP: &str = "BTCUSDT-PERP.BINANCE";

/// The raw archive filled once from the simulator, plus its REST ground truth.
struct Fixture {
    root: PathBuf,
    /// A second raw archive filled by two adjacent backfills (the first day, then the second),
    /// each ingested into `grown` right after it, as `backfill --write-catalog` does.
    grown_root: PathBuf,
    grown: PathBuf,
    /// Spot 1m klines with open time in [FROM, START), straight from the simulator's REST API.
    klines: Vec<Value>,
    funding: Vec<Value>,
    open_interest: Vec<Value>,
}

async fn get_all(
    client: &RestClient,
    market: Market,
    name: &str,
    params: &[(&str, String)],
    page_ms: u64,
) -> Vec<Value> {
    let ep = endpoint::find(market, name).unwrap();
    let mut out = Vec::new();
    let mut t = FROM_MS;
    while t < START_MS {
        let mut p = params.to_vec();
        p.push(("startTime", t.to_string()));
        p.push(("endTime", (t + page_ms).min(START_MS).saturating_sub(1).to_string()));
        let r = client.get(ep, &p).await.unwrap();
        let v: Vec<Value> = serde_json::from_slice(&r.body).unwrap();
        out.extend(v);
        t += page_ms;
    }
    out
}

const SERIES: [(Market, &str); 3] =
    [(Market::Spot, "klines:1m"), (Market::UsdM, "fundingRate"), (Market::UsdM, "openInterestHist:5m")];

/// Backfills [`SERIES`] over `[from_ms, to_ms)` into `store`.
async fn backfill_all(client: &RestClient, store: &RawStore, from_ms: u64, to_ms: u64) {
    for (market, token) in SERIES {
        let job = Job { market, symbol: "BTCUSDT".into(), spec: Spec::parse(market, token).unwrap(), from_ms, to_ms };
        let r = backfill::run(client, store, &job, 4, std::sync::Arc::new(|_| {})).await.unwrap();
        assert!(r.errors.is_empty(), "{token}: {:?}", r.errors);
    }
}

/// Ingests every raw item of `store` into the catalog at `dir` (sync: the catalog blocks).
fn ingest_all(store: &RawStore, dir: &Path) {
    let mut cat = Catalog::open(dir).unwrap();
    for item in raw_items(store).unwrap() {
        ingest(store, &mut cat, &item, None).unwrap();
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let root = common::fresh_dir("pipeline-raw");
        let grown_root = common::fresh_dir("pipeline-grown-raw");
        let grown = common::fresh_dir("pipeline-grown");
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let sim =
            rt.block_on(sim::spawn(sim::SimConfig { start_time_ms: Some(START_MS), ..Default::default() })).unwrap();
        let url = sim.rest_url();
        let client =
            RestClient::new(RestConfig { spot_url: url.clone(), usdm_url: url, ..Default::default() }).unwrap();
        let grown_store = RawStore::new(&grown_root);
        for (from, to) in [(FROM_MS, FROM_MS + DAY_MS), (FROM_MS + DAY_MS, START_MS)] {
            rt.block_on(async {
                backfill_all(&client, &grown_store, from, to).await;
                for m in Market::ALL {
                    fetch_exchange_info(&client, &grown_store, m).await.unwrap();
                }
            });
            ingest_all(&grown_store, &grown);
        }
        let f = rt.block_on(async {
            let store = RawStore::new(&root);
            backfill_all(&client, &store, FROM_MS, START_MS).await;
            for m in Market::ALL {
                fetch_exchange_info(&client, &store, m).await.unwrap();
            }
            let sym = || ("symbol", "BTCUSDT".to_string());
            let klines = get_all(
                &client,
                Market::Spot,
                "klines",
                &[sym(), ("interval", "1m".into()), ("limit", "1000".into())],
                1000 * 60_000,
            )
            .await;
            let funding =
                get_all(&client, Market::UsdM, "funding_rate_history", &[sym(), ("limit", "1000".into())], 2 * DAY_MS)
                    .await;
            let open_interest = get_all(
                &client,
                Market::UsdM,
                "open_interest_hist",
                &[sym(), ("period", "5m".into()), ("limit", "500".into())],
                500 * 300_000,
            )
            .await;
            sim.shutdown().await;
            Fixture {
                root: root.clone(),
                grown_root: grown_root.clone(),
                grown: grown.clone(),
                klines,
                funding,
                open_interest,
            }
        });
        assert_eq!(f.klines.len(), 2880);
        f
    })
}

fn store() -> RawStore {
    RawStore::new(&fixture().root)
}

fn instrument(store: &RawStore, market: Market) -> InstrumentAny {
    load_instrument(store, market, "btcusdt", None).unwrap()
}

/// Every batch of the fixture's series, instruments first.
fn batches(store: &RawStore) -> Vec<Batch> {
    let spot = instrument(store, Market::Spot);
    let perp = instrument(store, Market::UsdM);
    let mut out = vec![Batch::Instruments(vec![spot.clone(), perp.clone()])];
    for (market, token) in SERIES {
        let inst = if market == Market::Spot { &spot } else { &perp };
        let series = SeriesSpec::parse(token).unwrap();
        out.extend(convert_series(store, market, &series, "BTCUSDT", inst).unwrap());
    }
    out
}

fn write_all(cat: &mut Catalog, batches: &[Batch]) {
    for b in batches {
        cat.write(b.clone()).unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// The spot bars that close in (FROM, START]: the fixture's 2880 klines.
fn spot_bars_in_range(cat: &mut Catalog) -> Vec<Bar> {
    let (from, to) = (FROM_MS * 1_000_000 + 60_000_000_000, START_MS * 1_000_000);
    cat.inner()
        .query_typed_data::<Bar>(Some(vec![BTC_SPOT_BARS.into()]), Some(from.into()), Some(to.into()), None, None, true)
        .unwrap()
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap()).unwrap()
}

#[test]
fn simulator_to_catalog_matches_the_ground_truth() {
    let f = fixture();
    let store = store();
    let dir = common::fresh_dir("pipeline-e2e");
    let mut cat = Catalog::open(&dir).unwrap();
    write_all(&mut cat, &batches(&store));

    let bars = spot_bars_in_range(&mut cat);
    let inner = cat.inner();
    assert_eq!(bars.len(), 2880);
    for (b, k) in bars.iter().zip(&f.klines) {
        let open = k[0].as_u64().unwrap();
        assert_eq!(b.ts_init.as_u64(), (open + 60_000) * 1_000_000);
        assert_eq!(b.ts_event, b.ts_init);
        assert_eq!(b.open.as_decimal(), dec(&k[1]), "open at {open}");
        assert_eq!(b.high.as_decimal(), dec(&k[2]), "high at {open}");
        assert_eq!(b.low.as_decimal(), dec(&k[3]), "low at {open}");
        assert_eq!(b.close.as_decimal(), dec(&k[4]), "close at {open}");
        assert_eq!(b.volume.as_decimal(), dec(&k[5]), "volume at {open}");
    }

    let funding: Vec<FundingRateUpdate> =
        inner.query_typed::<FundingRateUpdate>(Some(vec![PERP.into()]), None, None, None, None, true).unwrap();
    let in_range: Vec<_> = funding
        .iter()
        .filter(|u| u.ts_init.as_u64() / 1_000_000 < START_MS && u.ts_init.as_u64() / 1_000_000 >= FROM_MS)
        .collect();
    assert_eq!(in_range.len(), f.funding.len());
    assert!(!in_range.is_empty());
    for (u, r) in in_range.iter().zip(&f.funding) {
        assert_eq!(u.ts_init.as_u64(), r["fundingTime"].as_u64().unwrap() * 1_000_000);
        assert_eq!(u.rate, dec(&r["fundingRate"]));
    }

    let ids = vec![PERP.to_string()];
    let oi: Vec<OpenInterest> = inner
        .query_custom_data_dynamic("OpenInterest", Some(&ids), None, None, None, None, true)
        .unwrap()
        .into_iter()
        .map(|d| match d {
            Data::Custom(c) => c.data.as_any().downcast_ref::<OpenInterest>().unwrap().clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    let in_range: Vec<_> =
        oi.iter().filter(|o| (FROM_MS * 1_000_000..START_MS * 1_000_000).contains(&o.ts_event.as_u64())).collect();
    assert_eq!(in_range.len(), f.open_interest.len());
    assert_eq!(in_range.len(), 576);
    for (o, r) in in_range.iter().zip(&f.open_interest) {
        let ts = r["timestamp"].as_u64().unwrap();
        assert_eq!(o.ts_event.as_u64(), ts * 1_000_000);
        assert_eq!(o.ts_init.as_u64(), (ts + 300_000) * 1_000_000);
        assert_eq!(o.open_interest, r["sumOpenInterest"].as_str().unwrap().parse::<f64>().unwrap());
    }

    let stored = inner.query_instruments(None).unwrap();
    let ids: Vec<String> = stored.iter().map(|i| i.id().to_string()).collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&PERP.to_string()) && ids.contains(&"BTCUSDT.BINANCE".to_string()));
}

#[test]
fn writing_twice_is_byte_identical_and_a_differing_overlap_is_refused() {
    let store = store();
    let dir = common::fresh_dir("pipeline-twice");
    let mut cat = Catalog::open(&dir).unwrap();
    let all = batches(&store);
    write_all(&mut cat, &all);
    let before = common::hashes(&dir);
    assert!(before.keys().any(|k| k.starts_with("data/bars/")), "{before:?}");
    for b in &all {
        let r = cat.write(b.clone()).unwrap();
        assert_eq!((r.written, r.files.len()), (0, 0), "{r:?}");
        assert_eq!(r.skipped, b.len());
    }
    assert_eq!(common::hashes(&dir), before);

    let Some(Batch::Bars(bars)) = all.iter().find(|b| matches!(b, Batch::Bars(_))).cloned() else { panic!() };
    let mut changed = bars.clone();
    changed[100].volume = Quantity::from_raw(changed[100].volume.raw + 1, changed[100].volume.precision);
    let err = cat.write(Batch::Bars(changed)).unwrap_err().to_string();
    let iso = |b: &Bar| data::ns_to_rfc3339(b.ts_init.as_u64());
    let expected = format!(
        "overlapping import differs from the catalog at {BTC_SPOT_BARS} {}..={} ({n} rows stored, {n} imported)",
        iso(&bars[0]),
        iso(bars.last().unwrap()),
        n = bars.len()
    );
    assert_eq!(err, expected);
    assert_eq!(common::hashes(&dir), before);

    // Out-of-order input is refused before anything is written.
    let mut out_of_order = bars[..3].to_vec();
    out_of_order.swap(1, 2);
    let err = cat.write(Batch::Bars(out_of_order)).unwrap_err().to_string();
    assert!(err.contains(BTC_SPOT_BARS) && err.contains("index 2"), "{err}");
    assert_eq!(common::hashes(&dir), before);
}

/// Every row of every data type and identifier in the catalog at `dir`, as text, by (type, id).
fn rows(dir: &Path) -> BTreeMap<(String, String), Vec<String>> {
    let mut cat = Catalog::open(dir).unwrap();
    let listing = cat.ls().unwrap();
    let inner = cat.inner();
    let mut out = BTreeMap::new();
    for l in listing {
        let id = vec![l.identifier.clone()];
        let got: Vec<String> = match l.data_type.as_str() {
            "bars" => inner
                .query_typed_data::<Bar>(Some(id), None, None, None, None, true)
                .unwrap()
                .iter()
                .map(|x| format!("{x:?}"))
                .collect(),
            "funding_rate_update" => inner
                .query_typed::<FundingRateUpdate>(Some(id), None, None, None, None, true)
                .unwrap()
                .iter()
                .map(|x| format!("{x:?}"))
                .collect(),
            "instruments" => {
                inner.query_instruments(Some(&id)).unwrap().iter().map(|x| format!("{:?}", x.id())).collect()
            }
            t => {
                let name = t.strip_prefix("custom/").unwrap_or_else(|| panic!("unexpected type {t}"));
                inner
                    .query_custom_data_dynamic(name, Some(&id), None, None, None, None, true)
                    .unwrap()
                    .iter()
                    .map(|x| format!("{x:?}"))
                    .collect()
            }
        };
        out.insert((l.data_type, l.identifier), got);
    }
    out
}

#[test]
fn rebuild_is_bit_identical_holds_the_truth_and_equals_a_catalog_grown_by_adjacent_backfills() {
    let f = fixture();
    let store = store();
    let rebuilt = common::fresh_dir("pipeline-rebuilt");
    let report = rebuild(&store, &rebuilt, None).unwrap();
    assert!(report.rows() > 2880, "{report:?}");
    let first = common::hashes(&rebuilt);
    // Rebuilding over itself gives the same bytes (the folder holds the marker).
    rebuild(&store, &rebuilt, None).unwrap();
    assert_eq!(common::hashes(&rebuilt), first);

    // The rebuilt bars are the simulator's klines (REST ground truth, fetched separately).
    let mut cat = Catalog::open(&rebuilt).unwrap();
    let bars = spot_bars_in_range(&mut cat);
    let closes: Vec<Decimal> = bars.iter().map(|b| b.close.as_decimal()).collect();
    let truth: Vec<Decimal> = f.klines.iter().map(|k| dec(&k[4])).collect();
    assert_eq!(closes, truth);
    drop(cat);

    // Two adjacent backfills, each ingested as it landed, hold exactly the rows of a rebuild of
    // the same raw archive (in more files: one per ingest).
    let grown_rebuilt = common::fresh_dir("pipeline-grown-rebuilt");
    rebuild(&RawStore::new(&f.grown_root), &grown_rebuilt, None).unwrap();
    let (grown, want) = (rows(&f.grown), rows(&grown_rebuilt));
    assert_eq!(grown.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (k, v) in &want {
        assert_eq!(&grown[k], v, "{k:?}");
    }
    assert!(want[&("bars".to_string(), BTC_SPOT_BARS.to_string())].len() >= 2880);
    let files = |dir: &Path| common::hashes(dir).keys().filter(|k| k.starts_with("data/bars/")).count();
    assert_eq!((files(&f.grown), files(&grown_rebuilt)), (2, 1));

    let foreign = common::fresh_dir("pipeline-foreign");
    std::fs::write(foreign.join("keep.txt"), "x").unwrap();
    let err = rebuild(&store, &foreign, None).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("refusing to rebuild {}: not empty and not an alphalab catalog (no {MARKER})", foreign.display())
    );
    assert!(foreign.join("keep.txt").exists());
}

#[test]
fn a_failed_ingest_leaves_the_catalog_as_it_was() {
    let root = common::fresh_dir("pipeline-fail-raw");
    copy_dir(&fixture().root, &root);
    let store = RawStore::new(&root);
    let dir = common::fresh_dir("pipeline-fail");
    ingest_all(&store, &dir);
    let before = common::hashes(&dir);
    // A funding page whose row no longer parses: the item fails and writes nothing.
    let item = RawItem::Rest {
        market: Market::UsdM,
        series: SeriesSpec::parse("fundingRate").unwrap(),
        symbol: "BTCUSDT".into(),
    };
    let pages = store.pages(Market::UsdM, "fundingRate", "BTCUSDT").unwrap();
    let page = data::raw::RestPage::new(
        "test",
        200,
        true,
        r#"[{"symbol":"BTCUSDT","fundingTime":1,"fundingRate":"x"}]"#.into(),
        "2024-06-01T00:00:00Z",
    )
    .unwrap();
    store.write_page(&store.page_path(Market::UsdM, "fundingRate", "BTCUSDT", pages[0].0 - 3_600_000), &page).unwrap();
    let fresh = common::fresh_dir("pipeline-fail-fresh");
    let mut cat = Catalog::open(&fresh).unwrap();
    let empty = common::hashes(&fresh);
    let err = ingest(&store, &mut cat, &item, None).unwrap_err();
    assert!(matches!(err, data::Error::InvalidDecimal { field: "fundingRate", .. }), "{err}");
    assert_eq!(common::hashes(&fresh), empty, "the instrument written first was removed again");
    let mut cat = Catalog::open(&dir).unwrap();
    assert!(ingest(&store, &mut cat, &item, None).is_err());
    assert_eq!(common::hashes(&dir), before);
}

#[test]
fn a_catalog_of_the_other_precision_mode_is_refused() {
    let dir = common::fresh_dir("pipeline-standard");
    std::fs::write(dir.join(MARKER), r#"{ "high_precision": false, "fixed_precision": 9, "format": 1 }"#).unwrap();
    let err = Catalog::open(&dir).unwrap_err().to_string();
    assert!(err.contains(&dir.display().to_string()) && err.contains("high_precision=false"), "{err}");

    let fresh = common::fresh_dir("pipeline-marker");
    Catalog::open(&fresh).unwrap();
    let m: Value = serde_json::from_str(&std::fs::read_to_string(fresh.join(MARKER)).unwrap()).unwrap();
    assert_eq!(m, serde_json::json!({ "high_precision": true, "fixed_precision": 16, "format": 1 }));
    Catalog::open(&fresh).unwrap();
}

#[test]
fn ls_counts_rows_and_reports_gaps() {
    let root = common::fresh_dir("pipeline-ls-raw");
    copy_dir(&fixture().root, &root);
    let store = RawStore::new(&root);
    let dir = common::fresh_dir("pipeline-ls");
    rebuild(&store, &dir, None).unwrap();
    let cat = Catalog::open(&dir).unwrap();
    let ls = cat.ls().unwrap();
    println!("{}", LsTable(&ls));
    let get = |ls: &[data::catalog::Listing], t: &str, id: &str| {
        ls.iter().find(|l| l.data_type == t && l.identifier == id).unwrap_or_else(|| panic!("{t} {id}: {ls:?}")).clone()
    };
    // Pages sit on a 1000-minute grid, so the first page starts before FROM; the simulator has
    // a kline for every minute, so every minute from that page's start to START has a bar.
    let pages = store.pages(Market::Spot, "klines_1m", "BTCUSDT").unwrap();
    let expected_bars = ((START_MS - pages[0].0) / 60_000) as usize;
    let bars = get(&ls, "bars", BTC_SPOT_BARS);
    assert_eq!((bars.rows as usize, bars.gaps, bars.files), (expected_bars, Some(0), 1));
    assert!(bars.rows >= 2880);
    let oi = get(&ls, "custom/OpenInterest", PERP);
    assert_eq!(oi.gaps, None);
    assert!(oi.rows >= 576);
    assert!(get(&ls, "funding_rate_update", PERP).rows >= 6);
    get(&ls, "instruments", PERP);
    get(&ls, "instruments", "BTCUSDT.BINANCE");

    // Lose the middle kline page: the rebuilt catalog shows the hole.
    assert!(pages.len() >= 3, "{pages:?}");
    std::fs::remove_file(&pages[1].1).unwrap();
    rebuild(&store, &dir, None).unwrap();
    let ls = Catalog::open(&dir).unwrap().ls().unwrap();
    let bars = get(&ls, "bars", BTC_SPOT_BARS);
    assert_eq!(bars.gaps, Some(1000), "{}", LsTable(&ls));
    assert_eq!(bars.rows as usize, expected_bars - 1000);
    assert_eq!(bars.files, 1);
}
