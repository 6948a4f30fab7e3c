//! Backtests of black-box [`alpha::Alpha`]s on NautilusTrader's `BacktestEngine`.
//!
//! Data flows one way: [`spec`] (the run file) → [`inputs`] (catalog data) → [`engine`] (the
//! runner, with [`strategy`] inside NautilusTrader) → [`result`] → [`output`] (the run folder).
//!
//! - [`alpha`]: the researcher's interface (events, context, per-timestamp slices, targets);
//!   [`registry`] builds one by name; [`baselines`] are the ones that measure the pipeline;
//!   [`strategies`] holds the researcher's own, created by [`scaffold`] (`alphalab new-strategy`).
//! - [`strategy`]: the one nautilus strategy that wraps any Alpha; [`execution`] is its policy
//!   (targets → orders), [`ledger`] its exact book, [`recorder`] what it records.
//! - [`venue`]: spot (cash) and USD-M (margin) venue configs, fees, slippage, latency;
//!   [`book`]: backtests on a recorded order book (L2 matching, the Alpha's view of the book).
//! - [`margin`]: USD-M margin and liquidation rules; [`funding`]: funding settlements (the 0.57
//!   engine applies neither), both applied inside the run on the ledger; [`delisting`]:
//!   perpetuals that stop trading, settled by the engine at their delisting time.
//! - [`attribution`]: per-instrument PnL, fees and funding.
//! - [`stats`]: performance statistics of an equity curve.
//! - [`sweep`]: parameter grids and walk-forward windows, run in parallel and ranked.
//! - [`error`]: the crate's one error type.

pub mod alpha;
pub mod attribution;
pub mod baselines;
pub mod book;
pub mod delisting;
pub mod engine;
pub mod error;
pub mod execution;
pub mod funding;
pub mod inputs;
pub mod ledger;
pub mod margin;
pub mod output;
pub mod recorder;
pub mod registry;
pub mod result;
pub mod scaffold;
pub mod spec;
pub mod stats;
pub mod strategies;
pub mod strategy;
pub mod sweep;
pub mod venue;

pub use error::{Error, Result};

/// Turns transparent huge pages off for this process (Linux; elsewhere nothing). The binaries
/// allocate with mimalloc, which commits its arenas eagerly: where THP is `always` (common on
/// servers, and on the machine of docs/BENCHMARKS.md) every 2 MB region it touches then counts
/// whole in the resident set, 400 MB instead of 133 MB for the same month of a 100-perpetual
/// universe at the same speed. Called first thing in `main`.
pub fn small_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        eprintln!("note: transparent huge pages stay on ({e})");
    }
}
