#!/usr/bin/env python3
"""NautilusTrader Python baseline of alphalab's tick backtest bench (docs/BENCHMARKS.md).

    target/nt-venv/bin/python scripts/nautilus_py_ticks.py CATALOG INSTRUMENT_ID START END QTY [TARGETS_CSV]

Loads INSTRUMENT_ID's trade ticks with ts_init in [START, END] (RFC 3339) from the catalog
alphalab wrote, and the instrument as alphalab stored it (the Rust 0.57 catalog names its
folders `trades` and `instruments`, where Python 1.227 looks for `trade_tick` and
`currency_pair`, so the Parquet files are read with pyarrow and decoded by NautilusTrader's own
Arrow serializer: the same rows, decimals and precisions), runs them through a BacktestEngine with a
cash venue as alphalab configures it (L1_MBP book, netting, no latency, fees on the
instrument), and a strategy that buys QTY at the first tick and holds it, or (with
TARGETS_CSV, alphalab's `ts,instrument_id,target` file) trades to each target at the first
tick at or after its time with market orders. Logs at WARNING, as alphalab's bench does.
Prints one JSON line: {"events", "load_seconds", "seconds" (engine.run only), "events_per_s",
"fills", "peak_rss_mb"}.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from decimal import Decimal

import glob

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.config import BacktestEngineConfig, LoggingConfig, StrategyConfig
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.enums import AccountType, BookType, OmsType, OrderSide
from nautilus_trader.model.currencies import Currency
from nautilus_trader.model.data import TradeTick
from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.serialization.arrow.serializer import ArrowSerializer
from nautilus_trader.trading.strategy import Strategy


class TargetsConfig(StrategyConfig, frozen=True):
    instrument_id: str = ""
    qty: str = "0"


class Targets(Strategy):
    """Holds QTY from the first tick, or follows the (ts, target) schedule."""

    def __init__(self, config: TargetsConfig, schedule: list[tuple[int, Decimal]]):
        super().__init__(config)
        self.iid = InstrumentId.from_str(config.instrument_id)
        self.schedule = schedule or [(0, Decimal(config.qty))]
        self.next = 0
        self.position = Decimal(0)
        self.fills = 0

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self.iid)
        self.subscribe_trade_ticks(self.iid)

    def on_trade_tick(self, tick) -> None:
        target = None
        while self.next < len(self.schedule) and self.schedule[self.next][0] <= tick.ts_init:
            target = self.schedule[self.next][1]
            self.next += 1
        if target is None or target == self.position:
            return
        delta = target - self.position
        side = OrderSide.BUY if delta > 0 else OrderSide.SELL
        qty = self.instrument.make_qty(abs(delta))
        self.submit_order(self.order_factory.market(self.iid, side, qty))
        self.position = target

    def on_order_filled(self, event) -> None:
        self.fills += 1


def instrument(catalog: str, iid: str) -> CurrencyPair:
    """The spot pair as alphalab's catalog holds it."""
    (path,) = glob.glob(f"{catalog}/data/instruments/{iid}/*.parquet")
    r = pq.read_table(path).to_pylist()[-1]
    money = lambda s: Money.from_str(s) if s else None  # noqa: E731
    return CurrencyPair(
        instrument_id=InstrumentId.from_str(r["id"]),
        raw_symbol=Symbol(r["raw_symbol"]),
        base_currency=Currency.from_str(r["base_currency"]),
        quote_currency=Currency.from_str(r["quote_currency"]),
        price_precision=r["price_precision"],
        size_precision=r["size_precision"],
        price_increment=Price.from_str(r["price_increment"]),
        size_increment=Quantity.from_str(r["size_increment"]),
        max_quantity=Quantity.from_str(r["max_quantity"]) if r["max_quantity"] else None,
        min_quantity=Quantity.from_str(r["min_quantity"]) if r["min_quantity"] else None,
        max_notional=money(r["max_notional"]),
        min_notional=money(r["min_notional"]),
        maker_fee=Decimal(r["maker_fee"]),
        taker_fee=Decimal(r["taker_fee"]),
        ts_event=r["ts_event"],
        ts_init=r["ts_init"],
    )


def ticks(catalog: str, iid: str, start: int, end: int) -> list[TradeTick]:
    """The trade ticks with ts_init in [start, end], in file order (ascending)."""
    out = []
    for path in sorted(glob.glob(f"{catalog}/data/trades/{iid}/*.parquet")):
        t = pq.read_table(path)
        t = t.filter(pc.and_(pc.greater_equal(t["ts_init"], pa.scalar(start, pa.uint64())),
                             pc.less_equal(t["ts_init"], pa.scalar(end, pa.uint64()))))
        if t.num_rows:
            rows = ArrowSerializer.deserialize(TradeTick, t)
            out.extend(rows if not rows or isinstance(rows[0], TradeTick) else TradeTick.from_pyo3_list(rows))
    return out


def main() -> None:
    catalog, iid, start, end, qty = sys.argv[1:6]
    schedule: list[tuple[int, Decimal]] = []
    if len(sys.argv) > 6:
        rows = pd.read_csv(sys.argv[6], dtype={"target": str})
        schedule = [(int(t), Decimal(q)) for t, i, q in rows.itertuples(index=False) if i == iid]
    t = time.perf_counter()
    pair = instrument(catalog, iid)
    data = ticks(catalog, iid, pd.Timestamp(start).value, pd.Timestamp(end).value)
    load_seconds = time.perf_counter() - t
    engine = BacktestEngine(
        BacktestEngineConfig(logging=LoggingConfig(log_level="WARNING"), run_analysis=False)
    )
    engine.add_venue(
        Venue("BINANCE"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.CASH,
        book_type=BookType.L1_MBP,
        base_currency=None,
        starting_balances=[Money(10_000_000, USDT)],
    )
    engine.add_instrument(pair)
    engine.add_data(data)
    strategy = Targets(TargetsConfig(instrument_id=iid, qty=qty), schedule)
    engine.add_strategy(strategy)
    t = time.perf_counter()
    engine.run()
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "events": len(data),
                "load_seconds": round(load_seconds, 3),
                "seconds": round(seconds, 3),
                "events_per_s": round(len(data) / seconds),
                "fills": strategy.fills,
                "peak_rss_mb": round(peak),
            }
        )
    )


if __name__ == "__main__":
    main()
