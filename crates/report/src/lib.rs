//! Snapshot report: indicator maths ([`indicators`]) and the five legacy figures drawn from an
//! `alphalab snapshot` folder as PNG and SVG ([`snapshot_figures`]); self-contained HTML
//! reports of backtest runs and sweeps ([`write_run_report`], [`write_sweep_report`]), whose
//! statistics readings ([`stat_reading`]) the command line shares.
//!
//! Text is rendered with a TrueType font read at run time (DejaVu Sans from the Debian package
//! `fonts-dejavu-core`, or the file named by `ALPHALAB_REPORT_FONT`).
mod error;
pub mod figures;
pub mod html;
pub mod indicators;
mod records;

pub use error::{Error, Result};
pub use figures::{FigureOutcome, snapshot_figures};
pub use html::{PERCENT_STATS, stat_reading, write_run_report, write_sweep_report};
