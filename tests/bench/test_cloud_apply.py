"""Cloud apply throughput on PostgreSQL: two worker processes, 200-event batches of ~1 KB.

Realistic order traffic (``order.placed`` with three lines and its stock deltas, two status
changes per order, some receipts) of ``STORES`` stores. Two ways to share the work:

- ``split``: each worker owns half of the stores (a store's batches go to one worker);
- ``interleaved``: batch n of every store goes to worker n % 2, as a shared subscription
  hands out messages: the workers meet on the store row lock and retry gaps.

The baseline is a bare ``executemany`` of the same event rows into a plain table (no
indexes), one transaction per batch, in two processes, on the same server in the same run.
Target: >= 5,000 events/s applied. Run: ``make bench`` or
``.venv/bin/python -m pytest -q -s tests/bench/test_cloud_apply.py -o addopts=""``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cloud.database import CloudDb
from tests.cloud.sync.apply_worker import Batch, write_batches
from tests.cloud.sync.sim import EdgeSim
from tests.helpers import ROOT
from tests.pg import throwaway_database

from .cloud_worker import create_bare_table
from .plumbing import postgres_cpu_s, report

TARGET_EVENTS_S = 5_000
STORES, EVENTS_PER_STORE, BATCH = 8, 6_000, 200
ROUNDS = 3  # the best of each counts (other load on the machine only slows)


def store_batches(prefix: str) -> dict[str, list[Batch]]:
    out = {}
    for n in range(STORES):
        sim = EdgeSim(f"{prefix}{n}")
        sim.fill(EVENTS_PER_STORE)
        out[sim.store] = [("acme", sim.store, p) for p in sim.payloads(BATCH)]
    return out


def split(per_store: dict[str, list[Batch]]) -> tuple[list[Batch], list[Batch]]:
    stores = sorted(per_store)
    def todo(mine: list[str]) -> list[Batch]:
        # round-robin over my stores, batch by batch
        return [b for group in zip(*(per_store[s] for s in mine), strict=True) for b in group]
    return todo(stores[0::2]), todo(stores[1::2])


def interleaved(per_store: dict[str, list[Batch]]) -> tuple[list[Batch], list[Batch]]:
    rounds = list(zip(*per_store.values(), strict=True))
    a = [b for n, group in enumerate(rounds) for b in group if n % 2 == 0]
    b = [b for n, group in enumerate(rounds) for b in group if n % 2 == 1]
    return a, b


SHARES = {"split": split, "interleaved": interleaved}
# how each worker applies: a batch a transaction, or grouped as the ingest does in a catch-up
MODES = {"split": "apply", "interleaved": "apply", "split grouped": "group"}


def run_pair(mode: str, url: str, work: tuple[list[Batch], list[Batch]],
             tmp: Path) -> dict[str, Any]:
    files = []
    for n, todo in enumerate(work):
        files.append(tmp / f"{mode}-{n}-{time.monotonic_ns()}.batches")
        write_batches(files[-1], todo)
    start_at = time.time() + 2.0  # both open their connection first
    server_cpu = postgres_cpu_s()
    procs = [subprocess.Popen([sys.executable, "-m", "tests.bench.cloud_worker", mode, url,
                               str(f), str(start_at)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True) for f in files]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    server_cpu = postgres_cpu_s() - server_cpu
    assert [p.returncode for p in procs] == [0, 0], outs
    results = [json.loads(o.strip().splitlines()[-1]) for o in outs]
    events = sum(r["events"] for r in results)
    wall = max(r["ended"] for r in results) - min(r["started"] for r in results)
    return {"events": events, "wall_s": wall, "events_s": events / wall,
            "gap_retries": sum(r.get("gap_retries", 0) for r in results),
            "worker_cpu_s": sum(r["cpu_s"] for r in results),
            # what an event cost both sides, in microseconds: steadier than events/s here,
            # where other load slows a round but does not add to its CPU
            "cpu_us_per_event": (sum(r["cpu_s"] for r in results) + server_cpu) / events * 1e6,
            "server_cpu_s": server_cpu}


def cpu_per_event(results: list[dict[str, Any]]) -> float:
    """The median of the rounds' CPU an event (both sides), in microseconds."""
    return statistics.median(r["cpu_us_per_event"] for r in results)


def test_cloud_apply_throughput_on_postgres(tmp_path: Path) -> None:
    runs: dict[str, list[dict[str, Any]]] = {"bare": [], **{name: [] for name in MODES}}
    with throwaway_database("storenode_bench") as url:
        create_bare_table(url)
        db = CloudDb.open(url)
        try:
            for n in range(ROUNDS):  # fresh stores each round: every event is new
                plans = {name: store_batches(f"{name[0]}{name[-2:]}{n}x") for name in MODES}
                for per_store in plans.values():
                    for store in per_store:
                        db.add_store(store, "acme")
                runs["bare"].append(run_pair("bare", url, split(plans["split"]), tmp_path))
                for name, per_store in plans.items():
                    share = SHARES[name.split()[0]](per_store)
                    runs[name].append(run_pair(MODES[name], url, share, tmp_path))
                    for store in per_store:  # everything applied, exactly once
                        assert db.store_events_count(store) == EVENTS_PER_STORE
        finally:
            db.close()
    total = STORES * EVENTS_PER_STORE
    assert all(r["events"] == total for results in runs.values() for r in results)
    best = {name: max(r["events_s"] for r in results) for name, results in runs.items()}
    cpu = {name: cpu_per_event(results) for name, results in runs.items()}
    report(f"cloud apply on PostgreSQL, 2 worker processes, {STORES} stores x "
           f"{EVENTS_PER_STORE} events, batches of {BATCH} (~1 KB events), best of {ROUNDS}", [
        *[(f"{name} round {i + 1}",
           f"{r['events_s']:8.0f} events/s  ({r['wall_s']:.2f} s, worker cpu "
           f"{r['worker_cpu_s']:.1f} s, PostgreSQL cpu {r['server_cpu_s']:.1f} s: "
           f"{r['cpu_us_per_event']:.0f} µs an event; gap retries {r['gap_retries']})")
          for name, results in runs.items() for i, r in enumerate(results)],
        *[(f"best {name}", f"{rate:8.0f} events/s") for name, rate in best.items()],
        *[(f"RATIO {name}/bare", f"{best[name] / best['bare']:.3f}") for name in MODES],
        *[(f"RATIO by CPU an event, bare/{name}", f"{cpu['bare'] / cpu[name]:.3f}")
          for name in MODES],
        ("target", f">= {TARGET_EVENTS_S} events/s applied"),
    ])
    for name in MODES:
        assert best[name] >= TARGET_EVENTS_S, (name, runs[name])
