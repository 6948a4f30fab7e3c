//! `import`: local data.binance.vision files into the raw archive (checksums, provenance), and
//! `ingest::archive`: bulk files into batches with exact values, bounded chunks, and errors
//! naming file and line. Temp dirs only.

mod common;

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use binance::Market;
use data::{
    Error, Fees, LongShortRatio, OpenInterest, RatioKind,
    batch::Batch,
    import::{ImportedFile, bulk_files, import_file},
    ingest::archive::convert_file,
    parse::kline::parse_klines_csv,
    parse_spot_instrument, parse_usdm_instrument,
    raw::{Provenance, RawStore, sha256_hex, sidecar},
};
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{BarType, CustomData},
    enums::AggressorSide,
    identifiers::{InstrumentId, TradeId},
    instruments::InstrumentAny,
    types::{Price, Quantity},
};
use rust_decimal::Decimal;
use serde_json::json;

const ADABTC_REL: &str = "data/spot/daily/klines/ADABTC/1m/ADABTC-1m-2021-11-27.zip";

fn adabtc_csv() -> String {
    common::text("archive/ADABTC-1m-2021-11-27.csv")
}

fn adabtc() -> InstrumentAny {
    let v = json!({
        "symbol": "ADABTC", "status": "TRADING", "baseAsset": "ADA", "baseAssetPrecision": 8,
        "quoteAsset": "BTC", "quotePrecision": 8, "quoteAssetPrecision": 8,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.00000001", "maxPrice": "1000.00000000", "tickSize": "0.00000001"},
            {"filterType": "LOT_SIZE", "minQty": "0.10000000", "maxQty": "90000000.00000000", "stepSize": "0.10000000"}
        ]
    });
    InstrumentAny::CurrencyPair(parse_spot_instrument(&v, Fees::SPOT, UnixNanos::default()).unwrap())
}

fn btcusdt_perp() -> InstrumentAny {
    let v = common::json("usdm/exchangeInfo.json");
    InstrumentAny::CryptoPerpetual(parse_usdm_instrument(&v["symbols"][0], Fees::USDM, UnixNanos::default()).unwrap())
}

/// Every batch of one file, unchunked.
fn convert_archive_file(path: &Path, inst: &InstrumentAny) -> Result<Vec<Batch>, Error> {
    let mut out = Vec::new();
    convert_file(path, inst, usize::MAX, &mut |b| {
        out.push(b);
        Ok(())
    })?;
    Ok(out)
}

fn import_dir(store: &RawStore, dir: &Path, market: Option<Market>) -> Vec<ImportedFile> {
    bulk_files(dir, market).unwrap().iter().map(|f| import_file(store, f, market).unwrap()).collect()
}

fn zip_bytes(entry: &str, body: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    w.start_file(entry, opts).unwrap();
    w.write_all(body).unwrap();
    w.finish().unwrap().into_inner()
}

fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

/// `<rel>` as a zip of `csv` with a correct `.CHECKSUM` under `dir`.
fn archive_zip(dir: &Path, rel: &str, csv: &str) -> (PathBuf, Vec<u8>) {
    let p = dir.join(rel);
    let name = p.file_name().unwrap().to_str().unwrap().to_string();
    let bytes = zip_bytes(&name.replace(".zip", ".csv"), csv.as_bytes());
    write(&p, &bytes);
    write(&PathBuf::from(format!("{}.CHECKSUM", p.display())), format!("{}  {name}\n", sha256_hex(&bytes)).as_bytes());
    (p, bytes)
}

fn adabtc_bars(text: &str) -> Vec<nautilus_model::data::Bar> {
    parse_klines_csv(text, BarType::from("ADABTC.BINANCE-1-MINUTE-LAST-EXTERNAL"), 8, 1).unwrap()
}

fn bars(batches: Vec<Batch>) -> Vec<nautilus_model::data::Bar> {
    match <[Batch; 1]>::try_from(batches) {
        Ok([Batch::Bars(b)]) => b,
        other => panic!("expected one Bars batch, got {other:?}"),
    }
}

#[test]
fn real_adabtc_zip_with_checksum_is_imported_stored_and_converted() {
    let dir = common::fresh_dir("import-adabtc");
    let csv = adabtc_csv();
    let (src, bytes) = archive_zip(&dir.join("src"), ADABTC_REL, &csv);
    let store = RawStore::new(dir.join("root"));

    let imported = import_file(&store, &src, None).unwrap();
    assert!(imported.checksum_verified);
    assert_eq!(imported.rel_path, PathBuf::from(ADABTC_REL));
    assert_eq!(imported.stored, dir.join("root/raw/archive").join(ADABTC_REL));
    assert_eq!((imported.name.market, imported.name.symbol.as_str()), (Market::Spot, "ADABTC"));
    assert_eq!((imported.sha256.clone(), imported.bytes), (sha256_hex(&bytes), bytes.len() as u64));
    assert_eq!(std::fs::read(&imported.stored).unwrap(), bytes);
    let prov: Provenance = serde_json::from_slice(&std::fs::read(sidecar(&imported.stored)).unwrap()).unwrap();
    assert_eq!(prov.sha256, sha256_hex(&bytes));
    assert_eq!(prov.bytes, bytes.len() as u64);
    assert_eq!(prov.source, std::fs::canonicalize(&src).unwrap().display().to_string());
    assert_eq!(store.archive_files(), vec![imported.stored.clone()]);

    let converted = bars(convert_archive_file(&imported.stored, &adabtc()).unwrap());
    assert_eq!(converted.len(), 10);
    assert_eq!(converted, adabtc_bars(&csv));
    assert_eq!(converted[0].close, Price::from("0.00002854"));
    assert_eq!(converted[0].ts_init, UnixNanos::from(1_637_971_260_000_000_000));
}

#[test]
fn import_dir_walks_in_order_and_skips_checksums_and_strangers() {
    let dir = common::fresh_dir("import-dir");
    let src = dir.join("src");
    let csv = adabtc_csv();
    archive_zip(&src, ADABTC_REL, &csv);
    let day2 = "data/spot/daily/klines/ADABTC/1m/ADABTC-1m-2021-11-26.zip";
    archive_zip(&src, day2, &csv);
    write(&src.join("README.txt"), b"hello");
    write(&src.join("notes.csv"), b"a,b\n");
    // a bare CSV without a market folder: spot only with the override
    write(&src.join("flat/ADABTC-1m-2021-11-25.csv"), csv.as_bytes());
    let store = RawStore::new(dir.join("root"));

    let got = import_dir(&store, &src, None);
    let rels: Vec<_> = got.iter().map(|f| f.rel_path.clone()).collect();
    assert_eq!(rels, vec![PathBuf::from(day2), PathBuf::from(ADABTC_REL)]);

    let got = import_dir(&store, &src, Some(Market::Spot));
    assert_eq!(got.len(), 3);
    let flat = &got[2];
    assert_eq!(flat.rel_path, PathBuf::from("data/spot/daily/klines/ADABTC/1m/ADABTC-1m-2021-11-25.csv"));
    assert!(!flat.checksum_verified);
    assert_eq!(bars(convert_archive_file(&flat.stored, &adabtc()).unwrap()), adabtc_bars(&csv));
}

#[test]
fn micros_header_bom_and_crlf_variants_give_identical_bars() {
    let dir = common::fresh_dir("import-variants");
    let csv = adabtc_csv();
    let micros: String = csv
        .lines()
        .map(|l| {
            let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
            for i in [0, 6] {
                f[i] = format!("{}{}", f[i], if i == 0 { "000" } else { "999" });
            }
            f.join(",") + "\n"
        })
        .collect();
    let header = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n";
    let with_header = format!("{header}{micros}");
    let bom_crlf = format!("\u{feff}{header}{}\r\n", csv.replace('\n', "\r\n"));
    let want = adabtc_bars(&csv);
    for (i, text) in [micros.clone(), with_header.clone(), bom_crlf].iter().enumerate() {
        let p = write(&dir.join(format!("v{i}/spot/ADABTC-1m-2021-11-27.csv")), text.as_bytes());
        assert_eq!(bars(convert_archive_file(&p, &adabtc()).unwrap()), want, "variant {i}");
    }
    let (zipped, _) = archive_zip(&dir.join("z"), ADABTC_REL, &with_header);
    assert_eq!(bars(convert_archive_file(&zipped, &adabtc()).unwrap()), want);
}

#[test]
fn checksum_mismatch_names_both_files_and_stores_nothing() {
    let dir = common::fresh_dir("import-checksum");
    let (src, bytes) = archive_zip(&dir.join("src"), ADABTC_REL, &adabtc_csv());
    let zeros = "0".repeat(64);
    write(
        &PathBuf::from(format!("{}.CHECKSUM", src.display())),
        format!("{zeros}  ADABTC-1m-2021-11-27.zip\n").as_bytes(),
    );
    let store = RawStore::new(dir.join("root"));
    let err = import_file(&store, &src, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: checksum mismatch: content sha256 {}, ADABTC-1m-2021-11-27.zip.CHECKSUM says {zeros}",
            src.display(),
            sha256_hex(&bytes)
        )
    );
    assert!(store.archive_files().is_empty());
}

#[test]
fn corrupt_zip_is_refused_naming_the_file() {
    let dir = common::fresh_dir("import-corrupt");
    let src = write(&dir.join("src").join(ADABTC_REL), b"PK\x03\x04 this is not a zip archive");
    let store = RawStore::new(dir.join("root"));
    let want = format!("{}: cannot read: invalid Zip archive: Could not find EOCD", src.display());
    assert_eq!(import_file(&store, &src, None).unwrap_err().to_string(), want);
    assert_eq!(convert_archive_file(&src, &adabtc()).unwrap_err().to_string(), want);
    assert!(store.archive_files().is_empty());
}

#[test]
fn wrong_column_count_and_out_of_order_rows_name_file_and_line() {
    let dir = common::fresh_dir("import-rows");
    let csv = adabtc_csv();
    let lines: Vec<&str> = csv.lines().collect();
    let short = format!("{}\n\n1637971320000,0.00002859,0.00002860\n", lines[0]);
    let p = write(&dir.join("a/spot/ADABTC-1m-2021-11-27.csv"), short.as_bytes());
    let err = convert_archive_file(&p, &adabtc()).unwrap_err();
    assert!(matches!(err, Error::ColumnCount { expected: "12", got: 3, .. }), "{err:?}");
    assert_eq!(err.to_string(), format!("{}:3: expected 12 columns, got 3", p.display()));

    let swapped = format!("{}\n{}\n{}\n", lines[0], lines[2], lines[1]);
    let p = write(&dir.join("b/spot/ADABTC-1m-2021-11-27.csv"), swapped.as_bytes());
    assert_eq!(
        convert_archive_file(&p, &adabtc()).unwrap_err().to_string(),
        format!("{}:3: ts_init 1637971320000000000 is not after the previous row's 1637971380000000000", p.display())
    );

    let trades = "1,42000.1,0.5,1,1,1704067200001,true\n2,42000.2,0.5,2,2,1704067200000,true\n";
    let p = write(&dir.join("c/um/BTCUSDT-aggTrades-2024-01-01.csv"), trades.as_bytes());
    assert_eq!(
        convert_archive_file(&p, &btcusdt_perp()).unwrap_err().to_string(),
        format!("{}:2: ts_init 1704067200000000000 is before the previous row's 1704067200001000000", p.display())
    );
}

#[test]
fn wrong_instrument_is_refused_and_premium_index_klines_become_premium_bars() {
    let dir = common::fresh_dir("import-refused");
    let p = write(&dir.join("um/BTCUSDT-aggTrades-2024-01-01.csv"), b"1,42000.1,0.5,1,1,1704067200001,true\n");
    assert_eq!(
        convert_archive_file(&p, &adabtc()).unwrap_err().to_string(),
        format!("{}: the file holds usdm BTCUSDT data, the instrument is ADABTC.BINANCE", p.display())
    );
    // Row: the example of Binance's "Premium index Kline Data" docs.
    let rel = "data/futures/um/daily/premiumIndexKlines/BTCUSDT/1m/BTCUSDT-1m-2023-08-09.zip";
    let row = "1691603820000,-0.00042931,-0.00023641,-0.00059406,-0.00043659,0,1691603879999,0,12,0,0,0\n";
    let (p, _) = archive_zip(&dir, rel, row);
    let premium = bars(convert_archive_file(&p, &btcusdt_perp()).unwrap());
    assert_eq!(premium.len(), 1);
    assert_eq!(premium[0].bar_type, BarType::from("BTCUSDT-PERP-PREMIUM.BINANCE-1-MINUTE-LAST-EXTERNAL"));
    assert_eq!((premium[0].low, premium[0].close), (Price::from("-0.00059406"), Price::from("-0.00043659")));
}

fn ns(ms: u64) -> UnixNanos {
    UnixNanos::from(ms * 1_000_000)
}

#[test]
fn usdm_agg_trades_book_ticker_and_funding_convert_exactly() {
    let dir = common::fresh_dir("import-usdm");
    let perp = btcusdt_perp();
    let id = InstrumentId::from("BTCUSDT-PERP.BINANCE");
    let um = dir.join("data/futures/um/daily");

    let agg = "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n\
               26129,42283.50,0.010,27781,27781,1704067200012,true\n\
               26130,42283.60,1.200,27782,27785,1704067200012,false\n";
    let p = write(&um.join("aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.csv"), agg.as_bytes());
    let [Batch::Trades(t)] = <[Batch; 1]>::try_from(convert_archive_file(&p, &perp).unwrap()).unwrap() else {
        panic!("trades")
    };
    assert_eq!(t.len(), 2);
    assert_eq!((t[0].instrument_id, t[0].price, t[0].size), (id, Price::from("42283.5"), Quantity::from("0.010")));
    assert_eq!((t[0].aggressor_side, t[0].trade_id), (AggressorSide::Seller, TradeId::new("26129")));
    assert_eq!(
        (t[1].price, t[1].size, t[1].aggressor_side),
        (Price::from("42283.6"), Quantity::from("1.200"), AggressorSide::Buyer)
    );
    assert_eq!((t[1].ts_event, t[1].ts_init), (ns(1_704_067_200_012), ns(1_704_067_200_012)));

    let book = "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time\n\
                3796480493281,42283.50,5.111,42283.60,0.420,1704067200003,1704067200005\n\
                3796480493299,42283.40,1.000,42283.60,0.500,1704067200010,1704067200010\n";
    let p = write(&um.join("bookTicker/BTCUSDT/BTCUSDT-bookTicker-2024-01-01.csv"), book.as_bytes());
    let [Batch::Quotes(q)] = <[Batch; 1]>::try_from(convert_archive_file(&p, &perp).unwrap()).unwrap() else {
        panic!("quotes")
    };
    assert_eq!(q.len(), 2);
    assert_eq!((q[0].bid_price, q[0].ask_price), (Price::from("42283.5"), Price::from("42283.6")));
    assert_eq!((q[0].bid_size, q[0].ask_size), (Quantity::from("5.111"), Quantity::from("0.420")));
    assert_eq!((q[0].ts_event, q[0].ts_init), (ns(1_704_067_200_003), ns(1_704_067_200_005)));
    assert_eq!((q[1].bid_price, q[1].ts_init), (Price::from("42283.4"), ns(1_704_067_200_010)));

    let funding = "calc_time,funding_interval_hours,last_funding_rate\n\
                   1704067200000,8,0.00037409\n\
                   1704096000000,8,-0.00010000\n";
    let p = write(
        &dir.join("data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.csv"),
        funding.as_bytes(),
    );
    let [Batch::Funding(f)] = <[Batch; 1]>::try_from(convert_archive_file(&p, &perp).unwrap()).unwrap() else {
        panic!("funding")
    };
    assert_eq!(f.len(), 2);
    assert_eq!((f[0].instrument_id, f[0].rate, f[0].interval), (id, Decimal::new(37409, 8), Some(480)));
    assert_eq!((f[0].ts_event, f[0].ts_init), (ns(1_704_067_200_000), ns(1_704_067_200_000)));
    assert_eq!((f[1].rate.to_string().as_str(), f[1].ts_init), ("-0.00010000", ns(1_704_096_000_000)));
}

fn custom<T: Clone + 'static>(v: &[CustomData]) -> Vec<T> {
    v.iter().map(|c| c.data.as_any().downcast_ref::<T>().unwrap().clone()).collect()
}

#[test]
fn metrics_convert_to_open_interest_and_ratios_without_taker_volumes() {
    let dir = common::fresh_dir("import-metrics");
    let csv = "create_time,symbol,sum_open_interest,sum_open_interest_value,count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,count_long_short_ratio,sum_taker_long_short_vol_ratio\n\
               2024-01-01 00:00:00,BTCUSDT,70000.125,2960000000.5,1.5,1.25,3,0.9\n\
               2024-01-01 00:05:00,BTCUSDT,70010.5,2961000000,1,0.25,,1.1\n";
    let p = write(&dir.join("data/futures/um/daily/metrics/BTCUSDT/BTCUSDT-metrics-2024-01-01.csv"), csv.as_bytes());
    let batches = convert_archive_file(&p, &btcusdt_perp()).unwrap();
    let [Batch::Custom(oi), Batch::Custom(lsr)] = <[Batch; 2]>::try_from(batches).unwrap() else { panic!("custom") };
    let id = InstrumentId::from("BTCUSDT-PERP.BINANCE");
    let (t0, t1, t2) = (1_704_067_200_000, 1_704_067_500_000, 1_704_067_800_000);
    assert_eq!(
        custom::<OpenInterest>(&oi),
        vec![
            OpenInterest::new(id, 70000.125, 2_960_000_000.5, ns(t0), ns(t1)),
            OpenInterest::new(id, 70010.5, 2_961_000_000.0, ns(t1), ns(t2)),
        ]
    );
    let r = |kind: RatioKind, v: f64, ts: u64, init: u64| {
        LongShortRatio::new(id, kind.as_str().to_string(), v, v / (1.0 + v), 1.0 / (1.0 + v), ns(ts), ns(init))
    };
    // row 2 has no global ratio (empty column): skipped
    assert_eq!(
        custom::<LongShortRatio>(&lsr),
        vec![
            r(RatioKind::TopPosition, 1.25, t0, t1),
            r(RatioKind::TopAccount, 1.5, t0, t1),
            r(RatioKind::GlobalAccount, 3.0, t0, t1),
            r(RatioKind::TopPosition, 0.25, t1, t2),
            r(RatioKind::TopAccount, 1.0, t1, t2),
        ]
    );
    assert_eq!(custom::<LongShortRatio>(&lsr)[2].long_account, 0.75);
}

#[test]
fn chunks_are_bounded_and_cut_only_between_timestamps() {
    let dir = common::fresh_dir("import-chunks");
    // Five trades, the 2nd and 3rd at the same millisecond.
    let rows = [(1, 1), (2, 2), (3, 2), (4, 3), (5, 4)];
    let csv: String = rows.iter().map(|(a, t)| format!("{a},42000.1,0.5,{a},{a},170406720000{t},true\n")).collect();
    let p = write(&dir.join("um/BTCUSDT-aggTrades-2024-01-01.csv"), csv.as_bytes());
    let mut sizes = Vec::new();
    let n = convert_file(&p, &btcusdt_perp(), 2, &mut |b| {
        sizes.push(b.len());
        Ok(())
    })
    .unwrap();
    // 2 rows reach the bound, but the 3rd shares the 2nd's time: the cut waits for a new time.
    assert_eq!((n, sizes), (5, vec![3, 2]));
}

#[test]
fn an_empty_file_is_refused_as_a_truncated_download() {
    let dir = common::fresh_dir("import-empty");
    let header = "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore\n";
    for (name, body) in [("a", ""), ("b", header)] {
        let p = write(&dir.join(name).join("spot/ADABTC-1m-2021-11-27.csv"), body.as_bytes());
        assert_eq!(
            convert_archive_file(&p, &adabtc()).unwrap_err().to_string(),
            format!("{}: no data rows: Binance publishes no empty files, so this is a truncated download", p.display())
        );
    }
}
