"""JSON Schemas of the inventory routes' request bodies."""

from __future__ import annotations

from common.schemas import SKU

from common.vocabulary import MAX_STOCK_MOVE, MOVEMENT_REASONS

MOVEMENT = {
    "type": "object",
    "required": ["sku", "reason"],
    "additionalProperties": False,
    "properties": {
        "sku": SKU,
        "delta": {"type": "integer", "minimum": -MAX_STOCK_MOVE, "maximum": MAX_STOCK_MOVE,
                  "not": {"const": 0}},
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
