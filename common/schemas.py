"""JSON Schemas both services validate with: SKUs, channels, money, and the catalog item
(the edge's LAN API and HQ's catalog API take the same item)."""

from __future__ import annotations

import re
from typing import Any, Final

from common.vocabulary import CHANNELS, MAX_LINES, MAX_QTY

MAX_CENTS: Final = 100_000_000  # 1,000,000 yuan: more is a typo, not a price
# "(?!\n)$": Python's "$" also matches before a final newline; ECMA's does not. Both agree now.
# a table's QR token (secrets.token_urlsafe(24): 192 bits), at the edge and at HQ's relay
TABLE_TOKEN: Final = re.compile(r"^[A-Za-z0-9_-]{22,64}(?!\n)$")
# ids and codes on the wire (edge routes, HQ's down changes)
ULID_PATTERN: Final = r"^[0-9A-HJKMNP-TV-Z]{26}(?!\n)$"
MEMBER_ID: Final[dict[str, Any]] = {"type": "string", "pattern": ULID_PATTERN}
REF: Final[dict[str, Any]] = {"type": "string", "pattern": r"^[A-Za-z0-9_.:-]{1,64}(?!\n)$"}
IDHASH: Final[dict[str, Any]] = {"type": "string", "pattern": r"^[0-9a-f]{64}(?!\n)$"}
COUPON_CODE: Final[dict[str, Any]] = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{4,32}(?!\n)$"}
BIRTHDAY: Final[dict[str, Any]] = {  # "MM-DD"
    "pattern": r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(?!\n)$"}
# what each member-profile field (common.vocabulary.PROFILE_FIELDS, same order) may hold: the
# edge's routes, HQ's event checks and the down changes read it; a new field is a row here, a
# name there and its columns (and <field>_hlc) in both services' migrations
PROFILE: Final[dict[str, dict[str, Any]]] = {
    "name": {"type": ["string", "null"], "maxLength": 100},
    "birthday": {"type": ["string", "null"], **BIRTHDAY},
}
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


ITEM_PROPS: dict[str, Any] = {
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
        "sku": SKU, **ITEM_PROPS,
        "safety_stock": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
    },
}
ITEM_PATCH = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": ITEM_PROPS,
}
QUOTAS = {
    "type": "object",
    "minProperties": 1,
    "propertyNames": {"enum": list(CHANNELS)},
    "additionalProperties": {"type": ["integer", "null"], "minimum": 0, "maximum": 1_000_000},
}


# an order line as every channel sends it (the till, the guest's phone, HQ's relay, platforms)
ORDER_LINE: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["sku", "qty"],
    "additionalProperties": False,
    "properties": {
        "sku": SKU,
        "qty": {"type": "integer", "minimum": 1, "maximum": MAX_QTY},
        "note": {"type": ["string", "null"], "maxLength": 200},
    },
}
# the guest's order at the table: at the edge (/api/v1/guest/{token}/orders) and relayed by
# HQ (/api/v1/guest/{store}/{token}/orders, the guest.order change)
GUEST_ORDER: Final[dict[str, Any]] = {
    "type": "object", "required": ["lines"], "additionalProperties": False,
    "properties": {
        "lines": {"type": "array", "minItems": 1, "maxItems": MAX_LINES, "items": ORDER_LINE},
        "note": {"type": ["string", "null"], "maxLength": 200},
    },
}
