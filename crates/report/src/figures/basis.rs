//! Basis diagnostics: futures − spot close in bps on shared open times with its 60-bar rolling
//! mean, 15-minute means of basis and mark/index premium, and funding rates on their own time axis.

use std::path::{Path, PathBuf};

use plotters::{coord::Shift, prelude::*};

use super::{Figure, panel};
use crate::{
    Error, Result,
    indicators::{self as ind, Bucketed},
    records::{Klines, Record, join, num},
};

pub(crate) const NAME: &str = "fig_basis_diagnostics";
const FIFTEEN_MIN: i64 = 15 * 60_000;

struct Basis {
    symbol: String,
    t: Vec<i64>,
    bps: Vec<f64>,
    rolling: Vec<f64>,
    basis_15m: Bucketed,
    premium_15m: Option<Bucketed>,
    /// (funding time ms, rate in bps).
    funding: Option<Vec<(i64, f64)>>,
    caption: Vec<String>,
}

fn premium(dir: &Path) -> Result<(Vec<Record>, Bucketed)> {
    let mark = Record::load(dir, "futures/mark_price_klines.json")?;
    let index = Record::load(dir, "futures/index_price_klines.json")?;
    let (m, i) = (Klines::parse(&mark)?, Klines::parse(&index)?);
    let (t, mc, ic) = join(&m.t, &m.close, &i.t, &i.close);
    if t.is_empty() {
        return Err(Error::data(
            "payloads futures/mark_price_klines.json and futures/index_price_klines.json",
            "no shared open time",
        ));
    }
    let pct: Vec<f64> = mc.iter().zip(&ic).map(|(m, i)| (m / i - 1.0) * 100.0).collect();
    Ok((vec![mark, index], ind::resample_mean(&t, &pct, FIFTEEN_MIN)))
}

fn funding(dir: &Path) -> Result<(Record, Vec<(i64, f64)>)> {
    let rec = Record::load(dir, "futures/funding_rate_history.json")?;
    let mut pts: Vec<(i64, f64)> = rec
        .payload
        .as_array()
        .map(|rows| {
            rows.iter().filter_map(|r| Some((r["fundingTime"].as_i64()?, num(&r["fundingRate"])? * 10_000.0))).collect()
        })
        .unwrap_or_default();
    pts.sort_by_key(|p| p.0);
    if pts.is_empty() {
        return Err(Error::data("payload futures/funding_rate_history.json", "holds no funding rate"));
    }
    Ok((rec, pts))
}

pub(crate) fn draw(dir: &Path, out: &Path, warnings: &mut Vec<String>) -> Result<Vec<PathBuf>> {
    let spot_rec = Record::load(dir, "spot/klines.json")?;
    let fut_rec = Record::load(dir, "futures/klines.json")?;
    let (s, f) = (Klines::parse(&spot_rec)?, Klines::parse(&fut_rec)?);
    let (t, sc, fc) = join(&s.t, &s.close, &f.t, &f.close);
    if t.len() < 2 {
        return Err(Error::data("payloads spot/klines.json and futures/klines.json", "fewer than 2 shared open times"));
    }
    let bps: Vec<f64> = sc.iter().zip(&fc).map(|(s, f)| (f - s) / s * 10_000.0).collect();
    let mut sources = vec![spot_rec, fut_rec];
    let premium_15m = match premium(dir) {
        Ok((recs, b)) => {
            sources.extend(recs);
            Some(b)
        }
        Err(e) => {
            warnings.push(format!("premium line left out: {e}"));
            None
        }
    };
    let funding = match funding(dir) {
        Ok((rec, pts)) => {
            sources.push(rec);
            Some(pts)
        }
        Err(e) => {
            warnings.push(format!("funding panel left out: {e}"));
            None
        }
    };
    let fig = Basis {
        symbol: super::symbol_of(&sources[1]),
        rolling: ind::rolling_mean(&bps, 60, 1),
        basis_15m: ind::resample_mean(&t, &bps, FIFTEEN_MIN),
        premium_15m,
        funding,
        caption: super::caption(
            &sources.iter().collect::<Vec<_>>(),
            "Basis = (futures close − spot close) / spot close on shared 1m open times; premium = mark / index − 1 \
             (mark and index price klines); funding on its own time axis.",
        ),
        t,
        bps,
    };
    super::render(&fig, out, NAME)
}

impl Figure for Basis {
    fn size(&self) -> (u32, u32) {
        (1800, 1300)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let title = format!("{} Spot vs USD-M Perpetual Basis Diagnostics", self.symbol);
        let body = super::frame(root, &title, &self.caption)?;
        let ratios: &[u32] = if self.funding.is_some() { &[6, 5, 4] } else { &[6, 5] };
        let p = super::panels(&body, ratios);
        let x = panel::bar_range(&self.t);
        let ts = panel::times(&self.t);

        // 1: basis per minute and 60-bar mean.
        let y = super::y_range(self.bps.iter().chain(&[0.0]), 0.08).unwrap_or(-1.0..1.0);
        let mut c = panel::time_chart(&p[0], x.clone(), y, "Basis (bps)", None)?;
        let col = RGBColor(0x39, 0x49, 0xAB);
        c.draw_series(AreaSeries::new(super::finite(&ts, &self.bps), 0.0, col.mix(0.12)))?;
        panel::zero_line(&mut c)?;
        c.draw_series(LineSeries::new(super::finite(&ts, &self.bps), col.stroke_width(1)))?
            .label("Basis, 1m (bps)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(3)));
        let col = RGBColor(0xF4, 0x51, 0x1E);
        c.draw_series(LineSeries::new(super::finite(&ts, &self.rolling), col.stroke_width(2)))?
            .label("Basis, 60-bar rolling mean")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(3)));
        panel::legend(&mut c)?;

        // 2: 15-minute means, basis (bps, left) and premium (%, right).
        let b = &self.basis_15m;
        let y = super::y_range(b.v.iter().chain(&[0.0]), 0.1).unwrap_or(-1.0..1.0);
        let x_desc =
            if self.funding.is_some() { Some("Open time (UTC), 15-minute buckets") } else { Some("Open time (UTC)") };
        let c = panel::time_chart(&p[1], x.clone(), y, "Basis, 15m mean (bps)", x_desc)?;
        let prem = self.premium_15m.as_ref().filter(|p| !p.v.is_empty());
        let y2 = prem.and_then(|p| super::y_range(p.v.iter().chain(&[0.0]), 0.1)).unwrap_or(-1.0..1.0);
        let mut c = c.set_secondary_coord(x, y2);
        c.configure_secondary_axes()
            .y_desc("Premium, 15m mean (%)")
            .y_label_formatter(&|v| format!("{v:.4}"))
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .draw()?;
        let col = RGBColor(0x6D, 0x4C, 0x41);
        let bt = panel::times(&b.t);
        c.draw_series(LineSeries::new(super::finite(&bt, &b.v), col.stroke_width(2)))?
            .label("Basis 15m mean (bps, left)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(3)));
        c.draw_series(bt.iter().zip(&b.v).map(|(t, v)| Circle::new((*t, *v), 3, col.filled())))?;
        if let Some(p) = prem {
            let col = RGBColor(0x00, 0x79, 0x6B);
            let pt = panel::times(&p.t);
            c.draw_secondary_series(DashedLineSeries::new(super::finite(&pt, &p.v), 8, 4, col.stroke_width(2)))?
                .label("Premium mark/index 15m mean (%, right)")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(3)));
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(super::GRID)
            .label_font(("sans-serif", 14))
            .draw()?;

        // 3: funding rates, own time axis.
        if let Some(f) = &self.funding {
            let area = p[2].margin(24, 0, 0, 0);
            let ft: Vec<i64> = f.iter().map(|p| p.0).collect();
            let y = super::y_range(f.iter().map(|p| &p.1).chain(&[0.0]), 0.1).unwrap_or(-1.0..1.0);
            let mut c = panel::time_chart(
                &area,
                panel::bar_range(&ft),
                y,
                "Funding (bps)",
                Some("Funding time (UTC), own axis"),
            )?;
            let half = panel::bar_step_ms(&ft) * 3 / 10;
            c.draw_series(f.iter().map(|(t, r)| {
                let col = if *r >= 0.0 { super::UP } else { super::DOWN };
                Rectangle::new([(super::utc(t - half), 0.0), (super::utc(t + half), *r)], col.mix(0.8).filled())
            }))?
            .label(format!("Funding rate per interval (bps), {} settlements", f.len()))
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], super::UP.filled()));
            panel::zero_line(&mut c)?;
            panel::legend(&mut c)?;
        }
        Ok(())
    }
}
