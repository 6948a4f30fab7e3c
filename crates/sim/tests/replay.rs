//! Archive replay over real loopback sockets: the real data.binance.vision sample served
//! byte-for-byte, header/µs variants, paging, aggTrades/trades and loader errors.

use std::path::{Path, PathBuf};

use binance::Market;
use serde_json::Value;
use sim::{ReplayFile, ReplayKind, SimConfig, SimHandle};

/// The real data.binance.vision sample (workspace `test_data/`, see its SOURCES.md).
const SAMPLE: &str = "../../test_data/archive/ADABTC-1m-2021-11-27.csv";
const HEADER: &str =
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore";

fn sample_path() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(SAMPLE);
    assert!(p.is_file(), "sample missing: {}", p.display());
    p
}

fn sample_rows() -> Vec<Vec<String>> {
    std::fs::read_to_string(sample_path())
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// A fresh temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!("alphalab-replay-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn file(path: &Path, market: Market, kind: ReplayKind) -> ReplayFile {
    ReplayFile { path: path.to_path_buf(), market, kind, symbol: None, interval: None }
}

async fn start(replay: Vec<ReplayFile>) -> SimHandle {
    let mut cfg = SimConfig { replay, ..SimConfig::default() };
    cfg.limits.enabled = false;
    sim::spawn(cfg).await.expect("simulator starts")
}

async fn get(sim: &SimHandle, path: &str, query: &[(&str, String)]) -> (u16, Value) {
    let resp =
        reqwest::Client::new().get(format!("{}{path}", sim.rest_url())).query(query).send().await.expect("request");
    (resp.status().as_u16(), resp.json().await.expect("json"))
}

fn q(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, (*v).to_string())).collect()
}

/// Every kline column as the CSV spells it (numbers for times and counts, strings otherwise).
fn kline_as_csv(k: &Value) -> Vec<String> {
    let a = k.as_array().expect("kline array");
    assert_eq!(a.len(), 12);
    a.iter()
        .enumerate()
        .map(|(i, v)| {
            if [0, 6, 8].contains(&i) {
                v.as_u64().unwrap_or_else(|| panic!("column {i} is a number: {v}")).to_string()
            } else {
                v.as_str().unwrap_or_else(|| panic!("column {i} is a string: {v}")).to_string()
            }
        })
        .collect()
}

async fn all_klines(replay: Vec<ReplayFile>) -> Value {
    let sim = start(replay).await;
    let (status, body) =
        get(&sim, "/api/v3/klines", &q(&[("symbol", "ADABTC"), ("interval", "1m"), ("limit", "1000")])).await;
    assert_eq!(status, 200, "{body}");
    sim.shutdown().await;
    body
}

#[tokio::test]
async fn real_sample_is_served_byte_identical() {
    let rows = sample_rows();
    assert_eq!(rows.len(), 10);
    let body = all_klines(vec![file(&sample_path(), Market::Spot, ReplayKind::Klines)]).await;
    let got: Vec<Vec<String>> = body.as_array().unwrap().iter().map(kline_as_csv).collect();
    assert_eq!(got, rows);
}

#[tokio::test]
async fn header_and_microsecond_variants_serve_identical_output() {
    let expected = all_klines(vec![file(&sample_path(), Market::Spot, ReplayKind::Klines)]).await;
    let dir = TempDir::new("variants");
    let text = std::fs::read_to_string(sample_path()).unwrap();
    let with_header = dir.write("ADABTC-1m-2021-11-27.csv", &format!("{HEADER}\n{text}"));
    // µs: the archive appends three digits; close times end in 999999.
    let micros: String = sample_rows()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r[0] = format!("{}000", r[0]);
            r[6] = format!("{}999", r[6]);
            assert_eq!(r[0].len(), 16);
            r.join(",") + "\r\n"
        })
        .collect();
    let sub = dir.0.join("us");
    std::fs::create_dir_all(&sub).unwrap();
    let micro_path = sub.join("ADABTC-1m-2025-01-01.csv");
    std::fs::write(&micro_path, micros).unwrap();
    for p in [with_header, micro_path] {
        let body = all_klines(vec![file(&p, Market::Spot, ReplayKind::Klines)]).await;
        assert_eq!(body, expected, "{}", p.display());
        // and byte-identical on the wire
        assert_eq!(serde_json::to_string(&body).unwrap(), serde_json::to_string(&expected).unwrap());
    }
}

#[tokio::test]
async fn klines_paging_has_no_gaps_or_overlaps() {
    let rows = sample_rows();
    let opens: Vec<u64> = rows.iter().map(|r| r[0].parse().unwrap()).collect();
    let sim = start(vec![file(&sample_path(), Market::Spot, ReplayKind::Klines)]).await;
    let base = [("symbol", "ADABTC"), ("interval", "1m")];

    // forward by startTime, 3 at a time
    let mut seen = Vec::new();
    let mut start_t = 0u64;
    loop {
        let mut p = q(&base);
        p.extend([("startTime", start_t.to_string()), ("limit", "3".to_string())]);
        let (_, body) = get(&sim, "/api/v3/klines", &p).await;
        let page: Vec<u64> = body.as_array().unwrap().iter().map(|k| k[0].as_u64().unwrap()).collect();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 3);
        start_t = page.last().unwrap() + 1;
        seen.extend(page);
    }
    assert_eq!(seen, opens);

    // backward by endTime
    let mut seen = Vec::new();
    let mut end_t = u64::MAX / 2;
    loop {
        let mut p = q(&base);
        p.extend([("endTime", end_t.to_string()), ("limit", "4".to_string())]);
        let (_, body) = get(&sim, "/api/v3/klines", &p).await;
        let page: Vec<u64> = body.as_array().unwrap().iter().map(|k| k[0].as_u64().unwrap()).collect();
        if page.is_empty() {
            break;
        }
        end_t = page[0] - 1;
        seen.splice(0..0, page);
    }
    assert_eq!(seen, opens);

    // a window: both bounds inclusive, limit caps from the start
    let mut p = q(&base);
    p.extend([("startTime", opens[2].to_string()), ("endTime", opens[6].to_string()), ("limit", "10".into())]);
    let (_, body) = get(&sim, "/api/v3/klines", &p).await;
    let page: Vec<u64> = body.as_array().unwrap().iter().map(|k| k[0].as_u64().unwrap()).collect();
    assert_eq!(page, opens[2..=6]);
    // neither bound: the most recent `limit`
    let mut p = q(&base);
    p.push(("limit", "2".into()));
    let (_, body) = get(&sim, "/api/v3/klines", &p).await;
    assert_eq!(body.as_array().unwrap().iter().map(|k| k[0].as_u64().unwrap()).collect::<Vec<_>>(), opens[8..]);

    // 5m rolled up from the 1m file, exact decimal sums
    let (status, body) = get(&sim, "/api/v3/klines", &q(&[("symbol", "ADABTC"), ("interval", "5m")])).await;
    assert_eq!(status, 200, "{body}");
    let k5: Vec<Vec<String>> = body.as_array().unwrap().iter().map(kline_as_csv).collect();
    assert_eq!(k5.len(), 2);
    assert_eq!(k5[0][0], rows[0][0]);
    assert_eq!(k5[0][1], rows[0][1]); // open of the first minute
    assert_eq!(k5[0][4], rows[4][4]); // close of the fifth
    assert_eq!(k5[0][2], "0.00002862");
    assert_eq!(k5[0][3], "0.00002849");
    assert_eq!(k5[0][5], "318567.70000000");
    assert_eq!(k5[0][6], (opens[0] + 300_000 - 1).to_string());
    assert_eq!(k5[0][8], (79 + 98 + 50 + 158 + 28).to_string());
    // an interval that is not a multiple of the file's: -1120
    let (status, body) = get(&sim, "/api/v3/klines", &q(&[("symbol", "ADABTC"), ("interval", "1s")])).await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(-1120)));

    // the replay-only symbol is known to validation but not to the model's other endpoints
    let (status, body) = get(&sim, "/api/v3/depth", &q(&[("symbol", "ADABTC")])).await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(-1121)));
    // and the model still serves its own symbols
    let (status, _) = get(&sim, "/api/v3/klines", &q(&[("symbol", "BTCUSDT"), ("interval", "1m")])).await;
    assert_eq!(status, 200);
    sim.shutdown().await;
}

const AGG: &str = "100,0.1,5,1000,1001,1700000000000,True,True
101,0.2,6,1002,1002,1700000001000,False,True
102,0.3,7.5,1003,1005,1700000001000,True,False
103,0.4,8,1006,1006,1700000002000,False,True
104,0.5,9,1007,1008,1700000005000,True,True
";

#[tokio::test]
async fn agg_trades_replay_with_from_id_and_time_paging() {
    let dir = TempDir::new("agg");
    let spot = dir.write("XYZBTC-aggTrades-2023-11-14.csv", AGG);
    let usdm_text = format!(
        "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n{}",
        AGG.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n").collect::<String>()
    );
    let usdm = dir.write("XYZUSDT-aggTrades-2023-11-14.csv", &usdm_text);
    let sim =
        start(vec![file(&spot, Market::Spot, ReplayKind::AggTrades), file(&usdm, Market::UsdM, ReplayKind::AggTrades)])
            .await;

    // most recent, spot shape
    let (status, body) = get(&sim, "/api/v3/aggTrades", &q(&[("symbol", "XYZBTC"), ("limit", "2")])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!([
            {"a": 103, "p": "0.4", "q": "8", "f": 1006, "l": 1006, "T": 1_700_000_002_000u64, "m": false, "M": true},
            {"a": 104, "p": "0.5", "q": "9", "f": 1007, "l": 1008, "T": 1_700_000_005_000u64, "m": true, "M": true},
        ])
    );
    // fromId paging walks every id once
    let mut ids = Vec::new();
    let mut from = 0u64;
    loop {
        let (_, body) =
            get(&sim, "/api/v3/aggTrades", &q(&[("symbol", "XYZBTC"), ("fromId", &from.to_string()), ("limit", "2")]))
                .await;
        let page: Vec<u64> = body.as_array().unwrap().iter().map(|a| a["a"].as_u64().unwrap()).collect();
        if page.is_empty() {
            break;
        }
        from = page.last().unwrap() + 1;
        ids.extend(page);
    }
    assert_eq!(ids, [100, 101, 102, 103, 104]);
    // time window, inclusive on both ends
    let (_, body) = get(
        &sim,
        "/api/v3/aggTrades",
        &q(&[("symbol", "XYZBTC"), ("startTime", "1700000001000"), ("endTime", "1700000002000")]),
    )
    .await;
    let ids: Vec<u64> = body.as_array().unwrap().iter().map(|a| a["a"].as_u64().unwrap()).collect();
    assert_eq!(ids, [101, 102, 103]);
    assert_eq!(body[1]["M"], false);
    assert_eq!(body[1]["q"], "7.5");
    // more than an hour: Binance's -1127
    let (status, body) = get(
        &sim,
        "/api/v3/aggTrades",
        &q(&[("symbol", "XYZBTC"), ("startTime", "1700000000000"), ("endTime", "1700003600000")]),
    )
    .await;
    assert_eq!((status, body["code"].as_i64()), (400, Some(-1127)));

    // USD-M: no "M"
    let (status, body) =
        get(&sim, "/fapi/v1/aggTrades", &q(&[("symbol", "XYZUSDT"), ("fromId", "102"), ("limit", "1")])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!([{"a": 102, "p": "0.3", "q": "7.5", "f": 1003, "l": 1005, "T": 1_700_000_001_000u64, "m": true}])
    );
    // a symbol replayed on one market only is unknown on the other
    let (status, _) = get(&sim, "/fapi/v1/aggTrades", &q(&[("symbol", "XYZBTC")])).await;
    assert_eq!(status, 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn trades_replay_recent_and_historical_from_id() {
    let dir = TempDir::new("trades");
    let text = "trade_id,price,qty,quote_qty,time,is_buyer_maker,is_best_match
7,10.00,1.000,10.00000,1700000000000000,true,true
8,10.01,2.000,20.02000,1700000000500000,false,true
9,10.02,0.500,5.01000,1700000001000000,true,true
";
    let spot = dir.write("XYZBTC-trades-2023-11-14.csv", text);
    let sim = start(vec![file(&spot, Market::Spot, ReplayKind::Trades)]).await;
    let (status, body) = get(&sim, "/api/v3/trades", &q(&[("symbol", "XYZBTC"), ("limit", "2")])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!([
            {"id": 8, "price": "10.01", "qty": "2.000", "quoteQty": "20.02000", "time": 1_700_000_000_500u64, "isBuyerMaker": false, "isBestMatch": true},
            {"id": 9, "price": "10.02", "qty": "0.500", "quoteQty": "5.01000", "time": 1_700_000_001_000u64, "isBuyerMaker": true, "isBestMatch": true},
        ])
    );
    let mut ids = Vec::new();
    let mut from = 0u64;
    loop {
        let (_, body) = get(
            &sim,
            "/api/v3/historicalTrades",
            &q(&[("symbol", "XYZBTC"), ("fromId", &from.to_string()), ("limit", "2")]),
        )
        .await;
        let page: Vec<u64> = body.as_array().unwrap().iter().map(|t| t["id"].as_u64().unwrap()).collect();
        if page.is_empty() {
            break;
        }
        from = page.last().unwrap() + 1;
        ids.extend(page);
    }
    assert_eq!(ids, [7, 8, 9]);
    // the clock starts just after the replay: serverTime > last trade
    let (_, body) = get(&sim, "/api/v3/time", &[]).await;
    assert!(body["serverTime"].as_u64().unwrap() > 1_700_000_001_000);
    sim.shutdown().await;

    // USD-M trades: no isBestMatch, 6 columns, header-less
    let usdm = dir.write("XYZUSDT-trades-2023-11-14.csv", "7,10.00,1.000,10.00000,1700000000000,true\n");
    let sim = start(vec![file(&usdm, Market::UsdM, ReplayKind::Trades)]).await;
    let (_, body) = get(&sim, "/fapi/v1/trades", &q(&[("symbol", "XYZUSDT")])).await;
    assert_eq!(
        body,
        serde_json::json!([{"id": 7, "price": "10.00", "qty": "1.000", "quoteQty": "10.00000", "time": 1_700_000_000_000u64, "isBuyerMaker": true}])
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_input_names_file_and_line() {
    let dir = TempDir::new("bad");
    let good = "1637971200000,0.00002853,0.00002854,0.00002851,0.00002854,36304.2,1637971259999,1.03547608,79,19523.0,0.55694227,0";
    let cases = [
        (format!("{HEADER}\n{good}\n1637971260000,0.00002854,0.00002860\n"), "3: expected 12 columns, found 3"),
        (
            format!("{good}\n1637971260000,0.0000x854,0.00002860,0.00002854,0.00002859,1,1637971319999,1,98,1,1,0\n"),
            "2: column 2 (open): \"0.0000x854\" is not a decimal number",
        ),
        (
            format!("{good}\n\n1637971140000,0.00002854,0.00002860,0.00002854,0.00002859,1,1637971199999,1,98,1,1,0\n"),
            "3: open_time 1637971140000 is not after the previous row's 1637971200000",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let p = dir.write(&format!("ADABTC-1m-2021-11-2{i}.csv"), text);
        let err = sim::Replay::load(&[file(&p, Market::Spot, ReplayKind::Klines)]).unwrap_err();
        assert_eq!(err.to_string(), format!("{}:{want}", p.display()));
        assert_eq!(err.path, p);
        // spawn refuses to start with the same message
        let cfg = SimConfig { replay: vec![file(&p, Market::Spot, ReplayKind::Klines)], ..SimConfig::default() };
        let e = sim::spawn(cfg).await.expect_err("spawn fails");
        assert_eq!(e.to_string(), format!("{}:{want}", p.display()));
    }
    // trades: decreasing time, then a repeated id
    let p = dir.write("XYZBTC-trades-2023-11-14.csv", "1,1,1,1,2000,true\n2,1,1,1,1999,true\n");
    let err = sim::Replay::load(&[file(&p, Market::Spot, ReplayKind::Trades)]).unwrap_err();
    assert_eq!(err.to_string(), format!("{}:2: time 1999 is before the previous row's 2000", p.display()));
    let p = dir.write("XYZBTC-aggTrades-2023-11-14.csv", "5,1,1,1,1,2000,true\n5,1,1,2,2,2001,true\n");
    let err = sim::Replay::load(&[file(&p, Market::Spot, ReplayKind::AggTrades)]).unwrap_err();
    assert_eq!(err.to_string(), format!("{}:2: agg_trade_id 5 is not after the previous row's 5", p.display()));
    // a missing file
    let p = dir.0.join("NOPE-1m-2021-01-01.csv");
    let err = sim::Replay::load(&[file(&p, Market::Spot, ReplayKind::Klines)]).unwrap_err();
    assert!(err.to_string().starts_with(&format!("{}: cannot read: ", p.display())), "{err}");
}

#[test]
fn file_names_and_folders_are_inferred() {
    let f = ReplayFile::infer("data/spot/daily/klines/ADABTC/1m/ADABTC-1m-2021-11-27.zip", None).unwrap();
    assert_eq!(
        (f.market, f.kind, f.symbol.as_deref(), f.interval.as_deref()),
        (Market::Spot, ReplayKind::Klines, Some("ADABTC"), Some("1m"))
    );
    let f =
        ReplayFile::infer("data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip", None).unwrap();
    assert_eq!((f.market, f.kind, f.symbol.as_deref()), (Market::UsdM, ReplayKind::AggTrades, Some("BTCUSDT")));
    let f = ReplayFile::infer("BTCUSDT-trades-2024-01-01.csv", Some(Market::UsdM)).unwrap();
    assert_eq!((f.market, f.kind), (Market::UsdM, ReplayKind::Trades));
    assert_eq!(
        ReplayFile::infer("notes.txt", None).unwrap_err().to_string(),
        "notes.txt: file name is not <SYMBOL>-<interval|aggTrades|trades|bookTicker|fundingRate|metrics>-<date>.zip|.csv"
    );
    assert_eq!(
        ReplayFile::infer("data/futures/cm/daily/klines/BTCUSD_PERP-1m-2024-01-01.zip", None).unwrap_err().to_string(),
        "data/futures/cm/daily/klines/BTCUSD_PERP-1m-2024-01-01.zip: COIN-M archives are not supported"
    );
}
