"""Projection of the member events of one applied batch (docs/members.md, wire shapes).

``Projection`` (project.py) hands over the batch's events of the types in ``HANDLERS``,
in seq order, after its own statements; they run one by one in the batch's transaction
with the tenant's member lock held. An event whose data does not have the documented shape
is stored anyway and becomes an ``invalid_event`` conflict, like any other event.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from cloud.campaigns import attribution
from cloud.db.backend import Backend
from cloud.feed.fanout import queue
from cloud.members import consent, coupons, follow, leases, ledger, referrals
from cloud.members import sql as members
from cloud.members.sql import Ctx, MemberError
from common.vocabulary import MEMBER_SOUGHT as SOUGHT
from common.vocabulary import PLATFORM_CHANNELS


def _member(data: dict[str, Any]) -> str:
    value = data.get("member")
    if not isinstance(value, str) or not value or len(value) > 100:
        raise MemberError("member missing or of the wrong type")
    return value


def member_created(ctx: Ctx, data: dict[str, Any]) -> None:
    member, identities = data.get("member"), data.get("identities", [])
    if not isinstance(member, dict) or not isinstance(identities, list):
        raise MemberError("member or identities of the wrong type")
    merged = members.create(ctx, member, identities)
    if "referral" in data:
        referrals.joined(ctx, str(member["id"]), data["referral"], merged)


def identity_added(ctx: Ctx, data: dict[str, Any]) -> None:
    members.add_identity(ctx, _member(data), members.identity(data.get("identity")))
    _follow(ctx, _member(data))


def profile_changed(ctx: Ctx, data: dict[str, Any]) -> None:
    fields = data.get("fields")
    if not isinstance(fields, dict):
        raise MemberError("fields of the wrong type")
    members.change_profile(ctx, _member(data), fields, members.hlc(data))
    _follow(ctx, _member(data))


def _follow(ctx: Ctx, member: str) -> None:
    if ctx.fanout == follow.FOLLOWERS:  # resolved only then: the tenant fan-out reads nothing
        follow.follow(ctx, members.resolve(ctx.db, member))


def lookup(ctx: Ctx, data: dict[str, Any]) -> None:
    member = members.require(ctx, _member(data))
    if not follow.follow(ctx, member):  # a store that looks a member up follows it
        follow.seen(ctx, member)
    _lease(ctx, member)


def sought(ctx: Ctx, data: dict[str, Any]) -> None:
    """A till did not know an identity: when a member of the tenant has it, the store follows
    the member and is sent its state (again, if it followed it already: it asked), and an
    online store gets its lease as after a lookup. Nobody has it: ``member.unknown``, so the
    till stops waiting."""
    ident = members.identity(data.get("identity"))
    if ctx.store is None:
        return
    member = members.holder_of(ctx, ident["idhash"])
    if member is None:
        queue(ctx.db, ctx.tenant, "member.unknown", {"idhash": ident["idhash"]},
              stores=[ctx.store])
        return
    if not follow.follow(ctx, member):
        follow.welcome(ctx, member, ctx.store)
        follow.seen(ctx, member)
    _lease(ctx, member)


def _lease(ctx: Ctx, member: str) -> None:
    row = ctx.db.execute("SELECT online FROM stores WHERE store = ?", (ctx.store,)).fetchone()
    if row is not None and row[0]:
        leases.rebalance(ctx, member, requester=ctx.store)


def viewed(ctx: Ctx, data: dict[str, Any]) -> None:
    skus = data.get("skus")
    if not isinstance(skus, list) or not all(isinstance(s, str) for s in skus):
        raise MemberError("skus must be a list of strings")
    ctx.db.execute("INSERT INTO member_views(tenant, member, store, skus, at) "
                   "VALUES (?, ?, ?, ?, ?)",
                   (ctx.tenant, members.require(ctx, _member(data)), ctx.store,
                    json.dumps(skus[:100]), ctx.now))


def ledger_entry(ctx: Ctx, data: dict[str, Any]) -> None:
    ledger.add_entry(ctx, ledger.parse_entry(data))


def coupon_redeemed(ctx: Ctx, data: dict[str, Any]) -> None:
    coupons.redeemed(ctx, data)


HANDLERS: Final[dict[str, Callable[[Ctx, dict[str, Any]], None]]] = {
    "member.created": member_created,
    "member.identity_added": identity_added,
    "member.profile_changed": profile_changed,
    "member.lookup": lookup,
    SOUGHT: sought,
    "member.viewed": viewed,
    "ledger.entry": ledger_entry,
    "coupon.redeemed": coupon_redeemed,
    "lease.acked": leases.acked,
    consent.CONSENT_EVENT: consent.changed_at_store,
}
ORDER_PLACED: Final = "order.placed"
ORDER_PAID: Final = "order.paid"
_ORDERS: Final = (ORDER_PLACED, ORDER_PAID)  # need no member lock


def project(db: Backend, store: str, events: list[dict[str, Any]], now: str,
            superseded: bool = False, *, tenant: str | None = None,
            shared: dict[str, Any] | None = None) -> None:
    """Project ``events`` (member types and ``order.placed``) of ``store``'s batch
    (``superseded``: from a box that was replaced). ``tenant``: the store's, when the caller
    has read it; ``shared``: a dict the batches applied in one transaction share, to read
    the store's coupon rules and the referral rule once for all of them."""
    if tenant is None:
        (tenant,) = db.execute("SELECT tenant FROM stores WHERE store = ?", (store,)).fetchone()
    shared = {} if shared is None else shared
    ctx = Ctx(db, tenant, store, now, superseded, fanout_mode=shared.get("fanout"))
    orders = [e["data"].get("order") for e in events if e["type"] == ORDER_PLACED]
    orders = [o for o in orders if isinstance(o, dict)]
    if any(e["type"] not in _ORDERS for e in events) or any(
            isinstance(o.get("member"), str) for o in orders):
        members.lock_tenant(db, tenant)
    rules: list[dict[str, Any]] = []
    if orders:
        key = f"rules:{store}"
        if key not in shared:
            share_rules(db, [store], shared)
        rules = shared[key]
    reward = None
    # the referral rule rewards a paid order: an order.paid, or a platform order (paid when
    # placed) with a member; most batches have neither, and read nothing for it
    if any(e["type"] == ORDER_PAID for e in events) or any(
            o.get("channel") in PLATFORM_CHANNELS and isinstance(o.get("member"), str)
            for o in orders):
        if "reward" not in shared:
            shared["reward"] = referrals.rule(db)
        reward = shared["reward"]
    _each(ctx, events, rules, reward)
    shared["fanout"] = ctx.fanout_mode  # read at most once for the batches of a transaction


def _each(ctx: Ctx, events: list[dict[str, Any]], rules: list[dict[str, Any]],
          reward: Any) -> None:
    for event in events:
        if event["type"] == ORDER_PLACED:
            order = event["data"].get("order")
            _order(ctx, rules, order)
            if isinstance(order, dict):
                referrals.order_paid(ctx, reward, order.get("id"), placed=order)
            continue
        if event["type"] == ORDER_PAID:
            referrals.order_paid(ctx, reward, event["data"].get("order_id"))
            continue
        try:
            HANDLERS[event["type"]](ctx, event["data"])
        except MemberError as exc:
            members.conflict(ctx, "invalid_event", {
                "seq": event["seq"], "event_id": event["event_id"], "type": event["type"],
                "error": str(exc)})


def share_rules(db: Backend, stores: list[str], shared: dict[str, Any]) -> None:
    """Read the coupon rules of ``stores`` into ``shared`` (what ``project`` reads them
    from): a group of batches reads those of all its stores in one query."""
    for store, rules in coupons.campaign_rules(db, stores).items():
        shared[f"rules:{store}"] = rules


def _order(ctx: Ctx, rules: list[dict[str, Any]], order: Any) -> None:
    """A late order naming a merged member lands on the survivor; coupon campaigns may issue;
    a marketing campaign the member visited may be attributed the order (last touch)."""
    if not isinstance(order, dict):
        return
    member = order.get("member")
    if isinstance(member, str) and isinstance(order.get("id"), str):
        survivor = members.resolve(ctx.db, member)
        if survivor != member:
            ctx.db.execute("UPDATE orders SET member = ? WHERE store = ? AND id = ?",
                           (survivor, ctx.store, order["id"]))
        attribution.attribute(ctx.db, ctx.store, order["id"], survivor, order.get("created_at"))
    if rules:
        coupons.order_placed(ctx, rules, order)
