"""Writes a synthetic data.binance.vision spot aggTrades day for the import benchmark.

Layout and columns as Binance publishes them (no header, ms timestamps before 2025):
agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker,is_best_match
Deterministic (seeded), so both importers read the same bytes. Usage:
    python3 scripts/gen_aggtrades.py OUT_DIR ROWS
"""

import hashlib
import os
import random
import sys
import zipfile

out_dir, rows = sys.argv[1], int(sys.argv[2])
name = "BTCUSDT-aggTrades-2024-06-01"
folder = os.path.join(out_dir, "data/spot/daily/aggTrades/BTCUSDT")
os.makedirs(folder, exist_ok=True)
rng = random.Random(42)
t0 = 1_717_200_000_000  # 2024-06-01T00:00:00Z
price = 6_700_000  # cents
first = 3_000_000_000
lines = []
for i in range(rows):
    price = max(100, price + rng.choice((-2, -1, 0, 0, 1, 2)))
    n = rng.randint(1, 3)
    qty = rng.randint(1, 200_000)  # 0.00001 .. 2.00000 BTC
    t = t0 + (i * 86_400_000) // rows
    lines.append(
        f"{1_000_000_000 + i},{price // 100}.{price % 100:02d},{qty // 100_000}.{qty % 100_000:05d},"
        f"{first},{first + n - 1},{t},{'True' if rng.random() < 0.5 else 'False'},True\n"
    )
    first += n
csv = "".join(lines).encode()
zpath = os.path.join(folder, name + ".zip")
with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr(name + ".csv", csv)
digest = hashlib.sha256(open(zpath, "rb").read()).hexdigest()
with open(zpath + ".CHECKSUM", "w") as f:
    f.write(f"{digest}  {name}.zip\n")
print(zpath)
