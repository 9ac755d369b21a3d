"""A store's boxes (ARCHITECTURE §4e): replacing a dead box with a new epoch, and revoking a
superseded box's broker user once it has drained.

``replace`` is authorised at HQ (the cloud CLI on HQ's data dir), never by whoever holds the
old box's password. Each box has its own broker user: the first is the store id (as ever),
box N > 1 is ``<store>@e<N>`` with client id ``edge-<store>@e<N>`` (``@`` is never in a
store id), so the old and the new box of a store never knock each other off the broker.
"""

from __future__ import annotations

import json
from typing import Any, Final

from cloud.db.backend import Backend, utc_now_iso
from cloud.errors import UnknownStore
from common.vocabulary import PLATFORM_CHANNELS

LOCK: Final = "SELECT epoch, applied_seq FROM stores WHERE store = ?{FOR_UPDATE}"
KEEP_BOX: Final = ("INSERT INTO store_boxes(store, epoch, username, applied_seq, created_at, "
                   "superseded_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (store, epoch) DO "
                   "UPDATE SET applied_seq = excluded.applied_seq, "
                   "superseded_at = excluded.superseded_at")
# the new box starts its own seqs and connections; offline (platform channels paused) until
# its first birth
NEXT_EPOCH: Final = ("UPDATE stores SET epoch = ?, applied_seq = 0, bd_seq = 0, online = 0, "
                     "settle_seq = NULL, paused_channels = ? WHERE store = ?")


def box_username(store: str, epoch: int) -> str:
    return store if epoch == 1 else f"{store}@e{epoch}"


def replace(db: Backend, store: str) -> dict[str, Any]:
    """Move ``store`` on to a new epoch; ``{store, tenant, epoch, username, restored_seq}``
    (``restored_seq``: what HQ applied of the box it supersedes)."""
    now = utc_now_iso()
    with db.write():
        row = db.execute(LOCK, (store,)).fetchone()
        if row is None:
            raise UnknownStore(store)
        old, applied = int(row[0]), int(row[1])
        new = old + 1
        db.execute(KEEP_BOX, (store, old, box_username(store, old), applied, now, now))
        db.execute(KEEP_BOX, (store, new, box_username(store, new), 0, now, None))
        db.execute(NEXT_EPOCH, (new, json.dumps(list(PLATFORM_CHANNELS)), store))
        (tenant,) = db.execute("SELECT tenant FROM stores WHERE store = ?", (store,)).fetchone()
    return {"store": store, "tenant": tenant, "epoch": new,
            "username": box_username(store, new), "restored_seq": applied}


def boxes(db: Backend, store: str) -> list[dict[str, Any]]:
    """The store's boxes, oldest first (only stores that were ever replaced have rows)."""
    with db.read():
        return db.rows("SELECT epoch, username, applied_seq, created_at, superseded_at, "
                       "revoked_at FROM store_boxes WHERE store = ? ORDER BY epoch", (store,))


def revoke(db: Backend, store: str, epoch: int) -> str:
    """Mark a superseded box revoked; its broker username (ValueError for the current box or
    one the store never had)."""
    with db.write():
        row = db.execute(LOCK, (store,)).fetchone()
        if row is None:
            raise UnknownStore(store)
        if epoch >= int(row[0]):
            raise ValueError(f"epoch {epoch} is the store's current box or later: only a "
                             "superseded box can be revoked")
        found = db.execute("SELECT username FROM store_boxes WHERE store = ? AND epoch = ?",
                           (store, epoch)).fetchone()
        if found is None:
            raise ValueError(f"store {store} never had a box of epoch {epoch}")
        db.execute("UPDATE store_boxes SET revoked_at = COALESCE(revoked_at, ?) "
                   "WHERE store = ? AND epoch = ?", (utc_now_iso(), store, epoch))
        return str(found[0])

