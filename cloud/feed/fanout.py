"""HQ member changes queued by one transaction and appended to the stores' feeds by the next.

Applying a store's batch holds that store's row lock (and the tenant's member lock); taking
other stores' rows in the same transaction could deadlock with a worker applying another
store. So member projections and HQ member operations only ``queue`` their changes in
``fanout`` (committed with what caused them), and ``drain`` appends them afterwards in a
transaction of its own that locks the target stores in store order. A crash between the two
leaves the rows queued: the next drain (any apply, any HQ operation, start-up) sends them.
"""

from __future__ import annotations

import json
from typing import Any, Final

from cloud.db.backend import Backend, utc_now_iso
from cloud.feed.changes import STATE_KINDS, Change, advance, lock_stores, record

FANOUT_LOCK: Final = 7_305_002  # pg_advisory_xact_lock key: one drain at a time
_BATCH: Final = 2000

INSERT: Final = ("INSERT INTO fanout(tenant, type, key, data, stores, exclude, created_at) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?)")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def queue(db: Backend, tenant: str, type_: str, data: dict[str, Any], *,
          stores: list[str] | None = None, exclude: str | None = None) -> None:
    """Send ``data`` as the delta change ``type_`` to ``stores`` (None: every store of
    ``tenant``), leaving out ``exclude``, once this transaction commits and ``drain`` runs."""
    assert type_ not in STATE_KINDS, "state kinds go through changes.append_to_stores"
    targets = None if stores is None else _json(sorted(set(stores)))
    db.execute(INSERT, (tenant, type_, None, _json(data), targets, exclude, utc_now_iso()))


def drain(db: Backend) -> dict[str, int]:
    """Append every queued change to its stores' feeds; {store: its first new cursor}.

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
            rows = db.rows("SELECT id, tenant, type, key, data, stores, exclude FROM fanout "
                           "ORDER BY id LIMIT ?", (_BATCH,))
            if not rows:
                return first
            plan = _plan(db, rows)
            # stores that get the same number of changes move their cursors in one statement
            # (a change to every store is most of them), and every change row goes in one
            # multi-row insert: a handful of round trips, not two a store
            by_count: dict[int, list[str]] = {}
            for store in lock_stores(db, sorted(plan)):
                by_count.setdefault(len(plan[store]), []).append(store)
            appended: list[Change] = []
            for count, stores in by_count.items():
                for store, last in advance(db, stores, by=count).items():
                    start = last - count + 1
                    first.setdefault(store, start)
                    appended += [(store, start + i, t, k, d)
                                 for i, (t, k, d) in enumerate(plan[store])]
            record(db, appended)
            db.execute("DELETE FROM fanout WHERE id <= ?", (rows[-1]["id"],))


def _plan(db: Backend, rows: list[dict[str, Any]]) -> dict[str, list[tuple[str, str | None,
                                                                        dict[str, Any]]]]:
    tenants: dict[str, list[str]] = {}
    for store, tenant in db.execute("SELECT store, tenant FROM stores ORDER BY store").fetchall():
        tenants.setdefault(tenant, []).append(store)
    plan: dict[str, list[tuple[str, str | None, dict[str, Any]]]] = {}
    for row in rows:
        known = tenants.get(row["tenant"], [])
        targets = known if row["stores"] is None else [
            s for s in json.loads(row["stores"]) if s in known]
        data = json.loads(row["data"])
        for store in targets:
            if store != row["exclude"]:
                plan.setdefault(store, []).append((row["type"], row["key"], data))
    return plan


def pending(db: Backend) -> int:
    (n,) = db.execute("SELECT COUNT(*) FROM fanout").fetchone()
    return int(n)
