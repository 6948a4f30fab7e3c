"""Baseline for the import benchmark: the same aggTrades zip through NautilusTrader Python
1.227.0 (pandas read + TradeTickDataWrangler + ParquetDataCatalog.write_data), as a user of the
Python stack would import it. Usage (bench venv): python scripts/nautilus_py_import.py ZIP CATALOG
"""

import sys
import time
import zipfile

import pandas as pd
from nautilus_trader.persistence.catalog import ParquetDataCatalog
from nautilus_trader.persistence.wranglers import TradeTickDataWrangler
from nautilus_trader.test_kit.providers import TestInstrumentProvider

zip_path, catalog_path = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
with zipfile.ZipFile(zip_path) as z:
    with z.open(z.namelist()[0]) as f:
        df = pd.read_csv(
            f,
            header=None,
            names=["trade_id", "price", "quantity", "first", "last", "ts", "buyer_maker", "best"],
        )
df["timestamp"] = pd.to_datetime(df["ts"], unit="ms", utc=True)
df = df.set_index("timestamp")[["price", "quantity", "buyer_maker", "trade_id"]]
df["trade_id"] = df["trade_id"].astype(str)
instrument = TestInstrumentProvider.btcusdt_binance()
ticks = TradeTickDataWrangler(instrument).process(df)
catalog = ParquetDataCatalog(catalog_path)
catalog.write_data([instrument])
catalog.write_data(ticks)
elapsed = time.perf_counter() - t0
print(f"rows={len(ticks)} elapsed_s={elapsed:.3f} rows_per_s={len(ticks) / elapsed:.0f}")
