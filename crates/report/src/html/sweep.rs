//! The report of a sweep folder: the ranked table of variants, and a heatmap of the ranking
//! statistic over two grid parameters (a bar chart for one parameter or none), every variant
//! linking to its own run report; for walk-forward sweeps, each grid point's out-of-sample
//! equity stitched across its test windows; for searches, which sampler chose each trial.

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use serde_json::Value;

use super::{
    Cell, REPORT_FILE, chart, escape, page,
    run::{PERCENT_STATS, stat_reading},
    table, utc_text, write_report,
};
use crate::{Error, Result};

/// Statistics shown in the ranked table after the ranking statistic.
const HEADLINE: [&str; 5] = ["total_return", "sharpe", "max_drawdown", "trade_count", "fees_paid"];

/// One row of `ranking.json`.
#[derive(Debug, Clone)]
struct Outcome {
    variant: u64,
    grid: serde_json::Map<String, Value>,
    window: Option<(i64, i64)>,
    stats: Option<serde_json::Map<String, Value>>,
    error: Option<String>,
    /// Searches: the sampler that chose the trial (`random`, `tpe`).
    chosen_by: Option<String>,
    /// Relative link to the variant's report, when it was written.
    link: Option<String>,
}

impl Outcome {
    /// The statistic as a finite number; `None` also for an undefined (`null`) one.
    fn stat(&self, name: &str) -> Option<f64> {
        let v = self.stats.as_ref()?.get(name)?;
        v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).filter(|x| x.is_finite())
    }
}

/// Writes `sweep_dir/report.html` for a sweep folder: ranked table + heatmap of `rank_by` over
/// two grid params (or a bar chart if the grid has one param), each row linking to
/// `variants/NNNN/report.html`. Also writes the report of every variant that has a run folder
/// (`variants/NNNN/result.json`); one that cannot be written is logged and left unlinked.
///
/// # Errors
/// A missing or malformed `ranking.json`, no font to measure chart labels, or writing the file.
pub fn write_sweep_report(sweep_dir: &Path) -> Result<PathBuf> {
    let path = sweep_dir.join("ranking.json");
    let text = std::fs::read_to_string(&path).map_err(Error::io(&path))?;
    let origin = || path.display().to_string();
    let v: Value = serde_json::from_str(&text).map_err(|e| Error::data(origin(), format!("not JSON: {e}")))?;
    let rank_by = v.get("rank_by").and_then(Value::as_str).unwrap_or("sharpe").to_string();
    let Some(rows) = v.get("ranking").and_then(Value::as_array) else {
        return Err(Error::data(origin(), "no ranking list"));
    };
    let mut outcomes = Vec::new();
    for (i, o) in rows.iter().enumerate() {
        let variant = o
            .get("variant")
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::data(origin(), format!("ranking[{i}] has no variant")))?;
        let window = o.get("window").filter(|w| w.is_object()).map(|w| {
            let t = |k: &str| w.get(k).and_then(Value::as_i64).unwrap_or(0);
            (t("test_start"), t("test_end"))
        });
        let rel = format!("variants/{variant:04}");
        let run_dir = sweep_dir.join(&rel);
        let link = if run_dir.join("result.json").exists() {
            match super::write_run_report(&run_dir) {
                Ok(_) => Some(format!("{rel}/{REPORT_FILE}")),
                Err(e) => {
                    log::warn!("sweep report: variant {variant}: {e}");
                    None
                }
            }
        } else {
            None
        };
        outcomes.push(Outcome {
            variant,
            grid: o.get("grid").and_then(Value::as_object).cloned().unwrap_or_default(),
            window,
            stats: o.get("stats").and_then(Value::as_object).cloned(),
            error: o.get("error").and_then(Value::as_str).map(str::to_string),
            chosen_by: o.get("chosen_by").and_then(Value::as_str).map(str::to_string),
            link,
        });
    }
    let name = sweep_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let sweep_toml = std::fs::read_to_string(sweep_dir.join("sweep.toml")).unwrap_or_default();
    let html = sweep_html(sweep_dir, &outcomes, &rank_by, &name, &sweep_toml)
        .map_err(|e| e.at(format!("report of {}", sweep_dir.display())))?;
    write_report(sweep_dir, &html)
}

/// A grid value as text (strings without quotes).
fn value_text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

fn sweep_html(dir: &Path, outcomes: &[Outcome], rank_by: &str, name: &str, sweep_toml: &str) -> Result<String> {
    let mut keys: Vec<String> = Vec::new();
    for o in outcomes {
        for k in o.grid.keys() {
            if !keys.contains(k) {
                keys.push(k.clone());
            }
        }
    }
    let failed = outcomes.iter().filter(|o| o.stats.is_none()).count();
    let mut b = format!("<h1>Sweep report: ranked by {}</h1>\n<p class=\"sub\">", escape(rank_by));
    let mut sub = format!("sweep {name} · {} variants", outcomes.len());
    if failed > 0 {
        let _ = write!(sub, " · {failed} failed");
    }
    if !keys.is_empty() {
        let _ = write!(sub, " · grid over {}", keys.join(", "));
    }
    b += &escape(&sub);
    b += "</p>\n";
    // Ranking order is best first: ascending values mean lower is better.
    let ranked: Vec<f64> = outcomes.iter().filter_map(|o| o.stat(rank_by)).collect();
    let lower_better = ranked.first().zip(ranked.last()).is_some_and(|(a, z)| a < z);

    b += &format!("<h2>{} by grid parameters</h2>\n", escape(rank_by));
    b += &overview(outcomes, &keys, rank_by, lower_better)?;
    if outcomes.iter().any(|o| o.window.is_some()) {
        b += "<h2>Out-of-sample equity, walk-forward windows stitched</h2>\n";
        b += &stitched(dir, outcomes, &keys, rank_by, lower_better)?;
    }
    b += "<h2>Ranking</h2>\n";
    b += &ranking_table(outcomes, &keys, rank_by);
    if !sweep_toml.is_empty() {
        let _ = write!(b, "<h2>Sweep file</h2>\n<pre>{}</pre>\n", escape(sweep_toml));
    }
    Ok(page(&format!("alphalab sweep: {name} by {rank_by}"), &b))
}

fn ranking_table(outcomes: &[Outcome], keys: &[String], rank_by: &str) -> String {
    let windows = outcomes.iter().any(|o| o.window.is_some());
    let mut stats = vec![rank_by];
    stats.extend(HEADLINE.iter().copied().filter(|s| *s != rank_by));
    let mut head: Vec<(&str, bool)> = vec![("rank", false), ("variant", true)];
    head.extend(keys.iter().map(|k| (k.as_str(), false)));
    let searched = outcomes.iter().any(|o| o.chosen_by.is_some());
    if searched {
        head.push(("chosen by", true));
    }
    if windows {
        head.push(("test window (UTC)", true));
    }
    head.extend(stats.iter().map(|s| (*s, false)));
    head.push(("error", true));
    let rows: Vec<Vec<Cell>> = outcomes
        .iter()
        .enumerate()
        .map(|(r, o)| {
            let id = format!("{:04}", o.variant);
            let mut row = vec![
                Cell::num(&(r + 1).to_string()),
                match &o.link {
                    Some(l) => Cell::html(format!("<a href=\"{}\">{id}</a>", escape(l)), "l"),
                    None => Cell::text(&id),
                },
            ];
            row.extend(keys.iter().map(|k| Cell::num(&o.grid.get(k).map(value_text).unwrap_or_default())));
            if searched {
                row.push(Cell::text(o.chosen_by.as_deref().unwrap_or("")));
            }
            if windows {
                row.push(Cell::text(
                    &o.window.map(|(s, e)| format!("{} → {}", utc_text(s), utc_text(e))).unwrap_or_default(),
                ));
            }
            for (i, s) in stats.iter().enumerate() {
                let text = o.stats.as_ref().and_then(|m| m.get(*s)).map(|v| stat_reading(s, v)).unwrap_or_default();
                row.push(if i == 0 { Cell::html(format!("<b>{}</b>", escape(&text)), "") } else { Cell::num(&text) });
            }
            row.push(Cell::html(escape(o.error.as_deref().unwrap_or("")), "err"));
            row
        })
        .collect();
    table("ranking", &head, &rows)
}

/// Distinct values of grid key `k`, numeric order when all are numbers, else text order.
fn axis(outcomes: &[Outcome], k: &str) -> Vec<Value> {
    let mut vals: Vec<Value> = Vec::new();
    for o in outcomes {
        if let Some(v) = o.grid.get(k)
            && !vals.contains(v)
        {
            vals.push(v.clone());
        }
    }
    if vals.iter().all(Value::is_number) {
        vals.sort_by(|a, b| a.as_f64().unwrap_or(0.0).total_cmp(&b.as_f64().unwrap_or(0.0)));
    } else {
        vals.sort_by_key(value_text);
    }
    vals
}

fn mean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() { None } else { Some(xs.iter().sum::<f64>() / xs.len() as f64) }
}

/// Heatmap (≥ 2 grid keys) or bar chart (1 key, or one bar per variant without a grid).
fn overview(outcomes: &[Outcome], keys: &[String], rank_by: &str, lower_better: bool) -> Result<String> {
    if keys.len() >= 2 {
        return Ok(heatmap(outcomes, keys, rank_by, lower_better));
    }
    let (labels, values, x_desc, mut cap): (Vec<String>, Vec<f64>, String, String) = if let Some(k) = keys.first() {
        let vals = axis(outcomes, k);
        let means: Vec<f64> = vals
            .iter()
            .map(|v| {
                let xs: Vec<f64> =
                    outcomes.iter().filter(|o| o.grid.get(k) == Some(v)).filter_map(|o| o.stat(rank_by)).collect();
                mean(&xs).unwrap_or(f64::NAN)
            })
            .collect();
        (
            vals.iter().map(value_text).collect(),
            means,
            k.clone(),
            format!("{rank_by} per value of {k} (mean over walk-forward windows when there are several)."),
        )
    } else {
        let mut os: Vec<&Outcome> = outcomes.iter().collect();
        os.sort_by_key(|o| o.variant);
        (
            os.iter().map(|o| format!("{:04}", o.variant)).collect(),
            os.iter().map(|o| o.stat(rank_by).unwrap_or(f64::NAN)).collect(),
            "variant".into(),
            format!("{rank_by} per variant, in variant order."),
        )
    };
    if values.iter().any(|v| !v.is_finite()) {
        let _ = write!(cap, " No bar where {rank_by} is n/a (undefined) or the variant failed.");
    }
    let svg = chart::bar_svg(&labels, &values, &x_desc, rank_by, PERCENT_STATS.contains(&rank_by))?;
    Ok(format!("<figure>\n{svg}\n<figcaption>{}</figcaption>\n</figure>\n", escape(&cap)))
}

/// Background colour for goodness `t` in [0, 1]: red (worst) → white → green (best).
fn heat_colour(t: f64) -> String {
    let (lo, mid, hi) = ((0xF4, 0xB6, 0xB2), (0xFF, 0xFF, 0xFF), (0x9F, 0xD8, 0xAB));
    let mix = |a: i32, b: i32, u: f64| (f64::from(a) + (f64::from(b) - f64::from(a)) * u).round() as i32;
    let (a, z, u) = if t < 0.5 { (lo, mid, t * 2.0) } else { (mid, hi, t * 2.0 - 1.0) };
    format!("background:#{:02x}{:02x}{:02x}", mix(a.0, z.0, u), mix(a.1, z.1, u), mix(a.2, z.2, u))
}

fn heatmap(outcomes: &[Outcome], keys: &[String], rank_by: &str, lower_better: bool) -> String {
    // The two keys with the most distinct values (stable: grid order on ties); others averaged.
    let mut by_size: Vec<(usize, &String)> = keys.iter().map(|k| (axis(outcomes, k).len(), k)).collect();
    by_size.sort_by_key(|k| std::cmp::Reverse(k.0));
    let (mut kx, mut ky) = (by_size[0].1, by_size[1].1);
    if keys.iter().position(|k| k == ky) < keys.iter().position(|k| k == kx) {
        std::mem::swap(&mut kx, &mut ky);
    }
    let (xs, ys) = (axis(outcomes, kx), axis(outcomes, ky));
    let mut cells: BTreeMap<(usize, usize), Vec<&Outcome>> = BTreeMap::new();
    for o in outcomes {
        let xi = o.grid.get(kx).and_then(|v| xs.iter().position(|x| x == v));
        let yi = o.grid.get(ky).and_then(|v| ys.iter().position(|y| y == v));
        if let (Some(xi), Some(yi)) = (xi, yi) {
            cells.entry((yi, xi)).or_default().push(o);
        }
    }
    // Undefined (`null`) values are left out of the means and of the colour scale.
    let values = |os: &[&Outcome]| os.iter().filter_map(|o| o.stat(rank_by)).collect::<Vec<f64>>();
    let all: Vec<f64> = cells.values().filter_map(|os| mean(&values(os))).collect();
    let (lo, hi) = all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let mut s = format!("<table class=\"heat\">\n<thead><tr><th class=\"l\">{} ↓ \\ {} →</th>", escape(ky), escape(kx));
    for x in &xs {
        let _ = write!(s, "<th>{}</th>", escape(&value_text(x)));
    }
    s += "</tr></thead>\n<tbody>\n";
    for (yi, y) in ys.iter().enumerate() {
        let _ = write!(s, "<tr><th>{}</th>", escape(&value_text(y)));
        for xi in 0..xs.len() {
            let os = cells.get(&(yi, xi)).map(Vec::as_slice).unwrap_or_default();
            let vs = values(os);
            let linked = |text: String| match os {
                [Outcome { link: Some(l), .. }] => format!("<a href=\"{}\">{text}</a>", escape(l)),
                _ => text,
            };
            match mean(&vs) {
                Some(v) => {
                    let mut t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
                    if lower_better {
                        t = 1.0 - t;
                    }
                    let text = escape(&stat_reading(rank_by, &serde_json::json!(v)));
                    let body = match (os.len(), vs.len()) {
                        (1, _) => linked(text),
                        (n, k) if k < n => format!("{text}<br><small>mean of {k} of {n}</small>"),
                        (n, _) => format!("{text}<br><small>mean of {n}</small>"),
                    };
                    let _ = write!(s, "<td style=\"{}\">{body}</td>", heat_colour(t));
                }
                None if os.is_empty() => s += "<td></td>",
                None if os.iter().all(|o| o.stats.is_none()) => s += "<td class=\"err\">failed</td>",
                None => {
                    let _ = write!(s, "<td>{}</td>", linked("n/a".to_string()));
                }
            }
        }
        s += "</tr>\n";
    }
    s += "</tbody>\n</table>\n";
    let mut cap = format!(
        "{rank_by} per grid point ({}; green = better). Cells link to the variant's report.",
        if lower_better { "lower is better" } else { "higher is better" }
    );
    let others: Vec<&str> = keys.iter().filter(|k| *k != kx && *k != ky).map(String::as_str).collect();
    if !others.is_empty() {
        let _ = write!(cap, " Averaged over {}.", others.join(", "));
    }
    s += &format!("<p class=\"note\">{}</p>\n", escape(&cap));
    s
}

/// Grid points shown in the stitched chart (the best by their mean ranking statistic).
const STITCHED_LINES: usize = 6;

/// Each grid point's out-of-sample equity: its test windows' curves (`equity.csv`) in time
/// order, each after the first rescaled to start where the previous one ended (the returns of
/// every window compounded, as one account rolled from window to window would see them).
fn stitched(dir: &Path, outcomes: &[Outcome], keys: &[String], rank_by: &str, lower_better: bool) -> Result<String> {
    let mut groups: BTreeMap<String, Vec<&Outcome>> = BTreeMap::new();
    for o in outcomes {
        let label: Vec<String> =
            keys.iter().map(|k| format!("{k}={}", o.grid.get(k).map(value_text).unwrap_or_default())).collect();
        groups.entry(label.join(" ")).or_default().push(o);
    }
    let mut scored: Vec<(f64, String, Vec<&Outcome>)> = groups
        .into_iter()
        .map(|(label, mut os)| {
            os.sort_by_key(|o| o.window.map_or(0, |w| w.0));
            let xs: Vec<f64> = os.iter().filter_map(|o| o.stat(rank_by)).collect();
            let m = mean(&xs).unwrap_or(f64::NAN);
            (if lower_better { -m } else { m }, label, os)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let mut lines = Vec::new();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for (k, (_, label, os)) in scored.iter().take(STITCHED_LINES).enumerate() {
        let mut points: Vec<super::data::Point> = Vec::new();
        for o in os {
            let path = dir.join(format!("variants/{:04}/equity.csv", o.variant));
            if !path.exists() {
                continue; // a failed window: a gap in the line
            }
            let curve = super::data::read_csv(&path, &["ts", "equity"], |f| {
                let ts = f[0].parse::<i64>().map_err(|e| Error::data("ts", e.to_string()))?;
                let eq = f[1].parse::<f64>().map_err(|e| Error::data("equity", e.to_string()))?;
                Ok((ts, eq))
            })?;
            append_rescaled(&mut points, &curve);
        }
        if let (Some(a), Some(z)) = (points.first(), points.last()) {
            lo = lo.min(a.0);
            hi = hi.max(z.0);
            let points = super::data::downsample(&points, 2000);
            lines.push(chart::Line::new(label.clone(), points, chart::PALETTE[k % chart::PALETTE.len()]));
        }
    }
    if lines.is_empty() {
        return Ok("<p class=\"note\">no window has an equity curve</p>\n".into());
    }
    let panels = [chart::Panel { y_desc: "equity".into(), lines, weight: 1, ..chart::Panel::default() }];
    let svg = chart::time_svg(&panels, lo..hi.max(lo + 1), 360)?;
    let cap = format!(
        "Out-of-sample equity of the {} best grid points by mean {rank_by}: each test window's equity.csv in time order, rescaled to start where the previous window ended.",
        scored.len().min(STITCHED_LINES)
    );
    Ok(format!("<figure>\n{svg}\n<figcaption>{}</figcaption>\n</figure>\n", escape(&cap)))
}

/// Appends a window's equity `curve` to the stitched `points`, rescaled to start where they
/// end (as is when they are empty or the window starts at 0).
fn append_rescaled(points: &mut Vec<super::data::Point>, curve: &[super::data::Point]) {
    let Some(&(_, first)) = curve.first() else { return };
    let scale = match points.last() {
        Some(&(_, end)) if first != 0.0 => end / first,
        _ => 1.0,
    };
    points.extend(curve.iter().map(|&(t, e)| (t, e * scale)));
}

#[cfg(test)]
mod tests {
    use super::append_rescaled;

    #[test]
    fn windows_compound_from_where_the_previous_one_ended() {
        let mut points = Vec::new();
        append_rescaled(&mut points, &[(1, 100.0), (2, 110.0)]);
        append_rescaled(&mut points, &[]);
        append_rescaled(&mut points, &[(3, 200.0), (4, 180.0)]); // -10 % on 110
        append_rescaled(&mut points, &[(5, 50.0), (6, 55.0)]); // +10 % on 99
        let want = [(1, 100.0), (2, 110.0), (3, 110.0), (4, 99.0), (5, 99.0), (6, 108.9)];
        assert_eq!(points.len(), want.len());
        for (got, want) in points.iter().zip(want) {
            assert!(got.0 == want.0 && (got.1 - want.1).abs() < 1e-9, "{got:?} != {want:?}");
        }
    }
}
