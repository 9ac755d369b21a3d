"""JSON Schemas of the order routes' request bodies."""

from __future__ import annotations

from typing import Final

from common.schemas import CHANNEL, COUPON_CODE, ORDER_LINE
from common.vocabulary import MAX_LINES

from edge.orders.rules import STATUSES

MAX_COUPONS: Final = 5

ORDER_CREATE = {
    "type": "object",
    "required": ["channel", "lines"],
    "additionalProperties": False,
    "properties": {
        "channel": CHANNEL,
        "lines": {"type": "array", "minItems": 1, "maxItems": MAX_LINES, "items": ORDER_LINE},
        "member": {"type": ["string", "null"], "minLength": 1, "maxLength": 64},
        "coupons": {"type": "array", "maxItems": MAX_COUPONS, "items": COUPON_CODE},
        "table": {"type": ["string", "null"], "minLength": 1, "maxLength": 16},
        "pickup": {"type": "boolean"},
    },
}
TRANSITION = {
    "type": "object",
    "required": ["to"],
    "additionalProperties": False,
    "properties": {"to": {"type": "string", "enum": [s for s in STATUSES if s != "placed"]}},
}
