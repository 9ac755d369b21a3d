"""Exactly-once apply of one upstream batch (docs/sync-protocol.md, "Cloud apply").

One write transaction per batch. The store's row is locked first (``SELECT … FOR UPDATE`` on
PostgreSQL; ``BEGIN IMMEDIATE`` holds SQLite's write lock), so N workers applying batches of
the same store concurrently serialise on it and each sees the ``applied_seq`` the previous
one committed. Only events after ``applied_seq`` are inserted and projected.

Events are ``(store, epoch, seq)`` (ARCHITECTURE §3, invariant 7): a batch of the store's
current box advances ``stores.applied_seq``; a batch of a box that was replaced
(``storenode-cloud store replace``) is applied the same way against that box's own
``store_boxes.applied_seq`` (its sales are real), answered ``superseded``, and what it did to
stock reaches the new box through the change feed (cloud/sync/forward.py).
"""

from __future__ import annotations

import json
import time
from typing import Any, Final

from cloud.db.backend import Backend, utc_now_iso
from cloud.feed.results import Ack
from cloud.feedback import sql as feedback
from cloud.guests import sql as guests
from cloud.stores import sql as stores
from cloud.members import leases
from cloud.platforms import sql as platforms
from cloud.reports import flows_sql as flows
from cloud.reservations import sql as reservations
from cloud.sync import forward
from cloud.sync.project import Projection
from sync import messages

LOCK_STORE: Final = ("SELECT tenant, applied_seq, epoch FROM stores WHERE store = ?"
                     "{FOR_UPDATE}")
LOCK_BOX: Final = ("SELECT applied_seq FROM store_boxes WHERE store = ? AND epoch = ?"
                   "{FOR_UPDATE}")
# received_on: the UTC day HQ stored the event, the partition key on PostgreSQL and the day
# the events_retention job archives it by (cloud/sync/retention.py)
INSERT_EVENT: Final = ("INSERT INTO events(store, epoch, seq, event_id, type, v, at, hlc, data, "
                       "received_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
ADVANCE_BOX: Final = "UPDATE store_boxes SET applied_seq = ? WHERE store = ? AND epoch = ?"
ADVANCE: Final = ("UPDATE stores SET applied_seq = ?, last_seen = ?, last_event_at = ? "
                  "WHERE store = ?")


class _Outcome(Exception):
    """Leave the transaction (rolled back) with this answer."""

    def __init__(self, ack: Ack) -> None:
        super().__init__(ack.kind)
        self.ack = ack


def _event_row(store: str, epoch: int, event: dict[str, Any], day: str) -> tuple[Any, ...]:
    return (store, epoch, event["seq"], event["event_id"], event["type"], event["v"], event["at"],
            event["hlc"], json.dumps(event["data"], ensure_ascii=False, separators=(",", ":")),
            day)


def apply_batch(db: Backend, tenant: str, store: str, payload: bytes) -> Ack:
    try:
        batch = messages.parse_up(payload, store)
    except messages.MessageError as exc:
        return Ack.rejected(f"invalid batch: {exc}")
    first, last, events, epoch = (batch["first_seq"], batch["last_seq"], batch["events"],
                                  batch["epoch"])
    pushed: dict[str, int] = {}
    try:
        with db.write():
            row = db.execute(LOCK_STORE, (store,)).fetchone()
            if row is None:
                raise _Outcome(Ack.rejected("unknown store"))
            if row[0] != tenant:
                raise _Outcome(Ack.rejected("tenant mismatch"))
            current = int(row[2])
            if epoch > current:
                raise _Outcome(Ack.rejected(f"unknown epoch {epoch} (the store's is {current})"))
            old = epoch < current
            applied = int(row[1]) if not old else _box_applied(db, store, epoch)
            answer = {"epoch": epoch, "superseded": old}
            if last <= applied:
                raise _Outcome(Ack("duplicate", applied_seq=applied, **answer))
            if first > applied + 1:
                raise _Outcome(Ack("gap", applied_seq=applied, resend_from=applied + 1,
                                   **answer))
            fresh = events[applied + 1 - first:]
            now = utc_now_iso()
            db.insert_many(INSERT_EVENT, [_event_row(store, epoch, e, now[:10]) for e in fresh])
            projection = Projection(store, now, superseded=old)
            for event in fresh:
                projection.add(event)
            projection.write(db)
            if any(e["type"] in platforms.HOOKED for e in fresh):  # status callbacks
                platforms.on_events(db, store, fresh, now, int(time.time() * 1000))
            if any(e["type"] in guests.HOOKED for e in fresh):  # relayed guest orders
                guests.on_events(db, store, fresh, now)
            if any(e["type"] in feedback.HOOKED for e in fresh):  # ratings on the LAN
                feedback.on_events(db, store, fresh)
            if any(e["type"] in flows.HOOKED for e in fresh):  # the probe's day totals
                flows.on_events(db, store, fresh)
            booked: dict[str, int] = {}
            if any(e["type"] in reservations.HOOKED for e in fresh):  # bookings, leases, queue
                booked = reservations.on_events(db, store, fresh, now)
            if old:
                db.execute(ADVANCE_BOX, (last, store, epoch))
                pushed = forward.stock(db, store, f"box{epoch}:{last}", projection.stock)
                pushed = {s: max(c, booked.get(s, 0)) for s, c in {**booked, **pushed}.items()}
            else:
                if any(e["type"] in stores.HOOKED for e in fresh):  # the store's last backup
                    stores.on_events(db, store, fresh)
                db.execute(ADVANCE, (last, now, fresh[-1]["at"], store))
                leases.settle_if_due(db, store, now)  # a catch-up after a reconnect is done
                pushed = booked  # a lease given back: the store frees the tables
    except _Outcome as outcome:
        return outcome.ack
    except db.input_errors as exc:  # e.g. an event_id already stored under another seq
        return Ack.rejected(f"cannot store the batch: {type(exc).__name__}: {exc}")
    return Ack("applied", applied_seq=last, events_applied=len(fresh), feed=pushed, **answer)


def _box_applied(db: Backend, store: str, epoch: int) -> int:
    row = db.execute(LOCK_BOX, (store, epoch)).fetchone()
    if row is None:
        raise _Outcome(Ack.rejected(f"store {store} never had a box of epoch {epoch}"))
    return int(row[0])
