//! Backtests of black-box [`alpha::Alpha`]s on NautilusTrader's `BacktestEngine`.
//!
//! - [`alpha`]: the researcher's interface (events, context, targets).
//! - [`adapter`]: the one nautilus strategy that wraps any Alpha and turns targets into orders.
//! - [`venue`]: spot (cash) and USD-M (margin) venue configs, fees, slippage, latency.
//! - [`funding`]: the funding ledger (the 0.57 engine applies no funding).
//! - [`baselines`]: `BuyAndHold` and `TargetsFromFile`.
//! - [`stats`]: performance statistics of an equity curve.
//! - [`run`]: `RunSpec` (TOML) → engine → [`run::RunResult`].
//! - [`results`]: the run folder's files (CSV + Parquet tables, JSON, the spec as run).
//! - [`sweep`]: parameter grids and walk-forward windows, run in parallel and ranked.
//! - [`strategies`]: research strategies by name ([`strategies::registry`]).
//! - [`scaffold`]: `alphalab new-strategy` (template and registration).

pub mod adapter;
pub mod alpha;
pub mod baselines;
pub mod funding;
pub mod results;
pub mod run;
pub mod scaffold;
pub mod stats;
pub mod strategies;
pub mod sweep;
pub mod venue;
