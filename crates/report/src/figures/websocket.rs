//! WebSocket microstructure over the capture: last price, rolling-window volume, event latency and
//! frame size per event, on a seconds scale.

use std::path::{Path, PathBuf};

use plotters::{coord::Shift, prelude::*};

use super::{Figure, compact};
use crate::{
    Error, Result,
    records::{Record, num},
};

pub(crate) const NAME: &str = "fig_websocket_microstructure";
const FILE: &str = "spot/websocket/rolling_window_ticker.json";

struct Event {
    /// Seconds since the first frame was received.
    s: f64,
    price: f64,
    volume: f64,
    latency_ms: f64,
    frame_bytes: f64,
}

/// Axis label, value of an event, drawn as bars (else a line).
type Metric<'a> = (&'a str, &'a dyn Fn(&Event) -> f64, bool);

struct Ws {
    symbol: String,
    start_ns: i64,
    events: Vec<Event>,
    caption: Vec<String>,
}

pub(crate) fn draw(dir: &Path, out: &Path, _warnings: &mut Vec<String>) -> Result<Vec<PathBuf>> {
    let rec = Record::load(dir, FILE)?;
    let origin = || format!("payload {FILE}");
    let frames = rec.payload.as_array().ok_or_else(|| Error::data(origin(), "not a list of frames"))?;
    let mut raw: Vec<(i64, &serde_json::Value, &serde_json::Value)> =
        frames.iter().filter_map(|f| Some((f["received_at_ns"].as_i64()?, f, &f["data"]))).collect();
    raw.sort_by_key(|r| r.0);
    if raw.is_empty() {
        return Err(Error::data(origin(), "no frames captured"));
    }
    let start_ns = raw[0].0;
    let events: Vec<Event> = raw
        .iter()
        .filter_map(|(ns, f, d)| {
            Some(Event {
                s: (ns - start_ns) as f64 / 1e9,
                price: num(&d["c"])?,
                volume: num(&d["v"]).unwrap_or(f64::NAN),
                latency_ms: num(&f["latency_ms"]).unwrap_or(f64::NAN),
                frame_bytes: num(&f["frame_bytes"]).unwrap_or(f64::NAN),
            })
        })
        .collect();
    if events.is_empty() {
        return Err(Error::data(origin(), "no frame has a last price"));
    }
    let symbol = raw.iter().find_map(|r| r.2["s"].as_str()).unwrap_or("?").to_string();
    let window = raw.iter().find_map(|r| r.2["e"].as_str()).unwrap_or("rolling ticker").to_string();
    let note = format!(
        "{} {} events; x = receive time (UTC) in seconds from {}; latency = receive time − event time E.",
        events.len(),
        window,
        super::utc(start_ns / 1_000_000).format("%Y-%m-%d %H:%M:%S%.3f UTC")
    );
    let fig = Ws { symbol, start_ns, caption: super::caption(&[&rec], &note), events };
    super::render(&fig, out, NAME)
}

impl Figure for Ws {
    fn size(&self) -> (u32, u32) {
        (1600, 1150)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        let ev = &self.events;
        let span = ev.last().map_or(1.0, |e| e.s).max(1.0);
        let mut gaps: Vec<f64> = ev.windows(2).map(|w| w[1].s - w[0].s).filter(|g| *g > 0.0).collect();
        gaps.sort_by(f64::total_cmp);
        let step = gaps.get(gaps.len() / 2).copied().unwrap_or(1.0);
        let half = step * 0.35;
        let x = -step * 0.6..span + step * 0.6;
        let title = format!("{} WebSocket Microstructure: {} frames over {:.1} s", self.symbol, ev.len(), span);
        let body = super::frame(root, &title, &self.caption)?;
        let p = super::panels(&body, &[5, 3, 3, 3]);
        let start = super::utc(self.start_ns / 1_000_000);
        let fmt_x =
            |v: &f64| (start + chrono::Duration::milliseconds((v * 1000.0) as i64)).format("%H:%M:%S%.3f").to_string();
        let ups: Vec<bool> = std::iter::once(true).chain(ev.windows(2).map(|w| w[1].price >= w[0].price)).collect();

        let panels: [Metric<'_>; 4] = [
            ("Last price (USDT)", &|e| e.price, false),
            ("Rolling-window volume", &|e| e.volume, true),
            ("Event latency (ms)", &|e| e.latency_ms, true),
            ("Frame size (bytes)", &|e| e.frame_bytes, true),
        ];
        for (i, (desc, get, bars)) in panels.iter().enumerate() {
            let vals: Vec<f64> = ev.iter().map(get).collect();
            let y = if *bars {
                let top = vals.iter().copied().filter(|v| v.is_finite()).fold(0.0, f64::max);
                0.0..(top * 1.12).max(1e-9)
            } else {
                super::y_range(&vals, 0.15).unwrap_or(0.0..1.0)
            };
            let last = i == panels.len() - 1;
            let mut c = ChartBuilder::on(&p[i])
                .margin_right(16)
                .margin_top(6)
                .y_label_area_size(super::Y_LABELS)
                .x_label_area_size(if last { 44 } else { 6 })
                .build_cartesian_2d(x.clone(), y)?;
            c.plotting_area().fill(&super::BG)?;
            let blank = |_: &f64| String::new();
            c.configure_mesh()
                .bold_line_style(super::GRID)
                .light_line_style(super::GRID.mix(0.4))
                .x_labels(12)
                .x_label_formatter(if last { &fmt_x } else { &blank })
                .x_desc(if last { "Receive time (UTC)" } else { "" })
                .y_desc(*desc)
                .y_labels(5)
                .y_label_formatter(&|v| if *bars { compact(*v) } else { format!("{v:.2}") })
                .label_style(("sans-serif", 14))
                .axis_desc_style(("sans-serif", 15))
                .draw()?;
            let colour = |k: usize| if ups[k] { super::UP } else { super::DOWN };
            if *bars {
                c.draw_series(ev.iter().enumerate().filter(|(_, e)| get(e).is_finite()).map(|(k, e)| {
                    Rectangle::new([(e.s - half, 0.0), (e.s + half, get(e))], colour(k).mix(0.65).filled())
                }))?;
            } else {
                let col = RGBColor(0x1E, 0x88, 0xE5);
                c.draw_series(LineSeries::new(ev.iter().map(|e| (e.s, e.price)), col.stroke_width(2)))?;
                c.draw_series(ev.iter().enumerate().map(|(k, e)| Circle::new((e.s, e.price), 4, colour(k).filled())))?;
            }
        }
        Ok(())
    }
}
