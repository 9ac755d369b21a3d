"""HQ member, coupon and loyalty routes (docs/members.md). Writes are hq_admin only (the
route table's role rule); what they change reaches the stores through their change feeds,
pushed at once to online stores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from cloud import keys
from cloud.api import paging
from cloud.api.errors import ApiError
from cloud.api.schemas import path_id, read_body
from cloud.members.coupons import UnknownTemplate
from cloud.members.erasure import ERASURES
from cloud.members.loyalty import LoyaltyOps
from cloud.members.ops import (
    IdempotencyReused,
    InsufficientBalance,
    MemberOps,
    UnknownMember,
)
from cloud.members.schemas import (
    CAMPAIGN,
    EXPIRE,
    IDEMPOTENCY,
    IDHASH,
    ISSUE,
    LEDGER_POST,
    LOYALTY_RULES,
    MEMBER_ID,
    MEMBERS_QUERY,
    STORE_RULE,
    TEMPLATE,
    idempotency_key,
    ledger_kind,
    path_member,
    path_name,
    window,
)
from common.consent import CONSENTS
from common.http.auth import PRINCIPAL
from common.http.routes import Route


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
    return web.json_response(await _call(request, MemberOps.find_members, phone_hash, member_id))


async def get_member(request: web.Request) -> web.Response:
    member = await _call(request, MemberOps.member_detail, path_member(request))
    if member is None:
        raise ApiError(404, "unknown_member", request.match_info["member"])
    return web.json_response(member)


async def consents(request: web.Request) -> web.Response:
    """GET: the member's consents; PUT: change them first."""
    member = path_member(request)
    body = await read_body(request, CONSENTS) if request.method == "PUT" else None
    found = await _call(request, MemberOps.member_consents, member, body)
    if found is None:
        raise ApiError(404, "unknown_member", request.match_info["member"])
    return web.json_response(found)


async def export_member(request: web.Request) -> web.Response:
    found = await _call(request, MemberOps.member_export, path_member(request))
    if found is None:
        raise ApiError(404, "unknown_member", request.match_info["member"])
    return web.json_response(found, headers={
        "Content-Disposition": f'attachment; filename="member-{found["member"]["id"]}.json"'})


async def erase_member(request: web.Request) -> web.Response:
    who = request[PRINCIPAL]
    done, cursors = await _call(request, MemberOps.erase_member, path_member(request),
                                who.staff)
    if done is None:
        raise ApiError(404, "unknown_member", request.match_info["member"])
    return web.json_response({**done, **await _pushed(request, cursors)})


async def list_erasures(request: web.Request) -> web.Response:
    found = paging.page(request, ERASURES)
    rows = await _call(request, MemberOps.erasures, None, found.after, found.fetch)
    return paging.respond(request, found, rows)


async def get_journey(request: web.Request) -> web.Response:
    found = await _call(request, MemberOps.member_journey, path_member(request))
    if found is None:
        raise ApiError(404, "unknown_member", request.match_info["member"])
    return web.json_response(found)


async def post_ledger(request: web.Request) -> web.Response:
    member = path_member(request)
    key = idempotency_key(request, required=True)
    body = await read_body(request, LEDGER_POST)
    ledger_kind(body)
    replayed, entry, cursors = await _call(request, MemberOps.post_ledger, member, body, key)
    return web.json_response({"entry": entry, **await _pushed(request, cursors)},
                             status=200 if replayed else 201)


async def expire_points(request: web.Request) -> web.Response:
    body = await read_body(request, EXPIRE)
    entries, cursors = await _call(request, MemberOps.expire_points, body["months"])
    return web.json_response({"entries": entries, **await _pushed(request, cursors)})


async def put_template(request: web.Request) -> web.Response:
    template_id = path_name(request, "template_id")
    body = window(await read_body(request, TEMPLATE))
    template = {"template_id": template_id, "min_spend": None, "sku": None, "channels": None,
                "stores": None, "exclusive_group": None, **body}
    cursors = await _call(request, MemberOps.put_coupon_template, template)
    return web.json_response({"template": template, **await _pushed(request, cursors)})


async def issue_coupons(request: web.Request) -> web.Response:
    key = idempotency_key(request, required=False)
    body = await read_body(request, ISSUE)
    members, count = body.get("members", []), body.get("count", 0)
    if not members and not count:
        raise ApiError(422, "invalid_body", [{"path": "members", "message":
                                              "give members or a count above 0"}])
    replayed, coupons, cursors = await _call(request, MemberOps.issue_coupons, body["template_id"],
                                             members, count, body.get("store_scope"), key)
    return web.json_response({"coupons": coupons, **await _pushed(request, cursors)},
                             status=200 if replayed else 201)


async def put_campaign(request: web.Request) -> web.Response:
    rule = {"rule_id": path_name(request, "rule_id"), "active": True,
            **await read_body(request, CAMPAIGN)}
    if rule["from_store"] == rule["to_store"]:
        raise ApiError(422, "invalid_body", [{"path": "to_store",
                                              "message": "must differ from from_store"}])
    await _call(request, MemberOps.put_campaign, rule)
    return web.json_response(rule)


async def clashes(request: web.Request) -> web.Response:
    return web.json_response(await _call(request, MemberOps.promotion_clashes))


async def get_loyalty_rules(request: web.Request) -> web.Response:
    return web.json_response({"rules": await _call(request, LoyaltyOps.loyalty_rules)})


async def put_loyalty_rules(request: web.Request) -> web.Response:
    if "stores" in request.query:
        raise ApiError(400, "bad_query", {"stores": "a store's own rules are `stores` in the "
                                          "body or PUT /api/v1/loyalty/rules/stores/{store}"})
    rules = {"channels": {}, "stores": {}, **await read_body(request, LOYALTY_RULES)}
    cursors = await _call(request, LoyaltyOps.put_loyalty_rules, rules)
    return web.json_response({"rules": rules, **await _pushed(request, cursors)})


async def put_store_loyalty_rule(request: web.Request) -> web.Response:
    store = path_id(request)
    entry = await read_body(request, STORE_RULE)
    cursors = await _call(request, LoyaltyOps.put_store_loyalty_rule, store, entry)
    return web.json_response({"store": store, "rule": entry, **await _pushed(request, cursors)})


async def delete_store_loyalty_rule(request: web.Request) -> web.Response:
    store = path_id(request)
    cursors = await _call(request, LoyaltyOps.put_store_loyalty_rule, store, None)
    return web.json_response({"store": store, "rule": None, **await _pushed(request, cursors)})


# the member, coupon and loyalty rows of the HQ route table (cloud/routes.py)
MEMBER_ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/members", find_members,
          "Members by ?phone_hash= (HMAC of the phone with the tenant key) or ?id=",
          query=MEMBERS_QUERY, errors=(400,)),
    Route("GET", "/api/v1/members/{member}/consents", consents,
          "The member's consent per purpose (marketing, profiling; off until granted) and "
          "every change with its time and source", errors=(404,)),
    Route("PUT", "/api/v1/members/{member}/consents", consents,
          "Grant or withdraw consent per purpose (hq_admin; source hq): the automation skips "
          "a member without marketing at its next run, the dining scenes without profiling",
          body=CONSENTS, errors=(400, 404, 422)),
    Route("GET", "/api/v1/members/{member}/export", export_member,
          "Everything HQ holds about the member (and the members merged into it), as JSON",
          errors=(404,)),
    Route("DELETE", "/api/v1/members/{member}", erase_member,
          "Erase the member at HQ and, through the feed, at every store: identifiers, "
          "profile, bookings' names and phones, comments, their copies in raw events and the "
          "feed; the anonymous id stays for the accounts (hq_admin; audited)", errors=(404,)),
    Route("GET", "/api/v1/erasures", list_erasures, "The audit of erasures, newest first "
          "(paged)", query=paging.query(ERASURES), errors=(400,)),
    Route("GET", "/api/v1/members/{member}/journey", get_journey,
          "The member's timeline across channels and stores, newest first: orders, bookings, "
          "ratings, coupons issued and redeemed, points and stored value", errors=(404,)),
    Route("GET", "/api/v1/members/{member}", get_member,
          "A member (the survivor of a merged id): balances, identities (hashes, last 4), "
          "merge history, ledger, the leases that still count and their history (grants, "
          "amendments, acks, settlements), coupons", errors=(404,)),
    Route("POST", "/api/v1/members/{member}/ledger", post_ledger,
          "An HQ ledger entry (points earn/adjust, value topup/refund/adjust), sent to every "
          "store; idempotent by Idempotency-Key (200 on replay) (hq_admin)", body=LEDGER_POST,
          headers=IDEMPOTENCY, ok=201, errors=(400, 404, 409, 422)),
    Route("POST", "/api/v1/members/expire", expire_points,
          "Expire points earned more than `months` ago and not used (FIFO); a second run "
          "expires nothing more (hq_admin)", body=EXPIRE, errors=(400, 422)),
    Route("PUT", "/api/v1/coupons/templates/{template_id}", put_template,
          "Create or replace a coupon template; sent to its stores (all when none) (hq_admin)",
          body=TEMPLATE, errors=(400, 404, 422)),
    Route("POST", "/api/v1/coupons/issue", issue_coupons,
          "Issue coupons of a template to members and/or as bare codes, sent as coupon.issued "
          "to the stores in scope; optional Idempotency-Key (hq_admin)", body=ISSUE,
          headers=IDEMPOTENCY, ok=201, errors=(400, 404, 422)),
    Route("PUT", "/api/v1/campaigns/cross-store/{rule_id}", put_campaign,
          "A cross-store campaign: an order >= min_total_cents at from_store issues a coupon "
          "of template_id usable at to_store, once per order (hq_admin)", body=CAMPAIGN,
          errors=(400, 404, 422)),
    Route("GET", "/api/v1/promotions/clashes", clashes,
          "Templates of one exclusive_group on a common channel with overlapping windows"),
    Route("GET", "/api/v1/loyalty/rules", get_loyalty_rules,
          "The earning rules: points per yuan by default, per channel, and per store (its own "
          "rate per channel, a multiplier of the others); null before any are set"),
    Route("PUT", "/api/v1/loyalty/rules", put_loyalty_rules,
          "Replace the earning rules; each store is sent loyalty.rules with the tenant-wide "
          "rates and its own entry (hq_admin)", body=LOYALTY_RULES, errors=(400, 404, 422)),
    Route("PUT", "/api/v1/loyalty/rules/stores/{store}", put_store_loyalty_rule,
          "Set one store's rules {multiplier?, channels?}; only that store is sent new rules "
          "(hq_admin)", body=STORE_RULE, errors=(400, 404, 422)),
    Route("DELETE", "/api/v1/loyalty/rules/stores/{store}", delete_store_loyalty_rule,
          "Remove one store's rules: it earns at the tenant-wide rates (hq_admin)",
          errors=(404,)),
)
