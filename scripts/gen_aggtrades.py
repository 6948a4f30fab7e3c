"""Writes synthetic data.binance.vision spot aggTrades days for the import and tick benchmarks.

Layout and columns as Binance publishes them (no header, ms timestamps before 2025):
agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker,is_best_match
Deterministic (seeded per symbol), so every importer reads the same bytes; each day is streamed
into its zip (memory does not grow with the row count). Usage:

    python3 scripts/gen_aggtrades.py OUT_DIR ROWS_PER_DAY [DAYS [SYMBOLS]]

DAYS from 2024-06-01 (default 1), SYMBOLS comma-separated (default BTCUSDT; ETHUSDT is the
other symbol the simulator's exchangeInfo lists). Prints the zip paths.
"""

import datetime as dt
import hashlib
import os
import random
import sys
import zipfile

out_dir, per_day = sys.argv[1], int(sys.argv[2])
days = int(sys.argv[3]) if len(sys.argv) > 3 else 1
symbols = sys.argv[4].split(",") if len(sys.argv) > 4 else ["BTCUSDT"]
# price in cents and quantity decimals as the simulator's spot exchangeInfo has them
LEVEL = {"BTCUSDT": (6_700_000, 5), "ETHUSDT": (350_000, 4)}
day0 = dt.date(2024, 6, 1)
for symbol in symbols:
    price, qty_dp = LEVEL.get(symbol, (100_000, 3))
    rng = random.Random(f"{symbol}-42")
    agg, first = 1_000_000_000, 3_000_000_000
    folder = os.path.join(out_dir, f"data/spot/daily/aggTrades/{symbol}")
    os.makedirs(folder, exist_ok=True)
    for d in range(days):
        day = day0 + dt.timedelta(days=d)
        name = f"{symbol}-aggTrades-{day.isoformat()}"
        zpath = os.path.join(folder, name + ".zip")
        t0 = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1000)
        with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z, z.open(name + ".csv", "w") as f:
            lines = []
            for i in range(per_day):
                price = max(100, price + rng.choice((-2, -1, 0, 0, 1, 2)))
                n = rng.randint(1, 3)
                qty = rng.randint(1, 2 * 10**qty_dp)
                t = t0 + (i * 86_400_000) // per_day
                lines.append(
                    f"{agg},{price // 100}.{price % 100:02d},{qty // 10**qty_dp}.{qty % 10**qty_dp:0{qty_dp}d},"
                    f"{first},{first + n - 1},{t},{'True' if rng.random() < 0.5 else 'False'},True\n"
                )
                agg += 1
                first += n
                if len(lines) == 100_000:
                    f.write("".join(lines).encode())
                    lines = []
            f.write("".join(lines).encode())
        digest = hashlib.sha256(open(zpath, "rb").read()).hexdigest()
        with open(zpath + ".CHECKSUM", "w") as c:
            c.write(f"{digest}  {name}.zip\n")
        print(zpath)
