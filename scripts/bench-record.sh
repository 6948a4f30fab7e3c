#!/usr/bin/env bash
# Recorder benchmark (docs/BENCHMARKS.md): `alphalab record` of every USD-M stream of every
# perpetual the simulator lists (its whole universe: the highest rate it serves) for MINUTES
# (default 10), the simulator in a process of its own; the recorder's CPU time and RSS sampled
# every 5 s; then the recording converted into a catalog (`catalog rebuild`). Prints frames/s
# recorded and converted, CPU share and RSS. Uses the bench-profile binary (built first; `BIN=...`
# to measure another). Needs GNU time (/usr/bin/time) and curl.
set -euo pipefail
MIN=${1:-10}
PORT=${PORT:-18960}
cd "$(dirname "$0")/.."
W=target/bench-record
BIN=${BIN:-target/release/alphalab}
[ -n "${SKIP_BUILD:-}" ] || cargo build -q --profile bench --locked -p alphalab -p alphalab-backtest --bin alphalab
rm -rf "$W" && mkdir -p "$W"
NAUTILUS_LOG="stdout=Warn" $BIN sim --bind 127.0.0.1:$PORT --log-level WARN > "$W/sim.out" 2>&1 & SIM=$!
trap 'kill $SIM 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/fapi/v1/ping" >/dev/null && break; sleep 0.2; done
SYMS=$(curl -sf "http://127.0.0.1:$PORT/fapi/v1/exchangeInfo" | python3 -c '
import json, sys
s = json.load(sys.stdin)["symbols"]
print(",".join(x["symbol"] for x in s if x.get("contractType") == "PERPETUAL" and x.get("status") == "TRADING"))')
NSYM=$(echo "$SYMS" | tr , '\n' | wc -l)
STREAMS=trade,aggTrade,bookTicker,depth@100ms,kline_1m,markPrice@1s,forceOrder
echo "record: usdm, $NSYM symbols x 7 streams, ${MIN} min"
NAUTILUS_LOG="stdout=Warn" /usr/bin/time -f "%e %U %S %M" -o "$W/record.time" \
  $BIN record --market usdm --symbols "$SYMS" --streams $STREAMS --duration "${MIN}m" \
  --base-url "http://127.0.0.1:$PORT" --stream-url "ws://127.0.0.1:$PORT/fstream" \
  --data-root "$W/root" --catalog "$W/cat" > "$W/record.out" 2>&1 & TIME=$!
sleep 1
REC=$(pgrep -P $TIME)
TCK=$(getconf CLK_TCK)
echo -e "t_s\trecorder_cpu_s\trecorder_rss_kb\tsim_cpu_s" > "$W/samples.tsv"
t0=$(date +%s.%N)
while kill -0 "$REC" 2>/dev/null; do
  cpu=$(awk -v t="$TCK" '{print ($14+$15)/t}' /proc/$REC/stat 2>/dev/null || true)
  rss=$(awk '/^VmRSS/ {print $2}' /proc/$REC/status 2>/dev/null || true)
  scpu=$(awk -v t="$TCK" '{print ($14+$15)/t}' /proc/$SIM/stat)
  [ -n "$cpu" ] && echo -e "$(echo "$(date +%s.%N) - $t0" | bc)\t$cpu\t$rss\t$scpu" >> "$W/samples.tsv"
  sleep 5
done
wait $TIME || true
cat "$W/record.out"
/usr/bin/time -f "%e %U %S %M" -o "$W/rebuild.time" env NAUTILUS_LOG="stdout=Warn" \
  $BIN catalog rebuild --data-root "$W/root" --catalog "$W/cat" > "$W/rebuild.out" 2>&1
cat "$W/rebuild.out"
du -sb "$W/root/raw/stream" "$W/cat/data" | awk '{print $2": "$1/1e6" MB"}'
python3 - "$W" <<'PY'
import re, sys
w = sys.argv[1]
out = open(f"{w}/record.out").read()
frames = int(re.search(r"s: ([\d,]+) frames", out).group(1).replace(",", ""))
wall, user, sys_, peak = map(float, open(f"{w}/record.time").read().split())
rows = [l.split("\t") for l in open(f"{w}/samples.tsv").read().split("\n")[1:] if l]
rows = [(float(t), float(c), int(r), float(s)) for t, c, r, s in rows]
# steady state: from the end of the first minute to the last sample
a = next(r for r in rows if r[0] >= 60) if rows[-1][0] > 120 else rows[0]
b = rows[-1]
cpu = (b[1] - a[1]) / (b[0] - a[0])
sim = (b[3] - a[3]) / (b[0] - a[0])
rss = [r[2] for r in rows if r[0] >= a[0]]
print(f"recorded: {frames:,} frames in {wall:.0f} s = {frames / wall:,.0f} frames/s")
print(f"recorder CPU {cpu * 100:.1f} % of one core (steady state), simulator {sim * 100:.1f} %; "
      f"user {user:.0f} s + sys {sys_:.0f} s over the run")
print(f"recorder RSS from {a[0]:.0f} s: min {min(rss) / 1024:.1f} MB, max {max(rss) / 1024:.1f} MB, "
      f"at the end {rss[-1] / 1024:.1f} MB; peak over the run {peak / 1024:.1f} MB")
rw, ru, rs, rp = map(float, open(f"{w}/rebuild.time").read().split())
print(f"converted: {frames:,} frames in {rw:.1f} s = {frames / rw:,.0f} frames/s "
      f"(CPU {ru + rs:.0f} s, peak RSS {rp / 1024:.0f} MB)")
PY
