"""JSON Schemas of the table and guest routes' bodies (the guest's order is shared with HQ:
``common.schemas.GUEST_ORDER``)."""

from __future__ import annotations

from typing import Any, Final

from edge.tables import rules

TABLE_ID: Final[dict[str, Any]] = {"type": "string", "pattern": rules.TABLE_ID.pattern}
GUESTS: Final[dict[str, Any]] = {"type": "integer", "minimum": 1, "maximum": 100}

TABLE_CREATE: Final = {
    "type": "object", "required": ["id", "name", "seats"], "additionalProperties": False,
    "properties": {"id": TABLE_ID, "name": {"type": "string", "minLength": 1, "maxLength": 40},
                   "seats": GUESTS, "area": {"type": "string", "maxLength": 40}},
}
OPEN: Final = {"type": "object", "additionalProperties": False,
               "properties": {"guests": GUESTS}}
CLOSE: Final = {"type": "object", "additionalProperties": False,
                "properties": {"force": {"type": "boolean"}}}
MOVE: Final = {"type": "object", "required": ["to"], "additionalProperties": False,
               "properties": {"to": TABLE_ID}}
STATUS: Final = {"type": "object", "required": ["to"], "additionalProperties": False,
                 "properties": {"to": {"type": "string", "enum": list(rules.MANUAL_STATUS)}}}
GUEST_CALL: Final = {"type": "object", "required": ["kind"], "additionalProperties": False,
                     "properties": {"kind": {"type": "string", "enum": list(rules.CALL_KINDS)}}}
