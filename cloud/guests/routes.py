"""HQ's guest routes: the guest at the table on mobile data, and the brand's mini-program.

``POST /api/v1/guest/{store}/{token}/orders`` relays the order to the store as a
``guest.order`` change with the guest's Idempotency-Key, then answers from the store's events:
201 with the order once the store placed it (usually well under a second), the store's refusal
(404, 409, 422), 202 ``pending`` when the store has not answered within ``RELAY_WAIT_S`` (ask
again with the same key: never a second order), 503 ``store_offline`` when the store is not
connected. No login: the table's token is the credential (HQ checks it against the SHA-256 the
store sent up). Rate-limited per table and, for unknown tokens, per client address.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from cloud import keys
from cloud.api.errors import ApiError
from cloud.guests.ops import GuestOps
from cloud.guests.sql import Refused
from cloud.api.schemas import IDEMPOTENCY, IDEMPOTENCY_KEY, idempotency_key
from cloud.names import ID
from common.http.body import canonical_json, read_body
from common.http.errors import too_many
from common.http.routes import Route
from common.ratewindow import RateWindow
from common.schemas import GUEST_ORDER, TABLE_TOKEN

RELAY_WAIT_S: Final = 8.0  # how long an order request waits for the store's answer
# between looks for the store's answer: an ingest worker in another process may apply it (in
# this process, the apply wakes the relay at once)
POLL_S: Final = 0.25
ORDERS_PER_MIN: Final = 10  # per table, as at the edge (guest.max_orders_per_min)
UNKNOWN_PER_MIN: Final = 30  # unknown tokens per client address
STATUS = {"NotFound": 404, "Conflict": 409, "DomainError": 422}


@dataclass
class RelayLimits:
    orders: RateWindow = field(default_factory=lambda: RateWindow(ORDERS_PER_MIN))
    unknown: RateWindow = field(default_factory=lambda: RateWindow(UNKNOWN_PER_MIN))


LIMITS: web.AppKey[RelayLimits] = web.AppKey("guest_relay_limits")



async def _table(request: web.Request) -> tuple[str, str, str, dict[str, Any]]:
    """(store, token, its SHA-256, the table) of the path; 404 ``unknown_table`` otherwise."""
    store, token = request.match_info["store"], request.match_info["token"]
    digest = hashlib.sha256(token.encode()).hexdigest()
    table = None
    if ID.match(store) and TABLE_TOKEN.match(token):
        table = await request.app[keys.DB].call(GuestOps.guest_table, store, digest)
    if table is None:
        limits, address = request.app[LIMITS], request.remote or "?"
        if not limits.unknown.allow(address, time.monotonic()):
            raise too_many(limits.unknown, address)
        raise ApiError(404, "unknown_table", None)
    return store, token, digest, table


async def menu(request: web.Request) -> web.Response:
    store, _, _, table = await _table(request)
    found = await request.app[keys.DB].call(GuestOps.guest_menu, store)
    return web.json_response({"store": store, "online": found["online"],
                              "table": {"id": table["table_id"], "name": table["name"]},
                              "items": found["items"]})


async def place_order(request: web.Request) -> web.Response:
    store, token, digest, _ = await _table(request)
    key = idempotency_key(request, required=True)
    assert key is not None
    body = await read_body(request, GUEST_ORDER)
    limits = request.app[LIMITS]
    if not limits.orders.allow(f"{store}/{digest}", time.monotonic()):
        raise too_many(limits.orders, f"{store}/{digest}")
    db = request.app[keys.DB]
    body_hash = hashlib.sha256(canonical_json(body)).hexdigest()
    try:
        result = await db.call(GuestOps.accept_guest_order, store, token, digest, key, body,
                               body_hash)
    except Refused as exc:
        raise ApiError(exc.status, exc.reason, exc.detail) from None
    if result["outcome"] == "forwarded":
        link = request.app[keys.LINK]
        if link is not None:
            await link.push({store: result["cursor"]})
    return await _answer(request, store, digest, key, result["outcome"] == "forwarded")


async def order_status(request: web.Request) -> web.Response:
    """The answer to an order relayed before (with its current status), or 202 pending."""
    store, _, digest, _ = await _table(request)
    key = request.match_info["key"]
    if not IDEMPOTENCY_KEY.match(key):
        raise ApiError(404, "unknown_order", None)
    found = await request.app[keys.DB].call(GuestOps.guest_order_outcome, store, digest, key)
    if found is None:
        raise ApiError(404, "unknown_order", None)
    return _outcome(found, key, created=False) or _pending(key)


async def _answer(request: web.Request, store: str, digest: str, key: str,
                  created: bool) -> web.Response:
    """Wait for the store's answer to the relayed order, up to ``RELAY_WAIT_S``."""
    db, deadline = request.app[keys.DB], time.monotonic() + RELAY_WAIT_S
    while True:
        found = await db.call(GuestOps.guest_order_outcome, store, digest, key)
        answer = _outcome(found or {}, key, created)
        if answer is not None:
            return answer
        left = deadline - time.monotonic()
        if left <= 0:
            return _pending(key)
        link = request.app[keys.LINK]
        if link is None:
            await asyncio.sleep(min(POLL_S, left))
        else:  # woken by this process's apply of the store's batch; else look again anyway
            await link.ingest.applied(store, min(POLL_S, left))


def _outcome(found: dict[str, Any], key: str, created: bool) -> web.Response | None:
    if found.get("order"):
        return web.json_response(found["order"], status=201 if created else 200)
    reason = found.get("reason")
    if not reason:
        return None
    kind, _, code = reason.partition(": ")
    if kind in STATUS and code.isidentifier():
        raise ApiError(STATUS[kind], code, {"key": key})
    raise ApiError(409, "refused_by_store", {"key": key, "reason": reason})


def _pending(key: str) -> web.Response:
    return web.json_response({"status": "pending", "key": key,
                              "detail": "the store has not answered yet: ask again with the "
                                        "same Idempotency-Key"}, status=202)


_GUEST = "/api/v1/guest/{store}/{token}"
GUEST_ROUTES: tuple[Route, ...] = (
    Route("GET", f"{_GUEST}/menu", menu,
          "The store's menu for a guest at a table (dine_in_qr prices), and whether the store "
          "is online to take the order", public=True, errors=(404, 429)),
    Route("POST", f"{_GUEST}/orders", place_order,
          "Relay a guest's order to the store (guest.order); 201 with the order the store "
          "placed, 202 pending, 503 store_offline; idempotent by Idempotency-Key",
          public=True, body=GUEST_ORDER, headers=IDEMPOTENCY, ok=201,
          errors=(400, 404, 409, 422, 429, 503)),
    Route("GET", f"{_GUEST}/orders/{{key}}", order_status,
          "A relayed order's answer and current status by its Idempotency-Key (202 pending)",
          public=True, errors=(404, 429)),
)
