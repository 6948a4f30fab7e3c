//! How fast the simulator generates 1m klines of its universe: every symbol's klines over a
//! window, page by page (1000 rows, as a backfill asks for them), from a fresh model each run
//! (so nothing is cached), on 1 and 2 threads sharing one model, with and without rendering
//! Binance's JSON rows.
//!
//! `cargo bench -p alphalab-sim --bench universe -- 100 7` (args: symbols, days). A year of 1m
//! bars for 100 perpetuals is 52.6 M klines: divide by the klines/s printed here.

use std::{sync::Arc, time::Instant};

use binance::Market;
use sim::{
    model::{Model, ModelConfig, Series, Venue},
    payload::Wire,
};

/// 2025-01-01T00:00:00Z: the window ends here.
const END: u64 = 1_735_689_600_000;
const MIN: u64 = 60_000;

/// All 1m klines of `symbols` over `[from, END)`; returns how many (and renders them if `json`).
fn generate(model: &Model, symbols: &[String], from: u64, json: bool) -> usize {
    let mut n = 0;
    for sym in symbols {
        let w = Wire::new(model, sym, Market::UsdM);
        let mut start = from;
        while start < END {
            let page =
                model.klines(sym, Series::Trades(Venue::Perp), MIN, Some(start), Some(END - 1), 1000, END).unwrap();
            let Some(last) = page.last() else { break };
            start = last.open_time + MIN;
            n += page.len();
            if json {
                let bytes: usize = page.iter().map(|k| w.kline_row(k).to_string().len()).sum();
                std::hint::black_box(bytes);
            }
        }
    }
    n
}

fn run(symbols: usize, days: u64, threads: usize, json: bool) -> (usize, f64) {
    let mut cfg = ModelConfig::default();
    cfg.universe.size = symbols;
    // A constant universe: every symbol trades the whole window.
    (cfg.universe.listed_share, cfg.universe.delisted_share) = (0.0, 0.0);
    let model = Arc::new(Model::new(cfg));
    let names: Vec<String> = model.symbols().iter().map(|s| s.symbol.clone()).collect();
    let from = END - days * 86_400_000;
    let t = Instant::now();
    let chunks: Vec<Vec<String>> = names.chunks(names.len().div_ceil(threads)).map(<[String]>::to_vec).collect();
    let n: usize = std::thread::scope(|s| {
        let handles: Vec<_> = chunks.iter().map(|c| s.spawn(|| generate(&model, c, from, json))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    (n, t.elapsed().as_secs_f64())
}

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let symbols = args.first().copied().unwrap_or(100) as usize;
    let days = args.get(1).copied().unwrap_or(7);
    println!("universe klines: {symbols} symbols x {days} days of USD-M 1m klines, fresh model per run");
    println!("| threads | JSON rows | klines | s | klines/s | year x 100 perps (52.6 M) at this rate |");
    println!("|---:|---|---:|---:|---:|---:|");
    for (threads, json) in [(1, false), (1, true), (2, false), (2, true)] {
        let (n, s) = run(symbols, days, threads, json);
        let rate = n as f64 / s;
        println!(
            "| {threads} | {} | {n} | {s:.2} | {rate:.0} | {:.0} s |",
            if json { "yes" } else { "no" },
            52_560_000.0 / rate
        );
    }
}
