#!/usr/bin/env python3
"""Tests of the Ray sweep driver (sweep.py) on a 2-node loopback cluster with a fake alphalab.

Run with the venv of requirements.txt (no Rust build, no pytest needed):

    target/ray-venv/bin/python scripts/ray/test_sweep.py          # all tests
    target/ray-venv/bin/python scripts/ray/test_sweep.py -k kill  # names containing "kill"

pytest also collects this file (setup_module/teardown_module start and stop the shared cluster).
Every cluster is torn down, by process group, even when a test fails.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path[:0] = [str(HERE), str(HERE / "testdata")]

import fake_alphalab as fake  # noqa: E402
import sweep  # noqa: E402
from localcluster import LocalCluster  # noqa: E402

FAKE = HERE / "testdata" / "fake_alphalab.py"
CLUSTER: LocalCluster | None = None  # head 1 CPU + worker 1 CPU, shared by the tests that do not kill


def setup_module(module=None) -> None:
    global CLUSTER
    CLUSTER = LocalCluster((1, 1)).start()


def teardown_module(module=None) -> None:
    global CLUSTER
    if CLUSTER is not None:
        CLUSTER.stop()
        CLUSTER = None


# ---------------------------------------------------------------------------------------------
# Helpers: what the Rust side does before it runs the driver


class Project:
    """A temporary working directory with a wrapper `alphalab` binary and a sweep output folder."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="alphalab-ray-test-"))
        self.binary = self.root / "bin" / "alphalab"
        self.binary.parent.mkdir()
        self.binary.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
        self.binary.chmod(0o755)
        self.out = self.root / "outputs" / "sweep"
        self.out.mkdir(parents=True)

    def grid_plan(self, address: str, params_list: list[dict], max_retries: int = 3) -> Path:
        variants = []
        for i, params in enumerate(params_list):
            folder = self.out / "variants" / f"{i:04}"
            run_file = fake.write_run_file(folder / "run.toml", folder, params)
            variants.append({"index": i, "run_file": str(run_file), "output": str(folder)})
        return self._plan({"binary": str(self.binary), "address": address, "variants": variants,
                           "max_retries": max_retries})

    def search_plan(self, address: str, base_params: dict) -> Path:
        sweep_file = self.root / "sweep.toml"
        lines = [f"output = {fake.toml_value(str(self.out))}", 'rank_by = "sharpe"', "",
                 "[base.strategy.params]"] + [f"{k} = {fake.toml_value(v)}" for k, v in base_params.items()]
        sweep_file.write_text("\n".join(lines) + "\n")
        return self._plan({"binary": str(self.binary), "address": address, "variants": [], "max_retries": 3,
                           "sweep_file": str(sweep_file), "rank_by": "sharpe", "lower_is_better": False})

    def _plan(self, plan: dict) -> Path:
        path = self.out / "ray-plan.json"
        path.write_text(json.dumps(plan, indent=2))
        return path

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def driver_cmd(plan: Path, *args: str) -> list[str]:
    return [sys.executable, str(HERE / "sweep.py"), "--plan", str(plan), *args]


def run_driver(project: Project, plan: Path, *args: str, timeout: float = 240, env: dict | None = None):
    t0 = time.monotonic()
    p = subprocess.run(driver_cmd(plan, *args), cwd=project.root, capture_output=True, text=True,
                       timeout=timeout, env={**os.environ, **(env or {})})
    return finish_driver(project, p.returncode, p.stdout, p.stderr, time.monotonic() - t0)


def finish_driver(project: Project, rc: int, stdout: str, stderr: str, seconds: float):
    print(f"    driver: exit {rc} in {seconds:.1f} s", flush=True)
    manifest_path = project.out / "ray-manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    lines = stdout.splitlines()
    if rc != 0 or len(lines) != 1:
        sys.stderr.write(stderr[-6000:])
    summary = json.loads(lines[0]) if len(lines) == 1 else None
    return rc, summary, stdout, stderr, manifest


def check_files(folder: Path, params: dict, cwd: Path) -> None:
    for name, data in fake.expected_files(params, str(cwd)).items():
        got = (folder / name).read_bytes()
        assert got == data, f"{folder / name} differs from what the fake wrote"
    leftovers = [p for p in folder.rglob(".*") if p.name != ".attempts"]
    assert not leftovers, f"temporary files left: {leftovers}"


def check_manifest_shape(manifest: dict, n: int) -> None:
    assert [v["index"] for v in manifest["variants"]] == list(range(n))
    for key in ("address", "variants", "retries", "nodes", "submitted_at", "finished_at"):
        assert key in manifest, key
    for v in manifest["variants"]:
        for key in ("index", "status", "exit_code", "error", "node_id", "hostname", "attempts", "seconds"):
            assert key in v, (key, v)
    assert manifest["retries"] == sum(v["attempts"] - 1 for v in manifest["variants"] if v["attempts"])


# ---------------------------------------------------------------------------------------------
# Unit tests (no cluster)


def test_space_parsing() -> None:
    import optuna.distributions as od

    s = sweep.parse_space(json.dumps({
        "fast": {"low": 2, "high": 50, "type": "int"},
        "scale": {"low": 0.01, "high": 10, "log": True},
        "frac": {"low": 0, "high": 1, "step": 0.25, "type": "float"},
    }))
    assert s["fast"] == od.IntDistribution(2, 50)
    assert s["scale"] == od.FloatDistribution(0.01, 10, log=True)
    assert s["frac"] == od.FloatDistribution(0, 1, step=0.25)
    bad = [
        {},
        {"x": {"low": 1}},
        {"x": {"low": 2, "high": 1}},
        {"x": {"low": 0, "high": 1, "log": True}},
        {"x": {"low": 1, "high": 9, "log": True, "step": 2}},
        {"x": {"low": 1.5, "high": 9, "type": "int"}},
        {"x": {"low": 1, "high": 9, "type": "str"}},
        {"x": {"low": 1, "high": 9, "steps": 1}},
        {"x": {"low": 1, "high": 9, "step": 0}},
    ]
    for space in bad:
        try:
            sweep.parse_space(json.dumps(space))
        except sweep.PlanError:
            continue
        raise AssertionError(f"accepted {space}")


def test_stat_value() -> None:
    assert sweep.stat_value(b'{"stats": {"sharpe": 1.5}}', "sharpe") == 1.5
    assert sweep.stat_value(b'{"stats": {"pnl": "-12.50"}}', "pnl") == -12.5  # Decimal as a string
    assert sweep.stat_value(b'{"stats": {"sharpe": null}}', "sharpe") is None
    assert sweep.stat_value(b'{"stats": {}}', "sharpe") is None
    assert sweep.stat_value(b"not json", "sharpe") is None
    assert sweep.stat_value(None, "sharpe") is None


def test_write_files_atomic_and_contained() -> None:
    d = Path(tempfile.mkdtemp(prefix="alphalab-ray-unit-"))
    try:
        files = {"result.json": b"{}", "figures/a.bin": bytes(range(256))}
        assert sweep.write_files(d, files) == (2, 0)
        assert sweep.write_files(d, files) == (0, 2)  # same bytes: left alone
        assert sweep.collect_files(d) == files
        assert not list(d.rglob(".*"))
        for evil in ("../x", "/etc/x", "a/../../x"):
            try:
                sweep.write_files(d, {evil: b"x"})
            except ValueError:
                continue
            raise AssertionError(f"wrote {evil}")
    finally:
        shutil.rmtree(d)


def test_plan_errors_and_no_cluster_exit_2() -> None:
    project = Project()
    try:
        bad = project.out / "bad-plan.json"
        bad.write_text('{"address": "auto"}')
        p = subprocess.run(driver_cmd(bad), capture_output=True, text=True, timeout=60)
        assert p.returncode == 2 and p.stdout == "" and "binary" in p.stderr, p
        # Nothing listens on this port: exit 2, no manifest, nothing on stdout.
        plan = project.grid_plan(f"127.0.0.2:{_closed_port()}", [{"fast": 1}])
        stale = project.out / "ray-manifest.json"
        stale.write_text("{}")  # an earlier run's manifest must not survive a failed one
        rc, summary, stdout, stderr, manifest = run_driver(
            project, plan, timeout=60, env={"ALPHALAB_RAY_CONNECT_TIMEOUT": "1"})
        assert rc == 2 and stdout == "" and manifest is None, (rc, stdout)
        assert "no Ray cluster" in stderr
    finally:
        project.cleanup()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Cluster tests


def test_grid_on_two_nodes() -> None:
    """8 variants over head + worker: both nodes used, every variant ok, files byte for byte."""
    project = Project()
    try:
        params = [{"fast": i + 1, "slow": 10 * (i + 1), "sleep": 1.0} for i in range(8)]
        plan = project.grid_plan(CLUSTER.address, params)
        rc, summary, _, stderr, m = run_driver(project, plan)
        assert rc == 0, rc
        nodes = {CLUSTER.node_id(0), CLUSTER.node_id(1)}
        assert summary == {"variants": 8, "ok": 8, "failed": 0, "lost": 0, "retries": 0,
                           "nodes": summary["nodes"]}, summary
        assert set(summary["nodes"]) == nodes, (summary["nodes"], nodes)
        check_manifest_shape(m, 8)
        assert m["address"] == CLUSTER.address and set(m["nodes"]) == nodes and m["retries"] == 0
        assert {v["node_id"] for v in m["variants"]} == nodes
        for v, p in zip(m["variants"], params):
            assert v["status"] == "ok" and v["exit_code"] == 0 and v["error"] is None, v
            assert v["attempts"] == 1 and v["seconds"] >= 1.0, v
            # cwd of the backtest = the directory the driver was started in (the CLI's)
            check_files(project.out / "variants" / f"{v['index']:04}", p, project.root)
        assert "results written" not in stderr  # the backtest's stdout is not passed on
    finally:
        project.cleanup()


def test_files_travel_through_ray() -> None:
    """The task returns the variant folder's files, so a node without the shared folder works."""
    import ray

    project = Project()
    try:
        params = {"fast": 7, "slow": 70, "sleep": 0}
        folder = project.out / "variants" / "0000"
        run_file = fake.write_run_file(folder / "run.toml", folder, params)
        ray.init(address=CLUSTER.address, log_to_driver=False, logging_level="WARNING")
        try:
            r = ray.get(sweep.run_variant.remote(0, str(project.binary), str(run_file), str(folder),
                                                 str(project.root), run_file.read_bytes(), None))
        finally:
            ray.shutdown()
        assert r["exit_code"] == 0 and r["index"] == 0 and r["node_id"] in {CLUSTER.node_id(0), CLUSTER.node_id(1)}
        expected = fake.expected_files(params, str(project.root))
        expected["run.toml"] = run_file.read_bytes()
        assert r["files"] == expected, sorted(r["files"])
        # Written back into an empty folder, as on a driver that does not share the worker's disk.
        elsewhere = project.root / "driver-copy"
        assert sweep.write_files(elsewhere, r["files"]) == (len(expected), 0)
        assert sweep.collect_files(elsewhere) == expected
    finally:
        project.cleanup()


def test_bad_parameter_is_a_failed_variant() -> None:
    project = Project()
    try:
        params = [{"fast": 1}, {"fast": 2}, {"fast": "bad"}, {"fast": 4}]
        # "auto": the cluster this machine belongs to, as Ray resolves it: RAY_ADDRESS first, then
        # the cluster started last on this machine (another test's, when cargo runs them at once).
        plan = project.grid_plan("auto", params)
        rc, summary, _, _, m = run_driver(project, plan, env={"RAY_ADDRESS": CLUSTER.address})
        assert rc == 0, rc
        assert (summary["ok"], summary["failed"], summary["lost"], summary["retries"]) == (3, 1, 0, 0), summary
        check_manifest_shape(m, 4)
        assert m["address"] == "auto" and set(m["nodes"]) <= {CLUSTER.node_id(0), CLUSTER.node_id(1)}
        bad = m["variants"][2]
        assert bad["status"] == "failed" and bad["exit_code"] == 2 and bad["attempts"] == 1, bad
        assert 'param `fast` = "bad" is not a number' in bad["error"], bad["error"]
        assert not (project.out / "variants" / "0002" / "result.json").exists()
        for i in (0, 1, 3):
            v = m["variants"][i]
            assert v["status"] == "ok" and v["error"] is None, v
            check_files(project.out / "variants" / f"{i:04}", params[i], project.root)
    finally:
        project.cleanup()


SPACE = {
    "fast": {"low": 2, "high": 40, "type": "int"},
    "scale": {"low": 0.01, "high": 10.0, "log": True, "type": "float"},
    "frac": {"low": 0.0, "high": 1.0, "step": 0.25, "type": "float"},
    "width": {"low": 10, "high": 100, "step": 10, "type": "int"},
}


def in_space(params: dict) -> bool:
    if set(params) != set(SPACE):
        return False
    for k, spec in SPACE.items():
        x = params[k]
        if spec["type"] == "int" and (not isinstance(x, int) or isinstance(x, bool)):
            return False
        if not spec["low"] <= x <= spec["high"]:
            return False
        if "step" in spec:
            q = (x - spec["low"]) / spec["step"]
            if abs(q - round(q)) > 1e-9:
                return False
    return True


def _search(mode: str) -> dict:
    project = Project()
    try:
        plan = project.search_plan(CLUSTER.address, {"sleep": 0.3, "slow": 30})
        rc, summary, _, _, m = run_driver(project, plan, "--search", mode, "--trials", "6", "--seed", "7",
                                          "--space", json.dumps(SPACE))
        assert rc == 0, rc
        assert summary["variants"] == 6 and summary["ok"] == 6, summary
        check_manifest_shape(m, 6)
        assert m["search"] == mode, m.get("search")
        for v in m["variants"]:
            assert v["status"] == "ok", v
            assert in_space(v["params"]), v["params"]
            assert v["chosen_by"] in ("random", "tpe"), v
            folder = project.out / "variants" / f"{v['index']:04}"
            run = tomllib.loads((folder / "run.toml").read_text())
            assert run["strategy"]["params"] == {"sleep": 0.3, "slow": 30, **v["params"]}, run
            full = {"sleep": 0.3, "slow": 30, **v["params"]}
            check_files(folder, full, project.root)
            assert math.isclose(v["value"], fake.sharpe(full)), v
        best = max(m["variants"], key=lambda v: v["value"])
        assert m["best"]["index"] == best["index"], (m["best"], best["index"])
        return m
    finally:
        project.cleanup()


def test_random_search() -> None:
    import optuna

    m = _search("random")
    assert all(v["chosen_by"] == "random" for v in m["variants"])
    # Reproducible: the same seed asks the same parameters, whatever the completion order.
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=7))
    space = sweep.parse_space(json.dumps(SPACE))
    expected = [study.ask(space).params for _ in range(6)]
    assert [v["params"] for v in m["variants"]] == expected


def test_tpe_search() -> None:
    m = _search("tpe")
    chosen = [v["chosen_by"] for v in m["variants"]]
    # 2 random startup trials (6 // 3), then TPE once 2 trials have finished
    assert chosen[:2] == ["random", "random"] and chosen.count("tpe") >= 3, chosen


def _kill_worker_during_sweep(params: list[dict], max_retries: int):
    """Runs a grid on its own 2-node cluster; kills the worker node while it runs a variant.

    Returns (rc, summary, manifest, killed variant index, head node id, project root). The
    worker node's raylet and Ray workers are SIGKILLed (its machine "dies"); the backtest the
    worker ran must then die with it (PR_SET_PDEATHSIG), not linger as an orphan.
    """
    project = Project()
    cluster = LocalCluster((1, 1)).start()
    driver = None
    try:
        head_id = cluster.node_id(0)
        plan = project.grid_plan(cluster.address, params, max_retries=max_retries)
        t0 = time.monotonic()
        driver = subprocess.Popen(driver_cmd(plan), cwd=project.root, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        # Wait until a fake backtest runs under the worker node's raylet, then kill the node.
        raylet = cluster.raylet_pid(1)
        victim = None
        while victim is None and time.monotonic() - t0 < 90:
            for pid, cmd in cluster.descendants(raylet):
                if any(str(FAKE) == c for c in cmd) and "backtest" in cmd:
                    victim = (pid, cmd[cmd.index("backtest") + 1])
                    break
            else:
                time.sleep(0.1)
        assert victim is not None, "no variant ever ran on the worker node"
        time.sleep(0.5)
        killed = cluster.kill_node(1)
        assert victim[0] not in killed
        print(f"    killed the worker node ({len(killed)} Ray processes) at {time.monotonic() - t0:.1f} s "
              f"while it ran {victim[1]}", flush=True)
        deadline = time.monotonic() + 10
        while "fake_alphalab" in _cmdline(victim[0]):
            assert time.monotonic() < deadline, "the dead node's backtest is still running"
            time.sleep(0.1)
        stdout, stderr = driver.communicate(timeout=180)
        rc, summary, _, _, m = finish_driver(project, driver.returncode, stdout, stderr, time.monotonic() - t0)
        if os.environ.get("SHOW_DRIVER_LOG"):
            sys.stderr.write(stderr)
        return rc, summary, m, int(Path(victim[1]).parent.name), head_id, project
    except BaseException:
        project.cleanup()
        raise
    finally:
        if driver is not None and driver.poll() is None:
            driver.kill()
            driver.wait()
        cluster.stop()


def test_worker_node_killed_mid_sweep() -> None:
    """The worker node dies mid-sweep: Ray retries its variant on the head; all 8 end ok."""
    params = [{"fast": i + 1, "sleep": 2.0} for i in range(8)]
    rc, summary, m, killed, head_id, project = _kill_worker_during_sweep(params, max_retries=3)
    try:
        assert rc == 0, rc
        assert summary["variants"] == 8 and summary["ok"] == 8 and summary["retries"] >= 1, summary
        check_manifest_shape(m, 8)
        assert m["retries"] >= 1 and head_id in m["nodes"]
        v = m["variants"][killed]
        assert v["attempts"] >= 2 and v["node_id"] == head_id and v["status"] == "ok", v
        for v, p in zip(m["variants"], params):
            assert v["status"] == "ok", v
            check_files(project.out / "variants" / f"{v['index']:04}", p, project.root)
    finally:
        project.cleanup()


def test_node_death_without_retries_is_lost() -> None:
    """max_retries 0: the variant on the dead node is "lost" (Ray's error kept), exit 2."""
    params = [{"fast": i + 1, "sleep": 2.0} for i in range(3)]
    rc, summary, m, killed, head_id, project = _kill_worker_during_sweep(params, max_retries=0)
    try:
        assert rc == 2, rc
        assert (summary["ok"], summary["lost"]) == (2, 1), summary
        check_manifest_shape(m, 3)
        v = m["variants"][killed]
        assert v["status"] == "lost" and v["exit_code"] is None and v["attempts"] == 1, v
        assert "node" in v["error"] and "dead" in v["error"], v["error"]
        assert all(x["status"] == "ok" for x in m["variants"] if x["index"] != killed)
    finally:
        project.cleanup()


def test_head_lost_exit_2() -> None:
    """The head node dies mid-sweep: the driver gives up with exit 2 and no manifest."""
    project = Project()
    cluster = LocalCluster((1, 1)).start()
    driver = None
    try:
        plan = project.grid_plan(cluster.address, [{"fast": i, "sleep": 3.0} for i in range(4)])
        t0 = time.monotonic()
        driver = subprocess.Popen(driver_cmd(plan), cwd=project.root, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "ALPHALAB_RAY_HEAD_TIMEOUT": "4"})
        while not any(str(FAKE) in cmd for _, _, _, cmd in cluster._processes()):
            assert time.monotonic() - t0 < 60, "no variant started"
            time.sleep(0.1)
        cluster.kill_node(0)
        stdout, stderr = driver.communicate(timeout=120)
        rc, summary, _, _, m = finish_driver(project, driver.returncode, stdout, stderr, time.monotonic() - t0)
        assert rc == 2 and stdout == "" and m is None, (rc, stdout)
        assert "lost the Ray head" in stderr
    finally:
        if driver is not None and driver.poll() is None:
            driver.kill()
            driver.wait()
        cluster.stop()
        project.cleanup()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    only = argv[argv.index("-k") + 1] if "-k" in argv else ""
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_") and callable(f) and only in n]
    passed = failed = 0
    t_all = time.monotonic()
    try:
        t0 = time.monotonic()
        setup_module()
        print(f"cluster up in {time.monotonic() - t0:.1f} s at {CLUSTER.address}", flush=True)
        for name, f in tests:
            t0 = time.monotonic()
            print(f"{name} ...", flush=True)
            try:
                f()
                passed += 1
                print(f"{name} ok ({time.monotonic() - t0:.1f} s)", flush=True)
            except Exception:
                failed += 1
                traceback.print_exc()
                print(f"{name} FAILED ({time.monotonic() - t0:.1f} s)", flush=True)
    finally:
        teardown_module()
    print(f"total {time.monotonic() - t_all:.1f} s")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
