"""``POST /api/v1/orders/{id}/payment``: how an order was paid, recorded once (idempotent by
Idempotency-Key): cash with its change, card with the terminal's reference, stored value and
points spent from the member's lease with the order id. No payment gateway."""

from __future__ import annotations

import hashlib
from typing import Any, Final

from aiohttp import web

from .. import keys
from ..domain.tenders import TENDER_KINDS
from ..store import payments
from .auth import require
from .orders import _order_id, idempotency_key
from .schemas import CENTS, canonical_json, json_response, read_body

MAX_TENDERS: Final = 8
TENDER: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["kind", "amount_cents"],
    "additionalProperties": False,
    "properties": {
        "kind": {"enum": list(TENDER_KINDS)},
        "amount_cents": {**CENTS, "minimum": 1},
        "points": {"type": "integer", "minimum": 1, "maximum": 1_000_000_000},
        "ref": {"type": "string", "minLength": 1, "maxLength": 64},
    },
}
PAYMENT: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["tenders"],
    "additionalProperties": False,
    "properties": {"tenders": {"type": "array", "minItems": 1, "maxItems": MAX_TENDERS,
                               "items": TENDER}},
}


async def pay(request: web.Request) -> web.Response:
    require(request, "orders.create")
    order_id = _order_id(request)
    key = idempotency_key(request)
    body = await read_body(request, PAYMENT)
    digest = hashlib.sha256(canonical_json(body)).hexdigest()
    payment, replayed = await request.app[keys.DB].write(
        payments.pay_order, order_id, body["tenders"], key, digest)
    return json_response(payment, status=200 if replayed else 201)
