//! The runner: a [`RunSpec`] and its [`Inputs`] → a NautilusTrader `BacktestEngine` with the
//! [`AlphaStrategy`] → [`RunResult`]. It writes nothing: the caller decides where the result goes
//! ([`crate::output`]).

use std::{cell::RefCell, rc::Rc, str::FromStr};

use nautilus_backtest::{config::BacktestEngineConfig, engine::BacktestEngine};
use nautilus_common::logging::{
    init_logging,
    logger::{LogGuard, LoggerConfig},
    logging_is_initialized,
    writer::FileWriterConfig,
};
use nautilus_core::UUID4;
use nautilus_model::{
    data::BarType,
    identifiers::{InstrumentId, TraderId, Venue},
    instruments::Instrument,
};

use crate::{
    error::{Error, Result},
    execution::InstrumentRules,
    inputs::{Inputs, load_inputs},
    recorder::Recorder,
    registry::Registry,
    result::{Balance, RunResult},
    spec::RunSpec,
    strategy::{AlphaStrategy, StrategySetup},
    venue::{VENUE, VenueKind},
};

/// Id of the one strategy of every run.
const STRATEGY_ID: &str = "ALPHA-001";

/// Told how much work was done since it was last told (events of a run, variants of a sweep):
/// progress bars.
#[derive(Clone)]
pub struct Progress(std::sync::Arc<dyn Fn(u64) + Send + Sync>);

impl Progress {
    pub fn new(f: impl Fn(u64) + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(f))
    }

    /// Reports `n` more units done.
    pub fn advance(&self, n: u64) {
        (self.0)(n);
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

/// How to run, beyond the run file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Record every event delivery in [`RunResult::deliveries`] (tests of the timing rules).
    pub record_deliveries: bool,
    /// Progress of the run, in events.
    pub progress: Option<Progress>,
}

/// A guard on NautilusTrader's global logger, initialising it (stdout at WARN) if nobody has:
/// the CLI initialises it first with its own levels and file, and engines then reuse it.
///
/// Serialised by a process-wide lock, because 0.57's first initialisation races: two engines
/// created at once in different threads can make one `BacktestEngine::new` fail with "A
/// non-Nautilus logger is already registered" (seen in parallel sweeps). Holding the guard
/// while an engine lives also keeps the logger from shutting down between engines.
///
/// # Errors
/// The logger cannot be installed (another `log` logger is registered).
pub fn logging_guard() -> Result<LogGuard> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _lock = LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if logging_is_initialized()
        && let Some(g) = LogGuard::new()
    {
        return Ok(g);
    }
    let cfg = LoggerConfig::from_spec("stdout=Warn;is_colored=false").map_err(Error::engine("logger spec"))?;
    match init_logging(TraderId::default(), UUID4::new(), cfg, FileWriterConfig::default()) {
        Ok(g) => Ok(g),
        // already registered and shut down (last guard dropped): later lines are lost, runs work
        Err(e) => LogGuard::new().ok_or_else(|| Error::engine("initialising NautilusTrader logging")(e)),
    }
}

/// Loads the catalog data and runs (see [`run_inputs`]).
///
/// # Errors
/// Loading, strategy and engine errors.
pub fn run(spec: &RunSpec, registry: &Registry) -> Result<RunResult> {
    let inputs = load_inputs(spec)?;
    run_inputs(spec, inputs, registry, RunOptions::default())
}

fn parse_ids(key: &str, v: &[String]) -> Result<Vec<InstrumentId>> {
    v.iter().map(|s| InstrumentId::from_str(s).map_err(|e| Error::spec(key, format!("{s}: {e}")))).collect()
}

/// Runs `spec` on `inputs` in this thread (the engine is not `Send`).
///
/// # Errors
/// Unknown strategy, bad venue config, engine errors, an Alpha hook's error, funding without a
/// mark price.
pub fn run_inputs(spec: &RunSpec, inputs: Inputs, registry: &Registry, opts: RunOptions) -> Result<RunResult> {
    let alpha = registry.build(&spec.strategy)?;
    let log_guard = logging_guard()?;
    let (start, end) = (spec.start_ns()?, spec.end_ns()?);
    let mut engine = BacktestEngine::new(BacktestEngineConfig { run_analysis: false, ..Default::default() })
        .map_err(Error::engine("creating the engine"))?;
    engine.add_venue(spec.venue.to_config()?).map_err(Error::engine("venue"))?;
    let mut rules = Vec::new();
    for inst in inputs.instruments {
        let inst = spec.venue.apply_fees(inst)?;
        engine.add_instrument(&inst).map_err(Error::engine(format!("instruments: {}", inst.id())))?;
        rules.push(InstrumentRules::of(&inst));
    }
    let bar_types = spec
        .bar_types
        .iter()
        .map(|s| BarType::from_str(s).map_err(|e| Error::spec("bar_types", format!("{s}: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    for s in inputs.streams.into_iter().filter(|s| !s.is_empty()) {
        engine.add_data(s, None, true, true).map_err(Error::engine("adding data"))?;
    }
    let recorder = Rc::new(RefCell::new(Recorder { record_deliveries: opts.record_deliveries, ..Recorder::default() }));
    let setup = StrategySetup {
        strategy_id: STRATEGY_ID.into(),
        instruments: rules.clone(),
        bar_types,
        trades: parse_ids("trade_ticks", &spec.trade_ticks)?,
        quotes: parse_ids("quote_ticks", &spec.quote_ticks)?,
        mark_prices: parse_ids("mark_prices", &spec.mark_prices)?,
        index_prices: parse_ids("index_prices", &spec.index_prices)?,
        custom_types: spec.custom_types.clone(),
        funding: inputs.funding.clone(),
        rebalance_threshold: spec.rebalance_threshold,
        reporting_currency: spec.reporting_currency.clone(),
        starting_balances: spec.venue.starting_balances.clone(),
        cash_account: spec.venue.kind == VenueKind::Spot,
        execution: spec.execution,
        progress: opts.progress.clone(),
    };
    engine.add_strategy(AlphaStrategy::new(alpha, setup, recorder.clone())).map_err(Error::engine("strategy"))?;
    engine.run(start, end, None, false).map_err(Error::engine("running the engine"))?;
    let iterations = engine.get_result().iterations;
    let account_balances = {
        let cache = engine.kernel().cache.borrow();
        let acc = cache
            .account_for_venue(&Venue::new(VENUE))
            .ok_or_else(|| Error::engine("reading the account")(anyhow::anyhow!("no account for the venue")))?;
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
    drop(engine);
    // NautilusTrader's actor registry is thread-local and outlives the engine: without this the
    // strategy (and all it recorded) stays alive until the next run on the thread replaces it.
    nautilus_common::actor::registry::get_actor_registry().remove(&ustr::Ustr::from(STRATEGY_ID));
    drop(log_guard);
    let rec = Rc::try_unwrap(recorder).map(RefCell::into_inner).unwrap_or_else(|rc| rc.borrow().clone());
    if let Some(msg) = rec.alpha_error.clone() {
        return Err(Error::Strategy { name: spec.strategy.name.clone(), msg });
    }
    let perps: Vec<InstrumentId> = rules.iter().filter(|r| !r.is_spot).map(|r| r.id).collect();
    let settlements: Vec<_> = inputs.funding.into_iter().filter(|f| perps.contains(&f.instrument_id)).collect();
    RunResult::assemble(rec, &settlements, account_balances, iterations, &spec.reporting_currency)
}
