"""A store's restore snapshot (ARCHITECTURE §4e): what a replacement box needs to serve,
from what HQ holds, cut into chunks the box fetches over the store's own topics.

Sections, in the order the box writes them: ``meta`` (epoch, the feed's head cursor, the
old box's applied seq, the store's edge.toml without secrets), ``changes`` (HQ's state for
the store in the change feed's own format: tenant key, catalog, quotas, loyalty rules,
coupon templates, price rules, then every member, ledger entry and coupon, as a new store
gets them, and the store's leases), ``items`` and ``quotas`` (the store's own view, local items included), ``stock``
(on hand per SKU: the sum of every delta HQ applied), ``staff`` (PIN hashes), ``tables``,
``orders`` (the last 36 hours and every open order, with lines) and ``numbers`` (the last
order number of each of those days).
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cloud.db.backend import Backend, utc_now_iso
from cloud.errors import UnknownStore
from cloud.members.seed import changes_for
from cloud.reservations import sql as reservations
from cloud.stores import sql as reads
from sync import messages

CHUNK_ROWS: Final = 1000
ORDER_HOURS: Final = 36
OPEN: Final = ("placed", "accepted", "preparing", "ready")


def build(db: Backend, store: str) -> dict[str, Any]:
    """``{id, meta, chunks: [{section, rows}]}``, read in one transaction (one consistent
    state); raises UnknownStore."""
    with db.read():
        row = db.execute("SELECT tenant, epoch, down_cursor FROM stores WHERE store = ?",
                         (store,)).fetchone()
        if row is None:
            raise UnknownStore(store)
        tenant, epoch, head = row[0], int(row[1]), int(row[2])
        before = db.execute("SELECT applied_seq FROM store_boxes WHERE store = ? AND epoch = ?",
                            (store, epoch - 1)).fetchone()
        config = db.execute("SELECT toml FROM store_configs WHERE store = ?",
                            (store,)).fetchone()
        meta = {"store": store, "tenant": tenant, "epoch": epoch, "cursor": head,
                "restored_seq": int(before[0]) if before else 0,
                "config": config[0] if config else None}
        sections = {"changes": _changes(db, store, tenant, head),
                    "items": reads.store_items(db, store),
                    "quotas": [{"sku": sku, "quotas": q}
                               for sku, q in reads.store_quotas(db, store).items()],
                    "stock": db.rows("SELECT sku, on_hand FROM stock WHERE store = ? "
                                     "ORDER BY sku", (store,)),
                    "staff": db.rows("SELECT staff, role, pin_hash, active FROM store_staff "
                                     "WHERE store = ? ORDER BY staff", (store,)),
                    "tables": _tables(db, store),
                    "reservations": reservations.for_restore(db, store),
                    **_orders(db, store)}
    chunks = [{"section": "meta", "rows": [meta]}]
    for section, rows in sections.items():
        for start in range(0, len(rows), CHUNK_ROWS):
            chunks.append({"section": section, "rows": rows[start:start + CHUNK_ROWS]})
    return {"id": secrets.token_hex(8), "meta": meta, "chunks": chunks}


def _changes(db: Backend, store: str, tenant: str, head: int) -> list[dict[str, Any]]:
    state = db.rows("SELECT kind AS type, data FROM feed_state WHERE store = ? AND cursor <= ?",
                    (store, head))
    state.sort(key=lambda r: messages.STATE_KINDS.index(r["type"]))
    found = [{"type": r["type"], "data": json.loads(r["data"])} for r in state]
    found += [{"type": t, "data": d} for t, d in changes_for(db, store, tenant)]
    # the store's leases as they stand (what the old box spent of them is in the ledger
    # entries above); a lease both boxes spend becomes HQ's usual overspend conflict
    found += [{"type": "lease.granted", "data": {**row, "ack": False}} for row in db.rows(
        "SELECT lease_id, member, points, value, per_txn_points, per_txn_value, expires_at, "
        "rev FROM leases WHERE store = ? AND revoked = 0 AND expires_at > ? ORDER BY lease_id",
        (store, utc_now_iso()))]
    return found


def _tables(db: Backend, store: str) -> list[dict[str, Any]]:
    """Each table as its ``table.added`` event described it (name, area, seats, kept in
    ``guest_tables``: the raw events are archived past the retention); never its token: HQ
    keeps only the token's hash, the new box gives every table a new one."""
    found = [{"id": r["table_id"], "name": r["name"], "area": r["area"] or "",
              "seats": r["seats"] or 4}
             for r in db.rows("SELECT table_id, name, area, seats FROM guest_tables "
                              "WHERE store = ?", (store,))]
    return sorted(found, key=lambda t: (t["name"], t["id"]))


def _orders(db: Backend, store: str) -> dict[str, list[dict[str, Any]]]:
    since = (datetime.now(UTC) - timedelta(hours=ORDER_HOURS)).isoformat().replace("+00:00",
                                                                                    "Z")
    marks = ", ".join("?" * len(OPEN))
    orders = db.rows(f"SELECT {reads.ORDER_FIELDS} FROM orders WHERE store = ? AND "
                     f"(created_at >= ? OR status IN ({marks})) ORDER BY created_at, id",
                     (store, since, *OPEN))
    lines: dict[str, list[dict[str, Any]]] = {}
    for line in db.rows(f"SELECT {reads.LINE_FIELDS} FROM order_lines WHERE store = ? AND "
                        f"order_id IN (SELECT id FROM orders WHERE store = ? AND "
                        f"(created_at >= ? OR status IN ({marks}))) ORDER BY order_id, line_no",
                        (store, store, since, *OPEN)):
        lines.setdefault(line.pop("order_id"), []).append(line)
    days = sorted({o["day"] for o in orders if o["day"]})
    numbers = db.rows(f"SELECT day, MAX(number) AS last FROM orders WHERE store = ? AND day IN "
                      f"({', '.join('?' * len(days))}) GROUP BY day", (store, *days)) \
        if days else []
    for order in orders:
        order["lines"] = lines.get(order["id"], [])
    return {"orders": orders, "numbers": numbers}
