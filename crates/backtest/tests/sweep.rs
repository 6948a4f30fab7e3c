//! Sweeps: grid × walk-forward expansion, parallel runs identical to serial ones, ranking.

mod common;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    str::FromStr,
    sync::Arc,
};

use backtest::{
    alpha::{Alpha, AlphaResult, Context, MarketEvent, Target},
    inputs::Inputs,
    registry::Registry,
    sweep::{SweepSpec, run_sweep_inputs, variants},
};
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{Bar, BarType, Data},
    identifiers::InstrumentId,
    instruments::InstrumentAny,
    types::{Price, Quantity},
};
use rust_decimal::Decimal;
use serde::Deserialize;

const T0: u64 = 1_735_689_600_000_000_000; // 2025-01-01T00:00:00Z
const H: u64 = 3_600_000_000_000;
const DAY: u64 = 24 * H;
const BT: &str = "BTCUSDT.BINANCE-1-HOUR-LAST-EXTERNAL";

fn spot() -> InstrumentAny {
    common::spot_btcusdt(None)
}

/// `n` hourly bars stamped at their close; a deterministic zig-zag around 60000.
fn inputs(n: u64) -> Inputs {
    let bt = BarType::from(BT);
    let px = |x: Decimal| Price::from_decimal_dp(x, 2).unwrap();
    let bars = (0..n)
        .map(|i| {
            let c = Decimal::from(60_000 + (i * 37 % 101) as i64 - 50) + Decimal::from(i);
            let ts = UnixNanos::from(T0 + (i + 1) * H);
            Data::Bar(Bar::new(
                bt,
                px(c),
                px(c + Decimal::ONE),
                px(c - Decimal::ONE),
                px(c),
                Quantity::from("1.500000"),
                ts,
                ts,
            ))
        })
        .collect();
    Inputs { instruments: vec![spot()], streams: vec![bars], funding: vec![] }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZigParams {
    period: u64,
    qty: Decimal,
    train_start: Option<String>,
    train_end: Option<String>,
}

/// Long `qty` for `period` bars, flat for `period` bars, ...
#[derive(Debug)]
struct Zig {
    p: ZigParams,
    n: u64,
}

impl Zig {
    fn from_params(v: &toml::Value) -> AlphaResult<Box<dyn Alpha>> {
        let p: ZigParams = v.clone().try_into()?;
        if p.period == 0 {
            return Err("period must be > 0".into());
        }
        if p.train_start.is_some() != p.train_end.is_some() {
            return Err("train_start and train_end go together".into());
        }
        Ok(Box::new(Self { p, n: 0 }))
    }
}

impl Alpha for Zig {
    fn on_event(&mut self, _ev: &MarketEvent<'_>, _ctx: &Context) -> AlphaResult<()> {
        self.n += 1;
        Ok(())
    }
    fn targets(&mut self, _ctx: &Context) -> AlphaResult<Vec<Target>> {
        let on = (self.n / self.p.period).is_multiple_of(2);
        let q = if on { self.p.qty } else { Decimal::ZERO };
        Ok(vec![Target { instrument_id: InstrumentId::from("BTCUSDT.BINANCE"), quantity: q }])
    }
}

fn registry() -> Registry {
    let mut r = Registry::with_baselines();
    r.register("zig", Zig::from_params);
    r
}

fn sweep_toml(out: &Path, extra: &str) -> String {
    format!(
        r#"rank_by = "total_return"
output = {out:?}

[base]
catalog = "unused"
instruments = ["BTCUSDT.BINANCE"]
bar_types = ["{BT}"]

[base.venue]
kind = "spot"
starting_balances = {{ USDT = "10000" }}

[base.strategy]
name = "zig"
params = {{ qty = "0.01" }}
{extra}"#,
        out = out.to_str().unwrap()
    )
}

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("alphalab-sweep-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn grid_runs_identically_on_1_and_2_threads() {
    let out = tmp("grid");
    let spec = SweepSpec::from_toml(&sweep_toml(&out, "[grid]\nperiod = [3, 7, 0, 12]\nqty = [\"0.01\", \"0.05\"]\n"))
        .unwrap();
    let inputs = Arc::new(inputs(150));
    let r1 = run_sweep_inputs(&spec, inputs.clone(), &registry(), 1, None).unwrap();
    let files1 = read_tree(&out);
    std::fs::remove_dir_all(&out).unwrap();
    let r2 = run_sweep_inputs(&spec, inputs, &registry(), 2, None).unwrap();
    let files2 = read_tree(&out);
    assert_eq!(r1, r2);
    assert_eq!(files1.keys().collect::<Vec<_>>(), files2.keys().collect::<Vec<_>>());
    for (k, v) in &files1 {
        assert!(v == &files2[k], "{k} differs between 1 and 2 threads");
    }
    // 8 variants: 6 ok (6 folders × 25 files: 11 tables as CSV + Parquet, result.json, run.toml,
    // version.json) + 2 failed (period 0), sweep files
    assert_eq!(r1.ranking.len(), 8);
    assert_eq!(r1.failures(), 2);
    assert_eq!(files1.len(), 6 * 25 + 3);
    assert!(files1.contains_key("ranking.csv") && files1.contains_key("ranking.json"));
    // ranked by total_return descending, failures last by index
    let rets: Vec<f64> = r1.ranking.iter().filter_map(|o| o.stats.as_ref()).map(|s| s.total_return).collect();
    assert!(rets.windows(2).all(|w| w[0] >= w[1]), "{rets:?}");
    let failed: Vec<usize> = r1.ranking[6..].iter().map(|o| o.variant).collect();
    assert_eq!(failed, vec![4, 5]); // period sorted before qty: (0, 0.01), (0, 0.05) are variants 4, 5
    assert!(r1.ranking[7].error.as_deref().unwrap().contains("period must be > 0"));
    // variants differ (different params really reach the strategy)
    let distinct: std::collections::BTreeSet<String> =
        r1.ranking.iter().filter_map(|o| o.stats.as_ref()).map(|s| s.final_equity.to_string()).collect();
    assert_eq!(distinct.len(), 6);
    let csv = String::from_utf8(files1["ranking.csv"].clone()).unwrap();
    assert!(csv.starts_with("rank,variant,period,qty,train_start,train_end,test_start,test_end,iterations,"), "{csv}");
    assert_eq!(csv.lines().count(), 9);
}

#[test]
fn walk_forward_runs_test_windows_and_passes_the_train_window() {
    let out = tmp("wf");
    let spec = SweepSpec::from_toml(&sweep_toml(
        &out,
        "[grid]\nperiod = [2, 5]\n\n[walk_forward]\ntrain_days = 2\ntest_days = 1\nstep_days = 1\n",
    ))
    .unwrap();
    let n = 24 * 6; // bars close at T0+1h .. T0+6d
    let inputs = Arc::new(inputs(n));
    let vs = variants(&spec, Some((T0 + H, T0 + n * H))).unwrap();
    // range [T0+1h, T0+6d]: windows start at T0+1h + k·1d, test end ≤ T0+6d+1ns → k = 0..=2
    assert_eq!(vs.len(), 3 * 2);
    let w0 = vs[0].window.unwrap();
    assert_eq!((w0.train_start, w0.test_start, w0.test_end), (T0 + H, T0 + H + 2 * DAY, T0 + H + 3 * DAY));
    assert_eq!(vs[0].spec.start.as_deref(), Some("2025-01-03T01:00:00Z"));
    assert_eq!(vs[0].spec.end.as_deref(), Some("2025-01-04T00:59:59.999999999Z"));
    let t = vs[1].spec.strategy.params.as_table().unwrap();
    assert_eq!(t["train_start"].as_str(), Some("2025-01-01T01:00:00Z"));
    assert_eq!(t["train_end"].as_str(), Some("2025-01-03T01:00:00Z"));
    assert_eq!(t["period"].as_integer(), Some(5));
    assert_eq!(vs[2].window.unwrap().test_start, T0 + H + 3 * DAY);

    let r = run_sweep_inputs(&spec, inputs, &registry(), 2, None).unwrap();
    assert_eq!(r.failures(), 0, "{:?}", r.ranking);
    for o in &r.ranking {
        // each test window holds exactly one day of hourly bars
        assert_eq!(o.iterations, 24, "variant {}", o.variant);
    }
    for v in &vs {
        let fills = std::fs::read_to_string(v.spec.output.as_ref().unwrap().join("fills.csv")).unwrap();
        let w = v.window.unwrap();
        for line in fills.lines().skip(1) {
            let ts: u64 = line.split(',').next().unwrap().parse().unwrap();
            assert!(ts >= w.test_start && ts < w.test_end, "variant {} fill at {ts} outside its test window", v.index);
        }
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn sweep_file_errors_name_the_key() {
    let out = PathBuf::from("x");
    let e = SweepSpec::from_toml(&sweep_toml(&out, "[grid]\nperiod = []\n")).unwrap_err().to_string();
    assert_eq!(e, "grid.period: no values");
    let e = SweepSpec::from_toml(&sweep_toml(&out, "").replace("total_return", "sharp")).unwrap_err().to_string();
    assert!(e.starts_with("rank_by: unknown statistic \"sharp\""), "{e}");
    let e = SweepSpec::from_toml(&sweep_toml(&out, "[walk_forward]\ntrain_days = 1\ntest_day = 1\nstep_days = 1\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `test_day`"), "{e}");
    let _ = Decimal::from_str("1");
}

#[test]
fn dotted_grid_keys_set_run_keys_and_typos_are_refused() {
    let out = PathBuf::from("x");
    let grid = "[grid]\nqty = [\"0.01\", \"0.02\"]\n\"venue.taker_fee\" = [\"0.0005\", \"0.002\"]\n\"run.rebalance_threshold\" = [\"0.1\"]\n";
    let spec = SweepSpec::from_toml(&sweep_toml(&out, grid)).unwrap();
    let v = variants(&spec, None).unwrap();
    assert_eq!(v.len(), 4);
    let fees: Vec<String> = v.iter().map(|x| x.spec.venue.taker_fee.unwrap().to_string()).collect();
    assert_eq!(fees, ["0.0005", "0.002", "0.0005", "0.002"]);
    assert!(v.iter().all(|x| x.spec.rebalance_threshold == Decimal::from_str("0.1").unwrap()));
    // dotted keys stay out of the strategy params; plain keys go in
    let params = v[3].spec.strategy.params.as_table().unwrap();
    assert_eq!(params.keys().collect::<Vec<_>>(), ["qty"]);
    assert_eq!(params["qty"].as_str(), Some("0.02"));

    let bad = SweepSpec::from_toml(&sweep_toml(&out, "[grid]\n\"venue.taker_fe\" = [\"0.1\"]\n")).unwrap();
    let e = variants(&bad, None).unwrap_err().to_string();
    assert!(e.starts_with("grid: ") && e.contains("taker_fe"), "{e}");
    let bad = SweepSpec::from_toml(&sweep_toml(&out, "[grid]\n\"nope.x\" = [1]\n")).unwrap();
    let e = variants(&bad, None).unwrap_err().to_string();
    assert_eq!(e, "grid.nope.x: the base run has no table `nope`");
}
