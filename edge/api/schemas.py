"""JSON Schemas of request bodies: used to validate requests and to write the OpenAPI doc."""

from __future__ import annotations

import json
import re
from typing import Any, Final

from aiohttp import web
from jsonschema import Draft202012Validator

from ..domain.channels import CHANNELS, ROLES
from ..domain.orders import MAX_LINES, MAX_QTY, STATUSES
from ..domain.stock import MOVEMENT_REASONS
from .errors import ApiError

MAX_CENTS: Final = 100_000_000  # 1,000,000 yuan: more is a typo, not a price
SKU = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}
SKU_PATTERN: Final = re.compile(SKU["pattern"])
CHANNEL = {"type": "string", "enum": list(CHANNELS)}
CENTS = {"type": "integer", "minimum": 0, "maximum": MAX_CENTS}
TEXT = {"type": "string", "minLength": 1, "maxLength": 100}
CHANNEL_PRICES = {
    "type": "object",
    "propertyNames": {"enum": list(CHANNELS)},
    "additionalProperties": CENTS,
}

LOGIN = {
    "type": "object",
    "required": ["staff", "pin"],
    "additionalProperties": False,
    "properties": {
        "staff": {"type": "string", "minLength": 1, "maxLength": 64},
        "pin": {"type": "string", "pattern": "^[0-9]{4,12}$"},
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
STAFF_ROLE = {"type": "string", "enum": list(ROLES)}

_VALIDATORS: dict[int, Draft202012Validator] = {}


async def read_body(request: web.Request, schema: dict[str, Any]) -> dict[str, Any]:
    """Parse and validate a JSON body; 400 on malformed JSON, 422 on a schema violation."""
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed_json", str(exc)) from exc
    validate(body, schema)
    return body  # type: ignore[no-any-return]


def validate(body: Any, schema: dict[str, Any]) -> None:
    validator = _VALIDATORS.get(id(schema))
    if validator is None:
        validator = _VALIDATORS[id(schema)] = Draft202012Validator(schema)
    if validator.is_valid(body):
        return
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        raise ApiError(422, "invalid_body", [
            {"path": "/".join(str(p) for p in e.absolute_path), "message": e.message[:200]}
            for e in errors[:10]
        ])
