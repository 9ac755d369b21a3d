"""Earning rules (docs/members.md, "Earning rules"): points per yuan per channel and per store,
managed at HQ and sent to each store as the state change ``loyalty.rules``.

The rules document (``hq_settings`` key ``loyalty.rules``)::

    {"default": 1, "channels": {"mini_program": 2},
     "stores": {"s1": {"multiplier": 1.5, "channels": {"meituan": 0.5}}}}

Each store gets the tenant-wide part and its own entry only (``stores: {its id: entry}``), so a
store knows nothing of the others' rules. The rate the edge applies for (store, channel) is
``domain.members.earn_rate``: the store's own rate for the channel when it has one, else
(the channel's rate, else ``default``) × the store's ``multiplier`` (1 without one).
"""

from __future__ import annotations

import json
import threading
from typing import Any, Final

from cloud.db.backend import Backend, utc_now_iso
from cloud.db.schema import UPSERT_SETTING
from cloud.errors import UnknownStore
from cloud.feed import fanout
from cloud.feed.changes import (EVERY_TENANT, UPSERT_HQ, advance, compact_json, lock_stores,
                                queue, record)

RULES_KEY: Final = "loyalty.rules"  # hq_settings key and change type
CHANGE_KEY: Final = "rules"  # the feed_state / hq_catalog key: one rules change per store
EMPTY: Final[dict[str, Any]] = {"default": 0, "channels": {}, "stores": {}}


def get_rules(db: Backend) -> dict[str, Any] | None:
    """The document; before it was kept (rules sent to every store by an older HQ), the
    tenant-wide rules every store was sent, with no store entries."""
    row = db.execute("SELECT value FROM hq_settings WHERE key = ?", (RULES_KEY,)).fetchone()
    if row is not None:
        return dict(json.loads(row[0]))
    row = db.execute("SELECT data FROM hq_catalog WHERE kind = ? AND key = ?",
                     (RULES_KEY, CHANGE_KEY)).fetchone()
    return None if row is None else {"channels": {}, **json.loads(row[0]), "stores": {}}


def for_store(rules: dict[str, Any], store: str) -> dict[str, Any]:
    """What ``store`` is sent: the tenant-wide rates and its own entry, if it has one."""
    found = {"default": rules["default"], "channels": rules["channels"]}
    entry = rules["stores"].get(store)
    return found if entry is None else {**found, "stores": {store: entry}}


def _send(db: Backend, rules: dict[str, Any], stores: list[str]) -> dict[str, int]:
    """Store ``rules`` and append each of ``stores`` (locked) its ``loyalty.rules``."""
    db.execute(UPSERT_SETTING, (RULES_KEY, compact_json(rules)))
    cursors = advance(db, stores)
    record(db, [(s, c, RULES_KEY, CHANGE_KEY, for_store(rules, s)) for s, c in cursors.items()])
    return cursors


def put_rules(db: Backend, rules: dict[str, Any]) -> None:
    """Replace the whole document; every store gets its rules (stores added later: the
    tenant-wide part). Queued (``changes.queue``): the tenant-wide part for the stores
    without an entry, each store's own version for the others, appended by ``fanout.drain``
    after the commit in chunks of stores (a store added meanwhile is seeded from HQ's
    catalog). UnknownStore, nothing written, when ``stores`` names one HQ lacks."""
    others = None  # every store, also those added before the drain
    if rules["stores"]:
        everyone = {r[0] for r in db.execute("SELECT store FROM stores").fetchall()}
        unknown = sorted(set(rules["stores"]) - everyone)
        if unknown:
            raise UnknownStore(", ".join(unknown))
        others = sorted(everyone - set(rules["stores"]))
    db.execute(UPSERT_SETTING, (RULES_KEY, compact_json(rules)))
    base = {"default": rules["default"], "channels": rules["channels"]}
    db.execute(UPSERT_HQ, (RULES_KEY, CHANGE_KEY, compact_json(base), utc_now_iso()))
    queue(db, EVERY_TENANT, RULES_KEY, base, stores=others, key=CHANGE_KEY)
    for store in sorted(rules["stores"]):
        queue(db, EVERY_TENANT, RULES_KEY, for_store(rules, store), stores=[store],
              key=CHANGE_KEY)


def put_store_rule(db: Backend, store: str, entry: dict[str, Any] | None) -> dict[str, int]:
    """Set (None: remove) one store's entry; only that store is sent new rules."""
    lock_stores(db, [store])  # UnknownStore
    rules = get_rules(db) or dict(EMPTY)
    stores = {k: v for k, v in rules["stores"].items() if k != store}
    if entry is not None:
        stores[store] = entry
    return _send(db, {**rules, "stores": stores}, [store])


class LoyaltyOps:
    """``CloudDb``'s earning-rule operations; each answers {store: its new cursor}."""

    _db: Backend
    _lock: threading.RLock

    def loyalty_rules(self) -> dict[str, Any] | None:
        with self._lock, self._db.read():
            return get_rules(self._db)

    def put_loyalty_rules(self, rules: dict[str, Any]) -> dict[str, int]:
        with self._lock:
            with self._db.write():
                put_rules(self._db, rules)
            return fanout.drain(self._db)

    def put_store_loyalty_rule(self, store: str, entry: dict[str, Any] | None) -> dict[str, int]:
        with self._lock, self._db.write():
            return put_store_rule(self._db, store, entry)
