//! The data of a run, read chunk by chunk in time order ([`Source`]): from the catalog
//! ([`CatalogSource`], memory bounded by a chunk whatever the length of the data) or from
//! memory ([`Inputs`], built by tests or loaded once and shared read-only by a sweep's variants).

use std::{collections::BTreeMap, path::Path};

use data::{
    FundingMark, FundingPayment,
    catalog::{Catalog, Listing},
};
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{
        Bar, Data, FundingRateUpdate, HasTsInit, IndexPriceUpdate, InstrumentClose, MarkPriceUpdate, OrderBookDelta,
        QuoteTick, TradeTick,
    },
    instruments::{Instrument, InstrumentAny},
};
use nautilus_persistence::backend::catalog::ParquetDataCatalog;

use crate::{
    error::{Error, Result},
    spec::RunSpec,
};

/// Events a chunk aims at (≈ 150 MB of ticks): the bound on a run's memory.
pub const CHUNK_EVENTS: u64 = 1_000_000;
/// Bounds of a chunk's length (ns).
const MIN_SPAN: u64 = 60_000_000_000;
const MAX_SPAN: u64 = 7 * 86_400_000_000_000;

/// A time-ordered source of engine data.
pub trait Source {
    fn instruments(&self) -> &[InstrumentAny];
    /// Funding settlements of the run (few: held whole).
    fn funding(&self) -> &[FundingPayment];
    /// The instruments' `InstrumentClose` rows (delistings, [`crate::delisting`]; few: held
    /// whole). None by default.
    fn closes(&self) -> &[InstrumentClose] {
        &[]
    }
    /// First and last `ts_init` of the data.
    fn time_range(&self) -> Option<(u64, u64)>;
    /// Events in `[start, end]` (exact, or estimated from file footers).
    fn events(&self, start: u64, end: u64) -> u64;
    /// Every stream's items with `ts_init` in `[start, end)`, one `Vec` per stream, in stream
    /// order (on equal `ts_init`, earlier streams come first).
    ///
    /// # Errors
    /// Reading the catalog.
    fn chunk(&mut self, start: u64, end: u64) -> Result<Vec<Vec<Data>>>;
}

/// Data of one run, in memory; each stream ascending by `ts_init`.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub instruments: Vec<InstrumentAny>,
    /// One engine stream per entry (on equal `ts_init`, earlier streams come first).
    pub streams: Vec<Vec<Data>>,
    pub funding: Vec<FundingPayment>,
}

impl Inputs {
    /// First and last `ts_init` over every stream.
    #[must_use]
    pub fn time_range(&self) -> Option<(u64, u64)> {
        let firsts = self.streams.iter().filter_map(|s| s.first().map(|d| d.ts_init().as_u64()));
        let lasts = self.streams.iter().filter_map(|s| s.last().map(|d| d.ts_init().as_u64()));
        Some((firsts.min()?, lasts.max()?))
    }

    /// Events in all streams.
    #[must_use]
    pub fn events(&self) -> usize {
        self.streams.iter().map(Vec::len).sum()
    }

    /// The streams sorted by `ts_init` (stable), as the chunks need them.
    #[must_use]
    pub fn sorted(mut self) -> Self {
        for s in &mut self.streams {
            if !s.is_sorted_by_key(HasTsInit::ts_init) {
                s.sort_by_key(HasTsInit::ts_init);
            }
        }
        self
    }
}

/// Index range of `[start, end)` in an ascending stream.
fn range(s: &[Data], start: u64, end: u64) -> std::ops::Range<usize> {
    let a = s.partition_point(|d| d.ts_init().as_u64() < start);
    let b = s.partition_point(|d| d.ts_init().as_u64() < end);
    a..b.max(a)
}

/// A source over shared in-memory [`Inputs`] (ascending streams, see [`Inputs::sorted`]):
/// chunks are copied out of it, the inputs are never copied whole.
#[derive(Debug, Clone, Copy)]
pub struct MemorySource<'a>(pub &'a Inputs);

impl Source for MemorySource<'_> {
    fn instruments(&self) -> &[InstrumentAny] {
        &self.0.instruments
    }

    fn funding(&self) -> &[FundingPayment] {
        &self.0.funding
    }

    fn time_range(&self) -> Option<(u64, u64)> {
        self.0.time_range()
    }

    fn events(&self, start: u64, end: u64) -> u64 {
        self.0.streams.iter().map(|s| range(s, start, end.saturating_add(1)).len() as u64).sum()
    }

    fn chunk(&mut self, start: u64, end: u64) -> Result<Vec<Vec<Data>>> {
        Ok(self.0.streams.iter().map(|s| s[range(s, start, end)].to_vec()).collect())
    }
}

/// NautilusTrader 0.57's matching engine splits a bar's volume into four raw quarters (its
/// `process_bar`) and then skips every fill whose quantity is not a whole number of size
/// increments, so a bar whose volume is not a multiple of 4 increments can fill nothing. The
/// volume is only the engine's liquidity model here, so it is rounded down to a multiple of
/// 4 increments (at most 3 increments less liquidity per bar); prices are untouched.
#[must_use]
pub fn align_bar_volume(mut bar: Bar) -> Bar {
    use nautilus_model::types::{Quantity, fixed::FIXED_PRECISION, quantity::QuantityRaw};
    let precision = bar.volume.precision;
    let step = QuantityRaw::pow(10, u32::from(FIXED_PRECISION - precision)) * 4;
    bar.volume = Quantity::from_raw(bar.volume.raw - bar.volume.raw % step, precision);
    bar
}

/// One engine stream of a run file: what it is and how it is read from the catalog.
#[derive(Debug, Clone)]
struct Stream {
    /// Run-file key (`bar_types`, `trade_ticks`, ...), for errors.
    key: &'static str,
    /// Catalog listing data type and identifier.
    data_type: String,
    identifier: String,
}

/// Reads one stream's items with `ts_init` in `[start, end]` (inclusive, as the catalog does).
fn read(cat: &mut ParquetDataCatalog, s: &Stream, start: UnixNanos, end: UnixNanos) -> anyhow::Result<Vec<Data>> {
    let (id, span) = (vec![s.identifier.clone()], (Some(start), Some(end)));
    Ok(match s.data_type.as_str() {
        "bars" => cat
            .query_typed_data::<Bar>(Some(id), span.0, span.1, None, None, true)?
            .into_iter()
            .map(|b| Data::Bar(align_bar_volume(b)))
            .collect(),
        "trades" => cat
            .query_typed_data::<TradeTick>(Some(id), span.0, span.1, None, None, true)?
            .into_iter()
            .map(Data::Trade)
            .collect(),
        "quotes" => cat
            .query_typed_data::<QuoteTick>(Some(id), span.0, span.1, None, None, true)?
            .into_iter()
            .map(Data::Quote)
            .collect(),
        "order_book_deltas" => {
            let deltas = cat.query_typed_data::<OrderBookDelta>(Some(id), span.0, span.1, None, None, true)?;
            crate::book::group_deltas(deltas)
        }
        "mark_prices" => cat
            .query_typed_data::<MarkPriceUpdate>(Some(id), span.0, span.1, None, None, true)?
            .into_iter()
            .map(Data::MarkPriceUpdate)
            .collect(),
        "index_prices" => cat
            .query_typed_data::<IndexPriceUpdate>(Some(id), span.0, span.1, None, None, true)?
            .into_iter()
            .map(Data::IndexPriceUpdate)
            .collect(),
        custom => {
            let name = custom.trim_start_matches("custom/");
            cat.query_custom_data_dynamic(name, Some(&id), span.0, span.1, None, None, true)?
        }
    })
}

/// A run file's data read from its catalog chunk by chunk: memory is bounded by a chunk
/// ([`CHUNK_EVENTS`]), whatever the length of the run.
pub struct CatalogSource {
    catalog: Catalog,
    instruments: Vec<InstrumentAny>,
    funding: Vec<FundingPayment>,
    closes: Vec<InstrumentClose>,
    streams: Vec<(Stream, Listing)>,
}

impl std::fmt::Debug for CatalogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogSource").field("catalog", &self.catalog).field("streams", &self.streams.len()).finish()
    }
}

impl CatalogSource {
    /// Opens the spec's catalog and checks that every instrument and stream it names is there
    /// (sync code only: the catalog blocks on its own runtime).
    ///
    /// # Errors
    /// Catalog errors, a missing instrument, no data for a requested series, a tick stream for an
    /// instrument not in `instruments`; each names the run-file key.
    pub fn open(spec: &RunSpec) -> Result<Self> {
        let mut catalog = Catalog::open(&spec.catalog)?;
        let listing = catalog.ls()?;
        let (start, end) = (spec.start_ns()?, spec.end_ns()?);
        let engine = |what: &str| Error::engine(format!("loading {what} from {}", spec.catalog.display()));
        let cat = catalog.inner();
        let mut by_id: BTreeMap<String, InstrumentAny> = BTreeMap::new();
        for i in cat.query_instruments(Some(&spec.instruments)).map_err(engine("instruments"))? {
            by_id.insert(i.id().to_string(), i); // latest version wins
        }
        let instruments = spec
            .instruments
            .iter()
            .map(|id| by_id.remove(id).ok_or_else(|| Error::spec("instruments", format!("{id} not in the catalog"))))
            .collect::<Result<Vec<_>>>()?;
        let mut wanted: Vec<Stream> = spec
            .bar_types
            .iter()
            .map(|bt| Stream { key: "bar_types", data_type: "bars".into(), identifier: bt.clone() })
            .collect();
        // Book records first: on equal `ts_init` the book an order meets is already updated.
        let ticks: [(&'static str, &[String], &str); 5] = [
            ("book_deltas", &spec.book_deltas, "order_book_deltas"),
            ("trade_ticks", &spec.trade_ticks, "trades"),
            ("quote_ticks", &spec.quote_ticks, "quotes"),
            ("mark_prices", &spec.mark_prices, "mark_prices"),
            ("index_prices", &spec.index_prices, "index_prices"),
        ];
        for (key, ids, data_type) in ticks {
            for id in ids {
                if !spec.instruments.contains(id) {
                    return Err(Error::spec(key, format!("{id} is not in `instruments`")));
                }
                wanted.push(Stream { key, data_type: data_type.into(), identifier: id.clone() });
            }
        }
        for ty in &spec.custom_types {
            for id in &spec.instruments {
                wanted.push(Stream { key: "custom_types", data_type: format!("custom/{ty}"), identifier: id.clone() });
            }
        }
        let mut streams = Vec::new();
        for s in wanted {
            match listing.iter().find(|l| l.data_type == s.data_type && l.identifier == s.identifier) {
                Some(l) => streams.push((s, l.clone())),
                None if s.key == "custom_types" => {} // custom data is optional per instrument
                None => {
                    let what = s.data_type.replace('_', " ");
                    return Err(Error::spec(s.key, format!("no {what} for {} in the catalog", s.identifier)));
                }
            }
        }
        let mut funding = Vec::new();
        if spec.funding {
            for i in instruments.iter().filter(|i| matches!(i, InstrumentAny::CryptoPerpetual(_))) {
                let id = i.id().to_string();
                let dir = cat.make_path("funding_rate_update", Some(&id)).map_err(engine("funding"))?;
                if !Path::new(&dir).exists() && !spec.catalog.join(&dir).exists() {
                    continue;
                }
                let rows = cat
                    .query_typed::<FundingRateUpdate>(Some(vec![id.clone()]), start, end, None, None, true)
                    .map_err(engine(&format!("funding {id}")))?;
                // The settlement mark prices, where the rows came with them (REST, not archives).
                let mut marks = Vec::new();
                if listing.iter().any(|l| l.data_type == "custom/FundingMark" && l.identifier == id) {
                    let got = cat
                        .query_custom_data_dynamic(
                            "FundingMark",
                            Some(std::slice::from_ref(&id)),
                            start,
                            end,
                            None,
                            None,
                            true,
                        )
                        .map_err(engine(&format!("funding marks {id}")))?;
                    for d in got {
                        if let Data::Custom(c) = d
                            && let Some(m) = c.data.as_any().downcast_ref::<FundingMark>()
                        {
                            marks.push(m.clone());
                        }
                    }
                }
                let payments =
                    data::funding_payments(&rows, &marks).map_err(|e| Error::spec("funding", format!("{id}: {e}")))?;
                funding.extend(payments);
            }
        }
        let mut closes = Vec::new();
        for i in &instruments {
            let id = i.id().to_string();
            if listing.iter().any(|l| l.data_type == "instrument_closes" && l.identifier == id) {
                let rows = cat
                    .query_typed_data::<InstrumentClose>(Some(vec![id.clone()]), None, None, None, None, true)
                    .map_err(engine(&format!("instrument closes {id}")))?;
                closes.extend(rows);
            }
        }
        Ok(Self { catalog, instruments, funding, closes, streams })
    }

    /// Loads the whole run into memory (sweeps share it between their variants).
    ///
    /// # Errors
    /// Reading the catalog.
    pub fn load_all(mut self, start: Option<u64>, end: Option<u64>) -> Result<Inputs> {
        let (first, last) = self.time_range().unwrap_or((0, 0));
        let streams = self.chunk(start.unwrap_or(first), end.unwrap_or(last).saturating_add(1))?;
        Ok(Inputs { instruments: self.instruments, streams, funding: self.funding })
    }
}

impl Source for CatalogSource {
    fn instruments(&self) -> &[InstrumentAny] {
        &self.instruments
    }

    fn funding(&self) -> &[FundingPayment] {
        &self.funding
    }

    fn closes(&self) -> &[InstrumentClose] {
        &self.closes
    }

    fn time_range(&self) -> Option<(u64, u64)> {
        let first = self.streams.iter().map(|(_, l)| l.first_ts).min()?;
        let last = self.streams.iter().map(|(_, l)| l.last_ts).max()?;
        Some((first, last))
    }

    /// Estimated from the file footers: rows in proportion to the overlap of each stream's
    /// range with `[start, end]`.
    fn events(&self, start: u64, end: u64) -> u64 {
        self.streams
            .iter()
            .map(|(_, l)| {
                let (a, b) = (l.first_ts.max(start), l.last_ts.min(end));
                if b < a {
                    0
                } else if l.last_ts == l.first_ts {
                    l.rows
                } else {
                    (l.rows as f64 * (b - a) as f64 / (l.last_ts - l.first_ts) as f64).round() as u64
                }
            })
            .sum()
    }

    fn chunk(&mut self, start: u64, end: u64) -> Result<Vec<Vec<Data>>> {
        let (from, to) = (UnixNanos::from(start), UnixNanos::from(end.saturating_sub(1)));
        let cat = self.catalog.inner();
        self.streams
            .iter()
            .map(|(s, _)| {
                read(cat, s, from, to).map_err(Error::engine(format!("reading {} {}", s.data_type, s.identifier)))
            })
            .collect()
    }
}

/// The next chunk's length: aims at [`CHUNK_EVENTS`] given the density of the last chunk
/// (`events` in `span` ns), within a minute and a week.
#[must_use]
pub fn next_span(span: u64, events: u64) -> u64 {
    let scaled = (span as f64 * CHUNK_EVENTS as f64 / events.max(1) as f64) as u64;
    scaled.clamp(MIN_SPAN, MAX_SPAN).min(span.saturating_mul(8)).max(MIN_SPAN)
}

/// The first chunk's length for a source of `events` over `duration` ns.
#[must_use]
pub fn first_span(events: u64, duration: u64) -> u64 {
    next_span(duration.max(1), events)
}

#[cfg(test)]
mod tests {
    use nautilus_model::{
        data::{Bar, BarType},
        types::{Price, Quantity},
    };

    use super::*;

    #[test]
    fn bar_volume_is_rounded_down_to_four_increments() {
        let px = Price::from("100.00");
        let bar = |v: &str| {
            Bar::new(
                BarType::from("BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL"),
                px,
                px,
                px,
                px,
                Quantity::from(v),
                1.into(),
                1.into(),
            )
        };
        assert_eq!(align_bar_volume(bar("0.27367")).volume, Quantity::from("0.27364"));
        assert_eq!(align_bar_volume(bar("0.27364")).volume, Quantity::from("0.27364"));
        assert_eq!(align_bar_volume(bar("0.00003")).volume, Quantity::from("0.00000"));
    }

    #[test]
    fn chunk_spans_aim_at_a_million_events() {
        const DAY: u64 = 86_400_000_000_000;
        // a year of 1m bars (525,600 over 365 days): one chunk of a week at most
        assert_eq!(first_span(525_600, 365 * DAY), MAX_SPAN);
        let near = |a: u64, b: u64| assert!(a.abs_diff(b) < 1_000_000, "{a} vs {b}");
        // 100 M ticks a month: about 7.2 hours
        near(first_span(100_000_000, 30 * DAY), 30 * DAY / 100);
        // a dense chunk shrinks the next, a sparse one grows it at most 8-fold
        near(next_span(DAY, 4_000_000), DAY / 4);
        assert_eq!(next_span(DAY, 10), 7 * DAY);
        assert_eq!(next_span(60_000_000_000, 0), 480_000_000_000);
    }
}
