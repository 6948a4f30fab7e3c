//! `alphalab import FOLDER` as a user runs it: one bad file among good ones is refused with its
//! reason while every good file is imported (exit code 1), an empty file counts as a truncated
//! download, and a catalog grown by imports one day at a time equals its rebuild from raw, byte
//! for byte.

mod common;

use common::{adabtc_shifted, fresh_dir, hashes, parquet_files, put, rebuild, seed_exchange_info, text};
use data::raw::RawStore;

fn rel(day: &str) -> String {
    format!("data/spot/daily/klines/ADABTC/1m/ADABTC-1m-2021-11-{day}.zip")
}

#[test]
fn bad_files_are_refused_and_every_good_file_is_imported() {
    let dir = fresh_dir("folder-import");
    let tree = dir.join("tree");
    put(&tree, &rel("26"), &adabtc_shifted(-1), None);
    let bad = String::from_utf8(adabtc_shifted(0)).unwrap().replacen(",0.00002856,", ",abc,", 1);
    put(&tree, &rel("27"), bad.as_bytes(), None);
    put(&tree, &rel("28"), &adabtc_shifted(1), None);
    put(&tree, &rel("29"), b"", None);
    let (root, catalog) = (dir.join("root"), dir.join("catalog"));
    seed_exchange_info(&root);

    let out = common::import(&root, &catalog, &[tree.join("data").to_str().unwrap()]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 of 4 files imported, 20 new rows"), "{stdout}");
    let bad_path = tree.join(rel("27"));
    assert!(
        stdout.contains(&format!("refused {}: ", bad_path.display()))
            && stdout.contains("ADABTC-1m-2021-11-27.zip:5: field `open`: invalid decimal \"abc\""),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "ADABTC-1m-2021-11-29.zip: no data rows: Binance publishes no empty files, so this is a truncated download"
        ),
        "{stdout}"
    );
    let bars = parquet_files(&hashes(&catalog), "data/bars/ADABTC.BINANCE-1-MINUTE-LAST-EXTERNAL");
    assert_eq!(bars.len(), 2, "the 26th and the 28th: {bars:?}");
    // Refused files are not kept in the raw archive: raw is what was imported.
    let stored: Vec<String> =
        RawStore::new(&root).archive_files().iter().map(|p| p.file_name().unwrap().to_string_lossy().into()).collect();
    assert_eq!(stored, ["ADABTC-1m-2021-11-26.zip", "ADABTC-1m-2021-11-28.zip"]);

    // A rerun imports nothing new and leaves the catalog as it was.
    let before = hashes(&catalog);
    let out = common::import(&root, &catalog, &[tree.join("data").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 of 4 files imported, 0 new rows"));
    assert_eq!(hashes(&catalog), before);
}

#[test]
fn a_catalog_grown_one_day_at_a_time_equals_its_rebuild() {
    let dir = fresh_dir("grown-import");
    let tree = dir.join("tree");
    let (root, catalog) = (dir.join("root"), dir.join("catalog"));
    seed_exchange_info(&root);
    for (day, shift) in [("26", -1), ("27", 0)] {
        put(&tree, &rel(day), &adabtc_shifted(shift), None);
        let out = common::import(&root, &catalog, &[tree.join(rel(day)).to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let rebuilt = dir.join("rebuilt");
    let out = rebuild(&root, &rebuilt);
    assert!(out.status.success(), "{}", text(&out));
    let (grown, rebuilt) = (hashes(&catalog), hashes(&rebuilt));
    assert_eq!(parquet_files(&grown, "data/bars/").len(), 2);
    assert_eq!(grown, rebuilt);
}
