//! Indicator maths against pandas reference values (`fixtures/make_reference.py`).

use report::indicators::{self, Bucketed};
use serde_json::Value;

const RTOL: f64 = 1e-9;

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/indicators.json")).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap_or(f64::NAN)).collect()
}

fn ints(v: &Value) -> Vec<i64> {
    v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect()
}

fn bools(v: &Value) -> Vec<bool> {
    v.as_array().unwrap().iter().map(|x| x.as_bool().unwrap()).collect()
}

fn close_enough(got: f64, want: f64) -> bool {
    if want.is_nan() {
        return got.is_nan();
    }
    // Relative 1e-9; an absolute floor only for values that are exactly 0 in pandas.
    (got - want).abs() <= RTOL * want.abs().max(1e-12)
}

fn assert_series(name: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(close_enough(*g, *w), "{name}[{i}]: got {g}, pandas {w}");
    }
}

struct Inputs {
    t: Vec<i64>,
    close: Vec<f64>,
    volume: Vec<f64>,
}

fn inputs(f: &Value) -> Inputs {
    let i = &f["input"];
    Inputs { t: ints(&i["t"]), close: floats(&i["close"]), volume: floats(&i["volume"]) }
}

#[test]
fn moving_averages_match_pandas() {
    let f = fixture();
    let x = inputs(&f);
    let e = &f["expected"];
    assert_series("sma20", &indicators::sma(&x.close, 20), &floats(&e["sma20"]));
    assert_series("sma1000 (n > len)", &indicators::sma(&x.close, 1000), &floats(&e["sma1000"]));
    assert_series("rolling_mean20", &indicators::rolling_mean(&x.volume, 20, 1), &floats(&e["rolling_mean20_min1"]));
    assert_series("rolling_mean60", &indicators::rolling_mean(&x.close, 60, 1), &floats(&e["rolling_mean60_min1"]));
    assert_series("ema21", &indicators::ema(&x.close, 21), &floats(&e["ema21"]));
    assert_series("ema55", &indicators::ema(&x.close, 55), &floats(&e["ema55"]));
}

#[test]
fn vwap_rsi_macd_log_returns_match_pandas() {
    let f = fixture();
    let x = inputs(&f);
    let e = &f["expected"];
    assert_series("vwap", &indicators::vwap(&x.close, &x.volume), &floats(&e["vwap_close"]));
    assert_series("rsi14", &indicators::rsi(&x.close, 14), &floats(&e["rsi14"]));
    assert_series("rsi14 rising", &indicators::rsi(&floats(&f["input"]["rising"]), 14), &floats(&e["rsi14_rising"]));
    let m = indicators::macd(&x.close, 12, 26, 9);
    assert_series("macd", &m.macd, &floats(&e["macd"]));
    assert_series("macd signal", &m.signal, &floats(&e["macd_signal"]));
    assert_series("macd hist", &m.hist, &floats(&e["macd_hist"]));
    assert_series("log returns", &indicators::log_returns(&x.close), &floats(&e["log_returns"]));
}

/// The spot and futures inputs with their dropped minutes removed.
/// Times and closes of one series.
type Series = (Vec<i64>, Vec<f64>);

fn kept(f: &Value) -> (Series, Series) {
    let x = inputs(f);
    let pick = |vals: &[f64], keep: &[bool]| -> Series {
        x.t.iter().zip(vals).zip(keep).filter(|(_, k)| **k).map(|((t, v), _)| (*t, *v)).unzip()
    };
    let fut = floats(&f["input"]["futures_close"]);
    (pick(&x.close, &bools(&f["input"]["spot_keep"])), pick(&fut, &bools(&f["input"]["futures_keep"])))
}

#[test]
fn resampling_matches_pandas() {
    let f = fixture();
    let ((st, sv), _) = kept(&f);
    for (label, r) in f["expected"]["resample_last"].as_object().unwrap() {
        let got = indicators::resample_last(&st, &sv, r["bucket_ms"].as_i64().unwrap());
        assert_eq!(got.t, ints(&r["t"]), "{label} bucket times");
        assert_series(label, &got.v, &floats(&r["last"]));
    }
    // 15-minute mean of the basis in bps on the full minute grid.
    let x = inputs(&f);
    let fut = floats(&f["input"]["futures_close"]);
    let basis: Vec<f64> = fut.iter().zip(&x.close).map(|(f, s)| (f - s) / s * 10_000.0).collect();
    let Bucketed { t, v } = indicators::resample_mean(&x.t, &basis, 900_000);
    let want = &f["expected"]["basis_bps_15m_mean"];
    assert_eq!(t, ints(&want["t"]));
    assert_series("basis 15m mean", &v, &floats(&want["mean"]));
}

#[test]
fn correlation_and_beta_match_pandas() {
    let f = fixture();
    let ((st, sv), (ft, fv)) = kept(&f);
    for (label, want) in f["expected"]["comovement"].as_object().unwrap() {
        let bucket = want["bucket_ms"].as_i64().unwrap();
        let got = indicators::comovement(&st, &sv, &ft, &fv, bucket).unwrap();
        assert_eq!(got.n as u64, want["n"].as_u64().unwrap(), "{label} pairs");
        assert!(close_enough(got.corr, want["corr"].as_f64().unwrap()), "{label} corr {got:?} vs {want}");
        assert!(close_enough(got.beta, want["beta"].as_f64().unwrap()), "{label} beta {got:?} vs {want}");
    }
}
