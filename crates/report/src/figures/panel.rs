//! Panels shared by the figures: time-axis charts, candles, bars, lines.

use std::ops::Range;

use chrono::{DateTime, Utc};
use plotters::{
    coord::{Shift, types::RangedCoordf64},
    prelude::*,
};

use super::{BG, GRID, Y_LABELS, ZERO, compact, time_format, utc};
use crate::{Result, records::Klines};

pub(crate) type TimeChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedDateTime<DateTime<Utc>>, RangedCoordf64>>;

/// A chart over UTC time `x` and `y`, with a light grid; time labels only when `x_desc` is given.
pub(crate) fn time_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    x: Range<DateTime<Utc>>,
    y: Range<f64>,
    y_desc: &str,
    x_desc: Option<&str>,
) -> Result<TimeChart<'a, DB>> {
    area.fill(&WHITE)?;
    let span_ms = (x.end - x.start).num_milliseconds();
    let mut chart = ChartBuilder::on(area)
        .margin_right(16)
        .margin_top(6)
        .y_label_area_size(Y_LABELS)
        // Room for a secondary axis in every panel, so the plot areas of a figure line up.
        .right_y_label_area_size(Y_LABELS)
        .x_label_area_size(if x_desc.is_some() { 44 } else { 6 })
        .build_cartesian_2d(x, y)?;
    chart.plotting_area().fill(&BG)?;
    let fmt = time_format(span_ms);
    let time_label = |t: &DateTime<Utc>| t.format(fmt).to_string();
    let no_label = |_: &DateTime<Utc>| String::new();
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(GRID.mix(0.5))
        .bold_line_style(GRID)
        .y_desc(y_desc)
        .y_labels(6)
        .y_label_formatter(&|v| compact(*v))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15));
    match x_desc {
        Some(d) => {
            mesh.x_desc(d).x_labels(12).x_label_formatter(&time_label);
        }
        None => {
            mesh.x_labels(12).x_label_formatter(&no_label);
        }
    }
    mesh.draw()?;
    Ok(chart)
}

/// Time range covering the bars that start at `t[0]` and `t[last]`, plus one bar interval.
pub(crate) fn bar_range(t: &[i64]) -> Range<DateTime<Utc>> {
    let step = bar_step_ms(t);
    utc(t[0] - step / 2)..utc(t[t.len() - 1] + step)
}

/// Median spacing of the times (60 s for fewer than 2 points).
pub(crate) fn bar_step_ms(t: &[i64]) -> i64 {
    let mut d: Vec<i64> = t.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0).collect();
    if d.is_empty() {
        return 60_000;
    }
    d.sort_unstable();
    d[d.len() / 2]
}

/// Candles with line overlays `(label, values, colour)`; `k` is already trimmed.
pub(crate) fn candles<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    k: &Klines,
    overlays: &[(&str, &[f64], RGBColor)],
    y_desc: &str,
) -> Result<()> {
    let values = k.high.iter().chain(&k.low).chain(overlays.iter().flat_map(|o| o.1.iter()));
    let y = super::y_range(values, 0.04).unwrap_or(0.0..1.0);
    let mut chart = time_chart(area, bar_range(&k.t), y, y_desc, None)?;
    let (w, _) = chart.plotting_area().dim_in_pixel();
    let width = ((f64::from(w) / k.len() as f64) * 0.7).floor().clamp(1.0, 12.0) as u32;
    chart.draw_series((0..k.len()).map(|i| {
        CandleStick::new(
            utc(k.t[i]),
            k.open[i],
            k.high[i],
            k.low[i],
            k.close[i],
            super::UP.filled(),
            super::DOWN.filled(),
            width,
        )
    }))?;
    for (label, values, colour) in overlays {
        let colour = *colour;
        chart
            .draw_series(LineSeries::new(super::finite(&times(&k.t), values), colour.stroke_width(2)))?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(3)));
    }
    legend(&mut chart)?;
    Ok(())
}

/// Volume bars coloured by candle direction, with a moving average line.
pub(crate) fn volume<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    k: &Klines,
    ma: &[f64],
    ma_label: &str,
    x_desc: Option<&str>,
) -> Result<()> {
    let top = k.volume.iter().chain(ma).copied().filter(|v| v.is_finite()).fold(0.0, f64::max);
    let mut chart = time_chart(area, bar_range(&k.t), 0.0..(top * 1.08).max(1e-9), "Volume", x_desc)?;
    let half = bar_step_ms(&k.t) * 4 / 10;
    chart.draw_series((0..k.len()).map(|i| {
        let c = if k.close[i] >= k.open[i] { super::UP } else { super::DOWN };
        Rectangle::new([(utc(k.t[i] - half), 0.0), (utc(k.t[i] + half), k.volume[i])], c.mix(0.55).filled())
    }))?;
    let c = RGBColor(0x1E, 0x88, 0xE5);
    chart
        .draw_series(LineSeries::new(super::finite(&times(&k.t), ma), c.stroke_width(2)))?
        .label(ma_label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
    legend(&mut chart)?;
    Ok(())
}

/// A horizontal reference line across the chart.
pub(crate) fn hline<DB: DrawingBackend>(chart: &mut TimeChart<'_, DB>, y: f64, colour: RGBColor) -> Result<()> {
    let r = chart.x_range();
    chart.draw_series(DashedLineSeries::new(vec![(r.start, y), (r.end, y)], 6, 4, colour.mix(0.8).stroke_width(1)))?;
    Ok(())
}

/// Zero line in the neutral colour.
pub(crate) fn zero_line<DB: DrawingBackend>(chart: &mut TimeChart<'_, DB>) -> Result<()> {
    hline(chart, 0.0, ZERO)
}

pub(crate) fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(GRID)
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}

pub(crate) fn times(t: &[i64]) -> Vec<DateTime<Utc>> {
    t.iter().map(|t| utc(*t)).collect()
}
