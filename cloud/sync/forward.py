"""What a superseded box's sales did to stock, sent to the store's current box through the
change feed (ARCHITECTURE §4e): HQ counted them when it applied the old box's events; the new
box has not. ``stock.adjust`` with reason ``old_box`` moves the new box's stock, and HQ's
projection leaves the movement it reports out (counted once)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cloud.db.backend import Backend, utc_now_iso
from cloud.feed import changes as feed
from cloud.sync.project import STATEMENTS, Projection
from common.vocabulary import OLD_BOX


def stock(db: Backend, store: str, ref: str, moved: dict[str, int]) -> dict[str, int]:
    """A ``stock.adjust`` per SKU of ``moved`` (non-zero), or as many as ``adjust_parts``
    makes of a move past what the edge takes in one, each with the ref ``<ref>:<a hash of
    the SKU>`` (``:<n>`` after it for the n-th part from the second: unique per batch, the
    box applies each once); ``{store: first new cursor}`` to push, or nothing. A move past
    ``ADJUST_PARTS`` of them is not sent: a ``stock_forward_out_of_range`` conflict says so.
    ``ref`` is ``box<epoch>:<last seq of the batch>`` (a box restored from a backup skips
    those its backup holds) or ``box<epoch>:c<seq>`` (a catch-up)."""
    adjusts: list[dict[str, Any]] = []
    for sku, delta in sorted(moved.items()):
        parts = feed.adjust_parts(delta) if delta else []
        if parts is None:
            detail = feed.compact_json({"sku": sku, "delta": delta, "ref": ref})
            db.execute(STATEMENTS["conflicts"],
                       (store, "stock_forward_out_of_range", detail, utc_now_iso()))
            continue
        own = f"{ref}:{hashlib.sha1(sku.encode()).hexdigest()[:20]}"
        adjusts += [{"sku": sku, "delta": part, "reason": OLD_BOX,
                     "ref": f"{own}:{n}" if n else own} for n, part in enumerate(parts)]
    if not adjusts:
        return {}
    feed.lock_stores(db, [store])
    head = feed.advance(db, [store], by=len(adjusts))[store]
    first = head - len(adjusts) + 1
    feed.record(db, [(store, first + i, feed.STOCK_ADJUST, None, data)
                     for i, data in enumerate(adjusts)])
    return {store: first}


def catch_up(db: Backend, store: str, epoch: int, after: int) -> dict[str, int]:
    """The current box of ``store`` was restored from a backup of box ``epoch`` holding its
    events up to ``after`` (its birth's ``prior``): once, send it the stock box ``epoch``'s
    later events moved (they reached HQ before the box died); ``{store: first cursor}`` to
    push, or nothing (in the birth's transaction)."""
    claimed = db.execute("UPDATE store_boxes SET caught_up_after = ? WHERE store = ? AND "
                         "epoch = ? AND caught_up_after IS NULL", (after, store, epoch)).rowcount
    if claimed != 1:
        return {}
    projection = Projection(store, utc_now_iso())
    last = after
    for row in db.rows("SELECT seq, event_id, type, data FROM events WHERE store = ? AND "
                       "epoch = ? AND seq > ? AND type IN ('order.placed', 'stock.moved') "
                       "ORDER BY seq", (store, epoch, after)):
        last = int(row["seq"])
        projection.add({"seq": last, "event_id": row["event_id"], "type": row["type"],
                        "data": json.loads(row["data"])})
    return stock(db, store, f"box{epoch}:c{last}", projection.stock)
