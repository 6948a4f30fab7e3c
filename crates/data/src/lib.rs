//! Raw Binance data → NautilusTrader types: the pure conversion layer of alphalab's data
//! pipeline.
//!
//! - [`parse`]: one module per noun (`instrument`, `kline`, `trade`, `quote`, `prices`,
//!   `funding`, `metrics`, `depth`, `book_sync`, `liquidation`, `recording`, `time`). Pure functions: no clock, no I/O, exact decimals, every
//!   value stamped with the time it became knowable (no look-ahead).
//! - [`custom`]: custom data types for futures statistics (open interest, long/short ratios,
//!   taker volume) and recorded streams (liquidations, predicted funding, gaps), storable in the
//!   Parquet catalog.
//! - [`error`]: [`Error`], the crate's one error type (record-level faults name the field, the
//!   value and the caller's source label).
//! - [`raw`]: the raw archive (exact bytes + provenance), the pipeline's source of truth, filled
//!   by [`dataset`] + [`backfill`] (paginated REST history; [`schedule`] interleaves many symbols
//!   through one weight budget, [`universe`] says which symbols: a list, `ALL`, `top:N`),
//!   [`import`] (local bulk files), [`download`] (bulk files from data.binance.vision or a
//!   mirror) and [`record`] (WebSocket streams as received, into [`recording`] files).
//! - [`ingest`]: any stored raw item → catalog rows (used by backfill, import and rebuild alike).
//! - [`catalog`]: idempotent writes and listings of the ParquetDataCatalog; [`batch`] is what it
//!   writes; [`instruments`] come from the stored exchangeInfo.

pub mod backfill;
pub mod batch;
pub mod catalog;
pub mod custom;
pub mod dataset;
pub mod download;
pub mod error;
pub mod import;
pub mod ingest;
pub mod instruments;
pub mod parse;
pub mod raw;
pub mod record;
pub mod recording;
pub mod schedule;
pub mod universe;

pub use custom::{
    FundingEstimate, FundingMark, Liquidation, LongShortRatio, OpenInterest, RatioKind, StreamGap, TakerBuySellVolume,
    register_custom_data,
};
pub use error::{Error, Result, ResultExt};
pub use parse::{
    funding::{
        FundingPayment, funding_payments, parse_funding_payment, parse_funding_rate, parse_funding_rate_csv,
        parse_funding_row,
    },
    instrument::{Fees, binance_symbol, instrument_id, parse_spot_instrument, parse_usdm_instrument},
    kline::{KlineRow, bar_type, parse_kline, parse_klines_csv, parse_klines_json},
    metrics::{
        MetricsRecord, parse_long_short_ratio, parse_metrics_csv, parse_open_interest_hist,
        parse_taker_long_short_ratio,
    },
    prices::{MARK_INDEX_PRECISION, parse_index_price_kline, parse_mark_price_kline, parse_premium_index},
    quote::{parse_book_ticker, parse_book_ticker_csv},
    time::{archive_ts_to_ns, ms_to_ns, ns_to_rfc3339, rfc3339_to_ns, us_to_ns, user_time_ms},
    trade::{parse_agg_trade, parse_agg_trade_csv, parse_trade, parse_trade_csv},
};
