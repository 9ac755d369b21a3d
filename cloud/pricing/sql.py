"""HQ's price rules: stored, sent to their stores as ``price_rule`` changes (a state kind: the
latest per rule id, restated by snapshots; a delete is a tombstone ``{"id", "deleted": true}``),
and the pairs of rules that overlap (clashes)."""

from __future__ import annotations

import json
from itertools import combinations
from typing import Any, Final

from cloud.db.backend import Backend, utc_now_iso
from cloud.feed.changes import append_to_stores, compact_json, known_stores
from common.errors import NotFound
from common.price_rules import check_window, describe, overlap, weekly_spans

KIND: Final = "price_rule"


def list_rules(db: Backend) -> list[dict[str, Any]]:
    rows = db.execute("SELECT id, data, stores, updated_at FROM price_rules ORDER BY id")
    return [{"id": r[0], **json.loads(r[1]), "stores": json.loads(r[2]) if r[2] else None,
             "updated_at": r[3]} for r in rows.fetchall()]


def _stores_of(db: Backend, rule_id: str) -> tuple[bool, list[str] | None]:
    row = db.execute("SELECT stores FROM price_rules WHERE id = ?", (rule_id,)).fetchone()
    if row is None:
        return False, None
    return True, json.loads(row[0]) if row[0] else None


def _tombstone(db: Backend, rule_id: str, stores: list[str] | None) -> None:
    """Queue the rule's delete for ``stores`` (None: all); new stores are not sent it."""
    append_to_stores(db, stores, KIND, rule_id, {"id": rule_id, "deleted": True})
    db.execute("DELETE FROM hq_catalog WHERE kind = ? AND key = ?", (KIND, rule_id))


def put_rule(db: Backend, rule_id: str, body: dict[str, Any], stores: list[str] | None) -> None:
    """Store the rule and queue it for ``stores`` (None: every store, now and later); stores
    it was sent to before and no longer targets are queued its delete. ``fanout.drain``
    appends both after the commit, in chunks of stores: no store row is locked here."""
    check_window(body)
    targets = [] if stores is None else known_stores(db, stores)  # unknown: 404, no write
    found, before = _stores_of(db, rule_id)
    dropped = sorted(set(_at_hq(db, before)) - set(targets)) if found and stores else []
    db.execute("INSERT INTO price_rules(id, data, stores, updated_at) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (id) DO UPDATE SET data = excluded.data, stores = excluded.stores, "
               "updated_at = excluded.updated_at",
               (rule_id, compact_json(body),
                None if stores is None else compact_json(sorted(set(stores))), utc_now_iso()))
    if dropped:
        _tombstone(db, rule_id, dropped)
    if stores is not None:  # no longer every store's: stores added later do not get it
        db.execute("DELETE FROM hq_catalog WHERE kind = ? AND key = ?", (KIND, rule_id))
    append_to_stores(db, stores, KIND, rule_id, {"id": rule_id, "rule": body})


def delete_rule(db: Backend, rule_id: str) -> None:
    """Delete the rule and queue its delete for the stores it was sent to; 404 when
    unknown."""
    found, stores = _stores_of(db, rule_id)
    if not found:
        raise NotFound("unknown_price_rule", {"id": rule_id})
    db.execute("DELETE FROM price_rules WHERE id = ?", (rule_id,))
    _tombstone(db, rule_id, None if stores is None else _at_hq(db, stores))


def _at_hq(db: Backend, stores: list[str] | None) -> list[str]:
    """Those of ``stores`` (None: every store) HQ still has, sorted; nothing locked."""
    everyone = {r[0] for r in db.execute("SELECT store FROM stores").fetchall()}
    return sorted(everyone if stores is None else everyone & set(stores))


def _common(a: list[str] | None, b: list[str] | None) -> tuple[bool, list[str] | None]:
    """Whether two optional scopes (None: all) meet, and what they share (None: all)."""
    if a is None or b is None:
        shared = b if a is None else a
        return True, shared
    both = sorted(set(a) & set(b))
    return bool(both), both


def clashes(db: Backend) -> list[dict[str, Any]]:
    """Pairs of rules that can price one item at one moment: a common SKU or category, common
    channels and stores, and overlapping windows (shown as shop-local day and hours). The
    store settles each by the documented precedence; HQ shows them to be looked at."""
    rules = list_rules(db)
    found = []
    for a, b in combinations(rules, 2):
        skus = sorted(set(a.get("skus") or ()) & set(b.get("skus") or ()))
        categories = sorted(set(a.get("categories") or ()) & set(b.get("categories") or ()))
        if not skus and not categories:
            continue
        meet_c, channels = _common(a.get("channels"), b.get("channels"))
        meet_s, stores = _common(a["stores"], b["stores"])
        shared = overlap(weekly_spans(a), weekly_spans(b))
        if meet_c and meet_s and shared:
            found.append({"rules": [a["id"], b["id"]], "skus": skus, "categories": categories,
                          "channels": channels, "stores": stores,
                          "overlap": [describe(s) for s in shared]})
    return found
