//! `alphalab record` and the import of recordings as a user runs them: a 4 s USD-M recording from
//! the simulator (WebSocket base from `STREAM_URL_FUTURES`) with one dropped connection, its
//! summary, and `catalog ls` listing the recorded gaps; the hftbacktest samples imported from
//! a folder with one quote per bookTicker frame.

mod common;

use std::{path::Path, process::Command};

use binance::Market;
use common::{fresh_dir, text};
use data::{
    parse::recording::{FrameKind, Line, classify, split_line},
    raw::{RawStore, RestPage},
    recording::read_lines,
};

fn alphalab(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_alphalab"));
    c.args(args).env("NAUTILUS_LOG", "stdout=Info;is_colored=false");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_writes_files_converts_them_and_ls_shows_the_gaps() {
    let mut cfg = sim::SimConfig::default();
    cfg.faults.ws_drop_after_ms = Some(1_500);
    cfg.faults.ws_drop_times = Some(1);
    let sim = sim::spawn(cfg).await.unwrap();
    let dir = fresh_dir("record");
    let (root, catalog) = (dir.join("data"), dir.join("catalog"));
    let (rest, ws) = (sim.rest_url(), sim.stream_url(Market::UsdM));
    let (r, c) = (root.to_str().unwrap().to_string(), catalog.to_str().unwrap().to_string());
    let out = tokio::task::spawn_blocking(move || {
        let args = [
            "record",
            "--market",
            "usdm",
            "--symbols",
            "btcusdt",
            "--streams",
            "bookTicker,depth@100ms,markPrice@1s",
            "--duration",
            "4s",
            "--base-url",
            &rest,
            "--write-catalog",
            "--data-root",
            &r,
            "--catalog",
            &c,
        ];
        alphalab(&args, &[("STREAM_URL_FUTURES", &ws)])
    })
    .await
    .unwrap();
    let log = text(&out);
    assert_eq!(out.status.code(), Some(0), "{log}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("record usdm BTCUSDT from {}", sim.stream_url(Market::UsdM))), "{stdout}");
    assert!(stdout.contains("1 reconnects; gaps: 1 connection, 1 order book"), "{stdout}");
    // One file, or two if the 4 s crossed an hour boundary.
    let files = RawStore::new(&root).stream_files();
    assert!((1..=2).contains(&files.len()), "{files:?}");
    let quotes: u64 = files.iter().map(|f| count_frames(f, FrameKind::BookTicker)).sum();
    assert!(quotes >= 30, "{quotes} bookTicker frames in 4 s");

    let (r, c) = (root.to_str().unwrap().to_string(), catalog.to_str().unwrap().to_string());
    let ls = tokio::task::spawn_blocking(move || alphalab(&["catalog", "ls", "--data-root", &r, "--catalog", &c], &[]))
        .await
        .unwrap();
    let table = String::from_utf8_lossy(&ls.stdout);
    let row = table.lines().find(|l| l.starts_with("quotes ")).unwrap_or_else(|| panic!("{table}"));
    assert_eq!(row.split_whitespace().nth(3), Some(quotes.to_string().as_str()), "{row}");
    let gaps: Vec<&str> = table
        .lines()
        .skip_while(|l| !l.starts_with("recorded gaps"))
        .skip(2)
        .take_while(|l| l.starts_with("BTCUSDT"))
        .collect();
    assert_eq!(gaps.len(), 2, "{table}");
    assert!(
        gaps[0].starts_with("BTCUSDT-PERP.BINANCE  connection")
            && gaps[0].contains("btcusdt@bookTicker,btcusdt@depth@100ms,btcusdt@markPrice@1s"),
        "{table}"
    );
    assert!(gaps[1].starts_with("BTCUSDT-PERP.BINANCE  depth") && gaps[1].contains("stream interrupted: "), "{table}");
    sim.shutdown().await;
}

fn count_frames(path: &Path, kind: FrameKind) -> u64 {
    let mut n = 0;
    read_lines(path, |_, l| {
        let (_, json) = split_line(l).unwrap();
        if let Line::Frame { stream, .. } = classify(json).unwrap()
            && FrameKind::of(&stream).1 == kind
        {
            n += 1;
        }
        Ok(())
    })
    .unwrap();
    n
}

#[test]
fn recordings_of_others_import_from_a_folder() {
    let dir = fresh_dir("import-recordings");
    let (root, catalog) = (dir.join("data"), dir.join("catalog"));
    let store = RawStore::new(&root);
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test_data");
    for (market, file) in [(Market::Spot, "spot/exchangeInfo.json"), (Market::UsdM, "usdm/exchangeInfo.json")] {
        let body = std::fs::read_to_string(samples.join(file)).unwrap().trim().to_string();
        let page = RestPage::new("test seed", 200, true, body, "2024-08-08T00:00:00.000Z").unwrap();
        store.write_page(&store.page_path(market, "exchangeInfo", "ALL", 1_723_075_200_000), &page).unwrap();
    }
    let folder = samples.join("recordings");
    let out = alphalab(
        &[
            "import",
            folder.to_str().unwrap(),
            "--data-root",
            root.to_str().unwrap(),
            "--catalog",
            catalog.to_str().unwrap(),
        ],
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(stdout.contains("2 of 2 files imported"), "{stdout}");
    let ls = alphalab(
        &["catalog", "ls", "--data-root", root.to_str().unwrap(), "--catalog", catalog.to_str().unwrap()],
        &[],
    );
    let table = String::from_utf8_lossy(&ls.stdout);
    for (market, id) in [("spot", "BTCUSDT.BINANCE"), ("usdm", "BTCUSDT-PERP.BINANCE")] {
        let src = folder.join(market).join("btcusdt_20240808.gz");
        for (kind, data_type) in [(FrameKind::BookTicker, "quotes"), (FrameKind::Trade, "trades")] {
            let row = table.lines().find(|l| l.starts_with(&format!("{data_type} ")) && l.contains(&format!(" {id} ")));
            let rows = row.and_then(|r| r.split_whitespace().nth(3)).unwrap_or_else(|| panic!("{table}"));
            assert_eq!(rows, count_frames(&src, kind).to_string(), "{market} {data_type}");
        }
    }
    assert!(!table.contains("recorded gaps"), "{table}");
}
