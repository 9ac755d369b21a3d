"""Two workers, each with its own connection, applying the same store's batches at once.

Whatever the interleaving — the same batches twice, alternate batches, overlapping batch
boundaries — every event ends up applied exactly once and ``applied_seq`` is the last seq.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from cloud.database import CloudDb
from tests.helpers import ROOT

from .apply_worker import Batch, apply_all, write_batches
from .sim import EdgeSim

STORES = ("s1", "s2")
EVENTS = 400


def make_sims() -> dict[str, EdgeSim]:
    sims = {}
    for store in STORES:
        sims[store] = EdgeSim(store)
        sims[store].fill(EVENTS)
    return sims


def batches(sims: dict[str, EdgeSim], size: int) -> list[Batch]:
    """Both stores' batches of ``size`` events, interleaved store by store."""
    per_store = [[("acme", s, p) for p in sim.payloads(size)] for s, sim in sims.items()]
    return [b for group in zip(*per_store, strict=True) for b in group]


# name -> (worker A's batches, worker B's batches), from the sims
PLANS = {
    "same_batches": lambda sims: (batches(sims, 20), batches(sims, 20)),
    "alternate_batches": lambda sims: (batches(sims, 20)[0::4] + batches(sims, 20)[1::4],
                                       batches(sims, 20)[2::4] + batches(sims, 20)[3::4]),
    "overlapping_sizes": lambda sims: (batches(sims, 25), batches(sims, 40)),
}


def check(db: CloudDb, sims: dict[str, EdgeSim], outcomes: list[dict[str, int]]) -> None:
    assert sum(o.get("events_applied", 0) for o in outcomes) == EVENTS * len(sims)
    assert all(o.get("rejected", 0) == 0 for o in outcomes), outcomes
    for store, sim in sims.items():
        info = db.get_store(store)
        assert info is not None and info["applied_seq"] == len(sim.events)
        assert db.store_events_count(store) == len(sim.events)
        seqs = [e["seq"] for e in db.store_events(store, limit=10_000)]
        assert seqs == list(range(1, len(sim.events) + 1))
        assert {r["sku"]: r["on_hand"] for r in db.store_inventory(store)} == sim.expected_stock
    assert db.order_count_by_store() == {s: sim.orders for s, sim in sims.items()}


def provisioned(url: str) -> CloudDb:
    db = CloudDb.open(url)
    for store in STORES:
        db.add_store(store, "acme")
    return db


def in_two_threads(db_url: str, sims: dict[str, EdgeSim], todo: tuple[list[Batch], list[Batch]],
                   apply: Callable[[CloudDb, list[Batch]], dict[str, int]]
                   ) -> list[dict[str, int]]:
    """``apply(worker's CloudDb, its batches)`` in two threads at once, then ``check``."""
    db = provisioned(db_url)
    workers = [CloudDb.open(db_url), CloudDb.open(db_url)]
    outcomes: list[dict[str, int]] = [{}, {}]

    def run(n: int) -> None:
        outcomes[n] = apply(workers[n], todo[n])

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        check(db, sims, outcomes)
    finally:
        for worker in workers:
            worker.close()
        db.close()
    return outcomes


@pytest.mark.parametrize("plan", sorted(PLANS))
def test_two_threads_with_their_own_connections(db_url: str, plan: str) -> None:
    sims = make_sims()
    in_two_threads(db_url, sims, PLANS[plan](sims),
                   lambda db, todo: apply_all(db, todo, timeout=60))


@pytest.mark.parametrize("plan", sorted(PLANS))
def test_two_processes_with_their_own_connections(db_url: str, plan: str,
                                                  tmp_path: Path) -> None:
    sims = make_sims()
    db = provisioned(db_url)
    files = []
    for n, todo in enumerate(PLANS[plan](sims)):
        files.append(tmp_path / f"worker{n}.batches")
        write_batches(files[-1], todo)
    procs = [subprocess.Popen([sys.executable, "-m", "tests.cloud.sync.apply_worker", db_url,
                               str(f)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
             for f in files]
    try:
        outputs = [p.communicate(timeout=180)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0]
        check(db, sims, [json.loads(out) for out in outputs])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        db.close()
