"""SQL of feedback after the visit (cloud/feedback): one rating an order, the recovery coupon
a low score may earn, the store's alert, and the NPS report.

A rating reaches HQ two ways: given on the shop's Wi-Fi (the store's ``feedback.given``
event, projected in the apply of its batch) or given to HQ on mobile data (``rate``: one
write transaction under the store's row lock, answered by a ``feedback.rated`` change, so the
store shows the alert and refuses a second rating on the LAN). The first rating of an order
wins either way. A score at or below the recovery rule's ``below`` earns the order's member
a coupon of the rule's template, usable at that store (the store's row is the only one
locked: no lock order to get wrong), at most ``per_member_month`` a calendar month.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from cloud.db.backend import Backend, utc_now_iso
from cloud.db.schema import UPSERT_SETTING
from cloud.feed.changes import advance, record
from cloud.guests.sql import store_timezone
from cloud.members import coupons
from common.feedback import ALERT_BELOW, kind, nps

HOOKED: Final = frozenset({"feedback.given"})
RULE_KEY: Final = "feedback.recovery"
DAYPARTS: Final = (("breakfast", 0), ("lunch", 10), ("afternoon", 14), ("dinner", 17),
                   ("late", 21))  # (name, from hour), shop-local


class Refused(Exception):
    def __init__(self, status: int, reason: str, detail: Any = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.detail = status, reason, detail


def daypart(hour: int) -> str:
    return [name for name, start in DAYPARTS if hour >= start][-1]


def recovery_rule(db: Backend) -> dict[str, Any] | None:
    row = db.execute("SELECT value FROM hq_settings WHERE key = ?", (RULE_KEY,)).fetchone()
    return None if row is None else dict(json.loads(row[0]))


def put_recovery_rule(db: Backend, rule: dict[str, Any] | None) -> None:
    with db.write():
        if rule is None:
            db.execute("DELETE FROM hq_settings WHERE key = ?", (RULE_KEY,))
            return
        coupons.get_template(db, rule["template"])  # UnknownTemplate: 404
        db.execute(UPSERT_SETTING, (RULE_KEY, json.dumps(rule)))


def _insert(db: Backend, store: str, order_id: str, body: dict[str, Any], source: str,
            at: str) -> bool:
    """The order's rating, if it has none; the order's member from HQ's orders."""
    local = datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(
        store_timezone(db, store))
    member = db.execute("SELECT member FROM orders WHERE store = ? AND id = ?",
                        (store, order_id)).fetchone()
    inserted = db.execute(
        "INSERT INTO feedback(store, order_id, score, comment, member, source, day, local_hour, "
        "at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (store, order_id) DO NOTHING",
        (store, order_id, int(body["score"]), str(body.get("comment") or ""),
         member[0] if member else None, source, local.date().isoformat(), local.hour,
         at)).rowcount
    if not inserted:
        return False
    db.insert_many("INSERT INTO feedback_dishes(store, order_id, sku, vote) VALUES (?, ?, ?, ?) "
                   "ON CONFLICT DO NOTHING",
                   [(store, order_id, str(sku)[:64], 1 if vote == 1 else -1)
                    for sku, vote in (body.get("dishes") or {}).items()])
    return True


def _recover(db: Backend, store: str, order_id: str, score: int, at: str) -> str | None:
    """The recovery coupon a low score earns the order's member, within the monthly cap."""
    rule = recovery_rule(db)
    if rule is None or score > int(rule["below"]):
        return None
    row = db.execute("SELECT member FROM feedback WHERE store = ? AND order_id = ?",
                     (store, order_id)).fetchone()
    if row is None or row[0] is None:
        return None  # an order without a member (or not at HQ yet): nobody to give it to
    member, month = str(row[0]), at[:7]
    issued = db.execute("SELECT issued FROM recovery_coupons WHERE member = ? AND month = ?",
                        (member, month)).fetchone()
    if issued is not None and int(issued[0]) >= int(rule["per_member_month"]):
        return None
    try:
        made = coupons.issue(db, rule["template"], [member], 0, [store], at)
    except coupons.UnknownTemplate:
        return None  # the template went away since the rule was set
    db.execute("INSERT INTO recovery_coupons(member, month, issued) VALUES (?, ?, 1) "
               "ON CONFLICT (member, month) DO UPDATE SET "
               "issued = recovery_coupons.issued + 1", (member, month))
    code = str(made[0]["code"])
    db.execute("UPDATE feedback SET recovery_coupon = ? WHERE store = ? AND order_id = ?",
               (code, store, order_id))
    return code


def rate(db: Backend, store: str, order_id: str, body: dict[str, Any]
         ) -> tuple[dict[str, Any], int]:
    """A rating given to HQ: ``(answer, the store's feed cursor)``; raises ``Refused``."""
    at = utc_now_iso()
    with db.write():
        if db.execute("SELECT 1 FROM stores WHERE store = ?{FOR_UPDATE}",
                      (store,)).fetchone() is None:
            raise Refused(404, "unknown_order")
        if not _insert(db, store, order_id, body, "hq", at):
            raise Refused(409, "already_rated", {"order_id": order_id})
        code = _recover(db, store, order_id, int(body["score"]), at)
        number = db.execute("SELECT number FROM orders WHERE store = ? AND id = ?",
                            (store, order_id)).fetchone()
        cursor = advance(db, [store])[store]
        record(db, [(store, cursor, "feedback.rated", None, {
            "order_id": order_id, "score": body["score"], "comment": body.get("comment") or "",
            "number": number[0] if number else None,
            "alert": int(body["score"]) <= ALERT_BELOW})])
    answer = {"order_id": order_id, "score": body["score"], "status": "rated"}
    if code:
        answer["recovery_coupon"] = code
    return answer, cursor


def on_events(db: Backend, store: str, events: list[dict[str, Any]]) -> None:
    """The store's ``feedback.given`` events (inside the apply of its batch)."""
    for event in events:
        data = event["data"]
        if event["type"] not in HOOKED or not isinstance(data, dict):
            continue
        try:
            order_id, score = str(data["order_id"]), int(data["score"])
            if not 0 <= score <= 10:
                continue
            dishes = data.get("dishes")
            body: dict[str, Any] = {"score": score,
                                    "comment": str(data.get("comment") or "")[:2000],
                                    "dishes": dishes if isinstance(dishes, dict) else {}}
            at = str(data.get("at") or event["at"])
            if _insert(db, store, order_id, body, "lan", at):
                _recover(db, store, order_id, score, at)
        except (KeyError, TypeError, ValueError):
            continue  # kept raw in events; the projection skips it


# -- the report -----------------------------------------------------------------------------------
def _tally(rows: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {"promoter": 0, "passive": 0, "detractor": 0}
    for r in rows:
        counts[kind(int(r["score"]))] += int(r["n"])
    responses = sum(counts.values())
    return {"responses": responses, "promoters": counts["promoter"],
            "passives": counts["passive"], "detractors": counts["detractor"],
            "nps": nps(counts["promoter"], counts["detractor"], responses)}


def _where(prefix: str, stores: list[str] | None, since: str, until: str
           ) -> tuple[str, list[str]]:
    where, params = f"{prefix}day >= ? AND {prefix}day <= ?", [since, until]
    if stores:
        where += f" AND {prefix}store IN ({','.join('?' * len(stores))})"
        params += stores
    return where, params


def report(db: Backend, stores: list[str] | None, since: str, until: str,
           comments: int = 50) -> dict[str, Any]:
    """NPS overall, by store, by day part and by dish (thumbs and the NPS of the orders that
    rated it), the dishes that drag it down, and the latest comments (as given: pages escape
    them)."""
    where, params = _where("", stores, since, until)
    rows = db.rows(f"SELECT store, local_hour, score, count(*) AS n FROM feedback "
                   f"WHERE {where} GROUP BY store, local_hour, score", params)
    doc = _tally(rows)
    by_store: dict[str, list[dict[str, Any]]] = {}
    by_part: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_store.setdefault(r["store"], []).append(r)
        by_part.setdefault(daypart(int(r["local_hour"])), []).append(r)
    dish_where, _ = _where("f.", stores, since, until)
    dishes = db.rows(
        f"SELECT d.sku, sum(CASE WHEN d.vote > 0 THEN 1 ELSE 0 END) AS up, "
        f"sum(CASE WHEN d.vote < 0 THEN 1 ELSE 0 END) AS down, "
        f"sum(CASE WHEN f.score >= 9 THEN 1 ELSE 0 END) AS promoters, "
        f"sum(CASE WHEN f.score <= 6 THEN 1 ELSE 0 END) AS detractors, count(*) AS responses "
        f"FROM feedback_dishes d JOIN feedback f ON f.store = d.store AND "
        f"f.order_id = d.order_id WHERE {dish_where} GROUP BY d.sku ORDER BY d.sku", params)
    by_dish = [{"sku": d["sku"], "up": int(d["up"]), "down": int(d["down"]),
                "responses": int(d["responses"]),
                "nps": nps(int(d["promoters"]), int(d["detractors"]), int(d["responses"]))}
               for d in dishes]
    doc.update(
        {"from": since, "to": until,
         "by_store": {s: _tally(r) for s, r in sorted(by_store.items())},
         "by_daypart": {p: _tally(by_part[p]) for p, _ in DAYPARTS if p in by_part},
         "by_dish": by_dish,
         "dragging": [d["sku"] for d in sorted(by_dish, key=lambda d: (d["up"] - d["down"],
                                                                     d["sku"]))
                      if d["down"] > d["up"]],
         "comments": db.rows(f"SELECT store, order_id, score, comment, at FROM feedback "
                             f"WHERE {where} AND comment <> '' ORDER BY at DESC LIMIT "
                             f"{int(comments)}", params)})
    return doc
