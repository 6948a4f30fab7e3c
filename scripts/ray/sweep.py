#!/usr/bin/env python3
"""Ray driver behind `alphalab sweep SWEEP.toml --ray ADDRESS`.

Grid mode (the variants are already expanded by the Rust CLI):

    python scripts/ray/sweep.py --plan OUT/ray-plan.json

Search mode (the driver picks the parameters, the Rust CLI writes each run file):

    python scripts/ray/sweep.py --plan OUT/ray-plan.json --search random|tpe \
        --trials N --seed S --space '{"fast": {"low": 2, "high": 50, "type": "int"}}'

One Ray task per variant (`num_cpus=1`, `max_retries` from the plan, `retry_exceptions=False`)
runs `BINARY backtest RUN_FILE --results-only` on whichever node has a free CPU and returns the
files of the variant folder, which the driver writes back byte for byte. A non-zero exit code is
a variant failure (no retry); a node that dies mid-task makes Ray retry the task elsewhere.
When every variant is done the driver writes OUT/ray-manifest.json atomically and prints one
JSON line on stdout; everything else goes to stderr. Exit code 0: every variant is ok or
failed; 2: Ray failed (no cluster, bad plan, or a variant Ray gave up on: status "lost").
See README.md beside this file.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as _dt
import json
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

# Imported under another name (the tests do), the task and actor below must still travel by
# value: the worker nodes do not have this file on their import path.
if __name__ != "__main__":
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

log = logging.getLogger("alphalab.ray")

EXIT_OK = 0
EXIT_RAY = 2
TAIL = 2000
MANIFEST = "ray-manifest.json"


class PlanError(Exception):
    """The plan file or the command line is unusable (exit 2)."""


class RayFailure(Exception):
    """Ray itself failed: no cluster, a dead driver node... (exit 2)."""


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------
# Files


def atomic_write(path: Path, data: bytes, *, sync: bool = False) -> None:
    """Writes `data` to a temporary file beside `path`, then renames it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def collect_files(folder: Path) -> dict[str, bytes]:
    """Every regular file under `folder` (recursively), by POSIX path relative to it.

    Names starting with a dot (temporary files, hidden folders) are left out; symlinks too.
    """
    files: dict[str, bytes] = {}
    if not folder.is_dir():
        return files
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            p = Path(root) / name
            if p.is_symlink() or not p.is_file():
                continue
            files[p.relative_to(folder).as_posix()] = p.read_bytes()
    return files


def safe_relative(name: str) -> Path:
    rel = Path(name)
    if rel.is_absolute() or not rel.parts or any(part in ("", ".", "..") for part in rel.parts):
        raise ValueError(f"refusing to write returned file {name!r} outside the variant folder")
    return rel


def write_files(folder: Path, files: dict[str, bytes]) -> tuple[int, int]:
    """Writes returned files into `folder` (atomically each); returns (written, unchanged).

    A file that is already there with the same bytes (a shared filesystem) is left alone.
    """
    written = unchanged = 0
    for name, data in files.items():
        path = folder / safe_relative(name)
        try:
            if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
                unchanged += 1
                continue
        except OSError:
            pass
        atomic_write(path, data)
        written += 1
    return written, unchanged


# ---------------------------------------------------------------------------------------------
# The task (runs on a worker node)

def _die_with_parent():
    """A preexec_fn giving the child SIGKILL when its Ray worker dies (Linux), or None.

    A worker dies with its node (raylet killed, machine lost); its backtest must not go on
    writing into a variant folder that the retried attempt now owns. Resolved before the fork:
    the child only calls prctl(PR_SET_PDEATHSIG). Ray runs tasks on the worker's main thread,
    which lives as long as the worker.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG


def _ensure_run_file(run_file: str, content: bytes | None) -> None:
    """A node that does not share the output folder gets the run file the driver read."""
    if content is None:
        return
    p = Path(run_file)
    try:
        if p.read_bytes() == content:
            return
    except OSError:
        pass
    atomic_write(p, content)


def execute_variant(
    index: int,
    binary: str,
    run_file: str,
    output: str,
    cwd: str,
    run_toml: bytes | None,
    attempt_log: Any,
) -> dict:
    """Runs one variant; never raises for a failing backtest (that is a variant failure)."""
    node_id = ray.get_runtime_context().get_node_id()
    if attempt_log is not None:
        try:
            ray.get(attempt_log.begin.remote(index, node_id), timeout=60)
        except Exception as e:  # bookkeeping only: the variant still runs
            print(f"alphalab.ray: attempt of variant {index} not recorded: {e}", file=sys.stderr)
    cmd = [binary, "backtest", run_file, "--results-only"]
    t0 = time.monotonic()
    try:
        _ensure_run_file(run_file, run_toml)
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent(),
        )
        code = proc.returncode
        err = proc.stderr.decode("utf-8", "replace")
        if code < 0:
            err += f"\n{Path(binary).name} killed by signal {-code}"
    except OSError as e:  # binary, run file or cwd missing on this node
        code = 127
        err = f"cannot run {' '.join(cmd)} in {cwd} on {socket.gethostname()}: {e}"
    seconds = time.monotonic() - t0
    return {
        "index": index,
        "node_id": node_id,
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "exit_code": code,
        "stderr_tail": err[-TAIL:],
        "seconds": seconds,
        "files": collect_files(Path(output)),
    }


run_variant = ray.remote(num_cpus=1, retry_exceptions=False)(execute_variant)


class AttemptLog:
    """Per variant, the node of every task attempt that started (one actor on the driver's node)."""

    def __init__(self) -> None:
        self.attempts: dict[int, list[str]] = {}

    def begin(self, index: int, node_id: str) -> int:
        self.attempts.setdefault(index, []).append(node_id)
        return len(self.attempts[index])

    def snapshot(self) -> dict[int, list[str]]:
        return self.attempts


# ---------------------------------------------------------------------------------------------
# Plan


def load_plan(path: Path, search: bool) -> dict:
    try:
        plan = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise PlanError(f"cannot read plan {path}: {e}") from e
    if not isinstance(plan, dict):
        raise PlanError(f"plan {path}: not a JSON object")
    for key in ("binary", "address"):
        if not isinstance(plan.get(key), str) or not plan[key]:
            raise PlanError(f"plan {path}: `{key}` must be a non-empty string")
    plan.setdefault("max_retries", 3)
    if not isinstance(plan["max_retries"], int) or plan["max_retries"] < 0:
        raise PlanError(f"plan {path}: `max_retries` must be an integer >= 0")
    variants = plan.setdefault("variants", [])
    if not isinstance(variants, list):
        raise PlanError(f"plan {path}: `variants` must be a list")
    seen = set()
    for v in variants:
        if (
            not isinstance(v, dict)
            or not isinstance(v.get("index"), int)
            or not isinstance(v.get("run_file"), str)
            or not isinstance(v.get("output"), str)
        ):
            raise PlanError(f"plan {path}: bad variant {v!r} (needs index, run_file, output)")
        if v["index"] in seen:
            raise PlanError(f"plan {path}: variant index {v['index']} twice")
        seen.add(v["index"])
    if search:
        if not isinstance(plan.get("sweep_file"), str) or not plan["sweep_file"]:
            raise PlanError(f"plan {path}: search mode needs `sweep_file`")
        plan.setdefault("rank_by", "sharpe")
        plan.setdefault("lower_is_better", False)
    if "cwd" in plan and not isinstance(plan["cwd"], str):
        raise PlanError(f"plan {path}: `cwd` must be a string")
    return plan


# ---------------------------------------------------------------------------------------------
# Search space


def parse_space(text: str) -> dict:
    """`{"name": {"low", "high", "log"?, "step"?, "type"?: "float"|"int"}}` as Optuna distributions."""
    import optuna.distributions as od

    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as e:
            raise PlanError(f"--space: cannot read {text[1:]}: {e}") from e
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise PlanError(f"--space: not JSON: {e}") from e
    if not isinstance(raw, dict) or not raw:
        raise PlanError("--space: must be a non-empty JSON object")
    space = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict):
            raise PlanError(f"--space {name}: must be an object")
        unknown = set(spec) - {"low", "high", "log", "step", "type"}
        if unknown:
            raise PlanError(f"--space {name}: unknown keys {sorted(unknown)}")
        kind = spec.get("type", "float")
        low, high, use_log, step = spec.get("low"), spec.get("high"), bool(spec.get("log", False)), spec.get("step")
        num = (int, float)
        if isinstance(low, bool) or isinstance(high, bool) or not isinstance(low, num) or not isinstance(high, num):
            raise PlanError(f"--space {name}: low and high must be numbers")
        if low > high:
            raise PlanError(f"--space {name}: low {low} > high {high}")
        if use_log and low <= 0:
            raise PlanError(f"--space {name}: log needs low > 0")
        if step is not None and (isinstance(step, bool) or not isinstance(step, num) or step <= 0):
            raise PlanError(f"--space {name}: step must be a positive number")
        if use_log and step is not None and not (kind == "int" and step == 1):
            raise PlanError(f"--space {name}: log and step cannot be combined")
        try:
            if kind == "int":
                if any(x is not None and x != int(x) for x in (low, high, step)):
                    raise PlanError(f"--space {name}: int bounds and step must be whole numbers")
                space[name] = od.IntDistribution(int(low), int(high), log=use_log, step=int(step or 1))
            elif kind == "float":
                space[name] = od.FloatDistribution(float(low), float(high), log=use_log, step=step)
            else:
                raise PlanError(f"--space {name}: type must be \"float\" or \"int\"")
        except ValueError as e:
            raise PlanError(f"--space {name}: {e}") from e
    return space


def stat_value(result_json: bytes | None, rank_by: str) -> float | None:
    """`stats[rank_by]` of a result.json as a finite float; None when missing or undefined."""
    if result_json is None:
        return None
    try:
        v = json.loads(result_json)["stats"][rank_by]
    except (ValueError, KeyError, TypeError):
        return None
    if isinstance(v, bool) or v is None:
        return None
    try:
        x = float(v)  # Decimal statistics (pnl, equity) are JSON strings
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


# ---------------------------------------------------------------------------------------------
# Driver


class Driver:
    def __init__(self, plan: dict, plan_path: Path) -> None:
        self.plan = plan
        self.out = plan_path.resolve().parent
        # Relative paths in run files (catalog = "data/catalog") are resolved by alphalab against
        # its working directory, as in a local sweep: the tasks run in the directory the
        # `alphalab sweep` process ran in (this driver inherits it), unless the plan says `cwd`.
        self.cwd = str(Path(plan.get("cwd") or os.getcwd()).resolve())
        self.binary = plan["binary"]
        self.max_retries = plan["max_retries"]
        self.entries: dict[int, dict] = {}
        self.nodes: list[str] = []
        self.attempt_log = None
        self.submitted_at = None

    # -- Ray ------------------------------------------------------------------------------------

    def connect(self) -> None:
        address = self.plan["address"]
        if address != "auto":
            # RAY_ADDRESS would silently override the plan's address inside ray.init.
            if os.environ.pop("RAY_ADDRESS", None):
                log.info("ignoring RAY_ADDRESS: the plan names %s", address)
            probe(address)
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
        except Exception as e:
            raise RayFailure(f"cannot connect to the Ray cluster at {address}: {e}") from e
        ctx = ray.get_runtime_context()
        watch_head(ctx.gcs_address)
        alive = [n for n in ray.nodes() if n.get("Alive")]
        cpus = ray.cluster_resources().get("CPU", 0)
        log.info("connected to %s: %d nodes, %g CPUs", address, len(alive), cpus)
        here = ctx.get_node_id()
        self.attempt_log = (
            ray.remote(num_cpus=0, max_restarts=0)(AttemptLog)
            .options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False))
            .remote()
        )
        try:
            ray.get(self.attempt_log.snapshot.remote(), timeout=120)
        except Exception as e:
            raise RayFailure(f"cannot start the attempt log on the driver's node: {e}") from e

    def cluster_cpus(self) -> int:
        return max(1, int(ray.cluster_resources().get("CPU", 1)))

    def submit(self, index: int, run_file: str, output: str):
        if self.submitted_at is None:
            self.submitted_at = utc_now()
        try:
            run_toml = Path(run_file).read_bytes()
        except OSError:
            run_toml = None  # the worker may still see it; otherwise the variant fails there
        return run_variant.options(max_retries=self.max_retries).remote(
            index, self.binary, run_file, output, self.cwd, run_toml, self.attempt_log
        )

    def finish(self, ref, index: int, output: str) -> dict:
        """Waits for one task; writes its files; returns the manifest entry (without attempts)."""
        try:
            r = ray.get(ref)
        except ray.exceptions.RayError as e:
            text = str(e).strip()
            log.error("variant %04d lost: %s", index, text.splitlines()[0] if text else type(e).__name__)
            entry = self._entry(index, "lost", None, f"{type(e).__name__}: {text}"[-TAIL:], None, None, None)
            self.entries[index] = entry
            return entry
        written, unchanged = write_files(Path(output), r["files"])
        code = r["exit_code"]
        if code == 0:
            status, error = "ok", None
        else:
            status = "failed"
            error = r["stderr_tail"].strip() or f"exit code {code}"
        entry = self._entry(index, status, code, error, r["node_id"], r["hostname"], round(r["seconds"], 3))
        if r["node_id"] not in self.nodes:
            self.nodes.append(r["node_id"])
        self.entries[index] = entry
        log.info(
            "variant %04d %s (exit %s) on %s/%s in %.2f s; %d files written, %d unchanged%s",
            index, status, code, r["hostname"], r["node_id"][:8], r["seconds"], written, unchanged,
            "" if error is None else ": " + error.splitlines()[-1][:200],
        )
        return entry

    @staticmethod
    def _entry(index, status, code, error, node_id, hostname, seconds) -> dict:
        return {
            "index": index,
            "status": status,
            "exit_code": code,
            "error": error,
            "node_id": node_id,
            "hostname": hostname,
            "attempts": 0,
            "seconds": seconds,
        }

    def attempts(self) -> dict[int, list[str]]:
        try:
            snap = ray.get(self.attempt_log.snapshot.remote(), timeout=60)
        except Exception as e:
            log.warning("attempt log unreadable (%s): counting one attempt per finished variant", e)
            snap = {}
        return {int(k): v for k, v in snap.items()}

    # -- modes ---------------------------------------------------------------------------------

    def run_grid(self) -> dict:
        variants = sorted(self.plan["variants"], key=lambda v: v["index"])
        log.info("grid: %d variants, max_retries %d, cwd %s", len(variants), self.max_retries, self.cwd)
        pending = {}
        for v in variants:
            pending[self.submit(v["index"], v["run_file"], v["output"])] = v
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                v = pending.pop(ref)
                self.finish(ref, v["index"], v["output"])
        return self.manifest({})

    def run_search(self, mode: str, trials: int, seed: int, space: dict, parallel: int | None,
                   startup: int | None) -> dict:
        import optuna
        from optuna.trial import TrialState

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        rank_by = self.plan["rank_by"]
        lower = bool(self.plan["lower_is_better"])
        if self.plan["variants"]:
            log.warning("search mode: the plan's %d variants are ignored", len(self.plan["variants"]))
        n_startup = None
        if mode == "tpe":
            n_startup = startup if startup is not None else min(10, max(2, trials // 3))
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=n_startup)
        else:
            sampler = optuna.samplers.RandomSampler(seed=seed)
        study = optuna.create_study(direction="minimize" if lower else "maximize", sampler=sampler)
        width = max(1, min(trials, parallel or self.cluster_cpus()))
        log.info(
            "search %s: %d trials, seed %d, %d at a time, ranking by %s (%s is better)%s",
            mode, trials, seed, width, rank_by, "lower" if lower else "higher",
            f", {n_startup} random startup trials" if n_startup is not None else "",
        )
        extra: dict[int, dict] = {}
        pending: dict = {}
        next_index = 0
        while next_index < trials or pending:
            while next_index < trials and len(pending) < width:
                index = next_index
                next_index += 1
                if mode == "tpe":
                    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
                    chosen_by = "random" if done < n_startup else "tpe"
                else:
                    chosen_by = "random"
                trial = study.ask(space)
                params = dict(trial.params)
                extra[index] = {"params": params, "chosen_by": chosen_by, "value": None}
                made = self.make_variant(index, params)
                if isinstance(made, dict):  # sweep-variant refused the parameters
                    self.entries[index] = made
                    study.tell(trial, state=TrialState.FAIL)
                    continue
                run_file, output = made
                pending[self.submit(index, run_file, output)] = (index, output, trial)
            if not pending:
                continue
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                index, output, trial = pending.pop(ref)
                entry = self.finish(ref, index, output)
                value = None
                if entry["status"] == "ok":
                    try:
                        value = stat_value((Path(output) / "result.json").read_bytes(), rank_by)
                    except OSError:
                        value = None
                extra[index]["value"] = value
                if value is None:
                    study.tell(trial, state=TrialState.FAIL)
                    log.info("trial %d: %s undefined: failed trial for the sampler", index, rank_by)
                else:
                    study.tell(trial, value)
                    log.info("trial %d: %s = %g with %s", index, rank_by, value, json.dumps(extra[index]["params"]))
        best = None
        try:
            b = study.best_trial
            best = {"index": b.number, "value": b.value, "params": b.params}
        except ValueError:
            pass
        return self.manifest(extra, search=mode, seed=seed, best=best)

    def make_variant(self, index: int, params: dict):
        """`BINARY sweep-variant SWEEP --index i --params JSON` -> (run_file, output), or an entry."""
        cmd = [self.binary, "sweep-variant", self.plan["sweep_file"], "--index", str(index),
               "--params", json.dumps(params)]
        try:
            proc = subprocess.run(cmd, cwd=self.cwd, stdin=subprocess.DEVNULL, capture_output=True)
        except OSError as e:
            raise RayFailure(f"cannot run {' '.join(cmd)}: {e}") from e  # no binary: nothing can run
        out = proc.stdout.decode("utf-8", "replace")
        lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
        if proc.returncode != 0 or not lines:
            err = proc.stderr.decode("utf-8", "replace").strip() or f"exit code {proc.returncode}"
            log.error("trial %d: sweep-variant refused %s: %s", index, json.dumps(params), err.splitlines()[-1])
            return self._entry(index, "failed", proc.returncode or 1, ("sweep-variant: " + err)[-TAIL:],
                               None, None, None)
        run_file = Path(lines[-1])
        if not run_file.is_absolute():
            run_file = Path(self.cwd) / run_file
        return str(run_file), str(run_file.parent)

    def manifest(self, extra: dict[int, dict], **top) -> dict:
        attempts = self.attempts()
        variants = []
        for index in sorted(self.entries):
            e = dict(self.entries[index])
            ran = attempts.get(index, [])
            e["attempts"] = len(ran) if ran or e["status"] == "lost" or e["node_id"] is None else 1
            if e["status"] == "lost" and ran:
                e["node_id"] = ran[-1]  # where the last attempt started (and was lost)
            if index in extra:
                e["params"] = extra[index]["params"]
                e["chosen_by"] = extra[index]["chosen_by"]
                e["value"] = extra[index]["value"]
            variants.append(e)
        m = {"address": self.plan["address"]}
        m.update({k: v for k, v in top.items() if k == "search"})
        m["variants"] = variants
        m["retries"] = sum(max(0, v["attempts"] - 1) for v in variants)
        m["nodes"] = list(self.nodes)
        m.update({k: v for k, v in top.items() if k != "search"})
        m["submitted_at"] = self.submitted_at or utc_now()
        m["finished_at"] = utc_now()
        return m


def watch_head(gcs_address: str) -> None:
    """Exits 2 when the head's GCS stays unreachable for ALPHALAB_RAY_HEAD_TIMEOUT s (default 30).

    Without this, Ray's core worker gives up on a lost head after 60 s and ends the process
    with exit code 1 (measured with 2.60.0), spinning a CPU meanwhile.
    """
    limit = float(os.environ.get("ALPHALAB_RAY_HEAD_TIMEOUT", "30"))
    host, _, port = gcs_address.rpartition(":")

    def run() -> None:
        last_ok = time.monotonic()
        while True:
            try:
                with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
                    last_ok = time.monotonic()
            except OSError as e:
                gone = time.monotonic() - last_ok
                if gone >= limit:
                    log.error("lost the Ray head: GCS %s unreachable for %.0f s (%s)", gcs_address, gone, e)
                    for h in logging.getLogger().handlers:
                        h.flush()
                    os._exit(EXIT_RAY)
            time.sleep(2)

    threading.Thread(target=run, name="watch-head", daemon=True).start()


def probe(address: str, wait: float | None = None) -> None:
    """Fails fast (RayFailure) when nothing listens at host:port (ray.init would hang for long).

    Waits up to ALPHALAB_RAY_CONNECT_TIMEOUT seconds (default 15) for a head that is starting.
    """
    if wait is None:
        wait = float(os.environ.get("ALPHALAB_RAY_CONNECT_TIMEOUT", "15"))
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return  # ray:// and other forms: let ray.init judge
    host = host.strip("[]")
    deadline = time.monotonic() + wait
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=3):
                return
        except OSError as e:
            if time.monotonic() >= deadline:
                raise RayFailure(f"no Ray cluster at {address}: {e}") from e
            time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--plan", required=True, type=Path, help="OUT/ray-plan.json written by alphalab")
    p.add_argument("--search", choices=["random", "tpe"], help="search instead of the plan's grid")
    p.add_argument("--trials", type=int, help="search: number of trials (variants)")
    p.add_argument("--seed", type=int, default=0, help="search: sampler seed (default 0)")
    p.add_argument("--space", help="search: JSON object of parameter ranges (or @FILE)")
    p.add_argument("--parallel", type=int, help="search: trials at a time (default: the cluster's CPUs)")
    p.add_argument("--startup-trials", type=int,
                   help="tpe: random trials before TPE (default min(10, max(2, trials // 3)))")
    args = p.parse_args(argv)

    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s ray-sweep %(levelname)s %(message)s")
    # stdout carries only the final summary line: Ray and its C++ core print to fd 1 too.
    summary_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        return _run(args, summary_fd)
    finally:
        os.close(summary_fd)


def _run(args, summary_fd: int) -> int:
    search = args.search is not None
    try:
        plan = load_plan(args.plan, search)
        space = None
        if search:
            if args.trials is None or args.trials < 1:
                raise PlanError("--search needs --trials N (N >= 1)")
            if not args.space:
                raise PlanError("--search needs --space JSON")
            space = parse_space(args.space)
            if args.parallel is not None and args.parallel < 1:
                raise PlanError("--parallel must be >= 1")
        elif any(x is not None for x in (args.trials, args.space, args.parallel, args.startup_trials)):
            raise PlanError("--trials/--space/--parallel/--startup-trials need --search")
    except PlanError as e:
        log.error("%s", e)
        return EXIT_RAY

    driver = Driver(plan, args.plan)
    manifest_path = driver.out / MANIFEST
    manifest_path.unlink(missing_ok=True)  # never leave an earlier run's manifest to be read
    try:
        driver.connect()
        if search:
            m = driver.run_search(args.search, args.trials, args.seed, space, args.parallel,
                                  args.startup_trials)
        else:
            m = driver.run_grid()
    except (RayFailure, PlanError) as e:
        log.error("%s", e)
        return EXIT_RAY
    except ray.exceptions.RayError as e:
        log.error("Ray failed: %s", e)
        return EXIT_RAY
    finally:
        if ray.is_initialized():
            ray.shutdown()

    atomic_write(manifest_path, (json.dumps(m, indent=2) + "\n").encode(), sync=True)
    counts = {s: sum(1 for v in m["variants"] if v["status"] == s) for s in ("ok", "failed", "lost")}
    summary = {
        "variants": len(m["variants"]),
        "ok": counts["ok"],
        "failed": counts["failed"],
        "lost": counts["lost"],
        "retries": m["retries"],
        "nodes": m["nodes"],
    }
    log.info("manifest %s: %s", manifest_path, json.dumps(summary))
    os.write(summary_fd, (json.dumps(summary) + "\n").encode())
    return EXIT_OK if counts["lost"] == 0 else EXIT_RAY


if __name__ == "__main__":
    sys.exit(main())
