"""JSON Schemas of request bodies: used to validate requests and to write the OpenAPI doc."""

from __future__ import annotations

from typing import Final

from common.schemas import CENTS, CHANNEL, SKU
from common.vocabulary import ID_KINDS, MAX_LINES, MAX_QTY

from ..domain.channels import ROLES
from ..domain.members import TENDERS
from ..domain.orders import STATUSES
from ..domain.stock import MOVEMENT_REASONS

ULID_PATTERN: Final = r"^[0-9A-HJKMNP-TV-Z]{26}(?!\n)$"
MEMBER_ID = {"type": "string", "pattern": ULID_PATTERN}
REF = {"type": "string", "pattern": r"^[A-Za-z0-9_.:-]{1,64}(?!\n)$"}  # ids made by HQ
IDHASH = {"type": "string", "pattern": r"^[0-9a-f]{64}(?!\n)$"}
COUPON_CODE = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{4,32}(?!\n)$"}
BIRTHDAY = {"pattern": r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(?!\n)$"}  # "MM-DD"
MAX_COUPONS: Final = 5

LOGIN = {
    "type": "object",
    "required": ["staff", "pin"],
    "additionalProperties": False,
    "properties": {
        "staff": {"type": "string", "minLength": 1, "maxLength": 64},
        "pin": {"type": "string", "pattern": r"^[0-9]{4,12}(?!\n)$"},
    },
}
ORDER_LINE = {
    "type": "object",
    "required": ["sku", "qty"],
    "additionalProperties": False,
    "properties": {
        "sku": SKU,
        "qty": {"type": "integer", "minimum": 1, "maximum": MAX_QTY},
        "note": {"type": ["string", "null"], "maxLength": 200},
    },
}
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
MOVEMENT = {
    "type": "object",
    "required": ["sku", "reason"],
    "additionalProperties": False,
    "properties": {
        "sku": SKU,
        "delta": {"type": "integer", "minimum": -1_000_000, "maximum": 1_000_000, "not": {"const": 0}},
        "counted": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
        "reason": {"type": "string", "enum": list(MOVEMENT_REASONS)},
        "ref": {"type": ["string", "null"], "maxLength": 64},
    },
    "oneOf": [
        {"required": ["delta"], "not": {"required": ["counted"]}},
        {"required": ["counted"], "not": {"required": ["delta"]},
         "properties": {"reason": {"const": "stocktake"}}},
    ],
}
MEMBER_CREATE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "phone": {"type": "string", "minLength": 1, "maxLength": 32},
        "code": {"type": "string", "pattern": r"^[A-Za-z0-9_.:-]{4,64}(?!\n)$"},
        "unionid": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{8,64}(?!\n)$"},
        "name": {"type": ["string", "null"], "maxLength": 100},
        "birthday": {"type": ["string", "null"], **BIRTHDAY},
    },
    "anyOf": [{"required": ["phone"]}, {"required": ["code"]}, {"required": ["unionid"]}],
}
REDEEM = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "points": {"type": "integer", "minimum": 1, "maximum": 1_000_000_000},
        "value_cents": {**CENTS, "minimum": 1},
        "order_id": {"type": ["string", "null"], "pattern": ULID_PATTERN},
    },
    "oneOf": [{"required": ["points"], "not": {"required": ["value_cents"]}},
              {"required": ["value_cents"], "not": {"required": ["points"]}}],
}
TOPUP = {
    "type": "object",
    "required": ["value_cents", "tender"],
    "additionalProperties": False,
    "properties": {"value_cents": {**CENTS, "minimum": 1}, "tender": {"enum": list(TENDERS)}},
}
MAX_VIEWED_SKUS: Final = 20
MEMBER_IDENTITY = {
    "type": "object",
    "required": ["kind", "value"],
    "additionalProperties": False,
    "properties": {"kind": {"enum": list(ID_KINDS)},
                   "value": {"type": "string", "minLength": 1, "maxLength": 64}},
}
MEMBER_PATCH = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {
        "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 100},
        "birthday": {"type": ["string", "null"], **BIRTHDAY},  # and a real day: see the API
    },
}
MEMBER_VIEWED = {
    "type": "object",
    "required": ["skus"],
    "additionalProperties": False,
    "properties": {"skus": {"type": "array", "minItems": 1, "maxItems": MAX_VIEWED_SKUS,
                            "items": SKU}},
}
STAFF_ROLE = {"type": "string", "enum": list(ROLES)}
