"""The HQ change feed of each store: gapless cursors, the latest state per key, snapshots.

Appending locks the target stores' rows in store order (so two HQ writers never deadlock)
and advances ``stores.down_cursor`` in the same transaction that inserts the changes, so a
store's cursors are gapless. ``feed_state`` keeps the latest ``catalog.item`` and
``inventory.quotas`` change per SKU and store: a snapshot is made of it. ``hq_catalog``
keeps what was sent to every store, so a store added later is seeded with it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence, Sized
from typing import Any, Final, TypeVar

from cloud.db.backend import Backend, utc_now_iso
from cloud.errors import StocktakeOutOfRange, UnknownStore
from cloud.feed.results import Feed
from common.vocabulary import MAX_STOCK_MOVE
from sync import messages

# change types kept per key (the SKU, template id, ...), in the order a snapshot lists them.
# Every other type is a delta: a snapshot lists those after the edge's cursor, as they were.
STATE_KINDS: Final = messages.STATE_KINDS
SNAPSHOT_AFTER: Final = 1000  # a store further behind than this gets a snapshot
STOCK_ADJUST: Final = "stock.adjust"
ADJUST_PARTS: Final = 100  # stock.adjust changes one move of HQ's may take (100 million units)
_CHUNK: Final = 500  # stores per IN (...) list

INSERT_CHANGE: Final = ("INSERT INTO changes(store, cursor, type, data, created_at) "
                        "VALUES (?, ?, ?, ?, ?)")
UPSERT_STATE: Final = ("INSERT INTO feed_state(store, kind, key, data, cursor) "
                       "VALUES (?, ?, ?, ?, ?) ON CONFLICT (store, kind, key) DO UPDATE SET "
                       "data = excluded.data, cursor = excluded.cursor")
UPSERT_HQ: Final = ("INSERT INTO hq_catalog(kind, key, data, updated_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (kind, key) DO UPDATE SET data = excluded.data, "
                    "updated_at = excluded.updated_at")

# (store, cursor, type, key or None, data)
Change = tuple[str, int, str, str | None, dict[str, Any]]
T = TypeVar("T")


def compact_json(value: Any) -> str:
    """The JSON text HQ stores a change as: compact, keys sorted."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


EVERY_TENANT: Final = "*"  # a queued change's tenant: every store of every tenant
QUEUE: Final = ("INSERT INTO fanout(tenant, type, key, data, stores, exclude, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)")


def queue(db: Backend, tenant: str, type_: str, data: dict[str, Any], *,
          stores: list[str] | None = None, exclude: str | None = None,
          key: str | None = None) -> None:
    """Send ``data`` as the change ``type_`` to ``stores`` (None: every store of ``tenant``;
    ``EVERY_TENANT``: of all tenants), leaving out ``exclude``, once this transaction commits
    and ``fanout.drain`` runs. ``key``: a state kind's key (the store's feed state keeps the
    last)."""
    db.execute(QUEUE, _queued(tenant, type_, key, data, stores, exclude, utc_now_iso()))


def queue_many(db: Backend, tenant: str, items: list[tuple[str, dict[str, Any]]], *,
               stores: list[str]) -> None:
    """``queue`` each (type, data) of ``items``, in order, to ``stores``, in one statement."""
    now = utc_now_iso()
    db.insert_many(QUEUE, [_queued(tenant, t, None, d, stores, None, now) for t, d in items])


def _queued(tenant: str, type_: str, key: str | None, data: dict[str, Any],
            stores: list[str] | None, exclude: str | None, now: str) -> tuple[Any, ...]:
    assert (type_ in STATE_KINDS) == (key is not None), "a key for state kinds only"
    targets = None if stores is None else compact_json(sorted(set(stores)))
    return (tenant, type_, key, compact_json(data), targets, exclude, now)


def queue_for(db: Backend, stores: list[str] | None,
              items: list[tuple[str, str | None, dict[str, Any]]]) -> None:
    """Queue each (type, key, data) for ``stores`` (None: every store of every tenant), in
    order, to be appended by ``fanout.drain`` after this transaction commits, in chunks of
    stores: no transaction holds all their rows. An explicit list is checked, not locked:
    UnknownStore (and the caller's transaction rolls back) when it names a store HQ lacks."""
    if stores is not None:
        known_stores(db, stores)
        if not stores:
            return
    now = utc_now_iso()
    db.insert_many(QUEUE, [_queued(EVERY_TENANT, t, k, d, stores, None, now)
                           for t, k, d in items])


def chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """``values`` in slices short enough for one ``IN (...)`` list."""
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def where_in(values: Sized, column: str = "store") -> str:
    """``column IN (?, ?, ...)`` with a placeholder for each of ``values``."""
    return f"{column} IN ({', '.join('?' * len(values))})"


def lock_stores(db: Backend, stores: list[str] | None) -> list[str]:
    """Lock the rows of ``stores`` (None: every store), in store order; their ids, sorted.
    UnknownStore when ``stores`` names one HQ lacks."""
    if stores is None:
        rows = db.execute("SELECT store FROM stores ORDER BY store{FOR_UPDATE}").fetchall()
        return [r[0] for r in rows]
    return known_stores(db, stores, "{FOR_UPDATE}")


def known_stores(db: Backend, stores: list[str], lock: str = "") -> list[str]:
    """``stores``, sorted, each once; UnknownStore when one is not at HQ. ``lock``:
    ``"{FOR_UPDATE}"`` to lock their rows."""
    wanted = sorted(set(stores))
    found: list[str] = []
    for chunk in chunks(wanted):
        sql = f"SELECT store FROM stores WHERE {where_in(chunk)} ORDER BY store{lock}"
        found += [r[0] for r in db.execute(sql, chunk).fetchall()]
    missing = sorted(set(wanted) - set(found))
    if missing:
        raise UnknownStore(", ".join(missing))
    return found


def advance(db: Backend, stores: list[str], by: int = 1) -> dict[str, int]:
    """Move each store's ``down_cursor`` on by ``by`` (rows already locked); the new values."""
    cursors: dict[str, int] = {}
    for chunk in chunks(stores):
        sql = (f"UPDATE stores SET down_cursor = down_cursor + ? WHERE {where_in(chunk)} "
               "RETURNING store, down_cursor")
        cursors.update((r[0], int(r[1])) for r in db.execute(sql, [by, *chunk]).fetchall())
    return cursors


def record(db: Backend, changes: list[Change]) -> None:
    now = utc_now_iso()
    db.insert_many(INSERT_CHANGE, [(s, c, t, compact_json(d), now) for s, c, t, _, d in changes])
    db.insert_many(UPSERT_STATE, [(s, t, k, compact_json(d), c) for s, c, t, k, d in changes
                                  if k is not None])


def append_to_stores(db: Backend, stores: list[str] | None, type_: str, key: str,
                     data: dict[str, Any]) -> None:
    """One HQ change to each of ``stores`` (None: every store, and every store added later,
    through HQ's catalog), queued (``queue_for``): the caller runs ``fanout.drain`` after its
    commit, which answers the cursors."""
    if stores is None:
        db.execute(UPSERT_HQ, (type_, key, compact_json(data), utc_now_iso()))
    queue_for(db, stores, [(type_, key, data)])


def merged(cursors: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    """{store: first cursor to push} of both, the lower where both name a store."""
    return {s: min(c for c in (cursors.get(s), more.get(s)) if c is not None)
            for s in {*cursors, *more}}


def seed_new_store(db: Backend, store: str) -> int:
    """Append what HQ sent to every store to a new store's feed; its cursor after that."""
    rows = db.execute("SELECT kind, key, data FROM hq_catalog").fetchall()
    rows.sort(key=lambda r: (STATE_KINDS.index(r[0]) if r[0] in STATE_KINDS else 99, r[1]))
    if not rows:
        return 0
    last = advance(db, [store], by=len(rows))[store]
    first = last - len(rows) + 1
    record(db, [(store, first + i, kind, key, json.loads(data))
                for i, (kind, key, data) in enumerate(rows)])
    return last


def adjust_parts(delta: int) -> list[int] | None:
    """``delta`` as the deltas of ``stock.adjust`` changes the edge takes (each within
    ``MAX_STOCK_MOVE``: its change schema refuses more), in all ``delta``; ``[0]`` for 0;
    None when it would take more than ``ADJUST_PARTS`` of them."""
    whole, rest = divmod(abs(delta), MAX_STOCK_MOVE)
    if whole + (rest > 0) > ADJUST_PARTS:
        return None
    sign = -1 if delta < 0 else 1
    parts = [sign * MAX_STOCK_MOVE] * whole
    if rest or not parts:
        parts.append(sign * rest)
    return parts


def stocktake(db: Backend, store: str, sku: str, counted: int) -> int:
    """``stock.adjust`` changes of counted − the cloud's on_hand in all; the last one's cursor.

    As many changes as ``adjust_parts`` makes of the difference (one, but for a count more
    than ``MAX_STOCK_MOVE`` off, which the edge would have dropped while HQ answered 201);
    past ``ADJUST_PARTS`` of them, ``StocktakeOutOfRange`` and nothing is sent. Each ``ref``
    is unique for good (the cursor and a random part: a store's cursors start over when its
    feed is reset), so the edge applies each once by ref too, whatever path brings it
    (edge/syncer/sql.py)."""
    lock_stores(db, [store])
    row = db.execute("SELECT on_hand FROM stock WHERE store = ? AND sku = ?",
                     (store, sku)).fetchone()
    on_hand = int(row[0]) if row else 0
    deltas = adjust_parts(counted - on_hand)  # a count HQ expected is sent too: a delta of 0
    if deltas is None:
        raise StocktakeOutOfRange(on_hand, counted)
    last = advance(db, [store], by=len(deltas))[store]
    first = last - len(deltas) + 1
    random = secrets.token_hex(6)
    record(db, [(store, first + n, STOCK_ADJUST, None, {
        "sku": sku, "delta": delta, "reason": "stocktake",
        "ref": f"hq-stocktake-{first + n}-{random}"}) for n, delta in enumerate(deltas)])
    return last


def _decode(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"cursor": int(r["cursor"]), "type": r["type"], "data": json.loads(r["data"])}
            for r in rows]


def changes_since(db: Backend, store: str, cursor: int, limit: int) -> Feed:
    with db.read():
        row = db.execute("SELECT down_cursor, feed_floor, epoch FROM stores WHERE store = ?",
                         (store,)).fetchone()
        if row is None:
            raise UnknownStore(store)
        latest, floor, epoch = int(row[0]), int(row[1]), int(row[2])
        if cursor > latest or cursor < floor or latest - cursor > limit:
            # an edge ahead of the feed (HQ restored from a backup, the store provisioned
            # again): its cursor must come back to ours, the one case where it moves back
            return Feed(True, 0, latest, snapshot(db, store, cursor, latest),
                        reset=cursor > latest, epoch=epoch)
        rows = db.rows("SELECT cursor, type, data FROM changes WHERE store = ? AND cursor > ? "
                       "AND cursor <= ? ORDER BY cursor", (store, cursor, latest))
    return Feed(False, cursor, latest, _decode(rows), epoch=epoch)


def snapshot(db: Backend, store: str, cursor: int, latest: int) -> list[dict[str, Any]]:
    """The store's current HQ state, then the deltas (stock adjustments, ledger entries,
    merges, coupons, leases) after ``cursor`` not pruned.

    Deltas are not state: the edge applies one only if its cursor is above the edge's
    applied cursor, like any change.
    """
    state = db.rows("SELECT cursor, kind AS type, data FROM feed_state WHERE store = ? "
                    "AND cursor <= ?", (store, latest))
    state.sort(key=lambda r: (STATE_KINDS.index(r["type"]), int(r["cursor"])))
    kinds = ", ".join("?" * len(STATE_KINDS))
    deltas = db.rows(f"SELECT cursor, type, data FROM changes WHERE store = ? AND type NOT IN "
                     f"({kinds}) AND cursor > ? AND cursor <= ? ORDER BY cursor",
                     (store, *STATE_KINDS, cursor, latest))
    return _decode(state) + _decode(deltas)


def prune(db: Backend, keep: int) -> int:
    """Drop changes a store confirmed (its birth's cursor) and older than its last ``keep``."""
    with db.write():
        db.execute("UPDATE stores SET feed_floor = CASE WHEN edge_cursor < down_cursor - ? "
                   "THEN edge_cursor ELSE down_cursor - ? END "
                   "WHERE edge_cursor > feed_floor AND down_cursor - ? > feed_floor",
                   (keep, keep, keep))
        deleted = db.execute("DELETE FROM changes WHERE cursor <= (SELECT feed_floor FROM "
                             "stores WHERE stores.store = changes.store)").rowcount
    return int(deleted)
