//! Delistings: a perpetual that stops trading during a run is settled at its delisting time.
//!
//! The contract, for whoever writes the data: a delisting is a NautilusTrader
//! `InstrumentClose` (`close_type = CONTRACT_EXPIRED`, `close_price` = the settlement price,
//! `ts_event = ts_init` = the time trading stopped, Binance's `deliveryDate` of a delisted
//! USD-M symbol) in the catalog (`instrument_closes/<INSTRUMENT_ID>`), or a `delistings` entry of
//! the run file (`{ instrument_id, at, settlement_price }`; it wins for its instrument, and its
//! price defaults to the instrument's last price at or before `at`: the close of the bar that
//! ends then, else the last one before).
//!
//! In the run, delistings are applied as funding settlements are: the runner ends a chunk at
//! `at` (every event before it processed, none at it), pays the funding due then, and settles
//! the position on the ledger at the settlement price, without a fee, as a `Delisting` fill;
//! the instrument is then in [`crate::alpha::Context::delisted`] and no order is sent for it.
//! Inside the engine the position is closed at the next event with a reduce-only market order
//! whose fill is not booked again (as a liquidation's). The catalog's closes are not given to
//! the engine: NautilusTrader 0.57's own expiration of a perpetual panics ("Liquidity side not
//! set" in its matching engine's expiration fill). A delisting before the run's start only marks
//! the instrument delisted.

use std::str::FromStr;

use nautilus_model::{
    data::InstrumentClose,
    enums::InstrumentCloseType,
    identifiers::InstrumentId,
    instruments::{Instrument, InstrumentAny},
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A run file's `[[delistings]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delisting {
    pub instrument_id: String,
    /// RFC 3339 time trading stops.
    pub at: String,
    /// Settlement price; default: the last price at or before `at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settlement_price: Option<Decimal>,
}

/// A delisting of the run, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelistingAt {
    pub instrument_id: InstrumentId,
    pub ts: u64,
    /// `None`: the last price at or before `ts`.
    pub price: Option<Decimal>,
}

/// The run's delistings in time order: the catalog's closes of `instruments`, then the run
/// file's (which replace the catalog's for their instrument).
///
/// # Errors
/// A run-file entry naming an instrument not in the run or a spot pair, a bad time.
pub fn resolve(
    spec: &[Delisting],
    catalog: &[InstrumentClose],
    instruments: &[InstrumentAny],
) -> Result<Vec<DelistingAt>> {
    let find = |id: &InstrumentId| instruments.iter().find(|i| i.id() == *id);
    let mut out: Vec<DelistingAt> = Vec::new();
    for c in catalog.iter().filter(|c| c.close_type == InstrumentCloseType::ContractExpired) {
        if find(&c.instrument_id).is_some() {
            let d = DelistingAt {
                instrument_id: c.instrument_id,
                ts: c.ts_init.as_u64(),
                price: Some(c.close_price.as_decimal()),
            };
            out.retain(|x| x.instrument_id != d.instrument_id);
            out.push(d);
        }
    }
    for (k, d) in spec.iter().enumerate() {
        let key = format!("delistings[{k}]");
        let id = InstrumentId::from_str(&d.instrument_id)
            .map_err(|e| Error::spec(&key, format!("{}: {e}", d.instrument_id)))?;
        let Some(i) = find(&id) else {
            return Err(Error::spec(key, format!("{id} is not in `instruments`")));
        };
        if !matches!(i, InstrumentAny::CryptoPerpetual(_)) {
            return Err(Error::spec(key, format!("{id} is a spot pair: only perpetuals are settled at a delisting")));
        }
        let ts = data::rfc3339_to_ns("at", &d.at).map_err(|e| Error::spec(&key, e))?.as_u64();
        out.retain(|x| x.instrument_id != id);
        out.push(DelistingAt { instrument_id: id, ts, price: d.settlement_price });
    }
    out.sort_by_key(|d| (d.ts, d.instrument_id.to_string()));
    Ok(out)
}
