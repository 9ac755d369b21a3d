"""JSON Schemas of request bodies: used to validate requests and to write the OpenAPI doc.

The login body; the id patterns both services and the sync layer use are in
``common/schemas.py``. Each capability keeps the bodies of its own
routes in its ``schemas.py`` (``edge/orders/schemas.py``, ``edge/members/schemas.py``, …)."""

from __future__ import annotations

LOGIN = {
    "type": "object",
    "required": ["staff", "pin"],
    "additionalProperties": False,
    "properties": {
        "staff": {"type": "string", "minLength": 1, "maxLength": 64},
        "pin": {"type": "string", "pattern": r"^[0-9]{4,12}(?!\n)$"},
    },
}
