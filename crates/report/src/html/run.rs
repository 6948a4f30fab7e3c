//! The report of one backtest run folder: parameters, statistics, equity and drawdown,
//! positions and exposure, fees and funding, attribution by instrument with its monthly
//! heatmap, fills on the price, monthly returns. A universe's instrument charts are limited to
//! [`MAX_INSTRUMENTS`] (the best and the worst by net PnL); its tables list every instrument.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    path::{Path, PathBuf},
};

use serde_json::Value;

use super::{
    Cell,
    chart::{self, BLUE, GREY, Line, Marker, MarkerKind, ORANGE, PALETTE, Panel, RED},
    data::{self, Point, RunData},
    duration_text, escape, page, pct, table, utc_text, write_report,
};
use crate::Result;

/// Points per drawn line at most (see [`data::downsample`]).
const MAX_POINTS: usize = 2000;
/// Fill markers per instrument at most.
const MAX_MARKERS: usize = 2000;
/// Instruments drawn (position lines, price charts) at most.
const MAX_INSTRUMENTS: usize = 10;
/// Statistics that are fractions, read as percentages.
pub const PERCENT_STATS: [&str; 6] =
    ["total_return", "cagr", "annualised_volatility", "max_drawdown", "exposure", "win_rate"];
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Writes `run_dir/report.html` for a backtest run folder; returns its path.
///
/// # Errors
/// A missing or malformed `result.json`, `equity.csv`, `fills.csv` or `funding.csv`, no font to
/// measure chart labels, or writing the file.
pub fn write_run_report(run_dir: &Path) -> Result<PathBuf> {
    // The load errors name their file (inside `run_dir`); drawing errors name nothing.
    let data = RunData::load(run_dir)?;
    let name = run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let html = run_html(&data, &name).map_err(|e| e.at(format!("report of {}", run_dir.display())))?;
    write_report(run_dir, &html)
}

/// The report page of `data` (folder name `name`).
///
/// # Errors
/// Drawing errors (no font).
pub fn run_html(d: &RunData, name: &str) -> Result<String> {
    let toml = toml_entries(&d.run_toml);
    let get = |k: &str| toml.iter().find(|(key, _)| key == k).map(|(_, v)| v.trim_matches('"').to_string());
    let strategy = get("strategy.name").unwrap_or_else(|| "run".into());
    let x = time_range(d);
    let mut b = String::new();
    let _ = write!(b, "<h1>Backtest report: {}</h1>\n<p class=\"sub\">", escape(&strategy));
    let mut sub = vec![format!("run {name}")];
    if let Some(i) = get("instruments") {
        sub.push(i.replace(['[', ']', '"'], "").replace(',', ", ").split_whitespace().collect::<Vec<_>>().join(" "));
    }
    if x.end > x.start {
        sub.push(format!("{} → {} UTC", utc_text(x.start), utc_text(x.end)));
    }
    if !d.version.is_empty() {
        sub.push(format!("version {}", d.version));
    }
    b += &escape(&sub.join(" · "));
    b += "</p>\n";

    b += "<h2>Statistics</h2>\n";
    b += &stats_table(&d.stats);

    b += "<h2>Equity and drawdown</h2>\n";
    b += &equity_section(d, x.clone())?;
    b += "<h2>Positions and gross exposure</h2>\n";
    b += &positions_section(d, x.clone())?;
    b += "<h2>Fees and funding paid</h2>\n";
    b += &costs_section(d, x.clone())?;
    if !d.attribution.is_empty() {
        b += "<h2>Attribution by instrument</h2>\n";
        b += &attribution_section(d);
    }
    b += "<h2>Fills on the price</h2>\n";
    b += &fills_section(d, x)?;
    b += "<h2>Monthly returns</h2>\n";
    b += &monthly_section(d);

    b += "<h2>Run parameters</h2>\n";
    let mut rows: Vec<Vec<Cell>> = toml.iter().map(|(k, v)| vec![Cell::text(k), Cell::text(v)]).collect();
    rows.push(vec![Cell::text("version"), Cell::text(&d.version)]);
    for (k, v) in &d.summary {
        rows.push(vec![Cell::text(&format!("result: {k}")), Cell::text(v)]);
    }
    b += &table("kv", &[("parameter", true), ("value (TOML)", true)], &rows);
    let _ = write!(b, "<h3>run.toml</h3>\n<pre>{}</pre>\n", escape(&d.run_toml));
    Ok(page(&format!("alphalab backtest: {strategy} ({name})"), &b))
}

/// First and last time of the equity curve (else of the fills and prices), in ns.
fn time_range(d: &RunData) -> std::ops::Range<i64> {
    let ts = d
        .equity
        .iter()
        .map(|e| e.ts)
        .chain(d.fills.iter().map(|f| f.ts))
        .chain(d.prices.values().flat_map(|p| p.iter().map(|q| q.0)));
    let (lo, hi) = ts.fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    if lo > hi { 0..0 } else { lo..hi }
}

fn stats_table(stats: &serde_json::Map<String, Value>) -> String {
    let rows: Vec<Vec<Cell>> = stats
        .iter()
        .map(|(k, v)| {
            let raw = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            vec![Cell::text(k), Cell::num(&raw), Cell::num(&stat_reading(k, v))]
        })
        .collect();
    table("kv", &[("statistic", true), ("value", false), ("reading", false)], &rows)
}

/// A statistic of `result.json` or `ranking.json` for reading: percentages, durations, 4
/// decimals for ratios, `n/a` for an undefined one (JSON `null`, e.g. a Sharpe ratio without
/// volatility), else as stored. Shared with the command line so both read alike.
#[must_use]
pub fn stat_reading(k: &str, v: &Value) -> String {
    if v.is_null() {
        return "n/a".to_string();
    }
    let raw = v.as_str().map_or_else(|| v.to_string(), str::to_string);
    match v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse::<f64>().ok())) {
        Some(x) if PERCENT_STATS.contains(&k) => format!("{:.2}%", x * 100.0),
        Some(x) if k == "max_drawdown_duration_ns" => duration_text(x as u64),
        Some(x) if v.is_f64() => format!("{x:.4}"),
        _ => raw,
    }
}

fn figure(svg: &str, caption: &str) -> String {
    format!("<figure>\n{svg}\n<figcaption>{}</figcaption>\n</figure>\n", escape(caption))
}

fn note(text: &str) -> String {
    format!("<p class=\"note\">{}</p>\n", escape(text))
}

fn equity_section(d: &RunData, x: std::ops::Range<i64>) -> Result<String> {
    if d.equity.is_empty() {
        return Ok(note("no equity points"));
    }
    let eq: Vec<Point> = d.equity.iter().map(|e| (e.ts, e.equity)).collect();
    let initial = d.initial_equity().unwrap_or(eq[0].1);
    let mut lines = Vec::new();
    if d.equity.iter().any(|e| e.funding != 0.0) {
        let ex: Vec<Point> = d.equity.iter().map(|e| (e.ts, e.equity_ex_funding)).collect();
        lines.push(Line::new("equity ex funding", data::downsample(&ex, MAX_POINTS), GREY));
    }
    lines.push(Line::new("equity", data::downsample(&eq, MAX_POINTS), BLUE));
    let mut dd = Line::new("drawdown", data::downsample(&data::drawdown(&eq, initial), MAX_POINTS), RED);
    dd.area = true;
    let panels = [
        Panel { y_desc: "equity".into(), lines, weight: 2, ..Panel::default() },
        Panel { y_desc: "drawdown".into(), lines: vec![dd], weight: 1, percent: true, zero: true, ..Panel::default() },
    ];
    let svg = chart::time_svg(&panels, x, 520)?;
    Ok(figure(
        &svg,
        &format!(
            "Equity after each time step (incl. funding), {} points; drawdown below the running peak (initial equity {}).",
            d.equity.len(),
            initial
        ),
    ))
}

/// The instruments to draw: all of them up to [`MAX_INSTRUMENTS`], else the best and the worst
/// half by net PnL (by fills without attribution); and how many there are.
fn shown_instruments(d: &RunData) -> (BTreeSet<String>, usize) {
    let mut all: BTreeMap<String, f64> = BTreeMap::new();
    for f in &d.fills {
        *all.entry(f.instrument_id.clone()).or_default() += 1.0;
    }
    for id in d.prices.keys() {
        all.entry(id.clone()).or_default();
    }
    if !d.attribution.is_empty() {
        all = d.attribution.iter().map(|a| (a.instrument_id.clone(), a.net_pnl)).collect();
    }
    let n = all.len();
    if n <= MAX_INSTRUMENTS {
        return (all.into_keys().collect(), n);
    }
    let mut ranked: Vec<(String, f64)> = all.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let half = MAX_INSTRUMENTS / 2;
    let shown = ranked[..half].iter().chain(&ranked[n - (MAX_INSTRUMENTS - half)..]).map(|x| x.0.clone()).collect();
    (shown, n)
}

fn positions_section(d: &RunData, x: std::ops::Range<i64>) -> Result<String> {
    let (shown, total) = shown_instruments(d);
    let mut by_inst: BTreeMap<&str, Vec<Point>> = BTreeMap::new();
    for f in d.fills.iter().filter(|f| shown.contains(&f.instrument_id)) {
        by_inst.entry(&f.instrument_id).or_default().push((f.ts, f.position_after));
    }
    let mut lines: Vec<Line> = by_inst
        .iter()
        .enumerate()
        .map(|(i, (id, changes))| {
            let pts = data::steps(changes, x.start, x.end, 0.0);
            Line::new(*id, data::downsample(&pts, MAX_POINTS), PALETTE[i % PALETTE.len()])
        })
        .collect();
    if lines.is_empty() {
        lines.push(Line::new("no fills (flat)", vec![(x.start, 0.0), (x.end, 0.0)], GREY));
    }
    let exposure: Vec<Point> = d.equity.iter().map(|e| (e.ts, e.gross_exposure)).collect();
    let mut ex = Line::new("gross exposure", data::downsample(&exposure, MAX_POINTS), ORANGE);
    ex.area = true;
    let mut exposures = vec![ex];
    let net: Vec<Point> = d.equity.iter().filter_map(|e| e.net_exposure.map(|n| (e.ts, n))).collect();
    if !net.is_empty() {
        exposures.push(Line::new("net exposure", data::downsample(&net, MAX_POINTS), BLUE));
    }
    let mut panels = vec![
        Panel { y_desc: "position (qty)".into(), lines, weight: 1, zero: true, ..Panel::default() },
        Panel { y_desc: "exposure".into(), lines: exposures, weight: 1, zero: true, ..Panel::default() },
    ];
    let open: Vec<Point> = d.equity.iter().filter_map(|e| e.open_positions.map(|n| (e.ts, n))).collect();
    if !open.is_empty() {
        let line = Line::new("open positions", data::downsample(&open, MAX_POINTS), GREY);
        panels.push(Panel { y_desc: "positions".into(), lines: vec![line], weight: 1, zero: true, ..Panel::default() });
    }
    let svg = chart::time_svg(&panels, x, if open.is_empty() { 440 } else { 600 })?;
    let mut cap = if d.fills.is_empty() {
        "No fills: the position stays flat. Gross exposure Σ |position × price| from equity.csv.".to_string()
    } else {
        "Net position per instrument after each fill (fills.csv); gross exposure Σ |position × price| from equity.csv."
            .to_string()
    };
    if !net.is_empty() {
        cap += " Net exposure Σ position × price; open positions: instruments with a position.";
    }
    if shown.len() < total {
        let _ = write!(cap, " Positions of {} of {total} instruments: the best and worst by net PnL.", shown.len());
    }
    Ok(figure(&svg, &cap))
}

/// Background of a PnL cell: green for a gain, red for a loss, stronger the larger `v` is
/// against `max` (the largest magnitude shown).
fn pnl_colour(v: f64, max: f64) -> String {
    let t = if max > 0.0 { (v.abs() / max).min(1.0) } else { 0.0 };
    let to = if v < 0.0 { (0xF4, 0xB6, 0xB2) } else { (0x9F, 0xD8, 0xAB) };
    let mix = |b: i32| (255.0 + (f64::from(b) - 255.0) * t).round() as i32;
    format!("background:#{:02x}{:02x}{:02x}", mix(to.0), mix(to.1), mix(to.2))
}

/// A money amount for reading: two decimals, or none from a million.
fn money(v: f64) -> String {
    if v.abs() >= 1e6 { format!("{v:.0}") } else { format!("{v:.2}") }
}

fn attribution_section(d: &RunData) -> String {
    let mut rows: Vec<&data::AttributionRow> = d.attribution.iter().collect();
    rows.sort_by(|a, b| b.net_pnl.total_cmp(&a.net_pnl).then_with(|| a.instrument_id.cmp(&b.instrument_id)));
    let initial = d.initial_equity().filter(|e| *e > 0.0);
    let cells = |label: Cell, r: [f64; 7], fills: u64| {
        let mut row = vec![label, Cell::html(escape(&money(r[0])), sign_class(r[0]))];
        row.extend(r[1..6].iter().map(|v| Cell::num(&money(*v))));
        row.push(Cell::num(&initial.map_or_else(|| "–".to_string(), |e| format!("{:.2}", r[6] / e))));
        row.push(Cell::num(&fills.to_string()));
        row
    };
    let mut body: Vec<Vec<Cell>> = rows
        .iter()
        .map(|a| {
            let v =
                [a.net_pnl, a.realized_pnl, a.unrealized_pnl, a.fees, a.funding, a.liquidation_fees, a.traded_notional];
            let mut row = cells(Cell::text(&a.instrument_id), v, a.fills);
            row.push(Cell::num(&format!("{}", a.position)));
            row
        })
        .collect();
    let sum = |f: fn(&data::AttributionRow) -> f64| rows.iter().map(|a| f(a)).sum::<f64>();
    let total = [
        sum(|a| a.net_pnl),
        sum(|a| a.realized_pnl),
        sum(|a| a.unrealized_pnl),
        sum(|a| a.fees),
        sum(|a| a.funding),
        sum(|a| a.liquidation_fees),
        sum(|a| a.traded_notional),
    ];
    let mut last = cells(Cell::html("<b>total</b>".into(), "l"), total, rows.iter().map(|a| a.fills).sum());
    last.push(Cell::num(""));
    body.push(last);
    let head = [
        ("instrument", true),
        ("net PnL", false),
        ("realised", false),
        ("unrealised", false),
        ("fees", false),
        ("funding", false),
        ("liquidation fees", false),
        ("turnover", false),
        ("fills", false),
        ("position", false),
    ];
    let mut s = table("attribution", &head, &body);
    s += &note(
        "Per instrument (attribution.csv, exact there): net PnL = realised + unrealised (average cost, at the last price) − fees + funding − liquidation fees (+ what the insurance fund covered); turnover = traded notional / initial equity. Best first.",
    );
    s += &monthly_heatmap(d, &rows);
    s
}

fn sign_class(v: f64) -> &'static str {
    if v > 0.0 {
        "pos"
    } else if v < 0.0 {
        "neg"
    } else {
        ""
    }
}

/// Net PnL per instrument (rows, best first) and UTC month (columns) from instrument_pnl.csv.
fn monthly_heatmap(d: &RunData, order: &[&data::AttributionRow]) -> String {
    if d.instrument_pnl.is_empty() {
        return note("no instrument_pnl.csv: no monthly heatmap");
    }
    let (months, pnl) = data::monthly_pnl(&d.instrument_pnl);
    let max = pnl.values().flatten().fold(0.0f64, |m, x| m.max(x.2.abs()));
    let mut head: Vec<(String, bool)> = vec![("instrument".into(), true)];
    head.extend(months.iter().map(|(y, m)| (format!("{} {y}", MONTHS[*m as usize - 1]), false)));
    let head_refs: Vec<(&str, bool)> = head.iter().map(|(h, l)| (h.as_str(), *l)).collect();
    let body: Vec<Vec<Cell>> = order
        .iter()
        .filter_map(|a| pnl.get(&a.instrument_id).map(|v| (a, v)))
        .map(|(a, v)| {
            let mut row = vec![Cell::text(&a.instrument_id)];
            for m in &months {
                row.push(match v.iter().find(|x| (x.0, x.1) == *m) {
                    Some(x) => Cell { html: escape(&money(x.2)), class: "", style: Some(pnl_colour(x.2, max)) },
                    None => Cell::num(""),
                });
            }
            row
        })
        .collect();
    let mut s = "<h3>Monthly PnL per instrument</h3>\n".to_string();
    s += &table("heat", &head_refs, &body);
    s += &note(
        "Net PnL of each instrument in each UTC month (instrument_pnl.csv: the month's last daily row less the previous month's); green a gain, red a loss, stronger the larger.",
    );
    s
}

fn costs_section(d: &RunData, x: std::ops::Range<i64>) -> Result<String> {
    let mut fees: BTreeMap<&str, Vec<Point>> = BTreeMap::new();
    let mut sums: BTreeMap<&str, f64> = BTreeMap::new();
    for f in &d.fills {
        let s = sums.entry(&f.commission_currency).or_default();
        *s += f.commission;
        fees.entry(&f.commission_currency).or_default().push((f.ts, *s));
    }
    let mut lines: Vec<Line> = fees
        .iter()
        .enumerate()
        .map(|(i, (ccy, ch))| {
            Line::new(
                format!("fees ({ccy})"),
                data::downsample(&data::steps(ch, x.start, x.end, 0.0), MAX_POINTS),
                PALETTE[i % PALETTE.len()],
            )
        })
        .collect();
    let paid: Vec<Point> = d.funding.iter().map(|f| (f.ts, -f.cumulative)).collect();
    lines.push(Line::new("funding paid", data::downsample(&data::steps(&paid, x.start, x.end, 0.0), MAX_POINTS), RED));
    let panels = [Panel { y_desc: "cumulative paid".into(), lines, weight: 1, zero: true, ..Panel::default() }];
    let svg = chart::time_svg(&panels, x, 320)?;
    let mut cap = String::new();
    if d.fills.is_empty() {
        cap += "No fills: no fees. ";
    } else {
        let totals: Vec<String> = sums.iter().map(|(c, s)| format!("{s} {c}")).collect();
        let _ = write!(cap, "Cumulative commissions of {} fills (total {}). ", d.fills.len(), totals.join(", "));
    }
    if d.funding.is_empty() {
        cap += "No funding settlements.";
    } else {
        let total = d.funding.last().map_or(0.0, |f| -f.cumulative);
        let _ = write!(cap, "Funding paid over {} settlements (positive = paid), total {total}.", d.funding.len());
    }
    Ok(figure(&svg, &cap))
}

fn fills_section(d: &RunData, x: std::ops::Range<i64>) -> Result<String> {
    let (shown, total) = shown_instruments(d);
    let ids: BTreeSet<&str> = d
        .prices
        .keys()
        .map(String::as_str)
        .chain(d.fills.iter().map(|f| f.instrument_id.as_str()))
        .filter(|id| shown.contains(*id))
        .collect();
    let mut out = String::new();
    if d.fills.is_empty() {
        out += &note("no fills");
    }
    if shown.len() < total {
        out += &note(&format!(
            "{} of {total} instruments: the {} best and {} worst by net PnL (attribution above).",
            shown.len(),
            MAX_INSTRUMENTS / 2,
            MAX_INSTRUMENTS - MAX_INSTRUMENTS / 2
        ));
    }
    for id in ids {
        let fills: Vec<&data::FillRow> = d.fills.iter().filter(|f| f.instrument_id == id).collect();
        // Liquidations are always shown; the other fills thinned evenly.
        let (liquidations, trades): (Vec<&data::FillRow>, Vec<&data::FillRow>) =
            fills.iter().partition(|f| f.liquidity == "Liquidation");
        let shown = data::thin(&trades, MAX_MARKERS);
        let kind = |f: &data::FillRow| match (f.liquidity.as_str(), f.qty > 0.0) {
            ("Liquidation", _) => MarkerKind::Liquidation,
            (_, true) => MarkerKind::Buy,
            (_, false) => MarkerKind::Sell,
        };
        let markers: Vec<Marker> =
            shown.iter().chain(liquidations.iter()).map(|f| Marker { ts: f.ts, y: f.price, kind: kind(f) }).collect();
        let mut lines = Vec::new();
        if let Some(p) = d.prices.get(id) {
            lines.push(Line::new("price", data::downsample(p, MAX_POINTS), GREY));
        }
        let panels = [Panel { y_desc: "price".into(), lines, markers, weight: 1, ..Panel::default() }];
        let svg = chart::time_svg(&panels, x.clone(), 360)?;
        let buys = fills.iter().filter(|f| f.qty > 0.0).count();
        let mut cap = format!("{id}: {} fills ({buys} buys, {} sells)", fills.len(), fills.len() - buys);
        if shown.len() < trades.len() {
            let _ = write!(cap, ", {} shown evenly spaced", shown.len());
        }
        if !liquidations.is_empty() {
            let _ = write!(cap, "; {} liquidations (black diamonds, at the mark price)", liquidations.len());
        }
        cap += if d.prices.contains_key(id) {
            "; price: marking price series (prices.csv)."
        } else {
            "; no prices.csv: fills only."
        };
        let _ = write!(out, "<h3>{}</h3>\n{}", escape(id), figure(&svg, &cap));
    }
    Ok(out)
}

fn monthly_section(d: &RunData) -> String {
    if d.equity.is_empty() {
        return note("no equity points");
    }
    let eq: Vec<Point> = d.equity.iter().map(|e| (e.ts, e.equity)).collect();
    let initial = d.initial_equity().unwrap_or(eq[0].1);
    let months = data::monthly_returns(&eq, initial);
    let mut years: BTreeMap<i32, [Option<f64>; 12]> = BTreeMap::new();
    for (y, m, r) in &months {
        years.entry(*y).or_insert([None; 12])[*m as usize - 1] = Some(*r);
    }
    let sign = |r: f64| {
        if r > 0.0 {
            "pos"
        } else if r < 0.0 {
            "neg"
        } else {
            ""
        }
    };
    let rows: Vec<Vec<Cell>> = years
        .iter()
        .map(|(y, ms)| {
            let mut row = vec![Cell::text(&y.to_string())];
            let mut year = 1.0;
            for r in ms {
                row.push(match r {
                    Some(r) => {
                        year *= 1.0 + r;
                        Cell::html(escape(&pct(*r)), sign(*r))
                    }
                    None => Cell::num(""),
                });
            }
            row.push(Cell::html(format!("<b>{}</b>", escape(&pct(year - 1.0))), sign(year - 1.0)));
            row
        })
        .collect();
    let mut head: Vec<(&str, bool)> = vec![("year", true)];
    head.extend(MONTHS.iter().map(|m| (*m, false)));
    head.push(("year", false));
    let mut s = table("months", &head, &rows);
    s += &note(
        "Month return = last equity of the month / last equity of the previous month − 1 (the first month against the initial equity), UTC months.",
    );
    s
}

/// `(dotted key, raw TOML value)` of the `key = value` lines of a TOML document, by table
/// (multi-line arrays joined). Only for display: values stay TOML text.
fn toml_entries(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut table = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t.starts_with('[') && !t.contains('=') {
            table = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            continue;
        }
        let Some((k, v)) = t.split_once('=') else { continue };
        let mut value = v.trim().to_string();
        let depth = |s: &str| s.matches('[').count() as i64 - s.matches(']').count() as i64;
        while depth(&value) > 0 {
            let Some(next) = lines.next() else { break };
            value.push(' ');
            value.push_str(next.trim());
        }
        let key = k.trim();
        out.push((if table.is_empty() { key.to_string() } else { format!("{table}.{key}") }, value));
    }
    out
}
