#!/usr/bin/env python3
"""Per-task overhead of the Ray sweep driver on a 2-node loopback cluster (1 CPU each).

    target/ray-venv/bin/python scripts/ray/bench_overhead.py [--n 40]

Measures, with a variant whose "backtest" does nothing (/bin/true, so no result files):
  1. a bare Ray task (no subprocess): submit -> result, one at a time;
  2. the driver's task (attempt log, subprocess, files collected): submit -> result, one at a time;
  3. the whole driver (sweep.py in a subprocess: start, ray.init, tasks, manifest) for 1 and N
     variants: fixed cost, and the marginal wall time per variant with 2 CPUs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path[:0] = [str(HERE), str(HERE / "testdata")]

import ray  # noqa: E402

import fake_alphalab as fake  # noqa: E402
import sweep  # noqa: E402
from localcluster import LocalCluster  # noqa: E402
from test_sweep import Project, driver_cmd  # noqa: E402


def stats(xs: list[float]) -> str:
    xs = sorted(xs)
    return (f"median {statistics.median(xs) * 1000:.1f} ms, p90 {xs[int(0.9 * (len(xs) - 1))] * 1000:.1f} ms, "
            f"min {xs[0] * 1000:.1f} ms (n={len(xs)})")


@ray.remote(num_cpus=1)
def bare() -> int:
    return 1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40)
    n = ap.parse_args().n
    with LocalCluster((1, 1)) as cluster:
        project = Project()
        try:
            project.binary.write_text("#!/bin/sh\nexit 0\n")  # a backtest that does nothing
            folder = project.out / "variants" / "0000"
            run_file = fake.write_run_file(folder / "run.toml", folder, {"fast": 1})
            ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
            log = ray.remote(num_cpus=0)(sweep.AttemptLog).remote()
            ray.get([bare.remote() for _ in range(4)])  # warm both nodes' workers
            ray.get([sweep.run_variant.remote(0, str(project.binary), str(run_file), str(folder),
                                              str(project.root), None, log) for _ in range(4)])
            t_bare, t_task = [], []
            for _ in range(n):
                t0 = time.perf_counter()
                ray.get(bare.remote())
                t_bare.append(time.perf_counter() - t0)
            for _ in range(n):
                t0 = time.perf_counter()
                r = ray.get(sweep.run_variant.remote(0, str(project.binary), str(run_file), str(folder),
                                                     str(project.root), run_file.read_bytes(), log))
                t_task.append(time.perf_counter() - t0)
                assert r["exit_code"] == 0
            ray.shutdown()
            print(f"bare Ray task round trip:     {stats(t_bare)}")
            print(f"driver task round trip:       {stats(t_task)}  (no-op binary)")

            def whole(k: int) -> float:
                plan = project.grid_plan(cluster.address, [{"fast": i} for i in range(k)])
                t0 = time.perf_counter()
                p = subprocess.run(driver_cmd(plan), cwd=project.root, capture_output=True, text=True)
                dt = time.perf_counter() - t0
                assert p.returncode == 0, p.stderr[-3000:]
                assert json.loads(p.stdout)["ok"] == k
                return dt

            whole(1)
            one = min(whole(1) for _ in range(3))
            many = min(whole(n) for _ in range(2))
            print(f"whole driver, 1 variant:      {one:.2f} s (python + import ray + ray.init + manifest)")
            print(f"whole driver, {n} variants:    {many:.2f} s -> {(many - one) / (n - 1) * 1000:.0f} ms "
                  f"wall per extra variant on 2 CPUs ({(many - one) / (n - 1) * 2000:.0f} ms of a CPU slot)")
        finally:
            if ray.is_initialized():
                ray.shutdown()
            project.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
