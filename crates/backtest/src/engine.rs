//! The runner: a [`RunSpec`] and its data ([`Source`]) → a NautilusTrader `BacktestEngine` with
//! the [`AlphaStrategy`], fed chunk by chunk, funding and delistings ([`crate::delisting`])
//! settled between chunks → [`RunResult`]. It writes nothing: the caller decides where
//! the result goes ([`crate::output`]).

use std::{cell::RefCell, collections::BTreeMap, rc::Rc, str::FromStr};

use data::FundingPayment;
use nautilus_backtest::{config::BacktestEngineConfig, engine::BacktestEngine};
use nautilus_common::logging::{
    init_logging,
    logger::{LogGuard, LoggerConfig},
    logging_is_initialized,
    writer::FileWriterConfig,
};
use nautilus_common::{
    cache::CacheConfig,
    msgbus::{self, switchboard::MessagingSwitchboard},
};
use nautilus_core::{UUID4, UnixNanos};
use nautilus_model::{
    accounts::AccountAny,
    data::{BarType, Data, HasTsInit, TradeTick},
    enums::{AccountType, AggressorSide},
    events::AccountState,
    identifiers::{InstrumentId, TradeId, TraderId, Venue},
    instruments::Instrument,
    types::{AccountBalance, Currency, Money, Price, Quantity},
};
use rust_decimal::Decimal;
use ustr::Ustr;

use crate::{
    book::{self, Books},
    delisting::{DelistingAt, resolve},
    error::{Error, Result},
    execution::InstrumentRules,
    funding::{PricesAt, settle},
    inputs::{CatalogSource, Inputs, MemorySource, Source, first_span, next_span},
    ledger::Ledger,
    margin::{MarginRules, generic_brackets},
    recorder::{Fill, Recorder, SharedRecorder, TransferRecord, id_text},
    registry::Registry,
    result::{Balance, RunResult},
    spec::RunSpec,
    strategy::{AlphaStrategy, OPEN_TRADE_ID, SharedLedger, StrategySetup},
    venue::{FillTiming, LIQUIDATION_FEE, Transfer, UnknownBrackets, VENUE},
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

/// Runs a run file on its catalog, streaming the data chunk by chunk (see [`run_source`]).
///
/// # Errors
/// Loading, strategy and engine errors.
pub fn run(spec: &RunSpec, registry: &Registry, opts: RunOptions) -> Result<RunResult> {
    let mut source = CatalogSource::open(spec)?;
    run_source(spec, &mut source, registry, opts)
}

/// Runs `spec` on in-memory `inputs` (each stream ascending by `ts_init`); see [`run_source`].
///
/// # Errors
/// As [`run_source`]; a stream out of time order.
pub fn run_inputs(spec: &RunSpec, inputs: &Inputs, registry: &Registry, opts: RunOptions) -> Result<RunResult> {
    if let Some(k) = inputs.streams.iter().position(|s| !s.is_sorted_by_key(HasTsInit::ts_init)) {
        return Err(Error::spec("inputs", format!("stream {k} is not in ts_init order")));
    }
    run_source(spec, &mut MemorySource(inputs), registry, opts)
}

fn parse_ids(key: &str, v: &[String]) -> Result<Vec<InstrumentId>> {
    v.iter().map(|s| InstrumentId::from_str(s).map_err(|e| Error::spec(key, format!("{s}: {e}")))).collect()
}

/// Runs `spec` on `source` in this thread (the engine is not `Send`), in chunks: the engine's
/// streaming mode runs each chunk, its data is cleared, the next is added, so memory follows a
/// chunk ([`crate::inputs::CHUNK_EVENTS`] events), not the run. Chunks also end at every funding
/// settlement, which is applied between them ([`crate::funding`]) to the ledger and to
/// NautilusTrader's account, so balances, margin and the Alpha's equity include it.
///
/// # Errors
/// Unknown strategy, bad venue config, no data, engine errors, an Alpha hook's error, funding
/// without a mark price.
pub fn run_source(spec: &RunSpec, source: &mut dyn Source, registry: &Registry, opts: RunOptions) -> Result<RunResult> {
    let alpha = registry.build(&spec.strategy)?;
    spec.venue.validate()?;
    book::check_spec(spec)?;
    let (start, end) = (spec.start_ns()?, spec.end_ns()?);
    let Some((first, last)) = source.time_range() else {
        return Err(Error::spec("instruments", "no data to run on"));
    };
    let from = start.map_or(first, |s| s.as_u64().max(first));
    let until = end.map_or(last, |e| e.as_u64().min(last)).saturating_add(1);
    let log_guard = logging_guard()?;
    // Instruments survive the cache resets of `trim_cache`.
    let cache = CacheConfig { drop_instruments_on_reset: false, ..CacheConfig::default() };
    let config = BacktestEngineConfig { run_analysis: false, cache: Some(cache), ..Default::default() };
    let mut engine = BacktestEngine::new(config).map_err(Error::engine("creating the engine"))?;
    engine.add_venue(spec.venue.to_config()?).map_err(Error::engine("venue"))?;
    let mut rules = Vec::new();
    for inst in source.instruments() {
        let inst = spec.venue.apply_fees(inst.clone())?;
        engine.add_instrument(&inst).map_err(Error::engine(format!("instruments: {}", inst.id())))?;
        rules.push(InstrumentRules::of(&inst));
    }
    let bar_types = spec
        .bar_types
        .iter()
        .map(|s| BarType::from_str(s).map_err(|e| Error::spec("bar_types", format!("{s}: {e}"))))
        .collect::<Result<Vec<_>>>()?;
    let perps: Vec<InstrumentId> = rules.iter().filter(|r| !r.is_spot).map(|r| r.id).collect();
    let mut settlements: Vec<FundingPayment> = source
        .funding()
        .iter()
        .filter(|f| perps.contains(&f.instrument_id) && (from..until).contains(&f.ts.as_u64()))
        .copied()
        .collect();
    settlements.sort_by_key(|f| (f.ts, f.instrument_id.to_string()));
    let margin = margin_rules(spec, &rules, from)?;
    let (spot_wallet, futures_wallet) = spec.venue.wallets();
    let ledger =
        Rc::new(RefCell::new(Ledger::new(&rules, spot_wallet, futures_wallet, &spec.reporting_currency, margin)));
    let book_ids = parse_ids("book_deltas", &spec.book_deltas)?;
    *ledger.borrow_mut().books_mut() = Books::new(&book_ids);
    let ticks: BTreeMap<InstrumentId, Price> = rules
        .iter()
        .filter_map(|r| Price::from_decimal_dp(r.price_increment, r.price_precision).ok().map(|p| (r.id, p)))
        .collect();
    let transfers = spec.venue.transfer_times()?;
    let open_trades: Vec<InstrumentId> = if spec.venue.fill == FillTiming::NextOpen {
        bar_types.iter().map(BarType::instrument_id).filter(|id| rules.iter().any(|r| r.id == *id)).collect()
    } else {
        Vec::new()
    };
    let recorder = Rc::new(RefCell::new(Recorder {
        record_deliveries: opts.record_deliveries,
        sample_ns: spec.sample_seconds * 1_000_000_000,
        price_sample_ns: spec.price_sample_ns(),
        ..Recorder::default()
    }));
    let mut delistings = resolve(&spec.delistings, source.closes(), source.instruments())?;
    delistings.retain(|d| d.ts < until);
    for d in delistings.iter().filter(|d| d.ts < from) {
        ledger.borrow_mut().delist(d.instrument_id, Decimal::ZERO); // before the run: never traded
    }
    delistings.retain(|d| d.ts >= from);
    let setup = StrategySetup {
        strategy_id: STRATEGY_ID.into(),
        instruments: rules.clone(),
        bar_types,
        trades: parse_ids("trade_ticks", &spec.trade_ticks)?,
        quotes: parse_ids("quote_ticks", &spec.quote_ticks)?,
        books: book_ids.clone(),
        mark_prices: parse_ids("mark_prices", &spec.mark_prices)?,
        index_prices: parse_ids("index_prices", &spec.index_prices)?,
        custom_types: spec.custom_types.clone(),
        funding: settlements.clone(),
        rebalance_threshold: spec.rebalance_threshold,
        reporting_currency: spec.reporting_currency.clone(),
        execution: spec.execution,
        fill: spec.venue.fill,
        open_trades: open_trades.clone(),
        progress: opts.progress.clone(),
    };
    let strategy = AlphaStrategy::new(alpha, setup, ledger.clone(), recorder.clone());
    engine.add_strategy(strategy).map_err(Error::engine("strategy"))?;

    let venue = Venue::new(VENUE);
    let (mut t, mut next_settlement, mut next_transfer, mut iterations) = (from, 0usize, 0usize, 0usize);
    let mut next_delisting = 0usize;
    // Transfers before the first event happen at the start.
    let mut span = first_span(source.events(from, until - 1), until - from);
    while t < until {
        let due = settlements[next_settlement..].iter().take_while(|f| f.ts.as_u64() <= t).count();
        let moves = transfers[next_transfer..].iter().take_while(|x| x.0 <= t).count();
        let delisted = delistings[next_delisting..].iter().take_while(|d| d.ts <= t).count();
        let mut next = t.saturating_add(span).min(until);
        if let Some(d) = delistings.get(next_delisting + delisted) {
            next = next.min(d.ts);
        }
        if let Some(row) = settlements.get(next_settlement + due) {
            next = next.min(row.ts.as_u64());
        }
        if let Some(x) = transfers.get(next_transfer + moves) {
            next = next.min(x.0);
        }
        let mut chunk = source.chunk(t, next)?;
        // The attribution of a day ended is recorded before anything at `t` is booked.
        let rows = ledger.borrow_mut().roll(t);
        if let Some(rows) = rows {
            recorder.borrow_mut().instrument_pnl.extend(rows);
        }
        // Settlements at `t` are paid on the position held before any event (and fill) at `t`;
        // transfers at `t` follow them.
        for row in &settlements[next_settlement..next_settlement + due] {
            let at = prices_at(&chunk, row.instrument_id, t);
            settle_funding(&engine, venue, &ledger, &recorder, row, at)?;
        }
        next_settlement += due;
        for d in &delistings[next_delisting..next_delisting + delisted] {
            delist(&ledger, &recorder, d, prices_at(&chunk, d.instrument_id, t).last, t)?;
        }
        next_delisting += delisted;
        for (_, x) in &transfers[next_transfer..next_transfer + moves] {
            transfer(&ledger, &recorder, t, x);
        }
        next_transfer += moves;
        if !open_trades.is_empty() {
            let opens = open_ticks(&chunk, &open_trades, t)?;
            chunk.push(opens);
        }
        if !book_ids.is_empty() {
            let kept = book::keep_alive(&chunk, &ledger.borrow().context().books, |id| ticks.get(id).copied());
            chunk.push(kept);
        }
        let n: usize = chunk.iter().map(Vec::len).sum();
        if n > 0 {
            for s in chunk.into_iter().filter(|s| !s.is_empty()) {
                engine.add_data(s, None, true, true).map_err(Error::engine("adding data"))?;
            }
            engine.run(None, None, None, true).map_err(Error::engine("running the engine"))?;
            engine.clear_data();
            trim_cache(&engine, venue, &book_ids)?;
            iterations += n;
        }
        if recorder.borrow().alpha_error.is_some() {
            break;
        }
        span = next_span(next - t, n as u64);
        t = next;
    }
    engine.end();
    {
        let end = ledger.borrow().context().now.as_u64();
        let rows = ledger.borrow().attribution(end);
        let mut rec = recorder.borrow_mut();
        rec.instrument_pnl.extend(rows.iter().cloned());
        rec.attribution = rows;
    }
    let account_balances = account_balances(&engine, venue)?;
    drop(engine);
    // NautilusTrader's actor registry is thread-local and outlives the engine: without this the
    // strategy (and all it recorded) stays alive until the next run on the thread replaces it.
    nautilus_common::actor::registry::get_actor_registry().remove(&ustr::Ustr::from(STRATEGY_ID));
    drop(log_guard);
    let rec = Rc::try_unwrap(recorder).map(RefCell::into_inner).unwrap_or_else(|rc| rc.borrow().clone());
    if let Some(msg) = rec.alpha_error.clone() {
        return Err(Error::Strategy { name: spec.strategy.name.clone(), msg });
    }
    RunResult::assemble(rec, account_balances, iterations, &spec.reporting_currency)
}

/// The margin rules of a run with perpetuals: the venue's mode, leverage and clearance fee, the
/// brackets of its file or the shipped ones in effect at `from` (ns).
///
/// # Errors
/// An unreadable brackets file, a perpetual without brackets, a leverage no tier allows.
fn margin_rules(spec: &RunSpec, rules: &[InstrumentRules], from: u64) -> Result<Option<MarginRules>> {
    if rules.iter().all(|r| r.is_spot) {
        return Ok(None);
    }
    let leverage = spec.venue.leverage.unwrap_or(Decimal::ONE);
    let fee = spec.venue.liquidation_fee.unwrap_or(LIQUIDATION_FEE);
    let mut m = MarginRules::shipped(spec.venue.margin_mode, leverage, fee, &data::ns_to_rfc3339(from)[..10]);
    if let Some(path) = &spec.venue.brackets {
        let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::spec("venue.brackets", format!("{}: {e}", path.display())))?;
        m.brackets = binance::brackets::parse(&json)
            .map_err(|e| Error::spec("venue.brackets", format!("{}: {e}", path.display())))?;
    }
    if spec.venue.unknown_brackets == UnknownBrackets::Generic {
        let missing: Vec<&str> =
            rules.iter().filter(|r| !r.is_spot && m.brackets(&r.symbol).is_none()).map(|r| r.symbol.as_str()).collect();
        if !missing.is_empty() {
            log::warn!("alphalab's generic leverage brackets for {} perpetuals: {}", missing.len(), missing.join(", "));
        }
        for symbol in missing {
            m.brackets.insert(symbol.to_string(), generic_brackets());
        }
    }
    for r in rules.iter().filter(|r| !r.is_spot) {
        let b = m.brackets(&r.symbol).ok_or_else(|| {
            Error::spec(
                "venue.brackets",
                format!(
                    "no leverage brackets for {} (fetch them: alphalab brackets; or set \
                     venue.unknown_brackets = \"generic\")",
                    r.symbol
                ),
            )
        })?;
        if b.max_notional(leverage).is_none() {
            let max = b.0.iter().map(|t| t.initial_leverage).max().unwrap_or_default();
            return Err(Error::spec("venue.leverage", format!("{leverage}x: {} allows at most {max}x", r.symbol)));
        }
    }
    Ok(Some(m))
}

/// Carries out a scheduled transfer at `t` (refused, and recorded so, when there is not enough
/// to move).
fn transfer(ledger: &SharedLedger, recorder: &SharedRecorder, t: u64, x: &Transfer) {
    let done = ledger.borrow_mut().transfer(x.from, x.to, &x.asset, x.amount);
    if let Err(e) = &done {
        log::warn!("{e}");
    }
    let record =
        TransferRecord { ts: t, from: x.from, to: x.to, asset: x.asset.clone(), amount: x.amount, refused: done.err() };
    recorder.borrow_mut().transfers.push(record);
}

/// `fill = "next_open"`: a synthetic trade at each bar's open price for the `ids` traded,
/// stamped 1 ns after the bar's open time (the previous bar's close; at least `t`, the chunk's
/// start), sized by the bar's volume (one lot at least).
///
/// # Errors
/// A bar type without a duration.
fn open_ticks(chunk: &[Vec<Data>], ids: &[InstrumentId], t: u64) -> Result<Vec<Data>> {
    let mut v = Vec::new();
    for d in chunk.iter().flatten() {
        let Data::Bar(b) = d else { continue };
        let id = b.bar_type.instrument_id();
        if !ids.contains(&id) {
            continue;
        }
        let step = u64::try_from(b.bar_type.spec().timedelta().num_nanoseconds().unwrap_or(0)).unwrap_or(0);
        if step == 0 {
            return Err(Error::spec("bar_types", format!("{}: next_open needs a bar with a duration", b.bar_type)));
        }
        let ts = UnixNanos::from(b.ts_init.as_u64().saturating_sub(step).saturating_add(1).max(t));
        let size = if b.volume.raw > 0 { b.volume } else { Quantity::from_raw(1, b.volume.precision) };
        let trade_id = TradeId::new(OPEN_TRADE_ID);
        v.push(Data::Trade(TradeTick::new(id, b.open, size, AggressorSide::NoAggressor, trade_id, ts, ts)));
    }
    v.sort_by_key(HasTsInit::ts_init);
    Ok(v)
}

/// Drops the market data NautilusTrader 0.57's cache has kept, so that memory follows a chunk.
///
/// Its cache keeps every bar, quote, trade, mark and index price the data engine was given
/// (`add_bar` and the others push without applying `bar_capacity` / `tick_capacity`): 250 bytes
/// a bar, 13 GB for a year of 1m bars of 100 instruments. Nothing reads them here but the latest,
/// which the next event replaces. The only way to drop them is a reset, so between chunks, when
/// no order is open or in flight (a market order fills at its timestamp; a resting limit order
/// or one delayed by latency postpones the trim to a later boundary), the runner resets the
/// cache and restores what the engines still need from it: the venue account and the open
/// positions (instruments and currencies survive the reset, `drop_instruments_on_reset =
/// false`; closed orders and positions, which the strategy purges as it goes anyway, do not).
/// The reset also drops the cache's order books: those of `books` are put back, should anything
/// keep one there (alphalab's own are in the Alpha's context and the matching engines, which the
/// reset does not reach).
///
/// # Errors
/// Restoring the account, a position or a book.
fn trim_cache(engine: &BacktestEngine, venue: Venue, books: &[InstrumentId]) -> Result<()> {
    let fail = |what: &str| Error::engine(format!("restoring the {what} after trimming the cache"));
    let mut cache = engine.kernel().cache.borrow_mut();
    if cache.orders_open_count(None, None, None, None, None) > 0
        || cache.orders_inflight_count(None, None, None, None, None) > 0
        || cache.orders_emulated_count(None, None, None, None, None) > 0
    {
        return Ok(());
    }
    let Some(account) = cache.account_for_venue(&venue).map(|a| a.clone()) else { return Ok(()) };
    let positions: Vec<nautilus_model::position::Position> =
        cache.positions_open(None, None, None, None, None).into_iter().map(|p| p.clone()).collect();
    let kept: Vec<nautilus_model::orderbook::OrderBook> =
        books.iter().filter_map(|id| cache.order_book(id).cloned()).collect();
    cache.reset();
    cache.add_account(account).map_err(fail("account"))?;
    for b in kept {
        cache.add_order_book(b).map_err(fail("order books"))?;
    }
    for p in &positions {
        cache.add_position(p, nautilus_model::enums::OmsType::Netting).map_err(fail("positions"))?;
    }
    Ok(())
}

/// Settles a delisting at `t` (a chunk start: nothing stamped `t` processed yet) at its price,
/// else `at_t` (the last price stamped `t`), else the ledger's last price, and records the
/// `Delisting` fill (see [`crate::delisting`]).
///
/// # Errors
/// An open position without any price to settle at.
fn delist(
    ledger: &SharedLedger,
    recorder: &SharedRecorder,
    d: &DelistingAt,
    at_t: Option<Decimal>,
    t: u64,
) -> Result<()> {
    let id = d.instrument_id;
    let price = d.price.or(at_t).or_else(|| ledger.borrow().context().last_price(&id));
    let held = !ledger.borrow().context().position(&id).is_zero();
    let price = match price {
        Some(p) => p,
        None if held => {
            return Err(Error::spec("delistings", format!("{id}: no price at or before {t} to settle at")));
        }
        None => Decimal::ZERO,
    };
    let closed = ledger.borrow_mut().delist(id, price);
    log::info!("{id} delisted at {t}, settled at {price}");
    let Some(qty) = closed.filter(|q| !q.is_zero()) else { return Ok(()) };
    let settlement = ledger.borrow().rules(&id).map(|r| Ustr::from(&r.settlement)).unwrap_or_default();
    let valuation = ledger.borrow_mut().refresh(UnixNanos::from(t));
    let mut rec = recorder.borrow_mut();
    rec.position_history.entry(id).or_default().push((UnixNanos::from(t), Decimal::ZERO));
    rec.fills.push(Fill {
        ts: t,
        instrument_id: id_text(&id),
        client_order_id: Ustr::from(&format!("DELISTING-{id}")),
        side: Ustr::from(if qty.is_sign_positive() { "Buy" } else { "Sell" }),
        qty,
        price,
        commission: Decimal::ZERO,
        commission_currency: settlement,
        liquidity: Ustr::from("Delisting"),
        position_after: Decimal::ZERO,
    });
    if let Some(v) = valuation {
        rec.equity_at(t, &v);
    }
    Ok(())
}

/// The last mark and trade prices of `id` stamped exactly at `t` in a chunk starting at `t`.
fn prices_at(chunk: &[Vec<Data>], id: InstrumentId, t: u64) -> PricesAt {
    let mut at = PricesAt::default();
    for d in chunk.iter().flat_map(|s| s.iter().take_while(|d| d.ts_init().as_u64() == t)) {
        match d {
            Data::Bar(b) if b.bar_type.instrument_id() == id => at.last = Some(b.close.as_decimal()),
            Data::Trade(x) if x.instrument_id == id => at.last = Some(x.price.as_decimal()),
            Data::Quote(q) if q.instrument_id == id => {
                at.last = Some((q.bid_price.as_decimal() + q.ask_price.as_decimal()) / Decimal::TWO);
            }
            Data::MarkPriceUpdate(m) if m.instrument_id == id => at.mark = Some(m.value.as_decimal()),
            _ => {}
        }
    }
    at
}

/// Settles one funding row on the ledger and on NautilusTrader's account, and records it (see
/// [`crate::funding`]).
fn settle_funding(
    engine: &BacktestEngine,
    venue: Venue,
    ledger: &SharedLedger,
    recorder: &SharedRecorder,
    row: &FundingPayment,
    at: PricesAt,
) -> Result<()> {
    let cumulative = recorder.borrow().funding.last().map(|e| e.cumulative).unwrap_or_default();
    let entry = settle(&mut ledger.borrow_mut(), row, at, cumulative)?;
    let Some(entry) = entry else { return Ok(()) };
    let currency = ledger.borrow().rules(&row.instrument_id).map(|r| r.settlement.clone()).unwrap_or_default();
    credit_account(engine, venue, &currency, entry.payment, row.ts)?;
    let valuation = ledger.borrow_mut().refresh(row.ts);
    let mut rec = recorder.borrow_mut();
    rec.funding.push(entry);
    if let Some(v) = valuation {
        rec.equity_at(row.ts.as_u64(), &v);
    }
    Ok(())
}

/// Adds `amount` of `currency` to the venue account's balance, as NautilusTrader's own
/// `adjust_account` would (0.57's cannot be reached and panics on a held cache borrow): a new
/// account state with the balance moved and the margins kept, sent to the portfolio. Called
/// between chunks, with no borrow of the cache held.
fn credit_account(engine: &BacktestEngine, venue: Venue, currency: &str, amount: Decimal, ts: UnixNanos) -> Result<()> {
    let fail = |msg: String| Error::Engine { context: format!("adjusting the {venue} account"), message: msg };
    let state = {
        let cache = engine.kernel().cache.borrow();
        let acc = cache.account_for_venue(&venue).ok_or_else(|| fail("no account".into()))?;
        let ccy = Currency::get_or_create_crypto(currency);
        let delta = Money::from_decimal(amount, ccy).map_err(|e| fail(e.to_string()))?;
        let balances: Vec<AccountBalance> = acc
            .balances()
            .values()
            .map(
                |b| if b.currency == ccy { AccountBalance::new(b.total + delta, b.locked, b.free + delta) } else { *b },
            )
            .collect();
        let (account_type, margins) = match &*acc {
            AccountAny::Margin(m) => {
                (AccountType::Margin, m.margins.values().chain(m.account_margins.values()).copied().collect())
            }
            _ => (AccountType::Cash, Vec::new()),
        };
        AccountState::new(acc.id(), account_type, balances, margins, false, UUID4::new(), ts, ts, acc.base_currency())
    };
    msgbus::send_account_state(MessagingSwitchboard::portfolio_update_account(), &state);
    Ok(())
}

/// The venue account's balances, by currency.
fn account_balances(engine: &BacktestEngine, venue: Venue) -> Result<Vec<Balance>> {
    let cache = engine.kernel().cache.borrow();
    let acc = cache.account_for_venue(&venue).ok_or_else(|| Error::Engine {
        context: "reading the account".into(),
        message: format!("no {venue} account"),
    })?;
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
    Ok(v)
}
