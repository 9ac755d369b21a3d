"""``POST /api/v1/orders/{id}/payment``: how an order was paid, recorded once (idempotent by
Idempotency-Key): cash with its change, card with the terminal's reference, stored value and
points spent from the member's lease with the order id. No payment gateway."""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Final

from aiohttp import web

from common.http.body import canonical_json, json_response, read_body
from common.schemas import CENTS

from edge import keys
from edge.orders.tenders import TENDER_KINDS
from edge.orders import payments, refunds
from edge.api.auth import require
from edge.api.params import idempotency_key, path_order_id

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


async def _once(request: web.Request, permission: str, schema: dict[str, Any],
                job: Callable[..., tuple[dict[str, Any], bool]],
                args: Callable[[dict[str, Any]], tuple[Any, ...]]) -> web.Response:
    """An order's write recorded once by Idempotency-Key: 201 with its answer, 200 with the same
    answer for the same key and body again."""
    require(request, permission)
    order_id = path_order_id(request)
    key = idempotency_key(request)
    body = await read_body(request, schema)
    digest = hashlib.sha256(canonical_json(body)).hexdigest()
    answer, replayed = await request.app[keys.DB].write(job, order_id, *args(body), key, digest)
    return json_response(answer, status=200 if replayed else 201)


async def pay(request: web.Request) -> web.Response:
    return await _once(request, "orders.create", PAYMENT, payments.pay_order,
                       lambda body: (body["tenders"],))


REFUND: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["reason"],
    "additionalProperties": False,
    "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 200},
                   "restock": {"type": "boolean"}},
}


async def refund(request: web.Request) -> web.Response:
    """Refund a paid ready/completed order once (manager only)."""
    return await _once(request, "orders.refund", REFUND, refunds.refund_order,
                       lambda body: (body["reason"], bool(body.get("restock", False))))
