"""Printing routes: reprint an order's tickets (a person asks; never a retry)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from common.errors import Conflict
from common.http.body import json_response, read_body

from edge import keys
from edge.printing.routing import KINDS
from edge.api.auth import require
from edge.api.params import path_order_id

REPRINT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "kinds": {"type": "array", "items": {"type": "string", "enum": list(KINDS)},
                  "minItems": 1, "uniqueItems": True},
        "station": {"type": "string", "minLength": 1, "maxLength": 64},
    },
}


async def reprint(request: web.Request) -> web.Response:
    who = require(request, "orders.reprint")
    order_id = path_order_id(request)
    body = await read_body(request, REPRINT)
    coord = request.app.get(keys.PRINTING)
    if coord is None:
        raise Conflict("printing_not_configured", None)
    jobs = await coord.reprint(order_id, who.staff, body.get("kinds", KINDS), body.get("station"))
    return json_response({"order_id": order_id, "jobs": jobs}, status=201)
