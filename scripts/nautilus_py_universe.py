#!/usr/bin/env python3
"""NautilusTrader Python baseline of alphalab's universe bench (issue 14).

The Rust side is `crates/backtest/benches/universe/mod.rs` (group `universe` of
`crates/backtest/benches/backtest.rs`): 1m bars for K USDT perpetuals (default 100 × a year,
525,600 bars each: 52.56 M bars) through the equal-weight baseline rebalanced hourly
(`crates/backtest/src/baselines.rs`, `equal-weight`, gross 1× equity, every delta traded).

Usage:

    target/nt-venv/bin/python scripts/nautilus_py_universe.py [BARS [INSTRUMENTS]]
        [--chunk-minutes=N] [--fills=PATH] [--purge] [--funding-check]

    BARS          bars per instrument (default: env ALPHALAB_BENCH_BARS, else 525,600)
    INSTRUMENTS   instruments (default: env ALPHALAB_BENCH_INSTRUMENTS, else 100)
    --chunk-minutes  minutes of bars (of every instrument) fed to the engine per streamed
                  chunk (default 1,440: one day, 144,000 bars for 100 instruments)
    --fills=PATH  also writes every fill as CSV (ts,instrument,side,qty,price,commission)
    --purge       bounded memory in NautilusTrader's cache too (as alphalab trims its engine's
                  cache between chunks): a bar cache of 1 bar per bar type (default 10,000) and,
                  after every chunk, closed orders and account state events purged. Without it
                  the default cache keeps every order and every account state (one per fill,
                  with the margins of every instrument): ~40 MB more per simulated day at 100
                  instruments, after ~900 MB for the first week (the bar cache filling up).
    --funding-check  CHECK ONLY, not the benchmark: books the Rust bench's funding settlements
                  (every 8 h, −position × close at t × rate, rate (k % 21 − 8)·1e-6) into the
                  strategy's decision ledger only (NautilusTrader's account is untouched), to show
                  that the fill counts differing from the Rust run after the first settlement
                  come from funding alone.

Venv: `PYENV_VERSION=3.12.1 python3.12 -m venv target/nt-venv &&
target/nt-venv/bin/pip install nautilus_trader==1.227.0`.

Prints ONE JSON line at the end: {"instruments", "bars_per_instrument", "events" (engine
iterations), "fills", "orders", "skips", "seconds" (engine.run of every chunk + engine.end),
"load_seconds" (generating the bars and handing them to the engine), "events_per_s" (events /
seconds), "peak_rss_mb", "final_equity" (USDT, the strategy's exact ledger at the last closes),
"account_equity" (NautilusTrader's own: balance total + unrealised PnL at the last closes)}.

The same job as the Rust bench, bit for bit where NautilusTrader allows:

- Bars: the bench's generator ported exactly: per instrument k a xorshift64 walk in integer
  ticks (seed 0x9E3779B97F4A7C15 ^ (k+1)·0xBF58476D1CE4E5B9, wrapping), step
  ticks += x % 41 − 20, floored at a quarter of the start level [20000, 15000, 12000,
  15000][k % 4] + 37k; open = the previous close, high/low = max/min(open, close) ± 3 ticks,
  volume 4,000,000; drawn bar by bar, instrument by instrument; bar i stamped at its close
  T0 + (i+1) min (T0 = 2025-01-01). Instruments `B{k:03}USDT-PERP.BINANCE`, price decimals
  1 + k % 4, size decimals 4 − that, tick and step one unit of the last decimal, min quantity one
  step, min notional 5 USDT, margin 5 % / 2.5 %, USD-M fees 0.02 % maker / 0.05 % taker (the
  venue's defaults, which alphalab writes onto the instruments).
- Venue as alphalab's `usdm` (crates/backtest/src/venue.rs) and scripts/nautilus_py_backtest.py:
  one margin account, USDT base, 1,000,000 USDT, leverage 2, StandardMarginModel, netting,
  L1_MBP, fill model without slippage (seed 42), no latency, logging at WARNING.
- Strategy: alphalab's AlphaStrategy + EqualWeight. Every bar updates the instrument's last
  price; the first event of a timestamp t sets a time alert at t, which the engine fires after
  every event of t went through the exchange and the strategy and before the first event of the
  next timestamp (the slice "every instrument of t is in"). At the first such slice of every
  hour (slot = t // 3600 s), the target of every instrument present is
  equity × (gross / present) / last close, where equity is the strategy's exact decimal ledger
  (wallet = start + realised PnL at average entry − commissions, plus unrealised PnL at the last
  closes, each term rounded to 18 dp as alphalab's ledger). Per target, as
  crates/backtest/src/execution.rs and strategy/orders.rs: delta = target − (position + open and
  in-flight orders), rounded DOWN to the step; capped at a quarter of the last bar's volume (the
  liquidity the L1 engine simulates); skipped when zero, below min quantity or below min notional
  at the last price; refused like alphalab's ledger when the position it leads to is above the
  most notional 2× leverage allows (250,000 USDT, alphalab's generic brackets, which the bench
  asks for) or needs more initial margin (notional / leverage) than is available (margin balance
  − initial margin); else a MARKET order, which fills at the close of t.
- Data in bounded memory: the bars are generated chunk by chunk (whole timestamps, so a slice
  never spans two chunks) and fed with add_data, run(streaming=True), clear_data, then end().

What differs from the Rust job:

- Funding: the Rust bench has a funding settlement per instrument every 8 h (rates −0.0008 %
  .. +0.0012 % by instrument) which alphalab's ledger pays (its equity, hence its later targets,
  include them). NautilusTrader 1.227's BacktestEngine (like the 0.57 Rust engine) does not
  apply funding and it is not emulated here, so from the first settlement (t = 8 h) the equity
  and the targets differ by the funding paid (a few 1e-7 of equity), and rarely a rounded
  quantity by one step.
- alphalab's extra bookkeeping (equity curve, per-instrument attribution, recorder, cache
  purges) has no counterpart here; the Python strategy does only what the decisions need.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import sys
import time
from decimal import ROUND_DOWN, Decimal, getcontext

from nautilus_trader.accounting.margin_models import StandardMarginModel
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.backtest.models import FillModel
from nautilus_trader.config import BacktestEngineConfig, CacheConfig, LoggingConfig, StrategyConfig
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, BookType, CurrencyType, OmsType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import CryptoPerpetual
from nautilus_trader.model.objects import FIXED_PRECISION, Currency, Money, Price, Quantity
from nautilus_trader.trading.strategy import Strategy

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from nautilus_py_backtest import pending  # noqa: E402

# rust_decimal keeps 28-29 significant digits; so does this (ledger values ~1e6 with 18 dp terms)
getcontext().prec = 34

T0 = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z
M = 60_000_000_000
FUNDING_EVERY = 8 * 60 * M
MASK = (1 << 64) - 1
START = Decimal(1_000_000)  # USDT, futures wallet
LEVERAGE = Decimal(2)
MAKER, TAKER = Decimal("0.0002"), Decimal("0.0005")  # alphalab usdm defaults
MAX_NOTIONAL = Decimal(250_000)  # alphalab generic brackets: the most 2x leverage allows
EVERY_SECONDS = 3600
GROSS = Decimal(1)
TERM = Decimal(1).scaleb(-18)  # alphalab ledger: cached terms rounded to 18 dp


def precisions(k: int) -> tuple[int, int]:
    """(price decimals, size decimals) of instrument k, adding up to 4."""
    pdp = 1 + k % 4
    return pdp, 4 - pdp


def symbol(k: int) -> str:
    return f"B{k:03}USDT"


def instrument(k: int) -> CryptoPerpetual:
    """crates/backtest/tests/common/mod.rs `perp`, with the usdm venue's fees applied."""
    pdp, sdp = precisions(k)
    sym = symbol(k)
    base = sym[: -len("USDT")]
    step = Quantity.from_raw(10 ** (FIXED_PRECISION - sdp), sdp)
    return CryptoPerpetual(
        instrument_id=InstrumentId.from_str(f"{sym}-PERP.BINANCE"),
        raw_symbol=Symbol(sym),
        base_currency=Currency(base, 8, 0, base, CurrencyType.CRYPTO),  # get_or_create_crypto
        quote_currency=USDT,
        settlement_currency=USDT,
        is_inverse=False,
        price_precision=pdp,
        size_precision=sdp,
        price_increment=Price.from_raw(10 ** (FIXED_PRECISION - pdp), pdp),
        size_increment=step,
        max_quantity=None,
        min_quantity=step,
        min_notional=Money(5, USDT),
        margin_init=Decimal("0.05"),
        margin_maint=Decimal("0.025"),
        maker_fee=MAKER,
        taker_fee=TAKER,
        ts_event=0,
        ts_init=0,
    )


class Universe:
    """The bench's `Universe`: every instrument's random walk, drawn bar by bar, instrument by
    instrument, in integer ticks (exactly `Walk::step`)."""

    def __init__(self, k: int, n: int):
        self.k, self.n, self.next = k, n, 0
        self.x, self.ticks, self.floor = [], [], []
        for i in range(k):
            level = [20_000, 15_000, 12_000, 15_000][i % 4] + 37 * i
            self.x.append(0x9E3779B97F4A7C15 ^ (((i + 1) * 0xBF58476D1CE4E5B9) & MASK))
            self.ticks.append(level)
            self.floor.append(level // 4)
        self.instruments = [instrument(i) for i in range(k)]
        self.bar_types = [BarType.from_str(f"{inst.id}-1-MINUTE-LAST-EXTERNAL") for inst in self.instruments]
        # raw price per tick and the (immutable) volume, per instrument
        self.scale = [10 ** (FIXED_PRECISION - precisions(i)[0]) for i in range(k)]
        self.vol = [Quantity(4_000_000, precisions(i)[1]) for i in range(k)]

    def chunk(self, minutes: int) -> list[Bar]:
        """The next `minutes` timestamps of bars (every instrument), in (ts, instrument) order."""
        out = []
        end = min(self.next + minutes, self.n)
        xs, ticks, floors = self.x, self.ticks, self.floor
        bts, scale, vol, from_raw = self.bar_types, self.scale, self.vol, Price.from_raw
        rng = range(self.k)
        for i in range(self.next, end):
            ts = T0 + (i + 1) * M
            for k in rng:
                x = xs[k]
                x ^= (x << 13) & MASK
                x ^= x >> 7
                x ^= (x << 17) & MASK
                xs[k] = x
                o = ticks[k]
                c = o + x % 41 - 20
                if c < floors[k]:
                    c = floors[k]
                ticks[k] = c
                s = scale[k]
                pdp = 1 + k % 4
                hi, lo = (o, c) if o >= c else (c, o)
                out.append(
                    Bar(
                        bts[k],
                        from_raw(o * s, pdp),
                        from_raw((hi + 3) * s, pdp),
                        from_raw((lo - 3) * s, pdp),
                        from_raw(c * s, pdp),
                        vol[k],
                        ts,
                        ts,
                    )
                )
        self.next = end
        return out


def round_down(q: Decimal, step: Decimal) -> Decimal:
    """`InstrumentRules::round_down`: |q| down to the step, sign kept."""
    r = (abs(q) / step).to_integral_value(rounding=ROUND_DOWN) * step
    return -r if q < 0 else r


class EqualWeightConfig(StrategyConfig, frozen=True):
    every_seconds: int = EVERY_SECONDS


class EqualWeight(Strategy):
    """alphalab's AlphaStrategy running the `equal-weight` baseline (see the module docs)."""

    def __init__(
        self,
        config: EqualWeightConfig,
        instruments: list[CryptoPerpetual],
        bar_types,
        keep_fills: bool,
        funding_check: bool = False,
    ):
        super().__init__(config)
        self.funding_check = funding_check
        self.funding_paid = Decimal(0)
        n = len(instruments)
        self.n = n
        self.insts = instruments
        self.ids = [i.id for i in instruments]
        self.by_bar_type = {bt: k for k, bt in enumerate(bar_types)}
        self.by_id = {iid: k for k, iid in enumerate(self.ids)}
        self.bar_types = bar_types
        self.steps = [i.size_increment.as_decimal() for i in instruments]
        self.min_qty = [i.min_quantity.as_decimal() for i in instruments]
        self.min_notional = [i.min_notional.as_decimal() for i in instruments]
        self.every_ns = config.every_seconds * 1_000_000_000
        # last bar per instrument (close and volume objects; decimals only when deciding)
        self.last_close: list[Price | None] = [None] * n
        self.last_vol: list[Quantity | None] = [None] * n
        # the slice being gathered
        self.open_ts = -1
        self.seen = [False] * n
        self.last_slot = None
        # exact ledger (alphalab's `Ledger` for perpetuals, without funding)
        self.wallet = START
        self.pos = [Decimal(0)] * n
        self.entry = [Decimal(0)] * n
        self.fills = 0
        self.orders = 0
        self.skips = 0
        self.keep_fills = keep_fills
        self.fill_rows: list[list] = []
        self.rejections: list[str] = []

    def on_start(self) -> None:
        for bt in self.bar_types:
            self.subscribe_bars(bt)

    def on_stop(self) -> None:
        pass

    def on_order_rejected(self, event) -> None:
        self.rejections.append(f"{event.client_order_id} rejected: {event.reason}")

    def on_order_denied(self, event) -> None:
        self.rejections.append(f"{event.client_order_id} denied: {event.reason}")

    def on_bar(self, bar: Bar) -> None:
        k = self.by_bar_type[bar.bar_type]
        self.last_close[k] = bar.close
        self.last_vol[k] = bar.volume
        ts = bar.ts_init
        if ts != self.open_ts:
            # fires once every event stamped `ts` is in
            self.open_ts = ts
            self.seen = [False] * self.n
            self.clock.set_time_alert_ns("alphalab-timestamp", ts, self.close_slice)
        self.seen[k] = True

    # -- ledger --------------------------------------------------------------------------------

    def last_px(self, k: int) -> Decimal | None:
        c = self.last_close[k]
        return None if c is None else c.as_decimal()

    def equity(self) -> Decimal:
        """Wallet + unrealised PnL at the last prices (each term rounded to 18 dp)."""
        upnl = Decimal(0)
        for k in range(self.n):
            q = self.pos[k]
            if q:
                upnl += (q * (self.last_px(k) - self.entry[k])).quantize(TERM)
        return self.wallet + upnl

    def available(self, equity: Decimal) -> Decimal:
        """Margin balance (marks = last prices) − initial margin (notional / leverage), ≥ 0."""
        initial = Decimal(0)
        for k in range(self.n):
            q = self.pos[k]
            if q:
                initial += (abs(q) * self.last_px(k) / LEVERAGE).quantize(TERM)
        return max(equity - initial, Decimal(0))

    def margin_refusal(self, k: int, after: Decimal, px: Decimal, available: Decimal) -> bool:
        """`Ledger::margin_refusal` (cross, generic brackets)."""
        if abs(after) * px > MAX_NOTIONAL:
            return True
        current = self.pos[k]
        extra = max(abs(after) - abs(current), Decimal(0)) * px / LEVERAGE
        same_side = current == 0 or after == 0 or (current > 0) == (after > 0)
        if same_side:
            needed, released = extra, Decimal(0)
        else:
            needed, released = abs(after) * px / LEVERAGE, abs(current) * px / LEVERAGE
        return needed > available + released

    def on_order_filled(self, f) -> None:
        k = self.by_id[f.instrument_id]
        q = f.last_qty.as_decimal()
        if f.order_side != OrderSide.BUY:
            q = -q
        px = f.last_px.as_decimal()
        fee = f.commission.as_decimal() if f.commission is not None else Decimal(0)
        p, e = self.pos[k], self.entry[k]
        realized = Decimal(0)
        if p == 0 or (p > 0) == (q > 0):
            self.entry[k] = (e * abs(p) + px * abs(q)) / (abs(p) + abs(q))
            self.pos[k] = p + q
        else:
            closed = min(abs(q), abs(p))
            realized = closed * (px - e) * (1 if p > 0 else -1)
            after = p + q
            if after == 0:
                self.entry[k] = Decimal(0)
            elif (after > 0) != (p > 0):
                self.entry[k] = px
            self.pos[k] = after
        self.wallet += realized - fee
        self.fills += 1
        if self.keep_fills:
            side = "Buy" if f.order_side == OrderSide.BUY else "Sell"
            self.fill_rows.append([f.ts_event, str(f.instrument_id), side, str(abs(q)), str(px), str(fee)])

    # -- decisions -----------------------------------------------------------------------------

    def pending(self, iid: InstrumentId) -> Decimal:
        """Signed leaves quantity of this strategy's open and in-flight orders of `iid`."""
        return pending(self, iid)

    def close_slice(self, event) -> None:
        """`EqualWeight::on_timestamp`, then the targets traded as one batch at the clock."""
        ts = self.open_ts
        if self.funding_check and ts > T0 and (ts - T0) % FUNDING_EVERY == 0:
            # check only (see --funding-check): the Rust runner pays this before any event of
            # ts, on the position held then (no fill happened since) at the close stamped ts
            for k in range(self.n):
                if self.pos[k] and self.seen[k]:
                    pay = -(self.pos[k] * self.last_px(k) * Decimal(k % 21 - 8).scaleb(-6))
                    self.wallet += pay
                    self.funding_paid += pay
        slot = ts // self.every_ns
        if self.last_slot == slot:
            return
        present = [k for k in range(self.n) if self.seen[k]]
        if not present:
            return
        self.last_slot = slot
        weight = GROSS / Decimal(len(present))
        equity = self.equity()
        available = self.available(equity)
        targets = []
        for k in present:
            px = self.last_px(k)
            if px:
                targets.append((k, equity * weight / px))
        for k, target in targets:
            self.rebalance(k, target, available)

    def rebalance(self, k: int, target: Decimal, available: Decimal) -> None:
        iid = self.ids[k]
        step = self.steps[k]
        position = self.pos[k]
        pending = self.pending(iid)
        delta = round_down(target - position - pending, step)
        # market orders: capped at the liquidity the L1 engine simulates (a quarter bar volume)
        cap = round_down(self.last_vol[k].as_decimal() / 4, step)
        if abs(delta) > cap:
            delta = -cap if delta < 0 else cap
            self.skips += 1
        if delta == 0:
            return
        px = self.last_px(k)
        if abs(delta) < self.min_qty[k] or abs(delta * px) < self.min_notional[k]:
            self.skips += 1
            return
        if self.margin_refusal(k, position + pending + delta, px, available):
            self.skips += 1
            return
        side = OrderSide.BUY if delta > 0 else OrderSide.SELL
        qty = Quantity(abs(delta), self.insts[k].size_precision)
        self.orders += 1
        self.submit_order(self.order_factory.market(iid, side, qty))


def arg_or_env(args: list[str], i: int, env: str, default: int) -> int:
    if len(args) > i:
        return int(args[i].replace("_", ""))
    v = os.environ.get(env)
    return int(v) if v else default


def main(argv: list[str]) -> None:
    if any(a in ("-h", "--help") for a in argv):
        sys.exit(__doc__)
    args = [a for a in argv if not a.startswith("--")]
    opts = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    n = arg_or_env(args, 0, "ALPHALAB_BENCH_BARS", 525_600)
    k = arg_or_env(args, 1, "ALPHALAB_BENCH_INSTRUMENTS", 100)
    chunk_minutes = int(opts.get("chunk-minutes", 1440))
    fills_path = opts.get("fills")
    purge = "--purge" in argv

    t = time.perf_counter()
    engine = BacktestEngine(
        # WARNING, as the Rust bench logs and as a user runs it quietly
        BacktestEngineConfig(
            logging=LoggingConfig(log_level="WARNING"),
            run_analysis=False,
            cache=CacheConfig(bar_capacity=1) if purge else None,
        ),
    )
    # alphalab `usdm`: margin account, USDT base, leverage 2 (the bench), standard margin model
    engine.add_venue(
        venue=Venue("BINANCE"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        book_type=BookType.L1_MBP,
        starting_balances=[Money(START, USDT)],
        base_currency=USDT,
        default_leverage=LEVERAGE,
        margin_model=StandardMarginModel(),
        fill_model=FillModel(prob_fill_on_limit=1.0, prob_slippage=0.0, random_seed=42),
    )
    u = Universe(k, n)
    for inst in u.instruments:
        engine.add_instrument(inst)
    cfg = EqualWeightConfig(strategy_id="ALPHA-001", order_id_tag="001")
    funding_check = "--funding-check" in argv
    strat = EqualWeight(cfg, u.instruments, u.bar_types, fills_path is not None, funding_check)
    engine.add_strategy(strat)
    load = time.perf_counter() - t  # engine build counted as loading

    run_secs = 0.0
    while u.next < u.n:
        t = time.perf_counter()
        bars = u.chunk(chunk_minutes)
        engine.add_data(bars, sort=False)  # already in (ts, instrument) order, as in Rust
        engine.sort_data()  # stable: keeps that order at equal ts
        del bars
        load += time.perf_counter() - t
        t = time.perf_counter()
        engine.run(streaming=True)
        engine.clear_data()
        if purge:
            now = engine.kernel.clock.timestamp_ns()
            engine.cache.purge_closed_orders(now, 0)
            engine.cache.purge_account_events(now, 0)
        run_secs += time.perf_counter() - t
    t = time.perf_counter()
    engine.end()
    run_secs += time.perf_counter() - t
    events = engine.iteration

    final_equity = strat.equity()
    account = engine.cache.account_for_venue(Venue("BINANCE"))
    upnl = sum(
        (p.unrealized_pnl(strat.last_close[strat.by_id[p.instrument_id]]).as_decimal() for p in engine.cache.positions_open()),
        Decimal(0),
    )
    account_equity = account.balance_total(USDT).as_decimal() + upnl
    out = {
        "instruments": k,
        "bars_per_instrument": n,
        "events": events,
        "fills": strat.fills,
        "orders": strat.orders,
        "skips": strat.skips,
        "rejections": len(strat.rejections),
        "first_rejection": strat.rejections[0] if strat.rejections else None,
        "seconds": run_secs,
        "load_seconds": load,
        "events_per_s": events / run_secs if run_secs > 0 else 0.0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "final_equity": str(final_equity),
        "account_equity": str(account_equity),
        "chunk_minutes": chunk_minutes,
        "purge": purge,
    }
    if funding_check:
        out["funding_check_paid"] = str(strat.funding_paid)
    if fills_path:
        with open(fills_path, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["ts", "instrument", "side", "qty", "price", "commission"])
            w.writerows(strat.fill_rows)
    engine.dispose()
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main(sys.argv[1:])
