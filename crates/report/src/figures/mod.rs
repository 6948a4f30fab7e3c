//! The five legacy snapshot figures, each written as PNG and SVG to `OUTPUT_DIR/figures/`.

mod basis;
mod correlation;
mod futures;
mod panel;
mod spot;
mod websocket;

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

use chrono::{DateTime, TimeZone, Utc};
use plotters::{
    coord::Shift,
    prelude::*,
    style::{FontStyle, register_font},
};

use crate::{Error, Result};

/// What happened to one figure.
#[derive(Debug, Clone, PartialEq)]
pub struct FigureOutcome {
    /// Legacy file stem, e.g. `fig_spot_candlestick_dashboard`.
    pub name: &'static str,
    /// The `.png` and `.svg` written (empty when skipped).
    pub files: Vec<PathBuf>,
    /// Why the figure was not drawn (missing or unusable payload, drawing error).
    pub skipped: Option<String>,
    /// Parts left out of a drawn figure (e.g. the open-interest panel without its payload).
    pub warnings: Vec<String>,
}

impl FigureOutcome {
    /// Whether both files were written.
    #[must_use]
    pub fn drawn(&self) -> bool {
        self.skipped.is_none()
    }
}

/// Draws one figure from the snapshot folder into the figures folder, pushing warnings.
type DrawFn = fn(&Path, &Path, &mut Vec<String>) -> Result<Vec<PathBuf>>;

/// Figure names in drawing order.
pub const FIGURES: [&str; 5] = [spot::NAME, futures::NAME, basis::NAME, correlation::NAME, websocket::NAME];

/// Draws the five figures of the snapshot in `dir` into `dir/figures/` (PNG + SVG each).
///
/// A missing or unusable input payload skips only the figures that need it (with a `log::warn!`
/// naming the payload); optional inputs (open interest, mark/index price klines, funding history)
/// only drop their panel or line, with a warning recorded in [`FigureOutcome::warnings`].
///
/// # Errors
/// Only when nothing can be drawn at all: the output folder cannot be created or no font is found.
pub fn snapshot_figures(dir: &Path) -> Result<Vec<FigureOutcome>> {
    ensure_font()?;
    let out = dir.join("figures");
    std::fs::create_dir_all(&out).map_err(Error::io(&out))?;
    let jobs: [(&'static str, DrawFn); 5] = [
        (spot::NAME, spot::draw),
        (futures::NAME, futures::draw),
        (basis::NAME, basis::draw),
        (correlation::NAME, correlation::draw),
        (websocket::NAME, websocket::draw),
    ];
    let mut outcomes = Vec::new();
    for (name, job) in jobs {
        let mut warnings = Vec::new();
        let outcome = match job(dir, &out, &mut warnings) {
            Ok(files) => {
                for w in &warnings {
                    log::warn!("{name}: {w}");
                }
                log::info!(
                    "figure {name}: {}",
                    files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
                );
                FigureOutcome { name, files, skipped: None, warnings }
            }
            Err(e) => {
                log::warn!("skipping figure {name}: {e}");
                FigureOutcome { name, files: Vec::new(), skipped: Some(e.to_string()), warnings }
            }
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

// ---------------------------------------------------------------------------------------------
// Fonts

/// Font files tried in order after `ALPHALAB_REPORT_FONT`.
const FONT_CANDIDATES: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", // Debian/Ubuntu: fonts-dejavu-core
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",          // Fedora
    "/usr/share/fonts/TTF/DejaVuSans.ttf",             // Arch
    "/usr/local/share/fonts/DejaVuSans.ttf",
];

/// X-axis label formatter of a bar chart with bars at 0, 1, 2, ...: the bar's label at whole
/// positions, nothing in between.
pub(crate) fn category_label(labels: &[String]) -> impl Fn(&f64) -> String + '_ {
    move |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            labels.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    }
}

/// Registers the font once per process (the figures and the HTML report charts share it).
pub(crate) fn ensure_font() -> Result<()> {
    // The message, not the error, is cached: `Error` is not `Clone`.
    static FONT: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let env = std::env::var("ALPHALAB_REPORT_FONT").ok();
        let candidates = env.iter().map(String::as_str).chain(FONT_CANDIDATES);
        for path in candidates {
            let Ok(bytes) = std::fs::read(path) else { continue };
            // Registered once per process for the life of the process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            let mut ok = true;
            for family in ["sans-serif", "serif", "monospace"] {
                for style in [FontStyle::Normal, FontStyle::Bold, FontStyle::Italic, FontStyle::Oblique] {
                    ok &= register_font(family, style, bytes).is_ok();
                }
            }
            if ok {
                log::debug!("figures: font {path}");
                return Ok(());
            }
        }
        Err(format!(
            "no TrueType font for the figures: install the Debian package fonts-dejavu-core or set \
             ALPHALAB_REPORT_FONT to a .ttf file (tried {})",
            FONT_CANDIDATES.join(", ")
        ))
    })
    .clone()
    .map_err(Error::Font)
}

// ---------------------------------------------------------------------------------------------
// Rendering both backends

/// A figure that draws onto any backend.
trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

/// Writes `out/<name>.png` and `out/<name>.svg`.
fn render(fig: &impl Figure, out: &Path, name: &str) -> Result<Vec<PathBuf>> {
    let png = out.join(format!("{name}.png"));
    let svg = out.join(format!("{name}.svg"));
    {
        let root = BitMapBackend::new(&png, fig.size()).into_drawing_area();
        fig.draw(&root).map_err(|e| e.at(format!("drawing {}", png.display())))?;
        root.present().map_err(|e| Error::from(e).at(format!("writing {}", png.display())))?;
    }
    {
        let root = SVGBackend::new(&svg, fig.size()).into_drawing_area();
        fig.draw(&root).map_err(|e| e.at(format!("drawing {}", svg.display())))?;
        root.present().map_err(|e| Error::from(e).at(format!("writing {}", svg.display())))?;
    }
    Ok(vec![png, svg])
}

// ---------------------------------------------------------------------------------------------
// Shared look

pub(crate) const BG: RGBColor = RGBColor(0xFA, 0xFA, 0xFA);
pub(crate) const GRID: RGBColor = RGBColor(0xDF, 0xE4, 0xEA);
pub(crate) const UP: RGBColor = RGBColor(0x26, 0xA6, 0x9A);
pub(crate) const DOWN: RGBColor = RGBColor(0xEF, 0x53, 0x50);
pub(crate) const ZERO: RGBColor = RGBColor(0x90, 0xA4, 0xAE);
pub(crate) const CAPTION: RGBColor = RGBColor(0x4A, 0x4A, 0x4A);

/// Width of the y-label area, equal in every panel so that the plot areas line up.
pub(crate) const Y_LABELS: u32 = 90;

/// Fills the background, draws the title at the top and the caption lines at the bottom, and
/// returns the area between them.
fn frame<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    caption: &[String],
) -> Result<DrawingArea<DB, Shift>> {
    root.fill(&WHITE)?;
    let (_, h) = root.dim_in_pixel();
    let cap_h = 16 * caption.len() as u32 + 10;
    let (top, footer) = root.split_vertically(h - cap_h);
    for (i, line) in caption.iter().enumerate() {
        footer.draw_text(line, &("sans-serif", 13).into_font().color(&CAPTION), (12, 4 + 16 * i as i32))?;
    }
    let body = top.titled(title, ("sans-serif", 24))?;
    Ok(body.margin(0, 0, 8, 16))
}

/// Splits `area` vertically in proportion to `ratios`.
fn panels<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, ratios: &[u32]) -> Vec<DrawingArea<DB, Shift>> {
    let (_, h) = area.dim_in_pixel();
    let total: u32 = ratios.iter().sum::<u32>().max(1);
    let mut acc = 0;
    let breaks: Vec<u32> = ratios[..ratios.len().saturating_sub(1)]
        .iter()
        .map(|r| {
            acc += r;
            h * acc / total
        })
        .collect();
    area.split_by_breakpoints::<u32, u32, _, _>([], breaks)
}

/// Milliseconds since the epoch as a UTC time (the epoch for out-of-range values).
pub(crate) fn utc(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Minimum and maximum of the finite values, padded by `pad` of the span (or of the value when flat).
pub(crate) fn y_range<'a>(values: impl IntoIterator<Item = &'a f64>, pad: f64) -> Option<std::ops::Range<f64>> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    if !lo.is_finite() {
        return None;
    }
    let span = if hi > lo { hi - lo } else { lo.abs().max(1.0) * 0.01 };
    Some(lo - pad * span..hi + pad * span)
}

/// Points with a finite value, for line series.
pub(crate) fn finite<X: Copy>(x: &[X], y: &[f64]) -> Vec<(X, f64)> {
    x.iter().zip(y).filter(|(_, v)| v.is_finite()).map(|(x, v)| (*x, *v)).collect()
}

/// Compact number for axis labels: 1.2M, 35.0K, 0.0012.
pub(crate) fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.2}B", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}K", v / 1e3)
    } else if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// Caption lines: data sources and the figure's own notes.
pub(crate) fn caption(sources: &[&crate::records::Record], note: &str) -> Vec<String> {
    let mut lines: Vec<String> = sources.iter().map(|r| format!("Source: {}", r.cite())).collect();
    if !note.is_empty() {
        lines.push(note.to_string());
    }
    lines
}

/// Axis label format for a time span in ms.
pub(crate) fn time_format(span_ms: i64) -> &'static str {
    if span_ms > 3 * 86_400_000 {
        "%m-%d"
    } else if span_ms > 86_400_000 {
        "%m-%d %H:%M"
    } else {
        "%H:%M"
    }
}

/// The `symbol` (or `pair`) request parameter of a record, or `BTCUSDT` style fallback `"?"`.
pub(crate) fn symbol_of(rec: &crate::records::Record) -> String {
    for key in ["symbol=", "pair="] {
        if let Some(q) = rec.query.as_deref()
            && let Some(v) = q.split('&').find_map(|kv| kv.strip_prefix(key))
        {
            return v.to_string();
        }
    }
    "?".to_string()
}
