//! Self-contained HTML reports of backtest runs and sweeps: one `report.html` per folder, with
//! inline SVG charts (plotters' SVG backend) and inline CSS, no script and no network.
//!
//! - [`write_run_report`] reads a run folder as `backtest::run::write_results` writes it
//!   (`result.json`, `fills.csv`, `equity.csv`, `funding.csv`, `run.toml`, `version.json`, and
//!   the optional `prices.csv`).
//! - [`write_sweep_report`] reads a sweep folder as `backtest::sweep::write_sweep` writes it
//!   (`ranking.json`, `variants/NNNN/`), writes every variant's run report and links to them.
//!
//! Long series are downsampled per line (first, minimum, maximum and last point of each time
//! bucket; see [`data::downsample`]) so a year of one-minute bars still gives a small file.

mod chart;
pub mod data;
mod run;
mod sweep;

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
};

use crate::{Error, Result};

pub use run::{PERCENT_STATS, stat_reading, write_run_report};
pub use sweep::write_sweep_report;

/// The file name of every report.
pub const REPORT_FILE: &str = "report.html";

/// `text` escaped for HTML element content and double-quoted attribute values.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "\
body{font-family:'DejaVu Sans',Verdana,Arial,sans-serif;margin:0;background:#f4f6f8;color:#222}
main{max-width:1160px;margin:0 auto;padding:16px 24px 48px;background:#fff}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #dfe4ea;padding-bottom:4px}
h3{font-size:15px;margin:16px 0 4px}
.sub{color:#555;font-size:13px;margin:0 0 12px}
.note{color:#555;font-size:13px;font-style:italic}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #dfe4ea;padding:3px 8px;text-align:right;white-space:nowrap}
th{background:#eef1f4;font-weight:600}td.l,th.l{text-align:left}
td.pos{background:#e3f4ea;color:#14632f}td.neg{background:#fbe5e4;color:#8e1c17}
td.err{color:#8e1c17;text-align:left;white-space:normal;max-width:420px}
.kv td:first-child{text-align:left;font-weight:600}
figure{margin:8px 0 16px}figcaption{color:#555;font-size:12px;margin-top:2px}
svg{max-width:100%;height:auto;display:block}
pre{background:#f7f8fa;border:1px solid #dfe4ea;padding:8px;font-size:12px;overflow:auto}
a{color:#1565c0}
.heat td{min-width:64px}
";

/// A complete HTML page around `body` (already HTML).
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <link rel=\"icon\" href=\"data:,\">\n<title>{}</title>\n<style>\n{CSS}</style>\n</head>\n\
         <body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        escape(title)
    )
}

/// One table cell: HTML content and a class (`""`, `"l"`, `"pos"`, `"neg"`, `"err"`).
#[derive(Debug, Clone)]
pub(crate) struct Cell {
    pub html: String,
    pub class: &'static str,
    pub style: Option<String>,
}

impl Cell {
    /// Escaped text, right-aligned.
    pub(crate) fn num(text: &str) -> Self {
        Self { html: escape(text), class: "", style: None }
    }

    /// Escaped text, left-aligned.
    pub(crate) fn text(text: &str) -> Self {
        Self { html: escape(text), class: "l", style: None }
    }

    /// Already-escaped HTML.
    pub(crate) fn html(html: String, class: &'static str) -> Self {
        Self { html, class, style: None }
    }
}

/// An HTML table: escaped header texts (`(text, left-aligned)`) and rows of cells.
pub(crate) fn table(class: &str, head: &[(&str, bool)], rows: &[Vec<Cell>]) -> String {
    let mut s = format!("<table class=\"{class}\">\n<thead><tr>");
    for (h, left) in head {
        let _ = write!(s, "<th{}>{}</th>", if *left { " class=\"l\"" } else { "" }, escape(h));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        s.push_str("<tr>");
        for c in row {
            s.push_str("<td");
            if !c.class.is_empty() {
                let _ = write!(s, " class=\"{}\"", c.class);
            }
            if let Some(st) = &c.style {
                let _ = write!(s, " style=\"{}\"", escape(st));
            }
            let _ = write!(s, ">{}</td>", c.html);
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody>\n</table>\n");
    s
}

/// Writes `dir/report.html` through a temporary file and a rename; returns its path.
fn write_report(dir: &Path, html: &str) -> Result<PathBuf> {
    let path = dir.join(REPORT_FILE);
    let tmp = dir.join(format!(".{REPORT_FILE}.tmp"));
    std::fs::write(&tmp, html).map_err(Error::io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(Error::io(&path))?;
    log::info!("report: {}", path.display());
    Ok(path)
}

/// `ns` since the epoch as `YYYY-MM-DD HH:MM:SS` UTC.
pub(crate) fn utc_text(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A duration in ns as `3d 04h 05m` / `4h 05m 06s` / `5.2s`.
pub(crate) fn duration_text(ns: u64) -> String {
    let s = ns / 1_000_000_000;
    let (d, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d {h:02}h {m:02}m")
    } else if h > 0 {
        format!("{h}h {m:02}m {sec:02}s")
    } else if m > 0 {
        format!("{m}m {sec:02}s")
    } else {
        format!("{:.1}s", ns as f64 / 1e9)
    }
}

/// A signed percentage with two decimals (`+5.00%`), or `–` when not finite.
pub(crate) fn pct(x: f64) -> String {
    if x.is_finite() { format!("{:+.2}%", x * 100.0) } else { "–".to_string() }
}
