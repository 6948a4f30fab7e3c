//! The HTML reports on hand-built run and sweep folders: statistics, hand-computed monthly
//! returns, one inline SVG per chart, escaping, no external resources, sweep heatmap and links.

#[path = "fixtures/run/builder.rs"]
mod builder;

use builder::{FILLS, temp_dir, write_run, write_sweep};
use report::html::data::{downsample, drawdown, monthly_returns, steps};
use serde_json::{Value, json};

/// Every `src=`, `href=`, `url(` and `@import` target of the page.
fn resource_refs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for key in ["src=\"", "href=\"", "src='", "href='", "url(", "@import"] {
        for (i, _) in html.match_indices(key) {
            let rest = &html[i + key.len()..];
            let end = rest.find(['"', '\'', ')', ' ', '>']).unwrap_or(rest.len());
            out.push(rest[..end].to_string());
        }
    }
    out
}

fn assert_self_contained(html: &str) {
    for r in resource_refs(html) {
        let lower = r.to_ascii_lowercase();
        assert!(
            !(lower.starts_with("http:")
                || lower.starts_with("https:")
                || lower.starts_with("//")
                || lower.starts_with("file:")),
            "external resource {r:?}"
        );
    }
    assert!(!html.contains("<script"), "no script expected");
}

/// Removes a test folder, or keeps it (and prints where) with `ALPHALAB_KEEP_REPORTS=1`.
fn cleanup(dir: &std::path::Path) {
    if std::env::var_os("ALPHALAB_KEEP_REPORTS").is_some() {
        eprintln!("kept {}", dir.display());
    } else {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn monthly_returns_by_hand() {
    let pts = builder::equity_points(1.0);
    let got = monthly_returns(&pts, 1000.0);
    let expected = [(2024, 1, 0.05), (2024, 2, -0.02), (2024, 3, 0.1)];
    assert_eq!(got.len(), 3);
    for ((y, m, r), (ey, em, er)) in got.iter().zip(expected) {
        assert_eq!((*y, *m), (ey, em));
        assert!((r - er).abs() < 1e-12, "{y}-{m}: {r} vs {er}");
    }
}

#[test]
fn series_maths() {
    let dd = drawdown(&[(1, 1100.0), (2, 990.0), (3, 1200.0)], 1000.0);
    assert_eq!(dd, vec![(1, 0.0), (2, 990.0 / 1100.0 - 1.0), (3, 0.0)]);
    assert_eq!(
        steps(&[(5, 2.0), (7, -1.0)], 0, 10, 0.0),
        vec![(0, 0.0), (5, 0.0), (5, 2.0), (7, 2.0), (7, -1.0), (10, -1.0)]
    );
    let pts: Vec<(i64, f64)> = (0..10_000).map(|i| (i, if i == 4321 { 99.0 } else { (i % 7) as f64 })).collect();
    let d = downsample(&pts, 2000);
    assert!(d.len() <= 2000 && d.len() > 1000, "{}", d.len());
    assert!(d.contains(&(4321, 99.0)), "the spike survives");
    assert_eq!(d.first(), Some(&(0, 0.0)));
    assert_eq!(d.last(), Some(&(9999, (9999 % 7) as f64)));
    assert!(d.windows(2).all(|w| w[0].0 < w[1].0), "time order");
    assert_eq!(downsample(&pts[..10], 2000), pts[..10].to_vec());
}

#[test]
fn run_report() {
    let dir = temp_dir("run");
    write_run(&dir, &FILLS, true, true, "<b>&amp;");
    let path = report::write_run_report(&dir).unwrap();
    assert_eq!(path, dir.join("report.html"));
    let html = std::fs::read_to_string(&path).unwrap();
    // Statistics: every field, raw value and reading.
    for k in [
        "initial_equity",
        "final_equity",
        "pnl",
        "total_return",
        "cagr",
        "annualised_volatility",
        "sharpe",
        "sortino",
        "max_drawdown",
        "max_drawdown_duration_ns",
        "calmar",
        "turnover",
        "fees_paid",
        "funding_paid",
        "exposure",
        "trade_count",
        "win_rate",
    ] {
        assert!(html.contains(&format!("<td class=\"l\">{k}</td>")), "stat {k}");
    }
    for v in ["<td>1.2345</td>", "<td>13.19%</td>", "<td>1131.9</td>", "<td>1d 02h 00m</td>", "<td>8.12%</td>"] {
        assert!(html.contains(v), "{v}");
    }
    // Monthly table: Jan +5 %, Feb −2 %, Mar +10 %, year +13.19 %.
    for v in [
        "<td class=\"pos\">+5.00%</td>",
        "<td class=\"neg\">-2.00%</td>",
        "<td class=\"pos\">+10.00%</td>",
        "<td class=\"pos\"><b>+13.19%</b></td>",
    ] {
        assert!(html.contains(v), "{v}");
    }
    // Equity, positions, costs, fills on the price of the one instrument.
    assert_eq!(html.matches("<svg").count(), 4);
    for h in [
        "Equity and drawdown",
        "Positions and gross exposure",
        "Fees and funding paid",
        "Fills on the price",
        "Monthly returns",
        "Run parameters",
    ] {
        assert!(html.contains(h), "{h}");
    }
    assert!(html.contains("BTCUSDT-PERP.BINANCE: 4 fills (2 buys, 2 sells)"));
    assert!(html.contains("Funding paid over 3 settlements"));
    assert!(html.contains("time (UTC)"));
    // The run file's string is escaped (never raw HTML).
    assert!(!html.contains("<b>&amp;"));
    assert!(html.contains("&lt;b&gt;&amp;amp;"));
    assert!(html.contains("<td class=\"l\">result: skips</td><td class=\"l\">2</td>"));
    assert_self_contained(&html);
    // 2184 points per line are downsampled: the file stays small.
    assert!(html.len() < 600_000, "{} bytes", html.len());
    cleanup(&dir);
}

#[test]
fn run_report_without_fills_funding_or_prices() {
    let dir = temp_dir("empty");
    write_run(&dir, &[], false, false, "x");
    let html = std::fs::read_to_string(report::write_run_report(&dir).unwrap()).unwrap();
    assert!(html.contains("<p class=\"note\">no fills</p>"));
    assert!(html.contains("No fills: no fees. No funding settlements."));
    assert!(html.contains("No fills: the position stays flat."));
    assert_eq!(html.matches("<svg").count(), 3, "no instrument to draw fills for");
    assert_self_contained(&html);
    cleanup(&dir);
}

#[test]
fn run_report_names_a_missing_file() {
    let dir = temp_dir("missing");
    write_run(&dir, &FILLS, true, true, "x");
    std::fs::remove_file(dir.join("equity.csv")).unwrap();
    let err = format!("{:#}", report::write_run_report(&dir).unwrap_err());
    assert!(err.contains("equity.csv"), "{err}");
    cleanup(&dir);
}

#[test]
fn run_report_names_a_bad_line() {
    let dir = temp_dir("badline");
    write_run(&dir, &FILLS, true, true, "x");
    let fills = std::fs::read_to_string(dir.join("fills.csv")).unwrap();
    std::fs::write(dir.join("fills.csv"), fills.replacen(",0.3085,", ",abc,", 1)).unwrap();
    let err = report::write_run_report(&dir).unwrap_err();
    assert!(matches!(err, report::Error::Data { .. }), "{err:?}");
    let err = err.to_string();
    assert!(err.contains("fills.csv line 2: not a number: \"abc\""), "{err}");
    cleanup(&dir);
}

#[test]
fn sweep_report() {
    let dir = temp_dir("sweep");
    write_sweep(&dir);
    let path = report::write_sweep_report(&dir).unwrap();
    assert_eq!(path, dir.join("report.html"));
    let html = std::fs::read_to_string(&path).unwrap();
    // Heatmap: slow ↓ × fast →, one linked cell per successful variant, the failure marked.
    let heat = &html[html.find("<table class=\"heat\">").unwrap()..];
    let heat = &heat[..heat.find("</table>").unwrap()];
    assert!(heat.contains("<th>5</th><th>10</th>"), "{heat}");
    let rows: Vec<&str> = heat.split("<tr><th>").skip(1).collect();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].starts_with("50</th>"));
    assert!(rows[0].contains("<a href=\"variants/0000/report.html\">0.5000</a>"));
    assert!(rows[0].contains("<td class=\"err\">failed</td>"));
    assert!(rows[1].starts_with("100</th>"));
    assert!(rows[1].contains("<a href=\"variants/0001/report.html\">1.5000</a>"));
    assert!(rows[1].contains("<a href=\"variants/0003/report.html\">1.0000</a>"));
    // Best (1.5) green, worst (0.5) red.
    assert!(rows[1].contains("background:#9fd8ab\"><a href=\"variants/0001/"));
    assert!(rows[0].contains("background:#f4b6b2\"><a href=\"variants/0000/"));
    // Ranked table in ranking.json order, the failure unlinked with its error escaped.
    let table = &html[html.find("<table class=\"ranking\">").unwrap()..];
    let order: Vec<usize> = [
        "<td>1</td><td class=\"l\"><a href=\"variants/0001/",
        "<td>2</td><td class=\"l\"><a href=\"variants/0003/",
        "<td>3</td><td class=\"l\"><a href=\"variants/0000/",
        "<td>4</td><td class=\"l\">0002</td>",
    ]
    .iter()
    .map(|r| table.find(r).unwrap_or_else(|| panic!("{r}")))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]));
    assert!(html.contains("engine &lt;boom&gt; &amp; &quot;quoted&quot;"));
    assert!(!html.contains("<boom>"));
    // The linked variant reports were written.
    for v in ["0000", "0001", "0003"] {
        assert!(dir.join(format!("variants/{v}/report.html")).exists(), "{v}");
    }
    assert!(!dir.join("variants/0002").exists());
    assert_self_contained(&html);
    cleanup(&dir);
}

#[test]
fn sweep_report_one_parameter_is_a_bar_chart() {
    let dir = temp_dir("sweep1");
    let ranking = serde_json::json!({"rank_by": "max_drawdown", "ranking": [
        {"variant": 1, "grid": {"fast": 10}, "window": null, "iterations": 1, "stats": builder::stats(1.0, 0.1), "error": null},
        {"variant": 0, "grid": {"fast": 5}, "window": null, "iterations": 1, "stats": builder::stats(2.0, 0.2), "error": null}
    ]});
    std::fs::write(dir.join("ranking.json"), ranking.to_string()).unwrap();
    let html = std::fs::read_to_string(report::write_sweep_report(&dir).unwrap()).unwrap();
    assert_eq!(html.matches("<svg").count(), 1);
    assert!(!html.contains("class=\"heat\""));
    assert!(html.contains("<td class=\"l\">0001</td>"), "no run folder, no link");
    assert_self_contained(&html);
    cleanup(&dir);
}

#[test]
fn stat_reading_of_null_is_na() {
    for k in ["sharpe", "cagr", "win_rate", "max_drawdown_duration_ns", "trade_count"] {
        assert_eq!(report::stat_reading(k, &Value::Null), "n/a", "{k}");
    }
    assert!(report::PERCENT_STATS.contains(&"cagr"));
    assert_eq!(report::stat_reading("cagr", &json!(0.6543)), "65.43%");
    assert_eq!(report::stat_reading("sharpe", &json!(1.5)), "1.5000");
    assert_eq!(report::stat_reading("fees_paid", &json!("1.234")), "1.234");
    assert_eq!(report::stat_reading("max_drawdown_duration_ns", &json!(93_600_000_000_000u64)), "1d 02h 00m");
}

/// A sweep over `fast` × `slow` ranked by sharpe: variant 1 ran but its sharpe is undefined
/// (`null`), variant 2 failed.
#[test]
fn sweep_report_with_an_undefined_rank_statistic() {
    let dir = temp_dir("sweepnull");
    let grid = |v: u64, fast: u64, slow: u64, stats: Value| json!({"variant": v, "grid": {"fast": fast, "slow": slow}, "window": null, "iterations": 2184, "stats": stats, "error": null});
    let ranking = json!({"rank_by": "sharpe", "ranking": [
        grid(3, 10, 100, builder::stats(1.0, 0.1)),
        grid(0, 5, 50, builder::stats(0.5, 0.05)),
        grid(1, 5, 100, builder::undefined(builder::stats(0.0, 0.0))),
        {"variant": 2, "grid": {"fast": 10, "slow": 50}, "window": null, "iterations": 0, "stats": null, "error": "boom"}
    ]});
    std::fs::write(dir.join("ranking.json"), ranking.to_string()).unwrap();
    for v in [0, 1, 3] {
        write_run(&dir.join(format!("variants/{v:04}")), &FILLS, true, true, "null");
    }
    builder::set_stats(&dir.join("variants/0001"), builder::undefined(builder::stats(0.0, 0.0)));
    let html = std::fs::read_to_string(report::write_sweep_report(&dir).unwrap()).unwrap();
    let heat = &html[html.find("<table class=\"heat\">").unwrap()..];
    let heat = &heat[..heat.find("</table>").unwrap()];
    let rows: Vec<&str> = heat.split("<tr><th>").skip(1).collect();
    assert_eq!(rows.len(), 2, "{heat}");
    // The colour scale spans the defined values only: 0.5 worst (red), 1.0 best (green).
    assert!(rows[0].contains("background:#f4b6b2\"><a href=\"variants/0000/report.html\">0.5000</a>"), "{heat}");
    assert!(rows[0].contains("<td class=\"err\">failed</td>"), "{heat}");
    assert!(rows[1].contains("<td><a href=\"variants/0001/report.html\">n/a</a></td>"), "{heat}");
    assert!(rows[1].contains("background:#9fd8ab\"><a href=\"variants/0003/report.html\">1.0000</a>"), "{heat}");
    assert!(html.contains("higher is better"));
    let table = &html[html.find("<table class=\"ranking\">").unwrap()..];
    assert!(
        table.contains("<a href=\"variants/0001/report.html\">0001</a></td><td>5</td><td>100</td><td><b>n/a</b></td>")
    );
    // The variant's own report reads its undefined statistics as n/a.
    let run = std::fs::read_to_string(dir.join("variants/0001/report.html")).unwrap();
    for k in ["cagr", "annualised_volatility", "sharpe", "sortino", "calmar", "win_rate"] {
        assert!(run.contains(&format!("<td class=\"l\">{k}</td><td>null</td><td>n/a</td>")), "{k}");
    }
    assert_self_contained(&html);
    cleanup(&dir);
}

/// Walk-forward windows of one grid point are averaged over their defined values only.
#[test]
fn heatmap_means_leave_out_undefined_values() {
    let dir = temp_dir("sweepnullwf");
    let row = |v: u64, fast: u64, w: i64, stats: Value| {
        let window =
            json!({"test_start": builder::T0 + w * builder::HOUR, "test_end": builder::T0 + (w + 1) * builder::HOUR});
        json!({"variant": v, "grid": {"fast": fast, "slow": 50}, "window": window, "iterations": 1, "stats": stats, "error": null})
    };
    let body = json!({"rank_by": "sharpe", "ranking": [
        row(2, 10, 0, builder::stats(1.5, 0.1)),
        row(0, 5, 0, builder::stats(1.0, 0.1)),
        row(3, 10, 1, builder::stats(0.5, 0.1)),
        row(1, 5, 1, builder::undefined(builder::stats(0.0, 0.0))),
    ]});
    std::fs::write(dir.join("ranking.json"), body.to_string()).unwrap();
    let html = std::fs::read_to_string(report::write_sweep_report(&dir).unwrap()).unwrap();
    assert!(html.contains(">1.0000<br><small>mean of 1 of 2</small></td>"), "{html}");
    assert!(html.contains(">1.0000<br><small>mean of 2</small></td>"), "{html}");
    cleanup(&dir);
}

/// A walk-forward sweep's report stitches each grid point's test windows into one out-of-sample
/// curve; a plain grid has no such section.
#[test]
fn walk_forward_report_stitches_the_test_windows() {
    let dir = temp_dir("sweepwfstitch");
    let row = |v: u64, fast: u64, w: i64, sharpe: f64| {
        let window =
            json!({"test_start": builder::T0 + w * builder::HOUR, "test_end": builder::T0 + (w + 1) * builder::HOUR});
        json!({"variant": v, "grid": {"fast": fast, "slow": 50}, "window": window, "iterations": 1, "stats": builder::stats(sharpe, 0.1), "error": null})
    };
    let body = json!({"rank_by": "sharpe", "ranking": [row(2, 10, 0, 1.5), row(0, 5, 0, 1.0), row(3, 10, 1, 0.5), row(1, 5, 1, 0.2)]});
    std::fs::write(dir.join("ranking.json"), body.to_string()).unwrap();
    for v in 0..4 {
        write_run(&dir.join(format!("variants/{v:04}")), &FILLS, false, false, "window");
    }
    let html = std::fs::read_to_string(report::write_sweep_report(&dir).unwrap()).unwrap();
    let at = html.find("Out-of-sample equity, walk-forward windows stitched").expect("stitched section");
    let section = &html[at..html[at..].find("<h2>Ranking</h2>").map_or(html.len(), |e| at + e)];
    assert!(
        section.contains("<svg") && section.contains("fast=10 slow=50") && section.contains("fast=5 slow=50"),
        "{section}"
    );
    assert_self_contained(&html);
    cleanup(&dir);

    let plain = temp_dir("sweepnowf");
    write_sweep(&plain);
    let html = std::fs::read_to_string(report::write_sweep_report(&plain).unwrap()).unwrap();
    assert!(!html.contains("walk-forward windows stitched"));
    cleanup(&plain);
}

/// The bar chart of a one-parameter sweep leaves out undefined values, even all of them.
#[test]
fn sweep_bar_chart_with_undefined_values() {
    let dir = temp_dir("sweepnull1");
    let row = |v: u64, fast: u64, stats: Value| json!({"variant": v, "grid": {"fast": fast}, "window": null, "iterations": 1, "stats": stats, "error": null});
    let undefined = || builder::undefined(builder::stats(0.0, 0.0));
    for ranking in [
        vec![row(0, 5, builder::stats(1.5, 0.1)), row(1, 10, undefined())],
        vec![row(0, 5, undefined()), row(1, 10, undefined())],
    ] {
        let body = json!({"rank_by": "sharpe", "ranking": ranking});
        std::fs::write(dir.join("ranking.json"), body.to_string()).unwrap();
        let html = std::fs::read_to_string(report::write_sweep_report(&dir).unwrap()).unwrap();
        assert_eq!(html.matches("<svg").count(), 1);
        assert!(html.contains("No bar where sharpe is n/a (undefined) or the variant failed."));
        assert!(html.contains("<td><b>n/a</b></td>"));
    }
    cleanup(&dir);
}

#[test]
fn a_year_of_minutes_gives_a_small_file() {
    use std::fmt::Write as _;
    let dir = temp_dir("year");
    write_run(&dir, &FILLS, true, true, "year");
    let n = 525_600i64;
    let (mut eq, mut px) = (
        String::from("ts,equity_ex_funding,funding,equity,gross_exposure\n"),
        String::from("ts,instrument_id,price\n"),
    );
    for i in 0..n {
        let t = builder::T0 + i * 60_000_000_000;
        let v = 1000.0 + (i as f64 * 0.0007).sin() * 50.0 + (i % 13) as f64 * 0.1;
        writeln!(eq, "{t},{v},0,{v},500").unwrap();
        writeln!(px, "{t},{},{:.1}", builder::INSTRUMENT, 42_000.0 + (i as f64 * 0.0003).cos() * 900.0).unwrap();
    }
    std::fs::write(dir.join("equity.csv"), eq).unwrap();
    std::fs::write(dir.join("prices.csv"), px).unwrap();
    let start = std::time::Instant::now();
    let html = std::fs::read_to_string(report::write_run_report(&dir).unwrap()).unwrap();
    eprintln!("{} bytes in {:?}", html.len(), start.elapsed());
    assert!(html.len() < 1_000_000, "{} bytes", html.len());
    let months = &html[html.find("<table class=\"months\">").unwrap()..];
    assert_eq!(months[..months.find("</table>").unwrap()].matches("%</td>").count(), 12, "12 months");
    cleanup(&dir);
}

/// The end of UTC day `d` (0 = 2024-01-01): how `instrument_pnl.csv` stamps a day's row.
fn day_end(d: i64) -> i64 {
    builder::T0 + (d + 1) * 24 * builder::HOUR - 1
}

#[test]
fn run_report_attribution_table_and_monthly_heatmap() {
    let dir = temp_dir("attribution");
    write_run(&dir, &FILLS, true, true, "attr");
    // A: Jan 25, Feb −5, Mar +20; B: Feb −7, Mar +5; C: Jan 3, Feb none, Mar 0.
    let daily = [
        (day_end(14), "A", 10.0),
        (day_end(30), "A", 25.0),
        (day_end(59), "A", 20.0),
        (day_end(40), "B", -7.0),
        (day_end(30), "C", 3.0),
    ];
    builder::write_attribution(&dir, &[("A", 40.0), ("B", -2.0), ("C", 3.0)], &daily);
    let html = std::fs::read_to_string(report::write_run_report(&dir).unwrap()).unwrap();
    let table = &html[html.find("<table class=\"attribution\">").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    // best first, then the total; turnover = 1000 / initial equity 1000
    let order: Vec<usize> =
        ["<td class=\"l\">A</td><td class=\"pos\">40.00</td>", "<td class=\"l\">C</td>", "<td class=\"l\">B</td><td class=\"neg\">-2.00</td>", "<b>total</b></td><td class=\"pos\">41.00</td><td>41.00</td><td>0.00</td><td>1.50</td><td>0.00</td><td>0.00</td><td>3.00</td><td>6</td>"]
            .iter()
            .map(|r| table.find(r).unwrap_or_else(|| panic!("{r} in {table}")))
            .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{table}");
    let heat = &html[html.find("<table class=\"heat\">").unwrap()..];
    let heat = &heat[..heat.find("</table>").unwrap()];
    assert!(heat.contains("<th>Jan 2024</th><th>Feb 2024</th><th>Mar 2024</th>"), "{heat}");
    let rows: Vec<&str> = heat.split("<tr>").skip(2).collect();
    assert_eq!(rows.len(), 3);
    // the largest month (A in January, 25) full green; B's −7 in February 7/25 of the way to red
    assert!(rows[0].starts_with("<td class=\"l\">A</td><td style=\"background:#9fd8ab\">25.00</td><td style=\"background:#fdf0f0\">-5.00</td><td style=\"background:#b2e0bc\">20.00</td>"), "{}", rows[0]);
    assert!(rows[1].starts_with("<td class=\"l\">C</td><td style=\"background:#f3faf5\">3.00</td><td></td><td style=\"background:#ffffff\">0.00</td>"), "{}", rows[1]);
    assert!(rows[2].starts_with("<td class=\"l\">B</td><td></td><td style=\"background:#fcebe9\">-7.00</td><td style=\"background:#ecf7ee\">5.00</td>"), "{}", rows[2]);
    assert_self_contained(&html);
    // A universe: the instrument charts keep the 5 best and 5 worst of 12
    let many: Vec<(String, f64)> = (0..12).map(|k| (format!("I{k:02}"), f64::from(k) - 5.0)).collect();
    let refs: Vec<(&str, f64)> = many.iter().map(|(id, v)| (id.as_str(), *v)).collect();
    builder::write_attribution(&dir, &refs, &[]);
    let html = std::fs::read_to_string(report::write_run_report(&dir).unwrap()).unwrap();
    assert!(html.contains("10 of 12 instruments: the 5 best and 5 worst by net PnL"), "fills note");
    assert!(html.contains("Positions of 10 of 12 instruments: the best and worst by net PnL."));
    cleanup(&dir);
}
