#!/usr/bin/env bash
# Tick benchmark (docs/BENCHMARKS.md, issue 12): synthetic data.binance.vision aggTrades for
# BTCUSDT and ETHUSDT, DAYS days of ROWS_PER_DAY rows each (default 5 × 5,000,000 × 2 =
# 50,000,000 rows), then, with the bench-profile binary and the simulator for exchangeInfo:
#   1. `alphalab import` of one 5 M-row file, then of every file (rows/s, peak RSS);
#   2. `alphalab backtest` over every tick of both symbols: buy-and-hold of 0.001 BTC, and a
#      targets-from-file run flipping 0.001 BTC <-> flat N_TARGETS times (default 100,000);
#   3. NautilusTrader Python 1.227.0 on the first day of BTCUSDT (5 M ticks), both strategies
#      (it holds every tick in memory, so the whole 50 M set is out of its reach here).
# Each process's wall time and peak RSS by GNU time. Usage:
#   scripts/bench-ticks.sh [DAYS [ROWS_PER_DAY [N_TARGETS]]]
set -euo pipefail
DAYS=${1:-5}
ROWS=${2:-5000000}
N_TARGETS=${3:-100000}
cd "$(dirname "$0")/.."
W=target/bench-ticks
mkdir -p "$W"
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
if [ ! -x target/nt-venv/bin/python ]; then
  PYENV_VERSION=3.12.1 python3.12 -m venv target/nt-venv
  target/nt-venv/bin/pip install -q nautilus_trader==1.227.0 pandas
fi
SRC="$W/src-$DAYS-$ROWS"
[ -f "$SRC/done" ] || { python3 scripts/gen_aggtrades.py "$SRC" "$ROWS" "$DAYS" BTCUSDT,ETHUSDT >/dev/null && touch "$SRC/done"; }
cargo build -q --profile bench -p alphalab -p alphalab-backtest --bin alphalab
BIN=target/release/alphalab
$BIN sim --bind 127.0.0.1:18951 --log-level WARN & SIM=$!
trap 'kill $SIM 2>/dev/null' EXIT
sleep 1
measure() { # name, command...
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$W/$name.time" env RUST_LIB_BACKTRACE=0 NAUTILUS_LOG="stdout=Warn" "$@" > "$W/$name.out" 2>&1
  read -r s kb < "$W/$name.time"
  echo "$name $s $kb"
}
FIRST="$SRC/data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-06-01.zip"
rm -rf "$W/root1" "$W/cat1" "$W/root" "$W/cat" "$W/out-"*
R1=$(measure import-1 $BIN import "$FIRST" --data-root "$W/root1" --catalog "$W/cat1" --base-url http://127.0.0.1:18951)
RA=$(measure import-all $BIN import "$SRC/data" --data-root "$W/root" --catalog "$W/cat" --base-url http://127.0.0.1:18951)
END=$(python3 -c "import datetime as d; print((d.date(2024,6,1)+d.timedelta(days=$DAYS)).isoformat())")
run_file() { # name, strategy params
  cat > "$W/$1.toml" <<TOML
catalog = "$PWD/$W/cat"
instruments = ["BTCUSDT.BINANCE", "ETHUSDT.BINANCE"]
trade_ticks = ["BTCUSDT.BINANCE", "ETHUSDT.BINANCE"]
output = "$PWD/$W/out-$1"

[venue]
kind = "spot"
starting_balances = { USDT = "10000000" }

[strategy]
$2
TOML
}
python3 - "$W/targets.csv" "$N_TARGETS" "$DAYS" <<'PY'
import sys
path, n, days = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0, span = 1_717_200_000_000_000_000, days * 86_400_000_000_000
with open(path, "w") as f:
    f.write("ts,instrument_id,target\n")
    for k in range(n):
        f.write(f"{t0 + (k * span) // n + 1},BTCUSDT.BINANCE,{'0.001' if k % 2 == 0 else '0'}\n")
PY
run_file hold 'name = "buy-and-hold"
params = { instrument_id = "BTCUSDT.BINANCE", quantity = "0.001" }'
run_file targets "name = \"targets-from-file\"
params = { path = \"$PWD/$W/targets.csv\" }"
RH=$(measure backtest-hold $BIN backtest "$W/hold.toml")
RT=$(measure backtest-targets $BIN backtest "$W/targets.toml")
# Python: the first day of BTCUSDT, same strategies (the targets of that day)
PY_END=2024-06-01T23:59:59.999999999Z
PH=$(measure py-hold target/nt-venv/bin/python scripts/nautilus_py_ticks.py "$W/cat" BTCUSDT.BINANCE 2024-06-01T00:00:00Z $PY_END 0.001)
PT=$(measure py-targets target/nt-venv/bin/python scripts/nautilus_py_ticks.py "$W/cat" BTCUSDT.BINANCE 2024-06-01T00:00:00Z $PY_END 0.001 "$W/targets.csv")
python3 - "$DAYS" "$ROWS" "$W" "$R1" "$RA" "$RH" "$RT" "$PH" "$PT" <<'PY'
import json, re, sys
days, rows, w = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
m = {x.split()[0]: (float(x.split()[1]), float(x.split()[2]) / 1024) for x in sys.argv[4:]}
total = 2 * days * rows
print(f"aggTrades: 2 symbols x {days} days x {rows:,} rows = {total:,}")
print("| job | rows or events | wall s | per s | peak RSS MB |")
print("|---|---:|---:|---:|---:|")
print(f"| import, one file | {rows:,} | {m['import-1'][0]:.2f} | {rows/m['import-1'][0]:,.0f} | {m['import-1'][1]:.0f} |")
print(f"| import, every file | {total:,} | {m['import-all'][0]:.2f} | {total/m['import-all'][0]:,.0f} | {m['import-all'][1]:.0f} |")
for name in ("backtest-hold", "backtest-targets"):
    out = open(f"{w}/{name}.out").read()
    ev = int(re.search(r"([\d,]+) events in", out).group(1).replace(",", ""))
    fills = re.search(r"(\d+) fills", out).group(1)
    print(f"| alphalab {name} ({fills} fills) | {ev:,} | {m[name][0]:.2f} | {ev/m[name][0]:,.0f} | {m[name][1]:.0f} |")
for name in ("py-hold", "py-targets"):
    j = json.loads([l for l in open(f"{w}/{name}.out") if l.startswith("{")][-1])
    print(f"| NautilusTrader Python {name} ({j['fills']} fills; run {j['seconds']} s, load {j['load_seconds']} s) | {j['events']:,} | {m[name][0]:.2f} | {j['events_per_s']:,.0f} (engine.run) | {m[name][1]:.0f} |")
PY
