"""HQ changes queued by one transaction and appended to the stores' feeds by the next ones.

Applying a store's batch holds that store's row lock (and the tenant's member lock); taking
other stores' rows in the same transaction could deadlock with a worker applying another
store. So member projections and HQ member operations only ``queue`` their changes in
``fanout`` (committed with what caused them), and ``drain`` appends them afterwards. A change
to many stores (a catalog item, quotas, a coupon template, a price rule: to every store or a
list of them, ``changes.queue_for``; coupons issued, the loyalty rules, recommendation pairs) is
queued the same way, so that no transaction holds all their rows.

``drain`` works in chunks of ``CHUNK`` stores, in store order, one transaction each: it
locks the chunk's rows, appends every queued change those stores are due, and records how
far it got (``done_until``, the chunk's last store) in the same transaction; a row is deleted
with the chunk that finishes it. A store's changes keep their queued order; a crash between
chunks leaves the rest queued, and the next drain (any apply, any HQ operation, start-up)
goes on from ``done_until``: no store gets a change twice or misses one.
"""

from __future__ import annotations

import json
from typing import Any, Final

from cloud.db.backend import Backend
from cloud.feed.changes import (EVERY_TENANT, Change, advance, chunks, lock_stores, queue, record,
                                where_in)

__all__ = ["CHUNK", "EVERY_TENANT", "FANOUT_LOCK", "drain", "pending", "queue"]

FANOUT_LOCK: Final = 7_305_002  # pg_advisory_xact_lock key: one drain at a time
_BATCH: Final = 2000
CHUNK: Final = 250  # stores a drain transaction locks

def drain(db: Backend, chunk: int = CHUNK) -> dict[str, int]:
    """Append the queued changes to their stores' feeds, ``chunk`` stores a transaction;
    {store: its first new cursor}.

    Most batches queue nothing: one cheap read says so before a write transaction (and, on
    PostgreSQL, the drain lock) is taken. A row committed right after that read is sent by
    the next drain, as after a crash."""
    if db.execute("SELECT 1 FROM fanout LIMIT 1").fetchone() is None:
        return {}
    first: dict[str, int] = {}
    while True:
        with db.write():
            if db.name == "postgresql":
                db.execute("SELECT pg_advisory_xact_lock(?)", (FANOUT_LOCK,))
            rows = db.rows("SELECT id, tenant, type, key, data, stores, exclude, done_until "
                           "FROM fanout ORDER BY id LIMIT ?", (_BATCH,))
            if not rows:
                return first
            due = _due(db, rows)  # row id -> the stores it has still to reach, sorted
            stores = sorted({store for targets in due.values() for store in targets})[:chunk]
            last = stores[-1] if stores else ""
            if stores:
                _append(db, rows, due, set(stores), first)
            done = [r["id"] for r in rows if not due[r["id"]] or due[r["id"]][-1] <= last]
            going = sorted(set(due) - set(done))
            for part in chunks(done):
                db.execute(f"DELETE FROM fanout WHERE {where_in(part, 'id')}", part)
            for part in chunks(going):
                db.execute(f"UPDATE fanout SET done_until = ? WHERE {where_in(part, 'id')}",
                           (last, *part))


def _append(db: Backend, rows: list[dict[str, Any]], due: dict[int, list[str]],
            stores: set[str], first: dict[str, int]) -> None:
    """Append to ``stores`` (this chunk) every change of ``rows`` due to them, in order."""
    plan: dict[str, list[tuple[str, str | None, dict[str, Any]]]] = {}
    for row in rows:
        data = None
        for store in due[row["id"]]:
            if store in stores:
                data = json.loads(row["data"]) if data is None else data
                plan.setdefault(store, []).append((row["type"], row["key"], data))
    # stores that get the same number of changes move their cursors in one statement (a
    # change to every store is most of them), and every change row goes in one multi-row
    # insert: a handful of round trips, not two a store
    by_count: dict[int, list[str]] = {}
    for store in lock_stores(db, sorted(plan)):
        by_count.setdefault(len(plan[store]), []).append(store)
    appended: list[Change] = []
    for count, group in by_count.items():
        for store, last in advance(db, group, by=count).items():
            start = last - count + 1
            first.setdefault(store, start)
            appended += [(store, start + i, t, k, d) for i, (t, k, d) in enumerate(plan[store])]
    record(db, appended)


def _due(db: Backend, rows: list[dict[str, Any]]) -> dict[int, list[str]]:
    everyone: list[str] = []
    tenants: dict[str, list[str]] = {}
    for store, tenant in db.execute("SELECT store, tenant FROM stores ORDER BY store").fetchall():
        everyone.append(store)
        tenants.setdefault(tenant, []).append(store)
    due: dict[int, list[str]] = {}
    listed: dict[tuple[str, str], list[str]] = {}  # rows queued together share their list
    for row in rows:
        known = everyone if row["tenant"] == EVERY_TENANT else tenants.get(row["tenant"], [])
        if row["stores"] is None:
            targets = known
        else:
            list_key = (row["tenant"], row["stores"])
            if list_key not in listed:
                wanted = set(json.loads(row["stores"]))
                listed[list_key] = [s for s in known if s in wanted]
            targets = listed[list_key]
        after = row["done_until"]
        due[row["id"]] = [s for s in targets if s != row["exclude"]
                          and (after is None or s > after)]
    return due


def pending(db: Backend) -> int:
    (n,) = db.execute("SELECT COUNT(*) FROM fanout").fetchone()
    return int(n)
