"""Small request helpers the capabilities' routes share: the Idempotency-Key header and the
order id in the path."""

from __future__ import annotations

import re

from aiohttp import web

from common.errors import NotFound
from common.http.errors import ApiError

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")
ORDER_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def idempotency_key(request: web.Request) -> str:
    key = request.headers.get("Idempotency-Key", "")
    if not IDEMPOTENCY_KEY.match(key):
        raise ApiError(422, "idempotency_key_required",
                       "send an Idempotency-Key header of 8-128 characters [A-Za-z0-9_.:-]")
    return key


def path_order_id(request: web.Request) -> str:
    """The ``{id}`` of an order route; 404 ``unknown_order`` when it is not an order id."""
    order_id = request.match_info["id"]
    if not ORDER_ID.match(order_id):
        raise NotFound("unknown_order", {"id": order_id[:64]})
    return order_id
