"""HTTP load generator, run as a child process: ``python -m tests.bench.loadgen SPEC_JSON``.

The same generator drives the store and the bare baseline server. It POSTs one
JSON body to one URL (or, with ``"method": "GET"``, GETs ``spec["urls"]`` in turn),
each request with its own ``Idempotency-Key``, and prints
one JSON line of results on stdout. Modes (``spec["mode"]``):

- ``closed``: ``workers`` coroutines send back to back for ``warmup_s`` (not
  counted) then ``duration_s`` (counted): throughput.
- ``open``: one request every ``interval_s`` on a fixed schedule for ``warmup_s``
  + ``duration_s``; latency is measured from the *scheduled* send time, so a
  stalled server cannot hide its backlog (no coordinated omission).
- ``count``: ``workers`` coroutines send exactly ``total`` requests.

The generator pins itself to ``spec["cpus"]`` (if given) so the server under test
keeps its own core, and reports its own CPU use to show whether it was the
bottleneck.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from typing import Any

import aiohttp


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


class Load:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.url = spec["url"]
        self.method = spec.get("method", "POST")  # GET: no body, the URLs taken in turn
        self.urls = spec.get("urls") or [self.url]
        self.body = json.dumps(spec.get("body")).encode()
        self.base_headers = {"Content-Type": "application/json", **spec.get("headers", {})}
        self.prefix = spec.get("key_prefix", "bench") + f"-{os.getpid()}-"
        self.expect = set(spec.get("expect", [200, 201]))
        self.seq = 0
        self.errors: dict[str, int] = {}

    async def send(self, session: aiohttp.ClientSession) -> bool:
        self.seq += 1
        headers = {**self.base_headers, "Idempotency-Key": f"{self.prefix}{self.seq:010d}"}
        url = self.urls[self.seq % len(self.urls)]
        body = self.body if self.method == "POST" else None
        try:
            async with session.request(self.method, url, data=body, headers=headers) as resp:
                await resp.read()
                if resp.status in self.expect:
                    return True
                key = str(resp.status)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            key = type(exc).__name__
        self.errors[key] = self.errors.get(key, 0) + 1
        return False


def _session(limit: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=limit)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30))


async def closed_loop(spec: dict[str, Any]) -> dict[str, Any]:
    load, workers = Load(spec), int(spec.get("workers", 32))
    warm_end = time.perf_counter() + float(spec.get("warmup_s", 1.0))
    end = warm_end + float(spec["duration_s"])
    done = 0
    cpu0 = 0.0

    async def worker() -> None:
        nonlocal done
        while True:
            now = time.perf_counter()
            if now >= end:
                return
            ok = await load.send(session)
            if ok and warm_end <= now and time.perf_counter() <= end:
                done += 1

    async with _session(workers) as session:
        async def mark() -> None:
            nonlocal cpu0
            await asyncio.sleep(max(0.0, warm_end - time.perf_counter()))
            cpu0 = _cpu_s()
            load.errors.clear()  # only errors in the measured window count

        marker = asyncio.create_task(mark())
        await asyncio.gather(*(worker() for _ in range(workers)))
        await marker
        cpu = _cpu_s() - cpu0
    duration = float(spec["duration_s"])
    return {"requests": done, "rps": done / duration, "errors": load.errors,
            "client_cpu": cpu / duration}


async def open_loop(spec: dict[str, Any]) -> dict[str, Any]:
    load, interval = Load(spec), float(spec["interval_s"])
    warm_n = int(float(spec.get("warmup_s", 1.0)) / interval)
    n = warm_n + int(float(spec["duration_s"]) / interval)
    latencies: list[float] = []
    loop = asyncio.get_running_loop()

    async def one(i: int, scheduled: float) -> None:
        ok = await load.send(session)
        if i >= warm_n and ok:
            latencies.append(time.perf_counter() - scheduled)

    async with _session(int(spec.get("workers", 64))) as session:
        tasks = []
        start = time.perf_counter() + 0.05
        cpu0 = _cpu_s()
        for i in range(n):
            scheduled = start + i * interval
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if i == warm_n:
                load.errors.clear()
            tasks.append(loop.create_task(one(i, scheduled)))
        await asyncio.gather(*tasks)
        cpu = _cpu_s() - cpu0
    latencies.sort()
    wall = time.perf_counter() - start

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else -1.0

    return {"requests": len(latencies), "sent": n - warm_n, "errors": load.errors,
            "p50_ms": pct(0.50) * 1e3, "p99_ms": pct(0.99) * 1e3, "max_ms": pct(1.0) * 1e3,
            "rate": (n - warm_n) / float(spec["duration_s"]), "client_cpu": cpu / wall}


async def count_loop(spec: dict[str, Any]) -> dict[str, Any]:
    load, workers, total = Load(spec), int(spec.get("workers", 32)), int(spec["total"])
    sent = ok_count = 0

    async def worker() -> None:
        nonlocal sent, ok_count
        while sent < total:
            sent += 1
            ok = await load.send(session)  # not `ok_count += await ...`: that reads it first
            ok_count += ok

    started = time.perf_counter()
    async with _session(workers) as session:
        await asyncio.gather(*(worker() for _ in range(workers)))
    elapsed = time.perf_counter() - started
    return {"requests": ok_count, "elapsed_s": elapsed, "rps": ok_count / elapsed,
            "errors": load.errors}


MODES = {"closed": closed_loop, "open": open_loop, "count": count_loop}


def main() -> None:
    spec = json.loads(sys.argv[1])
    if spec.get("cpus"):
        os.sched_setaffinity(0, set(spec["cpus"]))
    result = asyncio.run(MODES[spec["mode"]](spec))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
