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

use std::collections::BTreeMap;

use nautilus_core::UnixNanos;
use nautilus_model::identifiers::InstrumentId;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::{
    alpha::{Context, MarginState, Wallet},
    execution::InstrumentRules,
    margin::{MarginMode, MarginRules, unrealized},
};

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
        let mut l = Self {
            rules: rules.iter().map(|r| (r.id, r.clone())).collect(),
            ctx,
            marks: BTreeMap::new(),
            perps: BTreeMap::new(),
            margin,
        };
        l.sum_balances();
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
        self.perps.values().any(|p| !p.qty.is_zero())
    }

    /// Sets the clock and re-values: the equity and gross exposure at `now`, if every held
    /// currency and position has a price; also the futures wallet's margin.
    pub fn refresh(&mut self, now: UnixNanos) -> Option<(Decimal, Decimal)> {
        self.ctx.now = now;
        let v = self.valuation();
        self.ctx.equity = v.map(|(e, _)| e);
        self.ctx.margin = self.margin_state();
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

    /// Adds `amount` (negative: takes it) to `ccy` in `wallet` (funding, fees).
    pub fn credit(&mut self, wallet: Wallet, ccy: &str, amount: Decimal) {
        *self.ctx.wallets.entry(wallet).or_default().entry(ccy.to_string()).or_default() += amount;
        *self.ctx.balances.entry(ccy.to_string()).or_default() += amount;
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
        let pos = self.ctx.positions.entry(f.instrument_id).or_default();
        *pos += f.qty;
        Some(*pos)
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
    /// their own margin as their maintenance floor).
    fn margin_state(&self) -> Option<MarginState> {
        let rules = self.margin.as_ref()?;
        let settlement = self.rules.values().find(|r| !r.is_spot).map(|r| r.settlement.clone())?;
        let wallet_balance = self.balance_in(Wallet::Futures, &settlement);
        let (mut upnl, mut maintenance, mut initial) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        for (id, p) in self.perps.iter().filter(|(_, p)| !p.qty.is_zero()) {
            let mark = self.margin_price(id).unwrap_or(p.entry);
            let notional = p.qty.abs() * mark;
            upnl += unrealized(p.qty, p.entry, mark);
            let symbol = self.rules.get(id).map(|r| r.symbol.as_str()).unwrap_or_default();
            maintenance += rules.brackets(symbol).map_or(Decimal::ZERO, |b| b.maintenance(notional));
            initial += match rules.mode {
                MarginMode::Cross => notional / rules.leverage,
                MarginMode::Isolated => p.isolated_margin,
            };
        }
        let margin_balance = wallet_balance + upnl;
        Some(MarginState {
            wallet_balance,
            unrealized_pnl: upnl,
            margin_balance,
            maintenance_margin: maintenance,
            initial_margin: initial,
            available: (margin_balance - initial).max(Decimal::ZERO),
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
                    let mark = self.margin_price(id).unwrap_or(p.entry);
                    let symbol = self.rules.get(id).map(|r| r.symbol.as_str()).unwrap_or_default();
                    let mm = rules.brackets(symbol).map_or(Decimal::ZERO, |b| b.maintenance(p.qty.abs() * mark));
                    p.isolated_margin + unrealized(p.qty, p.entry, mark) <= mm
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

    /// Mark-to-market equity and gross exposure: every wallet's cash at the last prices, plus
    /// the perpetuals' unrealised PnL at the last price.
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
            let last = self.ctx.last_prices.get(id).copied()?;
            let to_rep = ccy_price(&r.quote)?;
            gross += (*qty * last * to_rep).abs();
            if let Some(p) = self.perp(id) {
                equity += unrealized(p.qty, p.entry, last) * to_rep;
            }
        }
        Some((equity, gross))
    }
}
