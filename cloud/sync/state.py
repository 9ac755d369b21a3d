"""Birth and death of a store's connection: compare-and-set on ``stores.bd_seq``.

Each statement's ``WHERE bd_seq <= ?`` is the compare: a state older than the stored one (a
stale Will that arrives after the next birth) changes nothing, and several cloud workers
handling the same retained message all reach the same row.

Presence HQ has not seen confirmed is not trusted (docs/sync-protocol.md, "Presence after a
reconnect"): a birth the broker hands out from its retained store on HQ's subscription is
ignored when it states the edge's keepalive (that edge answers HQ's rebirth request if it is
alive); once 1.5 x that keepalive has passed since HQ's (re)connect, a store still online
without a birth recorded since then is marked offline by :func:`lapse`, through the same
statement as a death (platform channels paused).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Final

from cloud.db.backend import Backend, utc_now_iso
from cloud.feed.results import StateResult
from cloud.members import leases
from cloud.sync import forward
from common.vocabulary import PLATFORM_CHANNELS
from sync import messages

# delivery-platform channels: paused while the store is offline (ARCHITECTURE §3, inv. 5)

# a new connection (a higher bd_seq) may follow offline work: its leases are settled once
# HQ applied the edge's events up to the birth's outbox_seq (cloud/members/leases.py)
BIRTH: Final = ("UPDATE stores SET online = 1, bd_seq = ?, last_birth = ?, last_seen = ?, "
                "version = ?, keepalive_s = ?, edge_cursor = ?, paused_channels = '[]', "
                "settle_seq = CASE WHEN bd_seq < ? THEN ? ELSE settle_seq END "
                "WHERE store = ? AND tenant = ? AND bd_seq <= ? "
                "RETURNING tenant, applied_seq, settle_seq")
# a death at or above the stored bd_seq: that connection, and every one before it, is gone
# (last_seen NULL: kept as it was)
DEATH: Final = ("UPDATE stores SET online = 0, bd_seq = ?, last_seen = COALESCE(?, last_seen), "
                "paused_channels = ? WHERE store = ? AND tenant = ? AND bd_seq <= ?")
# ... or, for lapse(), that connection has not confirmed itself since HQ's (re)connect
UNCONFIRMED: Final = (" AND online = 1 AND keepalive_s IS NOT NULL "
                      "AND (last_birth IS NULL OR last_birth < ?)")


def record_state(db: Backend, tenant: str, store: str, payload: bytes,
                 retained: bool = False) -> StateResult:
    """``retained``: the broker sent it from its retained store (HQ's new subscription)."""
    try:
        state = messages.parse_state(payload)
    except messages.MessageError as exc:
        return StateResult(False, False, reason=f"invalid state: {exc}")
    if retained and state["online"] and "keepalive" in state:
        with db.read():
            return _refused(db, tenant, store, "retained birth: presence not confirmed")
    try:
        return _compare_and_set(db, tenant, store, state)
    except db.input_errors as exc:  # e.g. a bd_seq beyond BIGINT
        return StateResult(False, False, reason=f"cannot store the state: {exc}")


def _compare_and_set(db: Backend, tenant: str, store: str,
                     state: dict[str, Any]) -> StateResult:
    bd_seq, now = state["bd_seq"], utc_now_iso()
    caught_up: dict[str, int] = {}
    with db.write():
        row = db.execute("SELECT epoch FROM stores WHERE store = ? AND tenant = ?",
                         (store, tenant)).fetchone()
        if row is not None and state["epoch"] != int(row[0]):
            return _other_box(db, tenant, store, state["epoch"], int(row[0]))
        if state["online"]:
            cursor = state["applied_down_cursor"]
            version = state.get("version") if isinstance(state.get("version"), str) else None
            born = db.execute(BIRTH, (bd_seq, now, now, version, state.get("keepalive"),
                                      cursor, bd_seq, state["outbox_seq"], store, tenant,
                                      bd_seq)).fetchall()  # one row (the store's) or none
            changed = len(born)
            if born:
                leases.settle_if_due(db, store, now, born[0])
                prior = state.get("prior")
                if prior is not None and prior["epoch"] < state["epoch"]:
                    # restored from a backup of box prior.epoch: the stock that box moved
                    # after the backup (cloud/sync/forward.py), once
                    caught_up = forward.catch_up(db, store, prior["epoch"], prior["last_seq"])
        else:
            changed = _go_offline(db, tenant, store, bd_seq, now)
        if changed == 1:
            online = bool(state["online"])
            return StateResult(True, online, state["applied_down_cursor"] if online else None,
                               feed=caught_up)
        return _refused(db, tenant, store, "stale bd_seq")


def _other_box(db: Backend, tenant: str, store: str, epoch: int,
               current: int) -> StateResult:
    """The birth or death of a box that is not the store's current one: it changes nothing
    of the store's presence. A superseded box is told so, with what HQ applied of its events
    (it drains the rest); a box from the future is refused."""
    if epoch > current:
        return _refused(db, tenant, store, f"unknown epoch {epoch}")
    row = db.execute("SELECT applied_seq FROM store_boxes WHERE store = ? AND epoch = ?",
                     (store, epoch)).fetchone()
    if row is None:
        return _refused(db, tenant, store, f"unknown epoch {epoch}")
    refused = _refused(db, tenant, store, "superseded box")
    return dataclasses.replace(refused, ack=messages.superseded_ack(epoch, int(row[0])))


def _go_offline(db: Backend, tenant: str, store: str, bd_seq: int, seen: str | None,
                unconfirmed_since: str | None = None) -> int:
    """A death's update (platform channels paused); rows changed."""
    paused = json.dumps(list(PLATFORM_CHANNELS))
    params: tuple[Any, ...] = (bd_seq, seen, paused, store, tenant, bd_seq)
    if unconfirmed_since is None:
        return int(db.execute(DEATH, params).rowcount)
    return int(db.execute(DEATH + UNCONFIRMED, (*params, unconfirmed_since)).rowcount)


def _refused(db: Backend, tenant: str, store: str, reason: str) -> StateResult:
    row = db.execute("SELECT tenant, online FROM stores WHERE store = ?", (store,)).fetchone()
    if row is None:
        return StateResult(False, False, reason="unknown store")
    if row[0] != tenant:
        return StateResult(False, False, reason="tenant mismatch")
    return StateResult(False, bool(row[1]), reason=reason)


def presence(db: Backend) -> list[dict[str, Any]]:
    """Every store as HQ's (re)connect needs it: who to ask to re-announce (all of them,
    with HQ's ``applied_seq`` to resend after) and whose presence to time out."""
    return db.rows("SELECT store, tenant, online, bd_seq, applied_seq, keepalive_s, epoch "
                   "FROM stores "
                   "ORDER BY store")


def lapse(db: Backend, tenant: str, store: str, bd_seq: int, since: str) -> bool:
    """Mark ``store`` offline, as its death would, if its connection ``bd_seq`` is still the
    one HQ knows, states a keepalive and has published no birth HQ recorded since ``since``
    (HQ's (re)connect, before its rebirth request). True if it was."""
    with db.write():
        return _go_offline(db, tenant, store, bd_seq, None, since) == 1
