#!/usr/bin/env python3
"""NautilusTrader Python baseline of alphalab's backtest throughput bench.

Usage (normally started by `crates/backtest/benches/backtest.rs` when
`ALPHALAB_BENCH_PYTHON` names a python with nautilus_trader==1.227.0):

    target/nt-venv/bin/python scripts/nautilus_py_backtest.py BARS STRATEGY [ARGS] [--perp] [--fees=M,T[,M,T]]

    BARS      number of synthetic 1m bars (the bench's xorshift random walk, bit for bit)
    STRATEGY  buy-and-hold | ema-cross FAST SLOW | flip EVERY (0.5 BTC held for EVERY bars, then
              flat for EVERY bars, ...; 0 = held from the first bar)
    --perp    spot + perp on a USD-M style margin venue (spot BTCUSDT and BTCUSDT-PERP, the
              perp on the same walk plus a small deterministic basis); default: spot only on
              a cash venue
    --fees    maker,taker fee rates of the spot pair (then of the perp) as the Rust venue
              applies them (the bench passes them); default: alphalab's venue defaults
              (spot 0.001/0.001; perp 0.0002/0.0005)

Venv: `PYENV_VERSION=3.12.1 python3.12 -m venv target/nt-venv &&
target/nt-venv/bin/pip install nautilus_trader==1.227.0`.

Logs at WARNING, as the Rust bench does. Prints ONE JSON line: {"bars", "events" (engine
iterations), "build_seconds", "seconds" (engine.run only), "events_per_s", "peak_rss_mb",
"fills": [[ts_ns, instrument, side, qty, price, commission], ...]}.

The strategy mirrors alphalab's AlphaStrategy adapter (crates/backtest/src/adapter.rs): on
every bar it updates the last price, lets the "alpha" see the bar, then for each target trades
delta = target - (fill-ledger position + open/in-flight orders), rounded DOWN to the size
increment, skipped below min quantity / min notional, with MARKET orders. Venue settings are
those alphalab passes to nautilus 0.57 (L1_MBP book, netting, bar_execution on, fixed O-H-L-C
ordering, no latency, fill model without slippage, fees on the instruments).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from decimal import Decimal

from nautilus_trader.accounting.margin_models import StandardMarginModel
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.backtest.models import FillModel
from nautilus_trader.config import BacktestEngineConfig, LoggingConfig, StrategyConfig
from nautilus_trader.model.currencies import BTC, USDT
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, BookType, OmsType, OrderSide
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import CryptoPerpetual, CurrencyPair
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.trading.strategy import Strategy

T0 = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z
M = 60_000_000_000
MASK = (1 << 64) - 1
SPOT = "BTCUSDT.BINANCE"
PERP = "BTCUSDT-PERP.BINANCE"
QTY = Decimal("0.5")


def spot_instrument(maker: Decimal, taker: Decimal) -> CurrencyPair:
    """crates/backtest/tests/common/mod.rs `spot_btcusdt`, with the venue's fees applied."""
    return CurrencyPair(
        instrument_id=InstrumentId.from_str(SPOT),
        raw_symbol=Symbol("BTCUSDT"),
        base_currency=BTC,
        quote_currency=USDT,
        price_precision=2,
        size_precision=6,
        price_increment=Price.from_str("0.01"),
        size_increment=Quantity.from_str("0.000001"),
        max_quantity=Quantity.from_str("9000"),
        min_quantity=Quantity.from_str("0.000010"),
        min_notional=Money(5, USDT),
        maker_fee=maker,
        taker_fee=taker,
        ts_event=0,
        ts_init=0,
    )


def perp_instrument(maker: Decimal, taker: Decimal) -> CryptoPerpetual:
    """The bench's BTCUSDT-PERP fixture (as in crates/backtest/tests/engine.rs), venue fees."""
    return CryptoPerpetual(
        instrument_id=InstrumentId.from_str(PERP),
        raw_symbol=Symbol("BTCUSDT"),
        base_currency=BTC,
        quote_currency=USDT,
        settlement_currency=USDT,
        is_inverse=False,
        price_precision=1,
        size_precision=3,
        price_increment=Price.from_str("0.1"),
        size_increment=Quantity.from_str("0.001"),
        max_quantity=Quantity.from_str("1000"),
        min_quantity=Quantity.from_str("0.001"),
        min_notional=Money(5, USDT),
        margin_init=Decimal("0.05"),
        margin_maint=Decimal("0.025"),
        maker_fee=maker,
        taker_fee=taker,
        ts_event=0,
        ts_init=0,
    )


def walk(n: int):
    """(spot open, high, low, close) in cents and perp (o, h, l, c) in dimes per bar, exactly as
    the Rust bench's `walk` (xorshift64, wrapping u64 arithmetic)."""
    x = 0x9E3779B97F4A7C15
    cents = 6_000_000
    perp = 600_000 + 50
    for i in range(n):
        x ^= (x << 13) & MASK
        x ^= x >> 7
        x ^= (x << 17) & MASK
        o = cents
        cents = max(cents + x % 2001 - 1000, 100_000)
        spot = (o, max(o, cents) + 500, min(o, cents) - 500, cents)
        po = perp
        perp = cents // 10 + 50 + (x >> 40) % 21 - 10  # basis 4.0..6.0 USDT
        yield i, spot, (po, max(po, perp) + 50, min(po, perp) - 50, perp)


def build_bars(n: int, with_perp: bool) -> tuple[list[Bar], list[Bar]]:
    sbt = BarType.from_str(f"{SPOT}-1-MINUTE-LAST-EXTERNAL")
    pbt = BarType.from_str(f"{PERP}-1-MINUTE-LAST-EXTERNAL")
    svol, pvol = Quantity.from_str("10.000000"), Quantity.from_str("10.000")  # see the bench
    spot, perp = [], []
    for i, s, p in walk(n):
        ts = T0 + (i + 1) * M
        spot.append(Bar(sbt, *(Price(v / 100, 2) for v in s), svol, ts, ts))
        if with_perp:
            perp.append(Bar(pbt, *(Price(v / 10, 1) for v in p), pvol, ts, ts))
    return spot, perp


def pending(strategy: Strategy, iid: InstrumentId) -> Decimal:
    """Signed leaves quantity of `strategy`'s open and in-flight orders of `iid` (an order can
    be in both lists: counted once)."""
    seen, total = set(), Decimal(0)
    sid = strategy.id
    for o in strategy.cache.orders_open(instrument_id=iid, strategy_id=sid) + strategy.cache.orders_inflight(
        instrument_id=iid, strategy_id=sid
    ):
        if o.client_order_id in seen:
            continue
        seen.add(o.client_order_id)
        q = o.leaves_qty.as_decimal()
        total += q if o.side == OrderSide.BUY else -q
    return total


class Hold:
    """buy-and-hold: a fixed target per instrument from its first price on."""

    def __init__(self, targets: dict[InstrumentId, Decimal]):
        self.want = targets
        self.targets: dict[InstrumentId, Decimal] = {}

    def on_bar(self, iid: InstrumentId, close: float, last_prices: dict) -> None:
        for k, q in self.want.items():
            if k not in self.targets and k in last_prices:
                self.targets[k] = q


class EmaCross:
    """ema-cross: per instrument, long `qty` while EMA(fast) > EMA(slow) of the close, else flat
    (f64 EMAs, first value = first close, alpha = 2/(n+1), as the Rust bench Alpha)."""

    def __init__(self, ids: list[InstrumentId], fast: int, slow: int, qty: Decimal):
        self.ids, self.qty = ids, qty
        self.a_fast, self.a_slow = 2.0 / (fast + 1.0), 2.0 / (slow + 1.0)
        self.ema: dict[InstrumentId, list[float]] = {}
        self.targets: dict[InstrumentId, Decimal] = {}

    def on_bar(self, iid: InstrumentId, c: float, last_prices: dict) -> None:
        if iid not in self.ids:
            return
        e = self.ema.get(iid)
        if e is None:
            e = self.ema[iid] = [c, c]
        else:
            e[0] = e[0] + self.a_fast * (c - e[0])
            e[1] = e[1] + self.a_slow * (c - e[1])
        self.targets[iid] = self.qty if e[0] > e[1] else Decimal(0)


class Flip:
    """flip: QTY of the spot pair for EVERY bars, then flat for EVERY bars (0: always held)."""

    def __init__(self, iid: InstrumentId, every: int):
        self.iid, self.every, self.bars = iid, every, 0
        self.targets: dict[InstrumentId, Decimal] = {}

    def on_bar(self, iid: InstrumentId, c: float, last_prices: dict) -> None:
        self.bars += 1
        on = self.every == 0 or ((self.bars - 1) // self.every) % 2 == 0
        self.targets[self.iid] = QTY if on else Decimal(0)


class AdapterConfig(StrategyConfig, frozen=True):
    bar_types: tuple[str, ...] = ()


class Adapter(Strategy):
    """Mirror of alphalab's AlphaStrategy (targets -> market orders), bars only."""

    def __init__(self, config: AdapterConfig, alpha, instruments):
        super().__init__(config)
        self.alpha = alpha
        self.rules = {i.id: i for i in instruments}
        self.steps = {i.id: i.size_increment.as_decimal() for i in instruments}
        self.positions: dict[InstrumentId, Decimal] = {}
        self.last: dict[InstrumentId, Decimal] = {}
        self.fills: list[list] = []

    def on_start(self) -> None:
        for bt in self.config.bar_types:
            self.subscribe_bars(BarType.from_str(bt))

    def on_stop(self) -> None:
        pass

    def on_bar(self, bar: Bar) -> None:
        iid = bar.bar_type.instrument_id
        self.last[iid] = bar.close.as_decimal()
        self.alpha.on_bar(iid, bar.close.as_double(), self.last)
        for tid, target in list(self.alpha.targets.items()):
            self.rebalance(tid, target)

    def pending(self, iid: InstrumentId) -> Decimal:
        return pending(self, iid)

    def rebalance(self, iid: InstrumentId, target: Decimal) -> None:
        inst = self.rules[iid]
        current = self.positions.get(iid, Decimal(0)) + self.pending(iid)
        raw = target - current
        step = self.steps[iid]
        delta = (abs(raw) / step).to_integral_value(rounding="ROUND_DOWN") * step
        if raw < 0:
            delta = -delta
        if delta == 0:
            return
        px = self.last.get(iid)
        if inst.min_quantity is not None and abs(delta) < inst.min_quantity.as_decimal():
            return
        if inst.min_notional is not None and px is not None and abs(delta * px) < inst.min_notional.as_decimal():
            return
        side = OrderSide.BUY if delta > 0 else OrderSide.SELL
        qty = Quantity(abs(delta), inst.size_precision)
        self.submit_order(self.order_factory.market(iid, side, qty))

    def on_order_filled(self, f) -> None:
        q = f.last_qty.as_decimal()
        self.positions[f.instrument_id] = self.positions.get(f.instrument_id, Decimal(0)) + (
            q if f.order_side == OrderSide.BUY else -q
        )
        c = f.commission.as_decimal() if f.commission is not None else Decimal(0)
        side = "Buy" if f.order_side == OrderSide.BUY else "Sell"
        self.fills.append([f.ts_event, str(f.instrument_id), side, str(q), str(f.last_px.as_decimal()), str(c)])


def main(argv: list[str]) -> None:
    args = [a for a in argv if not a.startswith("--")]
    with_perp = "--perp" in argv
    fees = [Decimal(x) for a in argv if a.startswith("--fees=") for x in a[7:].split(",")]
    fees = fees or [Decimal("0.001"), Decimal("0.001"), Decimal("0.0002"), Decimal("0.0005")]
    arity = {"buy-and-hold": 2, "ema-cross": 4, "flip": 3}
    if len(args) < 2 or arity.get(args[1]) != len(args):
        sys.exit(__doc__)
    n, strategy = int(args[0]), args[1]

    t = time.perf_counter()
    engine = BacktestEngine(
        # WARNING, as the Rust bench logs and as a user runs it quietly
        BacktestEngineConfig(logging=LoggingConfig(log_level="WARNING"), run_analysis=False),
    )
    fill_model = FillModel(prob_fill_on_limit=1.0, prob_slippage=0.0, random_seed=42)
    if with_perp:
        # alphalab `usdm`: margin account, USDT base, leverage 1, standard margin model, USD-M fees
        engine.add_venue(
            venue=Venue("BINANCE"),
            oms_type=OmsType.NETTING,
            account_type=AccountType.MARGIN,
            book_type=BookType.L1_MBP,
            starting_balances=[Money(10_000_000, USDT)],
            base_currency=USDT,
            default_leverage=Decimal(1),
            margin_model=StandardMarginModel(),
            fill_model=fill_model,
        )
        instruments = [spot_instrument(fees[0], fees[1]), perp_instrument(fees[2], fees[3])]
    else:
        # alphalab `spot`: cash account, no base currency, fees 0.1 %/0.1 %
        engine.add_venue(
            venue=Venue("BINANCE"),
            oms_type=OmsType.NETTING,
            account_type=AccountType.CASH,
            book_type=BookType.L1_MBP,
            starting_balances=[Money(10_000_000, USDT)],
            base_currency=None,
            fill_model=fill_model,
        )
        instruments = [spot_instrument(fees[0], fees[1])]
    for inst in instruments:
        engine.add_instrument(inst)
    spot_bars, perp_bars = build_bars(n, with_perp)
    engine.add_data(spot_bars, sort=False)  # on equal ts_init spot comes first, as in Rust
    if perp_bars:
        engine.add_data(perp_bars, sort=False)
    engine.sort_data()
    ids = [i.id for i in instruments]
    if strategy == "buy-and-hold":
        want = {ids[0]: QTY} if not with_perp else {ids[0]: QTY, ids[1]: -QTY}
        alpha = Hold(want)
    elif strategy == "ema-cross":
        alpha = EmaCross(ids, int(args[2]), int(args[3]), QTY)
    else:
        alpha = Flip(ids[0], int(args[2]))
    bar_types = tuple(f"{i}-1-MINUTE-LAST-EXTERNAL" for i in ids)
    cfg = AdapterConfig(strategy_id="ALPHA-001", order_id_tag="001", bar_types=bar_types)
    strat = Adapter(cfg, alpha, instruments)
    engine.add_strategy(strat)
    build = time.perf_counter() - t

    t = time.perf_counter()
    engine.run()
    secs = time.perf_counter() - t
    events = engine.iteration
    out = {
        "bars": n,
        "instruments": len(ids),
        "events": events,
        "build_seconds": build,
        "seconds": secs,
        "events_per_s": events / secs if secs > 0 else 0.0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "fills": strat.fills,
    }
    engine.dispose()
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main(sys.argv[1:])
