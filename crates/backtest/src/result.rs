//! What a run produces ([`RunResult`]): the runner returns it, the caller writes it
//! ([`crate::output`]), sweeps rank it.

use std::collections::BTreeMap;

use nautilus_core::UnixNanos;
use nautilus_model::identifiers::InstrumentId;
use rust_decimal::Decimal;
use serde::Serialize;
use ustr::Ustr;

pub use crate::recorder::CurvePoint;
use crate::{
    alpha::Wallet,
    attribution::AttributionRow,
    error::{Error, Result},
    funding::FundingEntry,
    ledger::Liquidation,
    recorder::{Delivery, Fill, OrderRecord, Recorder, Skip, TransferRecord, id_text},
    stats::{Stats, compute},
};

/// Nautilus' account balance of one currency at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub currency: String,
    pub total: Decimal,
    pub free: Decimal,
    pub locked: Decimal,
}

/// Everything a run produces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResult {
    pub version: String,
    /// Market events the engine processed.
    pub iterations: usize,
    /// Orders submitted (from the run's own record: the engine's cache is purged as it goes).
    pub total_orders: usize,
    /// Order submissions and cancellations (in `orders.csv/.parquet`).
    #[serde(skip)]
    pub orders: Vec<OrderRecord>,
    pub fills: Vec<Fill>,
    pub skips: Vec<Skip>,
    pub rejections: Vec<String>,
    /// Final exact fill-ledger positions.
    pub positions: BTreeMap<String, Decimal>,
    /// Final exact ledger cash, every wallet together (funding included).
    pub ledger_balances: BTreeMap<String, Decimal>,
    /// Final exact ledger cash per wallet (`spot`, `futures`): the account of record.
    pub wallets: BTreeMap<Wallet, BTreeMap<String, Decimal>>,
    /// Final NautilusTrader account balances (funding credited by the runner). One engine
    /// account holds both wallets' USDT, and liquidations close there at the engine's price
    /// without the clearance fee: the ledger's `wallets` are the exact figures.
    pub account_balances: Vec<Balance>,
    pub funding: Vec<FundingEntry>,
    /// Positions closed by liquidation (also in `fills`, liquidity `Liquidation`).
    pub liquidations: Vec<Liquidation>,
    /// Scheduled transfers between wallets, done or refused.
    pub transfers: Vec<TransferRecord>,
    pub equity: Vec<CurvePoint>,
    /// Per-instrument PnL, fees and funding at the end (`attribution.csv/.parquet`).
    pub attribution: Vec<AttributionRow>,
    /// The same per instrument at the end of every UTC day with activity, then at the end
    /// (`instrument_pnl.csv/.parquet`).
    #[serde(skip)]
    pub instrument_pnl: Vec<AttributionRow>,
    /// `(ts, instrument, net position)` after every fill (in `positions.csv/.parquet`).
    #[serde(skip)]
    pub position_history: Vec<(u64, Ustr, Decimal)>,
    /// `(ts, instrument, last price)` used for marking (in `prices.csv/.parquet`).
    #[serde(skip)]
    pub prices: Vec<(u64, Ustr, Decimal)>,
    pub stats: Stats,
    /// Every event delivery, when recorded (tests of the timing rules); not written to disk.
    #[serde(skip)]
    pub deliveries: Vec<Delivery>,
}

/// Crate version (+ `git describe` if `ALPHALAB_GIT_DESCRIBE` was set at build time).
#[must_use]
pub fn code_version() -> String {
    match option_env!("ALPHALAB_GIT_DESCRIBE") {
        Some(g) => format!("{} ({g})", env!("CARGO_PKG_VERSION")),
        None => env!("CARGO_PKG_VERSION").to_string(),
    }
}

impl RunResult {
    /// Assembles the result of a finished run from what it recorded (funding was settled during
    /// the run and is in the equity).
    ///
    /// # Errors
    /// A run that never valued its equity (no prices for the held currencies).
    pub fn assemble(
        mut rec: Recorder,
        account_balances: Vec<Balance>,
        iterations: usize,
        reporting_currency: &str,
    ) -> Result<Self> {
        // Moved, not copied: the largest series of a long run (one point per sampling interval).
        let mut equity = std::mem::take(&mut rec.equity);
        for p in &mut equity {
            p.equity_ex_funding = (p.equity - p.funding).normalize();
            p.equity = p.equity.normalize();
            p.gross_exposure = p.gross_exposure.normalize();
            p.net_exposure = p.net_exposure.normalize();
        }
        let curve: Vec<(u64, Decimal, Decimal)> = equity.iter().map(|p| (p.ts, p.equity, p.gross_exposure)).collect();
        let funding_total = rec.funding.last().map(|e| e.cumulative).unwrap_or_default();
        let initial = rec.initial_equity.ok_or_else(|| Error::Spec {
            key: "instruments".into(),
            msg: "no equity: no prices for the held currencies".into(),
        })?;
        let stats = compute(initial, &curve, &rec.fills, reporting_currency, funding_total);
        drop(curve);
        // Each per-instrument series is freed as soon as it is flattened.
        let position_history = series(&std::mem::take(&mut rec.position_history));
        let prices = series(&std::mem::take(&mut rec.prices));
        Ok(Self {
            version: code_version(),
            iterations,
            total_orders: rec.orders.iter().filter(|o| o.action == "submit").count(),
            orders: rec.orders,
            fills: rec.fills,
            skips: rec.skips,
            rejections: rec.rejections,
            positions: rec.last_context.positions.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            ledger_balances: rec.last_context.balances.clone(),
            wallets: rec.last_context.wallets.clone(),
            account_balances,
            funding: rec.funding,
            liquidations: rec.liquidations,
            transfers: rec.transfers,
            equity,
            attribution: rec.attribution,
            instrument_pnl: rec.instrument_pnl,
            position_history,
            prices,
            stats,
            deliveries: rec.deliveries,
        })
    }
}

/// Per-instrument `(ts, value)` series flattened in time order (ties by instrument id).
fn series(m: &BTreeMap<InstrumentId, Vec<(UnixNanos, Decimal)>>) -> Vec<(u64, Ustr, Decimal)> {
    let mut v: Vec<(u64, Ustr, Decimal)> = m
        .iter()
        .flat_map(|(id, s)| {
            let id = id_text(id);
            s.iter().map(move |(t, x)| (t.as_u64(), id, *x))
        })
        .collect();
    v.sort_by(|a, b| (a.0, a.1.as_str()).cmp(&(b.0, b.1.as_str())));
    v
}
