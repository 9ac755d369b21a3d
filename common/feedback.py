"""After the visit: the order's feedback token both services check, the feedback body, and the
Net Promoter arithmetic (docs/feedback.md).

A token is ``{order_id}.{store}.{signature}``: the signature is an HMAC-SHA256 under the
tenant's key (the key member identities are hashed with; HQ and every store of the tenant
hold it) of ``feedback|store|order_id``, cut to 96 bits. It needs no login and no lookup to
check, a guest cannot make one for an order that is not theirs, and one store's token does
not verify as another store's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any, Final

from common.schemas import SKU, ULID_PATTERN

TOKEN: Final = re.compile(r"^([0-9A-HJKMNP-TV-Z]{26})\.([a-z0-9][a-z0-9_-]{0,62})\."
                          r"([A-Za-z0-9_-]{16})(?!\n)$")
MAX_COMMENT: Final = 2000
ALERT_BELOW: Final = 6  # feedback.alert_below: a score at or below it alerts the store
FEEDBACK: Final[dict[str, Any]] = {
    "type": "object", "required": ["score"], "additionalProperties": False,
    "properties": {
        "score": {"type": "integer", "minimum": 0, "maximum": 10},
        "dishes": {"type": "object", "maxProperties": 50, "propertyNames": SKU,
                   "additionalProperties": {"enum": [1, -1]}},
        "comment": {"type": "string", "maxLength": MAX_COMMENT},
    },
}
ORDER_ID: Final[dict[str, Any]] = {"type": "string", "pattern": ULID_PATTERN}


def _signature(key: bytes, store: str, order_id: str) -> str:
    mac = hmac.new(key, f"feedback|{store}|{order_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:12]).decode()


def make_token(key: bytes, store: str, order_id: str) -> str:
    return f"{order_id}.{store}.{_signature(key, store, order_id)}"


def parse_token(token: str) -> tuple[str, str, str] | None:
    """``(order_id, store, signature)`` of a token's shape, or None."""
    found = TOKEN.match(token)
    return None if found is None else (found[1], found[2], found[3])


def check_token(key: bytes, token: str) -> tuple[str, str] | None:
    """``(order_id, store)`` when the token is genuine, else None (a forged, tampered or
    malformed one: the caller answers 404 to all alike)."""
    parts = parse_token(token)
    if parts is None:
        return None
    order_id, store, signature = parts
    if not hmac.compare_digest(signature, _signature(key, store, order_id)):
        return None
    return order_id, store


def kind(score: int) -> str:
    """promoter (9-10), passive (7-8) or detractor (0-6)."""
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"


def nps(promoters: int, detractors: int, responses: int) -> float | None:
    """% promoters − % detractors, one decimal; None without responses."""
    return round(100 * (promoters - detractors) / responses, 1) if responses else None
