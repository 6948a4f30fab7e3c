#!/usr/bin/env python3
"""Ray sweep benchmark (docs/BENCHMARKS.md, issue 15): the backtest benchmark's 16 EMA(fast/slow)
sets on its year of synthetic 1m bars, as one sweep file run by the bench-profile `alphalab`
on 1 local thread, on 2 local threads, and on a 2-node Ray cluster on this machine's loopback
(1 CPU per node), in one run; every run's ranking must be identical.

    target/ray-venv/bin/python scripts/bench-ray.py

Needs target/bench-backtest/catalog (written by `cargo bench ... --bench backtest -- sweep`)
and target/release/alphalab (`cargo build --profile bench -p alphalab -p alphalab-backtest
--bin alphalab`). The strategy is the `targets-from-file` baseline replaying each EMA set's
positions (computed here with the bench Alpha's f64 arithmetic, which
scripts/nautilus_py_backtest.py mirrors bit for bit): alpha logic stays out of the binary.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "scripts"), str(ROOT / "scripts/ray")]
sys.dont_write_bytecode = True

from localcluster import LocalCluster  # noqa: E402

T0, M, N = 1_735_689_600_000_000_000, 60_000_000_000, 525_600
MASK = (1 << 64) - 1
SETS = [(f, s) for f in (5, 10, 20, 40) for s in (60, 120, 240, 480)]


def closes(n: int) -> list[float]:
    """The bench's xorshift walk (crates/backtest/tests/parity `synthetic`), spot closes."""
    x, cents, out = 0x9E3779B97F4A7C15, 6_000_000, []
    for _ in range(n):
        x ^= (x << 13) & MASK
        x ^= x >> 7
        x ^= (x << 17) & MASK
        cents = max(cents + x % 2001 - 1000, 100_000)
        out.append(cents / 100)
    return out


def targets(path: Path, c: list[float], fast: int, slow: int) -> None:
    """Rows where the EMA cross's target (0.5 while EMA(fast) > EMA(slow), else 0) changes."""
    af, asl = 2.0 / (fast + 1.0), 2.0 / (slow + 1.0)
    f = s = c[0]
    last, rows = None, ["ts,instrument_id,target"]
    for i, x in enumerate(c):
        if i:
            f += af * (x - f)
            s += asl * (x - s)
        t = "0.5" if f > s else "0"
        if t != last:
            rows.append(f"{T0 + (i + 1) * M},BTCUSDT.BINANCE,{t}")
            last = t
    path.write_text("\n".join(rows) + "\n")


def sweep_file(work: Path, out: Path, files: list[Path]) -> Path:
    paths = ", ".join(f'"{p}"' for p in files)
    text = f"""rank_by = "sharpe"
output = "{out}"

[base]
catalog = "{ROOT / 'target/bench-backtest/catalog'}"
instruments = ["BTCUSDT.BINANCE"]
bar_types = ["BTCUSDT.BINANCE-1-MINUTE-LAST-EXTERNAL"]
funding = false

[base.venue]
kind = "spot"
starting_balances = {{ USDT = "10000000" }}

[base.strategy]
name = "targets-from-file"
params = {{ path = "{files[0]}" }}

[grid]
path = [{paths}]
"""
    f = work / f"{out.name}.toml"
    f.write_text(text)
    return f


def run(cmd: list[str]) -> float:
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "RUST_LIB_BACKTRACE": "0"})
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
    return time.perf_counter() - t


def main() -> None:
    binary = ROOT / "target/release/alphalab"
    if not (ROOT / "target/bench-backtest/catalog").is_dir() or not binary.exists():
        sys.exit(__doc__)
    work = ROOT / "target/bench-ray"
    work.mkdir(parents=True, exist_ok=True)
    c = closes(N)
    files = []
    for fast, slow in SETS:
        p = work / f"ema-{fast}-{slow}.csv"
        targets(p, c, fast, slow)
        files.append(p)
    times = {}
    for name, extra in (("local-1", ["--threads", "1"]), ("local-2", ["--threads", "2"])):
        f = sweep_file(work, work / name, files)
        times[name] = run([str(binary), "sweep", str(f), *extra])
    with LocalCluster((1, 1)) as cluster:
        f = sweep_file(work, work / "ray", files)
        env_py = {"ALPHALAB_RAY_PYTHON": sys.executable}
        os.environ.update(env_py)
        times["ray-2-nodes"] = run([str(binary), "sweep", str(f), "--ray", cluster.address])
    a = (work / "local-1/ranking.csv").read_text().replace(str(work / "local-1"), "")
    for other in ("local-2", "ray"):
        b = (work / f"{other}/ranking.csv").read_text().replace(str(work / other), "")
        print(f"ranking local-1 vs {other}: {'identical' if a == b else 'DIFFER'}")
    print("| run | wall s | vs 1 local thread |")
    print("|---|---:|---:|")
    for name, t in times.items():
        print(f"| {name} | {t:.1f} | {times['local-1'] / t:.2f}x |")


if __name__ == "__main__":
    main()
