"""Shared benchmark plumbing: child processes, CPU pinning, the load generator, reporting.

Every server and load generator runs in its own child process. When the machine
has two or more CPUs the servers are pinned to the first and the load generator
to the others, so the server under test has a core of its own; a bare aiohttp
server measured in the same run on the same core is the baseline.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..helpers import ROOT, Daemon, free_port, login, make_store, request

# three lines, one of them qty 2: C001 + 2 x C002 + S001 (all stock-tracked)
SKUS = ("C001", "C002", "S001")
ORDER: dict[str, Any] = {"channel": "pos", "lines": [{"sku": "C001", "qty": 1}, {"sku": "C002", "qty": 2},
                                     {"sku": "S001", "qty": 1}]}
ORDERS_PATH = "/api/v1/orders"


def cpu_split() -> tuple[list[int] | None, list[int] | None]:
    """(server CPUs, load generator CPUs); (None, None) on a single-CPU machine."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return cpus[:1], cpus[1:]


def pin(pid: int, cpus: list[int] | None) -> None:
    """Pin every thread of ``pid`` (threads it starts later inherit the mask)."""
    if not cpus:
        return
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(tid), set(cpus))


def _cpu_ticks(pid: int, reaped: bool = False) -> int:
    """utime + stime of ``pid`` from /proc (with ``reaped``: + cutime + cstime, the time of
    the children it waited for), in clock ticks."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15 if reaped else 13])


def cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (all its threads)."""
    return _cpu_ticks(pid) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_s() -> float:
    """CPU seconds used so far by the PostgreSQL processes of this machine (backends, WAL
    writer, checkpointer, autovacuum), those that ended included (the postmaster reaped
    them: their time is its children's): read before and after a run, what the run cost
    the server."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm", encoding="ascii") as fh:
                if fh.read().strip() != "postgres":
                    continue
            total += _cpu_ticks(int(pid), reaped=True)
        except OSError:  # ended meanwhile: its time is counted as the postmaster's
            continue
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def stop_process(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def wait_healthy(url: str, proc: subprocess.Popen[Any], timeout: float = 15) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {proc.returncode}")
        try:
            request("GET", f"{url}/api/v1/health", timeout=2)
            return time.perf_counter() - started
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"{url} not serving after {timeout} s")


@dataclass(frozen=True)
class Server:
    url: str
    pid: int


@contextlib.contextmanager
def bare_server(cpus: list[int] | None) -> Iterator[Server]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.bench.bare_server", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc)
        pin(proc.pid, cpus)
        yield Server(url, proc.pid)
    finally:
        stop_process(proc)


@contextlib.contextmanager
def store_daemon(data_dir: Path, cpus: list[int] | None, build: bool = True) -> Iterator[Daemon]:
    """A ``storenode run`` child on a demo store, stock topped up for the benchmark SKUs."""
    if build:
        make_store(data_dir, "bench-store")
    daemon = Daemon(data_dir)
    try:
        daemon.start()
        assert daemon.proc is not None
        pin(daemon.proc.pid, cpus)
        yield daemon
    finally:
        daemon.stop()
        if daemon.proc is not None and daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait(timeout=20)


def manager_token(daemon: Daemon, top_up: int = 1_000_000) -> str:
    """Log in as manager and add ``top_up`` stock to each benchmark SKU."""
    token = login(daemon.url, "manager")
    for sku in SKUS:
        status, body = request("POST", f"{daemon.url}/api/v1/inventory/movements",
                               {"sku": sku, "delta": top_up, "reason": "receipt"}, token)
        assert status == 201, body
    return token


def load_spec(url: str, token: str | None, cpus: list[int] | None, **spec: Any) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return {"url": url + ORDERS_PATH, "body": ORDER, "headers": headers, "cpus": cpus,
            "expect": [201], **spec}


def run_load(spec: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    """Run the load generator in a child process; its JSON result."""
    done = subprocess.run([sys.executable, "-m", "tests.bench.loadgen", json.dumps(spec)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed: {done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def report(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in rows)
    print(f"\n=== {title}")
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    sys.stdout.flush()
