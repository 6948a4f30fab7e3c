//! `alphalab import --from-url` as a user runs it, against the simulator's archive tree on
//! 127.0.0.1 (`sim --archive-dir`): the catalog equals a local import of the same files byte for
//! byte, a missing day is reported while the others are imported, a rerun downloads nothing, and
//! a corrupted `.CHECKSUM` stores and writes nothing, naming the URL.
//!
//! Files: the real data.binance.vision sample `ADABTC-1m-2021-11-27.csv` (the workspace
//! `test_data/`, see its SOURCES.md) and, for USD-M `premiumIndexKlines`, the example row of Binance's
//! "Premium index Kline Data" docs. Instruments come from exchangeInfo pages seeded into the raw
//! archive (no network).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use binance::Market;
use data::raw::{Provenance, RawStore, RestPage, sha256_hex, sidecar};
use serde_json::{Value, json};
use sim::SimConfig;

const ADABTC_REL: &str = "data/spot/daily/klines/ADABTC/1m/ADABTC-1m-2021-11-27.zip";
const PREMIUM_REL: &str = "data/futures/um/daily/premiumIndexKlines/BTCUSDT/1m/BTCUSDT-1m-2023-08-09.zip";
const PREMIUM_ROW: &str = "1691603820000,-0.00042931,-0.00023641,-0.00059406,-0.00043659,0,1691603879999,0,12,0,0,0\n";

fn fresh_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("alphalab-import-url").join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn adabtc_csv() -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test_data/archive/ADABTC-1m-2021-11-27.csv");
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// CRC-32 (IEEE), for the zip below.
fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 == 1 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
        }
    }
    !c
}

/// A one-entry zip, stored (this crate has no zip writer; the readers handle both methods).
fn stored_zip(entry: &str, body: &[u8]) -> Vec<u8> {
    let (crc, len, n) = (crc32(body), body.len() as u32, entry.len() as u16);
    let common = |z: &mut Vec<u8>| {
        // version 2.0, no flags, stored, 1980-01-01 00:00, crc, sizes, name length, no extra.
        for v in [20u16, 0, 0, 0, 0x21] {
            z.extend(v.to_le_bytes());
        }
        for v in [crc, len, len] {
            z.extend(v.to_le_bytes());
        }
        z.extend(n.to_le_bytes());
        z.extend(0u16.to_le_bytes());
    };
    let mut z = 0x0403_4b50u32.to_le_bytes().to_vec();
    common(&mut z);
    z.extend(entry.as_bytes());
    z.extend(body);
    let cd = z.len() as u32;
    z.extend(0x0201_4b50u32.to_le_bytes());
    z.extend(20u16.to_le_bytes()); // made by
    common(&mut z);
    z.extend([0u8; 12]); // comment length, disk, internal and external attributes
    z.extend(0u32.to_le_bytes()); // local header offset
    z.extend(entry.as_bytes());
    let cd_len = z.len() as u32 - cd;
    z.extend(0x0605_4b50u32.to_le_bytes());
    z.extend([0u8; 4]); // disk numbers
    z.extend(1u16.to_le_bytes());
    z.extend(1u16.to_le_bytes());
    z.extend(cd_len.to_le_bytes());
    z.extend(cd.to_le_bytes());
    z.extend(0u16.to_le_bytes());
    z
}

/// `tree/<rel>` holding `csv` zipped, and its `.CHECKSUM` (correct unless `checksum` is given).
fn put(tree: &Path, rel: &str, csv: &[u8], checksum: Option<&str>) -> Vec<u8> {
    let p = tree.join(rel);
    let name = p.file_name().unwrap().to_str().unwrap().to_string();
    let bytes = stored_zip(&name.replace(".zip", ".csv"), csv);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, &bytes).unwrap();
    let sum = checksum.map_or_else(|| sha256_hex(&bytes), str::to_string);
    std::fs::write(tree.join(format!("{rel}.CHECKSUM")), format!("{sum}  {name}\n")).unwrap();
    bytes
}

/// Stores exchangeInfo pages (spot: ADABTC; USD-M: the fixture's BTCUSDT) as if fetched at
/// 2024-06-01T00:00:00Z, so instruments are identical across data roots.
fn seed_exchange_info(root: &Path) {
    let store = RawStore::new(root);
    let spot = json!({"symbols": [{
        "symbol": "ADABTC", "status": "TRADING", "baseAsset": "ADA", "baseAssetPrecision": 8,
        "quoteAsset": "BTC", "quotePrecision": 8, "quoteAssetPrecision": 8,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.00000001", "maxPrice": "1000.00000000", "tickSize": "0.00000001"},
            {"filterType": "LOT_SIZE", "minQty": "0.10000000", "maxQty": "90000000.00000000", "stepSize": "0.10000000"}
        ]
    }]});
    let usdm_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../test_data/usdm/exchangeInfo.json");
    let usdm: Value = serde_json::from_slice(&std::fs::read(usdm_path).unwrap()).unwrap();
    for (market, body) in [(Market::Spot, spot), (Market::UsdM, usdm)] {
        let body = body.to_string();
        let page = RestPage::new("test seed", 200, true, body, "2024-06-01T00:00:00.000Z").unwrap();
        store.write_page(&store.page_path(market, "exchangeInfo", "ALL", 1_717_200_000_000), &page).unwrap();
    }
}

fn alphalab(root: &Path, catalog: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alphalab"))
        .arg("import")
        .args(args)
        .arg("--data-root")
        .arg(root)
        .arg("--catalog")
        .arg(catalog)
        .env("NAUTILUS_LOG", "stdout=Info;is_colored=false")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Every file under `dir` by relative path → sha256.
fn hashes(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().display().to_string();
                out.insert(rel, sha256_hex(&std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn parquet_files(hashes: &BTreeMap<String, String>, under: &str) -> Vec<String> {
    hashes.keys().filter(|k| k.starts_with(under) && k.ends_with(".parquet")).cloned().collect()
}

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
    let out = alphalab(&root, &catalog, &spot_args);
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
    let out = alphalab(&root, &catalog, &premium_args);
    assert!(out.status.success(), "{}", text(&out));

    // Rerun: nothing downloaded again (the provenance keeps its first retrieval time), same catalog.
    let before = (std::fs::read(sidecar(&stored)).unwrap(), hashes(&catalog));
    let out = alphalab(&root, &catalog, &spot_args);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    assert!(log.contains(&format!("import {base}/{ADABTC_REL}: already in the raw archive")), "{log}");
    assert_eq!((std::fs::read(sidecar(&stored)).unwrap(), hashes(&catalog)), before);

    // The same files imported locally: the same catalog, byte for byte.
    let (local_root, local_catalog) = (dir.join("local-root"), dir.join("local-catalog"));
    seed_exchange_info(&local_root);
    let out = alphalab(&local_root, &local_catalog, &[tree.join("data").to_str().unwrap()]);
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
    let out = alphalab(&bad_root, &bad_catalog, &[&["--from-url", bad_base.as_str()][..], &spot_args[2..]].concat());
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
