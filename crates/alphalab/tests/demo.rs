//! `alphalab demo` (README's first command) end to end on the embedded simulator: exit code 0,
//! the snapshot, the five figures, the catalog, an HTML report per backtest and sweep, a short
//! terminal summary and the full engine log in the output folder.

use std::process::Command;

#[test]
fn demo_writes_snapshot_figures_results_and_reports() {
    let out = std::env::temp_dir().join(format!("alphalab-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new(env!("CARGO_BIN_EXE_alphalab"))
        .args(["demo", "--days", "1", "--ws-capture-seconds", "2", "--output-dir"])
        .arg(&out)
        .env_remove("NAUTILUS_LOG")
        .env_remove("LOG_LEVEL")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&run.stdout).to_string() + &String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "demo failed: {log}");
    // A quiet terminal: the steps' summaries, no engine banner, no per-order lines.
    let lines = log.lines().count();
    assert!(lines < 80, "{lines} terminal lines:\n{log}");
    assert!(!log.contains("NAUTILUS") && !log.contains("[INFO]") && !log.contains("[WARN]"), "{log}");
    for step in ["snapshot:", "backfill spot", "backfill usdm", "figures: 5 of 5", "backtest ", "sweep ", "demo: done"]
    {
        assert!(log.contains(step), "no {step:?} in:\n{log}");
    }
    // The full log, NautilusTrader's included, is in the output folder.
    let file = std::fs::read_to_string(out.join("alphalab.log")).unwrap();
    assert!(file.contains("[INFO]") && file.contains("NAUTILUS TRADER") && file.contains("SubmitOrder"), "log file");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["entries"].as_array().unwrap().len(), 40);
    let pngs = std::fs::read_dir(out.join("figures"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "png"))
        .count();
    assert_eq!(pngs, 5);
    for run in ["spot_buy_and_hold", "perp_buy_and_hold"] {
        let html = std::fs::read_to_string(out.join(run).join("report.html")).unwrap();
        assert!(html.contains("<svg") && html.contains("total_return"), "{run}");
        let fills = std::fs::read_to_string(out.join(run).join("fills.csv")).unwrap();
        assert!(fills.lines().count() > 1, "{run}: no fills");
    }
    // the perp run settles funding from the backfilled rates
    let funding = std::fs::read_to_string(out.join("perp_buy_and_hold/funding.csv")).unwrap();
    assert!(funding.lines().count() > 1, "no funding settlements");
    let sweep = std::fs::read_to_string(out.join("sweep_spot_buy_and_hold/report.html")).unwrap();
    assert!(sweep.matches("variants/").count() >= 9, "sweep report links");
    assert!(out.join("data/catalog").is_dir());
    let _ = std::fs::remove_dir_all(&out);
}
