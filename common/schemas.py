"""JSON Schemas both services validate with: SKUs, channels, money, and the catalog item
(the edge's LAN API and HQ's catalog API take the same item)."""

from __future__ import annotations

import re
from typing import Any, Final

from common.vocabulary import CHANNELS

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
