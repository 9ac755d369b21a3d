"""Birth and death of a store's connection: compare-and-set on ``stores.bd_seq``.

Each statement's ``WHERE bd_seq <= ?`` is the compare: a state older than the stored one (a
stale Will that arrives after the next birth) changes nothing, and several cloud workers
handling the same retained message all reach the same row.
"""

from __future__ import annotations

import json
from typing import Any, Final

from sync import messages

from . import leases
from .backend import Backend, utc_now_iso
from .results import StateResult

# delivery-platform channels: paused while the store is offline (ARCHITECTURE §3, inv. 5)
PLATFORM_CHANNELS: Final = ("meituan", "eleme")

# a new connection (a higher bd_seq) may follow offline work: its leases are settled once
# HQ applied the edge's events up to the birth's outbox_seq (cloud/db/leases.py)
BIRTH: Final = ("UPDATE stores SET online = 1, bd_seq = ?, last_birth = ?, last_seen = ?, "
                "version = ?, edge_cursor = ?, paused_channels = '[]', "
                "settle_seq = CASE WHEN bd_seq < ? THEN ? ELSE settle_seq END "
                "WHERE store = ? AND tenant = ? AND bd_seq <= ?")
# a death at or above the stored bd_seq: that connection, and every one before it, is gone
DEATH: Final = ("UPDATE stores SET online = 0, bd_seq = ?, last_seen = ?, paused_channels = ? "
                "WHERE store = ? AND tenant = ? AND bd_seq <= ?")


def record_state(db: Backend, tenant: str, store: str, payload: bytes) -> StateResult:
    try:
        state = messages.parse_state(payload)
    except messages.MessageError as exc:
        return StateResult(False, False, reason=f"invalid state: {exc}")
    try:
        return _compare_and_set(db, tenant, store, state)
    except db.input_errors as exc:  # e.g. a bd_seq beyond BIGINT
        return StateResult(False, False, reason=f"cannot store the state: {exc}")


def _compare_and_set(db: Backend, tenant: str, store: str,
                     state: dict[str, Any]) -> StateResult:
    bd_seq, now = state["bd_seq"], utc_now_iso()
    with db.write():
        if state["online"]:
            cursor = state["applied_down_cursor"]
            version = state.get("version") if isinstance(state.get("version"), str) else None
            changed = db.execute(BIRTH, (bd_seq, now, now, version, cursor, bd_seq,
                                         state["outbox_seq"], store, tenant, bd_seq)).rowcount
            if changed == 1:
                leases.settle_if_due(db, store, now)
        else:
            paused = json.dumps(list(PLATFORM_CHANNELS))
            changed = db.execute(DEATH, (bd_seq, now, paused, store, tenant, bd_seq)).rowcount
        if changed == 1:
            online = bool(state["online"])
            return StateResult(True, online, state["applied_down_cursor"] if online else None)
        row = db.execute("SELECT tenant, online FROM stores WHERE store = ?", (store,)).fetchone()
    if row is None:
        return StateResult(False, False, reason="unknown store")
    if row[0] != tenant:
        return StateResult(False, False, reason="tenant mismatch")
    return StateResult(False, bool(row[1]), reason="stale bd_seq")
