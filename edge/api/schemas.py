"""JSON Schemas of request bodies: used to validate requests and to write the OpenAPI doc.

The shared ones: id patterns and the login body. Each capability keeps the bodies of its own
routes in its ``schemas.py`` (``edge/orders/schemas.py``, ``edge/members/schemas.py``, …)."""

from __future__ import annotations

from typing import Final

ULID_PATTERN: Final = r"^[0-9A-HJKMNP-TV-Z]{26}(?!\n)$"
MEMBER_ID = {"type": "string", "pattern": ULID_PATTERN}
REF = {"type": "string", "pattern": r"^[A-Za-z0-9_.:-]{1,64}(?!\n)$"}  # ids made by HQ
IDHASH = {"type": "string", "pattern": r"^[0-9a-f]{64}(?!\n)$"}
COUPON_CODE = {"type": "string", "pattern": r"^[A-Za-z0-9_-]{4,32}(?!\n)$"}
BIRTHDAY = {"pattern": r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(?!\n)$"}  # "MM-DD"

LOGIN = {
    "type": "object",
    "required": ["staff", "pin"],
    "additionalProperties": False,
    "properties": {
        "staff": {"type": "string", "minLength": 1, "maxLength": 64},
        "pin": {"type": "string", "pattern": r"^[0-9]{4,12}(?!\n)$"},
    },
}
