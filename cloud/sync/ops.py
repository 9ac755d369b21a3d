"""``CloudDb``'s sync operations: exactly-once apply of a store's batch, births and deaths,
presence, and reading and pruning a store's change feed (docs/sync-protocol.md)."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from cloud.db.backend import Backend
from cloud.feed import changes, fanout
from cloud.feed.changes import SNAPSHOT_AFTER, merged
from cloud.feed.results import Ack, Feed, StateResult
from cloud.sync import apply, state


class SyncOps:
    _db: Backend
    _lock: threading.RLock

    def apply_batch(self, tenant: str, store: str, payload: bytes) -> Ack:
        """Apply one ``up`` payload; never raises for bad input (``Ack.kind == "rejected"``)."""
        with self._lock:
            ack = apply.apply_batch(self._db, tenant, store, payload)
            if ack.kind != "applied":
                return ack
            return dataclasses.replace(ack, feed=merged(fanout.drain(self._db), ack.feed))

    def apply_batches(self, batches: list[tuple[str, str, bytes]]
                      ) -> tuple[list[Ack], dict[str, int], bool]:
        """Apply several ``(tenant, store, payload)`` batches in one transaction where it can
        (``apply.apply_batches``); their answers (``feed`` left out), the feed cursors to
        push for all of them, and whether they went as one group."""
        with self._lock:
            acks, grouped = apply.apply_batches(self._db, batches)
            forwarded: dict[str, int] = {}
            for ack in acks:
                forwarded = merged(forwarded, ack.feed)
            if not any(ack.kind == "applied" for ack in acks):
                return acks, forwarded, grouped
            feed = merged(fanout.drain(self._db), forwarded)
            return [dataclasses.replace(a, feed={}) if a.feed else a for a in acks], feed, grouped

    def record_state(self, tenant: str, store: str, payload: bytes,
                     retained: bool = False) -> StateResult:
        """A birth or death; ``retained``: from the broker's retained store, not live."""
        with self._lock:
            result = state.record_state(self._db, tenant, store, payload, retained)
            if not result.accepted or not result.online:
                return result
            return dataclasses.replace(result, feed=merged(fanout.drain(self._db), result.feed))

    def presence(self) -> list[dict[str, Any]]:
        """``[{store, tenant, online, bd_seq, applied_seq, keepalive_s}]``, every store."""
        with self._lock:
            return state.presence(self._db)

    def lapse(self, tenant: str, store: str, bd_seq: int, since: str) -> bool:
        """Mark a store offline (as a death) that has not confirmed its presence since
        ``since``; True if it was (cloud/sync/state.py)."""
        with self._lock:
            return state.lapse(self._db, tenant, store, bd_seq, since)

    def changes_since(self, store: str, cursor: int, limit: int = SNAPSHOT_AFTER) -> Feed:
        """Changes after ``cursor``, or a snapshot when it is too old (raises UnknownStore)."""
        with self._lock:
            return changes.changes_since(self._db, store, cursor, limit)

    def prune_changes(self, keep: int = SNAPSHOT_AFTER) -> int:
        """Delete changes each store confirmed, keeping its last ``keep``; how many."""
        with self._lock:
            return changes.prune(self._db, keep)
