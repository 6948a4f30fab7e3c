#!/usr/bin/env python3
"""A throwaway Ray cluster of several nodes on this machine's loopback (tests, benchmarks, trying out).

    python scripts/ray/localcluster.py up --cpus 1 1      # prints the address, then waits
                                                         # (Ctrl-C tears every node down)
    python scripts/ray/localcluster.py up --stdin ...     # also takes commands on stdin (tests)

What Ray 2.60.0 needs for two nodes on one host (found by trying, see README.md):
- Ray rewrites "127.0.0.1"/"localhost" in `--address` and `--node-ip-address` to the host's
  outward IP (`resolve_ip_for_localhost`), so a cluster on 127.0.0.1 tries to reach itself on
  eth0. Any other loopback address is left alone: every node uses `--node-ip-address=127.0.0.2`
  and workers join `--address=127.0.0.2:PORT`.
- Each node gets its own `--temp-dir` (allowed: sessions, sockets and logs are per node),
  its own `--dashboard-agent-listen-port` (default 52365 for every node otherwise) and its own
  worker port range (by default every raylet hands out 10002.. and the two collide).
- Each `ray start` runs in its own session (process group); every Ray process of that node
  (GCS, raylet, agents, workers) inherits the group, so a node is torn down by signalling its
  group, by id, without `ray stop` (which kills every Ray process of the machine).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOOPBACK = "127.0.0.2"


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_range_free(host: str, first: int, count: int) -> bool:
    for port in (first, first + count // 2, first + count - 1):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


class LocalCluster:
    """Head + workers on one host; `with LocalCluster((1, 1)) as c: c.address`."""

    def __init__(self, cpus=(1, 1), host: str = LOOPBACK, ray_bin: str | None = None,
                 object_store_mb: int = 128, env: dict | None = None) -> None:
        self.cpus = list(cpus)
        self.host = host
        self.ray_bin = ray_bin or str(Path(sys.executable).with_name("ray"))
        self.object_store = object_store_mb * 1024 * 1024
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        self.env.pop("RAY_ADDRESS", None)
        self.root: Path | None = None
        self.groups: list[int] = []  # process group id of each node, head first
        self.address: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 90) -> "LocalCluster":
        # Short path: Unix socket paths under the temp dir are limited to ~107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="alr", dir="/tmp"))
        try:
            port = free_port(self.host)
            self.address = f"{self.host}:{port}"
            for i, cpus in enumerate(self.cpus):
                self._start_node(i, cpus, port, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self, i: int, cpus: int, port: int, timeout: float) -> None:
        base = None
        for _ in range(50):
            b = random.randrange(20000, 29000, 200)
            if port_range_free(self.host, b, 200):
                base = b
                break
        if base is None:
            raise RuntimeError("no free worker port range")
        cmd = [self.ray_bin, "start", f"--num-cpus={cpus}", f"--node-ip-address={self.host}",
               f"--temp-dir={self.root}/n{i}", "--disable-usage-stats",
               f"--object-store-memory={self.object_store}",
               f"--min-worker-port={base}", f"--max-worker-port={base + 199}",
               f"--dashboard-agent-listen-port={free_port(self.host)}"]
        if i == 0:
            cmd += ["--head", f"--port={port}", "--include-dashboard=false",
                    f"--dashboard-port={free_port(self.host)}"]
        else:
            cmd += [f"--address={self.address}"]
        logf = open(self.root / f"start-{i}.log", "wb")
        p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=self.env, start_new_session=True)
        self.groups.append(p.pid)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
        logf.close()
        if rc != 0:
            text = (self.root / f"start-{i}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"ray start of node {i} failed (rc {rc}):\n{text}")
        deadline = time.monotonic() + timeout
        while self.raylet_pid(i) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {i}: no raylet")
            time.sleep(0.2)

    def stop(self) -> None:
        """Ends every process of every node (by process group), then removes the temp dirs."""
        # Ray workers (and what they started) live in process groups of their own: note them
        # as the nodes' descendants before the nodes go.
        extra: set[int] = set()
        for g in self.groups:
            for pid in self._group_members(g):
                extra.update(p for p, _ in self.descendants(pid))
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
            alive = [g for g in self.groups if self._group_members(g)]
            for g in reversed(alive):
                try:
                    os.killpg(g, sig)
                except ProcessLookupError:
                    pass
            for pid in extra:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and (
                any(self._group_members(g) for g in alive) or any(self._alive(p) for p in extra)
            ):
                time.sleep(0.1)
        self.groups = []
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- processes ---------------------------------------------------------------------------

    @staticmethod
    def _processes():
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
                cmdline = Path(f"/proc/{d}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            # fields after the parenthesised comm: state ppid pgrp ...
            rest = stat[stat.rindex(")") + 2:].split()
            if rest[0] == "Z":
                continue
            yield int(d), int(rest[1]), int(rest[2]), [c.decode(errors="replace") for c in cmdline if c]

    def _alive(self, pid: int) -> bool:
        try:
            rest = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return rest[rest.rindex(")") + 2:].split()[0] != "Z"

    def _group_members(self, pgid: int) -> list[int]:
        return [pid for pid, _, g, _ in self._processes() if g == pgid]

    def raylet_pid(self, i: int) -> int | None:
        g = self.groups[i]
        for pid, _, pg, cmd in self._processes():
            if pg == g and cmd and cmd[0].endswith("/raylet"):
                return pid
        return None

    def node_id(self, i: int) -> str | None:
        pid = self.raylet_pid(i)
        if pid is None:
            return None
        for arg in Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0"):
            if arg.startswith("--node_id="):
                return arg.split("=", 1)[1]
        return None

    def descendants(self, pid: int) -> list[tuple[int, list[str]]]:
        procs = list(self._processes())
        children: dict[int, list[int]] = {}
        cmds = {}
        for p, ppid, _, cmd in procs:
            children.setdefault(ppid, []).append(p)
            cmds[p] = cmd
        out, todo = [], [pid]
        while todo:
            for c in children.get(todo.pop(), []):
                out.append((c, cmds[c]))
                todo.append(c)
        return out

    def kill_raylet(self, i: int) -> int:
        """SIGKILLs node i's raylet only.

        Not a node death for the tasks running there: with Ray 2.60.0 a worker whose raylet is
        gone goes on running its task and returns the result straight to the owner (the driver),
        so the task succeeds on the "dead" node and is not retried. Use kill_node for that.
        """
        pid = self.raylet_pid(i)
        if pid is None:
            raise RuntimeError(f"node {i} has no raylet")
        os.kill(pid, signal.SIGKILL)
        return pid

    def kill_node(self, i: int) -> list[int]:
        """SIGKILLs every Ray process of node i, as when its machine dies: the raylet, its
        workers and agents, the rest of the node's process group. Processes that tasks started
        (the backtests) are left to die with their worker, as the driver asks (PR_SET_PDEATHSIG).
        """
        raylet = self.raylet_pid(i)
        if raylet is None:
            raise RuntimeError(f"node {i} has no raylet")
        victims = {raylet} | set(self._group_members(self.groups[i]))
        victims |= {pid for pid, ppid, _, _ in self._processes() if ppid == raylet}
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return sorted(victims)


def main() -> int:
    p = argparse.ArgumentParser(description="A Ray cluster of several nodes on loopback")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start, print the address, wait for Ctrl-C, tear down")
    up.add_argument("--cpus", type=int, nargs="+", default=[1, 1], help="CPUs per node, head first")
    up.add_argument(
        "--stdin",
        action="store_true",
        help="take commands on stdin (`node-id I`; `kill-node I WORD`: once a process of node I has "
        "WORD in its command line, kill the node), answer each on stdout; tear down at end of input",
    )
    args = p.parse_args()
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    c = LocalCluster(args.cpus).start()
    try:
        print(c.address, flush=True)
        print(f"{len(args.cpus)} nodes up; Ctrl-C to stop", file=sys.stderr, flush=True)
        if args.stdin:
            commands(c)
        else:
            signal.sigwait(stop_signals)
    finally:
        c.stop()
    return 0


def commands(c: LocalCluster) -> None:
    """Answers `node-id I` and `kill-node I WORD` lines until end of input (tests drive the
    cluster this way: the node ids to expect in the manifest, a node killed mid-task)."""
    for line in sys.stdin:
        parts = line.split()
        if parts[:1] == ["node-id"] and len(parts) == 2:
            print(c.node_id(int(parts[1])), flush=True)
        elif parts[:1] == ["kill-node"] and len(parts) == 3:
            i, word = int(parts[1]), parts[2]
            raylet = c.raylet_pid(i)
            deadline = time.monotonic() + 120
            while raylet is not None and time.monotonic() < deadline:
                if any(word in " ".join(cmd) for _, cmd in c.descendants(raylet)):
                    break
                time.sleep(0.02)
            else:
                print(f"error: no process with {word!r} on node {i}", flush=True)
                continue
            print(f"killed {len(c.kill_node(i))}", flush=True)
        else:
            print(f"error: unknown command {line.strip()!r}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
