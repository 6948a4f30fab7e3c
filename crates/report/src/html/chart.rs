//! Inline SVG charts of the reports, drawn with plotters' SVG backend into a `String`: stacked
//! panels over a shared UTC time axis (lines, shaded areas, buy/sell markers), and a bar chart.
//!
//! The browser renders the SVG `<text>` elements with its own sans-serif font; plotters still
//! needs a TrueType font at run time to measure label sizes (the same DejaVu Sans lookup as the
//! snapshot figures).

use std::ops::Range;

use chrono::{DateTime, Utc};
use plotters::prelude::*;

use super::data::Point;
use crate::{
    Result,
    figures::{compact, time_format, utc, y_range},
};

/// An axis label with as many decimals as the tick spacing needs (about six ticks over `span`).
fn tick(v: f64, span: f64) -> String {
    if v.abs() >= 1e7 {
        return compact(v);
    }
    let step = span / 6.0;
    let decimals = if step > 0.0 { (-step.log10()).ceil().clamp(0.0, 8.0) as usize } else { 2 };
    let v = if v.abs() < 0.5 * 10f64.powi(-(decimals as i32)) { 0.0 } else { v };
    format!("{v:.decimals$}")
}

pub(super) const WIDTH: u32 = 1100;
const BG: RGBColor = RGBColor(0xFA, 0xFA, 0xFA);
const GRID: RGBColor = RGBColor(0xDF, 0xE4, 0xEA);
pub(super) const BLUE: RGBColor = RGBColor(0x1E, 0x88, 0xE5);
pub(super) const RED: RGBColor = RGBColor(0xE5, 0x39, 0x35);
pub(super) const GREEN: RGBColor = RGBColor(0x2E, 0x7D, 0x32);
pub(super) const GREY: RGBColor = RGBColor(0x78, 0x90, 0x9C);
pub(super) const ORANGE: RGBColor = RGBColor(0xFB, 0x8C, 0x00);
/// Colours of successive series (instruments, currencies).
pub(super) const PALETTE: [RGBColor; 6] = [
    BLUE,
    ORANGE,
    RGBColor(0x8E, 0x24, 0xAA),
    RGBColor(0x00, 0x89, 0x7B),
    RGBColor(0x6D, 0x4C, 0x41),
    RGBColor(0xD8, 0x1B, 0x60),
];

/// One line of a panel.
#[derive(Debug, Clone)]
pub(super) struct Line {
    pub label: String,
    pub points: Vec<Point>,
    pub colour: RGBColor,
    /// Shade the area between the line and zero.
    pub area: bool,
}

impl Line {
    pub(super) fn new(label: impl Into<String>, points: Vec<Point>, colour: RGBColor) -> Self {
        Self { label: label.into(), points, colour, area: false }
    }
}

/// What a [`Marker`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MarkerKind {
    /// Up triangle.
    Buy,
    /// Down triangle.
    Sell,
    /// Diamond: a position closed by liquidation.
    Liquidation,
}

/// A fill at `(ts, price)`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Marker {
    pub ts: i64,
    pub y: f64,
    pub kind: MarkerKind,
}

/// One panel of a time chart.
#[derive(Debug, Clone, Default)]
pub(super) struct Panel {
    pub y_desc: String,
    pub lines: Vec<Line>,
    pub markers: Vec<Marker>,
    /// Relative height.
    pub weight: u32,
    /// Y labels as percentages of fractions.
    pub percent: bool,
    /// Keep zero inside the y range.
    pub zero: bool,
}

fn at(ns: i64) -> DateTime<Utc> {
    utc(ns.div_euclid(1_000_000))
}

/// Stacked `panels` over the time range `x` (ns), the last one with the UTC time axis.
pub(super) fn time_svg(panels: &[Panel], x: Range<i64>, height: u32) -> Result<String> {
    crate::figures::ensure_font()?;
    let x = if x.end > x.start { x } else { x.start - 60_000_000_000..x.start + 60_000_000_000 };
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let total: u32 = panels.iter().map(|p| p.weight.max(1)).sum();
        let mut acc = 0;
        let breaks: Vec<u32> = panels[..panels.len().saturating_sub(1)]
            .iter()
            .map(|p| {
                acc += p.weight.max(1);
                height * acc / total
            })
            .collect();
        let areas = root.split_by_breakpoints::<u32, u32, _, _>([], breaks);
        for (i, (panel, area)) in panels.iter().zip(&areas).enumerate() {
            draw_panel(area, panel, x.clone(), i + 1 == panels.len())?;
        }
        root.present()?;
    }
    Ok(buf)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    p: &Panel,
    x: Range<i64>,
    time_axis: bool,
) -> Result<()> {
    let mut values: Vec<f64> = p.lines.iter().flat_map(|l| l.points.iter().map(|q| q.1)).collect();
    values.extend(p.markers.iter().map(|m| m.y));
    if p.zero || values.is_empty() {
        values.push(0.0);
    }
    let first = values.iter().copied().find(|v| v.is_finite()).unwrap_or(0.0);
    let y = if values.iter().filter(|v| v.is_finite()).all(|v| *v == first) {
        // A constant series: a readable band around it (±1 around zero).
        let h = if first == 0.0 { 1.0 } else { first.abs() * 0.05 };
        first - h..first + h
    } else {
        y_range(&values, 0.06).unwrap_or(0.0..1.0)
    };
    let y_span = y.end - y.start;
    let span_ms = (x.end - x.start) / 1_000_000;
    let mut chart = ChartBuilder::on(area)
        .margin_right(20)
        .margin_top(8)
        .y_label_area_size(84)
        .x_label_area_size(if time_axis { 46 } else { 4 })
        .build_cartesian_2d(at(x.start)..at(x.end), y)?;
    chart.plotting_area().fill(&BG)?;
    let fmt = time_format(span_ms);
    let time_label = |t: &DateTime<Utc>| if time_axis { t.format(fmt).to_string() } else { String::new() };
    let y_label = |v: &f64| if p.percent { format!("{}%", tick(v * 100.0, y_span * 100.0)) } else { tick(*v, y_span) };
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(GRID.mix(0.5))
        .bold_line_style(GRID)
        .y_desc(p.y_desc.as_str())
        .y_labels(6)
        .y_label_formatter(&y_label)
        .x_labels(10)
        .x_label_formatter(&time_label)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14));
    if time_axis {
        mesh.x_desc("time (UTC)");
    }
    mesh.draw()?;
    let mut labelled = false;
    for l in &p.lines {
        let pts: Vec<(DateTime<Utc>, f64)> =
            l.points.iter().filter(|q| q.1.is_finite()).map(|q| (at(q.0), q.1)).collect();
        let c = l.colour;
        if l.area {
            chart
                .draw_series(AreaSeries::new(pts.iter().copied(), 0.0, c.mix(0.25)).border_style(c.stroke_width(1)))?;
        }
        let anno = chart.draw_series(LineSeries::new(pts, c.stroke_width(2)))?;
        if !l.label.is_empty() {
            anno.label(l.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
            labelled = true;
        }
    }
    for kind in [MarkerKind::Buy, MarkerKind::Sell, MarkerKind::Liquidation] {
        let (c, shape, label): (RGBColor, &[(i32, i32)], &str) = match kind {
            MarkerKind::Buy => (GREEN, &[(0, -6), (-5, 4), (5, 4)], "buy"),
            MarkerKind::Sell => (RED, &[(0, 6), (-5, -4), (5, -4)], "sell"),
            MarkerKind::Liquidation => (BLACK, &[(0, -9), (7, 0), (0, 9), (-7, 0)], "liquidation"),
        };
        let ms: Vec<&Marker> = p.markers.iter().filter(|m| m.kind == kind).collect();
        if ms.is_empty() {
            continue;
        }
        chart
            .draw_series(
                ms.iter().map(|m| EmptyElement::at((at(m.ts), m.y)) + Polygon::new(shape.to_vec(), c.filled())),
            )?
            .label(label)
            .legend(move |(x, y)| {
                Polygon::new(shape.iter().map(|d| (x + 8 + d.0, y + d.1)).collect::<Vec<_>>(), c.filled())
            });
        labelled = true;
    }
    if labelled {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(GRID)
            .label_font(("sans-serif", 13))
            .draw()?;
    }
    Ok(())
}

/// Vertical bars of `values` over the category `labels`, with the axis descriptions (y labels as
/// percentages of fractions when `percent`).
pub(super) fn bar_svg(labels: &[String], values: &[f64], x_desc: &str, y_desc: &str, percent: bool) -> Result<String> {
    crate::figures::ensure_font()?;
    let n = labels.len().max(1);
    let y = y_range(values.iter().chain([0.0].iter()), 0.08).unwrap_or(0.0..1.0);
    let y_span = y.end - y.start;
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (WIDTH, 380)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(20)
            .y_label_area_size(84)
            .x_label_area_size(50)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, y)?;
        chart.plotting_area().fill(&BG)?;
        let x_label = crate::figures::category_label(labels);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(GRID.mix(0.5))
            .bold_line_style(GRID)
            .x_labels(n + 1)
            .x_label_formatter(&x_label)
            .y_label_formatter(&|v| {
                if percent { format!("{}%", tick(v * 100.0, y_span * 100.0)) } else { tick(*v, y_span) }
            })
            .x_desc(x_desc)
            .y_desc(y_desc)
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .draw()?;
        chart.draw_series(values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(i, v)| {
            let c = if *v >= 0.0 { BLUE } else { RED };
            Rectangle::new([(i as f64 - 0.35, 0.0), (i as f64 + 0.35, *v)], c.mix(0.8).filled())
        }))?;
        root.present()?;
    }
    Ok(buf)
}
