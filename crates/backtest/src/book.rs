//! Backtests on a recorded order book (run-file key `book_deltas`, venue `book_type = "L2_MBP"`).
//!
//! - **Data**: the catalog's `OrderBookDelta`s (the data crate writes a depth snapshot as a
//!   `Clear` plus `Add`s and each diff as `Update`/`Delete`s, the last delta of each record
//!   flagged `F_LAST`) are regrouped into one `Data::Deltas` per record ([`group_deltas`]): the
//!   matching engine applies a record at once and re-matches once, not once per level, and the
//!   Alpha gets one [`crate::alpha::MarketEvent::Book`] per record. All deltas of a record share
//!   their `ts_init`, so a record never spans two chunks.
//! - **Fills**: with `L2_MBP` NautilusTrader 0.57's matching engine keeps its own book from the
//!   deltas (outside the cache, so the runner's cache trims between chunks leave it alone) and a
//!   market order walks it level by level. A market order larger than the whole side would leave
//!   its rest open (0.57 fills it once, against the levels there are), so the strategy caps
//!   market orders at the depth of the side they take ([`side_depth`]), as it caps them at a
//!   bar's or a quote's size on L1. NautilusTrader's portfolio values positions from quotes,
//!   trades or bars only, so the strategy also puts the book's top in the cache as a quote
//!   ([`top_quote`]).
//! - **What the Alpha sees**: [`crate::alpha::Context::book`] — a copy of the same book, kept by
//!   the strategy from the same deltas ([`Books`]), in the context so that reading it costs
//!   nothing per event and needs no borrow of NautilusTrader's cache.
//! - **Chunks without book data**: 0.57 refuses to run a chunk in which an instrument of an L2
//!   venue has data but no book data (a hole in a recording longer than a chunk). The runner
//!   then adds a record that changes nothing ([`keep_alive`]): the deletion of a level that is
//!   not in the book. The strategy drops such records ([`Books::apply`]), so no Alpha sees them.

use std::collections::BTreeMap;

use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{BookOrder, Data, HasTsInit, OrderBookDelta, OrderBookDeltas, OrderBookDeltas_API, QuoteTick},
    enums::{BookAction, BookType, OrderSide, RecordFlag},
    identifiers::InstrumentId,
    orderbook::OrderBook,
    types::Price,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{
    error::{Error, Result},
    spec::RunSpec,
};

/// The venue's order book model (`[venue] book_type`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BookKind {
    /// Top of book from quotes, trades and bars (the default): no book data needed.
    #[default]
    #[serde(rename = "L1_MBP")]
    L1,
    /// Price levels from `book_deltas`: market orders walk the book.
    #[serde(rename = "L2_MBP")]
    L2,
}

impl BookKind {
    /// NautilusTrader's book type.
    #[must_use]
    pub const fn book_type(self) -> BookType {
        match self {
            BookKind::L1 => BookType::L1_MBP,
            BookKind::L2 => BookType::L2_MBP,
        }
    }
}

/// Checks `book_deltas` against `instruments` and the venue's book type.
///
/// # Errors
/// An id not in `instruments`; book deltas on an L1 venue (NautilusTrader would ignore them and
/// fill on quotes); an L2 venue with an instrument without book deltas (its matching engine
/// would have an empty book: every market order would be rejected).
pub fn check_spec(spec: &RunSpec) -> Result<()> {
    for id in &spec.book_deltas {
        if !spec.instruments.contains(id) {
            return Err(Error::spec("book_deltas", format!("{id} is not in `instruments`")));
        }
    }
    match spec.venue.book_type {
        BookKind::L1 if !spec.book_deltas.is_empty() => Err(Error::spec(
            "book_deltas",
            "needs venue.book_type = \"L2_MBP\" (an L1 venue fills on quotes, trades and bars only)",
        )),
        BookKind::L2 => match spec.instruments.iter().find(|id| !spec.book_deltas.contains(id)) {
            Some(id) => Err(Error::spec(
                "venue.book_type",
                format!("L2_MBP needs the book of every instrument: add {id} to `book_deltas`"),
            )),
            None => Ok(()),
        },
        BookKind::L1 => Ok(()),
    }
}

/// Ascending deltas (one instrument, as the catalog returns them) → one `Data::Deltas` per
/// record: a record ends at a delta flagged `F_LAST`, or where `ts_init` changes (a record
/// without its flag is not merged with the next).
#[must_use]
pub fn group_deltas(deltas: Vec<OrderBookDelta>) -> Vec<Data> {
    let mut out = Vec::new();
    let mut record: Vec<OrderBookDelta> = Vec::new();
    let flush = |record: &mut Vec<OrderBookDelta>, out: &mut Vec<Data>| {
        if let Some(first) = record.first() {
            let id = first.instrument_id;
            out.push(Data::Deltas(OrderBookDeltas_API::new(OrderBookDeltas::new(id, std::mem::take(record)))));
        }
    };
    for d in deltas {
        if record.last().is_some_and(|p| p.ts_init != d.ts_init || p.instrument_id != d.instrument_id) {
            flush(&mut record, &mut out);
        }
        let last = RecordFlag::F_LAST.matches(d.flags);
        record.push(d);
        if last {
            flush(&mut record, &mut out);
        }
    }
    flush(&mut record, &mut out);
    out
}

/// The order books the Alpha sees, one per instrument with `book_deltas`, kept by the strategy
/// from the records the matching engine gets.
#[derive(Debug, Clone, Default)]
pub struct Books(BTreeMap<InstrumentId, OrderBook>);

impl PartialEq for Books {
    /// Same instruments, same levels (price and size) on both sides.
    fn eq(&self, other: &Self) -> bool {
        let same = |x: &OrderBook, y: &OrderBook| {
            let (x, y) = (BookView(x), BookView(y));
            x.bids(usize::MAX) == y.bids(usize::MAX) && x.asks(usize::MAX) == y.asks(usize::MAX)
        };
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|((a, x), (b, y))| a == b && same(x, y))
    }
}

impl Books {
    /// Empty L2 books for `ids`.
    #[must_use]
    pub fn new(ids: &[InstrumentId]) -> Self {
        Self(ids.iter().map(|id| (*id, OrderBook::new(*id, BookType::L2_MBP))).collect())
    }

    /// The book of `id`, if it has book deltas.
    #[must_use]
    pub fn get(&self, id: &InstrumentId) -> Option<BookView<'_>> {
        self.0.get(id).map(BookView)
    }

    /// Applies a record; `false` when it changes nothing (a [`keep_alive`] record, not to be
    /// delivered) or is for an instrument without a book.
    ///
    /// # Errors
    /// NautilusTrader's book refuses a delta (naming the instrument).
    pub fn apply(&mut self, deltas: &OrderBookDeltas) -> std::result::Result<bool, String> {
        let Some(book) = self.0.get_mut(&deltas.instrument_id) else { return Ok(false) };
        if let [d] = deltas.deltas.as_slice()
            && d.action == BookAction::Delete
            && !has_level(book, d.order.side, d.order.price)
        {
            return Ok(false);
        }
        book.apply_deltas(deltas).map_err(|e| format!("order book of {}: {e}", deltas.instrument_id))?;
        Ok(true)
    }
}

fn has_level(book: &OrderBook, side: OrderSide, price: Price) -> bool {
    match side {
        OrderSide::Buy => book.bids(None).any(|l| l.price.value == price),
        OrderSide::Sell => book.asks(None).any(|l| l.price.value == price),
        OrderSide::NoOrderSide => false,
    }
}

/// A read-only view of one instrument's book: prices and sizes as exact decimals, best first.
#[derive(Debug, Clone, Copy)]
pub struct BookView<'a>(&'a OrderBook);

impl<'a> BookView<'a> {
    /// Best bid (price, size).
    #[must_use]
    pub fn best_bid(&self) -> Option<(Decimal, Decimal)> {
        self.0.bids(Some(1)).next().map(|l| (l.price.value.as_decimal(), l.size_decimal()))
    }

    /// Best ask (price, size).
    #[must_use]
    pub fn best_ask(&self) -> Option<(Decimal, Decimal)> {
        self.0.asks(Some(1)).next().map(|l| (l.price.value.as_decimal(), l.size_decimal()))
    }

    /// The best `n` bid levels (price, size), highest price first.
    #[must_use]
    pub fn bids(&self, n: usize) -> Vec<(Decimal, Decimal)> {
        self.0.bids(None).take(n).map(|l| (l.price.value.as_decimal(), l.size_decimal())).collect()
    }

    /// The best `n` ask levels (price, size), lowest price first.
    #[must_use]
    pub fn asks(&self, n: usize) -> Vec<(Decimal, Decimal)> {
        self.0.asks(None).take(n).map(|l| (l.price.value.as_decimal(), l.size_decimal())).collect()
    }

    /// Midpoint of the best bid and ask (both sides present).
    #[must_use]
    pub fn mid(&self) -> Option<Decimal> {
        Some((self.best_bid()?.0 + self.best_ask()?.0) / Decimal::TWO)
    }

    /// `sequence` of the last record applied (Binance's update id `u`, or the snapshot's
    /// `lastUpdateId`).
    #[must_use]
    pub fn sequence(&self) -> u64 {
        self.0.sequence
    }

    /// `ts_event` of the last record applied.
    #[must_use]
    pub fn ts_last(&self) -> UnixNanos {
        self.0.ts_last
    }

    /// NautilusTrader's book itself (average or worst price for a size, grouping, ...).
    #[must_use]
    pub fn inner(&self) -> &'a OrderBook {
        self.0
    }
}

/// The top of `view` as a quote (both sides present). NautilusTrader's portfolio values a
/// position from quotes, trades or bars only, never from a book: the strategy puts this quote in
/// the cache after each record, so that runs on book data alone have prices there too.
#[must_use]
pub fn top_quote(view: &BookView<'_>, ts: UnixNanos) -> Option<QuoteTick> {
    let b = view.0;
    let (bid, ask) = (b.best_bid_price()?, b.best_ask_price()?);
    QuoteTick::new_checked(b.instrument_id, bid, ask, b.best_bid_size()?, b.best_ask_size()?, ts, ts).ok()
}

/// The size a market order of sign `delta` can take from `book` now: the asks for a buy, the
/// bids for a sell, summed only until `|delta|` is reached (the cap is then not binding).
#[must_use]
pub fn side_depth(book: &BookView<'_>, delta: Decimal) -> Decimal {
    let levels: Box<dyn Iterator<Item = _>> =
        if delta.is_sign_positive() { Box::new(book.0.asks(None)) } else { Box::new(book.0.bids(None)) };
    let mut sum = Decimal::ZERO;
    for l in levels {
        sum += l.size_decimal();
        if sum >= delta.abs() {
            break;
        }
    }
    sum
}

/// For each instrument of `books` with data in `chunk` but no book record there, a record that
/// changes nothing, stamped at its first item of the chunk: the deletion of a bid level absent
/// from the book (the lowest tick not in it), so NautilusTrader runs the chunk (see the module
/// docs). `tick` gives each instrument's price increment.
#[must_use]
pub fn keep_alive(chunk: &[Vec<Data>], books: &Books, tick: impl Fn(&InstrumentId) -> Option<Price>) -> Vec<Data> {
    let mut first: BTreeMap<InstrumentId, UnixNanos> = BTreeMap::new();
    let mut has_book: Vec<InstrumentId> = Vec::new();
    for d in chunk.iter().flatten() {
        let id = d.instrument_id();
        if !books.0.contains_key(&id) {
            continue;
        }
        if d.is_order_book_data() {
            has_book.push(id);
        }
        first.entry(id).and_modify(|t| *t = (*t).min(d.ts_init())).or_insert_with(|| d.ts_init());
    }
    let mut out: Vec<Data> = Vec::new();
    for (id, ts) in first.into_iter().filter(|(id, _)| !has_book.contains(id)) {
        let (Some(book), Some(tick)) = (books.0.get(&id), tick(&id)) else { continue };
        let mut price = tick;
        while has_level(book, OrderSide::Buy, price) {
            price = Price::from_raw(price.raw + tick.raw, tick.precision);
        }
        let order = BookOrder::new(OrderSide::Buy, price, nautilus_model::types::Quantity::zero(0), 0);
        let delta = OrderBookDelta::new(id, BookAction::Delete, order, RecordFlag::F_LAST as u8, book.sequence, ts, ts);
        out.push(Data::Deltas(OrderBookDeltas_API::new(OrderBookDeltas::new(id, vec![delta]))));
    }
    out.sort_by_key(HasTsInit::ts_init);
    out
}

#[cfg(test)]
mod tests {
    use nautilus_model::types::Quantity;

    use super::*;

    fn id() -> InstrumentId {
        InstrumentId::from("BTCUSDT.BINANCE")
    }

    fn delta(action: BookAction, side: OrderSide, px: &str, qty: &str, flags: u8, ts: u64) -> OrderBookDelta {
        let order = BookOrder::new(side, Price::from(px), Quantity::from(qty), 0);
        OrderBookDelta::new(id(), action, order, flags, 1, ts.into(), ts.into())
    }

    #[test]
    fn records_end_at_f_last_or_a_new_ts_init() {
        let last = RecordFlag::F_LAST as u8;
        let v = vec![
            OrderBookDelta::clear(id(), 1, 5.into(), 5.into()),
            delta(BookAction::Add, OrderSide::Buy, "99.0", "1.0", 0, 5),
            delta(BookAction::Add, OrderSide::Sell, "100.0", "0.5", last, 5),
            delta(BookAction::Update, OrderSide::Sell, "100.0", "0.4", last, 5), // same ts, own record
            delta(BookAction::Update, OrderSide::Sell, "100.5", "1.0", 0, 6),    // F_LAST lost
            delta(BookAction::Delete, OrderSide::Buy, "99.0", "0", last, 7),
        ];
        let sizes: Vec<(usize, u64)> = group_deltas(v)
            .iter()
            .map(|d| match d {
                Data::Deltas(x) => (x.deltas.len(), x.ts_init.as_u64()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sizes, vec![(3, 5), (1, 5), (1, 6), (1, 7)]);
    }

    #[test]
    fn the_book_view_and_the_keep_alive_record() {
        let last = RecordFlag::F_LAST as u8;
        let mut books = Books::new(&[id()]);
        let snap = OrderBookDeltas::new(
            id(),
            vec![
                OrderBookDelta::clear(id(), 1, 5.into(), 5.into()),
                delta(BookAction::Add, OrderSide::Buy, "0.1", "2.0", 0, 5),
                delta(BookAction::Add, OrderSide::Buy, "99.0", "1.0", 0, 5),
                delta(BookAction::Add, OrderSide::Sell, "100.0", "0.5", 0, 5),
                delta(BookAction::Add, OrderSide::Sell, "100.5", "1.0", last, 5),
            ],
        );
        assert_eq!(books.apply(&snap), Ok(true));
        let view = books.get(&id()).unwrap();
        assert_eq!(view.best_bid(), Some((Decimal::new(990, 1), Decimal::ONE)));
        assert_eq!(
            view.asks(5),
            vec![(Decimal::new(1000, 1), Decimal::new(5, 1)), (Decimal::new(1005, 1), Decimal::ONE)]
        );
        assert_eq!(view.mid(), Some(Decimal::new(995, 1)));
        assert_eq!(side_depth(&view, Decimal::new(12, 1)), Decimal::new(15, 1));
        assert_eq!(side_depth(&view, Decimal::new(3, 1)), Decimal::new(5, 1), "stops once reached");
        assert_eq!(side_depth(&view, Decimal::new(-5, 0)), Decimal::new(30, 1));
        // A chunk with a trade and no book record gets one deleting an absent level (0.1 is a
        // level, so 0.2), which the view drops.
        let trade = nautilus_model::data::TradeTick::new(
            id(),
            Price::from("100.0"),
            Quantity::from("0.1"),
            nautilus_model::enums::AggressorSide::Buyer,
            nautilus_model::identifiers::TradeId::new("1"),
            9.into(),
            9.into(),
        );
        let chunk = vec![vec![Data::Trade(trade)]];
        let added = keep_alive(&chunk, &books, |_| Some(Price::from("0.1")));
        let [Data::Deltas(x)] = added.as_slice() else { panic!("{added:?}") };
        assert_eq!(
            (x.ts_init.as_u64(), x.deltas[0].order.price, x.deltas[0].action),
            (9, Price::from("0.2"), BookAction::Delete)
        );
        let before = books.clone();
        assert_eq!(books.apply(x), Ok(false));
        assert_eq!(books, before);
        // With a record in the chunk nothing is added.
        let chunk = vec![chunk[0].clone(), vec![added[0].clone()]];
        assert!(keep_alive(&chunk, &books, |_| Some(Price::from("0.1"))).is_empty());
    }
}
