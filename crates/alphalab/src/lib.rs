//! alphalab's application layer: settings, logging and the jobs the CLI runs.

pub mod backfill_view;
pub mod backtest_cmd;
pub mod brackets_cmd;
pub mod console;
pub mod demo;
pub mod logging;
pub mod pipeline;
pub mod ray;
pub mod record_cmd;
pub mod settings;
pub mod snapshot;
