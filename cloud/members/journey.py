"""One member's journey across channels and stores (ARCHITECTURE §4f): every campaign visit,
order, booking, rating, coupon and points entry HQ holds of the member and of the members
merged into it, as one timeline, newest first."""

from __future__ import annotations

from typing import Any, Final

from cloud.campaigns import attribution
from cloud.db.backend import Backend
from cloud.members.sql import merged_ids, resolve

LIMIT: Final = 500  # entries of each kind


def _ids(db: Backend, survivor: str) -> list[str]:
    """The survivor and every member merged into it (directly or through another)."""
    return merged_ids(db, survivor)


def journey(db: Backend, member: str) -> dict[str, Any] | None:
    survivor = resolve(db, member)
    if db.execute("SELECT 1 FROM members WHERE id = ?", (survivor,)).fetchone() is None:
        return None
    ids = _ids(db, survivor)
    marks = ",".join("?" * len(ids))
    events: list[dict[str, Any]] = []
    for r in db.rows(f"SELECT store, id, number, channel, status, total_cents, created_at "
                     f"FROM orders WHERE member IN ({marks}) ORDER BY created_at DESC "
                     f"LIMIT {LIMIT}", ids):
        events.append({"at": r["created_at"], "kind": "order", "store": r["store"],
                       "channel": r["channel"], "detail": {
                           "order_id": r["id"], "number": r["number"], "status": r["status"],
                           "total_cents": r["total_cents"]}})
    for r in db.rows(f"SELECT store, id, status, at_local, party, source, scene, created_at "
                     f"FROM reservations WHERE member IN ({marks}) ORDER BY created_at DESC "
                     f"LIMIT {LIMIT}", ids):
        events.append({"at": r["created_at"], "kind": "reservation", "store": r["store"],
                       "channel": r["source"], "detail": {
                           "id": r["id"], "for": r["at_local"], "party": r["party"],
                           "status": r["status"], "scene": r["scene"]}})
    for r in db.rows(f"SELECT store, order_id, score, comment, source, at, recovery_coupon "
                     f"FROM feedback WHERE member IN ({marks}) ORDER BY at DESC LIMIT {LIMIT}",
                     ids):
        events.append({"at": r["at"], "kind": "feedback", "store": r["store"],
                       "channel": r["source"], "detail": {
                           "order_id": r["order_id"], "score": r["score"],
                           "comment": r["comment"], "recovery_coupon": r["recovery_coupon"]}})
    for r in db.rows(f"SELECT code, template_id, state, issued_at, redeemed_at, redeemed_store, "
                     f"order_id FROM coupons WHERE member IN ({marks}) ORDER BY issued_at DESC "
                     f"LIMIT {LIMIT}", ids):
        events.append({"at": r["issued_at"], "kind": "coupon_issued", "store": None,
                       "channel": None, "detail": {"code": r["code"],
                                                   "template": r["template_id"]}})
        if r["redeemed_at"]:
            events.append({"at": r["redeemed_at"], "kind": "coupon_redeemed",
                           "store": r["redeemed_store"], "channel": None, "detail": {
                               "code": r["code"], "order_id": r["order_id"]}})
    for r in db.rows(f"SELECT entry_id, account, kind, amount, store, order_id, at FROM ledger "
                     f"WHERE member IN ({marks}) ORDER BY at DESC LIMIT {LIMIT}", ids):
        events.append({"at": r["at"], "kind": f"{r['account']}.{r['kind']}",
                       "store": r["store"], "channel": None, "detail": {
                           "entry_id": r["entry_id"], "amount": r["amount"],
                           "order_id": r["order_id"]}})
    for r in attribution.visits_of(db, ids):
        events.append({"at": r["at"], "kind": "campaign_visit", "store": None,
                       "channel": r["source"], "detail": {
                           "campaign": r["campaign"], "name": r["name"], "visit": r["id"]}})
    events.sort(key=lambda e: (str(e["at"]), e["kind"]), reverse=True)
    stores = sorted({e["store"] for e in events if e["store"]})
    channels = sorted({e["channel"] for e in events if e["kind"] == "order" and e["channel"]})
    return {"member": survivor, "merged": ids[1:], "stores": stores, "channels": channels,
            "events": events}
