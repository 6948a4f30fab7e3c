//! `alphalab import --from-url` as a user runs it, against the simulator's archive tree on
//! 127.0.0.1 (`sim --archive-dir`): the catalog equals a local import of the same files byte for
//! byte, a missing day is reported while the others are imported, a rerun downloads nothing, and
//! a corrupted `.CHECKSUM` stores and writes nothing, naming the URL.
//!
//! Files: the real data.binance.vision sample `ADABTC-1m-2021-11-27.csv` (the workspace
//! `test_data/`, see its SOURCES.md) and, for USD-M `premiumIndexKlines`, the example row of Binance's
//! "Premium index Kline Data" docs. Instruments come from exchangeInfo pages seeded into the raw
//! archive (no network).

mod common;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use common::{adabtc_csv, fresh_dir, hashes, import, parquet_files, put, seed_exchange_info, text};
use data::raw::{Provenance, RawStore, sha256_hex, sidecar};
use sim::SimConfig;

use common::ADABTC_REL;
const PREMIUM_REL: &str = "data/futures/um/daily/premiumIndexKlines/BTCUSDT/1m/BTCUSDT-1m-2023-08-09.zip";
const PREMIUM_ROW: &str = "1691603820000,-0.00042931,-0.00023641,-0.00059406,-0.00043659,0,1691603879999,0,12,0,0,0\n";

#[test]
fn url_import_equals_local_import_reports_404s_and_refuses_bad_checksums() {
    let dir = fresh_dir("main");
    let tree = dir.join("tree");
    let adabtc = put(&tree, ADABTC_REL, &adabtc_csv(), None);
    put(&tree, PREMIUM_REL, PREMIUM_ROW.as_bytes(), None);
    let bad_tree = dir.join("bad-tree");
    let zeros = "0".repeat(64);
    let bad = put(&bad_tree, ADABTC_REL, &adabtc_csv(), Some(&zeros));

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let (sim, bad_sim) = rt.block_on(async {
        let good = sim::spawn(SimConfig { archive_dir: Some(tree.clone()), ..SimConfig::default() }).await.unwrap();
        let bad = sim::spawn(SimConfig { archive_dir: Some(bad_tree.clone()), ..SimConfig::default() }).await.unwrap();
        (good, bad)
    });
    let base = sim.rest_url();

    // By URL: 2021-11-26 has no file (404), 2021-11-27 is imported; then USD-M premium klines.
    let (root, catalog) = (dir.join("url-root"), dir.join("url-catalog"));
    seed_exchange_info(&root);
    let spot_args = [
        "--from-url",
        &base,
        "--market",
        "spot",
        "--symbols",
        "ADABTC",
        "--data",
        "klines:1m",
        "--from",
        "2021-11-26",
        "--to",
        "2021-11-28",
    ];
    let out = import(&root, &catalog, &spot_args);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "a missing day fails the run:\n{log}");
    let missing = format!("{base}/data/spot/daily/klines/ADABTC/1m/ADABTC-1m-2021-11-26.zip");
    assert!(log.contains(&format!("import {missing}: not found (404)")), "{log}");
    assert!(log.contains(&format!("import {base}/{ADABTC_REL}: downloaded, checksum verified")), "{log}");
    let stored = RawStore::new(&root).archive_path(Path::new(ADABTC_REL));
    assert_eq!(std::fs::read(&stored).unwrap(), adabtc);
    let prov: Provenance = serde_json::from_slice(&std::fs::read(sidecar(&stored)).unwrap()).unwrap();
    assert_eq!(
        (prov.source.as_str(), prov.sha256.as_str()),
        (format!("{base}/{ADABTC_REL}").as_str(), sha256_hex(&adabtc).as_str())
    );
    let premium_args = [
        "--from-url",
        &base,
        "--market",
        "usdm",
        "--symbols",
        "BTCUSDT",
        "--data",
        "premiumIndexKlines:1m",
        "--from",
        "2023-08-09",
        "--to",
        "2023-08-10",
    ];
    let out = import(&root, &catalog, &premium_args);
    assert!(out.status.success(), "{}", text(&out));

    // Rerun: nothing downloaded again (the provenance keeps its first retrieval time), same catalog.
    let before = (std::fs::read(sidecar(&stored)).unwrap(), hashes(&catalog));
    let out = import(&root, &catalog, &spot_args);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains(&format!("import {base}/{ADABTC_REL}: already in the raw archive")), "{log}");
    assert_eq!((std::fs::read(sidecar(&stored)).unwrap(), hashes(&catalog)), before);

    // The same files imported locally: the same catalog, byte for byte.
    let (local_root, local_catalog) = (dir.join("local-root"), dir.join("local-catalog"));
    seed_exchange_info(&local_root);
    let out = import(&local_root, &local_catalog, &[tree.join("data").to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let (by_url, local) = (hashes(&catalog), hashes(&local_catalog));
    assert_eq!(by_url, local);
    assert_eq!(parquet_files(&by_url, "data/bars/ADABTC.BINANCE-1-MINUTE-LAST-EXTERNAL").len(), 1, "{by_url:#?}");
    assert_eq!(
        parquet_files(&by_url, "data/bars/BTCUSDT-PERP-PREMIUM.BINANCE-1-MINUTE-LAST-EXTERNAL").len(),
        1,
        "{by_url:#?}"
    );

    // A corrupted .CHECKSUM: a clear error naming the URL; nothing stored, nothing in the catalog.
    let (bad_root, bad_catalog) = (dir.join("bad-root"), dir.join("bad-catalog"));
    seed_exchange_info(&bad_root);
    let bad_base = bad_sim.rest_url();
    let out = import(&bad_root, &bad_catalog, &[&["--from-url", bad_base.as_str()][..], &spot_args[2..]].concat());
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    let want = format!(
        "{bad_base}/{ADABTC_REL}: checksum mismatch: content sha256 {}, ADABTC-1m-2021-11-27.zip.CHECKSUM says {zeros}",
        sha256_hex(&bad)
    );
    assert!(log.contains(&want), "expected {want:?} in:\n{log}");
    assert!(RawStore::new(&bad_root).archive_files().is_empty());
    assert!(parquet_files(&hashes(&bad_catalog), "data/").is_empty(), "{:#?}", hashes(&bad_catalog));

    // A standard tool reads the catalog (when the bench venv with pyarrow is there).
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/nt-venv/bin/python");
    if python.exists() {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/check_parquet.py");
        let out = Command::new(&python).arg(script).arg(&catalog).output().unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{report}{}", String::from_utf8_lossy(&out.stderr));
        assert!(
            report
                .lines()
                .any(|l| l.starts_with("ok   data/bars/ADABTC.BINANCE-1-MINUTE-LAST-EXTERNAL/")
                    && l.contains("rows=10 ")),
            "{report}"
        );
        assert!(
            report
                .lines()
                .any(|l| l.starts_with("ok   data/bars/BTCUSDT-PERP-PREMIUM.BINANCE") && l.contains("rows=1 ")),
            "{report}"
        );
    } else {
        eprintln!("pyarrow check skipped: no {}", python.display());
    }

    rt.block_on(async {
        sim.shutdown().await;
        bad_sim.shutdown().await;
    });
}
