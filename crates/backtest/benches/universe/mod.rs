//! The `universe` group: a year of 1m bars for 100 USDT perpetuals (52.6 M bars), funding
//! every 8 hours at rates differing by instrument, through the equal-weight baseline rebalanced
//! hourly (gross 1× equity at 2× leverage, every delta traded). The bars are generated chunk by
//! chunk by a [`Source`] as the runner asks for them (a seeded random walk per instrument, each
//! with its own tick and step), so memory follows a chunk and the results, as a catalog run's
//! does; the catalog's own reading is not in the figure.
//!
//! `ALPHALAB_BENCH_BARS` sets the bars per instrument (default a year, 525,600),
//! `ALPHALAB_BENCH_INSTRUMENTS` the instruments (default 100).

use std::collections::BTreeMap;

use backtest::{
    engine::{RunOptions, run_source},
    error::Result,
    inputs::Source,
    registry::Registry,
    spec::{RunSpec, StrategySpec},
    venue::{UnknownBrackets, VenueKind, VenueSpec},
};
use data::FundingPayment;
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{Bar, BarType, Data},
    identifiers::InstrumentId,
    instruments::{Instrument, InstrumentAny},
    types::{Price, Quantity},
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

const T0: u64 = 1_735_689_600_000_000_000; // 2025-01-01T00:00:00Z
const M: u64 = 60_000_000_000;
const FUNDING_EVERY: u64 = 8 * 60 * M;

pub fn instruments() -> usize {
    std::env::var("ALPHALAB_BENCH_INSTRUMENTS").ok().map_or(100, |s| s.parse().expect("ALPHALAB_BENCH_INSTRUMENTS"))
}

/// What the child prints.
#[derive(Debug, Serialize, Deserialize)]
pub struct UniverseMeasured {
    pub instruments: usize,
    pub events: u64,
    pub seconds: f64,
    pub fills: usize,
    pub orders: usize,
    pub funding_settlements: usize,
    pub timestamps: u64,
    /// Peak RSS of the run alone.
    pub peak_rss_mb: f64,
    /// Writing the run folder (every table as CSV + Parquet, result.json) afterwards, as
    /// `alphalab backtest` does.
    pub write_seconds: f64,
    pub written_mb: f64,
    /// Peak RSS with the writing.
    pub peak_rss_written_mb: f64,
}

/// (price decimals, size decimals) of instrument `k`, adding up to 4.
fn precisions(k: usize) -> (u8, u8) {
    let pdp = 1 + (k % 4) as u8;
    (pdp, 4 - pdp)
}

/// One instrument's random walk, in ticks.
#[derive(Debug, Clone)]
struct Walk {
    x: u64,
    ticks: i64,
    floor: i64,
}

impl Walk {
    fn step(&mut self) -> (i64, i64) {
        self.x ^= self.x << 13;
        self.x ^= self.x >> 7;
        self.x ^= self.x << 17;
        let open = self.ticks;
        self.ticks = (self.ticks + (self.x % 41) as i64 - 20).max(self.floor);
        (open, self.ticks)
    }
}

/// The universe's bars, generated in time order as the runner reads its chunks.
#[derive(Debug)]
pub struct Universe {
    instruments: Vec<InstrumentAny>,
    bar_types: Vec<BarType>,
    funding: Vec<FundingPayment>,
    walks: Vec<Walk>,
    /// Bars per instrument.
    n: u64,
    /// Index of the next bar every walk is at.
    next: u64,
}

impl Universe {
    pub fn new(k: usize, n: u64) -> Self {
        let instruments: Vec<InstrumentAny> = (0..k)
            .map(|i| {
                let (pdp, sdp) = precisions(i);
                crate::common::perp(&format!("B{i:03}USDT"), pdp, sdp)
            })
            .collect();
        let bar_types =
            instruments.iter().map(|i| BarType::from(format!("{}-1-MINUTE-LAST-EXTERNAL", i.id()).as_str())).collect();
        let walks = (0..k)
            .map(|i| {
                let level = [20_000i64, 15_000, 12_000, 15_000][i % 4] + 37 * i as i64;
                Walk {
                    x: 0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9),
                    ticks: level,
                    floor: level / 4,
                }
            })
            .collect();
        let mut funding = Vec::new();
        let mut ts = T0 + FUNDING_EVERY;
        while ts <= T0 + n * M {
            for (i, inst) in instruments.iter().enumerate() {
                let rate = Decimal::new(i as i64 % 21 - 8, 6); // −0.0008 % to +0.0012 %
                funding.push(FundingPayment {
                    instrument_id: inst.id(),
                    ts: UnixNanos::from(ts),
                    rate,
                    mark_price: None,
                });
            }
            ts += FUNDING_EVERY;
        }
        Self { instruments, bar_types, funding, walks, n, next: 0 }
    }

    pub fn ids(&self) -> Vec<InstrumentId> {
        self.instruments.iter().map(Instrument::id).collect()
    }

    /// First bar index closing at or after `ts`.
    fn index_at(&self, ts: u64) -> u64 {
        ts.saturating_sub(T0).div_ceil(M).saturating_sub(1).min(self.n)
    }
}

impl Source for Universe {
    fn instruments(&self) -> &[InstrumentAny] {
        &self.instruments
    }

    fn funding(&self) -> &[FundingPayment] {
        &self.funding
    }

    fn time_range(&self) -> Option<(u64, u64)> {
        (self.n > 0).then_some((T0 + M, T0 + self.n * M))
    }

    fn events(&self, start: u64, end: u64) -> u64 {
        let (a, b) = (self.index_at(start), self.index_at(end.saturating_add(1)));
        b.saturating_sub(a) * self.instruments.len() as u64
    }

    fn chunk(&mut self, start: u64, end: u64) -> Result<Vec<Vec<Data>>> {
        let (a, b) = (self.index_at(start), self.index_at(end));
        assert!(a >= self.next, "chunks are read in time order");
        let mut streams: Vec<Vec<Data>> = vec![Vec::with_capacity((b - a) as usize); self.instruments.len()];
        for i in self.next..b {
            let ts = UnixNanos::from(T0 + (i + 1) * M);
            for (k, w) in self.walks.iter_mut().enumerate() {
                let (open, close) = w.step();
                if i < a {
                    continue;
                }
                let (pdp, sdp) = precisions(k);
                let px = |t: i64| ticks_price(t, pdp);
                let vol = Quantity::from_decimal_dp(Decimal::from(4_000_000), sdp).expect("volume");
                let bar = Bar::new(
                    self.bar_types[k],
                    px(open),
                    px(open.max(close) + 3),
                    px(open.min(close) - 3),
                    px(close),
                    vol,
                    ts,
                    ts,
                );
                streams[k].push(Data::Bar(bar));
            }
        }
        self.next = b.max(self.next);
        Ok(streams)
    }
}

/// The price of `ticks` ticks of `dp` decimals.
fn ticks_price(ticks: i64, dp: u8) -> Price {
    Price::from_decimal_dp(Decimal::new(ticks, u32::from(dp)), dp).expect("price")
}

pub fn spec(universe: &Universe) -> RunSpec {
    let mut venue = VenueSpec::new(VenueKind::Usdm, BTreeMap::from([("USDT".to_string(), Decimal::from(1_000_000))]));
    venue.leverage = Some(Decimal::TWO);
    venue.unknown_brackets = UnknownBrackets::Generic;
    let params = toml::Value::Table(toml::from_str("every_seconds = 3600\ngross = \"1\"").expect("params"));
    let ids = universe.ids();
    let mut s = RunSpec::new(
        ids.iter().map(ToString::to_string).collect(),
        venue,
        StrategySpec { name: "equal-weight".into(), params },
    );
    s.bar_types = universe.bar_types.iter().map(ToString::to_string).collect();
    s
}

/// Child: runs the scenario and prints a [`UniverseMeasured`] as one JSON line.
pub fn child(bars: u64) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut u = Universe::new(instruments(), bars);
    let s = spec(&u);
    let t = std::time::Instant::now();
    let r = run_source(&s, &mut u, &Registry::with_baselines(), RunOptions::default())?;
    let seconds = t.elapsed().as_secs_f64();
    let peak_rss_mb = crate::parity::peak_rss_mb();
    let dir = crate::parity::workspace().join("target/bench-universe/run");
    let _ = std::fs::remove_dir_all(&dir);
    let t = std::time::Instant::now();
    backtest::output::write_results(&dir, &s, &r)?;
    let write_seconds = t.elapsed().as_secs_f64();
    let written: u64 = std::fs::read_dir(&dir)?.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum();
    let m = UniverseMeasured {
        instruments: instruments(),
        events: r.iterations as u64,
        seconds,
        fills: r.fills.len(),
        orders: r.total_orders,
        funding_settlements: r.funding.len(),
        timestamps: bars,
        peak_rss_mb,
        write_seconds,
        written_mb: written as f64 / 1e6,
        peak_rss_written_mb: crate::parity::peak_rss_mb(),
    };
    println!("{}", serde_json::to_string(&m)?);
    Ok(())
}
