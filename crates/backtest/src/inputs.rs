//! The data of a run: instruments, engine streams and funding settlements, loaded from the
//! catalog ([`load_inputs`]) or built by tests, and cut to a time window ([`Inputs::window`]).

use std::{collections::BTreeMap, path::Path};

use data::{FundingPayment, catalog::Catalog};
use nautilus_core::UnixNanos;
use nautilus_model::{
    data::{Bar, Data, FundingRateUpdate, HasTsInit, IndexPriceUpdate, MarkPriceUpdate, QuoteTick, TradeTick},
    instruments::{Instrument, InstrumentAny},
};
use nautilus_persistence::backend::catalog::ParquetDataCatalog;

use crate::{
    error::{Error, Result},
    spec::RunSpec,
};

/// Data of one run, in memory.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub instruments: Vec<InstrumentAny>,
    /// One engine stream per entry (on equal `ts_init`, earlier streams come first).
    pub streams: Vec<Vec<Data>>,
    pub funding: Vec<FundingPayment>,
}

impl Inputs {
    /// The part with `ts_init` (funding: `ts`) in `[start, end]` (inclusive).
    #[must_use]
    pub fn window(&self, start: Option<u64>, end: Option<u64>) -> Inputs {
        let inside = |t: u64| start.is_none_or(|s| t >= s) && end.is_none_or(|e| t <= e);
        Inputs {
            instruments: self.instruments.clone(),
            streams: self
                .streams
                .iter()
                .map(|s| s.iter().filter(|d| inside(d.ts_init().as_u64())).cloned().collect())
                .collect(),
            funding: self.funding.iter().filter(|f| inside(f.ts.as_u64())).copied().collect(),
        }
    }

    /// First and last `ts_init` over every stream.
    #[must_use]
    pub fn time_range(&self) -> Option<(u64, u64)> {
        let ts = self.streams.iter().flat_map(|s| s.iter().map(|d| d.ts_init().as_u64()));
        ts.fold(None, |acc, t| Some(acc.map_or((t, t), |(a, b): (u64, u64)| (a.min(t), b.max(t)))))
    }

    /// Events in all streams.
    #[must_use]
    pub fn events(&self) -> usize {
        self.streams.iter().map(Vec::len).sum()
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

/// Loads one instrument's tick stream of one type.
type TickLoader =
    fn(&mut ParquetDataCatalog, String, Option<UnixNanos>, Option<UnixNanos>) -> anyhow::Result<Vec<Data>>;

/// Loads the spec's instruments, bars, ticks, custom data and funding from its catalog (sync
/// code only: the catalog blocks on its own runtime).
///
/// # Errors
/// Catalog errors, a missing instrument, no data for a requested series, a tick stream for an
/// instrument not in `instruments`; each names the run-file key.
pub fn load_inputs(spec: &RunSpec) -> Result<Inputs> {
    let mut cat = Catalog::open(&spec.catalog)?;
    let (start, end) = (spec.start_ns()?, spec.end_ns()?);
    let cat = cat.inner();
    let engine = |what: &str| Error::engine(format!("loading {what} from {}", spec.catalog.display()));
    let instruments = cat.query_instruments(Some(&spec.instruments)).map_err(engine("instruments"))?;
    let mut by_id: BTreeMap<String, InstrumentAny> = BTreeMap::new();
    for i in instruments {
        by_id.insert(i.id().to_string(), i); // latest version wins
    }
    let instruments = spec
        .instruments
        .iter()
        .map(|id| by_id.remove(id).ok_or_else(|| Error::spec("instruments", format!("{id} not in the catalog"))))
        .collect::<Result<Vec<_>>>()?;
    let mut streams = Vec::new();
    for bt in &spec.bar_types {
        let bars = cat
            .query_typed_data::<Bar>(Some(vec![bt.clone()]), start, end, None, None, true)
            .map_err(engine(&format!("bars {bt}")))?;
        if bars.is_empty() {
            return Err(Error::spec("bar_types", format!("no bars for {bt} in the catalog")));
        }
        streams.push(bars.into_iter().map(|b| Data::Bar(align_bar_volume(b))).collect());
    }
    // Tick-level streams: run-file key, instrument ids, what is loaded, loader.
    let ticks: [(&str, &[String], &str, TickLoader); 4] = [
        ("trade_ticks", &spec.trade_ticks, "trades", |c, id, s, e| {
            Ok(c.query_typed_data::<TradeTick>(Some(vec![id]), s, e, None, None, true)?
                .into_iter()
                .map(Data::Trade)
                .collect())
        }),
        ("quote_ticks", &spec.quote_ticks, "quotes", |c, id, s, e| {
            Ok(c.query_typed_data::<QuoteTick>(Some(vec![id]), s, e, None, None, true)?
                .into_iter()
                .map(Data::Quote)
                .collect())
        }),
        ("mark_prices", &spec.mark_prices, "mark prices", |c, id, s, e| {
            Ok(c.query_typed_data::<MarkPriceUpdate>(Some(vec![id]), s, e, None, None, true)?
                .into_iter()
                .map(Data::MarkPriceUpdate)
                .collect())
        }),
        ("index_prices", &spec.index_prices, "index prices", |c, id, s, e| {
            Ok(c.query_typed_data::<IndexPriceUpdate>(Some(vec![id]), s, e, None, None, true)?
                .into_iter()
                .map(Data::IndexPriceUpdate)
                .collect())
        }),
    ];
    for (key, ids, what, load) in ticks {
        for id in ids {
            if !spec.instruments.contains(id) {
                return Err(Error::spec(key, format!("{id} is not in `instruments`")));
            }
            let rows = load(cat, id.clone(), start, end).map_err(engine(&format!("{what} {id}")))?;
            if rows.is_empty() {
                return Err(Error::spec(key, format!("no {what} for {id} in the catalog")));
            }
            streams.push(rows);
        }
    }
    for ty in &spec.custom_types {
        let got = cat
            .query_custom_data_dynamic(ty, Some(&spec.instruments), start, end, None, None, true)
            .map_err(engine(&format!("custom data {ty}")))?;
        streams.push(got);
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
            funding.extend(rows.iter().map(FundingPayment::from));
        }
    }
    Ok(Inputs { instruments, streams, funding })
}

#[cfg(test)]
mod tests {
    use nautilus_model::{
        data::{Bar, BarType},
        types::{Price, Quantity},
    };

    use super::align_bar_volume;

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
}
