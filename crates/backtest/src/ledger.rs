//! The exact fill ledger: positions, cash per currency and last prices, in decimals, updated in
//! place on every fill and price. Its [`Context`] is what the Alpha sees, and its valuation is
//! the run's equity (NautilusTrader's account balances are reported after the run).

use std::collections::BTreeMap;

use nautilus_core::UnixNanos;
use nautilus_model::identifiers::InstrumentId;
use rust_decimal::Decimal;

use crate::{alpha::Context, execution::InstrumentRules};

/// One fill as the ledger books it.
#[derive(Debug, Clone, Copy)]
pub struct Booking<'a> {
    pub instrument_id: InstrumentId,
    /// Signed quantity (positive buy).
    pub qty: Decimal,
    pub price: Decimal,
    pub commission: Decimal,
    pub commission_currency: &'a str,
}

/// Positions, balances and prices of one run.
#[derive(Debug, Clone)]
pub struct Ledger {
    rules: BTreeMap<InstrumentId, InstrumentRules>,
    ctx: Context,
    /// Last mark price per perpetual (from mark price data).
    marks: BTreeMap<InstrumentId, Decimal>,
}

impl Ledger {
    /// A ledger holding `starting_balances`, valued in `reporting_currency`.
    #[must_use]
    pub fn new(
        rules: &[InstrumentRules],
        starting_balances: BTreeMap<String, Decimal>,
        reporting_currency: &str,
    ) -> Self {
        let ctx = Context {
            balances: starting_balances,
            reporting_currency: reporting_currency.to_string(),
            ..Context::default()
        };
        Self { rules: rules.iter().map(|r| (r.id, r.clone())).collect(), ctx, marks: BTreeMap::new() }
    }

    /// The rules of `id`, if it is traded.
    #[must_use]
    pub fn rules(&self, id: &InstrumentId) -> Option<&InstrumentRules> {
        self.rules.get(id)
    }

    /// What the Alpha sees.
    #[must_use]
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// Sets the clock and re-values: the equity and gross exposure at `now`, if every held
    /// currency and position has a price.
    pub fn refresh(&mut self, now: UnixNanos) -> Option<(Decimal, Decimal)> {
        self.ctx.now = now;
        let v = self.valuation();
        self.ctx.equity = v.map(|(e, _)| e);
        v
    }

    /// Records the last price of `id`.
    pub fn set_price(&mut self, id: InstrumentId, px: Decimal) {
        self.ctx.last_prices.insert(id, px);
    }

    /// Records the last mark price of `id`.
    pub fn set_mark(&mut self, id: InstrumentId, px: Decimal) {
        self.marks.insert(id, px);
    }

    /// The last mark price of `id`, if mark prices are loaded.
    #[must_use]
    pub fn mark(&self, id: &InstrumentId) -> Option<Decimal> {
        self.marks.get(id).copied()
    }

    /// Adds `amount` (negative: takes it) to the cash held in `ccy` (funding, fees).
    pub fn credit(&mut self, ccy: &str, amount: Decimal) {
        *self.ctx.balances.entry(ccy.to_string()).or_default() += amount;
    }

    /// Books a fill (cash flows, base leg for spot, commission); returns the position after it.
    /// `None` for an instrument the ledger does not trade.
    pub fn book(&mut self, f: &Booking<'_>) -> Option<Decimal> {
        let rules = self.rules.get(&f.instrument_id)?;
        let bal = &mut self.ctx.balances;
        *bal.entry(rules.settlement.clone()).or_default() -= f.qty * f.price;
        if rules.is_spot {
            *bal.entry(rules.base.clone()).or_default() += f.qty;
        }
        *bal.entry(f.commission_currency.to_string()).or_default() -= f.commission;
        let pos = self.ctx.positions.entry(f.instrument_id).or_default();
        *pos += f.qty;
        Some(*pos)
    }

    /// Cash held in `ccy` (0 when none).
    #[must_use]
    pub fn balance(&self, ccy: &str) -> Decimal {
        self.ctx.balances.get(ccy).copied().unwrap_or_default()
    }

    /// Mark-to-market equity and gross exposure from the positions, balances and last prices.
    fn valuation(&self) -> Option<(Decimal, Decimal)> {
        let rep = &self.ctx.reporting_currency;
        let ccy_price = |ccy: &str| -> Option<Decimal> {
            if ccy == rep {
                return Some(Decimal::ONE);
            }
            self.rules
                .values()
                .find(|r| r.is_spot && r.base == ccy && &r.quote == rep)
                .and_then(|r| self.ctx.last_prices.get(&r.id).copied())
        };
        let mut equity = Decimal::ZERO;
        for (ccy, amount) in &self.ctx.balances {
            if !amount.is_zero() {
                equity += *amount * ccy_price(ccy)?;
            }
        }
        let mut gross = Decimal::ZERO;
        for (id, qty) in &self.ctx.positions {
            if qty.is_zero() {
                continue;
            }
            let r = self.rules.get(id)?;
            let value = *qty * self.ctx.last_prices.get(id).copied()? * ccy_price(&r.quote)?;
            gross += value.abs();
            if !r.is_spot {
                equity += value;
            }
        }
        Some((equity, gross))
    }
}
