"""The order center: create (idempotent), list, read, transitions."""

from __future__ import annotations

import hashlib
from datetime import datetime

from aiohttp import web

from common import wire
from common.clock import iso
from common.errors import NotFound
from common.http.auth import principal
from common.http.body import canonical_json, json_response, read_body
from common.http.errors import ApiError
from common.vocabulary import CHANNELS

from edge import keys
from edge.staff.roles import TRANSITION_ROLES
from edge.orders.rules import STATUSES
from edge.orders import reads, writes
from edge.api.auth import require
from edge.api.params import idempotency_key, path_order_id
from edge.feedback.routes import feedback_url
from edge.orders.schemas import ORDER_CREATE, TRANSITION


async def create_order(request: web.Request) -> web.Response:
    require(request, "orders.create")
    key = idempotency_key(request)
    body = await read_body(request, ORDER_CREATE)
    digest = hashlib.sha256(canonical_json(body)).hexdigest()
    app = request.app
    order, replayed = await app[keys.DB].write(
        writes.create_order, body, key, digest, app[keys.SETTINGS].timezone
    )
    if not replayed:
        app[keys.METRICS].order_created(body["channel"])
    return json_response({**order, "feedback_url": feedback_url(app, order["id"])},
                         status=200 if replayed else 201)


async def list_orders(request: web.Request) -> web.Response:
    require(request, "orders.read")
    q = request.query
    status, channel = q.get("status") or None, q.get("channel") or None
    if status is not None and status not in STATUSES:
        raise ApiError(400, "invalid_query", {"status": status, "allowed": list(STATUSES)})
    if channel is not None and channel not in CHANNELS:
        raise ApiError(400, "invalid_query", {"channel": channel, "allowed": list(CHANNELS)})
    since = _parse_since(q.get("since"))
    try:
        limit = wire.digits(q.get("limit", "200"), 4)  # int() reads "٣", " 3" and "1_0"
    except ValueError:
        limit = -1
    if not 1 <= limit <= 1000:
        raise ApiError(400, "invalid_query", {"limit": "an integer from 1 to 1000"})
    money = q.get("money", "0")
    if money not in ("0", "1"):
        raise ApiError(400, "invalid_query", {"money": "0 or 1"})
    orders = await request.app[keys.DB].read(
        reads.list_orders, status=status, channel=channel, since=since, limit=limit,
        money=money == "1",
    )
    return json_response(orders)


def _parse_since(text: str | None) -> str | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(400, "invalid_query", {"since": "an ISO 8601 timestamp"}) from exc
    if moment.tzinfo is None:
        raise ApiError(400, "invalid_query", {"since": "include a UTC offset, e.g. Z"})
    try:
        return iso(moment)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00+14:00 is before year 1 in UTC
        raise ApiError(400, "invalid_query", {"since": "a year from 1 to 9999 in UTC"}) from exc


async def get_order(request: web.Request) -> web.Response:
    require(request, "orders.read")
    order_id = path_order_id(request)
    order = await request.app[keys.DB].read(reads.get_order, order_id)
    if order is None:
        raise NotFound("unknown_order", {"id": order_id})
    return json_response({**order, "feedback_url": feedback_url(request.app, order_id)})


async def transition(request: web.Request) -> web.Response:
    who = principal(request)
    order_id = path_order_id(request)
    body = await read_body(request, TRANSITION)
    target = body["to"]
    if who.role not in TRANSITION_ROLES[target]:
        raise ApiError(403, "forbidden", {"role": who.role, "to": target})
    order = await request.app[keys.DB].write(writes.transition_order, order_id, target)
    request.app[keys.METRICS].transitions.labels(target).inc()
    return json_response(order)
