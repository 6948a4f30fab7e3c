//! Helpers shared by the CLI tests: temp folders, archive files as data.binance.vision names
//! them (a stored zip and its `.CHECKSUM`), seeded exchangeInfo pages, running the binary.

#![allow(dead_code)] // not every test binary uses every helper

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use binance::Market;
use data::raw::{RawStore, RestPage, sha256_hex};
use serde_json::{Value, json};

pub const ADABTC_REL: &str = "data/spot/daily/klines/ADABTC/1m/ADABTC-1m-2021-11-27.zip";

#[path = "../../../data/tests/common/tree.rs"]
mod tree;

#[allow(unused_imports)] // not every test binary compares trees
pub use tree::hashes;

pub fn fresh_dir(name: &str) -> PathBuf {
    tree::fresh_dir_in("alphalab-cli", name)
}

pub fn adabtc_csv() -> Vec<u8> {
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
pub fn put(tree: &Path, rel: &str, csv: &[u8], checksum: Option<&str>) -> Vec<u8> {
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
pub fn seed_exchange_info(root: &Path) {
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

/// `alphalab import ARGS --data-root ROOT --catalog CATALOG`, with the log on stdout.
pub fn import(root: &Path, catalog: &Path, args: &[&str]) -> Output {
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

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

pub fn parquet_files(hashes: &BTreeMap<String, String>, under: &str) -> Vec<String> {
    hashes.keys().filter(|k| k.starts_with(under) && k.ends_with(".parquet")).cloned().collect()
}

/// `alphalab catalog rebuild --data-root ROOT --catalog CATALOG`.
pub fn rebuild(root: &Path, catalog: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_alphalab"))
        .args(["catalog", "rebuild", "--data-root"])
        .arg(root)
        .arg("--catalog")
        .arg(catalog)
        .output()
        .unwrap()
}

/// The ADABTC sample moved by `days` (open and close times), as another day's file.
pub fn adabtc_shifted(days: i64) -> Vec<u8> {
    let text = String::from_utf8(adabtc_csv()).unwrap();
    let shift = |f: &str| (f.parse::<i64>().unwrap() + days * 86_400_000).to_string();
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut f: Vec<String> = line.split(',').map(str::to_string).collect();
        f[0] = shift(&f[0]);
        f[6] = shift(&f[6]);
        out += &(f.join(",") + "\n");
    }
    out.into_bytes()
}
