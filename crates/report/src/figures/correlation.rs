//! Correlation and beta (futures on spot) of log returns at 1m, 5m, 15m and 1h.

use std::path::{Path, PathBuf};

use plotters::{coord::Shift, prelude::*};

use super::Figure;
use crate::{
    Error, Result,
    indicators::{self as ind, CoMovement},
    records::{Klines, Record},
};

pub(crate) const NAME: &str = "fig_timescale_correlation_beta";
const SCALES: [(&str, i64); 4] = [("1m", 60_000), ("5m", 300_000), ("15m", 900_000), ("1h", 3_600_000)];

struct Corr {
    symbol: String,
    rows: Vec<(&'static str, CoMovement)>,
    caption: Vec<String>,
}

pub(crate) fn draw(dir: &Path, out: &Path, warnings: &mut Vec<String>) -> Result<Vec<PathBuf>> {
    let spot_rec = Record::load(dir, "spot/klines.json")?;
    let fut_rec = Record::load(dir, "futures/klines.json")?;
    let (s, f) = (Klines::parse(&spot_rec)?, Klines::parse(&fut_rec)?);
    let mut rows = Vec::new();
    for (label, ms) in SCALES {
        match ind::comovement(&s.t, &s.close, &f.t, &f.close, ms) {
            Some(c) => rows.push((label, c)),
            None => warnings.push(format!("{label}: fewer than 2 shared log returns, left out")),
        }
    }
    if rows.is_empty() {
        return Err(Error::data(
            "payloads spot/klines.json and futures/klines.json",
            "too few shared buckets for any time scale",
        ));
    }
    let fig = Corr {
        symbol: super::symbol_of(&fut_rec),
        rows,
        caption: super::caption(
            &[&spot_rec, &fut_rec],
            "Last close per bucket, buckets present in both series, log returns between consecutive shared buckets; \
             beta = cov(futures, spot) / var(spot).",
        ),
    };
    super::render(&fig, out, NAME)
}

impl Figure for Corr {
    fn size(&self) -> (u32, u32) {
        (1600, 800)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let title = format!("{}: spot vs USD-M perpetual co-movement across time scales (log returns)", self.symbol);
        let body = super::frame(root, &title, &self.caption)?;
        let (w, _) = body.dim_in_pixel();
        let (left, right) = body.split_horizontally(w / 2);
        let corr: Vec<f64> = self.rows.iter().map(|r| r.1.corr).collect();
        let beta: Vec<f64> = self.rows.iter().map(|r| r.1.beta).collect();
        let lo = corr.iter().copied().filter(|v| v.is_finite()).fold(1.0, f64::min);
        let corr_lo = if lo > 0.8 { 0.8 } else { (lo * 10.0).floor() / 10.0 - 0.05 }.max(-1.05);
        self.bars(&left, "Correlation", &corr, corr_lo..1.02, RGBColor(0x1E, 0x88, 0xE5))?;
        let (blo, bhi) =
            beta.iter().copied().filter(|v| v.is_finite()).fold((1.0f64, 1.0f64), |(a, b), v| (a.min(v), b.max(v)));
        let pad = ((bhi - blo) * 0.15).max(0.05);
        self.bars(
            &right,
            "Beta (futures on spot)",
            &beta,
            (blo - pad).min(0.8)..bhi + pad,
            RGBColor(0xF4, 0x51, 0x1E),
        )?;
        Ok(())
    }
}

impl Corr {
    fn bars<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        desc: &str,
        values: &[f64],
        y: std::ops::Range<f64>,
        col: RGBColor,
    ) -> Result<()> {
        let n = self.rows.len();
        let labels: Vec<String> = self.rows.iter().map(|(l, c)| format!("{l} (n={})", c.n)).collect();
        let mut chart = ChartBuilder::on(area)
            .margin(16)
            .caption(desc, ("sans-serif", 20))
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, y.clone())?;
        chart.plotting_area().fill(&super::BG)?;
        let label_of = super::category_label(&labels);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .bold_line_style(super::GRID)
            .light_line_style(super::GRID.mix(0.4))
            .x_labels(n + 1)
            .x_label_formatter(&label_of)
            .x_desc("Time scale (shared buckets − 1 = return pairs)")
            .y_desc(desc)
            .y_label_formatter(&|v| format!("{v:.3}"))
            .label_style(("sans-serif", 15))
            .draw()?;
        chart.draw_series(values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(i, v)| {
            let x = i as f64;
            Rectangle::new([(x - 0.32, y.start), (x + 0.32, *v)], col.mix(0.75).filled())
        }))?;
        chart.draw_series(
            values
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, v)| Text::new(format!("{v:.4}"), (i as f64 - 0.15, *v), ("sans-serif", 16).into_font())),
        )?;
        chart.draw_series(DashedLineSeries::new(
            vec![(-0.5, 1.0), (n as f64 - 0.5, 1.0)],
            6,
            4,
            super::ZERO.stroke_width(1),
        ))?;
        Ok(())
    }
}
