//! A year of spot and a year of USD-M 1m klines, plus USD-M funding, backfilled from the
//! simulator at Binance's real weight limits and a fixed latency per request, against the lower
//! bound set by the weight budget and by latency × requests / concurrency.
//!
//! `cargo bench -p alphalab -p alphalab-backtest --bench backfill -- 50 8` (args: latency ms,
//! concurrency).
//!
//! `... --bench backfill -- universe 100 30 50 8` (args: symbols, days, latency ms,
//! concurrency) instead backfills a universe (`--symbols ALL`) of that many USD-M perpetuals:
//! 1m klines and fundingRate over the days before the server time, every symbol's pages
//! interleaved through the one weight limiter, against the weight-budget bound.
//!
//! The simulator runs in this process on the same 2 cores, and computing a page of klines
//! from its market model costs it more CPU than serving it; real Binance's CPU is not ours. So
//! each series is first backfilled once untimed into a scratch folder (filling the simulator's
//! minute caches), then the timed run starts at the next wall-clock minute, when the
//! simulator's weight window (and the client's) is fresh.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alphalab::pipeline::{self, BackfillArgs};
use binance::{ENDPOINTS, Market};
use data::dataset::Spec;
use sim::SimConfig;

/// 2025-01-01T00:00:00Z: the simulated server time; the year before it is backfilled.
const NOW: u64 = 1_735_689_600_000;
const YEAR: u64 = 365 * 86_400_000;

/// `--symbols ALL` over a constant universe of `symbols` perpetuals (no listing or delisting
/// in the window, so every symbol has every minute), at Binance's USD-M limit of 2,400 weight a
/// minute. No warm-up: the run is weight-bound (minutes), the simulator's kline generation is
/// seconds of CPU within it.
fn universe(args: &[u64]) {
    let symbols = args.first().copied().unwrap_or(100) as usize;
    let days = args.get(1).copied().unwrap_or(30);
    let latency = args.get(2).copied().unwrap_or(50);
    let concurrency = args.get(3).copied().unwrap_or(8) as usize;
    let sim_rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut cfg = SimConfig { start_time_ms: Some(NOW), ..SimConfig::default() };
    cfg.faults.latency_ms = latency;
    cfg.model.universe.size = symbols;
    (cfg.model.universe.listed_share, cfg.model.universe.delisted_share) = (0.0, 0.0);
    let sim = sim_rt.block_on(sim::spawn(cfg)).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let root = std::env::temp_dir().join(format!("alphalab-bench-universe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let a = BackfillArgs {
            market: Market::UsdM,
            symbols: data::universe::Selection::All,
            specs: ["klines:1m", "fundingRate"].iter().map(|t| Spec::parse(Market::UsdM, t).unwrap()).collect(),
            from_ms: NOW - days * 86_400_000,
            to_ms: NOW,
            data_root: root.clone(),
            base_url: sim.rest_url(),
            concurrency,
            catalog: None,
            weight_per_minute: None,
        };
        println!(
            "universe backfill benchmark: {symbols} USD-M perpetuals x {days} days of 1m klines + fundingRate, \
             {latency} ms latency per request, concurrency {concurrency}"
        );
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        tokio::time::sleep(Duration::from_millis(60_050 - (now.as_millis() % 60_000) as u64)).await;
        let t = Instant::now();
        let reports = pipeline::backfill(&a).await.unwrap();
        let elapsed = t.elapsed().as_secs_f64();
        let failed: Vec<_> = reports.iter().filter(|r| !r.errors.is_empty() || !r.gaps.is_empty()).collect();
        assert!(failed.is_empty(), "{failed:?}");
        let rows = |series: &str| reports.iter().filter(|r| r.series == series).map(|r| r.rows).sum::<usize>();
        let served: u64 = ENDPOINTS.iter().map(|e| sim.state.stats.requests(e)).sum();
        // The client's weight: every request it sent, universe probes included.
        let klines = binance::endpoint::find(Market::UsdM, "klines").unwrap();
        let pages = reports.iter().filter(|r| r.series == "klines_1m").map(|r| r.fetched).sum::<usize>();
        let weight = served_weight(&sim);
        let limit = f64::from(Market::UsdM.weight_per_minute());
        let at_limit = weight as f64 / limit * 60.0;
        let at_plan = weight as f64 / (limit * 0.9) * 60.0;
        println!("| symbols | kline rows | funding rows | kline pages | requests | weight | elapsed s | weight / limit s | weight / 90 % plan s | elapsed / limit bound | 429 |");
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        println!(
            "| {symbols} | {} | {} | {pages} | {served} | {weight} | {elapsed:.1} | {at_limit:.1} | {at_plan:.1} | {:.3} | {} |",
            rows("klines_1m"),
            rows("fundingRate"),
            elapsed / at_limit,
            sim.state.stats.responses_429()
        );
        println!(
            "kline requests served {}; peak used weight usdm {} / 2400 per minute",
            sim.state.stats.requests(klines),
            sim.state.limits.peak(Market::UsdM)
        );
        let _ = std::fs::remove_dir_all(&root);
    });
    sim_rt.block_on(sim.shutdown());
}

/// USD-M weight the simulator charged: every request the client sent, universe probes and
/// server time included, weighed by the endpoint table (a 499-row klines page 2, a probe 1).
fn served_weight(sim: &sim::SimHandle) -> u64 {
    sim.state.stats.weight(Market::UsdM)
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("universe") {
        let args: Vec<u64> = std::env::args().skip(2).filter_map(|a| a.parse().ok()).collect();
        return universe(&args);
    }
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let latency = args.first().copied().unwrap_or(50);
    let concurrency = args.get(1).copied().unwrap_or(8) as usize;
    // The simulator gets its own runtime, as a remote server would: its page computations
    // then never sit in the client's task queues (the 2 cores are still shared).
    let sim_rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut cfg = SimConfig { start_time_ms: Some(NOW), ..SimConfig::default() };
    cfg.faults.latency_ms = latency;
    let sim = sim_rt.block_on(sim::spawn(cfg)).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let root = std::env::temp_dir().join(format!("alphalab-bench-backfill-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let jobs = [(Market::Spot, vec!["klines:1m"]), (Market::UsdM, vec!["klines:1m", "fundingRate"])];
        println!("backfill benchmark: 1 year each, {latency} ms latency per request, concurrency {concurrency}");
        println!("| series | pages | rows | weight | elapsed s | latency bound s | weight bound s | ratio |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|");
        let t_all = Instant::now();
        for (market, specs) in jobs {
            for token in specs {
                let spec = Spec::parse(market, token).unwrap();
                let a = BackfillArgs {
                    market,
                    symbols: data::universe::Selection::List(vec!["BTCUSDT".into()]),
                    specs: vec![spec.clone()],
                    from_ms: NOW - YEAR,
                    to_ms: NOW,
                    data_root: root.clone(),
                    base_url: sim.rest_url(),
                    concurrency,
                    catalog: None,
                    weight_per_minute: None,
                };
                let warm = BackfillArgs { data_root: root.join("warm-up"), ..a.clone() };
                pipeline::backfill(&warm).await.unwrap();
                let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
                tokio::time::sleep(Duration::from_millis(60_050 - (now.as_millis() % 60_000) as u64)).await;
                let t = Instant::now();
                let r = pipeline::backfill(&a).await.unwrap().remove(0);
                let elapsed = t.elapsed().as_secs_f64();
                assert!(r.errors.is_empty(), "{:?}", r.errors);
                let ep = spec.dataset.endpoint();
                let w = ep.weight_for(Some(r.page_limit), true) as usize;
                let weight = r.fetched * w;
                // Requests per page plus the serverTime and exchangeInfo calls of the job.
                let requests = r.fetched + 2;
                let latency_bound = requests as f64 * latency as f64 / 1e3 / concurrency as f64;
                // Fixed one-minute windows: weight beyond one window's budget must wait for the next.
                let budget = (f64::from(market.weight_per_minute()) * 0.9) as usize;
                let weight_bound = (weight.saturating_sub(1) / budget) as f64 * 60.0;
                let bound = latency_bound.max(weight_bound);
                println!(
                    "| {market} {} | {} | {} | {weight} | {elapsed:.2} | {latency_bound:.2} | {weight_bound:.0} | {:.2} |",
                    r.series,
                    r.fetched,
                    r.rows,
                    elapsed / bound
                );
            }
        }
        let total = t_all.elapsed().as_secs_f64(); // includes the warm-ups and minute waits
        let http_429: u64 = sim.state.stats.responses_429();
        let served: u64 = ENDPOINTS.iter().map(|e| sim.state.stats.requests(e)).sum();
        println!("total {total:.2} s with warm-ups, {served} requests served, {http_429} answered 429");
        println!(
            "peak used weight: spot {} / 6000, usdm {} / 2400",
            sim.state.limits.peak(Market::Spot),
            sim.state.limits.peak(Market::UsdM)
        );
        let _ = std::fs::remove_dir_all(&root);
    });
    sim_rt.block_on(sim.shutdown());
}
