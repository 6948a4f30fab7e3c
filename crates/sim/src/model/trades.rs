//! Trades, aggregate trades and their exact kline aggregation: the one place where OHLCV is
//! computed, so klines, tickers, WS events and tests all agree by construction.

/// One trade (or one index/mark sample, with `qty == 0`). Prices and quantities are integer
/// units of the contract's tick decimals and step decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trade {
    pub id: u64,
    /// Aggregate trade this trade belongs to.
    pub agg_id: u64,
    pub time: u64,
    pub price: u64,
    pub qty: u64,
    pub is_buyer_maker: bool,
}

/// Binance's aggregate trade: the fills of one taker order at one price (same ms, same side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggTrade {
    pub id: u64,
    pub first_id: u64,
    pub last_id: u64,
    pub time: u64,
    pub price: u64,
    pub qty: u64,
    pub is_buyer_maker: bool,
}

/// Groups consecutive trades by `agg_id` (they are generated contiguous).
#[must_use]
pub fn group(trades: &[Trade]) -> Vec<AggTrade> {
    let mut out: Vec<AggTrade> = Vec::new();
    for t in trades {
        match out.last_mut() {
            Some(a) if a.id == t.agg_id => {
                a.last_id = t.id;
                a.qty += t.qty;
            }
            _ => out.push(AggTrade {
                id: t.agg_id,
                first_id: t.id,
                last_id: t.id,
                time: t.time,
                price: t.price,
                qty: t.qty,
                is_buyer_maker: t.is_buyer_maker,
            }),
        }
    }
    out
}

/// Exact OHLCV statistics of a set of trades; associative `merge`, so minutes roll up into hours
/// and hours into days without revisiting trades. Volumes are in qty units, quote volumes in
/// price-units × qty-units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Agg {
    pub count: u64,
    pub first_id: u64,
    pub last_id: u64,
    pub open_time: u64,
    pub close_time: u64,
    pub open: u64,
    pub close: u64,
    pub close_qty: u64,
    pub high: u64,
    pub low: u64,
    pub volume: u128,
    pub quote: u128,
    pub taker_base: u128,
    pub taker_quote: u128,
}

impl Agg {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn push(&mut self, t: &Trade) {
        let quote = u128::from(t.price) * u128::from(t.qty);
        let (taker_base, taker_quote) = if t.is_buyer_maker { (0, 0) } else { (u128::from(t.qty), quote) };
        self.merge(&Agg {
            count: 1,
            first_id: t.id,
            last_id: t.id,
            open_time: t.time,
            close_time: t.time,
            open: t.price,
            close: t.price,
            close_qty: t.qty,
            high: t.price,
            low: t.price,
            volume: u128::from(t.qty),
            quote,
            taker_base,
            taker_quote,
        });
    }

    /// Appends `o`, which must come later in time.
    pub fn merge(&mut self, o: &Agg) {
        if o.is_empty() {
            return;
        }
        if self.is_empty() {
            *self = *o;
            return;
        }
        self.count += o.count;
        self.last_id = o.last_id;
        self.close_time = o.close_time;
        self.close = o.close;
        self.close_qty = o.close_qty;
        self.high = self.high.max(o.high);
        self.low = self.low.min(o.low);
        self.volume += o.volume;
        self.quote += o.quote;
        self.taker_base += o.taker_base;
        self.taker_quote += o.taker_quote;
    }

    /// Statistics of `trades` (any order-preserving slice).
    #[must_use]
    pub fn of(trades: &[Trade]) -> Agg {
        let mut a = Agg::default();
        trades.iter().for_each(|t| a.push(t));
        a
    }
}

/// One kline: `agg` over trades with time in `[open_time, close_time]`. For an interval without
/// trades so far, `agg` is empty except `open/high/low/close` = the previous close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kline {
    pub open_time: u64,
    pub close_time: u64,
    pub agg: Agg,
}
