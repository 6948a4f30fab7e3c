//! What the strategy does with targets, fills and margin: targets → orders through
//! [`crate::execution`] (skips, margin refusals, delisted instruments), `next_open` pending
//! orders, liquidations and delistings in the engine, and booking the engine's fills into the
//! ledger and the recorder.

use nautilus_core::UnixNanos;
use nautilus_model::{
    enums::{LiquiditySide, OrderSide},
    events::OrderFilled,
    identifiers::{ClientOrderId, InstrumentId},
    orders::Order,
    types::{Price, Quantity},
};
use nautilus_trading::strategy::Strategy;
use rust_decimal::Decimal;
use ustr::Ustr;

use super::AlphaStrategy;
use crate::{
    alpha::{AlphaResult, Wallet},
    book,
    execution::{InstrumentRules, OrderState},
    ledger::Booking,
    recorder::{Fill, OrderRecord, Skip, id_text},
    venue::FillTiming,
};

impl AlphaStrategy {
    /// This strategy's open and in-flight orders of `id`: (id, signed leaves qty, limit price).
    pub(super) fn open_orders(&self, id: &InstrumentId) -> Vec<(ClientOrderId, Decimal, Option<Decimal>)> {
        let sid = self.core.strategy_id();
        let cache = self.cache();
        let mut seen = std::collections::BTreeSet::new();
        let open = cache.orders_open(None, Some(id), sid.as_ref(), None, None);
        let inflight = cache.orders_inflight(None, Some(id), sid.as_ref(), None, None);
        open.iter()
            .chain(inflight.iter())
            .filter(|o| !self.liquidation_orders.contains(&o.client_order_id()) && seen.insert(o.client_order_id()))
            .map(|o| {
                let q = o.leaves_qty().as_decimal();
                let signed = if o.order_side() == OrderSide::Buy { q } else { -q };
                (o.client_order_id(), signed, o.price().map(|p| p.as_decimal()))
            })
            .collect()
    }

    /// Asks the Alpha for its targets and trades them, all at the engine clock.
    pub(super) fn rebalance(&mut self) -> AlphaResult<()> {
        self.refresh();
        let targets = {
            let ledger = self.ledger.borrow();
            self.alpha.targets(ledger.context())?
        };
        let ts = self.ledger.borrow().context().now.as_u64();
        for t in targets {
            if self.ledger.borrow().is_delisted(&t.instrument_id) {
                if self.delisted_skips.insert(t.instrument_id) {
                    let reason = "delisted: no order is sent any more".to_string();
                    let skip = Skip { ts, instrument_id: id_text(&t.instrument_id), delta: t.quantity, reason };
                    self.recorder.borrow_mut().skips.push(skip);
                }
                continue;
            }
            let open = self.open_orders(&t.instrument_id);
            let open_qty: Vec<(Decimal, Option<Decimal>)> = open.iter().map(|o| (o.1, o.2)).collect();
            let (rules, d) = {
                let ledger = self.ledger.borrow();
                let Some(rules) = ledger.rules(&t.instrument_id).cloned() else {
                    return Err(format!("target for unknown instrument {}", t.instrument_id).into());
                };
                let ctx = ledger.context();
                let position = ctx.position(&t.instrument_id);
                // An L2 book's liquidity is the depth of the side the market order takes.
                let pending: Decimal = open_qty.iter().map(|o| o.0).sum();
                let liquidity = match ctx.book(&t.instrument_id) {
                    Some(b) => Some(book::side_depth(&b, t.quantity - position - pending)),
                    None => self.liquidity.get(&t.instrument_id).copied(),
                };
                let state = OrderState {
                    target: t.quantity,
                    position,
                    open: &open_qty,
                    last_price: ctx.last_price(&t.instrument_id),
                    liquidity,
                    equity: ctx.equity,
                    cash: rules.is_spot.then(|| {
                        (ledger.balance_in(Wallet::Spot, &rules.quote), ledger.balance_in(Wallet::Spot, &rules.base))
                    }),
                };
                let mut d = self.setup.execution.decide(&rules, self.setup.rebalance_threshold, &state);
                // The futures wallet must margin the position the order leads to.
                if let Some((delta, limit_px)) = d.order.filter(|_| !rules.is_spot) {
                    let after = state.position + open_qty.iter().map(|o| o.0).sum::<Decimal>() + delta;
                    let px = limit_px.or_else(|| ledger.margin_price(&t.instrument_id)).or(state.last_price);
                    if let Some(reason) = px.and_then(|px| ledger.margin_refusal(&t.instrument_id, after, px)) {
                        d.order = None;
                        d.skips.push((delta, reason));
                    }
                }
                (rules, d)
            };
            if d.cancel_open {
                for (coid, leaves, price) in open {
                    self.cancel_order(coid, None, None)?;
                    self.record_order(ts, &t.instrument_id, coid, "cancel", leaves, "LIMIT", price);
                }
            }
            for (delta, reason) in d.skips {
                log::debug!("skip {} delta {delta}: {reason}", t.instrument_id);
                let skip = Skip { ts, instrument_id: id_text(&t.instrument_id), delta, reason };
                self.recorder.borrow_mut().skips.push(skip);
            }
            let waits = self.setup.fill == FillTiming::NextOpen && self.setup.open_trades.contains(&t.instrument_id);
            match d.order {
                Some((delta, limit_px)) if waits => {
                    self.pending.insert(t.instrument_id, (rules, delta, limit_px));
                }
                Some((delta, limit_px)) => self.submit(&rules, ts, delta, limit_px)?,
                None if waits => {
                    self.pending.remove(&t.instrument_id);
                }
                None => {}
            }
        }
        Ok(())
    }

    /// `next_open`: sends the order decided for `id` at the bar's open (the synthetic trade).
    pub(super) fn on_open(&mut self, id: InstrumentId, ts: UnixNanos) -> anyhow::Result<()> {
        if let Some((rules, delta, limit_px)) = self.pending.remove(&id)
            && self.recorder.borrow().alpha_error.is_none()
            && !self.ledger.borrow().is_delisted(&id)
        {
            self.submit(&rules, ts.as_u64(), delta, limit_px).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(())
    }

    /// Liquidates what is due at the current prices (see the module docs); the Alpha then sees
    /// the position gone and the wallet after the loss and fee.
    pub(super) fn liquidate_due(&mut self) -> anyhow::Result<()> {
        let due = self.ledger.borrow().due_liquidations();
        if due.is_empty() {
            return Ok(());
        }
        let now = self.now();
        for id in due {
            let Some(liq) = self.ledger.borrow_mut().liquidate(id, now) else { continue };
            let rules = self.ledger.borrow().rules(&id).cloned().expect("a traded instrument");
            log::warn!(
                "liquidated {id}: {} at mark {}, fee {}, futures wallet {}",
                liq.qty,
                liq.mark_price,
                liq.fee,
                liq.wallet_balance_after
            );
            // Binance cancels the open orders of a liquidated position.
            for (coid, leaves, price) in self.open_orders(&id) {
                self.cancel_order(coid, None, None)?;
                self.record_order(now.as_u64(), &id, coid, "cancel", leaves, "LIMIT", price);
            }
            self.pending.remove(&id);
            let side = if liq.qty.is_sign_positive() { OrderSide::Buy } else { OrderSide::Sell };
            let qty = Quantity::from_decimal_dp(liq.qty.abs(), rules.size_precision)?;
            let order = self.core.order_factory().market(id, side, qty, None, Some(true), None, None, None, None, None);
            let coid = order.client_order_id();
            self.liquidation_orders.insert(coid);
            self.record_order(now.as_u64(), &id, coid, "submit", liq.qty, "LIQUIDATION", None);
            {
                let mut rec = self.recorder.borrow_mut();
                rec.position_history.entry(id).or_default().push((now, Decimal::ZERO));
                rec.fills.push(Fill {
                    ts: now.as_u64(),
                    instrument_id: id_text(&id),
                    client_order_id: coid.inner(),
                    side: Ustr::from(&liq.side),
                    qty: liq.qty,
                    price: liq.price,
                    commission: liq.fee,
                    commission_currency: Ustr::from(&rules.settlement),
                    liquidity: Ustr::from("Liquidation"),
                    position_after: Decimal::ZERO,
                });
                rec.liquidations.push(liq);
            }
            self.submit_order(order, None, None, None)?;
        }
        self.refresh();
        Ok(())
    }

    pub(super) fn submit(
        &mut self,
        rules: &InstrumentRules,
        ts: u64,
        delta: Decimal,
        limit_px: Option<Decimal>,
    ) -> AlphaResult<()> {
        let side = if delta.is_sign_positive() { OrderSide::Buy } else { OrderSide::Sell };
        let qty = Quantity::from_decimal_dp(delta.abs(), rules.size_precision)?;
        let id = rules.id;
        let order = match limit_px {
            Some(p) => {
                let price = Price::from_decimal_dp(p, rules.price_precision)?;
                self.core
                    .order_factory()
                    .limit(id, side, qty, price, None, None, None, None, None, None, None, None, None, None, None, None)
            }
            None => self.core.order_factory().market(id, side, qty, None, None, None, None, None, None, None),
        };
        let kind = if limit_px.is_some() { "LIMIT" } else { "MARKET" };
        self.record_order(ts, &id, order.client_order_id(), "submit", delta, kind, limit_px);
        self.submit_order(order, None, None, None)?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn record_order(
        &self,
        ts: u64,
        id: &InstrumentId,
        client_order_id: ClientOrderId,
        action: &str,
        signed_qty: Decimal,
        order_type: &str,
        limit_price: Option<Decimal>,
    ) {
        self.recorder.borrow_mut().orders.push(OrderRecord {
            ts,
            instrument_id: id_text(id),
            client_order_id: client_order_id.inner(),
            action: Ustr::from(action),
            side: Ustr::from(if signed_qty.is_sign_negative() { "Sell" } else { "Buy" }),
            order_type: Ustr::from(order_type),
            qty: signed_qty.abs(),
            limit_price,
        });
    }

    /// Closes inside the engine the positions the ledger settled at a delisting (cancelling
    /// the instrument's orders first), with reduce-only market orders not booked again.
    pub(super) fn close_delisted(&mut self) -> anyhow::Result<()> {
        let closes = self.ledger.borrow_mut().take_engine_closes();
        let now = self.now().as_u64();
        for (id, qty) in closes {
            for (coid, leaves, price) in self.open_orders(&id) {
                self.cancel_order(coid, None, None)?;
                self.record_order(now, &id, coid, "cancel", leaves, "LIMIT", price);
            }
            self.pending.remove(&id);
            let Some(rules) = self.ledger.borrow().rules(&id).cloned() else { continue };
            let side = if qty.is_sign_positive() { OrderSide::Buy } else { OrderSide::Sell };
            let q = Quantity::from_decimal_dp(qty.abs(), rules.size_precision)?;
            let order = self.core.order_factory().market(id, side, q, None, Some(true), None, None, None, None, None);
            self.liquidation_orders.insert(order.client_order_id());
            self.record_order(now, &id, order.client_order_id(), "submit", qty, "DELISTING", None);
            self.submit_order(order, None, None, None)?;
        }
        Ok(())
    }

    /// Books an engine fill (not the engine-only closes of liquidations and delistings, nor a
    /// fill of a delisted instrument: an order resting when it was delisted).
    pub(super) fn book_fill(&mut self, f: &OrderFilled) {
        if self.liquidation_orders.contains(&f.client_order_id) {
            return; // booked by the ledger at the mark (or settlement) price
        }
        if self.ledger.borrow().is_delisted(&f.instrument_id) {
            let msg = format!("{} filled after {} was delisted: not booked", f.client_order_id, f.instrument_id);
            log::warn!("{msg}");
            self.recorder.borrow_mut().rejections.push(msg);
            return;
        }
        let q = f.last_qty.as_decimal();
        let qty = if f.order_side == OrderSide::Buy { q } else { -q };
        let price = f.last_px.as_decimal();
        let (commission, commission_currency) = match f.commission {
            Some(m) => (m.as_decimal(), m.currency.code),
            None => (
                Decimal::ZERO,
                self.ledger.borrow().rules(&f.instrument_id).map(|r| Ustr::from(&r.quote)).unwrap_or_default(),
            ),
        };
        let booking = Booking {
            instrument_id: f.instrument_id,
            qty,
            price,
            commission,
            commission_currency: commission_currency.as_str(),
        };
        self.unpurged += 1;
        if !self.touched.contains(&f.instrument_id) {
            self.touched.push(f.instrument_id);
        }
        let booked = self.ledger.borrow_mut().book(&booking);
        let Some(position_after) = booked else {
            log::error!("fill for unknown instrument {}", f.instrument_id);
            return;
        };
        let mut rec = self.recorder.borrow_mut();
        rec.position_history.entry(f.instrument_id).or_default().push((f.ts_event, position_after));
        rec.fills.push(Fill {
            ts: f.ts_event.as_u64(),
            instrument_id: id_text(&f.instrument_id),
            client_order_id: f.client_order_id.inner(),
            side: Ustr::from(if f.order_side == OrderSide::Buy { "Buy" } else { "Sell" }),
            qty,
            price,
            commission,
            commission_currency,
            liquidity: Ustr::from(match f.liquidity_side {
                LiquiditySide::Maker => "Maker",
                LiquiditySide::Taker => "Taker",
                LiquiditySide::NoLiquiditySide => "NoLiquiditySide",
            }),
            position_after,
        });
    }
}
