//! What one raw item converts to: NautilusTrader values of one kind and one instrument,
//! ascending by `ts_init`, ready for the catalog. The REST and bulk-archive converters both
//! produce it; the catalog writer is the only consumer.

use nautilus_model::{
    data::{
        Bar, CustomData, FundingRateUpdate, IndexPriceUpdate, MarkPriceUpdate, OrderBookDelta, QuoteTick, TradeTick,
    },
    instruments::InstrumentAny,
};

/// Converted values of one kind.
#[derive(Debug, Clone)]
pub enum Batch {
    Bars(Vec<Bar>),
    Trades(Vec<TradeTick>),
    Quotes(Vec<QuoteTick>),
    /// L2 order book deltas: a snapshot (clear + adds) then the diffs, per recorded book.
    Deltas(Vec<OrderBookDelta>),
    MarkPrices(Vec<MarkPriceUpdate>),
    IndexPrices(Vec<IndexPriceUpdate>),
    Funding(Vec<FundingRateUpdate>),
    /// Open interest, long/short ratios, taker volume (see [`crate::custom`]); one type per batch.
    Custom(Vec<CustomData>),
    Instruments(Vec<InstrumentAny>),
}

impl Batch {
    /// Rows in the batch.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Batch::Bars(v) => v.len(),
            Batch::Trades(v) => v.len(),
            Batch::Quotes(v) => v.len(),
            Batch::Deltas(v) => v.len(),
            Batch::MarkPrices(v) => v.len(),
            Batch::IndexPrices(v) => v.len(),
            Batch::Funding(v) => v.len(),
            Batch::Custom(v) => v.len(),
            Batch::Instruments(v) => v.len(),
        }
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Catalog data-type name (`bars`, `trades`, ... ) for listings and errors.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Batch::Bars(_) => "bars",
            Batch::Trades(_) => "trades",
            Batch::Quotes(_) => "quotes",
            Batch::Deltas(_) => "order_book_deltas",
            Batch::MarkPrices(_) => "mark_prices",
            Batch::IndexPrices(_) => "index_prices",
            Batch::Funding(_) => "funding_rates",
            Batch::Custom(_) => "custom",
            Batch::Instruments(_) => "instruments",
        }
    }
}
