"""HQ member, coupon and loyalty routes (docs/members.md). Writes are hq_admin only (the
route table's role rule); what they change reaches the stores through their change feeds,
pushed at once to online stores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from .. import keys
from ..db import CloudDb
from ..db.coupons import UnknownTemplate
from ..db.member_ops import IdempotencyReused, InsufficientBalance, UnknownMember
from .errors import ApiError
from .member_schemas import (
    CAMPAIGN,
    EXPIRE,
    IDHASH,
    ISSUE,
    LEDGER_POST,
    LOYALTY_RULES,
    MEMBER_ID,
    STORE_RULE,
    TEMPLATE,
    idempotency_key,
    ledger_kind,
    path_member,
    path_name,
    window,
)
from .schemas import path_id, read_body


async def _call(request: web.Request, operation: Callable[..., Any], *args: Any) -> Any:
    """``request.app[keys.DB].call(operation, …)``, its member errors as API errors."""
    try:
        return await request.app[keys.DB].call(operation, *args)
    except UnknownMember as exc:
        raise ApiError(404, "unknown_member", str(exc)) from exc
    except UnknownTemplate as exc:
        raise ApiError(404, "unknown_template", str(exc)) from exc
    except IdempotencyReused as exc:
        raise ApiError(422, "idempotency_key_reused",
                       "this Idempotency-Key was used with another request") from exc
    except InsufficientBalance as exc:
        raise ApiError(409, "insufficient_balance", exc.detail) from exc


async def _pushed(request: web.Request, cursors: dict[str, int]) -> dict[str, Any]:
    link = request.app[keys.LINK]
    sent = await link.push(cursors) if link is not None and cursors else 0
    return {"stores": cursors, "messages_sent": sent}


async def find_members(request: web.Request) -> web.Response:
    phone_hash, member_id = request.query.get("phone_hash"), request.query.get("id")
    if phone_hash is None and member_id is None:
        raise ApiError(400, "bad_query", {"phone_hash": "or id is required"})
    if phone_hash is not None and not IDHASH.match(phone_hash):
        raise ApiError(400, "bad_query", {"phone_hash": "64 lowercase hex digits"})
    if member_id is not None and not MEMBER_ID.match(member_id):
        raise ApiError(400, "bad_query", {"id": "a member id (ULID)"})
    return web.json_response(await _call(request, CloudDb.find_members, phone_hash, member_id))


async def get_member(request: web.Request) -> web.Response:
    member = await _call(request, CloudDb.member_detail, path_member(request))
    if member is None:
        raise ApiError(404, "unknown_member", request.match_info["member"])
    return web.json_response(member)


async def post_ledger(request: web.Request) -> web.Response:
    member = path_member(request)
    key = idempotency_key(request, required=True)
    body = await read_body(request, LEDGER_POST)
    ledger_kind(body)
    replayed, entry, cursors = await _call(request, CloudDb.post_ledger, member, body, key)
    return web.json_response({"entry": entry, **await _pushed(request, cursors)},
                             status=200 if replayed else 201)


async def expire_points(request: web.Request) -> web.Response:
    body = await read_body(request, EXPIRE)
    entries, cursors = await _call(request, CloudDb.expire_points, body["months"])
    return web.json_response({"entries": entries, **await _pushed(request, cursors)})


async def put_template(request: web.Request) -> web.Response:
    template_id = path_name(request, "template_id")
    body = window(await read_body(request, TEMPLATE))
    template = {"template_id": template_id, "min_spend": None, "sku": None, "channels": None,
                "stores": None, "exclusive_group": None, **body}
    cursors = await _call(request, CloudDb.put_coupon_template, template)
    return web.json_response({"template": template, **await _pushed(request, cursors)})


async def issue_coupons(request: web.Request) -> web.Response:
    key = idempotency_key(request, required=False)
    body = await read_body(request, ISSUE)
    members, count = body.get("members", []), body.get("count", 0)
    if not members and not count:
        raise ApiError(422, "invalid_body", [{"path": "members", "message":
                                              "give members or a count above 0"}])
    replayed, coupons, cursors = await _call(request, CloudDb.issue_coupons, body["template_id"],
                                             members, count, body.get("store_scope"), key)
    return web.json_response({"coupons": coupons, **await _pushed(request, cursors)},
                             status=200 if replayed else 201)


async def put_campaign(request: web.Request) -> web.Response:
    rule = {"rule_id": path_name(request, "rule_id"), "active": True,
            **await read_body(request, CAMPAIGN)}
    if rule["from_store"] == rule["to_store"]:
        raise ApiError(422, "invalid_body", [{"path": "to_store",
                                              "message": "must differ from from_store"}])
    await _call(request, CloudDb.put_campaign, rule)
    return web.json_response(rule)


async def clashes(request: web.Request) -> web.Response:
    return web.json_response(await _call(request, CloudDb.promotion_clashes))


async def get_loyalty_rules(request: web.Request) -> web.Response:
    return web.json_response({"rules": await _call(request, CloudDb.loyalty_rules)})


async def put_loyalty_rules(request: web.Request) -> web.Response:
    if "stores" in request.query:
        raise ApiError(400, "bad_query", {"stores": "a store's own rules are `stores` in the "
                                          "body or PUT /api/v1/loyalty/rules/stores/{store}"})
    rules = {"channels": {}, "stores": {}, **await read_body(request, LOYALTY_RULES)}
    cursors = await _call(request, CloudDb.put_loyalty_rules, rules)
    return web.json_response({"rules": rules, **await _pushed(request, cursors)})


async def put_store_loyalty_rule(request: web.Request) -> web.Response:
    store = path_id(request)
    entry = await read_body(request, STORE_RULE)
    cursors = await _call(request, CloudDb.put_store_loyalty_rule, store, entry)
    return web.json_response({"store": store, "rule": entry, **await _pushed(request, cursors)})


async def delete_store_loyalty_rule(request: web.Request) -> web.Response:
    store = path_id(request)
    cursors = await _call(request, CloudDb.put_store_loyalty_rule, store, None)
    return web.json_response({"store": store, "rule": None, **await _pushed(request, cursors)})


