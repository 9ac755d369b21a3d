"""JSON Schemas of request bodies: used to validate requests and to write the OpenAPI doc."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final

import orjson
from aiohttp import web
from jsonschema import Draft202012Validator, validators

from sync import wire

from ..domain.channels import CHANNELS, ROLES
from ..domain.members import ID_KINDS, TENDERS
from ..domain.orders import MAX_LINES, MAX_QTY, STATUSES
from ..domain.stock import MOVEMENT_REASONS
from .errors import ApiError
from .fastcheck import fast_check

MAX_CENTS: Final = 100_000_000  # 1,000,000 yuan: more is a typo, not a price
# "(?!\n)$": Python's "$" also matches before a final newline; ECMA's does not. Both agree now.
SKU = {"type": "string", "pattern": r"^[A-Za-z0-9_.-]{1,64}(?!\n)$"}
SKU_PATTERN: Final = re.compile(SKU["pattern"])
CHANNEL = {"type": "string", "enum": list(CHANNELS)}
CENTS = {"type": "integer", "minimum": 0, "maximum": MAX_CENTS}
TEXT = {"type": "string", "minLength": 1, "maxLength": 100}
CHANNEL_PRICES = {
    "type": "object",
    "propertyNames": {"enum": list(CHANNELS)},
    "additionalProperties": CENTS,
}

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
_ITEM_PROPS: dict[str, Any] = {
    "name": TEXT,
    "name_en": {"type": ["string", "null"], "maxLength": 100},
    "category": {"type": "string", "minLength": 1, "maxLength": 50},
    "station": {"type": "string", "minLength": 1, "maxLength": 50},
    "price_cents": CENTS,
    "cost_cents": {**CENTS, "type": ["integer", "null"]},
    "channel_prices": CHANNEL_PRICES,
    "available": {"type": "boolean"},
    "track_stock": {"type": "boolean"},
}
ITEM_CREATE = {
    "type": "object",
    "required": ["sku", "name", "category", "station", "price_cents"],
    "additionalProperties": False,
    "properties": {
        "sku": SKU, **_ITEM_PROPS,
        "safety_stock": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
    },
}
ITEM_PATCH = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": _ITEM_PROPS,
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
QUOTAS = {
    "type": "object",
    "minProperties": 1,
    "propertyNames": {"enum": list(CHANNELS)},
    "additionalProperties": {"type": ["integer", "null"], "minimum": 0, "maximum": 1_000_000},
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


def _integer(_: Any, value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# JSON Schema's "integer" holds 1.0 and jsonschema follows it; a float must not reach the
# database, date arithmetic or range(): here an integer is an int (and never a bool)
Validator: Final = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _integer))
_VALIDATORS: dict[int, Any] = {}
_FAST: dict[int, Callable[[Any], bool] | None] = {}  # id(schema) -> fast_check(schema)


async def read_body(request: web.Request, schema: dict[str, Any]) -> dict[str, Any]:
    """Parse and validate a JSON body; 400 on malformed JSON, 422 on a schema violation."""
    raw = await request.read()
    try:
        body = wire.loads(raw)  # lone surrogates and deep nesting too: no database takes them
    except ValueError as exc:
        raise ApiError(400, "malformed_json", str(exc)[:200]) from exc
    validate(body, schema)
    return body  # type: ignore[no-any-return]


def json_response(data: Any, status: int = 200) -> web.Response:
    """``web.json_response`` with orjson: the hot paths answer documents several times faster
    than the stdlib encoder (dict keys may be ints: they become strings, as with ``json``)."""
    return web.Response(body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS), status=status,
                        content_type="application/json")


def canonical_json(body: Any) -> bytes:
    """``body`` with sorted keys: what an Idempotency-Key's request hash is taken over. Values a
    validated body cannot hold but orjson refuses (ints past 64 bits) take the stdlib."""
    try:
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def validate(body: Any, schema: dict[str, Any]) -> None:
    key = id(schema)
    if key not in _FAST:
        _FAST[key] = fast_check(schema)
    fast = _FAST[key]
    if fast is not None and fast(body):
        return
    validator = _VALIDATORS.get(key)
    if validator is None:
        validator = _VALIDATORS[key] = Validator(schema)
    if validator.is_valid(body):
        return
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        raise ApiError(422, "invalid_body", [
            {"path": "/".join(str(p) for p in e.absolute_path), "message": e.message[:200]}
            for e in errors[:10]
        ])
