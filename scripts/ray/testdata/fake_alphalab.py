#!/usr/bin/env python3
"""Stands in for the alphalab binary in scripts/ray tests (no Rust build needed).

    fake_alphalab.py backtest RUN.toml --results-only
        reads the run file's `output` and `[strategy.params]`, sleeps, writes result.json
        ({"stats": {"sharpe": ...}} deterministic from the params) and a few more files.
        A param whose value is "bad" -> exit 2 with an error on stderr (a variant failure).
        A param `undefined = true` -> sharpe null. Sleep: param `sleep`, else the env var
        FAKE_ALPHALAB_SLEEP (seconds, default 0.2).
    fake_alphalab.py sweep-variant SWEEP.toml --index I --params JSON
        writes <sweep output>/variants/NNNN/run.toml (base params overridden by JSON) and
        prints its path, as `alphalab sweep-variant` does.

The tests import `expected_files` and `write_run_file` from here.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import tomllib
from pathlib import Path


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    raise TypeError(f"no TOML for {v!r}")


def write_run_file(path: Path, output: Path, params: dict) -> Path:
    """A run file as the Rust CLI writes one for a variant (only the keys the fake reads)."""
    lines = [f"output = {toml_value(str(output))}", "", "[strategy]", 'name = "fake"', "",
             "[strategy.params]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in sorted(params.items())]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def sharpe(params: dict) -> float | None:
    if params.get("undefined") is True:
        return None
    x = 0.0
    for k, v in sorted(params.items()):
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "sleep":
            x += ((float(v) - 3.0) / 10.0) ** 2
    return round(1.0 - x, 9)


def expected_files(params: dict, cwd: str) -> dict[str, bytes]:
    """The files (besides run.toml) a successful fake backtest writes, by relative name."""
    seed = json.dumps(params, sort_keys=True).encode()
    blob = b"".join(hashlib.sha256(seed + i.to_bytes(4, "little")).digest() for i in range(64))
    result = {"version": "fake", "cwd": cwd, "params": params, "stats": {"sharpe": sharpe(params)}}
    equity = "ts,equity\n" + "".join(f"{i},{10000 + (blob[i] - 128)}\n" for i in range(20))
    return {
        "result.json": (json.dumps(result, indent=2, sort_keys=True) + "\n").encode(),
        "equity.csv": equity.encode(),
        "fills.parquet": b"PAR1" + blob + b"\x00\xff" + b"PAR1",  # not Parquet: arbitrary bytes
        "figures/equity.txt": f"equity of {len(params)} params\n".encode(),
    }


def backtest(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] != "--results-only":
        print(f"error: usage: backtest RUN.toml --results-only (got {argv})", file=sys.stderr)
        return 64
    run = tomllib.loads(Path(argv[0]).read_text())
    params = run.get("strategy", {}).get("params", {})
    for k, v in sorted(params.items()):
        if v == "bad":
            print(f"loading the run file {argv[0]}", file=sys.stderr)
            print(f"error: strategy fake: param `{k}` = \"bad\" is not a number", file=sys.stderr)
            return 2
    time.sleep(float(params.get("sleep", os.environ.get("FAKE_ALPHALAB_SLEEP", "0.2"))))
    out = Path(run["output"])
    for name, data in expected_files(params, os.getcwd()).items():
        p = out / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    print("results written", out)  # stdout: the driver must not pass it on
    return 0


def sweep_variant(argv: list[str]) -> int:
    try:
        sweep_file = argv[0]
        index = int(argv[argv.index("--index") + 1])
        params = json.loads(argv[argv.index("--params") + 1])
    except (IndexError, ValueError) as e:
        print(f"error: usage: sweep-variant SWEEP.toml --index I --params JSON ({e})", file=sys.stderr)
        return 64
    sweep = tomllib.loads(Path(sweep_file).read_text())
    base = dict(sweep.get("base", {}).get("strategy", {}).get("params", {}))
    unknown = sorted(set(params) - set(sweep.get("search_params", params)))
    if unknown:
        print(f"error: unknown params {unknown}", file=sys.stderr)
        return 2
    base.update(params)
    out = Path(sweep["output"]) / "variants" / f"{index:04}"
    run = write_run_file(out / "run.toml", out, base)
    print(run)
    return 0


def main() -> int:
    if len(sys.argv) < 2:
        print("error: no command", file=sys.stderr)
        return 64
    cmd, rest = sys.argv[1], sys.argv[2:]
    if cmd == "backtest":
        return backtest(rest)
    if cmd == "sweep-variant":
        return sweep_variant(rest)
    print(f"error: unknown command {cmd}", file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main())
