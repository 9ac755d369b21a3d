"""Plumbing of the fleet benchmark (tests/bench/test_fleet.py): HQ on PostgreSQL with N
ingest workers, its Mosquitto, and the fleet simulator (``devtools.fleet``) in a child
process driven step by step; CPU and memory of every process sampled while a load step
measures."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cloud.broker import provision
from devtools import fleet
from devtools.helpers import ROOT
from devtools.stack import TENANT, Hq
from sync.publisher import LINGER_MS

from .plumbing import cpu_s, postgres_cpu_s, rss_mb

Action = Callable[[], None]


class FleetHq:
    """A provisioned HQ (PostgreSQL), its broker and ``workers`` ingest processes (HQ's own
    ``run`` process ingests too: ``workers`` counts it)."""

    def __init__(self, work: Path, url: str | None, stores: int,
                 fanout: str = "tenant") -> None:
        self.hq = Hq(work, [], database=url)
        self.fanout = fanout  # HQ's members.fanout (cloud/members/follow.py)
        self.env = {**os.environ, "STORENODE_CLOUD_MEMBERS_FANOUT": fanout}
        started = time.perf_counter()
        self.creds = provision.add_stores(self.hq.dir, [f"f{n:04d}" for n in range(stores)],
                                          TENANT)
        self.provision_s = time.perf_counter() - started
        self.workers: list[subprocess.Popen[bytes]] = []

    def start(self, workers: int) -> None:
        self.hq.start_broker()
        self.start_hq(workers)

    def start_hq(self, workers: int) -> None:
        self.hq.start(env=self.env)
        for _ in range(workers - 1):
            with (self.hq.dir / "ingest.log").open("ab") as log:
                self.workers.append(subprocess.Popen(
                    [sys.executable, "-c", "from cloud.cli import main; main()", "ingest",
                     "--data-dir", str(self.hq.dir)], stdout=log, stderr=subprocess.STDOUT,
                    cwd=ROOT, env=self.env))
        time.sleep(1.0)  # the workers subscribe

    def stop(self) -> None:
        """SIGTERM (HQ finishes the batches it holds); SIGKILL what has not stopped in 60 s
        (an HQ far behind: a bench result, not a reason to leave processes behind)."""
        procs = [*self.workers, *([self.hq.proc] if self.hq.proc is not None else [])]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.workers = []
        self.hq.kill_broker(signal.SIGTERM)

    def restart_broker(self) -> None:
        self.hq.kill_broker(signal.SIGTERM)
        self.hq.start_broker()

    def restart_hq(self) -> None:
        """Every HQ process killed (SIGKILL), then started again: HQ's own and the workers."""
        workers = len(self.workers) + 1
        for proc in self.workers:
            proc.kill()
            proc.wait()
        self.workers = []
        self.hq.kill(signal.SIGKILL)
        self.start_hq(workers)

    def pids(self) -> dict[str, list[int]]:
        assert self.hq.proc is not None and self.hq.broker is not None
        return {"hq": [self.hq.proc.pid, *(w.pid for w in self.workers)],
                "broker": [self.hq.broker.pid]}

    def sample(self, simulator: list[int]) -> dict[str, dict[str, float]]:
        """CPU seconds and memory of HQ's, the broker's and the ``simulator``'s processes (0
        for one gone), and PostgreSQL's CPU (every process of the server's): where the two
        cores went."""
        def each(fn: Callable[[int], float], pid: int) -> float:
            try:
                return fn(pid)
            except (OSError, RuntimeError):
                return 0.0
        out = {name: {"cpu_s": sum(each(cpu_s, p) for p in pids),
                      "rss_mb": sum(each(rss_mb, p) for p in pids)}
               for name, pids in {**self.pids(), "simulator": simulator}.items()}
        out["postgres"] = {"cpu_s": postgres_cpu_s(), "rss_mb": 0.0}  # RSS: shared buffers
        return out


def run_fleet(hq: FleetHq, steps: list[dict[str, Any]],
              on: dict[str, Action] | None = None, timeout_s: float = 1800,
              members: bool = True, procs: int = 1,
              linger_ms: int = LINGER_MS) -> dict[str, Any]:
    """Run the simulator through ``steps``, its stores shared among ``procs`` processes (one
    event loop holds a few hundred busy stores on a slow machine: past that its own delays
    are in every lag it measures); ``on[name]`` runs at a ``pause`` step of that name, once
    every process has reached it (and ``on["measuring"]`` / ``on["watching"]`` when the
    first opens that window). Returns the step results by ``name`` (or ``do``), merged over
    the processes, with CPU and memory of HQ, the broker and the simulator, and
    PostgreSQL's CPU, over each load window."""
    on = on or {}
    stores = [{"store": c["store"], "tenant": c["tenant"], "password": c["password"]}
              for c in hq.creds]
    procs = max(1, min(procs, len(stores)))
    files, children = [], []
    for n in range(procs):
        spec = {"broker": hq.hq.broker_url, "stores": stores[n::procs], "keepalive_s": 30,
                "steps": steps, "members": members, "fanout": hq.fanout,
                "linger_ms": linger_ms}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
            json.dump(spec, fh)
        files.append(fh.name)
        children.append(subprocess.Popen([sys.executable, "-m", "devtools.fleet", fh.name],
                                         cwd=ROOT, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True))
    lines: queue.Queue[str | None] = queue.Queue()  # every process's, None at each one's end

    def read(proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    readers = [threading.Thread(target=read, args=(p,), daemon=True) for p in children]
    for reader in readers:
        reader.start()
    pids = [p.pid for p in children]
    results: dict[str, Any] = {}
    window: tuple[float, dict[str, dict[str, float]]] | None = None
    opened: set[str] = set()  # "measuring" / "watching" windows opened (by the first process)
    paused: dict[str, int] = {}
    parts: dict[str, list[dict[str, Any]]] = {}
    deadline, ended = time.monotonic() + timeout_s, 0
    try:
        while ended < procs:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fleet run over {timeout_s} s")
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                continue
            if line is None:  # that process's output ended
                ended += 1
                continue
            message = json.loads(line)
            if message.get("measuring"):
                if "measuring" not in opened:
                    opened.add("measuring")
                    window = (time.monotonic(), hq.sample(pids))
                    if "measuring" in on:
                        on["measuring"]()
            elif message.get("watching"):
                if "watching" not in opened:
                    opened.add("watching")
                    on["watching"]()
            elif "pause" in message:
                name = message["pause"]
                paused[name] = paused.get(name, 0) + 1
                if paused[name] == procs:
                    del paused[name]
                    on[name]()
                    for proc in children:
                        assert proc.stdin is not None
                        proc.stdin.write("\n")
                        proc.stdin.flush()
            else:
                name = message.get("name") or message["step"]
                parts.setdefault(name, []).append(message)
                if len(parts[name]) < procs:
                    continue
                message = merge_step(parts.pop(name))
                opened.discard("measuring" if message["step"] == "load" else "watching")
                if message["step"] == "load" and window is not None:
                    elapsed, now = time.monotonic() - window[0], hq.sample(pids)
                    message["processes"] = {
                        k: {"cpu_share": (now[k]["cpu_s"] - window[1][k]["cpu_s"]) / elapsed,
                            "rss_mb": now[k]["rss_mb"]} for k in now}
                results[name] = message
        codes = [proc.wait(timeout=60) for proc in children]
        assert codes == [0] * procs, f"fleet simulator exited {codes}"
    finally:
        for proc in children:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for reader in readers:
            reader.join(timeout=5)
        for name in files:
            os.unlink(name)
    return results


def merge_step(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One step's result out of each process's (their ``raw`` figures pooled again)."""
    raw: dict[str, list[float]] = {}
    for part in parts:
        for key, values in part.pop("raw", {}).items():
            raw.setdefault(key, []).extend(values)
    first = parts[0]
    if len(parts) == 1:
        return first
    kind = first["step"]
    summed = {k: sum(p[k] for p in parts) for k, v in first.items()
              if isinstance(v, int | float) and not isinstance(v, bool)}
    out: dict[str, Any] = {**first, **summed}
    if kind == "connect":
        out["seconds"] = max(p["seconds"] for p in parts)
    elif kind == "load":
        out["seconds"] = first["seconds"]
        out["lag"], out["loop_stall"] = fleet.quantiles(raw["lag"]), \
            fleet.quantiles(raw["loop_stall"])
    elif kind == "drain":
        times = raw["per_store"]
        out["seconds"] = max(p["seconds"] for p in parts)
        out["first_ack_s"] = min(p["first_ack_s"] for p in parts)
        out["applied_s"] = out["events"] / max(out["seconds"] - out["first_ack_s"], 1e-9)
        out.update(fleet.catch_up(times))
    elif kind == "watch":
        lasts = [p["last_s"] for p in parts if p["last_s"] is not None]
        out["last_s"] = max(lasts) if lasts else None
        out["per_store"] = fleet.quantiles(raw["per_store"])
    return out



