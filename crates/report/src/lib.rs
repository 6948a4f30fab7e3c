//! Snapshot report: indicator maths ([`indicators`]) and the five legacy figures drawn from an
//! `alphalab snapshot` folder as PNG and SVG ([`snapshot_figures`]).
//!
//! Text is rendered with a TrueType font read at run time (DejaVu Sans from the Debian package
//! `fonts-dejavu-core`, or the file named by `ALPHALAB_REPORT_FONT`).
pub mod figures;
pub mod indicators;
mod records;

pub use figures::{FigureOutcome, snapshot_figures};
