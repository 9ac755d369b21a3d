"""Coupons at HQ (docs/members.md, "Coupons"): templates, issuing, the first redemption by
HLC, double redemptions as conflicts, cross-store campaigns, exclusive-group clashes."""

from __future__ import annotations

import json
import secrets
from itertools import combinations
from typing import Any, Final

from cloud.db.backend import Backend, utc_now_iso
from cloud.feed.changes import (append_to_stores, chunks, compact_json, lock_stores, queue_for,
                                where_in)
from cloud.feed.fanout import queue
from cloud.members.sql import Ctx, MemberError, conflict, resolve

CODE_DIGITS: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
COUPON_FIELDS: Final = ("code", "template_id", "member", "stores", "issued_at", "state",
                        "redeemed_at", "redeemed_store", "order_id")


class UnknownTemplate(LookupError):
    pass


def new_code() -> str:
    return "".join(secrets.choice(CODE_DIGITS) for _ in range(12))


def put_template(db: Backend, template: dict[str, Any]) -> None:
    """Store a template and queue ``coupon.template`` for its stores (all when none listed);
    ``fanout.drain`` appends it after the commit."""
    db.execute("INSERT INTO coupon_templates(template_id, data, updated_at) VALUES (?, ?, ?) "
               "ON CONFLICT (template_id) DO UPDATE SET data = excluded.data, "
               "updated_at = excluded.updated_at",
               (template["template_id"], compact_json(template), utc_now_iso()))
    append_to_stores(db, template.get("stores"), "coupon.template", template["template_id"],
                     template)


def get_template(db: Backend, template_id: str) -> dict[str, Any]:
    row = db.execute("SELECT data FROM coupon_templates WHERE template_id = ?",
                     (template_id,)).fetchone()
    if row is None:
        raise UnknownTemplate(template_id)
    return dict(json.loads(row[0]))


def _insert(db: Backend, coupon: dict[str, Any]) -> None:
    stores = coupon["stores"]
    row = {**coupon, "stores": None if stores is None else compact_json(stores)}
    db.execute(f"INSERT INTO coupons({', '.join(COUPON_FIELDS)}) "
               f"VALUES ({', '.join('?' * len(COUPON_FIELDS))})",
               [row[f] for f in COUPON_FIELDS])


def make(template_id: str, member: str | None, stores: list[str] | None,
         now: str) -> dict[str, Any]:
    return {"code": new_code(), "template_id": template_id, "member": member, "stores": stores,
            "issued_at": now, "state": "issued", "redeemed_at": None, "redeemed_store": None,
            "order_id": None}


def issue(db: Backend, template_id: str, members: list[str], count: int,
          stores: list[str] | None, now: str) -> list[dict[str, Any]]:
    """Coupons for ``members`` (survivors) and ``count`` bare codes, each queued as
    ``coupon.issued`` for the stores in scope (``stores``, else the template's, else all):
    ``fanout.drain`` appends them after the commit, in chunks of stores. UnknownStore,
    nothing written, when the scope names a store HQ lacks."""
    template = get_template(db, template_id)
    scope = stores if stores is not None else template.get("stores")
    coupons = [make(template_id, resolve(db, m), scope, now) for m in members]
    coupons += [make(template_id, None, scope, now) for _ in range(count)]
    for coupon in coupons:
        _insert(db, coupon)
    queue_for(db, scope, [("coupon.issued", None, c) for c in coupons])
    return coupons


def get(db: Backend, code: str) -> dict[str, Any] | None:
    rows = db.rows(f"SELECT {', '.join(COUPON_FIELDS)}, redeemed_hlc FROM coupons "
                   "WHERE code = ?", (code,))
    if not rows:
        return None
    rows[0]["stores"] = None if rows[0]["stores"] is None else json.loads(rows[0]["stores"])
    return rows[0]


def redeemed(ctx: Ctx, data: dict[str, Any]) -> None:
    """``coupon.redeemed``: the first redemption by HLC wins; another one of the same code is
    a ``coupon_double_redeem`` conflict naming both orders. Stores get HQ's verdict."""
    fields = {}
    for key in ("code", "order_id", "at", "hlc"):
        value = data.get(key)
        if not isinstance(value, str) or not value or len(value) > 200:
            raise MemberError(f"{key} missing or of the wrong type")
        fields[key] = value
    code, store = fields["code"], ctx.store
    member = data.get("member") if isinstance(data.get("member"), str) else None
    inserted = ctx.db.execute(
        "INSERT INTO coupon_redemptions(code, store, order_id, member, at, hlc) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (code, store, fields["order_id"], member, fields["at"], fields["hlc"])).rowcount
    coupon = get(ctx.db, code)
    if not inserted:
        return
    this = {"store": store, "order_id": fields["order_id"], "hlc": fields["hlc"],
            "at": fields["at"]}
    if coupon is None:
        conflict(ctx, "coupon_unknown", {"code": code, "redemption": this})
        return
    if coupon["state"] == "void":
        conflict(ctx, "coupon_void_redeem", {"code": code, "redemption": this})
        return
    if coupon["state"] == "redeemed":
        first = {"store": coupon["redeemed_store"], "order_id": coupon["order_id"],
                 "hlc": coupon["redeemed_hlc"], "at": coupon["redeemed_at"]}
        orders = sorted([first, this], key=lambda r: (r["hlc"] or "", r["store"] or ""))
        conflict(ctx, "coupon_double_redeem", {"code": code, "winner": orders[0],
                                               "orders": orders})
        if orders[0] is first:
            _verdict(ctx, code, first, stores=[store] if store else None)
            return
    ctx.db.execute("UPDATE coupons SET state = 'redeemed', redeemed_at = ?, redeemed_hlc = ?, "
                   "redeemed_store = ?, order_id = ? WHERE code = ?",
                   (fields["at"], fields["hlc"], store, fields["order_id"], code))
    _verdict(ctx, code, this, stores=coupon["stores"])


def _verdict(ctx: Ctx, code: str, winner: dict[str, Any], stores: list[str] | None) -> None:
    queue(ctx.db, ctx.tenant, "coupon.state",
          {"code": code, "state": "redeemed", "redeemed_store": winner["store"],
           "order_id": winner["order_id"]}, stores=stores)


# -- cross-store campaigns ---------------------------------------------------------------
def put_campaign(db: Backend, rule: dict[str, Any]) -> None:
    get_template(db, rule["template_id"])
    lock_stores(db, [rule["from_store"], rule["to_store"]])
    db.execute("INSERT INTO campaign_rules(rule_id, from_store, data, updated_at) "
               "VALUES (?, ?, ?, ?) ON CONFLICT (rule_id) DO UPDATE SET "
               "from_store = excluded.from_store, data = excluded.data, "
               "updated_at = excluded.updated_at",
               (rule["rule_id"], rule["from_store"], compact_json(rule),
                rule.get("updated_at", "")))


def campaign_rules(db: Backend, stores: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The cross-store campaign rules of each of ``stores`` (none: an empty list), in
    rule order: one query a chunk of stores."""
    found: dict[str, list[dict[str, Any]]] = {store: [] for store in stores}
    for part in chunks(stores):
        for store, data in db.execute(f"SELECT from_store, data FROM campaign_rules WHERE "
                                      f"{where_in(part, 'from_store')} ORDER BY rule_id",
                                      part).fetchall():
            found[store].append(json.loads(data))
    return found


def order_placed(ctx: Ctx, rules: list[dict[str, Any]], order: dict[str, Any]) -> None:
    """Issue each qualifying rule's coupon, scoped to its other store, once per order."""
    total, order_id = order.get("total_cents"), order.get("id")
    if not isinstance(total, int) or not isinstance(order_id, str):
        return
    member = order.get("member") if isinstance(order.get("member"), str) else None
    for rule in rules:
        if not rule.get("active", True) or total < rule["min_total_cents"]:
            continue
        coupon = make(rule["template_id"], member and resolve(ctx.db, member),
                      [rule["to_store"]], ctx.now)
        inserted = ctx.db.execute("INSERT INTO campaign_issues(rule_id, store, order_id, code) "
                                  "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                                  (rule["rule_id"], ctx.store, order_id, coupon["code"]))
        if inserted.rowcount:
            send(ctx, coupon)


def send(ctx: Ctx, coupon: dict[str, Any]) -> None:
    """Store ``coupon`` and send it to the stores of its scope (all: None) after the batch's
    transaction commits (``fanout``: a batch never locks other stores' rows)."""
    _insert(ctx.db, coupon)
    queue(ctx.db, ctx.tenant, "coupon.issued", coupon, stores=coupon["stores"])


def grant(ctx: Ctx, template_id: str, member: str) -> str:
    """A coupon of ``template_id`` (its own store scope) for ``member``; its code."""
    coupon = make(template_id, member, get_template(ctx.db, template_id).get("stores"), ctx.now)
    send(ctx, coupon)
    return str(coupon["code"])


# -- clashes -----------------------------------------------------------------------------
def clashes(db: Backend, now: str) -> list[dict[str, Any]]:
    """Pairs of templates, not ended, of one exclusive group, on a common channel, whose
    validity windows overlap."""
    rows = db.execute("SELECT data FROM coupon_templates ORDER BY template_id").fetchall()
    templates = [t for t in (json.loads(r[0]) for r in rows)
                 if t.get("exclusive_group") and t["valid_to"] > now]
    found = []
    for a, b in combinations(templates, 2):
        if a["exclusive_group"] != b["exclusive_group"]:
            continue
        start, end = max(a["valid_from"], b["valid_from"]), min(a["valid_to"], b["valid_to"])
        if start >= end:
            continue
        channels_a, channels_b = a.get("channels"), b.get("channels")
        if channels_a is None or channels_b is None:
            common = channels_a if channels_b is None else channels_b
        else:
            common = sorted(set(channels_a) & set(channels_b))
            if not common:
                continue
        found.append({"exclusive_group": a["exclusive_group"],
                      "templates": [a["template_id"], b["template_id"]],
                      "channels": common, "window": {"from": start, "to": end}})
    return found
