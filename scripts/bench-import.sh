#!/usr/bin/env bash
# Import benchmark (docs/BENCHMARKS.md): one data.binance.vision aggTrades zip of ROWS rows
# (default 5,000,000) into a ParquetDataCatalog, by `alphalab import` (bench profile) and by
# NautilusTrader Python 1.227.0 (pandas + TradeTickDataWrangler + catalog), in the same run.
# Reports wall time, rows/s and peak RSS of each process. Needs GNU time (/usr/bin/time).
set -euo pipefail
ROWS=${1:-5000000}
cd "$(dirname "$0")/.."
W=target/bench-import
mkdir -p "$W"
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
if [ ! -x target/nt-venv/bin/python ]; then
  PYENV_VERSION=3.12.1 python3.12 -m venv target/nt-venv
  target/nt-venv/bin/pip install -q nautilus_trader==1.227.0 pandas
fi
ZIP="$W/src-$ROWS/data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-06-01.zip"
[ -f "$ZIP" ] || python3 scripts/gen_aggtrades.py "$W/src-$ROWS" "$ROWS" >/dev/null
cargo build -q --profile bench -p alphalab -p alphalab-backtest --bin alphalab
BIN=target/release/alphalab
# instruments come from exchangeInfo: the simulator serves BTCUSDT's
$BIN sim --bind 127.0.0.1:18950 --log-level WARN & SIM=$!
trap 'kill $SIM 2>/dev/null' EXIT
sleep 1
rm -rf "$W/rs-root" "$W/rs-cat" "$W/py-cat"
/usr/bin/time -f "%e %M" -o "$W/rs.time" env NAUTILUS_LOG="stdout=Warn" \
  $BIN import "$ZIP" --data-root "$W/rs-root" --catalog "$W/rs-cat" --base-url http://127.0.0.1:18950
/usr/bin/time -f "%e %M" -o "$W/py.time" target/nt-venv/bin/python scripts/nautilus_py_import.py "$ZIP" "$W/py-cat" >/dev/null
read -r rs_s rs_kb < "$W/rs.time"
read -r py_s py_kb < "$W/py.time"
python3 - "$ROWS" "$rs_s" "$rs_kb" "$py_s" "$py_kb" <<'PY'
import sys
rows, rs_s, rs_kb, py_s, py_kb = int(sys.argv[1]), *map(float, sys.argv[2:])
print(f"aggTrades import, {rows:,} rows, same zip")
print("| importer | wall s | rows/s | peak RSS MB |")
print("|---|---:|---:|---:|")
print(f"| alphalab import (bench profile) | {rs_s:.2f} | {rows/rs_s:,.0f} | {rs_kb/1024:.0f} |")
print(f"| NautilusTrader Python 1.227.0 wrangler | {py_s:.2f} | {rows/py_s:,.0f} | {py_kb/1024:.0f} |")
print(f"| ratio (alphalab / Python rows/s) | {py_s/rs_s:.2f}x | | |")
PY
