//! `alphalab brackets` as a user runs it, against the simulator on 127.0.0.1 with its test
//! account (`alphalab-sim-key` / `alphalab-sim-secret`): the file holds the response as
//! received and parses to the shipped tiers of the simulated date; without a key nothing is
//! sent; a wrong secret is Binance's -1022; the secret shows up nowhere.

mod common;

use std::{
    path::Path,
    process::{Command, Output},
};

use common::{fresh_dir, text};
use serde_json::Value;
use sim::{SimConfig, UserDataConfig};

/// 2024-06-01T00:00:00Z.
const START_MS: u64 = 1_717_200_000_000;
const DATE: &str = "2024-06-01";

/// `alphalab brackets ARGS` with only the given variables among those it reads.
fn brackets(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alphalab"));
    cmd.arg("brackets").args(args);
    for var in
        ["API_KEY", "API_SECRET", "BASE_PATH_FUTURES", "OUTPUT_DIR", "ALPHALAB_CONFIG", "LOG_LEVEL", "NAUTILUS_LOG"]
    {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).output().unwrap()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

#[test]
fn fetches_signed_writes_the_response_and_keeps_the_secret_out() {
    let dir = fresh_dir("brackets");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    // BTCUSDT and ETHUSDT only: the symbols with shipped tables (the generated tables of a
    // universe are the simulator's own tests').
    let mut cfg = SimConfig { start_time_ms: Some(START_MS), ..SimConfig::default() };
    cfg.model.universe.size = 2;
    let sim = rt.block_on(sim::spawn(cfg)).unwrap();
    let base = sim.rest_url();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let out_dir = dir.join("outputs");
    let (key, secret) = (UserDataConfig::DEFAULT_API_KEY, UserDataConfig::DEFAULT_API_SECRET);
    let env = [
        ("API_KEY", key),
        ("API_SECRET", secret),
        ("BASE_PATH_FUTURES", base.as_str()),
        ("OUTPUT_DIR", out_dir.to_str().unwrap()),
    ];

    let mut runs = Vec::new();

    // Every symbol, into the default file.
    let o = brackets(&[], &env);
    assert!(o.status.success(), "{}", text(&o));
    let file = out_dir.join("futures/leverage_brackets.json");
    let body = read_json(&file);
    assert_eq!(body, binance::brackets::shipped_response(DATE));
    assert_eq!(binance::brackets::parse(&body).unwrap(), binance::brackets::shipped(DATE));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        stdout.trim_end(),
        format!("brackets: 2 symbols, 24 tiers (BTCUSDT 12, ETHUSDT 12) → {}", file.display())
    );
    let log = std::fs::read_to_string(out_dir.join("futures/alphalab.log")).unwrap();
    assert!(log.contains("futures/leverage_brackets"), "{log}");
    runs.push(o);

    // One symbol, to a chosen file: the documented single object.
    let one = dir.join("eth.json");
    let o = brackets(&["--symbol", "ethusdt", "--out", one.to_str().unwrap()], &env);
    assert!(o.status.success(), "{}", text(&o));
    let body = read_json(&one);
    assert_eq!(body["symbol"], "ETHUSDT");
    assert_eq!(binance::brackets::parse(&body).unwrap()["ETHUSDT"], binance::brackets::shipped(DATE)["ETHUSDT"]);
    runs.push(o);

    // A wrong secret: Binance's code, exit code 2, the previous file untouched.
    let before = std::fs::read(&file).unwrap();
    let wrong = [("API_SECRET", "not-the-secret"), env[0], env[2], env[3]];
    let o = brackets(&[], &wrong);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains(
            "futures/leverage_brackets: HTTP 400, Binance code -1022: Signature for this request is not valid."
        ),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    runs.push(o);

    // No key: the configuration error, and no request reaches the simulator.
    let requests = sim.state.stats.total_requests();
    let o = brackets(&[], &[env[2], env[3]]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr).trim_end(),
        "alphalab: error: futures/leverage_brackets: /fapi/v1/leverageBracket is USER_DATA: set API_KEY and API_SECRET"
    );
    assert_eq!(sim.state.stats.total_requests(), requests);
    runs.push(o);

    // The secret is in no output, log or written file.
    for o in &runs {
        assert!(!text(o).contains(secret), "{}", text(o));
    }
    for f in [out_dir.join("futures/alphalab.log"), dir.join("alphalab.log"), file, one] {
        assert!(!std::fs::read_to_string(&f).unwrap().contains(secret), "{}", f.display());
    }
    rt.block_on(sim.shutdown());
}
