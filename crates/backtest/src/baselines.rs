//! Baseline Alphas for tests and benchmarks: [`BuyAndHold`], [`TargetsFromFile`] (any number of
//! instruments) and the cross-sectional [`EqualWeight`], plus their registry constructors
//! (params from the run file's `[strategy.params]`).

use std::{collections::BTreeMap, path::Path, str::FromStr};

use nautilus_core::UnixNanos;
use nautilus_model::identifiers::InstrumentId;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::alpha::{Alpha, AlphaResult, Context, MarketEvent, Schedule, Slice, Target};

/// How much [`BuyAndHold`] buys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// A base quantity.
    Quantity(Decimal),
    /// A fraction of equity at the first price seen.
    Fraction(Decimal),
}

/// Buys once, on the first event that gives the instrument a price (and equity, for
/// [`Size::Fraction`]), and holds.
#[derive(Debug, Clone)]
pub struct BuyAndHold {
    pub instrument_id: InstrumentId,
    pub size: Size,
    target: Option<Target>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuyAndHoldParams {
    instrument_id: String,
    quantity: Option<Decimal>,
    fraction: Option<Decimal>,
}

impl BuyAndHold {
    #[must_use]
    pub fn new(instrument_id: InstrumentId, size: Size) -> Self {
        Self { instrument_id, size, target: None }
    }

    /// From params `{ instrument_id = "...", quantity = "0.01" }` or `{ ..., fraction = "0.5" }`.
    ///
    /// # Errors
    /// Unknown keys, or not exactly one of `quantity` / `fraction`.
    pub fn from_params(params: &toml::Value) -> AlphaResult<Box<dyn Alpha>> {
        let p: BuyAndHoldParams =
            params.clone().try_into().map_err(|e| format!("strategy.params (buy-and-hold): {e}"))?;
        let size = match (p.quantity, p.fraction) {
            (Some(q), None) => Size::Quantity(q),
            (None, Some(f)) => Size::Fraction(f),
            _ => return Err("strategy.params (buy-and-hold): set exactly one of `quantity`, `fraction`".into()),
        };
        let id = InstrumentId::from_str(&p.instrument_id).map_err(|e| format!("strategy.params.instrument_id: {e}"))?;
        Ok(Box::new(Self::new(id, size)))
    }
}

impl Alpha for BuyAndHold {
    fn on_event(&mut self, _ev: &MarketEvent<'_>, ctx: &Context) -> AlphaResult<()> {
        if self.target.is_none() && ctx.last_price(&self.instrument_id).is_some() {
            self.target = match self.size {
                Size::Quantity(q) => Some(Target { instrument_id: self.instrument_id, quantity: q }),
                Size::Fraction(f) => ctx.target_fraction(self.instrument_id, f),
            };
        }
        Ok(())
    }

    fn targets(&mut self, _ctx: &Context) -> AlphaResult<Vec<Target>> {
        Ok(self.target.into_iter().collect())
    }
}

/// One row of a targets file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRow {
    pub ts: UnixNanos,
    pub target: Target,
}

/// Replays timestamped target positions, any number of instruments: each row applies once
/// `ts <= clock`; the latest row per instrument is held (returned on every call, once per
/// timestamp).
#[derive(Debug, Clone)]
pub struct TargetsFromFile {
    rows: Vec<TargetRow>,
    next: usize,
    current: BTreeMap<InstrumentId, Decimal>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsParams {
    path: String,
}

impl TargetsFromFile {
    /// From rows (any order; stable-sorted by ts).
    #[must_use]
    pub fn new(mut rows: Vec<TargetRow>) -> Self {
        rows.sort_by_key(|r| r.ts);
        Self { rows, next: 0, current: BTreeMap::new() }
    }

    /// Parses CSV text: header `ts,instrument_id,target`, `ts` in UNIX ns, `target` a signed
    /// decimal base quantity.
    ///
    /// # Errors
    /// A wrong header or a bad field, naming the line.
    pub fn parse_csv(text: &str) -> Result<Vec<TargetRow>, String> {
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let (_, header) = lines.next().ok_or("targets file is empty")?;
        if header.trim() != "ts,instrument_id,target" {
            return Err("targets header must be `ts,instrument_id,target`".into());
        }
        lines
            .map(|(n, l)| {
                let n = n + 1;
                let f: Vec<&str> = l.split(',').map(str::trim).collect();
                if f.len() != 3 {
                    return Err(format!("line {n}: expected 3 columns, got {}", f.len()));
                }
                let ts = f[0].parse::<u64>().map_err(|e| format!("line {n}: ts {:?}: {e}", f[0]))?;
                let id =
                    InstrumentId::from_str(f[1]).map_err(|e| format!("line {n}: instrument_id {:?}: {e}", f[1]))?;
                let q = Decimal::from_str(f[2]).map_err(|e| format!("line {n}: target {:?}: {e}", f[2]))?;
                Ok(TargetRow { ts: UnixNanos::from(ts), target: Target { instrument_id: id, quantity: q } })
            })
            .collect()
    }

    /// From a CSV file.
    ///
    /// # Errors
    /// I/O or [`Self::parse_csv`] errors, naming the path.
    pub fn from_path(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        Ok(Self::new(Self::parse_csv(&text).map_err(|e| format!("{}: {e}", path.display()))?))
    }

    /// From params `{ path = "targets.csv" }`.
    ///
    /// # Errors
    /// Unknown keys, or the file errors.
    pub fn from_params(params: &toml::Value) -> AlphaResult<Box<dyn Alpha>> {
        let p: TargetsParams =
            params.clone().try_into().map_err(|e| format!("strategy.params (targets-from-file): {e}"))?;
        Ok(Box::new(Self::from_path(Path::new(&p.path))?))
    }
}

impl Alpha for TargetsFromFile {
    fn on_event(&mut self, _ev: &MarketEvent<'_>, _ctx: &Context) -> AlphaResult<()> {
        Ok(())
    }

    /// Once per timestamp: a row stamped `t` for any instrument is traded after every event of
    /// `t`, at that instrument's price of `t` (per event, a row applied on another instrument's
    /// earlier event of `t` would fill at this one's previous price).
    fn schedule(&self) -> Schedule {
        Schedule::EveryTimestamp
    }

    fn targets(&mut self, ctx: &Context) -> AlphaResult<Vec<Target>> {
        while let Some(r) = self.rows.get(self.next).filter(|r| r.ts <= ctx.now) {
            self.current.insert(r.target.instrument_id, r.target.quantity);
            self.next += 1;
        }
        Ok(self.current.iter().map(|(id, q)| Target { instrument_id: *id, quantity: *q }).collect())
    }
}

/// An equal-weight universe, long only, rebalanced at every `every_seconds` boundary (the first
/// timestamp in each interval): `gross` × equity split evenly over the instruments present at
/// that timestamp (of `instruments`, default every loaded one), at their last prices. Missing and
/// delisted instruments keep their position (a delisted one has none); between rebalances it
/// asks for nothing, so an order capped by the simulated liquidity completes at the next one.
/// One call per timestamp ([`Schedule::EveryTimestamp`]).
#[derive(Debug, Clone)]
pub struct EqualWeight {
    every_ns: u64,
    gross: Decimal,
    instruments: Option<Vec<InstrumentId>>,
    last_slot: Option<u64>,
    targets: Vec<Target>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EqualWeightParams {
    #[serde(default = "hourly")]
    every_seconds: u64,
    #[serde(default = "one")]
    gross: Decimal,
    #[serde(default)]
    instruments: Option<Vec<String>>,
}

fn hourly() -> u64 {
    3600
}

fn one() -> Decimal {
    Decimal::ONE
}

impl EqualWeight {
    /// Rebalanced every `every_seconds` to `gross` × equity (`instruments`: `None` = all).
    #[must_use]
    pub fn new(every_seconds: u64, gross: Decimal, instruments: Option<Vec<InstrumentId>>) -> Self {
        Self { every_ns: every_seconds.max(1) * 1_000_000_000, gross, instruments, last_slot: None, targets: vec![] }
    }

    /// From params `{ every_seconds = 3600, gross = "1", instruments = [...] }` (all optional).
    ///
    /// # Errors
    /// Unknown keys, a bad instrument id, `every_seconds = 0`.
    pub fn from_params(params: &toml::Value) -> AlphaResult<Box<dyn Alpha>> {
        let p: EqualWeightParams =
            params.clone().try_into().map_err(|e| format!("strategy.params (equal-weight): {e}"))?;
        if p.every_seconds == 0 {
            return Err("strategy.params.every_seconds (equal-weight): must be positive".into());
        }
        let ids = p
            .instruments
            .map(|v| v.iter().map(|s| InstrumentId::from_str(s).map_err(|e| format!("{s}: {e}"))).collect())
            .transpose()?;
        Ok(Box::new(Self::new(p.every_seconds, p.gross, ids)))
    }
}

impl Alpha for EqualWeight {
    fn on_event(&mut self, _ev: &MarketEvent<'_>, _ctx: &Context) -> AlphaResult<()> {
        Ok(())
    }

    fn schedule(&self) -> Schedule {
        Schedule::EveryTimestamp
    }

    fn on_timestamp(&mut self, slice: &Slice<'_>, ctx: &Context) -> AlphaResult<()> {
        let slot = slice.ts.as_u64() / self.every_ns;
        if self.last_slot == Some(slot) || ctx.equity.is_none() {
            return Ok(());
        }
        let universe: Vec<InstrumentId> = slice
            .present
            .iter()
            .filter(|id| self.instruments.as_ref().is_none_or(|v| v.contains(id)))
            .copied()
            .collect();
        if universe.is_empty() {
            return Ok(());
        }
        self.last_slot = Some(slot);
        let weight = self.gross / Decimal::from(universe.len());
        self.targets = universe.into_iter().filter_map(|id| ctx.target_fraction(id, weight)).collect();
        Ok(())
    }

    fn targets(&mut self, _ctx: &Context) -> AlphaResult<Vec<Target>> {
        Ok(std::mem::take(&mut self.targets))
    }
}
