"""Consent per purpose (ARCHITECTURE §4f): what a member may be used for. Both purposes are
off until the member grants them; the edge's till, the guest pages and HQ change them with
the same body."""

from __future__ import annotations

from typing import Any, Final

PURPOSES: Final = ("marketing", "profiling")
SOURCES: Final = ("hq", "till", "guest")
CONSENTS: Final[dict[str, Any]] = {
    "type": "object", "minProperties": 1, "additionalProperties": False,
    "properties": {p: {"type": "boolean"} for p in PURPOSES}}
