"""One cloud apply worker of the benchmark, in a process of its own.

``python -m tests.bench.cloud_worker MODE URL FILE START_AT`` with FILE as written by
``tests.cloud.sync.apply_worker.write_batches``. Waits until the wall clock reaches START_AT so
both workers start together, then:

- ``apply``: ``CloudDb.apply_batch`` for each batch (a gap is retried, as ``Ingest`` does);
- ``group``: ``CloudDb.apply_batches`` over the batches in turn, as the ingest groups what
  waits while it is busy (a catch-up): as many batches as fit ``GROUP_BYTES``;
- ``bare``: the same event rows, decoded beforehand, ``executemany``-inserted into a plain
  table, one transaction per batch: the database's own cost, the baseline.

Prints ``{"events", "started", "ended", "cpu_s", ...}`` as JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from cloud.database import CloudDb
from cloud.config import GROUP_BYTES
from cloud.sync.ingest import GROUP_BATCHES
from common import heap
from tests.cloud.sync.apply_worker import apply_all, apply_groups, read_batches

BARE_TABLE = ("CREATE TABLE IF NOT EXISTS bare_events (store TEXT, seq BIGINT, event_id TEXT, "
              "type TEXT, v INTEGER, at TEXT, hlc TEXT, data TEXT)")
BARE_INSERT = "INSERT INTO bare_events VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"


def create_bare_table(url: str) -> None:
    """Before the workers start (two concurrent CREATE TABLE IF NOT EXISTS may collide)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(BARE_TABLE)


def bare_rows(payload: bytes) -> list[tuple[Any, ...]]:
    batch = json.loads(payload)
    return [(e["store"], e["seq"], e["event_id"], e["type"], e["v"], e["at"], e["hlc"],
             json.dumps(e["data"], ensure_ascii=False, separators=(",", ":")))
            for e in batch["events"]]


def run_bare(url: str, payloads: list[bytes], start_at: float) -> dict[str, Any]:
    import psycopg

    batches = [bare_rows(p) for p in payloads]
    with psycopg.connect(url, autocommit=True) as conn:
        wait_until(start_at)
        started, cpu = time.time(), time.process_time()
        for rows in batches:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(BARE_INSERT, rows)
        return {"events": sum(len(b) for b in batches), "started": started,
                "ended": time.time(), "cpu_s": time.process_time() - cpu}


def run_apply(url: str, batches: list[tuple[str, str, bytes]], start_at: float,
              grouped: bool = False) -> dict[str, Any]:
    db = CloudDb.open(url)
    size = max(1, min(GROUP_BATCHES, GROUP_BYTES // max(len(b[2]) for b in batches)))
    try:
        wait_until(start_at)
        started, cpu = time.time(), time.process_time()
        counts: dict[str, Any] = (apply_groups(db, batches, size, timeout=600) if grouped
                                  else apply_all(db, batches, timeout=600))
        counts.update(events=counts.get("events_applied", 0), started=started,
                      ended=time.time(), cpu_s=time.process_time() - cpu)
        return counts
    finally:
        db.close()


def wait_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def main() -> None:
    mode, url, path, start_at = sys.argv[1], sys.argv[2], Path(sys.argv[3]), float(sys.argv[4])
    batches = read_batches(path)
    heap.settle()  # as HQ's processes do once started (cloud/server.py)
    if mode == "bare":
        result = run_bare(url, [payload for _, _, payload in batches], start_at)
    else:
        result = run_apply(url, batches, start_at, grouped=mode == "group")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
