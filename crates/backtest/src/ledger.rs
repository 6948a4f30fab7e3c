//! The exact ledger of a run: two wallets as on Binance, positions, prices and margin, in
//! decimals, updated in place on every fill and price. Its [`Context`] is what the Alpha sees,
//! and its valuation is the run's equity.
//!
//! - The **spot wallet** holds cash per currency: a spot fill moves the quote and the base in
//!   full (no borrowing), its fee comes out of the currency it is charged in.
//! - The **futures wallet** holds the settlement currency (USDT). A perpetual fill books its
//!   realised PnL (average entry price, one-way) and its fee there; funding and liquidation
//!   fees too. Its unrealised PnL counts in equity (at the last price) and in margin (at the mark).
//! - Money moves between wallets only by transfer ([`Ledger::transfer`]).
//!
//! The valuation is kept up to date by difference: each instrument's terms (unrealised PnL,
//! exposure, margin) and each currency's value are cached and re-computed only when its own
//! price, mark, position or balance changes, and the totals move by the difference. An event
//! then costs a few decimal operations whatever the size of the universe (re-valuing every
//! position on every event made a 100-instrument run 100× slower). Terms are rounded to 18
//! decimals (the results' Parquet scale), so that their sums stay exact however often they move.
//! The per-instrument [`Attribution`] is booked alongside.

use std::collections::BTreeMap;

use nautilus_core::UnixNanos;
use nautilus_model::identifiers::InstrumentId;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::{
    alpha::{Context, MarginState, Wallet},
    attribution::{Attribution, AttributionRow},
    execution::InstrumentRules,
    margin::{MarginMode, MarginRules, unrealized},
};

/// Scale of the cached valuation terms.
const TERM_DP: u32 = 18;

/// Equity and exposure at one moment, in the reporting currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Valuation {
    /// Every wallet's cash at the last prices plus the perpetuals' unrealised PnL.
    pub equity: Decimal,
    /// Σ |position × last|.
    pub gross_exposure: Decimal,
    /// Σ position × last (long − short).
    pub net_exposure: Decimal,
    /// Instruments with a non-zero position.
    pub open_positions: usize,
}

/// One instrument's cached share of the valuation and of the margin.
#[derive(Debug, Clone, Copy, Default)]
struct Terms {
    /// A position without a last price (or without a price of its quote currency).
    unpriced: bool,
    open: bool,
    open_perp: bool,
    upnl: Decimal,
    gross: Decimal,
    net: Decimal,
    upnl_mark: Decimal,
    maint: Decimal,
    initial: Decimal,
}

/// The sums of every instrument's [`Terms`] and of the non-reporting currencies' values.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    unpriced: usize,
    open: usize,
    open_perps: usize,
    upnl: Decimal,
    gross: Decimal,
    net: Decimal,
    upnl_mark: Decimal,
    maint: Decimal,
    initial: Decimal,
    /// Σ value of the currencies other than the reporting one.
    other_cash: Decimal,
}

impl Totals {
    fn apply(&mut self, t: &Terms, sign: Decimal) {
        let n = |b: bool| usize::from(b);
        if sign.is_sign_positive() {
            (self.unpriced, self.open, self.open_perps) =
                (self.unpriced + n(t.unpriced), self.open + n(t.open), self.open_perps + n(t.open_perp));
        } else {
            (self.unpriced, self.open, self.open_perps) =
                (self.unpriced - n(t.unpriced), self.open - n(t.open), self.open_perps - n(t.open_perp));
        }
        self.upnl += sign * t.upnl;
        self.gross += sign * t.gross;
        self.net += sign * t.net;
        self.upnl_mark += sign * t.upnl_mark;
        self.maint += sign * t.maint;
        self.initial += sign * t.initial;
    }
}

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

/// A perpetual's open position (one-way).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerpPosition {
    pub qty: Decimal,
    /// Average entry price.
    pub entry: Decimal,
    /// Isolated margin (isolated mode): the position's initial margin at entry.
    pub isolated_margin: Decimal,
}

/// A position closed by liquidation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Liquidation {
    pub ts: u64,
    pub instrument_id: String,
    /// `Sell` closes a long, `Buy` a short.
    pub side: String,
    /// Signed quantity of the closing trade.
    pub qty: Decimal,
    /// The price it closed at: the mark price at liquidation.
    pub price: Decimal,
    pub mark_price: Decimal,
    /// Clearance fee charged (what the margin could pay of it).
    pub fee: Decimal,
    /// Realised PnL of the close, before the fee.
    pub realized_pnl: Decimal,
    /// What the insurance fund covered so that the wallet does not end below zero.
    pub insurance: Decimal,
    /// Futures wallet balance after the liquidation.
    pub wallet_balance_after: Decimal,
}

/// Positions, wallets, prices and margin of one run.
#[derive(Debug, Clone)]
pub struct Ledger {
    rules: BTreeMap<InstrumentId, InstrumentRules>,
    ctx: Context,
    /// Last mark price per perpetual (from mark price data).
    marks: BTreeMap<InstrumentId, Decimal>,
    perps: BTreeMap<InstrumentId, PerpPosition>,
    margin: Option<MarginRules>,
    /// Settlement currency of the perpetuals (the first perpetual's; none: spot only).
    settlement: Option<String>,
    /// Currency → the spot pair that prices it in the reporting currency.
    pricing_pair: BTreeMap<String, InstrumentId>,
    /// The reverse: spot pair → the currency it prices.
    priced_currency: BTreeMap<InstrumentId, String>,
    /// Currency (other than the reporting one) → the instruments quoted in it.
    quoted_in: BTreeMap<String, Vec<InstrumentId>>,
    terms: BTreeMap<InstrumentId, Terms>,
    /// Currency (other than the reporting one) → (priced, value) of its cash.
    cash: BTreeMap<String, (bool, Decimal)>,
    totals: Totals,
    attribution: Attribution,
    /// Delisted positions the engine still holds (see [`Self::delist`]).
    engine_closes: Vec<(InstrumentId, Decimal)>,
}

impl Ledger {
    /// A ledger holding `spot` and `futures` wallet balances, valued in `reporting_currency`;
    /// `margin` rules the perpetuals (none: spot only).
    #[must_use]
    pub fn new(
        rules: &[InstrumentRules],
        spot: BTreeMap<String, Decimal>,
        futures: BTreeMap<String, Decimal>,
        reporting_currency: &str,
        margin: Option<MarginRules>,
    ) -> Self {
        let mut ctx = Context { reporting_currency: reporting_currency.to_string(), ..Context::default() };
        ctx.wallets.insert(Wallet::Spot, spot);
        ctx.wallets.insert(Wallet::Futures, futures);
        let rules: BTreeMap<InstrumentId, InstrumentRules> = rules.iter().map(|r| (r.id, r.clone())).collect();
        let mut pricing_pair = BTreeMap::new();
        for r in rules.values().filter(|r| r.is_spot && r.quote == reporting_currency) {
            pricing_pair.entry(r.base.clone()).or_insert(r.id);
        }
        let mut quoted_in: BTreeMap<String, Vec<InstrumentId>> = BTreeMap::new();
        for r in rules.values().filter(|r| r.quote != reporting_currency) {
            quoted_in.entry(r.quote.clone()).or_default().push(r.id);
        }
        let mut l = Self {
            settlement: rules.values().find(|r| !r.is_spot).map(|r| r.settlement.clone()),
            priced_currency: pricing_pair.iter().map(|(c, id)| (*id, c.clone())).collect(),
            pricing_pair,
            quoted_in,
            rules,
            ctx,
            marks: BTreeMap::new(),
            perps: BTreeMap::new(),
            margin,
            terms: BTreeMap::new(),
            cash: BTreeMap::new(),
            totals: Totals::default(),
            attribution: Attribution::default(),
            engine_closes: Vec::new(),
        };
        l.sum_balances();
        let currencies: Vec<String> = l.ctx.balances.keys().cloned().collect();
        for c in currencies {
            l.update_cash(&c);
        }
        l
    }

    /// `ctx.balances` = the wallets added up.
    fn sum_balances(&mut self) {
        let mut total: BTreeMap<String, Decimal> = BTreeMap::new();
        for w in self.ctx.wallets.values() {
            for (c, a) in w {
                *total.entry(c.clone()).or_default() += *a;
            }
        }
        self.ctx.balances = total;
    }

    /// The price of one unit of `ccy` in the reporting currency.
    fn currency_price(&self, ccy: &str) -> Option<Decimal> {
        if ccy == self.ctx.reporting_currency {
            return Some(Decimal::ONE);
        }
        self.pricing_pair.get(ccy).and_then(|id| self.ctx.last_prices.get(id)).copied()
    }

    /// Re-values the cash of `ccy` (a balance or its price moved).
    fn update_cash(&mut self, ccy: &str) {
        if ccy == self.ctx.reporting_currency {
            return; // counted at its balance, exactly
        }
        let amount = self.balance(ccy);
        let new = if amount.is_zero() {
            (false, Decimal::ZERO)
        } else {
            match self.currency_price(ccy) {
                Some(px) => (false, (amount * px).round_dp(TERM_DP)),
                None => (true, Decimal::ZERO),
            }
        };
        let old = self.cash.insert(ccy.to_string(), new).unwrap_or((false, Decimal::ZERO));
        self.totals.other_cash += new.1 - old.1;
        self.totals.unpriced = self.totals.unpriced + usize::from(new.0) - usize::from(old.0);
    }

    /// Re-computes the terms of `id` (its price, mark or position moved).
    fn update_terms(&mut self, id: InstrumentId) {
        let new = self.compute_terms(&id);
        let old = self.terms.insert(id, new).unwrap_or_default();
        self.totals.apply(&old, Decimal::NEGATIVE_ONE);
        self.totals.apply(&new, Decimal::ONE);
    }

    fn compute_terms(&self, id: &InstrumentId) -> Terms {
        let qty = self.ctx.positions.get(id).copied().unwrap_or_default();
        let Some(r) = self.rules.get(id).filter(|_| !qty.is_zero()) else { return Terms::default() };
        let mut t = Terms { open: true, ..Terms::default() };
        let perp = self.perp(id).copied();
        let last = self.ctx.last_prices.get(id).copied();
        // the reporting currency's quotes (every USDT pair) need no conversion
        let to_rep = if r.quote == self.ctx.reporting_currency { None } else { Some(self.currency_price(&r.quote)) };
        match (last, to_rep) {
            (Some(last), None | Some(Some(_))) => {
                let conv = |x: Decimal| to_rep.flatten().map_or(x, |k| x * k);
                t.net = conv(qty * last).round_dp(TERM_DP);
                t.gross = t.net.abs();
                if let Some(p) = perp {
                    t.upnl = conv(unrealized(p.qty, p.entry, last)).round_dp(TERM_DP);
                }
            }
            _ => t.unpriced = true,
        }
        let Some(p) = perp else { return t };
        t.open_perp = true;
        if let Some(rules) = self.margin.as_ref() {
            let mark = self.mark(id).or(last).unwrap_or(p.entry);
            let notional = p.qty.abs() * mark;
            t.upnl_mark = unrealized(p.qty, p.entry, mark).round_dp(TERM_DP);
            t.maint = rules.brackets(&r.symbol).map_or(Decimal::ZERO, |b| b.maintenance(notional));
            t.initial = match rules.mode {
                MarginMode::Cross => (notional / rules.leverage).round_dp(TERM_DP),
                MarginMode::Isolated => p.isolated_margin,
            };
        }
        t
    }

    /// A price of `id` moved: its terms, the currency it prices and what is quoted in that.
    fn price_moved(&mut self, id: InstrumentId) {
        if self.ctx.positions.get(&id).is_some_and(|q| !q.is_zero()) {
            self.update_terms(id);
        }
        if let Some(ccy) = self.priced_currency.get(&id).cloned() {
            self.update_cash(&ccy);
            for j in self.quoted_in.get(&ccy).cloned().unwrap_or_default() {
                self.update_terms(j);
            }
        }
    }

    /// The rules of `id`, if it is traded.
    #[must_use]
    pub fn rules(&self, id: &InstrumentId) -> Option<&InstrumentRules> {
        self.rules.get(id)
    }

    /// The margin rules (a run with perpetuals).
    #[must_use]
    pub fn margin_rules(&self) -> Option<&MarginRules> {
        self.margin.as_ref()
    }

    /// What the Alpha sees.
    #[must_use]
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// The open perpetual position of `id`.
    #[must_use]
    pub fn perp(&self, id: &InstrumentId) -> Option<&PerpPosition> {
        self.perps.get(id).filter(|p| !p.qty.is_zero())
    }

    /// Whether a perpetual position is open (margin to watch).
    #[must_use]
    pub fn has_open_perps(&self) -> bool {
        self.totals.open_perps > 0
    }

    /// Sets the clock and re-values: the valuation at `now`, if every held currency and
    /// position has a price; also the futures wallet's margin.
    pub fn refresh(&mut self, now: UnixNanos) -> Option<Valuation> {
        self.ctx.now = now;
        let v = self.valuation();
        self.ctx.equity = v.map(|v| v.equity);
        self.ctx.margin = self.margin_state();
        v
    }

    /// Records the last price of `id`.
    pub fn set_price(&mut self, id: InstrumentId, px: Decimal) {
        self.ctx.last_prices.insert(id, px);
        self.price_moved(id);
    }

    /// Records the latest bar of its bar type (what [`Context::last_bars`] shows).
    pub fn set_bar(&mut self, bar: &nautilus_model::data::Bar) {
        self.ctx.last_bars.insert(bar.bar_type, *bar);
    }

    /// The order books the Alpha sees ([`Context::books`]), for the strategy to update.
    pub fn books_mut(&mut self) -> &mut crate::book::Books {
        &mut self.ctx.books
    }

    /// Records the last mark price of `id`.
    pub fn set_mark(&mut self, id: InstrumentId, px: Decimal) {
        self.marks.insert(id, px);
        if self.perp(&id).is_some() {
            self.update_terms(id);
        }
    }

    /// The last mark price of `id`, if mark prices are loaded.
    #[must_use]
    pub fn mark(&self, id: &InstrumentId) -> Option<Decimal> {
        self.marks.get(id).copied()
    }

    /// The price margin is computed at: the mark price, else (no mark price data) the last
    /// trade price.
    #[must_use]
    pub fn margin_price(&self, id: &InstrumentId) -> Option<Decimal> {
        self.mark(id).or_else(|| self.ctx.last_price(id))
    }

    /// Cash held in `ccy` in `wallet` (0 when none).
    #[must_use]
    pub fn balance_in(&self, wallet: Wallet, ccy: &str) -> Decimal {
        self.ctx.wallets.get(&wallet).and_then(|w| w.get(ccy)).copied().unwrap_or_default()
    }

    /// Cash held in `ccy`, all wallets together.
    #[must_use]
    pub fn balance(&self, ccy: &str) -> Decimal {
        self.ctx.balances.get(ccy).copied().unwrap_or_default()
    }

    /// Adds `amount` (negative: takes it) to `ccy` in `wallet` (fees, transfers).
    pub fn credit(&mut self, wallet: Wallet, ccy: &str, amount: Decimal) {
        *self.ctx.wallets.entry(wallet).or_default().entry(ccy.to_string()).or_default() += amount;
        *self.ctx.balances.entry(ccy.to_string()).or_default() += amount;
        self.update_cash(ccy);
    }

    /// Pays (negative: charges) a funding settlement of `id` into the futures wallet, and
    /// attributes it to `id`.
    pub fn pay_funding(&mut self, id: InstrumentId, ccy: &str, amount: Decimal) {
        self.credit(Wallet::Futures, ccy, amount);
        self.attribution.entry(id).funding += amount;
    }

    /// The wallet an instrument trades from.
    fn wallet_of(rules: &InstrumentRules) -> Wallet {
        if rules.is_spot { Wallet::Spot } else { Wallet::Futures }
    }

    /// Moves `amount` of `ccy` from one wallet to the other.
    ///
    /// # Errors
    /// Not enough to move: the spot wallet's cash, or the futures wallet's available margin.
    pub fn transfer(&mut self, from: Wallet, to: Wallet, ccy: &str, amount: Decimal) -> Result<(), String> {
        let available = match from {
            Wallet::Spot => self.balance_in(Wallet::Spot, ccy),
            Wallet::Futures => self.ctx.margin.as_ref().map_or_else(
                || self.balance_in(Wallet::Futures, ccy),
                |m| m.available.min(self.balance_in(Wallet::Futures, ccy)),
            ),
        };
        if amount > available {
            return Err(format!(
                "transfer of {amount} {ccy} from the {} wallet: only {available} available",
                from.name()
            ));
        }
        self.credit(from, ccy, -amount);
        self.credit(to, ccy, amount);
        self.ctx.margin = self.margin_state();
        Ok(())
    }

    /// Books a fill; returns the position after it. `None` for an instrument the ledger does
    /// not trade.
    pub fn book(&mut self, f: &Booking<'_>) -> Option<Decimal> {
        let rules = self.rules.get(&f.instrument_id)?.clone();
        let wallet = Self::wallet_of(&rules);
        if rules.is_spot {
            self.credit(wallet, &rules.quote, -(f.qty * f.price));
            self.credit(wallet, &rules.base, f.qty);
        } else {
            let realized = self.trade_perp(f.instrument_id, f.qty, f.price);
            self.credit(wallet, &rules.settlement, realized);
        }
        self.credit(wallet, f.commission_currency, -f.commission);
        let fee = if f.commission_currency == rules.base && rules.base != rules.quote {
            f.commission * f.price
        } else {
            f.commission
        };
        self.attribution.entry(f.instrument_id).trade(f.qty, f.price, fee);
        let pos = self.ctx.positions.entry(f.instrument_id).or_default();
        *pos += f.qty;
        let after = *pos;
        self.update_terms(f.instrument_id);
        Some(after)
    }

    /// Applies a trade of `qty` at `px` to a perpetual position; returns the realised PnL.
    fn trade_perp(&mut self, id: InstrumentId, qty: Decimal, px: Decimal) -> Decimal {
        let leverage = self.margin.as_ref().map_or(Decimal::ONE, |m| m.leverage);
        let p = self.perps.entry(id).or_default();
        let mut realized = Decimal::ZERO;
        if p.qty.is_zero() || p.qty.is_sign_positive() == qty.is_sign_positive() {
            let total = p.qty.abs() + qty.abs();
            p.entry = (p.entry * p.qty.abs() + px * qty.abs()) / total;
            p.qty += qty;
        } else {
            let closed = qty.abs().min(p.qty.abs());
            let sign = if p.qty.is_sign_positive() { Decimal::ONE } else { Decimal::NEGATIVE_ONE };
            realized = closed * (px - p.entry) * sign;
            let after = p.qty + qty;
            if after.is_zero() {
                p.entry = Decimal::ZERO;
            } else if after.is_sign_positive() != p.qty.is_sign_positive() {
                p.entry = px; // flipped: the rest opens at this price
            }
            p.qty = after;
        }
        p.isolated_margin = p.qty.abs() * p.entry / leverage;
        realized
    }

    /// The futures wallet's margin at the mark prices (cross view; isolated positions count
    /// their own margin as their maintenance floor), from the cached terms.
    fn margin_state(&self) -> Option<MarginState> {
        self.margin.as_ref()?;
        let wallet_balance = self.balance_in(Wallet::Futures, self.settlement.as_deref()?);
        let t = &self.totals;
        let margin_balance = wallet_balance + t.upnl_mark;
        Some(MarginState {
            wallet_balance,
            unrealized_pnl: t.upnl_mark,
            margin_balance,
            maintenance_margin: t.maint,
            initial_margin: t.initial,
            available: (margin_balance - t.initial).max(Decimal::ZERO),
        })
    }

    /// Positions to liquidate now at the mark prices: in cross mode every open position once
    /// the margin balance is at or below the maintenance margin; in isolated mode each position
    /// whose margin plus unrealised PnL is.
    #[must_use]
    pub fn due_liquidations(&self) -> Vec<InstrumentId> {
        let (Some(rules), Some(state)) = (self.margin.as_ref(), self.margin_state()) else { return Vec::new() };
        let open = self.perps.iter().filter(|(_, p)| !p.qty.is_zero());
        match rules.mode {
            MarginMode::Cross
                if state.margin_balance <= state.maintenance_margin && state.maintenance_margin > Decimal::ZERO =>
            {
                open.map(|(id, _)| *id).collect()
            }
            MarginMode::Cross => Vec::new(),
            MarginMode::Isolated => open
                .filter(|(id, p)| {
                    let t = self.terms.get(id).copied().unwrap_or_default();
                    p.isolated_margin + t.upnl_mark <= t.maint
                })
                .map(|(id, _)| *id)
                .collect(),
        }
    }

    /// Closes the position of `id` at its mark price, charging the clearance fee: the wallet
    /// (isolated: the position's margin) absorbs the loss down to zero, the insurance fund the
    /// rest. `None` when there is nothing to close.
    pub fn liquidate(&mut self, id: InstrumentId, ts: UnixNanos) -> Option<Liquidation> {
        let rules = self.margin.clone()?;
        let r = self.rules.get(&id)?.clone();
        let p = *self.perp(&id)?;
        let mark = self.margin_price(&id)?;
        let realized = unrealized(p.qty, p.entry, mark);
        let fee_due = p.qty.abs() * mark * rules.liquidation_fee;
        let wallet = self.balance_in(Wallet::Futures, &r.settlement);
        // What the trader can lose: the whole wallet in cross, the position's margin in isolated.
        let at_stake = match rules.mode {
            MarginMode::Cross => wallet,
            MarginMode::Isolated => p.isolated_margin.min(wallet),
        };
        let remaining = at_stake + realized;
        let fee = fee_due.min(remaining.max(Decimal::ZERO));
        let insurance = (-remaining).max(Decimal::ZERO);
        let change = (realized - fee).max(-at_stake);
        self.credit(Wallet::Futures, &r.settlement, change);
        self.perps.insert(id, PerpPosition::default());
        self.ctx.positions.insert(id, Decimal::ZERO);
        let a = self.attribution.entry(id);
        a.trade(-p.qty, mark, Decimal::ZERO);
        a.liquidation_fees += fee;
        a.insurance += insurance;
        self.update_terms(id);
        let wallet_balance_after = self.balance_in(Wallet::Futures, &r.settlement);
        self.ctx.margin = self.margin_state();
        Some(Liquidation {
            ts: ts.as_u64(),
            instrument_id: id.to_string(),
            side: if p.qty.is_sign_positive() { "Sell" } else { "Buy" }.into(),
            qty: -p.qty,
            price: mark,
            mark_price: mark,
            fee: fee.normalize(),
            realized_pnl: realized.normalize(),
            insurance: insurance.normalize(),
            wallet_balance_after: wallet_balance_after.normalize(),
        })
    }

    /// Delists `id` at `price`: its position (if any) is closed there without a fee and it is
    /// traded no more. Returns the signed quantity closed (zero when flat), `None` if it
    /// already was delisted. The engine's position is queued for [`Self::take_engine_closes`].
    pub fn delist(&mut self, id: InstrumentId, price: Decimal) -> Option<Decimal> {
        if !self.ctx.delisted.insert(id) {
            return None;
        }
        let qty = -self.ctx.position(&id);
        if !qty.is_zero() {
            let ccy = self.rules.get(&id).map(|r| r.settlement.clone()).unwrap_or_default();
            self.book(&Booking { instrument_id: id, qty, price, commission: Decimal::ZERO, commission_currency: &ccy });
            self.engine_closes.push((id, qty));
        }
        Some(qty)
    }

    /// Whether `id` was delisted.
    #[must_use]
    pub fn is_delisted(&self, id: &InstrumentId) -> bool {
        self.ctx.delisted.contains(id)
    }

    /// The engine positions still to close after delistings: `(instrument, signed close qty)`.
    pub fn take_engine_closes(&mut self) -> Vec<(InstrumentId, Decimal)> {
        std::mem::take(&mut self.engine_closes)
    }

    /// The attribution of every instrument at `ts`, unrealised PnL at the last prices.
    #[must_use]
    pub fn attribution(&self, ts: u64) -> Vec<AttributionRow> {
        self.attribution.rows(ts, |id| self.ctx.last_prices.get(id).copied())
    }

    /// The day's attribution snapshot due before anything stamped `now` is booked (see
    /// [`Attribution::roll`]), stamped the last nanosecond of the day it ends.
    pub fn roll(&mut self, now: u64) -> Option<Vec<AttributionRow>> {
        let at = self.attribution.roll(now)?;
        Some(self.attribution(at - 1))
    }

    /// Why the futures wallet cannot take a perpetual position of `target` at `px` at the
    /// run's leverage, if it cannot: above the notional its leverage tier allows, or more initial
    /// margin than is available (the part of the order that reduces the position needs none).
    #[must_use]
    pub fn margin_refusal(&self, id: &InstrumentId, target: Decimal, px: Decimal) -> Option<String> {
        let rules = self.margin.as_ref()?;
        let r = self.rules.get(id)?;
        let notional = target.abs() * px;
        if let Some(max) = rules.brackets(&r.symbol).and_then(|b| b.max_notional(rules.leverage))
            && notional > max
        {
            return Some(format!(
                "position notional {} above {max}, the most {}x leverage allows on {} (leverage brackets)",
                notional.round_dp(2).normalize(),
                rules.leverage,
                r.symbol
            ));
        }
        let current = self.perp(id).map_or(Decimal::ZERO, |p| p.qty);
        let extra = (target.abs() - current.abs()).max(Decimal::ZERO) * px / rules.leverage;
        let same_side =
            current.is_zero() || target.is_zero() || current.is_sign_positive() == target.is_sign_positive();
        // A flip releases the closed side's margin and needs the new side's in full.
        let (needed, released) = if same_side {
            (extra, Decimal::ZERO)
        } else {
            (target.abs() * px / rules.leverage, current.abs() * px / rules.leverage)
        };
        let available = self.margin_state().map_or(Decimal::ZERO, |m| m.available) + released;
        (needed > available).then(|| {
            format!(
                "insufficient margin: {} {} initial margin needed, {} available",
                needed.round_dp(2).normalize(),
                r.settlement,
                available.round_dp(2).normalize()
            )
        })
    }

    /// Equity and exposures from the cached terms: every wallet's cash at the last prices, plus
    /// the perpetuals' unrealised PnL at the last price.
    fn valuation(&self) -> Option<Valuation> {
        let t = &self.totals;
        if t.unpriced > 0 {
            return None;
        }
        Some(Valuation {
            equity: self.balance(&self.ctx.reporting_currency) + t.other_cash + t.upnl,
            gross_exposure: t.gross,
            net_exposure: t.net,
            open_positions: t.open,
        })
    }
}
