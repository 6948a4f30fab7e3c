//! The runner: a [`RunSpec`] (TOML) → catalog data → `BacktestEngine` with the
//! [`AlphaStrategy`] → [`RunResult`] (fills, skips, balances, funding ledger, equity curve,
//! statistics) → files in the run folder.
//!
//! Output files: see [`crate::results`] (deterministic: same spec and data ⇒ byte-identical
//! files).

use std::{
    cell::RefCell,
    collections::BTreeMap,
    path::{Path, PathBuf},
    rc::Rc,
    str::FromStr,
};

use anyhow::{Context as _, bail};
use data::{FundingPayment, catalog::Catalog};
use nautilus_backtest::{config::BacktestEngineConfig, engine::BacktestEngine};
use nautilus_common::logging::{
    init_logging,
    logger::{LogGuard, LoggerConfig},
    logging_is_initialized,
    writer::FileWriterConfig,
};
use nautilus_core::{UUID4, UnixNanos};
use nautilus_model::{
    data::{Bar, BarType, Data, FundingRateUpdate, IndexPriceUpdate, MarkPriceUpdate, QuoteTick, TradeTick},
    identifiers::{InstrumentId, TraderId, Venue},
    instruments::{Instrument, InstrumentAny},
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{
    adapter::{AdapterConfig, AlphaStrategy, Execution, Fill, InstrumentRules, OrderRecord, Recorder, Skip},
    alpha::Alpha,
    baselines::{BuyAndHold, TargetsFromFile},
    funding::{FundingEntry, cumulative_at, funding_ledger},
    stats::{Stats, compute},
    venue::{VENUE, VenueSpec},
};

/// Which strategy to run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategySpec {
    /// Registry name (`buy-and-hold`, `targets-from-file`, ...).
    pub name: String,
    /// Strategy parameters, passed to the registry constructor.
    #[serde(default = "empty_table")]
    pub params: toml::Value,
}

fn empty_table() -> toml::Value {
    toml::Value::Table(toml::Table::new())
}

fn default_reporting() -> String {
    "USDT".into()
}

/// A backtest run file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSpec {
    /// Catalog folder (see `data::catalog`).
    pub catalog: PathBuf,
    /// Instrument ids to load and trade (`BTCUSDT.BINANCE`, `BTCUSDT-PERP.BINANCE`).
    pub instruments: Vec<String>,
    /// Bar types to load and subscribe (EXTERNAL bars, `ts_init` = bar close).
    #[serde(default)]
    pub bar_types: Vec<String>,
    /// Custom data types to load for the instruments: `OpenInterest`, `LongShortRatio`,
    /// `TakerBuySellVolume`.
    #[serde(default)]
    pub custom_types: Vec<String>,
    /// Instrument ids whose trade ticks (trades / aggTrades) are loaded and delivered.
    #[serde(default)]
    pub trade_ticks: Vec<String>,
    /// Instrument ids whose quote ticks (bookTicker) are loaded and delivered.
    #[serde(default)]
    pub quote_ticks: Vec<String>,
    /// Perpetual ids whose mark prices are loaded and delivered.
    #[serde(default)]
    pub mark_prices: Vec<String>,
    /// Perpetual ids whose index prices are loaded and delivered.
    #[serde(default)]
    pub index_prices: Vec<String>,
    /// Load the perpetuals' `funding_rate_update` rows: delivered to the Alpha and applied by
    /// the funding ledger (default true).
    #[serde(default = "yes")]
    pub funding: bool,
    /// Inclusive start / end, RFC 3339 (`2024-01-01T00:00:00Z`); default: all data.
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub end: Option<String>,
    pub venue: VenueSpec,
    /// Order type for reaching targets (default market).
    #[serde(default)]
    pub execution: Execution,
    /// Skip a rebalance whose notional is below this fraction of equity (default 0).
    #[serde(default)]
    pub rebalance_threshold: Decimal,
    /// Currency of equity and statistics (default `USDT`).
    #[serde(default = "default_reporting")]
    pub reporting_currency: String,
    pub strategy: StrategySpec,
    /// Output folder; no files are written when absent.
    #[serde(default)]
    pub output: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

impl RunSpec {
    /// A spec with every optional key at its default (no data types, no output).
    #[must_use]
    pub fn new(instruments: Vec<String>, venue: VenueSpec, strategy: StrategySpec) -> Self {
        Self {
            catalog: PathBuf::from("catalog"),
            instruments,
            bar_types: vec![],
            custom_types: vec![],
            trade_ticks: vec![],
            quote_ticks: vec![],
            mark_prices: vec![],
            index_prices: vec![],
            funding: true,
            start: None,
            end: None,
            venue,
            execution: Execution::default(),
            rebalance_threshold: Decimal::ZERO,
            reporting_currency: default_reporting(),
            strategy,
            output: None,
        }
    }

    /// Parses a run file; errors name the offending key and line.
    ///
    /// # Errors
    /// TOML syntax, unknown keys, missing keys, wrong types.
    pub fn from_toml(text: &str) -> anyhow::Result<Self> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("run file: {e}"))
    }

    /// Reads and parses a run file.
    ///
    /// # Errors
    /// I/O and [`Self::from_toml`] errors, naming the path.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_toml(&text).with_context(|| format!("in {}", path.display()))
    }

    fn time(key: &str, v: Option<&String>) -> anyhow::Result<Option<UnixNanos>> {
        v.map(|s| {
            let t = chrono::DateTime::parse_from_rfc3339(s).with_context(|| format!("{key}: not RFC 3339: {s:?}"))?;
            let ns = t.timestamp_nanos_opt().with_context(|| format!("{key}: out of range"))?;
            Ok(UnixNanos::from(u64::try_from(ns).with_context(|| format!("{key}: before 1970"))?))
        })
        .transpose()
    }
}

/// Constructor of a named Alpha from its params.
pub type AlphaFactory = fn(&toml::Value) -> anyhow::Result<Box<dyn Alpha>>;

/// Alphas by name.
#[derive(Debug, Clone, Default)]
pub struct Registry(BTreeMap<String, AlphaFactory>);

impl Registry {
    /// With `buy-and-hold` and `targets-from-file`.
    #[must_use]
    pub fn with_baselines() -> Self {
        let mut r = Self::default();
        r.register("buy-and-hold", BuyAndHold::from_params);
        r.register("targets-from-file", TargetsFromFile::from_params);
        r
    }

    pub fn register(&mut self, name: &str, f: AlphaFactory) {
        self.0.insert(name.to_string(), f);
    }

    /// Builds the named Alpha.
    ///
    /// # Errors
    /// Unknown name (listing the known ones) or the constructor's error.
    pub fn build(&self, spec: &StrategySpec) -> anyhow::Result<Box<dyn Alpha>> {
        let Some(f) = self.0.get(&spec.name) else {
            bail!("strategy.name: unknown strategy {:?} (known: {:?})", spec.name, self.0.keys().collect::<Vec<_>>());
        };
        f(&spec.params)
    }
}

/// Data of one run, in memory (loaded from the catalog or built by tests).
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub instruments: Vec<InstrumentAny>,
    /// One engine stream per entry (on equal `ts_init`, earlier streams come first).
    pub streams: Vec<Vec<Data>>,
    pub funding: Vec<FundingPayment>,
}

/// NautilusTrader 0.57's matching engine splits a bar's volume into four raw quarters (its
/// `process_bar`) and then skips every fill whose quantity is not a whole number of size
/// increments, so a bar whose volume is not a multiple of 4 increments can fill nothing. The
/// volume is only the engine's liquidity model here, so it is rounded down to a multiple of
/// 4 increments (at most 3 increments less liquidity per bar); prices are untouched.
#[must_use]
pub fn align_bar_volume(mut bar: Bar) -> Bar {
    use nautilus_model::types::{Quantity, fixed::FIXED_PRECISION, quantity::QuantityRaw};
    let precision = bar.volume.precision;
    let step = QuantityRaw::pow(10, u32::from(FIXED_PRECISION - precision)) * 4;
    bar.volume = Quantity::from_raw(bar.volume.raw - bar.volume.raw % step, precision);
    bar
}

/// Loads one instrument's tick stream of one type from the catalog.
type TickLoader = fn(
    &mut nautilus_persistence::backend::catalog::ParquetDataCatalog,
    String,
    Option<UnixNanos>,
    Option<UnixNanos>,
) -> anyhow::Result<Vec<Data>>;

/// Loads the spec's instruments, bars, custom data and funding from its catalog (sync code only).
///
/// # Errors
/// Catalog errors, a missing instrument, no data for a bar type.
pub fn load_inputs(spec: &RunSpec) -> anyhow::Result<Inputs> {
    let mut cat = Catalog::open(&spec.catalog)?;
    let start = RunSpec::time("start", spec.start.as_ref())?;
    let end = RunSpec::time("end", spec.end.as_ref())?;
    let cat = cat.inner();
    let instruments = cat.query_instruments(Some(&spec.instruments)).context("loading instruments")?;
    let mut by_id: BTreeMap<String, InstrumentAny> = BTreeMap::new();
    for i in instruments {
        by_id.insert(i.id().to_string(), i); // latest version wins
    }
    let instruments = spec
        .instruments
        .iter()
        .map(|id| by_id.remove(id).with_context(|| format!("instruments: {id} not in the catalog")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut streams = Vec::new();
    for bt in &spec.bar_types {
        let bars = cat.query_typed_data::<Bar>(Some(vec![bt.clone()]), start, end, None, None, true)?;
        anyhow::ensure!(!bars.is_empty(), "bar_types: no bars for {bt} in the catalog");
        streams.push(bars.into_iter().map(|b| Data::Bar(align_bar_volume(b))).collect());
    }
    // Tick-level streams: run-file key, instrument ids, what is loaded, loader.
    let ticks: [(&str, &[String], &str, TickLoader); 4] = [
        ("trade_ticks", &spec.trade_ticks, "trades", |c, id, s, e| {
            Ok(c.query_typed_data::<TradeTick>(Some(vec![id]), s, e, None, None, true)?
                .into_iter()
                .map(Data::Trade)
                .collect())
        }),
        ("quote_ticks", &spec.quote_ticks, "quotes", |c, id, s, e| {
            Ok(c.query_typed_data::<QuoteTick>(Some(vec![id]), s, e, None, None, true)?
                .into_iter()
                .map(Data::Quote)
                .collect())
        }),
        ("mark_prices", &spec.mark_prices, "mark prices", |c, id, s, e| {
            Ok(c.query_typed_data::<MarkPriceUpdate>(Some(vec![id]), s, e, None, None, true)?
                .into_iter()
                .map(Data::MarkPriceUpdate)
                .collect())
        }),
        ("index_prices", &spec.index_prices, "index prices", |c, id, s, e| {
            Ok(c.query_typed_data::<IndexPriceUpdate>(Some(vec![id]), s, e, None, None, true)?
                .into_iter()
                .map(Data::IndexPriceUpdate)
                .collect())
        }),
    ];
    for (key, ids, what, load) in ticks {
        for id in ids {
            anyhow::ensure!(spec.instruments.contains(id), "{key}: {id} is not in `instruments`");
            let rows = load(cat, id.clone(), start, end)?;
            anyhow::ensure!(!rows.is_empty(), "{key}: no {what} for {id} in the catalog");
            streams.push(rows);
        }
    }
    for ty in &spec.custom_types {
        let got = cat.query_custom_data_dynamic(ty, Some(&spec.instruments), start, end, None, None, true)?;
        streams.push(got);
    }
    let mut funding = Vec::new();
    if spec.funding {
        for i in instruments.iter().filter(|i| matches!(i, InstrumentAny::CryptoPerpetual(_))) {
            let dir = cat.make_path("funding_rate_update", Some(&i.id().to_string()))?;
            if !Path::new(&dir).exists() && !Path::new(&spec.catalog).join(&dir).exists() {
                continue;
            }
            let rows =
                cat.query_typed::<FundingRateUpdate>(Some(vec![i.id().to_string()]), start, end, None, None, true)?;
            funding.extend(rows.iter().map(FundingPayment::from));
        }
    }
    Ok(Inputs { instruments, streams, funding })
}

/// Nautilus' account balance of one currency at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub currency: String,
    pub total: Decimal,
    pub free: Decimal,
    pub locked: Decimal,
}

/// One point of the equity curve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurvePoint {
    pub ts: u64,
    /// Mark-to-market equity before funding.
    pub equity_ex_funding: Decimal,
    /// Cumulative funding at `ts`.
    pub funding: Decimal,
    /// `equity_ex_funding + funding`.
    pub equity: Decimal,
    pub gross_exposure: Decimal,
}

/// Everything a run produces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResult {
    pub version: String,
    pub iterations: usize,
    pub total_orders: usize,
    pub total_positions: usize,
    /// Order submissions and cancellations (in `orders.csv/.parquet`).
    #[serde(skip)]
    pub orders: Vec<OrderRecord>,
    pub fills: Vec<Fill>,
    pub skips: Vec<Skip>,
    pub rejections: Vec<String>,
    /// Final exact fill-ledger positions.
    pub positions: BTreeMap<String, Decimal>,
    /// Final exact fill-ledger cash (before funding).
    pub ledger_balances: BTreeMap<String, Decimal>,
    /// Final nautilus account balances (funding not included: the engine ignores it).
    pub account_balances: Vec<Balance>,
    pub funding: Vec<FundingEntry>,
    pub equity: Vec<CurvePoint>,
    /// `(ts, instrument, net position)` after every fill (in `positions.csv/.parquet`).
    #[serde(skip)]
    pub position_history: Vec<(u64, String, Decimal)>,
    /// `(ts, instrument, last price)` used for marking (in `prices.csv/.parquet`).
    #[serde(skip)]
    pub prices: Vec<(u64, String, Decimal)>,
    pub stats: Stats,
    /// Every event delivery (kind, ts_init, clock); not written to disk.
    #[serde(skip)]
    pub deliveries: Vec<crate::adapter::Delivery>,
}

/// Crate version (+ `git describe` if `ALPHALAB_GIT_DESCRIBE` was set at build time).
#[must_use]
pub fn code_version() -> String {
    match option_env!("ALPHALAB_GIT_DESCRIBE") {
        Some(g) => format!("{} ({g})", env!("CARGO_PKG_VERSION")),
        None => env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// A guard on NautilusTrader's global logger, initialising it (default config: stdout, Info)
/// if nobody has: the CLI initialises it first and engines then reuse it.
///
/// Serialised by a process-wide lock, because 0.57's first initialisation races: two engines
/// created at once in different threads can make one `BacktestEngine::new` fail with "A
/// non-Nautilus logger is already registered" (seen in parallel sweeps). Holding the guard
/// while an engine lives also keeps the logger from shutting down between engines.
///
/// # Errors
/// The logger cannot be installed (another `log` logger is registered).
pub fn logging_guard() -> anyhow::Result<LogGuard> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _lock = LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if logging_is_initialized()
        && let Some(g) = LogGuard::new()
    {
        return Ok(g);
    }
    match init_logging(TraderId::default(), UUID4::new(), LoggerConfig::default(), FileWriterConfig::default()) {
        Ok(g) => Ok(g),
        // already registered and shut down (last guard dropped): later lines are lost, runs work
        Err(e) => LogGuard::new().ok_or(e).context("initialising NautilusTrader logging"),
    }
}

/// Loads the catalog data and runs (see [`run_inputs`]).
///
/// # Errors
/// Loading, engine and output errors.
pub fn run(spec: &RunSpec, registry: &Registry) -> anyhow::Result<RunResult> {
    let inputs = load_inputs(spec)?;
    run_inputs(spec, inputs, registry)
}

/// Runs `spec` on `inputs` in this thread (the engine is not `Send`), and writes the results
/// to `spec.output` if set.
///
/// # Errors
/// Unknown strategy, bad venue config, engine errors, funding without a mark price, I/O.
pub fn run_inputs(spec: &RunSpec, inputs: Inputs, registry: &Registry) -> anyhow::Result<RunResult> {
    let alpha = registry.build(&spec.strategy)?;
    let log_guard = logging_guard()?;
    let start = RunSpec::time("start", spec.start.as_ref())?;
    let end = RunSpec::time("end", spec.end.as_ref())?;
    let mut engine = BacktestEngine::new(BacktestEngineConfig { run_analysis: false, ..Default::default() })?;
    engine.add_venue(spec.venue.to_config()?).context("venue")?;
    let mut rules = Vec::new();
    for inst in inputs.instruments {
        let inst = spec.venue.apply_fees(inst)?;
        engine.add_instrument(&inst).with_context(|| format!("instruments: {}", inst.id()))?;
        rules.push(InstrumentRules::of(&inst));
    }
    let bar_types = spec
        .bar_types
        .iter()
        .map(|s| BarType::from_str(s).map_err(|e| anyhow::anyhow!("bar_types: {s}: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for s in inputs.streams.into_iter().filter(|s| !s.is_empty()) {
        engine.add_data(s, None, true, true)?;
    }
    let recorder = Rc::new(RefCell::new(Recorder::default()));
    let cfg = AdapterConfig {
        strategy_id: "ALPHA-001".into(),
        instruments: rules.clone(),
        bar_types,
        trades: parse_ids(&spec.trade_ticks)?,
        quotes: parse_ids(&spec.quote_ticks)?,
        mark_prices: parse_ids(&spec.mark_prices)?,
        index_prices: parse_ids(&spec.index_prices)?,
        custom_types: spec.custom_types.clone(),
        funding: inputs.funding.clone(),
        rebalance_threshold: spec.rebalance_threshold,
        reporting_currency: spec.reporting_currency.clone(),
        starting_balances: spec.venue.starting_balances.clone(),
        cash_account: spec.venue.kind == crate::venue::VenueKind::Spot,
        execution: spec.execution,
    };
    engine.add_strategy(AlphaStrategy::new(alpha, cfg, recorder.clone()))?;
    engine.run(start, end, None, false)?;
    let r = engine.get_result();
    let account_balances = {
        let cache = engine.kernel().cache.borrow();
        let acc = cache.account_for_venue(&Venue::new(VENUE)).context("no account for the venue")?;
        let mut v: Vec<Balance> = acc
            .balances()
            .values()
            .map(|b| Balance {
                currency: b.currency.code.to_string(),
                total: b.total.as_decimal(),
                free: b.free.as_decimal(),
                locked: b.locked.as_decimal(),
            })
            .collect();
        v.sort_by(|a, b| a.currency.cmp(&b.currency));
        v
    };
    let rec = recorder.borrow().clone();
    drop(engine);
    drop(log_guard);

    let perps: Vec<InstrumentId> = rules.iter().filter(|r| !r.is_spot).map(|r| r.id).collect();
    let settlements: Vec<FundingPayment> =
        inputs.funding.into_iter().filter(|f| perps.contains(&f.instrument_id)).collect();
    let ledger = funding_ledger(
        |id| rec.position_history.get(id).cloned().unwrap_or_default(),
        &settlements,
        |id, ts| {
            let s = rec.prices.get(id)?;
            let k = s.partition_point(|(t, _)| *t <= ts);
            (k > 0).then(|| s[k - 1].1)
        },
        false,
    )?;
    let equity: Vec<CurvePoint> = rec
        .equity
        .iter()
        .map(|p| {
            let funding = cumulative_at(&ledger, p.ts);
            CurvePoint {
                ts: p.ts,
                equity_ex_funding: p.equity,
                funding,
                equity: p.equity + funding,
                gross_exposure: p.gross_exposure,
            }
        })
        .collect();
    let curve: Vec<(u64, Decimal, Decimal)> = equity.iter().map(|p| (p.ts, p.equity, p.gross_exposure)).collect();
    let funding_total = ledger.last().map(|e| e.cumulative).unwrap_or_default();
    let initial = rec.initial_equity.context("no equity: no prices for the held currencies")?;
    let stats = compute(initial, &curve, &rec.fills, &spec.reporting_currency, funding_total);
    let result = RunResult {
        version: code_version(),
        iterations: r.iterations,
        total_orders: r.total_orders,
        total_positions: r.total_positions,
        orders: rec.orders,
        fills: rec.fills,
        skips: rec.skips,
        rejections: rec.rejections,
        positions: rec.last_context.positions.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        ledger_balances: rec.last_context.balances.clone(),
        account_balances,
        funding: ledger,
        equity,
        position_history: series(&rec.position_history),
        prices: series(&rec.prices),
        stats,
        deliveries: rec.deliveries,
    };
    if let Some(dir) = &spec.output {
        crate::results::write_results(dir, spec, &result)?;
    }
    Ok(result)
}

fn parse_ids(v: &[String]) -> anyhow::Result<Vec<InstrumentId>> {
    v.iter().map(|s| InstrumentId::from_str(s).map_err(|e| anyhow::anyhow!("instrument id {s}: {e}"))).collect()
}

/// Per-instrument `(ts, value)` series flattened in time order (ties by instrument id).
fn series(m: &BTreeMap<InstrumentId, Vec<(UnixNanos, Decimal)>>) -> Vec<(u64, String, Decimal)> {
    let mut v: Vec<(u64, String, Decimal)> =
        m.iter().flat_map(|(id, s)| s.iter().map(move |(t, x)| (t.as_u64(), id.to_string(), *x))).collect();
    v.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    v
}

#[cfg(test)]
mod volume_tests {
    use nautilus_model::{
        data::{Bar, BarType},
        types::{Price, Quantity},
    };

    use super::align_bar_volume;

    #[test]
    fn bar_volume_is_rounded_down_to_four_increments() {
        let px = Price::from("100.00");
        let bar = |v: &str| {
            Bar::new(
                BarType::from("BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL"),
                px,
                px,
                px,
                px,
                Quantity::from(v),
                1.into(),
                1.into(),
            )
        };
        assert_eq!(align_bar_volume(bar("0.27367")).volume, Quantity::from("0.27364"));
        assert_eq!(align_bar_volume(bar("0.27364")).volume, Quantity::from("0.27364"));
        assert_eq!(align_bar_volume(bar("0.00003")).volume, Quantity::from("0.00000"));
    }
}
