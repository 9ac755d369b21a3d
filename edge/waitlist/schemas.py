"""JSON Schemas of the waitlist routes' bodies and queries."""

from __future__ import annotations

from typing import Any, Final

from edge.tables.schemas import TABLE_ID
from edge.waitlist import rules

PARTY: Final[dict[str, Any]] = {"type": "integer", "minimum": 1, "maximum": rules.MAX_PARTY}
PHONE: Final[dict[str, Any]] = {"type": "string", "minLength": 1, "maxLength": 32}

ISSUE: Final[dict[str, Any]] = {
    "type": "object", "required": ["party"], "additionalProperties": False,
    "properties": {"party": PARTY, "phone": PHONE}}
TRANSITION: Final[dict[str, Any]] = {
    "type": "object", "required": ["to"], "additionalProperties": False,
    "properties": {"to": {"type": "string", "enum": list(rules.TARGETS)},
                   "table": TABLE_ID,
                   "print": {"type": "boolean", "description": "called: print the number on "
                                                               "the receipt printer(s)"}}}
DAY_QUERY: Final[dict[str, dict[str, Any]]] = {
    "day": {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}}
