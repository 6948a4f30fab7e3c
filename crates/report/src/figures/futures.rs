//! Futures 1m candles with EMA21 / EMA55 / VWAP, MACD(12,26,9), open interest and volume.

use std::path::{Path, PathBuf};

use plotters::{coord::Shift, prelude::*};

use super::{Figure, panel, spot};
use crate::{
    Error, Result,
    indicators::{self as ind, Macd},
    records::{Klines, Record, num},
};

pub(crate) const NAME: &str = "fig_futures_candlestick_dashboard";
const OI_FILE: &str = "futures/open_interest_hist.json";

struct Futures {
    symbol: String,
    k: Klines,
    ema21: Vec<f64>,
    ema55: Vec<f64>,
    vwap: Vec<f64>,
    macd: Macd,
    vol_ma: Vec<f64>,
    /// Open interest (time ms, contracts) inside the shown window, if available.
    oi: Option<Vec<(i64, f64)>>,
    caption: Vec<String>,
}

fn open_interest(dir: &Path, k: &Klines) -> Result<(Record, Vec<(i64, f64)>)> {
    let rec = Record::load(dir, OI_FILE)?;
    let origin = || format!("payload {OI_FILE}");
    let rows = rec.payload.as_array().ok_or_else(|| Error::data(origin(), "not an array"))?;
    let mut pts: Vec<(i64, f64)> = rows
        .iter()
        .filter_map(|r| Some((r["timestamp"].as_i64()?, num(&r["sumOpenInterest"])?)))
        .filter(|(t, _)| *t >= k.t[0] && *t <= k.t[k.len() - 1] + 60_000)
        .collect();
    pts.sort_by_key(|p| p.0);
    if pts.is_empty() {
        return Err(Error::data(origin(), "no open interest inside the candle window"));
    }
    Ok((rec, pts))
}

pub(crate) fn draw(dir: &Path, out: &Path, warnings: &mut Vec<String>) -> Result<Vec<PathBuf>> {
    let rec = Record::load(dir, "futures/klines.json")?;
    let all = Klines::parse(&rec)?;
    let (k, s) = spot::tail(&all, spot::SHOWN);
    let m = ind::macd(&all.close, 12, 26, 9);
    let (oi, oi_rec) = match open_interest(dir, &k) {
        Ok((r, pts)) => (Some(pts), Some(r)),
        Err(e) => {
            warnings.push(format!("open interest panel left out: {e}"));
            (None, None)
        }
    };
    let mut sources = vec![&rec];
    sources.extend(oi_rec.as_ref());
    let note = match &oi {
        Some(_) => format!(
            "{} of {} candles shown; indicators on all candles. Open interest: 5m sumOpenInterest.",
            k.len(),
            all.len()
        ),
        None => format!(
            "{} of {} candles shown. Open interest panel left out: {OI_FILE} missing or unusable.",
            k.len(),
            all.len()
        ),
    };
    let fig = Futures {
        symbol: super::symbol_of(&rec),
        ema21: ind::ema(&all.close, 21)[s..].to_vec(),
        ema55: ind::ema(&all.close, 55)[s..].to_vec(),
        vwap: ind::vwap(&all.close, &all.volume)[s..].to_vec(),
        macd: Macd { macd: m.macd[s..].to_vec(), signal: m.signal[s..].to_vec(), hist: m.hist[s..].to_vec() },
        vol_ma: ind::rolling_mean(&all.volume, 20, 1)[s..].to_vec(),
        oi,
        caption: super::caption(&sources, &note),
        k,
    };
    super::render(&fig, out, NAME)
}

impl Figure for Futures {
    fn size(&self) -> (u32, u32) {
        (1800, 1300)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let title = format!(
            "{} USD-M Perpetual 1m Dashboard: EMA21 / EMA55 / VWAP, MACD(12,26,9), Open Interest, Volume",
            self.symbol
        );
        let body = super::frame(root, &title, &self.caption)?;
        let ratios: &[u32] = if self.oi.is_some() { &[14, 5, 4, 5] } else { &[14, 5, 5] };
        let p = super::panels(&body, ratios);
        panel::candles(
            &p[0],
            &self.k,
            &[
                ("EMA 21", &self.ema21, RGBColor(0x00, 0x96, 0x88)),
                ("EMA 55", &self.ema55, RGBColor(0x5E, 0x35, 0xB1)),
                ("VWAP", &self.vwap, RGBColor(0xFF, 0xA7, 0x26)),
            ],
            "Price (USDT)",
        )?;
        // MACD
        let m = &self.macd;
        let y = super::y_range(m.macd.iter().chain(&m.signal).chain(&m.hist), 0.08).unwrap_or(-1.0..1.0);
        let mut c = panel::time_chart(&p[1], panel::bar_range(&self.k.t), y, "MACD", None)?;
        let half = panel::bar_step_ms(&self.k.t) * 4 / 10;
        c.draw_series(self.k.t.iter().zip(&m.hist).filter(|(_, h)| h.is_finite()).map(|(t, h)| {
            let col = if *h >= 0.0 { super::UP } else { super::DOWN };
            Rectangle::new([(super::utc(t - half), 0.0), (super::utc(t + half), *h)], col.mix(0.6).filled())
        }))?
        .label("Histogram")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 18, y + 5)], super::UP.mix(0.6).filled()));
        panel::zero_line(&mut c)?;
        let ts = panel::times(&self.k.t);
        for (label, v, col) in
            [("MACD", &m.macd, RGBColor(0x42, 0xA5, 0xF5)), ("Signal 9", &m.signal, RGBColor(0xEF, 0x6C, 0x00))]
        {
            c.draw_series(LineSeries::new(super::finite(&ts, v), col.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(3)));
        }
        panel::legend(&mut c)?;
        // Open interest
        let mut next = 2;
        if let Some(oi) = &self.oi {
            let y = super::y_range(oi.iter().map(|p| &p.1), 0.1).unwrap_or(0.0..1.0);
            let mut c = panel::time_chart(&p[2], panel::bar_range(&self.k.t), y, "Open interest", None)?;
            let col = RGBColor(0x7E, 0x57, 0xC2);
            c.draw_series(LineSeries::new(oi.iter().map(|(t, v)| (super::utc(*t), *v)), col.stroke_width(2)))?
                .label("Open interest (contracts, 5m)")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], col.stroke_width(3)));
            c.draw_series(oi.iter().map(|(t, v)| Circle::new((super::utc(*t), *v), 3, col.filled())))?;
            panel::legend(&mut c)?;
            next = 3;
        }
        panel::volume(&p[next], &self.k, &self.vol_ma, "Volume MA 20", Some("Open time (UTC)"))?;
        Ok(())
    }
}
