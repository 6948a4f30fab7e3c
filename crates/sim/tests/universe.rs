//! The simulator's universe: BTCUSDT and ETHUSDT exactly as before it existed, generated symbols
//! deterministic and consistent (klines = trades, funding from the premium), a factor structure
//! in their returns, persistent cross-sectional funding, and listings/delistings that every
//! payload respects.

use binance::{Market, brackets::parse, endpoint::find};
use serde_json::Value;
use sim::{
    events::events,
    model::{Agg, Driver, FUNDING_MS, Model, ModelConfig, Venue, fixed::div_round, funding_formula},
    payload::{Wire, respond},
    query::{ApiError, Query},
};

const MIN: u64 = 60_000;
const HOUR: u64 = 3_600_000;
const DAY: u64 = 86_400_000;
/// 2024-08-08T12:34:56.789Z.
const NOW: u64 = 1_723_120_496_789;

fn model(seed: u64) -> Model {
    Model::new(ModelConfig { seed, ..ModelConfig::default() })
}

fn call(m: &Model, market: Market, name: &str, q: &Query, now: u64) -> Result<Value, ApiError> {
    respond(find(market, name).unwrap(), q, m, now)
}

fn sym(s: &str) -> Query {
    Query { symbol: Some(s.into()), limit: 500, ..Query::default() }
}

/// The generated symbols (after the configured BTCUSDT and ETHUSDT).
fn generated(m: &Model) -> Vec<String> {
    m.symbols().iter().skip(2).map(|s| s.symbol.clone()).collect()
}

/// A query from a stored request path (`/fapi/v1/klines?symbol=..&interval=1m&...`).
fn query_of(source: &str) -> Query {
    let mut q = Query::default();
    for kv in source.split_once('?').unwrap().1.split('&') {
        let (k, v) = kv.split_once('=').unwrap();
        match k {
            "symbol" => q.symbol = Some(v.into()),
            "interval" => q.interval = Some((v.into(), binance::endpoint::interval_ms(v).unwrap())),
            "startTime" => q.start_time = Some(v.parse().unwrap()),
            "endTime" => q.end_time = Some(v.parse().unwrap()),
            "limit" => q.limit = v.parse().unwrap(),
            other => panic!("{other}"),
        }
    }
    q
}

#[test]
fn btc_and_eth_are_served_exactly_as_before_the_universe() {
    let old: Value = serde_json::from_str(include_str!("../../../test_data/sim/pre_universe.json")).unwrap();
    let m = model(42);
    for (market, key) in [(Market::Spot, "spot_exchange_info"), (Market::UsdM, "usdm_exchange_info")] {
        let now = old[key]["server_time"].as_u64().unwrap();
        let info = call(&m, market, "exchange_info", &Query::default(), now).unwrap();
        let new = info["symbols"].as_array().unwrap();
        assert_eq!(new.len(), m.listed(now).count(), "every listed symbol");
        assert_eq!(
            new[..2],
            old[key]["symbols"].as_array().unwrap()[..],
            "{market}: BTCUSDT, ETHUSDT first, unchanged"
        );
    }
    let now = old["usdm_exchange_info"]["server_time"].as_u64().unwrap();
    for (market, name, key) in [
        (Market::UsdM, "klines", "usdm_klines_1m"),
        (Market::Spot, "klines", "spot_klines_1m"),
        (Market::UsdM, "funding_rate_history", "usdm_funding_rate"),
        (Market::UsdM, "mark_price_klines", "usdm_mark_price_klines_1m"),
    ] {
        let rows = old[key]["rows"].as_array().unwrap();
        let q = Query { limit: rows.len() as u32, ..query_of(old[key]["source"].as_str().unwrap()) };
        assert_eq!(call(&m, market, name, &q, now).unwrap().as_array().unwrap(), rows, "{key}");
    }
}

#[test]
fn a_universe_is_seeded_and_its_names_do_not_depend_on_the_seed() {
    let (a, b, c) = (model(7), model(7), model(8));
    assert_eq!(a.symbols().len(), 100, "default size, BTCUSDT and ETHUSDT included");
    assert_eq!(generated(&a), generated(&c));
    for market in Market::ALL {
        let x = call(&a, market, "exchange_info", &Query::default(), NOW).unwrap();
        assert_eq!(x, call(&b, market, "exchange_info", &Query::default(), NOW).unwrap());
    }
    let s = &generated(&a)[17];
    let q = Query { interval: Some(("1m".into(), MIN)), ..sym(s) };
    let ka = call(&a, Market::UsdM, "klines", &q, NOW).unwrap();
    assert_eq!(ka, call(&b, Market::UsdM, "klines", &q, NOW).unwrap());
    assert_ne!(ka, call(&c, Market::UsdM, "klines", &q, NOW).unwrap());
}

#[test]
fn each_symbol_has_its_own_grid_limits_and_continuous_brackets() {
    let m = model(42);
    let info = call(&m, Market::UsdM, "exchange_info", &Query::default(), NOW).unwrap();
    let filter = |s: &Value, t: &str, k: &str| {
        s["filters"].as_array().unwrap().iter().find(|f| f["filterType"] == t).unwrap()[k].as_str().unwrap().to_string()
    };
    let symbols = info["symbols"].as_array().unwrap();
    let distinct =
        |t: &str, k: &str| symbols.iter().map(|s| filter(s, t, k)).collect::<std::collections::BTreeSet<_>>().len();
    assert!(distinct("PRICE_FILTER", "tickSize") >= 5, "ticks");
    assert!(distinct("LOT_SIZE", "stepSize") >= 3, "steps");
    assert!(distinct("MIN_NOTIONAL", "notional") >= 2, "min notionals");
    for s in symbols {
        let name = s["symbol"].as_str().unwrap();
        if s["status"] != "TRADING" || ["BTCUSDT", "ETHUSDT"].contains(&name) {
            continue;
        }
        // A sensible grid: the price is thousands of ticks, one step is a small notional.
        let close: f64 = call(&m, Market::UsdM, "ticker_price", &sym(name), NOW).unwrap()["price"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let tick: f64 = filter(s, "PRICE_FILTER", "tickSize").parse().unwrap();
        let step: f64 = filter(s, "LOT_SIZE", "stepSize").parse().unwrap();
        assert!(close / tick > 500.0, "{name}: {close} is {} ticks", close / tick);
        assert!(close * step < 20.0, "{name}: one step is {} USDT", close * step);
    }
    // Brackets for every listed symbol, each with a continuous maintenance margin.
    let all = sim::brackets::response(&m, "2024-08-08", NOW);
    let tiers = parse(&all).unwrap();
    assert_eq!(tiers.len(), symbols.len());
    for (name, b) in &tiers {
        for w in b.0.windows(2) {
            let want = w[1].notional_floor * (w[1].maint_margin_ratio - w[0].maint_margin_ratio) + w[0].cum;
            assert_eq!(w[1].cum, want, "{name} bracket {}", w[1].bracket);
        }
    }
}

/// A symbol picked by a fixed-seed generator among the generated ones trading at `t`.
fn some_trading(m: &Model, t: u64, pick: u64) -> String {
    let live: Vec<String> = generated(m).into_iter().filter(|s| m.life(s).unwrap().trades_at(t)).collect();
    live[(pick.wrapping_mul(6_364_136_223_846_793_005) >> 40) as usize % live.len()].clone()
}

#[test]
fn klines_of_a_generated_symbol_aggregate_its_trades() {
    let m = model(42);
    let s = some_trading(&m, NOW - DAY, 3);
    for (market, venue) in [(Market::Spot, Venue::Spot), (Market::UsdM, Venue::Perp)] {
        let w = Wire::new(&m, &s, market);
        for (name, iv) in [("1m", MIN), ("15m", 15 * MIN), ("1h", HOUR)] {
            let start = NOW - NOW % iv - 3 * iv;
            let q = Query { interval: Some((name.into(), iv)), start_time: Some(start), limit: 4, ..sym(&s) };
            let rows = call(&m, market, "klines", &q, NOW).unwrap();
            for (k, row) in rows.as_array().unwrap().iter().enumerate() {
                let open = start + k as u64 * iv;
                let a = Agg::of(&m.trades(&s, venue, open, (open + iv).min(NOW)));
                assert!(a.count > 0);
                let want = serde_json::json!([
                    open,
                    w.price(a.open),
                    w.price(a.high),
                    w.price(a.low),
                    w.price(a.close),
                    w.qty(a.volume),
                    open + iv - 1,
                    w.quote(a.quote),
                    a.count,
                    w.qty(a.taker_base),
                    w.quote(a.taker_quote),
                    "0"
                ]);
                assert_eq!(*row, want, "{s} {market} {name} row {k}");
            }
        }
    }
}

/// Pearson correlation.
fn corr(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

#[test]
fn one_market_factor_and_sector_factors_shape_the_correlations() {
    let m = model(42);
    let (from, hours) = (NOW - NOW % HOUR - 60 * DAY, 60 * 24);
    let returns = |s: &str| -> Vec<f64> {
        let p: Vec<f64> = (0..=hours).map(|h| m.spot_mid(s, from + h * HOUR).unwrap().ln()).collect();
        p.windows(2).map(|w| w[1] - w[0]).collect()
    };
    let live: Vec<(String, usize)> = generated(&m)
        .into_iter()
        .filter(|s| m.life(s).unwrap().trades_at(from) && m.life(s).unwrap().trades_at(NOW))
        .filter_map(|s| match m.profile(&s).unwrap().driver {
            Driver::Factor { sector, .. } => Some((s, sector)),
            Driver::Own => None,
        })
        .take(40)
        .collect();
    let r: Vec<Vec<f64>> = live.iter().map(|(s, _)| returns(s)).collect();
    let (mut within, mut across) = (Vec::new(), Vec::new());
    for i in 0..live.len() {
        for j in i + 1..live.len() {
            let c = corr(&r[i], &r[j]);
            assert!(c > 0.0, "{} and {}: {c}", live[i].0, live[j].0);
            if live[i].1 == live[j].1 { within.push(c) } else { across.push(c) }
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (w, a) = (mean(&within), mean(&across));
    eprintln!(
        "1h return correlation: within sectors {w:.3} ({} pairs), across {a:.3} ({} pairs)",
        within.len(),
        across.len()
    );
    assert!(w > a + 0.05, "within {w} vs across {a}");
    assert!((0.2..0.9).contains(&a), "across-sector correlation {a} is not crypto-like");
    // The market factor is made of BTCUSDT's and ETHUSDT's own paths: both lead the alts.
    for major in ["BTCUSDT", "ETHUSDT"] {
        let rm = returns(major);
        let c = mean(&r.iter().map(|x| corr(&rm, x)).collect::<Vec<_>>());
        assert!(c > 0.2, "{major} vs alts: {c}");
    }
}

#[test]
fn funding_follows_the_premium_differs_across_symbols_and_persists() {
    let m = model(42);
    let last = NOW - NOW % FUNDING_MS;
    let periods = 45u64;
    let live: Vec<String> = generated(&m)
        .into_iter()
        .filter(|s| m.life(s).unwrap().trades_at(last - periods * FUNDING_MS) && m.life(s).unwrap().trades_at(NOW))
        .take(16)
        .collect();
    let series: Vec<Vec<f64>> = live
        .iter()
        .map(|s| {
            let q = Query { start_time: Some(last - (periods - 1) * FUNDING_MS), limit: periods as u32, ..sym(s) };
            let rows = call(&m, Market::UsdM, "funding_rate_history", &q, NOW).unwrap();
            let rows = rows.as_array().unwrap();
            assert_eq!(rows.len() as u64, periods, "{s}");
            // Binance's formula on the model's premium, for the newest row.
            let t = rows.last().unwrap()["fundingTime"].as_u64().unwrap();
            let sum: i64 = (0..480).map(|k| m.premium_e8(s, t - FUNDING_MS + k * MIN).unwrap()).sum();
            let want = funding_formula(div_round(sum.into(), 480) as i64);
            assert_eq!(rows.last().unwrap()["fundingRate"], sim::model::fixed::fmt_fixed(want.into(), 8, 8));
            rows.iter().map(|r| r["fundingRate"].as_str().unwrap().parse::<f64>().unwrap()).collect()
        })
        .collect();
    let means: Vec<f64> = series.iter().map(|v| v.iter().sum::<f64>() / v.len() as f64).collect();
    let spread = means.iter().cloned().fold(f64::MIN, f64::max) - means.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread > 2e-4, "mean funding ranges over {spread}: {means:?}");
    let off_floor = means.iter().filter(|x| (*x - 1e-4).abs() > 1e-6).count();
    assert!(off_floor >= live.len() / 4, "{off_floor} of {} leave the 0.01 % floor", live.len());
    // Persistence: the lag-1 autocorrelation of each varying series, on average.
    let acs: Vec<f64> =
        series.iter().filter(|v| v.iter().any(|x| *x != v[0])).map(|v| corr(&v[..v.len() - 1], &v[1..])).collect();
    let ac = acs.iter().sum::<f64>() / acs.len() as f64;
    eprintln!("funding: mean per symbol {means:?}; lag-1 autocorrelation {ac:.3} over {} symbols", acs.len());
    assert!(ac > 0.5, "lag-1 autocorrelation {ac} over {} symbols", acs.len());
}

#[test]
fn a_delisted_symbol_serves_nothing_after_its_delisting() {
    let m = model(42);
    let s = generated(&m).into_iter().find(|s| m.life(s).unwrap().delisted_ms.is_some()).unwrap();
    let d = m.life(&s).unwrap().delisted_ms.unwrap();
    let now = d + 2 * DAY;
    let status = |t: u64| {
        let f = call(&m, Market::UsdM, "exchange_info", &Query::default(), t).unwrap();
        let sp = call(&m, Market::Spot, "exchange_info", &Query::default(), t).unwrap();
        let one =
            |v: &Value| v["symbols"].as_array().unwrap().iter().find(|x| x["symbol"] == s.as_str()).cloned().unwrap();
        let (f, sp) = (one(&f), one(&sp));
        (
            f["status"].as_str().unwrap().to_string(),
            f["deliveryDate"].as_u64().unwrap(),
            sp["status"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(status(d - 8 * DAY), ("TRADING".into(), 4_133_404_800_000, "TRADING".into()));
    assert_eq!(status(d - HOUR), ("TRADING".into(), d, "TRADING".into()), "announced: deliveryDate");
    assert_eq!(status(d + HOUR), ("SETTLING".into(), d, "BREAK".into()));
    assert_eq!(status(now), ("CLOSE".into(), d, "BREAK".into()));

    for (market, venue) in [(Market::Spot, Venue::Spot), (Market::UsdM, Venue::Perp)] {
        // Klines end with the minute before the delisting; none after it.
        let q = Query { interval: Some(("1m".into(), MIN)), start_time: Some(d - 10 * MIN), limit: 100, ..sym(&s) };
        let rows = call(&m, market, "klines", &q, now).unwrap();
        let opens: Vec<u64> = rows.as_array().unwrap().iter().map(|r| r[0].as_u64().unwrap()).collect();
        assert_eq!(opens, (0..10).map(|k| d - (10 - k) * MIN).collect::<Vec<_>>(), "{market}");
        assert!(m.trades(&s, venue, d, now).is_empty());
        let last = call(&m, market, "trades", &Query { limit: 5, ..sym(&s) }, now).unwrap();
        assert!(last.as_array().unwrap().iter().all(|t| t["time"].as_u64().unwrap() < d));
        let book = call(&m, market, "depth", &Query { limit: 5, ..sym(&s) }, now).unwrap();
        assert_eq!((book["bids"].as_array().unwrap().len(), book["asks"].as_array().unwrap().len()), (0, 0));
        let stream = binance::stream::Stream::new(&s, binance::stream::StreamKind::Trade);
        assert!(events(market, &stream, d, d + HOUR, &m).is_empty(), "{market} streams fall silent");
        assert!(!events(market, &stream, d - HOUR, d, &m).is_empty());
    }
    // Funding settles only before the delisting.
    let q = Query { start_time: Some(d - 3 * DAY), limit: 1000, ..sym(&s) };
    let rows = call(&m, Market::UsdM, "funding_rate_history", &q, now).unwrap();
    let times: Vec<u64> = rows.as_array().unwrap().iter().map(|r| r["fundingTime"].as_u64().unwrap()).collect();
    assert_eq!(times.last().copied(), Some((d - 1) - (d - 1) % FUNDING_MS));
    // The premium index shows the settlement: the mean index price of the last 30 minutes.
    let (at, settle) = m.settlement_e8(&s).unwrap();
    let samples: Vec<i128> =
        (0..1800).map(|k| i128::from(m.index_mark_e8(&s, d - 1_800_000 + k * 1000).unwrap().0)).collect();
    assert_eq!((at, i128::from(settle)), (d, div_round(samples.iter().sum(), 1800)));
    let p = call(&m, Market::UsdM, "mark_price", &sym(&s), now).unwrap();
    let e8 = sim::model::fixed::fmt_fixed(settle.into(), 8, 8);
    assert_eq!((p["markPrice"].as_str().unwrap(), p["indexPrice"].as_str().unwrap()), (e8.as_str(), e8.as_str()));
    assert_eq!(
        call(&m, Market::UsdM, "open_interest", &sym(&s), now).unwrap()["openInterest"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap(),
        0.0
    );
}

#[test]
fn a_symbol_does_not_exist_before_its_listing() {
    let m = model(42);
    let s = generated(&m).into_iter().find(|s| m.spec(s).unwrap().listed_ms.is_some()).unwrap();
    let l = m.life(&s).unwrap().listed_ms;
    let listed = |t: u64| {
        call(&m, Market::UsdM, "exchange_info", &Query::default(), t).unwrap()["symbols"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["symbol"] == s.as_str())
    };
    assert!(!listed(l - 1) && listed(l));
    let q = Query { interval: Some(("1m".into(), MIN)), start_time: Some(l - DAY), limit: 3, ..sym(&s) };
    assert_eq!(call(&m, Market::UsdM, "klines", &q, l - 1).unwrap_err().code, -1121, "unknown before its listing");
    let rows = call(&m, Market::UsdM, "klines", &q, l + DAY).unwrap();
    assert_eq!(rows[0][0].as_u64(), Some(l), "the first kline opens at the listing");
    let first = m.trades(&s, Venue::Perp, l - DAY, l + MIN);
    assert!(first[0].time >= l && first[0].id == 0, "ids count from the listing");
    let q = Query { start_time: Some(l - DAY), limit: 3, ..sym(&s) };
    let funding = call(&m, Market::UsdM, "funding_rate_history", &q, l + 2 * DAY).unwrap();
    assert!(funding[0]["fundingTime"].as_u64().unwrap() > l);
}
