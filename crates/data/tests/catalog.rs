//! Round trips through a temporary ParquetDataCatalog: custom statistics and bars.
//!
//! The catalog runs `block_on` on nautilus' global runtime, so these are plain `#[test]`s.

mod common;

use data::{
    LongShortRatio, OpenInterest, RatioKind, TakerBuySellVolume,
    parse::metrics::{parse_long_short_ratio, parse_open_interest_hist, parse_taker_long_short_ratio},
    parse_klines_csv, parse_klines_json, register_custom_data,
};
use nautilus_model::{
    data::{Bar, BarType, Data},
    identifiers::InstrumentId,
    types::fixed::FIXED_PRECISION,
};
use nautilus_persistence::backend::catalog::ParquetDataCatalog;
use serde_json::Value;

fn rows(v: &Value) -> Vec<Value> {
    v.as_array().unwrap().clone()
}

fn read_back<T: Clone + 'static>(cat: &mut ParquetDataCatalog, type_name: &str, id: &InstrumentId) -> Vec<T> {
    let ids = vec![id.to_string()];
    let got = cat.query_custom_data_dynamic(type_name, Some(&ids), None, None, None, None, true).unwrap();
    got.into_iter()
        .map(|d| match d {
            Data::Custom(c) => {
                assert_eq!(c.data_type.type_name(), type_name);
                assert_eq!(c.data_type.identifier(), Some(id.to_string().as_str()));
                c.data.as_any().downcast_ref::<T>().unwrap().clone()
            }
            other => panic!("expected custom data, got {other:?}"),
        })
        .collect()
}

#[test]
fn custom_statistics_round_trip() {
    register_custom_data();
    let dir = common::fresh_dir("custom");
    let mut cat = ParquetDataCatalog::new(&dir, None, None, None, None);
    let id = InstrumentId::from("BTCUSDT-PERP.BINANCE");

    let oi: Vec<OpenInterest> = rows(&common::json("usdm/openInterestHist.json"))
        .iter()
        .map(|r| parse_open_interest_hist(r, id, "5m").unwrap())
        .collect();
    let ratios: Vec<LongShortRatio> = rows(&common::json("usdm/topLongShortPositionRatio.json"))
        .iter()
        .map(|r| parse_long_short_ratio(r, id, RatioKind::TopPosition, "5m").unwrap())
        .collect();
    let mut taker: Vec<TakerBuySellVolume> = rows(&common::json("usdm/takerlongshortRatio.json"))
        .iter()
        .map(|r| parse_taker_long_short_ratio(r, id, "5m").unwrap())
        .collect();
    taker.sort_by_key(|t| t.ts_init); // the docs example is not in time order
    assert_eq!((oi.len(), ratios.len(), taker.len()), (2, 2, 2));

    cat.write_custom_data_batch(
        oi.iter().cloned().map(OpenInterest::into_custom_data).collect(),
        None,
        None,
        Some(false),
    )
    .unwrap();
    cat.write_custom_data_batch(
        ratios.iter().cloned().map(LongShortRatio::into_custom_data).collect(),
        None,
        None,
        Some(false),
    )
    .unwrap();
    cat.write_custom_data_batch(
        taker.iter().cloned().map(TakerBuySellVolume::into_custom_data).collect(),
        None,
        None,
        Some(false),
    )
    .unwrap();

    assert_eq!(read_back::<OpenInterest>(&mut cat, "OpenInterest", &id), oi);
    assert_eq!(read_back::<LongShortRatio>(&mut cat, "LongShortRatio", &id), ratios);
    assert_eq!(read_back::<TakerBuySellVolume>(&mut cat, "TakerBuySellVolume", &id), taker);
}

#[test]
fn bars_round_trip_in_the_project_precision_mode() {
    assert_eq!(FIXED_PRECISION, 16, "the workspace builds nautilus-model with high-precision");
    let dir = common::fresh_dir("bars");
    let mut cat = ParquetDataCatalog::new(&dir, None, None, None, None);

    let spot_bt = BarType::from("BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL");
    let spot = parse_klines_json(&common::json("spot/klines.json"), spot_bt, 2, 5).unwrap();
    let ada_bt = BarType::from("ADABTC.BINANCE-1-MINUTE-LAST-EXTERNAL");
    let ada = parse_klines_csv(&common::text("archive/ADABTC-1m-2021-11-27.csv"), ada_bt, 8, 1).unwrap();
    assert_eq!((spot.len(), ada.len()), (10, 10));

    cat.write_to_parquet(spot.clone(), None, None, None).unwrap();
    cat.write_to_parquet(ada.clone(), None, None, None).unwrap();

    let got: Vec<Bar> =
        cat.query_typed_data::<Bar>(Some(vec![spot_bt.to_string()]), None, None, None, None, true).unwrap();
    assert_eq!(got, spot);
    let got: Vec<Bar> =
        cat.query_typed_data::<Bar>(Some(vec![ada_bt.to_string()]), None, None, None, None, true).unwrap();
    assert_eq!(got, ada);
    assert_eq!(got[0].close.precision, 8);
}
