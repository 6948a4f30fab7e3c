//! Universe backfills against a 12-symbol simulator whose listings and delistings fall inside
//! the three backfilled days: `--symbols ALL` takes every symbol that traded in the range, a
//! delisted one until its delisting and a new one from its listing, with the whole job through
//! one weight budget it must wait on and no 429; `--universe top:N` takes the N symbols with
//! the highest quote volume of the date, as the simulator's own trades rank them.

mod common;

use std::{collections::BTreeSet, process::Command};

use alphalab::pipeline::{self, BackfillArgs};
use binance::Market;
use data::{backfill::stored_rows, catalog::Catalog, dataset::Spec, raw::RawStore, universe::Selection};
use sim::{
    SimConfig, SimHandle,
    model::{Model, Series, Venue},
};

/// 2024-06-01T00:00:00Z: the simulated server time.
const NOW: u64 = 1_717_200_000_000;
const DAY: u64 = 86_400_000;
const MIN: u64 = 60_000;
const FROM: u64 = NOW - 3 * DAY;
const TO: u64 = NOW - 3_600_000;

/// A 12-symbol universe (BTCUSDT, ETHUSDT and 10 generated) with 2 listings and 2 delistings
/// inside [FROM, TO).
fn config(usdm_weight_per_minute: u32) -> SimConfig {
    let mut cfg = SimConfig { start_time_ms: Some(NOW), ..SimConfig::default() };
    let u = &mut cfg.model.universe;
    u.size = 12;
    (u.listed_share, u.delisted_share) = (0.2, 0.2);
    (u.lifecycle_from_ms, u.lifecycle_to_ms) = (FROM + DAY / 2, TO - DAY / 2);
    cfg.limits.usdm_weight_per_minute = usdm_weight_per_minute;
    cfg
}

async fn start(cfg: SimConfig) -> SimHandle {
    sim::spawn(cfg).await.unwrap()
}

/// `[from, to)` of `symbol`'s trading inside [FROM, TO), from the model.
fn traded(m: &Model, symbol: &str) -> Option<(u64, u64)> {
    let (a, b) = m.life(symbol).unwrap().clip(FROM, TO);
    (a < b).then_some((a, b))
}

fn args(sim: &SimHandle, root: &std::path::Path, symbols: Selection, weight: Option<u32>) -> BackfillArgs {
    BackfillArgs {
        market: Market::UsdM,
        symbols,
        specs: ["klines:1m", "fundingRate"].iter().map(|t| Spec::parse(Market::UsdM, t).unwrap()).collect(),
        from_ms: FROM,
        to_ms: TO,
        data_root: root.to_path_buf(),
        base_url: sim.rest_url(),
        concurrency: 4,
        catalog: None,
        weight_per_minute: weight,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_symbols_that_traded_each_for_its_life_through_one_budget_without_429() {
    // A budget the job exceeds, shared by the simulator and the client: the run has to wait
    // for the next weight window, and must never be answered 429.
    let limit = 200;
    let sim = start(config(limit)).await;
    let m = &sim.state.model;
    let root = common::fresh_dir("universe-all");
    let catalog = root.join("catalog");
    let a = BackfillArgs { catalog: Some(catalog.clone()), ..args(&sim, &root, Selection::All, Some(limit)) };
    let reports = pipeline::backfill(&a).await.unwrap();

    let want: BTreeSet<String> =
        m.listed(NOW).filter(|s| traded(m, &s.symbol).is_some()).map(|s| s.symbol.clone()).collect();
    assert_eq!(want.len(), 12, "every symbol of this universe traded in the range");
    let got: BTreeSet<String> = reports.iter().map(|r| r.symbol.clone()).collect();
    assert_eq!(got, want);
    let (mut delisted, mut listed) = (0, 0);
    let store = RawStore::new(&root);
    // Every symbol's own grid converts: one gapless bar series per symbol, as many bars as klines.
    let listings = tokio::task::spawn_blocking(move || Catalog::open(&catalog).unwrap().ls().unwrap()).await.unwrap();
    let bars = |symbol: &str| {
        let id = format!("{symbol}-PERP.BINANCE-1-MINUTE-LAST-EXTERNAL");
        listings.iter().find(|l| l.data_type == "bars" && l.identifier == id).map(|l| (l.rows, l.gaps))
    };
    for r in reports.iter().filter(|r| r.series == "klines_1m") {
        let (a, b) = traded(m, &r.symbol).unwrap();
        assert!(r.errors.is_empty() && r.gaps.is_empty(), "{}: {:?} {:?}", r.symbol, r.errors, r.gaps);
        assert_eq!(r.rows as u64, (b - a) / MIN, "{}: one kline per traded minute", r.symbol);
        // Pages lie on a fixed grid, so they may hold minutes around the range, but never a
        // minute outside the symbol's life.
        let stored: Vec<u64> = stored_rows(&store, Market::UsdM, "klines_1m", &r.symbol)
            .unwrap()
            .iter()
            .map(|k| k[0].as_u64().unwrap())
            .collect();
        let life = m.life(&r.symbol).unwrap();
        assert!(stored.iter().all(|t| life.trades_at(*t)), "{}: a kline outside its life", r.symbol);
        // The kline opened at the server's start time may still be open when its page is
        // fetched (the simulated clock runs from NOW): the catalog keeps closed klines only.
        let (rows, gaps) = bars(&r.symbol).unwrap_or_else(|| panic!("{}: no bars in the catalog", r.symbol));
        let open_at_fetch = u64::from(stored.last() == Some(&NOW));
        assert!(
            gaps == Some(0) && (stored.len() as u64 - open_at_fetch..=stored.len() as u64).contains(&rows),
            "{} in the catalog: {rows} bars, gaps {gaps:?}, {} klines stored",
            r.symbol,
            stored.len()
        );
        let opens: Vec<u64> = stored.into_iter().filter(|t| (FROM..TO).contains(t)).collect();
        assert_eq!((opens.first().copied(), opens.last().copied()), (Some(a), Some(b - MIN)), "{}", r.symbol);
        if life.delisted_ms.is_some_and(|d| d < TO) {
            delisted += 1;
            let funding = stored_rows(&store, Market::UsdM, "fundingRate", &r.symbol).unwrap();
            assert!(funding.iter().all(|f| f["fundingTime"].as_u64().unwrap() < b), "{}", r.symbol);
        }
        if life.listed_ms > FROM {
            listed += 1;
        }
    }
    assert_eq!((listed, delisted), (2, 2), "the range holds two listings and two delistings");
    let usdm_weight: u64 = sim.state.limits.peak(Market::UsdM).into();
    assert!(usdm_weight <= u64::from(limit), "peak {usdm_weight} per minute");
    assert_eq!((sim.state.stats.responses_429(), sim.state.stats.responses_418()), (0, 0));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_n_by_the_quote_volume_of_the_date_from_the_command_line() {
    let sim = start(config(2400)).await;
    let m = &sim.state.model;
    // The simulator's own ranking of the day's USD-M quote volume, in USDT.
    let mut ranked: Vec<(f64, String)> = m
        .listed(NOW)
        .filter_map(|s| {
            let a = m.range_stats(&s.symbol, Series::Trades(Venue::Perp), FROM, FROM + DAY).unwrap();
            let scale = 10f64.powi((s.usdm.price_decimals + s.usdm.qty_decimals) as i32);
            (a.count > 0).then(|| (a.quote as f64 / scale, s.symbol.clone()))
        })
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    let want: BTreeSet<String> = ranked.iter().take(3).map(|(_, s)| s.clone()).collect();

    let root = common::fresh_dir("universe-top");
    let out = Command::new(env!("CARGO_BIN_EXE_alphalab"))
        .args(["backfill", "--market", "usdm", "--universe", "top:3", "--data", "klines:1m"])
        .args(["--from", &FROM.to_string(), "--to", &TO.to_string(), "--base-url", &sim.rest_url()])
        .arg("--data-root")
        .arg(&root)
        .env("NAUTILUS_LOG", "stdout=Warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("universe top:3: 3 usdm symbols"), "{stdout}");
    let store = RawStore::new(&root);
    let stored: BTreeSet<String> = m
        .symbols()
        .iter()
        .map(|s| s.symbol.clone())
        .filter(|s| !store.pages(Market::UsdM, "klines_1m", s).unwrap().is_empty())
        .collect();
    assert_eq!(stored, want, "ranking {ranked:?}");
    sim.shutdown().await;
}
