//! Contract tests of the market model and its payloads: documented shapes for all 40 endpoints,
//! determinism, cross-payload consistency and Binance's paging rules.

#[path = "../../../test_data/legacy_fields.rs"]
mod legacy_fields;

use binance::{
    ENDPOINTS, Endpoint, Market,
    endpoint::{ParamKind, Shape, find},
    stream::{Stream, StreamKind, Window},
};
use proptest::prelude::*;
use serde_json::Value;
use sim::{
    events::events,
    model::{Agg, FUNDING_MS, Model, ModelConfig, Series, Venue, fixed::div_round, funding_formula},
    payload::respond,
    query::{ApiError, Query},
};

/// 2024-08-08T12:34:56.789Z.
const NOW: u64 = 1_723_120_496_789;
const MIN: u64 = 60_000;

fn model(seed: u64) -> Model {
    Model::new(ModelConfig { seed, ..ModelConfig::default() })
}

/// The table's defaults for BTCUSDT, as the server would hand them over.
fn default_query(ep: &Endpoint) -> Query {
    let mut q = Query { limit: ep.limit_param().map_or(0, |(d, _)| d), ..Query::default() };
    for p in ep.params.iter().filter(|p| p.required) {
        match p.kind {
            ParamKind::Symbol => q.symbol = Some("BTCUSDT".into()),
            ParamKind::Pair => q.pair = Some("BTCUSDT".into()),
            ParamKind::Interval => q.interval = Some(("1m".into(), MIN)),
            ParamKind::Period => q.period = Some(("5m".into(), 300_000)),
            ParamKind::ContractType => q.contract_type = Some("PERPETUAL".into()),
            _ => {}
        }
    }
    q
}

fn call(m: &Model, market: Market, name: &str, q: &Query, now: u64) -> Result<Value, ApiError> {
    respond(find(market, name).unwrap(), q, m, now)
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn every_endpoint_has_the_legacy_harness_fields() {
    // The independent reference: the legacy harness's FIELDS.md, not the endpoint table.
    let shapes = legacy_fields::rest_shapes();
    assert_eq!(shapes.len(), ENDPOINTS.len(), "FIELDS.md lists {} payloads", shapes.len());
    let m = model(42);
    for ep in ENDPOINTS {
        let shape = &shapes[&(ep.market.to_string(), ep.name.to_string())];
        let v = respond(ep, &default_query(ep), &m, NOW).unwrap_or_else(|e| panic!("{}: {e}", ep.id()));
        legacy_fields::check(shape, &v, &ep.id()).unwrap();
        // and the table itself documents the same top-level fields
        if let legacy_fields::Shape::Object { keys, .. } = shape {
            assert_eq!(keys.iter().map(|k| k.0.as_str()).collect::<Vec<_>>(), ep.fields, "{}", ep.id());
        }
    }
}

#[test]
fn every_endpoint_has_the_documented_shape_and_fields() {
    let m = model(42);
    for ep in ENDPOINTS {
        let v = respond(ep, &default_query(ep), &m, NOW).unwrap_or_else(|e| panic!("{}: {e}", ep.id()));
        match ep.shape {
            Shape::Object => assert_eq!(keys(&v), ep.fields, "{}", ep.id()),
            Shape::Array => {
                let rows = v.as_array().unwrap();
                assert!(!rows.is_empty(), "{} is empty", ep.id());
                rows.iter().for_each(|r| assert_eq!(keys(r), ep.fields, "{}", ep.id()));
            }
            Shape::Klines => {
                let rows = v.as_array().unwrap();
                assert_eq!(rows.len() as u32, ep.limit_param().unwrap().0, "{}", ep.id());
                for r in rows {
                    let r = r.as_array().unwrap();
                    assert_eq!(r.len(), ep.fields.len());
                    for (i, x) in r.iter().enumerate() {
                        let ok = if matches!(i, 0 | 6 | 8) {
                            x.is_u64()
                        } else {
                            x.as_str().is_some_and(|s| s.parse::<f64>().is_ok())
                        };
                        assert!(ok, "{} column {i}: {x}", ep.id());
                    }
                }
            }
        }
    }
}

#[test]
fn unknown_symbols_and_long_agg_windows_are_rejected_like_binance() {
    let m = model(42);
    for ep in ENDPOINTS.iter().filter(|e| e.param("symbol").is_some_and(|p| p.required)) {
        let q = Query { symbol: Some("NOPEUSDT".into()), ..default_query(ep) };
        assert_eq!(respond(ep, &q, &m, NOW).unwrap_err().code, -1121, "{}", ep.id());
    }
    let q = Query { symbol: Some("BTCUSDT".into()), ..Query::default() };
    assert_eq!(call(&m, Market::UsdM, "index_info", &q, NOW).unwrap_err().code, -1121);
    let q = Query {
        symbol: Some("BTCUSDT".into()),
        start_time: Some(NOW - 7_200_000),
        end_time: Some(NOW),
        limit: 500,
        ..Query::default()
    };
    assert_eq!(call(&m, Market::Spot, "agg_trades", &q, NOW).unwrap_err().code, -1127);
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, b, c) = (model(7), model(7), model(8));
    for ep in ENDPOINTS {
        let q = default_query(ep);
        let (x, y) = (respond(ep, &q, &a, NOW).unwrap().to_string(), respond(ep, &q, &b, NOW).unwrap().to_string());
        assert_eq!(x, y, "{}", ep.id());
    }
    let ep = find(Market::Spot, "klines").unwrap();
    let q = default_query(ep);
    assert_ne!(respond(ep, &q, &a, NOW).unwrap().to_string(), respond(ep, &q, &c, NOW).unwrap().to_string());
}

/// Kline rows equal an independent aggregation of the model's trades.
#[test]
fn klines_aggregate_the_served_trades() {
    let m = model(42);
    for (market, venue) in [(Market::Spot, Venue::Spot), (Market::UsdM, Venue::Perp)] {
        for (name, iv) in [("1m", MIN), ("5m", 5 * MIN), ("1h", 60 * MIN)] {
            let start = NOW - NOW % iv - 3 * iv;
            let q = Query {
                symbol: Some("BTCUSDT".into()),
                interval: Some((name.into(), iv)),
                start_time: Some(start),
                limit: 4,
                ..Query::default()
            };
            let rows = call(&m, market, "klines", &q, NOW).unwrap();
            let rows = rows.as_array().unwrap();
            assert_eq!(rows.len(), 4);
            for (k, row) in rows.iter().enumerate() {
                let open = start + k as u64 * iv;
                let trades = m.trades("BTCUSDT", venue, open, (open + iv).min(NOW));
                let a = Agg::of(&trades);
                assert_eq!(row[0], open);
                assert_eq!(row[6], open + iv - 1);
                assert_eq!(row[8], a.count);
                let w = sim::payload::Wire::new(&m, "BTCUSDT", market);
                let expect = [w.price(a.open), w.price(a.high), w.price(a.low), w.price(a.close), w.qty(a.volume)];
                assert_eq!(&row.as_array().unwrap()[1..6], &expect, "{market} {name} row {k}");
                assert_eq!(row[7], w.quote(a.quote));
                assert_eq!(row[9], w.qty(a.taker_base));
                assert_eq!(row[10], w.quote(a.taker_quote));
                assert_eq!(a.taker_base, trades.iter().filter(|t| !t.is_buyer_maker).map(|t| u128::from(t.qty)).sum());
            }
        }
    }
}

#[test]
fn ids_are_contiguous_and_aggregates_tile_the_trades() {
    let m = model(42);
    for venue in [Venue::Spot, Venue::Perp] {
        let from = NOW - 30 * MIN;
        let trades = m.trades("BTCUSDT", venue, from, NOW);
        assert!(trades.windows(2).all(|w| w[1].id == w[0].id + 1 && w[1].time >= w[0].time));
        let aggs = m.agg_trades("BTCUSDT", venue, from, NOW);
        assert_eq!(aggs[0].first_id, trades[0].id);
        assert_eq!(aggs.last().unwrap().last_id, trades.last().unwrap().id);
        for w in aggs.windows(2) {
            assert_eq!(w[1].id, w[0].id + 1);
            assert_eq!(w[1].first_id, w[0].last_id + 1);
            assert!(w[1].time > w[0].time);
        }
        for a in &aggs {
            let inside: Vec<_> = trades.iter().filter(|t| (a.first_id..=a.last_id).contains(&t.id)).collect();
            assert!(
                inside.iter().all(|t| t.price == a.price && t.time == a.time && t.is_buyer_maker == a.is_buyer_maker)
            );
            assert_eq!(inside.iter().map(|t| t.qty).sum::<u64>(), a.qty);
        }
        let per_min: Vec<usize> =
            (0..30).map(|k| m.trades("BTCUSDT", venue, from + k * MIN, from + (k + 1) * MIN).len()).collect();
        assert!(per_min.iter().all(|&n| (1..=60).contains(&n)), "{per_min:?}");
    }
}

#[test]
fn book_ticker_is_the_top_of_depth_and_ticker_price_the_last_trade() {
    let m = model(42);
    for market in Market::ALL {
        let q = Query { symbol: Some("BTCUSDT".into()), limit: 100, ..Query::default() };
        let d = call(&m, market, "depth", &q, NOW).unwrap();
        let b = call(&m, market, "book_ticker", &q, NOW).unwrap();
        assert_eq!(b["bidPrice"], d["bids"][0][0]);
        assert_eq!(b["bidQty"], d["bids"][0][1]);
        assert_eq!(b["askPrice"], d["asks"][0][0]);
        assert_eq!(b["askQty"], d["asks"][0][1]);
        let px = |v: &Value| v.as_str().unwrap().parse::<f64>().unwrap();
        let (bids, asks) = (d["bids"].as_array().unwrap(), d["asks"].as_array().unwrap());
        assert!(bids.windows(2).all(|w| px(&w[0][0]) > px(&w[1][0])));
        assert!(asks.windows(2).all(|w| px(&w[0][0]) < px(&w[1][0])));
        assert!(px(&bids[0][0]) < px(&asks[0][0]));
        let t = call(&m, market, "trades", &Query { limit: 1, ..q.clone() }, NOW).unwrap();
        let p = call(&m, market, "ticker_price", &q, NOW).unwrap();
        assert_eq!(p["price"], t[0]["price"]);
    }
}

#[test]
fn ticker_24hr_matches_the_trades_of_the_window() {
    let m = model(42);
    let q = Query { symbol: Some("BTCUSDT".into()), ..Query::default() };
    let v = call(&m, Market::Spot, "ticker_24hr", &q, NOW).unwrap();
    let trades = m.trades("BTCUSDT", Venue::Spot, NOW - 86_400_000, NOW);
    assert_eq!(v["count"], trades.len());
    assert_eq!(v["firstId"], trades[0].id);
    assert_eq!(v["lastId"], trades.last().unwrap().id);
}

#[test]
fn funding_follows_binance_formula_on_the_model_premium() {
    let m = model(42);
    let q = Query { symbol: Some("BTCUSDT".into()), limit: 20, ..Query::default() };
    let rows = call(&m, Market::UsdM, "funding_rate_history", &q, NOW).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 20);
    for r in rows {
        let t = r["fundingTime"].as_u64().unwrap();
        assert_eq!(t % FUNDING_MS, 0);
        let sum: i64 = (0..480).map(|k| m.premium_e8("BTCUSDT", t - FUNDING_MS + k * MIN).unwrap()).sum();
        let avg = div_round(sum.into(), 480) as i64;
        let expect = (avg + (10_000 - avg).clamp(-50_000, 50_000)).clamp(-750_000, 750_000);
        assert_eq!(expect, funding_formula(avg));
        assert_eq!(r["fundingRate"], sim::model::fixed::fmt_fixed(expect.into(), 8, 8));
    }
}

#[test]
fn perp_basis_is_bounded_and_mean_reverting() {
    let m = model(42);
    let (spot, perp): (Vec<_>, Vec<_>) = (0..24 * 120)
        .map(|h| {
            let t = NOW - h * 3_600_000;
            let s = Agg::of(&m.trades("BTCUSDT", Venue::Spot, t - MIN, t)).close as f64;
            let p = Agg::of(&m.trades("BTCUSDT", Venue::Perp, t - MIN, t)).close as f64;
            (s, p)
        })
        .unzip();
    let basis: Vec<f64> = spot.iter().zip(&perp).map(|(s, p)| p / s - 1.0).collect();
    assert!(basis.iter().all(|b| b.abs() < 0.005), "basis out of bounds");
    let mean = basis.iter().sum::<f64>() / basis.len() as f64;
    assert!((0.0..0.001).contains(&mean), "mean basis {mean}");
    let var: f64 = basis.iter().map(|b| (b - mean).powi(2)).sum();
    let lag = 24;
    let cov: f64 = basis.windows(lag + 1).map(|w| (w[0] - mean) * (w[lag] - mean)).sum();
    assert!(cov / var < 0.5, "1-day autocorrelation {}", cov / var);
}

#[test]
fn statistics_keep_30_days_and_ratios_add_up() {
    let m = model(42);
    let ep = find(Market::UsdM, "long_short_account_ratio").unwrap();
    let q = Query { start_time: Some(NOW - 90 * 86_400_000), limit: 500, ..default_query(ep) };
    let rows = respond(ep, &q, &m, NOW).unwrap();
    let first = rows[0]["timestamp"].as_u64().unwrap();
    assert!(first >= NOW - 30 * 86_400_000);
    for r in rows.as_array().unwrap() {
        let f = |k: &str| r[k].as_str().unwrap().parse::<f64>().unwrap();
        assert!((f("longAccount") + f("shortAccount") - 1.0).abs() < 1e-9);
        assert!((f("longShortRatio") - f("longAccount") / f("shortAccount")).abs() < 1e-3);
    }
}

/// Keys as Binance sends them today: the 2024-08-08 captures in shared/data/recordings for
/// trade, bookTicker and depth (the older wire/spot samples still carry removed fields), the
/// official SDK's examples for the rest.
#[test]
fn stream_events_have_the_wire_sample_keys() {
    let m = model(42);
    let cases: &[(Market, StreamKind, &[&str])] = &[
        (Market::Spot, StreamKind::Trade, &["e", "E", "s", "t", "p", "q", "T", "m", "M"]),
        (Market::Spot, StreamKind::AggTrade, &["e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M"]),
        (Market::UsdM, StreamKind::AggTrade, &["e", "E", "s", "a", "p", "q", "nq", "f", "l", "T", "m", "st"]),
        (Market::Spot, StreamKind::Kline("1m".into()), &["e", "E", "s", "k"]),
        (Market::Spot, StreamKind::BookTicker, &["u", "s", "b", "B", "a", "A"]),
        (Market::UsdM, StreamKind::BookTicker, &["e", "u", "s", "b", "B", "a", "A", "T", "E"]),
        (Market::Spot, StreamKind::Depth100ms, &["e", "E", "s", "U", "u", "b", "a"]),
        (Market::UsdM, StreamKind::Depth100ms, &["e", "E", "T", "s", "U", "u", "pu", "b", "a"]),
        (Market::UsdM, StreamKind::MarkPrice1s, &["e", "E", "s", "p", "i", "P", "r", "ap", "T", "st"]),
        (
            Market::Spot,
            StreamKind::RollingTicker(Window::H4),
            &["e", "E", "s", "p", "P", "o", "h", "l", "c", "w", "v", "q", "O", "C", "F", "L", "n"],
        ),
    ];
    for (market, kind, want) in cases {
        let ev = events(*market, &Stream::new("BTCUSDT", kind.clone()), NOW - 60_000, NOW, &m);
        assert!(!ev.is_empty(), "{kind:?}");
        assert!(ev.windows(2).all(|w| w[0].0 <= w[1].0));
        // Spot bookTicker carries no event time; every other event's `E` is its time.
        assert!(ev.iter().all(|(e, v)| (NOW - 60_000..NOW).contains(e) && (v["E"] == *e || v.get("E").is_none())));
        assert_eq!(keys(&ev[0].1), *want, "{market} {kind:?}");
    }
    let k = events(Market::Spot, &Stream::new("BTCUSDT", StreamKind::Kline("1m".into())), NOW - 2_000, NOW, &m);
    assert_eq!(
        keys(&k[0].1["k"]),
        ["t", "T", "s", "i", "f", "L", "o", "c", "h", "l", "v", "n", "x", "q", "V", "Q", "B"]
    );
}

#[test]
fn a_1000_row_page_of_1m_klines_is_fast() {
    let m = model(42);
    let ep = find(Market::Spot, "klines").unwrap();
    let q = Query { start_time: Some(1_560_000_000_000), limit: 1000, ..default_query(ep) };
    let t = std::time::Instant::now();
    let cold = respond(ep, &q, &m, NOW).unwrap();
    let cold_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = std::time::Instant::now();
    let warm = respond(ep, &q, &m, NOW).unwrap();
    let warm_ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(cold, warm);
    eprintln!("1000 x 1m klines (2019): cold {cold_ms:.1} ms, warm {warm_ms:.1} ms");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Walking pages forward by `last openTime + interval` gives a gapless ascending series.
    #[test]
    fn kline_pages_chain_without_gaps(back_min in 0u64..2_000_000, limit in 1u32..40, iv in prop::sample::select(vec![("1m", MIN), ("15m", 15 * MIN), ("1h", 60 * MIN)])) {
        let m = model(42);
        let ep = find(Market::UsdM, "klines").unwrap();
        let mut start = NOW - back_min * MIN;
        let mut prev: Option<u64> = None;
        for _ in 0..3 {
            let q = Query { start_time: Some(start), limit, interval: Some((iv.0.into(), iv.1)), ..default_query(ep) };
            let rows = respond(ep, &q, &m, NOW).unwrap();
            let rows = rows.as_array().unwrap();
            prop_assert!(rows.len() as u32 <= limit);
            for r in rows {
                let t = r[0].as_u64().unwrap();
                prop_assert!(t >= start && t < NOW);
                if let Some(p) = prev { prop_assert_eq!(t, p + iv.1); }
                prev = Some(t);
            }
            match rows.last() { Some(r) => start = r[0].as_u64().unwrap() + iv.1, None => break }
        }
    }

    /// `fromId` paging of aggTrades and historical trades: next fromId = last id + 1.
    #[test]
    fn id_pages_chain_without_gaps(back_min in 0u64..2_000_000, limit in 1u32..60) {
        let m = model(42);
        for (market, name, id_key) in [(Market::Spot, "agg_trades", "a"), (Market::UsdM, "agg_trades", "a"), (Market::Spot, "historical_trades", "id")] {
            let first = m.trades("BTCUSDT", if market == Market::Spot { Venue::Spot } else { Venue::Perp }, NOW - back_min * MIN - MIN, NOW - back_min * MIN);
            let mut from = if id_key == "a" { first[0].agg_id } else { first[0].id };
            let mut prev: Option<u64> = None;
            for _ in 0..3 {
                let q = Query { symbol: Some("BTCUSDT".into()), from_id: Some(from), limit, ..Query::default() };
                let rows = call(&m, market, name, &q, NOW).unwrap();
                let rows = rows.as_array().unwrap();
                prop_assert!(!rows.is_empty() && rows.len() as u32 <= limit);
                for r in rows {
                    let id = r[id_key].as_u64().unwrap();
                    prop_assert_eq!(id, prev.map_or(from, |p| p + 1));
                    prev = Some(id);
                }
                from = prev.unwrap() + 1;
            }
        }
    }
}

#[test]
fn recent_pages_end_before_now_and_series_differ() {
    let m = model(42);
    let q = Query { symbol: Some("BTCUSDT".into()), limit: 1000, ..Query::default() };
    let t = call(&m, Market::Spot, "trades", &q, NOW).unwrap();
    let t = t.as_array().unwrap();
    assert_eq!(t.len(), 1000);
    assert!(t.iter().all(|r| r["time"].as_u64().unwrap() < NOW));
    assert!(t.windows(2).all(|w| w[1]["id"].as_u64().unwrap() == w[0]["id"].as_u64().unwrap() + 1));
    let last_id = t[999]["id"].as_u64().unwrap();
    let next = m.trades("BTCUSDT", Venue::Spot, NOW, NOW + MIN);
    assert_eq!(next[0].id, last_id + 1);
    let idx = m.klines("BTCUSDT", Series::Index, MIN, None, None, 10, NOW).unwrap();
    let mark = m.klines("BTCUSDT", Series::Mark, MIN, None, None, 10, NOW).unwrap();
    assert_eq!(idx[0].agg.count, 60);
    assert_ne!(idx[0].agg.close, mark[0].agg.close);
}

#[test]
fn the_legacy_field_check_catches_dropped_extra_and_nested_fields() {
    let shapes = legacy_fields::rest_shapes();
    let m = model(42);
    let ep = find(Market::Spot, "exchange_info").unwrap();
    let shape = &shapes[&("spot".to_string(), "exchange_info".to_string())];
    let good = respond(ep, &default_query(ep), &m, NOW).unwrap();
    let mut dropped = good.clone();
    dropped.as_object_mut().unwrap().remove("rateLimits");
    let e = legacy_fields::check(shape, &dropped, "x").unwrap_err();
    assert!(
        e.starts_with("x: keys [") && e.contains("documented [\"timezone\", \"serverTime\", \"rateLimits\""),
        "{e}"
    );
    let mut extra = good.clone();
    extra.as_object_mut().unwrap().insert("extra".into(), serde_json::json!(1));
    assert!(legacy_fields::check(shape, &extra, "x").is_err_and(|e| e.contains("\"extra\"")));
    let mut nested = good;
    nested["symbols"][0].as_object_mut().unwrap().remove("baseAssetPrecision");
    let e = legacy_fields::check(shape, &nested, "x").unwrap_err();
    assert!(e.starts_with("x.symbols[0]: keys"), "{e}");
}
