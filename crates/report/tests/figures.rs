//! The five figures on a hand-built snapshot folder (same layout and record shape as
//! `alphalab snapshot`), and with the open-interest payload removed.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
};

use report::{FigureOutcome, snapshot_figures};
use serde_json::{Value, json};

const NAMES: [&str; 5] = [
    "fig_spot_candlestick_dashboard",
    "fig_futures_candlestick_dashboard",
    "fig_basis_diagnostics",
    "fig_timescale_correlation_beta",
    "fig_websocket_microstructure",
];
const T0: i64 = 1_795_557_480_000;

fn write(dir: &Path, rel: &str, url: &str, payload: Value) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let rec = json!({"retrieved_at": "2026-11-25T14:37:08.024461Z", "request": {"method": "GET", "url": url, "status": 200}, "payload": payload});
    std::fs::write(path, serde_json::to_vec(&rec).unwrap()).unwrap();
}

/// Deterministic wiggle in [-1, 1].
fn wave(i: usize, k: f64) -> f64 {
    ((i as f64) * k).sin() * 0.6 + ((i as f64) * k * 3.7 + 1.0).sin() * 0.4
}

fn klines(n: usize, base: f64, offset: f64, vol: bool) -> Value {
    let rows: Vec<Value> = (0..n)
        .map(|i| {
            let c = base + 300.0 * wave(i, 0.013) + 40.0 * wave(i, 0.41) + offset * (1.0 + wave(i, 0.05));
            let o = base + 300.0 * wave(i.saturating_sub(1), 0.013) + 40.0 * wave(i.saturating_sub(1), 0.41) + offset;
            let (h, l) = (o.max(c) + 6.0, o.min(c) - 6.0);
            let v = if vol { 1.0 + (wave(i, 0.7) + 1.0) * 3.0 } else { 0.0 };
            let t = T0 + 60_000 * i as i64;
            json!([
                t,
                format!("{o:.2}"),
                format!("{h:.2}"),
                format!("{l:.2}"),
                format!("{c:.2}"),
                format!("{v:.5}"),
                t + 59_999,
                "0",
                10,
                "0",
                "0",
                "0"
            ])
        })
        .collect();
    Value::Array(rows)
}

fn snapshot(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("alphalab-report-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let h = "http://127.0.0.1:9";
    write(
        &dir,
        "spot/klines.json",
        &format!("{h}/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=1000"),
        klines(1000, 40_000.0, 0.0, true),
    );
    write(
        &dir,
        "futures/klines.json",
        &format!("{h}/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=1000"),
        klines(1000, 40_000.0, 16.0, true),
    );
    write(
        &dir,
        "futures/mark_price_klines.json",
        &format!("{h}/fapi/v1/markPriceKlines?symbol=BTCUSDT"),
        klines(1000, 40_000.0, 12.0, false),
    );
    write(
        &dir,
        "futures/index_price_klines.json",
        &format!("{h}/fapi/v1/indexPriceKlines?pair=BTCUSDT"),
        klines(1000, 40_000.0, 0.0, false),
    );
    let oi: Vec<Value> = (0..500)
        .map(|i| json!({"symbol": "BTCUSDT", "sumOpenInterest": format!("{:.3}", 1_200_000.0 + 30_000.0 * wave(i, 0.05)), "sumOpenInterestValue": "1", "CMCCirculatingSupply": "1", "timestamp": T0 + 60_000 * 1000 - 300_000 * (500 - i as i64)}))
        .collect();
    write(
        &dir,
        "futures/open_interest_hist.json",
        &format!("{h}/futures/data/openInterestHist?symbol=BTCUSDT&period=5m"),
        Value::Array(oi),
    );
    let funding: Vec<Value> = (0..200)
        .map(|i| json!({"symbol": "BTCUSDT", "fundingRate": format!("{:.8}", 0.0001 * wave(i, 0.3) + 0.00002), "fundingTime": T0 - 28_800_000 * (200 - i as i64), "markPrice": "40000"}))
        .collect();
    write(
        &dir,
        "futures/funding_rate_history.json",
        &format!("{h}/fapi/v1/fundingRate?symbol=BTCUSDT"),
        Value::Array(funding),
    );
    let start_ns: i64 = (T0 + 60_000 * 1000) * 1_000_000;
    let frames: Vec<Value> = (0..20)
        .map(|i| {
            let ns = start_ns + i as i64 * 1_000_000_000 + 3_000_000;
            json!({"received_at": "x", "received_at_ns": ns, "stream": "btcusdt@ticker_4h", "frame_bytes": 330 + (i % 3) * 4, "latency_ms": 3.0 + wave(i, 0.9).abs() * 40.0,
                   "data": {"e": "4hTicker", "E": ns / 1_000_000 - 3, "s": "BTCUSDT", "c": format!("{:.2}", 40_000.0 + 5.0 * wave(i, 0.8)), "v": format!("{:.5}", 46.0 + i as f64 * 0.2)}})
        })
        .collect();
    let ws = json!({"retrieved_at": "2026-11-25T14:37:07Z", "request": {"url": "ws://127.0.0.1:9", "streams": ["btcusdt@ticker_4h"]}, "payload": frames});
    std::fs::create_dir_all(dir.join("spot/websocket")).unwrap();
    std::fs::write(dir.join("spot/websocket/rolling_window_ticker.json"), serde_json::to_vec(&ws).unwrap()).unwrap();
    dir
}

fn check_png(path: &Path, size: (u32, u32)) {
    let img = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
    assert_eq!(img.dimensions(), size, "{}", path.display());
    let colours: HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(colours.len() > 20, "{}: only {} distinct colours", path.display(), colours.len());
}

fn expected_size(name: &str) -> (u32, u32) {
    match name {
        "fig_spot_candlestick_dashboard" => (1800, 1150),
        "fig_futures_candlestick_dashboard" | "fig_basis_diagnostics" => (1800, 1300),
        "fig_timescale_correlation_beta" => (1600, 800),
        _ => (1600, 1150),
    }
}

fn check_all_drawn(dir: &Path, outcomes: &[FigureOutcome]) {
    assert_eq!(outcomes.iter().map(|o| o.name).collect::<Vec<_>>(), NAMES);
    for o in outcomes {
        assert!(o.drawn(), "{} skipped: {:?}", o.name, o.skipped);
        let png = dir.join("figures").join(format!("{}.png", o.name));
        let svg = dir.join("figures").join(format!("{}.svg", o.name));
        assert_eq!(o.files, vec![png.clone(), svg.clone()]);
        check_png(&png, expected_size(o.name));
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.starts_with("<svg") && text.contains("<text") && text.len() > 10_000, "{}", svg.display());
        assert!(text.contains("retrieved 2026-11-25T14:37:0"), "{}: caption", svg.display());
    }
}

#[test]
fn all_five_figures_png_and_svg() {
    let dir = snapshot("all");
    let outcomes = snapshot_figures(&dir).unwrap();
    check_all_drawn(&dir, &outcomes);
    assert!(outcomes.iter().all(|o| o.warnings.is_empty()), "{outcomes:#?}");
    // The RSI panel is labelled as such (a legacy defect labelled it "Volume").
    let spot = std::fs::read_to_string(dir.join("figures/fig_spot_candlestick_dashboard.svg")).unwrap();
    assert!(spot.contains("RSI (14, Wilder)"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_open_interest_degrades_only_the_futures_dashboard() {
    let dir = snapshot("no-oi");
    std::fs::remove_file(dir.join("futures/open_interest_hist.json")).unwrap();
    let outcomes = snapshot_figures(&dir).unwrap();
    check_all_drawn(&dir, &outcomes);
    let fut = &outcomes[1];
    assert_eq!(fut.warnings.len(), 1, "{fut:#?}");
    assert!(fut.warnings[0].contains("futures/open_interest_hist.json"), "{fut:#?}");
    assert!(outcomes.iter().filter(|o| o.name != fut.name).all(|o| o.warnings.is_empty()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_klines_skip_only_the_figures_that_need_them() {
    let dir = snapshot("no-spot");
    std::fs::remove_file(dir.join("spot/klines.json")).unwrap();
    let outcomes = snapshot_figures(&dir).unwrap();
    let skipped: Vec<&str> = outcomes.iter().filter(|o| !o.drawn()).map(|o| o.name).collect();
    assert_eq!(skipped, ["fig_spot_candlestick_dashboard", "fig_basis_diagnostics", "fig_timescale_correlation_beta"]);
    for o in outcomes.iter().filter(|o| !o.drawn()) {
        assert!(o.skipped.as_deref().unwrap().contains("spot/klines.json"), "{o:#?}");
        assert!(!dir.join("figures").join(format!("{}.png", o.name)).exists());
    }
    check_png(&dir.join("figures/fig_futures_candlestick_dashboard.png"), (1800, 1300));
    check_png(&dir.join("figures/fig_websocket_microstructure.png"), (1600, 1150));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ALPHALAB_REPORT_DIR=/tmp/demo-snap cargo test -p alphalab-report --test figures -- --ignored`
#[test]
#[ignore = "needs a real snapshot folder in ALPHALAB_REPORT_DIR"]
fn real_snapshot_folder() {
    let dir = PathBuf::from(std::env::var("ALPHALAB_REPORT_DIR").unwrap());
    let outcomes = snapshot_figures(&dir).unwrap();
    for o in &outcomes {
        assert!(o.drawn(), "{o:#?}");
        check_png(&o.files[0], expected_size(o.name));
    }
}
