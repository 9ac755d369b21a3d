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

import logging
import time
from typing import Any, Final

from cloud.db.backend import Backend, utc_now_iso
from cloud.feed.changes import chunks, where_in
from cloud.feed.results import Ack
from cloud.feedback import sql as feedback
from cloud.guests import sql as guests
from cloud.stores import sql as stores
from cloud.members import events as member_events
from cloud.members import leases
from cloud.platforms import sql as platforms
from cloud.reports import flows_sql as flows
from cloud.reservations import sql as reservations
from cloud.sync import forward
from cloud.sync.project import Projection, write_all
from common import wire
from common.vocabulary import ID_KINDS, MEMBER_SOUGHT
from sync import messages

LOCK_STORE: Final = ("SELECT tenant, applied_seq, epoch, settle_seq FROM stores WHERE store = ?"
                     "{FOR_UPDATE}")
LOCK_BOX: Final = ("SELECT applied_seq FROM store_boxes WHERE store = ? AND epoch = ?"
                   "{FOR_UPDATE}")
# received_on: the UTC day HQ stored the event, the partition key on PostgreSQL and the day
# the events_retention job archives it by (cloud/sync/retention.py)
INSERT_EVENT: Final = ("INSERT INTO events(store, epoch, seq, event_id, type, v, at, hlc, data, "
                       "received_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
ADVANCE_BOX: Final = "UPDATE store_boxes SET applied_seq = ? WHERE store = ? AND epoch = ?"
log = logging.getLogger(__name__)
ADVANCE: Final = ("UPDATE stores SET applied_seq = ?, last_seen = ?, last_event_at = ? "
                  "WHERE store = ?")


class _Outcome(Exception):
    """Leave the transaction (rolled back) with this answer."""

    def __init__(self, ack: Ack) -> None:
        super().__init__(ack.kind)
        self.ack = ack


def _event_row(store: str, epoch: int, event: dict[str, Any], day: str) -> tuple[Any, ...]:
    data = event["data"]
    if event["type"] == MEMBER_SOUGHT:  # a question answered, not a record: no identity hash
        data = sought_record(data)
    return (store, epoch, event["seq"], event["event_id"], event["type"], event["v"], event["at"],
            event["hlc"], wire.dumps(data), day)


def sought_record(data: dict[str, Any]) -> dict[str, Any]:
    """What HQ keeps of a ``member.sought``: the kind of identity a till asked about, without
    its hash (the projection has it from the batch), so no copy of it stays at HQ."""
    identity = data.get("identity")
    kind = identity.get("kind") if isinstance(identity, dict) else None
    return {"identity": {"kind": kind if kind in ID_KINDS else None}}


def apply_batch(db: Backend, tenant: str, store: str, payload: bytes) -> Ack:
    try:
        batch = messages.parse_up(payload, store)
    except messages.MessageError as exc:
        return Ack.rejected(f"invalid batch: {exc}")
    return _apply_parsed(db, tenant, store, batch)


def _apply_parsed(db: Backend, tenant: str, store: str, batch: dict[str, Any]) -> Ack:
    """Apply one batch, already parsed, in its own transaction."""
    try:
        with db.write():
            row = db.execute(LOCK_STORE, (store,)).fetchone()
            now = utc_now_iso()
            ready = _prepare(db, tenant, store, batch, None if row is None else _Locked(*row),
                             now)
            _write(db, [ready], now)
            return _finish(db, ready, now, advance_now=True)
    except _Outcome as outcome:
        return outcome.ack
    except db.input_errors as exc:  # e.g. an event_id already stored under another seq
        return Ack.rejected(f"cannot store the batch: {type(exc).__name__}: {exc}")


def apply_batches(db: Backend, batches: list[tuple[str, str, bytes]]
                  ) -> tuple[list[Ack], bool]:
    """Apply several ``(tenant, store, payload)`` batches in one transaction (group commit):
    one lock statement for all their stores (in store order, as every transaction that
    locks several store rows does), one ``stores`` update and one commit for the group.

    The answers are the ones ``apply_batch`` would give one by one in this order (a store's
    batches are applied in the order given). A batch that cannot be stored, or any database
    error (a deadlock with another worker, say), rolls the group back; the batches are then
    applied one by one, each in its own transaction, so one bad batch costs the others
    nothing but time. Returns the answers, in the order of ``batches``, and whether they
    were applied as one group (False: one by one, after a rollback or for a single batch)."""
    acks: list[Ack | None] = [None] * len(batches)
    parsed: list[tuple[int, str, str, dict[str, Any]]] = []
    for i, (tenant, store, payload) in enumerate(batches):
        try:
            parsed.append((i, tenant, store, messages.parse_up(payload, store)))
        except messages.MessageError as exc:
            acks[i] = Ack.rejected(f"invalid batch: {exc}")
    if len(parsed) <= 1:
        return _one_by_one(db, acks, parsed), False
    try:
        with db.write():
            locked = _lock_stores(db, sorted({store for _, _, store, _ in parsed}))
            now, shared = utc_now_iso(), dict[str, Any]()
            member_events.share_rules(db, list(locked), shared)  # one read for the group
            for wave in _waves(parsed):
                # a wave holds one batch a store: their rows go in one statement a table,
                # then each batch's member events and hooks see its own store's rows as if
                # it had been applied alone
                ready: list[tuple[int, _Ready]] = []
                for i, tenant, store, batch in wave:
                    try:
                        ready.append((i, _prepare(db, tenant, store, batch, locked.get(store),
                                                  now)))
                    except _Outcome as outcome:
                        acks[i] = outcome.ack
                _write(db, [r for _, r in ready], now)
                shared["platform_links"] = platforms.read_links(
                    db, [(r.store, r.fresh) for _, r in ready])
                for i, r in ready:
                    acks[i] = _finish(db, r, now, advance_now=False, shared=shared)
            db.update_many(ADVANCE, [(row.applied, now, row.last_at, store)
                                     for store, row in locked.items() if row.last_at])
    except Exception:  # rolled back: each batch again on its own (a lost database raises there)
        log.info("a group of %d batches was rolled back; applying them one by one",
                 len(parsed), exc_info=True)
        return _one_by_one(db, acks, parsed), False
    return [ack for ack in acks if ack is not None], True


def _one_by_one(db: Backend, acks: list[Ack | None],
                parsed: list[tuple[int, str, str, dict[str, Any]]]) -> list[Ack]:
    """Each parsed batch in its own transaction; the unreadable ones keep their answer."""
    answers = list(acks)
    for i, tenant, store, batch in parsed:
        answers[i] = _apply_parsed(db, tenant, store, batch)
    return [ack for ack in answers if ack is not None]


def _waves(parsed: list[tuple[int, str, str, dict[str, Any]]]
           ) -> list[list[tuple[int, str, str, dict[str, Any]]]]:
    """Split the batches, in order, into runs in which no store comes twice."""
    waves: list[list[tuple[int, str, str, dict[str, Any]]]] = [[]]
    seen: set[str] = set()
    for item in parsed:
        if item[2] in seen:
            waves.append([])
            seen = set()
        waves[-1].append(item)
        seen.add(item[2])
    return waves


def _lock_stores(db: Backend, stores: list[str]) -> dict[str, _Locked]:
    found: dict[str, _Locked] = {}
    for chunk in chunks(stores):
        sql = (f"SELECT store, tenant, applied_seq, epoch, settle_seq FROM stores "
               f"WHERE {where_in(chunk)} ORDER BY store{{FOR_UPDATE}}")
        for store, *rest in db.execute(sql, chunk).fetchall():
            found[store] = _Locked(*rest)
    return found


class _Locked:
    """A store's row as the apply transaction locked it (and as its batches moved it)."""

    __slots__ = ("tenant", "applied", "epoch", "settle_seq", "last_at")

    def __init__(self, tenant: str, applied: int, epoch: int, settle_seq: int | None = None
                 ) -> None:
        self.tenant, self.applied, self.epoch = tenant, int(applied), int(epoch)
        self.settle_seq = settle_seq
        self.last_at: str | None = None  # the newest applied event's time, once one is


class _Ready:
    """A batch checked against its store's row, its fresh events projected, nothing written."""

    __slots__ = ("store", "row", "fresh", "projection", "old", "answer", "last", "epoch")

    def __init__(self, store: str, row: _Locked, fresh: list[dict[str, Any]],
                 projection: Projection, old: bool, answer: dict[str, Any], last: int,
                 epoch: int) -> None:
        self.store, self.row, self.fresh, self.projection = store, row, fresh, projection
        self.old, self.answer, self.last, self.epoch = old, answer, last, epoch


def _prepare(db: Backend, tenant: str, store: str, batch: dict[str, Any], row: _Locked | None,
             now: str) -> _Ready:
    """Check one parsed batch against its store's locked row; raises ``_Outcome`` (and
    writes nothing) when it is not applied."""
    first, last, events, epoch = (batch["first_seq"], batch["last_seq"], batch["events"],
                                  batch["epoch"])
    if row is None:
        raise _Outcome(Ack.rejected("unknown store"))
    if row.tenant != tenant:
        raise _Outcome(Ack.rejected("tenant mismatch"))
    if epoch > row.epoch:
        raise _Outcome(Ack.rejected(f"unknown epoch {epoch} (the store's is {row.epoch})"))
    old = epoch < row.epoch
    applied = row.applied if not old else _box_applied(db, store, epoch)
    answer = {"epoch": epoch, "superseded": old}
    if last <= applied:
        raise _Outcome(Ack("duplicate", applied_seq=applied, **answer))
    if first > applied + 1:
        raise _Outcome(Ack("gap", applied_seq=applied, resend_from=applied + 1, **answer))
    fresh = events[applied + 1 - first:]
    projection = Projection(store, now, superseded=old)
    for event in fresh:
        projection.add(event)
    if not old:
        row.applied, row.last_at = last, fresh[-1]["at"]
    return _Ready(store, row, fresh, projection, old, answer, last, epoch)


def _write(db: Backend, ready: list[_Ready], now: str) -> None:
    """The events and projection rows of batches of distinct stores: a statement a table."""
    db.copy_many(INSERT_EVENT, [_event_row(r.store, r.epoch, e, now[:10])
                                for r in ready for e in r.fresh])
    write_all(db, [r.projection for r in ready])


def _finish(db: Backend, r: _Ready, now: str, *, advance_now: bool,
            shared: dict[str, Any] | None = None) -> Ack:
    """What follows a batch's rows: its member events, the hooks, the store's row (now, or
    by the caller for its whole group: ``advance_now`` False)."""
    store, fresh, last = r.store, r.fresh, r.last
    r.projection.project_members(db, r.row.tenant, shared)
    if any(e["type"] in platforms.HOOKED for e in fresh):  # status callbacks
        platforms.on_events(db, store, fresh, now, int(time.time() * 1000),
                            None if shared is None else shared.get("platform_links"))
    if any(e["type"] in guests.HOOKED for e in fresh):  # relayed guest orders
        guests.on_events(db, store, fresh, now)
    if any(e["type"] in feedback.HOOKED for e in fresh):  # ratings on the LAN
        feedback.on_events(db, store, fresh)
    if any(e["type"] in flows.HOOKED for e in fresh):  # the probe's day totals
        flows.on_events(db, store, fresh)
    booked: dict[str, int] = {}
    if any(e["type"] in reservations.HOOKED for e in fresh):  # bookings, leases, queue
        booked = reservations.on_events(db, store, fresh, now)
    if r.old:
        db.execute(ADVANCE_BOX, (last, store, r.epoch))
        pushed = forward.stock(db, store, f"box{r.epoch}:{last}", r.projection.stock)
        pushed = {s: max(c, booked.get(s, 0)) for s, c in {**booked, **pushed}.items()}
    else:
        if any(e["type"] in stores.HOOKED for e in fresh):  # the store's last backup
            stores.on_events(db, store, fresh)
        if advance_now or r.row.settle_seq is not None:
            db.execute(ADVANCE, (last, now, fresh[-1]["at"], store))
            # a catch-up after a reconnect is done (settle_seq is set by a birth, which
            # waits for the store's row this transaction holds)
            if r.row.settle_seq is not None and leases.settle_if_due(db, store, now):
                r.row.settle_seq = None
        pushed = booked  # a lease given back: the store frees the tables
    return Ack("applied", applied_seq=last, events_applied=len(fresh), feed=pushed,
               **r.answer)


def _box_applied(db: Backend, store: str, epoch: int) -> int:
    row = db.execute(LOCK_BOX, (store, epoch)).fetchone()
    if row is None:
        raise _Outcome(Ack.rejected(f"store {store} never had a box of epoch {epoch}"))
    return int(row[0])
