"""A cloud worker in a process of its own: applies ``up`` payloads with its own ``CloudDb``.

``python -m tests.cloud.sync.apply_worker URL FILE`` where FILE has one line per batch:
``TENANT STORE PAYLOAD``. Like ``Ingest``, a gap is retried until the other workers have
applied the batches before it. Prints a JSON object: outcome counts and ``events_applied``.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path

from cloud.database import CloudDb

Batch = tuple[str, str, bytes]


def write_batches(path: Path, batches: list[Batch]) -> None:
    with path.open("wb") as fh:
        for tenant, store, payload in batches:
            fh.write(b"%s %s %s\n" % (tenant.encode(), store.encode(), payload))


def read_batches(path: Path) -> list[Batch]:
    out = []
    for line in path.read_bytes().splitlines():
        tenant, store, payload = line.split(b" ", 2)
        out.append((tenant.decode(), store.decode(), payload))
    return out


def apply_all(db: CloudDb, batches: list[Batch], timeout: float = 120) -> dict[str, int]:
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + timeout
    for tenant, store, payload in batches:
        while True:
            ack = db.apply_batch(tenant, store, payload)
            if ack.kind != "gap" or time.monotonic() > deadline:
                break
            counts["gap_retries"] += 1
            time.sleep(0.002)
        counts[ack.kind] += 1
        counts["events_applied"] += ack.events_applied
    return dict(counts)


def apply_groups(db: CloudDb, batches: list[Batch], size: int, timeout: float = 120
                 ) -> dict[str, int]:
    """Like ``apply_all``, ``size`` batches a transaction (``CloudDb.apply_batches``); a
    batch answered ``gap`` goes again with the next group."""
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + timeout
    todo = list(batches)
    while todo:
        group, todo = todo[:size], todo[size:]
        acks, _, grouped = db.apply_batches(group)
        counts["groups"] += grouped
        retry = [batch for batch, ack in zip(group, acks, strict=True) if ack.kind == "gap"]
        if retry and time.monotonic() < deadline:
            counts["gap_retries"] += len(retry)
            todo = retry + todo
            time.sleep(0.002)
        for ack in acks:
            if ack.kind != "gap" or time.monotonic() >= deadline:
                counts[ack.kind] += 1
                counts["events_applied"] += ack.events_applied
    return dict(counts)


def main() -> None:
    url, path = sys.argv[1], Path(sys.argv[2])
    batches = read_batches(path)
    db = CloudDb.open(url)
    try:
        started = time.perf_counter()
        counts = apply_all(db, batches)
        counts["elapsed_us"] = int((time.perf_counter() - started) * 1e6)
    finally:
        db.close()
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
