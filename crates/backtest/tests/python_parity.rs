//! alphalab's fills against NautilusTrader Python 1.227.0's on the same small cases, one by one:
//! any difference fails. The Python venv is found or created by [`parity::python_env`] (needs
//! pyenv's Python 3.12.1 and the package registry once).

mod common;
mod parity;

use backtest::engine::{RunOptions, run_inputs};

/// Bars per case: enough for hundreds of fills, small enough for a test.
const BARS: u64 = 3000;

#[test]
fn fills_match_nautilus_trader_python_1_227() {
    let py = parity::python_env().unwrap_or_else(|e| panic!("no NautilusTrader Python baseline: {e}"));
    let ema = "fast = 10\nslow = 30\nqty = \"0.5\"";
    let both = format!("{ema}\ninstruments = [\"{}\", \"{}\"]", parity::ID, parity::PERP);
    let cases: [(&str, &str, String, bool, Vec<String>); 3] = [
        ("flip every 15, spot", "flip", "every = 15\nqty = \"0.5\"".into(), false, vec!["flip".into(), "15".into()]),
        ("ema 10/30, spot", "ema-cross", ema.into(), false, vec!["ema-cross".into(), "10".into(), "30".into()]),
        ("ema 10/30, spot + perp", "ema-cross", both, true, vec!["ema-cross".into(), "10".into(), "30".into()]),
    ];
    for (name, strategy, params, with_perp, py_args) in cases {
        let inputs = parity::synthetic(BARS, with_perp);
        let r = run_inputs(
            &parity::spec(strategy, &params, with_perp),
            &inputs,
            &parity::registry(),
            RunOptions::default(),
        )
        .unwrap();
        let rust = parity::Measured {
            events: r.iterations as u64,
            seconds: 0.0,
            fills: parity::fill_rows(&r.fills),
            peak_rss_mb: 0.0,
        };
        let python = parity::python(&py, BARS, &py_args, with_perp).unwrap_or_else(|e| panic!("{name}: python: {e}"));
        assert!(rust.fills.len() > 50, "{name}: only {} fills", rust.fills.len());
        let verdict = parity::compare(&rust, &python);
        assert!(verdict.starts_with("identical"), "{name}: {verdict}");
    }
}
