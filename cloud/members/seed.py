"""What a store added later (or a box restored) needs of its tenant's members
(docs/members.md): the members it has (``member.upsert``), their ledger entries
(``ledger.entry``) and every coupon in its scope (``coupon.issued``, then ``coupon.state`` when
redeemed), appended to its feed right after the tenant key and what HQ sent to every store.
With the ``tenant`` fan-out that is every surviving member of the tenant, so its balances
equal every other store's; with ``followers`` (follow.py) the members it follows: none for a
new store, which asks HQ for a member when a till meets one (``member.sought``)."""

from __future__ import annotations

import json
from typing import Any

from cloud.db.backend import Backend
from cloud.feed.changes import advance, record
from cloud.members import follow
from cloud.members.coupons import COUPON_FIELDS
from cloud.members.follow import ENTRY_FIELDS, upsert_data

def changes_for(db: Backend, store: str, tenant: str) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if follow.mode(db) == follow.FOLLOWERS:
        followed = [r[0] for r in db.execute(
            "SELECT f.member FROM member_followers f JOIN members m ON m.id = f.member "
            "WHERE f.store = ? AND m.tenant = ? AND m.merged_into IS NULL ORDER BY f.member",
            (store, tenant)).fetchall()]
        found += follow.member_changes(db, followed)
    else:
        for (member,) in db.execute("SELECT id FROM members WHERE tenant = ? AND merged_into "
                                    "IS NULL ORDER BY id", (tenant,)).fetchall():
            found.append(("member.upsert", upsert_data(db, member)))
        for entry in db.rows(f"SELECT {', '.join(ENTRY_FIELDS)} FROM ledger WHERE tenant = ? "
                             "ORDER BY hlc, entry_id", (tenant,)):
            found.append(("ledger.entry", entry))
    coupons = db.rows(f"SELECT {', '.join(f'c.{f}' for f in COUPON_FIELDS)} FROM coupons c "
                      "LEFT JOIN members m ON m.id = c.member "
                      "WHERE m.tenant = ? OR c.member IS NULL ORDER BY c.code", (tenant,))
    for coupon in coupons:
        scope = None if coupon["stores"] is None else json.loads(coupon["stores"])
        if scope is not None and store not in scope:
            continue
        issued = {**coupon, "stores": scope, "state": "issued", "redeemed_at": None,
                  "redeemed_store": None, "order_id": None}
        found.append(("coupon.issued", issued))
        if coupon["state"] != "issued":
            found.append(("coupon.state", {k: coupon[k] for k in (
                "code", "state", "redeemed_store", "order_id")}))
    return found


def seed_store(db: Backend, store: str, tenant: str) -> None:
    """Append the tenant's member state to a new store's feed (its row is locked)."""
    found = changes_for(db, store, tenant)
    if not found:
        return
    last = advance(db, [store], by=len(found))[store]
    first = last - len(found) + 1
    record(db, [(store, first + i, t, None, d) for i, (t, d) in enumerate(found)])
