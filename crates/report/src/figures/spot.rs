//! Spot 1m candles (last 720) with SMA20 / EMA55 / VWAP, RSI(14) and volume with MA20.

use std::path::{Path, PathBuf};

use plotters::{coord::Shift, prelude::*};

use super::{Figure, panel};
use crate::{
    Result, indicators as ind,
    records::{Klines, Record},
};

pub(crate) const NAME: &str = "fig_spot_candlestick_dashboard";
/// Candles shown; the indicators are computed on the whole payload first.
pub(crate) const SHOWN: usize = 720;

pub(crate) const SMA: RGBColor = RGBColor(0x1E, 0x88, 0xE5);
pub(crate) const EMA_SLOW: RGBColor = RGBColor(0xD8, 0x1B, 0x60);
pub(crate) const VWAP: RGBColor = RGBColor(0xF9, 0xA8, 0x25);

/// The last `n` rows of `k` and of each indicator column.
pub(crate) fn tail(k: &Klines, n: usize) -> (Klines, usize) {
    let s = k.len().saturating_sub(n);
    let k = Klines {
        t: k.t[s..].to_vec(),
        open: k.open[s..].to_vec(),
        high: k.high[s..].to_vec(),
        low: k.low[s..].to_vec(),
        close: k.close[s..].to_vec(),
        volume: k.volume[s..].to_vec(),
    };
    (k, s)
}

struct Spot {
    symbol: String,
    k: Klines,
    sma20: Vec<f64>,
    ema55: Vec<f64>,
    vwap: Vec<f64>,
    rsi: Vec<f64>,
    vol_ma: Vec<f64>,
    caption: Vec<String>,
}

pub(crate) fn draw(dir: &Path, out: &Path, _warnings: &mut Vec<String>) -> Result<Vec<PathBuf>> {
    let rec = Record::load(dir, "spot/klines.json")?;
    let all = Klines::parse(&rec)?;
    let (k, s) = tail(&all, SHOWN);
    let fig = Spot {
        symbol: super::symbol_of(&rec),
        sma20: ind::sma(&all.close, 20)[s..].to_vec(),
        ema55: ind::ema(&all.close, 55)[s..].to_vec(),
        vwap: ind::vwap(&all.close, &all.volume)[s..].to_vec(),
        rsi: ind::rsi(&all.close, 14)[s..].to_vec(),
        vol_ma: ind::rolling_mean(&all.volume, 20, 1)[s..].to_vec(),
        caption: super::caption(
            &[&rec],
            &format!(
                "{} of {} candles shown; indicators computed on all {} (VWAP = cumulative Σclose·volume / Σvolume from the first candle).",
                k.len(),
                all.len(),
                all.len()
            ),
        ),
        k,
    };
    super::render(&fig, out, NAME)
}

impl Figure for Spot {
    fn size(&self) -> (u32, u32) {
        (1800, 1150)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let title = format!("{} Spot 1m Candlestick Dashboard: SMA20 / EMA55 / VWAP, RSI(14), Volume", self.symbol);
        let body = super::frame(root, &title, &self.caption)?;
        let p = super::panels(&body, &[14, 4, 5]);
        panel::candles(
            &p[0],
            &self.k,
            &[("SMA 20", &self.sma20, SMA), ("EMA 55", &self.ema55, EMA_SLOW), ("VWAP", &self.vwap, VWAP)],
            "Price (USDT)",
        )?;
        let mut rsi = panel::time_chart(&p[1], panel::bar_range(&self.k.t), 0.0..100.0, "RSI (14, Wilder)", None)?;
        panel::hline(&mut rsi, 70.0, super::DOWN)?;
        panel::hline(&mut rsi, 30.0, super::UP)?;
        let c = RGBColor(0x00, 0x89, 0x7B);
        rsi.draw_series(LineSeries::new(super::finite(&panel::times(&self.k.t), &self.rsi), c.stroke_width(2)))?
            .label("RSI 14")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
        panel::legend(&mut rsi)?;
        panel::volume(&p[2], &self.k, &self.vol_ma, "Volume MA 20", Some("Open time (UTC)"))?;
        Ok(())
    }
}
